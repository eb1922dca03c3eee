"""The `devenv` command: parse arguments, call the library, print, exit.

The only module that prints to stdout or exits. stdout carries data only (it gets
`eval`-ed); every message goes to stderr as `devenv: ...`.

This module is what every `devenv` start imports, so it holds only the start-up path: `main`,
the hand-written parser of plain `print-env`, `run`, `sync` and bare diagnostics
(`_parse_fast`), and the `print-env` and `run` commands. Every command is declared once, in
`cli_commands.commands()`, beside the functions of the commands off that path: unmarshalling
them on every `print-env` cost a quarter of its budget (docs/architecture.md, "Start-up
budget"). `_parse_fast` yields the same function and arguments as argparse does from the
declaration (tests/unit/test_cli_fast_parser.py checks it): argparse imports `re` and
`gettext`, which alone would cost more than the whole budget of those commands. Anything
else, including `--help` and every mistake, goes to argparse.
"""

import os
import sys

from devenv.current import fresh_env, fresh_env_and_text
from devenv.environment import LAUNCHER_KEY, PROFILE_KEY
from devenv.root import project_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from devenv.environment import CanonicalEnv
    from devenv.errors import DevenvError

    #: A command's function and the arguments to call it with.
    Call = tuple[Callable[..., int], dict[str, object]]


def main(argv: "Sequence[str] | None" = None, *, exit_when_done: bool = False) -> int:
    """Run devenv with `argv` (default: sys.argv[1:]) and return the exit code.

    `exit_when_done` (the `devenv` script and `python -m devenv`): a `print-env` that
    succeeded ends the process itself once its output is flushed (`_exit_now`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in args
    try:
        args = _take_profile(args)
        function, arguments = _parse_fast(args) or _parse(args)
        code = function(**arguments)
        if exit_when_done and function is print_env and code == 0:
            _exit_now()
        return code
    except KeyboardInterrupt:
        if traceback:
            raise
        from devenv.errors import EXIT_INTERRUPTED

        sys.stderr.write("devenv: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `devenv print-env | head -1`: the reader left; that is not an error of ours.
        _silence_stdout()
        return 0
    except Exception as error:
        # errors.py is imported only now: a launch that works never needs it, and each module
        # on the start-up path costs ~0.1 ms (docs/architecture.md, "Start-up budget").
        from devenv.errors import DevenvError

        if traceback or not isinstance(error, DevenvError):
            raise
        sys.stderr.write(f"devenv: error: {error}\n")
        return error.exit_code


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _take_profile(args: list[str]) -> list[str]:
    """`args` without `--profile NAME` / `--profile=NAME`, which every command takes
    (`devenv --profile local run -- CMD`, `devenv up --profile local`). It is the same as
    running with DEVENV_PROFILE=NAME, so it is set that way for this command: every layer
    (snapshot freshness, refresh, launches, ps, diff) reads the one value.

    Words after `--`, and `run`'s command with its arguments, are the user's own."""
    kept: list[str] = []
    profile = None
    command = None
    index = 0
    while index < len(args):
        word = args[index]
        value_of = kept[-1] if kept else ""
        if word == "--" or (
            command == "run" and not word.startswith("-") and value_of not in ("--set", "--instance")
        ):
            kept += args[index:]
            break
        if word == "--profile" or word.startswith("--profile="):
            profile = args[index + 1] if word == "--profile" and index + 1 < len(args) else word[10:]
            if not profile or profile.startswith("-"):
                from devenv.errors import UsageError

                raise UsageError("--profile needs a name: --profile NAME (a [profiles.NAME] of envspec.toml)")
            index += 2 if word == "--profile" else 1
            continue
        if command is None and not word.startswith("-") and value_of != "--root":
            command = word
        kept.append(word)
        index += 1
    if profile is not None:
        os.environ[PROFILE_KEY] = profile
    return kept


# -- the fast path ---------------------------------------------------------------------------


def _parse(args: list[str]) -> "Call":
    """The function and arguments argparse gives for `args` from the declaration."""
    from devenv.cli_commands import parse

    return parse(args)


def _parse_fast(args: list[str]) -> "Call | None":
    """The function and arguments of a plain `print-env` / `run` / `sync` invocation or a
    bare diagnostic, the same ones argparse would give from the declaration
    (`cli_commands.commands`), else None (argparse decides)."""
    root = None
    index = 0
    if args[:1] == ["--root"] and len(args) > 1 and not args[1].startswith("-"):
        root, index = args[1], 2
    elif args and args[0].startswith("--root="):
        root, index = args[0][len("--root=") :], 1
    if index >= len(args):
        return None
    command, rest = args[index], args[index + 1 :]
    frozen = False
    if command not in ("print-env", "run"):
        from devenv.cli_commands import PLAIN, sync

        if (command, *rest) in PLAIN:
            # A diagnostic with no options: argparse and its gettext would be a quarter of T0
            # of a command budgeted at 4-5x T0 (benchmarks/diagnostics.py).
            function, arguments = PLAIN[(command, *rest)]
            return function, {"root_option": root, **arguments}
        if command == "sync" and rest in ([], ["--frozen"]):
            # Every nox session runs a sync that usually has nothing to do: decide that
            # without argparse (see the module docstring).
            return sync, {"root_option": root, "frozen": bool(rest), "check": False}
        return None
    if command == "print-env":
        fmt = "sh"
        position = 0
        while position < len(rest):
            word = rest[position]
            if word == "--frozen":
                frozen = True
            elif word in ("--format", "-f") and position + 1 < len(rest):
                fmt = rest[position + 1]
                position += 1
            elif word.startswith("--format="):
                fmt = word[len("--format=") :]
            else:
                return None
            if fmt != "sh":
                # The registry, only for another format: a fresh env.nul carries the default
                # format's text, printed without importing a renderer.
                from devenv.renderers import FORMATS

                if fmt not in FORMATS:
                    return None  # argparse checks every --format given and says which there are
            position += 1
        return print_env, {
            "root_option": root,
            "fmt": fmt,
            "frozen": frozen,
            "for_container": False,
            "root_in_container": None,
            "instance": None,
        }
    if command == "run":
        sets: list[str] = []
        position = 0
        while position < len(rest):
            word = rest[position]
            if word == "--":
                break  # kept: argparse's REMAINDER keeps it too, and run() drops it
            if word == "--frozen":
                frozen = True
            elif (
                word == "--set"
                and position + 1 < len(rest)
                and "=" in rest[position + 1]
                and not rest[position + 1].startswith("-")  # argparse reads that as an option
            ):
                sets.append(rest[position + 1])
                position += 1
            elif word.startswith("-"):
                return None
            else:
                break
            position += 1
        command_words = rest[position:]
        if command_words in ([], ["--"]):
            return None
        return run, {
            "root_option": root,
            "cmd": command_words,
            "sets": sets,
            "frozen": frozen,
            "instance": None,
        }
    return None


# -- commands --------------------------------------------------------------------------------


def print_env(
    root_option: str | None,
    *,
    fmt: str,
    frozen: bool,
    for_container: bool = False,
    root_in_container: str | None = None,
    instance: str | None = None,
) -> int:
    """`devenv print-env`: the canonical environment in a shell's or a tool's format."""
    root = project_root(root_option)
    if for_container or root_in_container is not None or instance is not None:
        env = fresh_env(root, frozen=frozen, instance=instance)
    else:
        env, text = fresh_env_and_text(root, fmt, frozen=frozen)
        if text is not None:  # the default format, as written into a fresh env.nul
            write_stdout(text, raw=True)
            return 0
    from devenv.renderers import lookup, render
    from devenv.renderers import notes as format_notes

    entry = lookup(fmt)
    base_path: str | None = os.environ.get("PATH", os.defpath)
    notes: list[str] = []
    if entry.other_machine or for_container or root_in_container is not None:
        env, notes = _for_container(entry.name, env, root_in_container)
        base_path = None  # the container keeps its own PATH
    text = render(fmt, env, base_path=base_path)
    notes += format_notes(fmt, env, base_path=base_path)
    for note in notes:
        progress(note)
    write_stdout(text, raw=True)
    return 0


def write_stdout(text: str, *, raw: bool = False) -> None:
    """Write `text` to stdout and flush it; `raw`: as UTF-8 with the surrogate escapes a value
    read from a file may hold (print-env, hook). A write that fails (`> /dev/full`) is an
    OutputError saying why, not a traceback; what was left unwritten goes to /dev/null, or
    the interpreter's own last flush would fail again. A reader that left (BrokenPipeError)
    is not an error (`main`)."""
    if sys.stdout is None:  # started with stdout closed (`devenv print-env >&-`)
        from devenv.errors import OutputError

        raise OutputError("cannot write the output: stdout is closed")
    try:
        if raw:
            sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        else:
            sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        _silence_stdout()
        from devenv.errors import OutputError

        raise OutputError(f"cannot write the output: {error.strerror or error}") from None


def _exit_now() -> "NoReturn":
    """Exit 0 at once, without the interpreter's shutdown (module teardown, a last garbage
    collection: ~1.5 ms, as much as the rest of a print-env beyond T0). For print-env only:
    its output is flushed and nothing is left to do (no atexit handler, thread or temporary
    file of ours is pending on that path). `run` gets the same by exec."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _for_container(
    fmt: str, env: "CanonicalEnv", root_in_container: str | None
) -> "tuple[CanonicalEnv, list[str]]":
    """`env` for a container (host-only keys out, the root mapped), for the file formats."""
    from devenv.errors import UsageError, preview
    from devenv.renderers import REGISTRY

    if not any(entry.container for entry in REGISTRY if entry.name == fmt):
        names = [entry.name for entry in REGISTRY if entry.container]
        raise UsageError(
            "--for-container and --root-in-container go with --format "
            f"{', '.join(names[:-1])} or {names[-1]}, not {fmt}"
        )
    if root_in_container is not None and not root_in_container.startswith("/"):
        raise UsageError(
            f"--root-in-container {preview(root_in_container)}: give the absolute folder the project"
            " is mounted at in the container (for example /app)"
        )
    from devenv.renderers.container import for_container

    return for_container(env, root_in_container)


def run(
    root_option: str | None,
    *,
    cmd: list[str],
    sets: list[str],
    frozen: bool,
    instance: str | None = None,
) -> int:
    """`devenv run [--set KEY=VALUE]... -- CMD`: replace this process with CMD in the
    canonical environment."""
    from devenv.environment import apply_env

    command = cmd[1:] if cmd[:1] == ["--"] else list(cmd)
    if not command:
        from devenv.errors import UsageError

        raise UsageError("run needs a command: devenv run -- CMD [ARGS...]")
    root = project_root(root_option)
    env = fresh_env(root, frozen=frozen, overrides=[_key_value(item) for item in sets], instance=instance)
    from devenv.commands import find_command

    child = apply_env(env, os.environ)
    # Which launcher started it, for `devenv ps` (nox sessions run their commands through us).
    child[LAUNCHER_KEY] = "nox" if "NOX_CURRENT_SESSION" in os.environ else "run"
    executable = find_command(
        command[0], path=child.get("PATH", os.defpath), root=root, venv=child.get("VIRTUAL_ENV")
    )
    # Python ignores SIGPIPE and SIGXFSZ for itself; an exec'd program must get the default
    # back, as subprocess's restore_signals does (`_signal` avoids importing enum).
    import _signal  # type: ignore[import-not-found]  # no stub; `signal` would import enum

    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(_signal, name):
            _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(executable, command, child)
    except OSError as exc:
        import errno

        from devenv.errors import EXIT_CANNOT_RUN

        if exc.errno == errno.E2BIG:
            raise _too_big(command, child) from None
        sys.stderr.write(f"devenv: error: cannot run {command[0]} ({executable}): {exc.strerror}\n")
        return EXIT_CANNOT_RUN
    raise AssertionError("not reached: execve does not return on success")


def _key_value(item: str) -> tuple[str, str]:
    """`--set KEY=VALUE` as (KEY, VALUE)."""
    key, equals, value = item.partition("=")
    if not equals:
        # Often a value typed without its key: never echo it whole.
        from devenv.errors import UsageError, preview

        raise UsageError(f"--set {preview(item)}: write --set KEY=VALUE")
    return key, value


def _too_big(command: list[str], child: "dict[str, str]") -> "DevenvError":
    """The error for an exec the kernel refused as too big (E2BIG), naming the largest keys."""
    sizes = sorted(((len(k) + len(v) + 2, k) for k, v in child.items()), reverse=True)[:3]
    largest = ", ".join(f"{key} ({size // 1024} KiB)" for size, key in sizes)
    total = sum(len(k) + len(v) + 2 for k, v in child.items()) + sum(len(w) + 1 for w in command)
    from devenv.errors import UsageError

    return UsageError(
        f"cannot run {command[0]}: its environment and arguments ({total // 1024} KiB) are more than "
        f"Linux passes to a program (E2BIG); the largest variables are {largest}; "
        "put large data in files and set their paths instead"
    )


_status_shown = False


def progress(message: str, *, transient: bool = False) -> None:
    """One line per phase on stderr; on a terminal a transient line (a download under way)
    is drawn in place and replaced by the next one."""
    global _status_shown
    terminal = sys.stderr.isatty()
    if transient and not terminal:
        return
    if _status_shown:
        sys.stderr.write("\r\033[K")
    _status_shown = transient
    sys.stderr.write(f"devenv: {message}" + ("" if transient else "\n"))
    sys.stderr.flush()
