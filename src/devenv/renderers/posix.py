"""POSIX sh renderer: one file that dash, bash and zsh all read the same way."""

from devenv.renderers import HEADER, each_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv
    from devenv.renderers.refresh import Staleness


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


def guard(body: str, stale: "Staleness") -> str:
    """`body` run only when the file is current, else what devenv prints now (`stale` says
    how to tell: renderers/refresh.py)."""
    q_own, q_root = quote(stale.own), quote(stale.root)
    # Another profile in this shell: its values, never this file's (print-env reads it).
    tests = [f'[ "${{DEVENV_PROFILE-}}" != {quote(stale.profile)} ]']
    tests += [f"{{ [ ! -e {quote(p)} ] || [ {quote(p)} -nt {q_own} ]; }}" for p in stale.present]
    tests += [f"[ -e {quote(p)} ]" for p in stale.absent]
    condition = " || ".join(tests) or "false"
    return "\n".join(
        [
            "_devenv_loaded= _devenv_failed=",
            f"if {condition}; then",
            f"    _devenv_cmd={quote(stale.devenv)}",
            '    if [ -z "$_devenv_cmd" ] || [ ! -x "$_devenv_cmd" ]; then',
            "        _devenv_cmd=$(command -v devenv 2>/dev/null) || _devenv_cmd=",
            "    fi",
            '    if [ -n "$_devenv_cmd" ]; then',
            f'        if _devenv_text=$("$_devenv_cmd" --root {q_root} print-env --format sh); then',
            '            eval "$_devenv_text"',
            "        else",
            f"            printf '%s\\n' {quote(stale.failed)} >&2",
            "            _devenv_failed=1",
            "        fi",
            "        _devenv_loaded=1",
            "    else",
            f"        printf '%s\\n' {quote(stale.not_found)} >&2",
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
