"""`devenv hook bash|zsh|fish`: load a project's environment on `cd`, restore the shell's on leaving.

The rc file evals `devenv hook SHELL`, which defines a prompt hook. At every prompt the hook
compares `$PWD` with the folder it last saw and, in the project it loaded, runs a check that
the load itself wrote as a shell function: a few `[ input -nt mark ]` and `[ -f allowed ]`
tests, builtins only. Only when the folder's project changed, or an input is newer than the
mark, does it start devenv (`devenv hook SHELL --load ROOT`), which prints, in order:

1. code restoring every key it is about to touch to the value the shell has now (or unsetting
   it), kept in a shell variable for leaving;
2. the canonical environment, exactly as `devenv print-env` renders it (the same
   `current.fresh_env` door, so a changed input is re-resolved);
3. the check for the next prompts, against a mark file whose mtime is the newest input's.

A project whose envspec.toml or dotenv files are not the bytes the user allowed (`allowed.py`)
is not loaded; the check then also watches for the permission to appear. Anything devenv
prints on stdout is eval'd only when devenv exits 0, so a failure shows devenv's message and
leaves the prompt and the shell's variables as they were.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence

from devenv.errors import DevenvError

SHELLS = ("bash", "zsh", "fish")

# Within the last RACY_NS of an input's mtime a further edit could keep the same mtime: the
# mark is then set just before it, so the next prompt checks again (docs/architecture.md,
# "Freshness", uses the same rule for env.nul).
RACY_NS = 100_000_000


def _sh(value: str) -> str:
    from devenv.renderers.posix import quote

    return quote(value)


def _fish(value: str) -> str:
    from devenv.renderers.fish import quote

    return quote(value)


def declaration_paths(root: str) -> list[str]:
    """envspec.toml and the dotenv files it names (absolute): what `devenv allow` covers."""
    from devenv.root import SPEC_FILENAME

    paths = [os.path.join(root, SPEC_FILENAME)]
    try:
        from devenv.spec import load_spec

        paths += [os.path.join(root, name) for name in load_spec(root).dotenv.files]
    except DevenvError:
        pass  # an unreadable spec is still covered by its own bytes
    return paths


def hook_script(shell: str, devenv: str) -> str:
    """The code `eval "$(devenv hook SHELL)"` runs once, from the rc file."""
    if shell == "fish":
        return _FISH_HOOK.replace("@DEVENV@", _fish(devenv))
    text = _POSIX_HOOK.replace("@DEVENV@", _sh(devenv)).replace("@SHELL@", shell)
    return text + (_ZSH_INSTALL if shell == "zsh" else _BASH_INSTALL)


def unload_script(shell: str) -> str:
    """The code `eval "$(devenv hook SHELL --unload)"` runs: restore, then remove the hook."""
    if shell == "fish":
        return _FISH_UNLOAD
    return _ZSH_UNLOAD if shell == "zsh" else _BASH_UNLOAD


def _mark(root: str, paths: Sequence[str], environ: Mapping[str, str]) -> str:
    """A file whose mtime is the newest input's (just before it when that is too recent)."""
    import hashlib
    import time

    from devenv.allowed import state_home

    key = hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    folder = os.path.join(state_home(environ), "marks")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    mark = os.path.join(folder, key)
    newest = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            newest = max(newest, os.stat(path).st_mtime_ns)
    if time.time_ns() - newest < RACY_NS:
        newest -= 1
    with open(mark, "w", encoding="utf-8") as handle:
        handle.write(root + "\n")
    os.utime(mark, ns=(newest, newest))
    return mark


def load_script(shell: str, root: str, environ: Mapping[str, str]) -> str:
    """What the hook evals on entering `root` (or when its inputs changed): see the module doc."""
    from devenv.allowed import allowed_path

    root = os.path.realpath(root)
    paths = declaration_paths(root)
    allowed = allowed_path(root, paths, environ)
    quote = _fish if shell == "fish" else _sh
    lines = [f"set -g _devenv_root {quote(root)}" if shell == "fish" else f"_devenv_root={quote(root)}"]
    if not os.path.isfile(allowed):
        _say(
            f"{root} is not allowed to load: its envspec.toml or a dotenv file is new or changed since "
            "it was last allowed; read them, then run `devenv allow`"
        )
        mark = _mark(root, paths, environ)
        return "\n".join([*lines, _check(shell, paths, mark, allowed, want_allowed=True), ""])
    code = ""
    try:
        from devenv.current import fresh_env
        from devenv.renderers import render

        env = fresh_env(root, outer=environ)
        code = render("fish" if shell == "fish" else "sh", env)
        keys = sorted({*env.variables, *env.unset, *(("PATH",) if env.path_prefix else ())})
        lines.append(_restore(shell, keys, environ))
    except DevenvError as error:
        _say(f"error: {error}")
    # Marked after resolving: an edit made meanwhile is newer than the mark.
    mark = _mark(root, [*paths, *_inputs(root)], environ)
    if code:
        lines.append(code.rstrip("\n"))
        _say(f"loaded {root}")
    lines.append(_check(shell, [*paths, *_inputs(root)], mark, allowed, want_allowed=False))
    return "\n".join(lines) + "\n"


def _inputs(root: str) -> list[str]:
    """Every input env.nul records (the interpreter among them), beyond the declaration."""
    from devenv.snapshot import read_snapshot

    snapshot = read_snapshot(root)
    return [] if snapshot is None else [path for path, _, _ in snapshot.inputs]


def _restore(shell: str, keys: Sequence[str], environ: Mapping[str, str]) -> str:
    """An assignment of `_devenv_restore`: code putting `keys` back as they are in `environ`."""
    if shell == "fish":
        parts = [f"set -gx {k} {_fish(environ[k])}" if k in environ else f"set -e {k}" for k in keys]
        return f"set -g _devenv_restore {_fish('; '.join(parts))}"
    parts = [f"export {k}={_sh(environ[k])}" if k in environ else f"unset -v {k}" for k in keys]
    return f"_devenv_restore={_sh('; '.join(parts))}"


def _check(shell: str, paths: Sequence[str], mark: str, allowed: str, *, want_allowed: bool) -> str:
    """The `_devenv_stale` function: true when the hook must start devenv again."""
    unique = list(dict.fromkeys(paths))
    if shell == "fish":
        tests = [f"test -f {_fish(allowed)}" if want_allowed else f"not test -f {_fish(allowed)}"]
        for path in unique:
            q = _fish(path)
            if os.path.exists(path):
                tests += [f"test {q} -nt {_fish(mark)}", f"not test -e {q}"]
            else:
                tests.append(f"test -e {q}")
        return "function _devenv_stale\n    " + "; or ".join(tests) + "\nend"
    tests = [f"[ -f {_sh(allowed)} ]" if want_allowed else f"[ ! -f {_sh(allowed)} ]"]
    for path in unique:
        q = _sh(path)
        present = os.path.exists(path)
        # A file that appears or goes away counts as a change too.
        tests.append(f"[ {q} -nt {_sh(mark)} ]" if present else f"[ -e {q} ]")
        if present:
            tests.append(f"[ ! -e {q} ]")
    return "_devenv_stale() { " + " || ".join(tests) + "; }"


def _say(message: str) -> None:
    sys.stderr.write(f"devenv: {message}\n")


# The hook. Variables: _devenv_pwd (the folder last seen), _devenv_root (the project handled:
# loaded, refused or failed), _devenv_restore (code that puts back what loading changed).
# Every expansion has a default (`${x-}`) for `set -u`; nothing forks unless devenv must run.
_POSIX_HOOK = r"""_devenv_cmd=@DEVENV@
if [ ! -x "$_devenv_cmd" ]; then _devenv_cmd=devenv; fi
_devenv_stale() { return 1; }
_devenv_find() {
    _devenv_found=${PWD-}
    while [ -n "$_devenv_found" ] && [ ! -f "$_devenv_found/envspec.toml" ]; do
        case "$_devenv_found" in
            /) _devenv_found= ;;
            */*) _devenv_found=${_devenv_found%/*}; [ -n "$_devenv_found" ] || _devenv_found=/ ;;
            *) _devenv_found= ;;
        esac
    done
}
_devenv_switch() {
    if [ -n "${_devenv_restore-}" ]; then
        eval "$_devenv_restore"
        printf 'devenv: unloaded %s\n' "${_devenv_root-}" >&2
    fi
    _devenv_restore=
    _devenv_root=
    _devenv_stale() { return 1; }
    if [ -n "${1-}" ]; then
        if _devenv_code=$("$_devenv_cmd" hook @SHELL@ --load "$1"); then
            eval "$_devenv_code"
        else
            _devenv_root=$1
        fi
        _devenv_code=
    fi
}
_devenv_hook() {
    _devenv_status=$?
    if [ "${PWD-}" != "${_devenv_pwd-}" ]; then
        _devenv_pwd=${PWD-}
        _devenv_find
        if [ "$_devenv_found" != "${_devenv_root-}" ]; then
            _devenv_switch "$_devenv_found"
            return $_devenv_status
        fi
    fi
    if [ -n "${_devenv_root-}" ] && _devenv_stale; then
        _devenv_switch "$_devenv_root"
    fi
    return $_devenv_status
}
"""

# PROMPT_COMMAND may be a string or (bash 5.1+) an array; the hook goes first either way, and
# hands on the exit status it found, so whatever runs after it sees the command's status.
_BASH_INSTALL = r"""if [ -n "${PROMPT_COMMAND+set}" ] && [[ ${PROMPT_COMMAND@a} == *a* ]]; then
    case " ${PROMPT_COMMAND[*]} " in
        *" _devenv_hook "*) ;;
        *) PROMPT_COMMAND=(_devenv_hook "${PROMPT_COMMAND[@]}") ;;
    esac
else
    case ";${PROMPT_COMMAND-};" in
        *";_devenv_hook;"*) ;;
        *) PROMPT_COMMAND="_devenv_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
    esac
fi
"""

# In zsh's own mode whatever the rc file's options are (`emulate sh` among them).
_ZSH_INSTALL = r"""() {
    emulate -L zsh
    typeset -ga precmd_functions
    if (( ${precmd_functions[(Ie)_devenv_hook]} == 0 )); then
        precmd_functions=(_devenv_hook $precmd_functions)
    fi
}
"""

_POSIX_UNLOAD_CORE = r"""if typeset -f _devenv_switch >/dev/null 2>&1; then _devenv_switch ''; fi
unset -f _devenv_hook _devenv_switch _devenv_find _devenv_stale 2>/dev/null
unset -v _devenv_cmd _devenv_pwd _devenv_root _devenv_restore _devenv_found _devenv_status _devenv_code
"""

_BASH_UNLOAD = (
    r"""if [ -n "${PROMPT_COMMAND+set}" ] && [[ ${PROMPT_COMMAND@a} == *a* ]]; then
    _devenv_kept=()
    for _devenv_item in "${PROMPT_COMMAND[@]}"; do
        [ "$_devenv_item" = _devenv_hook ] || _devenv_kept+=("$_devenv_item")
    done
    PROMPT_COMMAND=("${_devenv_kept[@]}")
    unset -v _devenv_kept _devenv_item
else
    PROMPT_COMMAND=";${PROMPT_COMMAND-};"
    PROMPT_COMMAND=${PROMPT_COMMAND//;_devenv_hook;/;}
    PROMPT_COMMAND=${PROMPT_COMMAND#;}
    PROMPT_COMMAND=${PROMPT_COMMAND%;}
fi
"""
    + _POSIX_UNLOAD_CORE
)

_ZSH_UNLOAD = (
    r"""() {
    emulate -L zsh
    precmd_functions=(${precmd_functions:#_devenv_hook})
}
"""
    + _POSIX_UNLOAD_CORE
)

_FISH_HOOK = r"""set -g _devenv_cmd @DEVENV@
test -x "$_devenv_cmd"; or set -g _devenv_cmd devenv
function _devenv_stale
    return 1
end
function _devenv_find
    set -g _devenv_found $PWD
    while test -n "$_devenv_found"; and not test -f "$_devenv_found/envspec.toml"
        if test "$_devenv_found" = /
            set -g _devenv_found ''
        else
            set -g _devenv_found (string replace -r '/[^/]*$' '' -- $_devenv_found)
            test -n "$_devenv_found"; or set -g _devenv_found /
        end
    end
end
function _devenv_switch
    if test -n "$_devenv_restore"
        eval $_devenv_restore
        printf 'devenv: unloaded %s\n' "$_devenv_root" >&2
    end
    set -g _devenv_restore ''
    set -g _devenv_root ''
    function _devenv_stale
        return 1
    end
    if test -n "$argv[1]"
        set -l code ("$_devenv_cmd" hook fish --load $argv[1] | string collect)
        if test $pipestatus[1] -eq 0
            printf '%s\n' $code | source
        else
            set -g _devenv_root $argv[1]
        end
    end
end
function _devenv_hook --on-event fish_prompt
    set -l last $status
    if test "$PWD" != "$_devenv_pwd"
        set -g _devenv_pwd $PWD
        _devenv_find
        if test "$_devenv_found" != "$_devenv_root"
            _devenv_switch $_devenv_found
            return $last
        end
    end
    if test -n "$_devenv_root"; and _devenv_stale
        _devenv_switch $_devenv_root
    end
    return $last
end
set -q _devenv_pwd; or set -g _devenv_pwd ''
set -q _devenv_root; or set -g _devenv_root ''
set -q _devenv_restore; or set -g _devenv_restore ''
"""

_FISH_UNLOAD = r"""functions -q _devenv_switch; and _devenv_switch ''
functions -e _devenv_hook _devenv_switch _devenv_find _devenv_stale
set -e _devenv_cmd _devenv_pwd _devenv_root _devenv_restore _devenv_found
"""
