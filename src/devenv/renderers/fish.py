"""fish renderer: `set -gx` lines and a list-based PATH rebuild."""

from __future__ import annotations

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv
    from devenv.renderers.refresh import Staleness


def quote(value: str) -> str:
    """`value` as one single-quoted fish word.

    Unlike sh, fish decodes backslash escapes inside single quotes, so POSIX quoting would
    lose backslashes (virtualenv's shlex-based fish activation script did).
    """
    return "'" + _escape(value) + "'"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def render(env: CanonicalEnv) -> str:
    """`set -e`/`set -gx` lines, then fish code that puts `env.path_prefix` first on PATH."""
    lines = [HEADER]
    lines += [f"set -e {key}" for key in env.unset]
    quoted = each_value(env.variables.values(), _escape)
    lines += [f"set -gx {key} '{value}'" for key, value in zip(env.variables, quoted, strict=True)]
    if env.path_prefix:
        folders = " ".join(quote(folder) for folder in env.path_prefix)
        lines += [
            f"set -l _devenv_prefix {folders}",
            "set -l _devenv_path $_devenv_prefix",
            "for _devenv_entry in $PATH",
            # fish imports an empty PATH entry as "."; both mean the
            # current folder, which join_path drops, so "." is dropped too.
            "    contains -- $_devenv_entry $_devenv_prefix '' .",
            "    or set -a _devenv_path $_devenv_entry",
            "end",
            "set -gx PATH $_devenv_path",
            "set -e _devenv_prefix _devenv_path _devenv_entry",
        ]
    return "\n".join(lines) + "\n"


def guard(body: str, stale: Staleness) -> str:
    """`body` run only when the file is current, else what devenv prints now (`stale` says
    how to tell: renderers/refresh.py)."""
    q_own, q_root = quote(stale.own), quote(stale.root)
    tests = [f'test "$DEVENV_PROFILE" != {quote(stale.profile)}']
    tests += [f"test ! -e {quote(p)}; or test {quote(p)} -nt {q_own}" for p in stale.present]
    tests += [f"test -e {quote(p)}" for p in stale.absent]
    condition = "; or ".join(tests) or "false"
    return "\n".join(
        [
            "set -l _devenv_loaded",
            "set -l _devenv_cmd",
            "set -l _devenv_failed",
            f"if {condition}",
            f"    set _devenv_cmd {quote(stale.devenv)}",
            '    if test -z "$_devenv_cmd"; or not test -x "$_devenv_cmd"',
            "        set _devenv_cmd (command -s devenv)",
            "    end",
            '    if test -n "$_devenv_cmd"',
            f'        "$_devenv_cmd" --root {q_root} print-env --format fish | source',
            "        if test $pipestatus[1] -ne 0",
            f"            printf '%s\\n' {quote(stale.failed)} >&2",
            "            set _devenv_failed 1",
            "        end",
            "        set _devenv_loaded 1",
            "    else",
            f"        printf '%s\\n' {quote(stale.not_found)} >&2",
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
