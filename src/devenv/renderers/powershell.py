"""PowerShell renderer: `$env:` assignments in verbatim strings and a PATH rebuild."""

from __future__ import annotations

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


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
