"""The staleness guard of the pre-rendered env.sh, env.fish and env.ps1.

Sourcing `.devenv/env.sh` costs no Python start-up, but nothing refreshes it when `.env` is
edited, so it would silently export the old values. Each pre-rendered file therefore starts
with a check that costs only a few `stat` calls: is any input newer than this file (devenv
gives the file the newest input's mtime when it writes it), or has one appeared or vanished,
or does the shell's DEVENV_PROFILE name another profile than the one the file holds?
If so it asks devenv for the current values instead, through the devenv that wrote it, else
the one on PATH; when neither exists it says so on stderr and loads the old values. When
the refresh fails, nothing is loaded and the `.` / `source` itself fails (status 1).

`print-env` output never carries this guard: it is current by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.store import InputRecord


_NOTE = "devenv: {own} is older than its inputs"
_FAILED = "; refreshing it failed (see above); nothing was loaded"
_NOT_FOUND = " and devenv is not on PATH; loading the values devenv last wrote"


def with_refresh(
    fmt: str,
    text: str,
    *,
    own_path: str,
    inputs: Sequence[InputRecord],
    root: str,
    devenv: str,
    profile: str = "",
) -> str:
    """`text` (the rendering of `fmt`) wrapped in the staleness guard for that shell;
    `profile` is the profile the values are of ("" for none)."""
    present = [record["path"] for record in inputs if record["size"] is not None]
    absent = [record["path"] for record in inputs if record["size"] is None]
    header, _, body = text.partition("\n")
    if fmt == "sh":
        return header + "\n" + _posix(body, own_path, present, absent, root, devenv, profile)
    if fmt == "fish":
        return header + "\n" + _fish(body, own_path, present, absent, root, devenv, profile)
    if fmt == "powershell":
        return header + "\n" + _powershell(body, own_path, present, absent, root, devenv, profile)
    raise ValueError(f"no refresh guard for {fmt}")


def _posix(
    body: str, own: str, present: list[str], absent: list[str], root: str, devenv: str, profile: str
) -> str:
    from devenv.renderers.posix import quote

    q_own = quote(own)
    # Another profile in this shell: its values, never this file's (print-env reads it).
    tests = [f'[ "${{DEVENV_PROFILE-}}" != {quote(profile)} ]']
    tests += [f"{{ [ ! -e {quote(p)} ] || [ {quote(p)} -nt {q_own} ]; }}" for p in present]
    tests += [f"[ -e {quote(p)} ]" for p in absent]
    stale = " || ".join(tests) or "false"
    note = _NOTE.format(own=own)
    return "\n".join(
        [
            "_devenv_loaded= _devenv_failed=",
            f"if {stale}; then",
            f"    _devenv_cmd={quote(devenv)}",
            '    if [ -z "$_devenv_cmd" ] || [ ! -x "$_devenv_cmd" ]; then',
            "        _devenv_cmd=$(command -v devenv 2>/dev/null) || _devenv_cmd=",
            "    fi",
            '    if [ -n "$_devenv_cmd" ]; then',
            f'        if _devenv_text=$("$_devenv_cmd" --root {quote(root)} print-env --format sh); then',
            '            eval "$_devenv_text"',
            "        else",
            f"            printf '%s\\n' {quote(note + _FAILED)} >&2",
            "            _devenv_failed=1",
            "        fi",
            "        _devenv_loaded=1",
            "    else",
            f"        printf '%s\\n' {quote(note + _NOT_FOUND)} >&2",
            "    fi",
            "fi",
            'if [ -z "$_devenv_loaded" ]; then',
            body.rstrip("\n"),
            "fi",
            "unset -v _devenv_loaded _devenv_cmd _devenv_text",
            # The last command's status is the `.`'s: `. .devenv/env.sh && cmd` must not run
            # cmd with nothing loaded. `false`, not `return`: an interactive shell stays.
            'if [ -n "$_devenv_failed" ]; then',
            "    unset -v _devenv_failed; false",
            "else",
            "    unset -v _devenv_failed",
            "fi",
            "",
        ]
    )


def _fish(
    body: str, own: str, present: list[str], absent: list[str], root: str, devenv: str, profile: str
) -> str:
    from devenv.renderers.fish import quote

    q_own = quote(own)
    tests = [f'test "$DEVENV_PROFILE" != {quote(profile)}']
    tests += [f"test ! -e {quote(p)}; or test {quote(p)} -nt {q_own}" for p in present]
    tests += [f"test -e {quote(p)}" for p in absent]
    stale = "; or ".join(tests) or "false"
    note = _NOTE.format(own=own)
    return "\n".join(
        [
            "set -l _devenv_loaded",
            "set -l _devenv_cmd",
            "set -l _devenv_failed",
            f"if {stale}",
            f"    set _devenv_cmd {quote(devenv)}",
            '    if test -z "$_devenv_cmd"; or not test -x "$_devenv_cmd"',
            "        set _devenv_cmd (command -s devenv)",
            "    end",
            '    if test -n "$_devenv_cmd"',
            f'        "$_devenv_cmd" --root {quote(root)} print-env --format fish | source',
            "        if test $pipestatus[1] -ne 0",
            f"            printf '%s\\n' {quote(note + _FAILED)} >&2",
            "            set _devenv_failed 1",
            "        end",
            "        set _devenv_loaded 1",
            "    else",
            f"        printf '%s\\n' {quote(note + _NOT_FOUND)} >&2",
            "    end",
            "end",
            'if test -z "$_devenv_loaded"',
            # Not indented: a line of the body may continue a quoted multi-line value, and
            # an indent there would become part of the value.
            body.rstrip("\n"),
            "end",
            "set -e _devenv_loaded _devenv_cmd",
            # `source`'s status is the last command's, as for sh above.
            'if test -n "$_devenv_failed"; set -e _devenv_failed; false; end',
            "",
        ]
    )


def _powershell(
    body: str, own: str, present: list[str], absent: list[str], root: str, devenv: str, profile: str
) -> str:
    from devenv.renderers.powershell import quote

    q_own = quote(own)
    newer = "(Get-Item -LiteralPath {p}).LastWriteTimeUtc -gt (Get-Item -LiteralPath " + q_own
    newer += ").LastWriteTimeUtc"
    tests = [f"(-not (Test-Path -LiteralPath {quote(p)})) -or ({newer.format(p=quote(p))})" for p in present]
    tests += [f"(Test-Path -LiteralPath {quote(p)})" for p in absent]
    tests.insert(0, f"([string]$env:DEVENV_PROFILE -ne {quote(profile)})")
    stale = " -or ".join(f"({t})" for t in tests) or "$false"
    note = _NOTE.format(own=own)
    return "\n".join(
        [
            "$_devenv_loaded = $false",
            f"if ({stale}) {{",
            f"    $_devenv_cmd = {quote(devenv)}",
            "    if (-not $_devenv_cmd -or -not (Test-Path -LiteralPath $_devenv_cmd)) {",
            "        $_devenv_cmd = (Get-Command devenv -ErrorAction SilentlyContinue).Source",
            "    }",
            "    if ($_devenv_cmd) {",
            f"        $_devenv_text = & $_devenv_cmd --root {quote(root)} print-env --format powershell |",
            "            Out-String",
            "        if ($LASTEXITCODE -eq 0) { Invoke-Expression $_devenv_text }",
            f"        else {{ [Console]::Error.WriteLine({quote(note + _FAILED)}) }}",
            "        $_devenv_loaded = $true",
            "    } else {",
            f"        [Console]::Error.WriteLine({quote(note + _NOT_FOUND)})",
            "    }",
            "}",
            "if (-not $_devenv_loaded) {",
            body.rstrip("\n"),
            "}",
            "Remove-Variable _devenv_loaded, _devenv_cmd, _devenv_text -ErrorAction SilentlyContinue",
            "",
        ]
    )
