"""Every `devenv` command declared once (`commands()`), its argparse parser, and the
functions of the commands off the start-up path.

`cli.py` holds the start-up path (`main`, the hand-written parser, `print-env` and `run`)
and imports this module for anything else (docs/architecture.md, "Start-up budget"). A
command's function takes the parsed arguments as its parameters (the arguments' dests),
calls the library and prints; its policy lives in the library.
"""

import os
import sys

from devenv.cli import print_env, progress, run, write_stdout
from devenv.current import fresh_env
from devenv.errors import SpecError, UsageError
from devenv.root import project_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from devenv.cli import Call
    from devenv.store import EnvDocument

#: What the default instance is, in the words --help uses (environment.default_instance).
_DEFAULT_INSTANCE_HELP = "default: this checkout's own, its folder name + a hash of its path, e.g. main_f2af"
_INSTANCE_HELP = (
    f"value of ${{DEVENV_INSTANCE}} ({_DEFAULT_INSTANCE_HELP}); "
    "join a run started with `devenv up --instance`"
)


def sync(root_option: str | None, *, frozen: bool, check: bool) -> int:
    """`devenv sync`: create/update the venv, resolve, write `.devenv/`."""
    from devenv.stamp import nothing_to_sync

    root = project_root(root_option)
    # Not for --check: the stamp says only that nothing devenv installs from changed, and
    # --check also hashes the installed files against their RECORD (a package edited in place).
    if not check and nothing_to_sync(root, os.environ, frozen=frozen):
        progress(".devenv/ and the venv are up to date; nothing to install")
        return 0
    from devenv.project import sync as sync_project

    document, installed = sync_project(root, os.environ, frozen=frozen, progress=progress, check=check)
    if check:
        progress(".devenv/ and the venv are up to date")
        return 0
    python = document["python"]
    venv = os.path.relpath(python["venv"], root)
    if not installed:
        progress(
            f"{venv} is up to date ({len(python['installed'])} packages, "
            f"{python['implementation']} {python['version']}); nothing to install"
        )
    progress(
        f"wrote .devenv/ ({len(document['variables'])} variables, fingerprint {document['fingerprint']}); "
        'use it with `eval "$(devenv print-env)"`, `. .devenv/env.sh` or `devenv run -- CMD`'
    )
    return 0


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
    from devenv.processes import check_start
    from devenv.spec import load_spec
    from devenv.up import run_up, up_instance, up_order

    root = project_root(root_option)
    chosen = up_instance(instance)
    if chosen != instance:
        progress(f"instance {chosen} (DEVENV_INSTANCE); join it with --instance {chosen}")
    instance = chosen
    env = fresh_env(root, frozen=frozen, instance=instance)
    spec = load_spec(root)
    if detach:
        from devenv.supervisor import detach as start_detached

        # A mistake fails here, not in the background.
        _, order = up_order(spec, names, extra_args=extra)
        check_start(spec, [process.name for process in order], env)
        return start_detached(root, names, env.instance, extra_args=extra, frozen=frozen, err=sys.stderr)
    return run_up(spec, names, env, extra_args=extra, out=sys.stdout)


def task(root_option: str | None, *, name: str, instance: str | None, frozen: bool) -> int:
    """`devenv task NAME`: run a task and the tasks it needs; exit with the failing one's code."""
    from devenv.processes import check_start
    from devenv.spec import load_spec
    from devenv.tasks import run_tasks

    root = project_root(root_option)
    env = fresh_env(root, frozen=frozen, instance=instance)
    spec = load_spec(root)
    spec.task(name)  # an unknown name is exit 2 listing the declared tasks
    check_start(spec, [name], env)  # every task's command, before the first one runs
    run_tasks(spec, [name], env, launcher="task", report=progress, output=write_stdout)
    return 0


def logs(root_option: str | None, *, names: list[str], follow: bool, instance: str | None) -> int:
    """`devenv logs [NAME...] [-f]`: the combined log of the instance's `devenv up`."""
    from devenv.environment import default_instance
    from devenv.spec import load_spec
    from devenv.supervisor import show_logs

    root = project_root(root_option)
    try:
        declared: list[str] | None = [process.name for process in load_spec(root).processes]
    except SpecError as error:
        # The log of a crash is most wanted right after an edit broke envspec.toml: show it, as
        # ps and stop still work then, without checking the names against the declaration.
        progress(f"envspec.toml cannot be read, so NAME is not checked: {error}")
        declared = None
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
        progress(f"{how} {item.name} (pid {item.pid}, started by {item.launcher}) in {item.seconds:.2f} s")
    if not stopped:
        progress("nothing to stop" + (f" named {', '.join(names)}" if names else ""))
    return 0


def _print_json(document: object) -> None:
    import json

    write_stdout(json.dumps(document, indent=2, sort_keys=True) + "\n")


def doctor(root_option: str | None, *, as_json: bool) -> int:
    """`devenv doctor`: every check, ok / warn / fail; exit 1 when anything fails."""
    from devenv.doctor import format_doctor, run_checks

    root = project_root(root_option)
    report = run_checks(root, os.environ)
    if as_json:
        _print_json(report.to_json())
    else:
        write_stdout(format_doctor(report))
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
        write_stdout(format_explain(explanation))
        if explanation.profile or explanation.process:
            whose = [f"profile {explanation.profile}"] if explanation.profile else ["no profile"]
            if explanation.process:
                whose.insert(0, explanation.process)
            progress("the environment of " + ", ".join(whose))
        if any(variable.masked for variable in explanation.variables):
            progress(MASKED_NOTE)
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
    progress(f"compared with the environment of {whose}")
    result = diff_process(pid, env, tree=tree)
    if as_json:
        _print_json(result.to_json())
    else:
        write_stdout(format_diff(result, env))
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
        write_stdout(format_machine_diff(result))
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
        write_stdout(text)
    else:
        from devenv.store import write_atomic

        write_atomic(os.path.abspath(output), text.encode("utf-8", "surrogateescape"))
        progress(f"wrote {output}; compare with it elsewhere: devenv diff {output}")
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
            progress(f"{os.path.basename(previous['lock'])} is current for envspec.toml [python]")
            return 0
    from devenv.venv import check_lock, check_venv_location, lock_project  # the installers' machinery

    if check:
        current, reasons = check_lock(spec, previous)
        if current is None:
            progress("there is no pylock.toml; run `devenv lock` to create one, then commit it")
            return 1
        label = os.path.basename(current.path)
        if current.standard and not reasons:
            progress(
                f"{label} was written by {current.created_by or 'another tool'}, not by `devenv lock`: "
                "it is valid PEP 751 and `devenv sync` installs it as it is; devenv cannot tell whether "
                "it matches envspec.toml [python] (it records no input hash): re-make it with the tool "
                "that wrote it, or run `devenv lock` to replace it with one devenv can check"
            )
            return 0
        if reasons:
            progress(f"{label} is stale: {'; '.join(reasons)}; run `devenv lock`")
            return 1
        progress(f"{label} is current for envspec.toml [python]")
        return 0
    check_venv_location(spec)
    with locked(root):
        written = lock_project(
            spec,
            previous,
            name=name,
            index_url=index_url,
            extra_index_urls=tuple(extra_index_urls),
            progress=progress,
        )
    covers = (
        f"Python {written.tool['python']}, this platform"
        if "python" in written.tool
        else f"Python {written.requires_python or 'any'}, "
        + (", ".join(spec.python.platforms) or "every platform")
    )
    progress(
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
    write_stdout(format_ps(processes, show_root=all_projects))
    for note in ps_notes(processes):
        progress(note)
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
    write_stdout(text, raw=True)
    return 0


def allow(root_option: str | None) -> int:
    """`devenv allow`: the shell hook may load this project as it is now."""
    from devenv.allowed import allow as allow_project
    from devenv.hook import declaration_paths

    root = os.path.realpath(project_root(root_option))
    allow_project(root, declaration_paths(root), os.environ)
    progress(f"allowed {root}; the shell hook loads it at the next prompt")
    return 0


def deny(root_option: str | None) -> int:
    """`devenv deny`: revoke `devenv allow`."""
    from devenv.allowed import deny as deny_project

    root = os.path.realpath(project_root(root_option))
    if deny_project(root, os.environ):
        progress(f"denied {root}; the shell hook unloads it at the next prompt")
    else:
        progress(f"{root} was not allowed; nothing to revoke")
    return 0


# -- the declaration -------------------------------------------------------------------------


#: The diagnostics `_parse_fast` takes without argparse when given no options, with the
#: arguments argparse gives them from `commands` (tests/unit/test_cli_fast_parser.py
#: compares the two).
PLAIN: "dict[tuple[str, ...], tuple[Callable[..., int], dict[str, object]]]" = {
    ("doctor",): (doctor, {"as_json": False}),
    ("explain",): (
        explain,
        {"key": None, "reveal": False, "as_json": False, "process": None, "instance": None},
    ),
    ("ps",): (ps, {"all_projects": False, "as_json": False}),
    ("lock", "--check"): (lock, {"check": True, "name": None, "index_url": None, "extra_index_urls": []}),
    # A bare lock too: argparse is ~10 ms of the ~0.14 s devenv adds to uv's resolve.
    ("lock",): (lock, {"check": False, "name": None, "index_url": None, "extra_index_urls": []}),
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


def commands() -> "tuple[Command, ...]":
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


def build_parser() -> "argparse.ArgumentParser":
    """The argparse parser of every declared command (`commands`)."""
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
    # Never seen here: cli._take_profile takes it out of any position first. Declared for
    # --help only.
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="use [profiles.NAME] of envspec.toml (same as DEVENV_PROFILE=NAME; anywhere among the options)",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show a traceback on errors (for bug reports)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands():
        subparser = subparsers.add_parser(
            command.name, help=command.help, description=command.description, usage=command.usage
        )
        for argument in command.arguments:
            subparser.add_argument(*argument.flags, **argument.options)  # type: ignore[arg-type]
        subparser.set_defaults(function=command.function)
    return parser


def parse(args: list[str]) -> "Call":
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
    options = vars(build_parser().parse_args(args))
    options["extra"] = extra
    function = options["function"]
    code = function.__code__
    parameters = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return function, {name: options[name] for name in parameters}
