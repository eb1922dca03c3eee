"""fish renderer: `set -gx` lines and a list-based PATH rebuild."""

from __future__ import annotations

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


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
