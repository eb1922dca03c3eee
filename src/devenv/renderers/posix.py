"""POSIX sh renderer: one file that dash, bash and zsh all read the same way."""

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


def quote(value: str) -> str:
    """`value` as one single-quoted sh word; only `'` needs care.

    Never `$'...'`: dash 0.5.12 reads `$'a\\nb'` as the literal `$a\\nb` (no ANSI-C quoting).
    """
    return "'" + _escape(value) + "'"


def _escape(value: str) -> str:
    return value.replace("'", "'\\''")


def render(env: "CanonicalEnv") -> str:
    """`unset`/`export` lines, then shell code that puts `env.path_prefix` first on PATH."""
    lines = [HEADER]
    lines += [f"unset -v {key}" for key in env.unset]
    quoted = each_value(env.variables.values(), _escape)
    lines += [f"export {key}='{value}'" for key, value in zip(env.variables, quoted, strict=True)]
    if env.path_prefix:
        lines += _path_code(env.path_prefix)
    return "\n".join(lines) + "\n"


def _path_code(prefix: tuple[str, ...]) -> list[str]:
    """Rebuild PATH in the shell by the rule of `environment.join_path`, so sourcing is idempotent.

    The loop splits on `:` with `%%`/`#` expansions instead of IFS word splitting, which
    zsh does not do on unquoted parameters, and which would glob without `set -f`; the
    folders are quoted `case` patterns, so a `*` or `[` in them is literal.
    """
    patterns = "|".join(["''", *(quote(folder) for folder in prefix)])
    return [
        f"_devenv_path={quote(':'.join(prefix))}",
        '_devenv_rest="${PATH-}:"',
        'while [ -n "$_devenv_rest" ]; do',
        '    _devenv_entry="${_devenv_rest%%:*}"',
        '    _devenv_rest="${_devenv_rest#*:}"',
        '    case "$_devenv_entry" in',
        f"        {patterns}) ;;",
        '        *) _devenv_path="$_devenv_path:$_devenv_entry" ;;',
        "    esac",
        "done",
        'export PATH="$_devenv_path"',
        "unset -v _devenv_path _devenv_rest _devenv_entry",
    ]
