"""The `devenv` command: parse arguments, call the library, print, exit.

The only module that prints to stdout or exits. stdout carries data only (it gets
`eval`-ed); every message goes to stderr as `devenv: ...`.

Each command is declared once, in `_commands()`: its function, its help and its arguments,
whose dests are the function's parameters. `print-env`, `run` and a plain `sync` are parsed
by hand when their arguments are plain (`_parse_fast`, which yields the same function and
arguments, as tests/unit/test_cli_fast_parser.py checks against the declaration): argparse
imports `re` and `gettext`, which alone would cost more than the whole budget of those
commands (docs/architecture.md, "Start-up budget"). Anything else, including `--help` and
every mistake, goes to argparse.
"""

import os
import sys

from devenv.current import fresh_env
from devenv.environment import LAUNCHER_KEY, PROFILE_KEY
from devenv.errors import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, DevenvError, UsageError, preview
from devenv.root import project_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    from devenv.environment import CanonicalEnv
    from devenv.store import EnvDocument

    #: A command's function and the arguments to call it with.
    Call = tuple[Callable[..., int], dict[str, object]]

#: What the default instance is, in the words --help uses (environment.default_instance).
_DEFAULT_INSTANCE_HELP = "default: this checkout's own, its folder name + a hash of its path, e.g. main_f2af"
_INSTANCE_HELP = (
    f"value of ${{DEVENV_INSTANCE}} ({_DEFAULT_INSTANCE_HELP}); "
    "join a run started with `devenv up --instance`"
)


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
    except DevenvError as error:
        if traceback:
            raise
        sys.stderr.write(f"devenv: error: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        if traceback:
            raise
        sys.stderr.write("devenv: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `devenv print-env | head -1`: the reader left; that is not an error of ours.
        _silence_stdout()
        return 0


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


def _parse_fast(args: list[str]) -> "Call | None":
    """The function and arguments of a plain `print-env` / `run` / `sync` invocation, the
    same ones argparse would give from the declaration (`_commands`), else None (argparse
    decides)."""
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
    if (command, *rest) in _PLAIN:
        # A diagnostic with no options: argparse and its gettext would be a quarter of T0 of
        # a command budgeted at 4-5x T0 (benchmarks/diagnostics.py).
        function, arguments = _PLAIN[(command, *rest)]
        return function, {"root_option": root, **arguments}
    if command == "sync" and rest in ([], ["--frozen"]):
        # Every nox session runs a sync that usually has nothing to do: decide that without
        # argparse (see the module docstring).
        return sync, {"root_option": root, "frozen": bool(rest), "check": False}
    if command == "print-env":
        from devenv.renderers import FORMATS  # print_env imports it anyway

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
    from devenv.renderers import lookup, render
    from devenv.renderers import notes as format_notes

    entry = lookup(fmt)
    env = fresh_env(project_root(root_option), frozen=frozen, instance=instance)
    base_path: str | None = os.environ.get("PATH", os.defpath)
    notes: list[str] = []
    if entry.other_machine or for_container or root_in_container is not None:
        env, notes = _for_container(entry.name, env, root_in_container)
        base_path = None  # the container keeps its own PATH
    text = render(fmt, env, base_path=base_path)
    notes += format_notes(fmt, env, base_path=base_path)
    for note in notes:
        _progress(note)
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    return 0


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

        if exc.errno == errno.E2BIG:
            raise _too_big(command, child) from None
        sys.stderr.write(f"devenv: error: cannot run {command[0]} ({executable}): {exc.strerror}\n")
        return EXIT_CANNOT_RUN
    return EXIT_CANNOT_RUN  # not reached: execve does not return on success


def _key_value(item: str) -> tuple[str, str]:
    """`--set KEY=VALUE` as (KEY, VALUE)."""
    key, equals, value = item.partition("=")
    if not equals:
        # Often a value typed without its key: never echo it whole.
        raise UsageError(f"--set {preview(item)}: write --set KEY=VALUE")
    return key, value


def _too_big(command: list[str], child: "dict[str, str]") -> DevenvError:
    """The error for an exec the kernel refused as too big (E2BIG), naming the largest keys."""
    sizes = sorted(((len(k) + len(v) + 2, k) for k, v in child.items()), reverse=True)[:3]
    largest = ", ".join(f"{key} ({size // 1024} KiB)" for size, key in sizes)
    total = sum(len(k) + len(v) + 2 for k, v in child.items()) + sum(len(w) + 1 for w in command)
    return UsageError(
        f"cannot run {command[0]}: its environment and arguments ({total // 1024} KiB) are more than "
        f"Linux passes to a program (E2BIG); the largest variables are {largest}; "
        "put large data in files and set their paths instead"
    )


def sync(root_option: str | None, *, frozen: bool, check: bool) -> int:
    """`devenv sync`: create/update the venv, resolve, write `.devenv/`."""
    from devenv.stamp import nothing_to_sync

    root = project_root(root_option)
    if nothing_to_sync(root, os.environ, frozen=frozen):
        _progress(".devenv/ and the venv are up to date; nothing to install")
        return 0
    from devenv.project import sync as sync_project

    document, installed = sync_project(root, os.environ, frozen=frozen, progress=_progress, check=check)
    if check:
        _progress(".devenv/ and the venv are up to date")
        return 0
    python = document["python"]
    venv = os.path.relpath(python["venv"], root)
    if not installed:
        _progress(
            f"{venv} is up to date ({len(python['installed'])} packages, "
            f"{python['implementation']} {python['version']}); nothing to install"
        )
    _progress(
        f"wrote .devenv/ ({len(document['variables'])} variables, fingerprint {document['fingerprint']}); "
        'use it with `eval "$(devenv print-env)"`, `. .devenv/env.sh` or `devenv run -- CMD`'
    )
    return 0


_status_shown = False


def _progress(message: str, *, transient: bool = False) -> None:
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


def up(
    root_option: str | None,
    *,
    names: list[str],
    extra: list[str],
    instance: str | None,
    frozen: bool,
    detach: bool,
) -> int:
    """`devenv up [NAME...] [-d]`: run declared processes in the foreground until Ctrl-C, or
    under a background supervisor."""
    from devenv.spec import load_spec
    from devenv.up import run_up, up_instance, up_order

    root = project_root(root_option)
    chosen = up_instance(instance)
    if chosen != instance:
        _progress(f"instance {chosen} (DEVENV_INSTANCE); join it with --instance {chosen}")
    instance = chosen
    env = fresh_env(root, frozen=frozen, instance=instance)
    spec = load_spec(root)
    if detach:
        from devenv.supervisor import detach as start_detached

        up_order(spec, names, extra_args=extra)  # a mistake fails here, not in the background
        return start_detached(root, names, env.instance, extra_args=extra, frozen=frozen, err=sys.stderr)
    return run_up(spec, names, env, extra_args=extra, out=sys.stdout)


def task(root_option: str | None, *, name: str, instance: str | None, frozen: bool) -> int:
    """`devenv task NAME`: run a task and the tasks it needs; exit with the failing one's code."""
    from devenv.spec import load_spec
    from devenv.tasks import run_tasks

    root = project_root(root_option)
    env = fresh_env(root, frozen=frozen, instance=instance)
    spec = load_spec(root)
    spec.task(name)  # an unknown name is exit 2 listing the declared tasks

    def output(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    run_tasks(spec, [name], env, launcher="task", report=_progress, output=output)
    return 0


def logs(root_option: str | None, *, names: list[str], follow: bool, instance: str | None) -> int:
    """`devenv logs [NAME...] [-f]`: the combined log of the instance's `devenv up`."""
    from devenv.environment import default_instance
    from devenv.spec import load_spec
    from devenv.supervisor import show_logs

    root = project_root(root_option)
    declared = [process.name for process in load_spec(root).processes]
    return show_logs(
        root, instance or default_instance(root), names, follow=follow, out=sys.stdout, declared=declared
    )


def stop(root_option: str | None, *, names: list[str], all_processes: bool, include_run: bool) -> int:
    """`devenv stop NAME... | --all`: stop this project's processes by up's stop path."""
    from devenv.running import stop as stop_processes

    if bool(names) == all_processes:
        raise UsageError("name the processes to stop (devenv stop worker) or pass --all, not both")
    root = project_root(root_option)
    stopped = stop_processes(root, os.environ, names, include_run=include_run)
    for item in stopped:
        how = "killed after its stop timeout" if item.killed else "stopped"
        _progress(f"{how} {item.name} (pid {item.pid}, started by {item.launcher}) in {item.seconds:.2f} s")
    if not stopped:
        _progress("nothing to stop" + (f" named {', '.join(names)}" if names else ""))
    return 0


def _print_json(document: object) -> None:
    import json

    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def doctor(root_option: str | None, *, as_json: bool) -> int:
    """`devenv doctor`: every check, ok / warn / fail; exit 1 when anything fails."""
    from devenv.doctor import format_doctor, run_checks

    root = project_root(root_option)
    report = run_checks(root, os.environ)
    if as_json:
        _print_json(report.to_json())
    else:
        sys.stdout.write(format_doctor(report))
    return report.exit_code


def explain(
    root_option: str | None,
    *,
    key: str | None,
    reveal: bool,
    as_json: bool,
    process: str | None,
    instance: str | None,
) -> int:
    """`devenv explain`: values (masked) with provenance."""
    from devenv.explain import MASKED_NOTE, format_explain
    from devenv.explain import explain as explain_project

    explanation = explain_project(
        project_root(root_option), os.environ, key=key, reveal=reveal, process=process, instance=instance
    )
    if as_json:
        _print_json(explanation.to_json())
    else:
        sys.stdout.write(format_explain(explanation))
        if explanation.profile or explanation.process:
            whose = [f"profile {explanation.profile}"] if explanation.profile else ["no profile"]
            if explanation.process:
                whose.insert(0, explanation.process)
            _progress("the environment of " + ", ".join(whose))
        if any(variable.masked for variable in explanation.variables):
            sys.stdout.flush()
            _progress(MASKED_NOTE)
    return 0


def diff(root_option: str | None, *, target: str, tree: bool, as_json: bool, instance: str | None) -> int:
    """`devenv diff PID|ENV.JSON`: exit 1 when a running process's environment, or another
    machine's, differs from the canonical one."""
    if not target.isdigit():
        if tree:
            raise UsageError("--tree compares a process tree; it needs a PID, not a file")
        return _diff_machine(root_option, target, as_json=as_json)
    return _diff_process(root_option, int(target), tree=tree, as_json=as_json, instance=instance)


def _diff_process(
    root_option: str | None, pid: int, *, tree: bool, as_json: bool, instance: str | None
) -> int:
    """`devenv diff PID`: exit 1 when the process's environment differs from the canonical one."""
    from devenv.drift import diff_process, expected_env, format_diff, read_environ

    root = project_root(root_option)
    fresh_env(root, frozen=False)  # .devenv/ current (or the reason it cannot be)
    # A run with its own instance (a test session, `up --instance`), profile, overrides
    # (--set) or declared `env` table is compared with what it was meant to get, not with
    # the shells' one.
    env, whose = expected_env(root, read_environ(pid)[1], os.environ, instance=instance)
    _progress(f"compared with the environment of {whose}")
    result = diff_process(pid, env, tree=tree)
    if as_json:
        _print_json(result.to_json())
    else:
        sys.stdout.write(format_diff(result, env))
    return 1 if result.differs else 0


def _diff_machine(root_option: str | None, other: str, *, as_json: bool) -> int:
    """`devenv diff OTHER/env.json`: exit 1 when another machine's environment differs."""
    from devenv.drift import compare_documents, format_machine_diff, read_other_document

    root = project_root(root_option)
    fresh_env(root, frozen=False)
    ours = _current_document(root)
    result = compare_documents(ours, read_other_document(other), other=other)
    if as_json:
        _print_json(result.to_json())
    else:
        sys.stdout.write(format_machine_diff(result))
    return 1 if result.differs else 0


def _current_document(root: str) -> "EnvDocument":
    from devenv.store import read_document

    document = read_document(root)
    if document is None:
        raise UsageError(f"{root}: no .devenv/env.json yet; run `devenv sync` first")
    return document


def export(root_option: str | None, *, output: str | None) -> int:
    """`devenv export`: env.json with sensitive values as salted hashes, safe to publish."""
    import json

    from devenv.drift import export_document

    root = project_root(root_option)
    fresh_env(root, frozen=False)
    text = json.dumps(export_document(_current_document(root)), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        from devenv.store import write_atomic

        write_atomic(os.path.abspath(output), text.encode("utf-8", "surrogateescape"))
        _progress(f"wrote {output}; compare with it elsewhere: devenv diff {output}")
    return 0


def lock(
    root_option: str | None,
    *,
    check: bool,
    name: str | None,
    index_url: str | None,
    extra_index_urls: "Sequence[str]",
) -> int:
    """`devenv lock [--check]`: write pylock.toml, or say whether it is stale (exit 1)."""
    from devenv.spec import load_spec
    from devenv.store import locked, read_document

    root = project_root(root_option)
    spec = load_spec(root)
    document = read_document(root)
    previous = document["python"] if document is not None else None
    if check:
        from devenv.stamp import lock_current_since_sync

        if previous is not None and lock_current_since_sync(root, previous["lock"]):
            _progress(f"{os.path.basename(previous['lock'])} is current for envspec.toml [python]")
            return 0
    from devenv.venv import check_lock, check_venv_location, lock_project  # the installers' machinery

    if check:
        current, reasons = check_lock(spec, previous)
        if current is None:
            _progress("there is no pylock.toml; run `devenv lock` to create one, then commit it")
            return 1
        label = os.path.basename(current.path)
        if current.standard and not reasons:
            _progress(
                f"{label} was written by {current.created_by or 'another tool'}, not by `devenv lock`: "
                "it is valid PEP 751 and `devenv sync` installs it as it is; devenv cannot tell whether "
                "it matches envspec.toml [python] (it records no input hash): re-make it with the tool "
                "that wrote it, or run `devenv lock` to replace it with one devenv can check"
            )
            return 0
        if reasons:
            _progress(f"{label} is stale: {'; '.join(reasons)}; run `devenv lock`")
            return 1
        _progress(f"{label} is current for envspec.toml [python]")
        return 0
    check_venv_location(spec)
    with locked(root):
        written = lock_project(
            spec,
            previous,
            name=name,
            index_url=index_url,
            extra_index_urls=tuple(extra_index_urls),
            progress=_progress,
        )
    covers = (
        f"Python {written.tool['python']}, this platform"
        if "python" in written.tool
        else f"Python {written.requires_python or 'any'}, "
        + (", ".join(spec.python.platforms) or "every platform")
    )
    _progress(
        f"wrote {os.path.relpath(written.path, root)} ({len(written.packages)} packages, {covers}); "
        "commit it; `devenv sync` installs exactly the part for its platform"
    )
    return 0


def ps(root_option: str | None, *, all_projects: bool, as_json: bool) -> int:
    """`devenv ps`: processes running in this project's environment."""
    from devenv.root import find_root
    from devenv.running import format_ps, ps_notes
    from devenv.running import ps as list_processes

    root = (
        project_root(root_option)
        if not all_projects or root_option
        else (find_root(os.getcwd()) or os.getcwd())
    )
    processes = list_processes(root, os.environ, all_projects=all_projects)
    if as_json:
        _print_json([process.to_json() for process in processes])
        return 0
    sys.stdout.write(format_ps(processes, show_root=all_projects))
    sys.stdout.flush()
    for note in ps_notes(processes):
        _progress(note)
    return 0


def hook(*, shell: str, unload: bool, load: str | None) -> int:
    """`devenv hook SHELL`: the rc-file code; `--unload` removes it; `--load DIR` is its call."""
    from devenv import hook as shell_hook
    from devenv.store import devenv_command

    if load is not None:
        text = shell_hook.load_script(shell, load, os.environ)
    elif unload:
        text = shell_hook.unload_script(shell)
    else:
        text = shell_hook.hook_script(shell, devenv_command())
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 0


def allow(root_option: str | None) -> int:
    """`devenv allow`: the shell hook may load this project as it is now."""
    from devenv.allowed import allow as allow_project
    from devenv.hook import declaration_paths

    root = os.path.realpath(project_root(root_option))
    allow_project(root, declaration_paths(root), os.environ)
    _progress(f"allowed {root}; the shell hook loads it at the next prompt")
    return 0


def deny(root_option: str | None) -> int:
    """`devenv deny`: revoke `devenv allow`."""
    from devenv.allowed import deny as deny_project

    root = os.path.realpath(project_root(root_option))
    if deny_project(root, os.environ):
        _progress(f"denied {root}; the shell hook unloads it at the next prompt")
    else:
        _progress(f"{root} was not allowed; nothing to revoke")
    return 0


# -- the declaration -------------------------------------------------------------------------


#: The diagnostics `_parse_fast` takes without argparse when given no options, with the
#: arguments argparse gives them from `_commands` (tests/unit/test_cli_fast_parser.py
#: compares the two).
_PLAIN: "dict[tuple[str, ...], tuple[Callable[..., int], dict[str, object]]]" = {
    ("doctor",): (doctor, {"as_json": False}),
    ("explain",): (
        explain,
        {"key": None, "reveal": False, "as_json": False, "process": None, "instance": None},
    ),
    ("ps",): (ps, {"all_projects": False, "as_json": False}),
    ("lock", "--check"): (lock, {"check": True, "name": None, "index_url": None, "extra_index_urls": []}),
}


class Command:
    """One `devenv` command, declared once: the function that runs it, its help, and its
    arguments (`add_argument`'s words), whose dests are the function's parameters. A plain
    class: this module is on the `print-env` / `run` path (see the module docstring)."""

    __slots__ = ("arguments", "description", "function", "help", "name", "usage")

    def __init__(
        self,
        name: str,
        function: "Callable[..., int]",
        *arguments: "Argument",
        help: str,
        description: str,
        usage: str | None = None,
    ) -> None:
        self.name = name
        self.function = function
        self.arguments = arguments
        self.help = help
        self.description = description
        self.usage = usage


class Argument:
    """One `add_argument(*flags, **options)` of a command."""

    __slots__ = ("flags", "options")

    def __init__(self, *flags: str, **options: object) -> None:
        self.flags = flags
        self.options = options


def _commands() -> "tuple[Command, ...]":
    """Every command, in the order `devenv --help` lists them."""
    import argparse

    from devenv.renderers import FORMATS

    frozen = Argument("--frozen", action="store_true", help="fail if .devenv/ is out of date")
    as_json = Argument("--json", dest="as_json", action="store_true", help="machine-readable output")
    instance = Argument("--instance", metavar="NAME", help=_INSTANCE_HELP)
    names = Argument("names", nargs="*", metavar="NAME", help="[processes.NAME] of envspec.toml")
    return (
        Command(
            "sync",
            sync,
            Argument(
                "--frozen",
                action="store_true",
                help=(
                    "install exactly the committed pylock.toml and never resolve: exit 2 when it is "
                    "missing or stale, or when the variables changed (for CI)"
                ),
            ),
            Argument(
                "--check",
                action="store_true",
                help="change nothing: exit 0 when in sync, 2 saying what a sync would change",
            ),
            help="create/update the venv, install [python].packages, write .devenv/",
            description=(
                "Create the virtual environment with virtualenv for an interpreter satisfying "
                "[python].requires, install [python].packages, resolve every variable and write "
                ".devenv/. A second sync with nothing changed installs nothing."
            ),
        ),
        Command(
            "lock",
            lock,
            Argument(
                "--check",
                action="store_true",
                help="exit 1 when the lock is missing or stale, saying what changed",
            ),
            Argument("--name", metavar="NAME", help="write pylock.NAME.toml (a lock for another platform)"),
            Argument(
                "--index-url",
                metavar="URL",
                default=None,
                help="the index to resolve against (default: [python].index, else the lock's, else PyPI); "
                "${NAME} is taken from the environment",
            ),
            Argument(
                "--extra-index-url",
                dest="extra_index_urls",
                metavar="URL",
                action="append",
                default=[],
                help="another index to resolve against (repeatable)",
            ),
            help="resolve [python].packages into pylock.toml (commit it)",
            description=(
                "Resolve [python].packages and write pylock.toml at the root (PEP 751): with uv (the "
                "default) one lock for Linux, macOS and Windows and every Python [python].requires "
                'allows; with [python].installer = "pip", `pip lock` for this platform. Hashes and an '
                "input hash under [tool.devenv]. `devenv sync` then installs exactly that lock."
            ),
        ),
        Command(
            "print-env",
            print_env,
            Argument(
                "--format",
                "-f",
                dest="fmt",
                default="sh",
                choices=FORMATS,
                metavar="FORMAT",
                help=f"one of: {', '.join(FORMATS)} (default: sh)",
            ),
            frozen,
            instance,
            Argument(
                "--for-container",
                action="store_true",
                help=(
                    "for another machine: leave out PATH, VIRTUAL_ENV and (unless mapped) DEVENV_ROOT and "
                    "PYTHONPATH (always so with --format docker; with dotenv or json when asked)"
                ),
            ),
            Argument(
                "--root-in-container",
                metavar="DIR",
                default=None,
                help="the folder the project is mounted at in the container: maps DEVENV_ROOT, PYTHONPATH "
                "and every other path under the project to DIR (implies --for-container)",
            ),
            help="print the canonical environment for a shell or tool",
            description=(
                "Print the canonical environment. Sourcing the output reproduces every value byte "
                'for byte: eval "$(devenv print-env)" in sh/bash/zsh, '
                "devenv print-env --format fish | source in fish."
            ),
        ),
        Command(
            "run",
            run,
            Argument(
                "--set",
                dest="sets",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override one variable for this run",
            ),
            frozen,
            instance,
            Argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command and its arguments"),
            help="run a command in the canonical environment",
            description=(
                "Replace devenv with CMD, run in the canonical environment (venv first on PATH, "
                "PYTHONPATH from [paths], every resolved variable). The exit code is CMD's."
            ),
            usage="devenv run [--set KEY=VALUE]... [--instance NAME] [--frozen] -- CMD [ARGS...]",
        ),
        Command(
            "up",
            up,
            names,
            Argument(
                "--instance",
                metavar="NAME",
                help=f"value of ${{DEVENV_INSTANCE}} for this run ({_DEFAULT_INSTANCE_HELP}, as in shells "
                "and devenv run; `new`: a unique one, so this run shares no queue or file with any other)",
            ),
            frozen,
            Argument(
                "-d",
                "--detach",
                action="store_true",
                help="run under a supervisor in the background: return once everything is ready "
                "(`devenv logs -f` follows it, `devenv ps` lists, `devenv stop --all` stops it)",
            ),
            help="start declared processes in the foreground (e.g. devenv up worker)",
            usage="devenv up [NAME...] [-d] [--instance NAME] [--frozen] [-- ARGS...]",
            description=(
                "Start the named processes (every declared one if none is named) and what they "
                "need: services first (started with their start command if down, and announced), "
                "then each process after the processes it needs, each reported ready with its time. "
                "The terminal shows every process's output, each line prefixed with its name; each "
                "process also writes .devenv/logs/NAME-RUNID.log (NAME.log points at the latest). "
                "A process that dies after it was ready is reported with its exit code, what it "
                "means and its log tail; the others are stopped and up exits non-zero "
                '(unless it declares restart = "on-failure"). Ctrl-C stops everything in reverse '
                "order and exits 130. Arguments after -- are appended to the one named process."
            ),
        ),
        Command(
            "logs",
            logs,
            names,
            Argument("-f", "--follow", action="store_true", help="keep printing new lines"),
            Argument("--instance", metavar="NAME", help=f"the instance's up ({_DEFAULT_INSTANCE_HELP})"),
            help="the combined log of devenv up (e.g. devenv logs worker -f)",
            description=(
                "Show the combined, prefixed log (NAME | line) of the latest `devenv up` of the "
                "instance, in the foreground or detached, with its messages and crash reports; only "
                "the named processes' lines when NAMEs are given. -f keeps following until that up ends."
            ),
        ),
        Command(
            "task",
            task,
            Argument("name", metavar="NAME", help="[tasks.NAME] of envspec.toml"),
            Argument(
                "--instance",
                metavar="NAME",
                help=f"value of ${{DEVENV_INSTANCE}} for this run ({_DEFAULT_INSTANCE_HELP})",
            ),
            frozen,
            help="run a declared [tasks.NAME] step (and the tasks it needs) to completion",
            usage="devenv task NAME [--instance NAME] [--frozen]",
            description=(
                "Run the one-shot task NAME after its services and the tasks it needs, each in the "
                "canonical environment, to completion: its output is shown as it runs and kept in "
                ".devenv/logs/NAME-RUNID.log. Exit 0 when every task exited 0; otherwise the failing "
                "task's exit code (124 after its timeout), what it means and its log tail."
            ),
        ),
        Command(
            "stop",
            stop,
            Argument(
                "names",
                nargs="*",
                metavar="NAME",
                help="a declared [processes] name, or a name `devenv ps` lists for a process devenv launched",
            ),
            Argument(
                "--all",
                dest="all_processes",
                action="store_true",
                help="every process devenv started for this project, but `devenv run`'s",
            ),
            Argument(
                "--include-run",
                action="store_true",
                help="with --all: `devenv run` processes too (an interactive shell)",
            ),
            help="stop this project's processes (started by up, the fixture, the API, run or nox)",
            description=(
                "Stop the processes `devenv ps` lists under NAME (or every one with --all) the way "
                "up does: SIGTERM to the main process, its stop_timeout, then SIGKILL to its group, "
                "session and descendants. Shells and services are never stopped."
            ),
        ),
        Command(
            "doctor",
            doctor,
            as_json,
            help="check spec, interpreter, packages, paths, variables, freshness, services, shell drift",
            description=(
                "Check everything a launch depends on, in order, one line per check (ok / warn / FAIL), "
                "each failure with the command that fixes it. Exit 1 when anything fails."
            ),
        ),
        Command(
            "explain",
            explain,
            Argument("key", nargs="?", metavar="KEY", help="only this variable"),
            Argument("--reveal", action="store_true", help="show secret values too"),
            instance,
            Argument(
                "--process",
                metavar="NAME",
                help="the environment of this declared process or task: its own env table on top",
            ),
            as_json,
            help="each variable's value (secrets masked) and where it came from",
            description=(
                "Show every variable (or KEY) with its value, its provenance (.env:7, envspec.toml [vars], "
                "outer environment, --set, managed) and what it overrode. Secrets are masked."
            ),
        ),
        Command(
            "diff",
            diff,
            Argument("target", metavar="PID|ENV.JSON"),
            Argument("--tree", action="store_true", help="also compare every descendant"),
            Argument(
                "--instance",
                metavar="NAME",
                help="compare with this ${DEVENV_INSTANCE} (default: the process's own)",
            ),
            as_json,
            help="compare a running process, or another machine's env.json, with the canonical env",
            description=(
                "With PID: read the environment that process started with and compare it with the "
                "canonical one: missing and different keys, PYTHONPATH entry by entry, PATH, fingerprint. "
                "With a path to another machine's env.json (or `devenv export` output): compare "
                "interpreter, packages and variables side by side; secrets are compared by hash and "
                "never shown. Exit 1 when anything differs."
            ),
        ),
        Command(
            "export",
            export,
            Argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout"),
            help="env.json made safe to publish (secrets as salted hashes), for `devenv diff FILE`",
            description=(
                "Print .devenv/env.json with every sensitive value replaced by an HMAC under a random "
                "salt: publish it (e.g. as a CI artifact) and compare with `devenv diff FILE`."
            ),
        ),
        Command(
            "hook",
            hook,
            Argument("shell", metavar="SHELL", choices=("bash", "zsh", "fish"), help="bash, zsh or fish"),
            Argument(
                "--unload",
                action="store_true",
                help="code that restores the environment and removes the hook",
            ),
            Argument("--load", metavar="DIR", default=None, help=argparse.SUPPRESS),
            help="shell code for your rc file: load a project's environment on cd, restore on leaving",
            description=(
                'Put eval "$(devenv hook bash)" in ~/.bashrc (zsh: ~/.zshrc; fish: devenv hook fish | '
                "source in config.fish). Entering a project's folder loads its canonical environment, "
                "leaving restores every value from before (unset keys stay unset), an edit is picked up "
                "at the next prompt. A project loads only after `devenv allow`, and again after every "
                "change to its envspec.toml or dotenv files. When nothing changed a prompt starts no process."
            ),
        ),
        Command(
            "allow",
            allow,
            help="let the shell hook load this project as its envspec.toml and dotenv files are now",
            description=(
                "Allow the shell hook (devenv hook) to load this project. The permission covers the exact "
                "bytes of envspec.toml and its dotenv files and is kept outside the project, under "
                "$XDG_STATE_HOME/devenv (default ~/.local/state/devenv); any change needs a new allow."
            ),
        ),
        Command(
            "deny",
            deny,
            help="revoke `devenv allow`: the hook unloads this project at the next prompt",
            description="Revoke every permission of this project; the hook unloads it at the next prompt.",
        ),
        Command(
            "ps",
            ps,
            Argument(
                "--all",
                dest="all_projects",
                action="store_true",
                help="processes of every project, not just this one",
            ),
            as_json,
            help="processes running in this project's environment, and whether it is current",
            description=(
                "List every process whose environment carries this project's DEVENV_ROOT: started by "
                "devenv up, the pytest fixture, the Python API, devenv run, nox, or a shell that "
                "sourced .devenv/env.sh (services started by up too). Shows the declared name, the "
                "launcher, the instance, the age and whether the fingerprint is current."
            ),
        ),
    )


def _parser() -> "argparse.ArgumentParser":
    """The argparse parser of every declared command (`_commands`)."""
    import argparse

    from devenv import __version__

    parser = argparse.ArgumentParser(
        prog="devenv",
        description=(
            "One declared environment (envspec.toml) for every launcher: shells, devenv run, "
            "nox, pytest fixtures and CI."
        ),
        epilog=(
            "exit codes: 0 ok; 1 a check found problems; 2 bad usage, spec or input; "
            "run/up return the command's code (127: command not found); 130 interrupted."
        ),
    )
    parser.add_argument("--version", action="version", version=f"devenv {__version__}")
    parser.add_argument(
        "--root",
        dest="root_option",
        metavar="DIR",
        help="project folder (default: nearest folder upward with envspec.toml)",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show a traceback on errors (for bug reports)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _commands():
        subparser = subparsers.add_parser(
            command.name, help=command.help, description=command.description, usage=command.usage
        )
        for argument in command.arguments:
            subparser.add_argument(*argument.flags, **argument.options)  # type: ignore[arg-type]
        subparser.set_defaults(function=command.function)
    return parser


def _parse(args: list[str]) -> "Call":
    """The function and arguments argparse gives for `args` (it exits 2 on a mistake)."""
    extra: list[str] = []
    if "--" in args:
        # `devenv up NAME -- ARGS`: ARGS go to the process, not to argparse. Only for `up`
        # itself: `devenv run --instance up -- CMD` is a run.
        index = args.index("--")
        before = args[:index]
        words = [w for i, w in enumerate(before) if not w.startswith("-") and before[i - 1 : i] != ["--root"]]
        if words[:1] == ["up"]:
            args, extra = before, args[index + 1 :]
    options = vars(_parser().parse_args(args))
    options["extra"] = extra
    function = options["function"]
    code = function.__code__
    parameters = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return function, {name: options[name] for name in parameters}
