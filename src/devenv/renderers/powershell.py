"""PowerShell renderer: `$env:` assignments in verbatim strings and a PATH rebuild."""

from __future__ import annotations

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv
    from devenv.renderers.refresh import Staleness


# PowerShell ends a verbatim string at any of these, not only at ASCII ' (PowerShell-Docs#11401).
_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def quote(value: str) -> str:
    """`value` as one verbatim PowerShell string: each single-quote character is doubled."""
    return "'" + _escape(value) + "'"


def _escape(value: str) -> str:
    for mark in _QUOTES:
        value = value.replace(mark, mark + mark)
    return value


def render(env: CanonicalEnv) -> str:
    """`Remove-Item`/`$env:` lines, then code that puts `env.path_prefix` first on PATH."""
    lines = [HEADER]
    lines += [f"Remove-Item Env:{key} -ErrorAction SilentlyContinue" for key in env.unset]
    quoted = each_value(env.variables.values(), _escape)
    lines += [f"$env:{key} = '{value}'" for key, value in zip(env.variables, quoted, strict=True)]
    if env.path_prefix:
        folders = ", ".join(quote(folder) for folder in env.path_prefix)
        lines += [
            f"$_devenv_prefix = @({folders})",
            "$_devenv_sep = [IO.Path]::PathSeparator",
            # -cnotcontains: an exact match, like join_path; -notcontains ignores case.
            '$_devenv_rest = @("$env:PATH".Split($_devenv_sep) |'
            " Where-Object { $_ -and ($_devenv_prefix -cnotcontains $_) })",
            "$env:PATH = ($_devenv_prefix + $_devenv_rest) -join $_devenv_sep",
            "Remove-Variable _devenv_prefix, _devenv_sep, _devenv_rest",
        ]
    return "\n".join(lines) + "\n"


def guard(body: str, stale: Staleness) -> str:
    """`body` run only when the file is current, else what devenv prints now (`stale` says
    how to tell: renderers/refresh.py)."""
    q_own, q_root = quote(stale.own), quote(stale.root)
    newer = "(Get-Item -LiteralPath {p}).LastWriteTimeUtc -gt (Get-Item -LiteralPath " + q_own
    newer += ").LastWriteTimeUtc"
    tests = [
        f"(-not (Test-Path -LiteralPath {quote(p)})) -or ({newer.format(p=quote(p))})" for p in stale.present
    ]
    tests += [f"(Test-Path -LiteralPath {quote(p)})" for p in stale.absent]
    tests.insert(0, f"([string]$env:DEVENV_PROFILE -ne {quote(stale.profile)})")
    condition = " -or ".join(f"({t})" for t in tests) or "$false"
    return "\n".join(
        [
            "$_devenv_loaded = $false",
            f"if ({condition}) {{",
            f"    $_devenv_cmd = {quote(stale.devenv)}",
            "    if (-not $_devenv_cmd -or -not (Test-Path -LiteralPath $_devenv_cmd)) {",
            "        $_devenv_cmd = (Get-Command devenv -ErrorAction SilentlyContinue).Source",
            "    }",
            "    if ($_devenv_cmd) {",
            f"        $_devenv_text = & $_devenv_cmd --root {q_root} print-env --format powershell |",
            "            Out-String",
            "        if ($LASTEXITCODE -eq 0) { Invoke-Expression $_devenv_text }",
            f"        else {{ [Console]::Error.WriteLine({quote(stale.failed)}) }}",
            "        $_devenv_loaded = $true",
            "    } else {",
            f"        [Console]::Error.WriteLine({quote(stale.not_found)})",
            "    }",
            "}",
            "if (-not $_devenv_loaded) {",
            body.rstrip("\n"),
            "}",
            "Remove-Variable _devenv_loaded, _devenv_cmd, _devenv_text -ErrorAction SilentlyContinue",
            "",
        ]
    )
