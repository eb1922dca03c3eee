"""pytest plugin (entry point `pytest11`): the canonical env and declared processes as fixtures.

A thin layer over the public API (`devenv.load`, `devenv.start`): `devenv_process("worker")`
starts the worker exactly as `devenv up worker` and `nox -s worker` do. Each session, and
each pytest-xdist worker, gets its own ${DEVENV_INSTANCE}, so one declaration such as
`OPS_CORE_QUEUE=ops_core_${DEVENV_INSTANCE}` gives parallel runs their own queue and files.
Heavy modules (the launcher, psutil, pika) are imported by the fixtures, never when pytest
loads the plugin.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv
    from devenv.processes import ProcessHandle
    from devenv.spec import Spec

#: Lines of a process log attached to a failing test's report.
REPORT_LINES = 200

_PROCESSES = pytest.StashKey["_Processes"]()
#: The session's instance, chosen before conftest files are imported, and the environment
#: pytest was started with (what the report header judges, not what a conftest set later).
_INSTANCE = pytest.StashKey[str]()
_STARTED_WITH = pytest.StashKey[dict[str, str]]()
_OFFSETS = pytest.StashKey[dict[str, int]]()
_USED = pytest.StashKey[list["ProcessHandle"]]()
#: Why the project is one DEVENV_ROOT names outside pytest's rootdir (None: it is not).
_ROOT_WARNING = pytest.StashKey[str | None]()

#: The title of the report section of a process's log. It starts with "Captured log" because
#: that is what pytest's JUnit XML writer takes into <system-out> (junit_logging = log or all),
#: from the sections `Item.add_report_section(when, "log ...", text)` adds.
SECTION = "Captured log devenv {name} ({when})"

Key = tuple[str, tuple[tuple[str, str], ...]]


class ProjectRootWarning(UserWarning):
    """DEVENV_ROOT chose a project that neither pytest's rootdir nor the working directory is in."""


class _Processes:
    """The processes this session started, by name and overrides, for reuse and reports."""

    def __init__(self) -> None:
        self.handles: dict[Key, ProcessHandle] = {}
        self.count = 0
        #: Tasks that ran to completion in this session's environment: each runs once.
        self.tasks_done: set[str] = set()
        #: The handles given out while the current test runs (its setup included).
        self.using: list[ProcessHandle] | None = None

    def give(self, handle: ProcessHandle) -> ProcessHandle:
        """`handle`, noted as used by the current test."""
        if self.using is not None:
            self.using.append(handle)
        return handle

    def live(self) -> Iterator[ProcessHandle]:
        """Handles not stopped on purpose (a dead one still has a log worth attaching)."""
        yield from (handle for handle in self.handles.values() if not handle.stopped)

    def forget(self, key: Key) -> None:
        """Stop (reap, kill what it left) and drop a process: the next request starts a new one."""
        self.handles.pop(key).stop()

    def dead(self) -> Iterator[tuple[Key, ProcessHandle, int]]:
        """Handles whose process died by itself (a deliberate stop() is not a death)."""
        for key, handle in list(self.handles.items()):
            code = handle.returncode
            if code is not None and not handle.stopped:
                yield key, handle, code

    def stop_all(self) -> None:
        for handle in self.handles.values():
            handle.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--devenv-root, and xprocess-like --devenv-show / --devenv-kill for leftovers."""
    group = parser.getgroup("devenv", "devenv (declared environment and processes)")
    group.addoption(
        "--devenv-root",
        metavar="DIR",
        default=None,
        help="project folder holding envspec.toml (default: DEVENV_ROOT of the running "
        "environment, then pytest's rootdir and the folders above it, then the working directory)",
    )
    group.addoption(
        "--devenv-show",
        action="store_true",
        default=False,
        help="list the processes running in the project's environment (devenv ps) and exit",
    )
    group.addoption(
        "--devenv-kill",
        action="store_true",
        default=False,
        help="stop the processes that earlier, killed test sessions left running and exit",
    )


def project_root(config: pytest.Config) -> str | None:
    """The project: --devenv-root, DEVENV_ROOT, pytest's rootdir (or above), the cwd (or above)."""
    from devenv.root import SPEC_FILENAME

    option = config.getoption("devenv_root", None)
    if option:
        root = os.path.abspath(str(option))
        if not os.path.isfile(os.path.join(root, SPEC_FILENAME)):
            raise pytest.UsageError(f"--devenv-root {option}: no {SPEC_FILENAME} in {root}")
        return root
    return _find_root(None, config)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Give this test process the instance its fixtures' processes get, before any conftest
    file or app setting is imported: apps read settings from os.environ at import time
    (Django settings, pydantic-settings, Celery config), so a test that enqueues through the
    app's own code reaches the queue the fixture's worker consumes. Each xdist worker chooses
    its own (PYTEST_XDIST_WORKER is set before its conftest files load)."""
    import devenv

    early_config.stash[_STARTED_WITH] = dict(os.environ)
    instance = devenv.new_instance(os.environ.get("PYTEST_XDIST_WORKER") or "pytest")
    early_config.stash[_INSTANCE] = instance
    option = getattr(early_config.known_args_namespace, "devenv_root", None)
    root = _find_root(option, early_config)
    if root is None:
        return
    from devenv.errors import DevenvError

    try:
        env = devenv.load(root, instance=instance)
    except DevenvError:
        return  # the report header says why; the fixtures raise it where they are used
    # Only the values the instance changes: the rest is what pytest was started with (the
    # header says whether that is the canonical environment).
    canonical = devenv.load(root)
    for key, value in env.variables.items():
        if canonical.variables.get(key) != value:
            os.environ[key] = value


def _find_root(option: object, config: pytest.Config) -> str | None:
    from devenv.environment import ROOT_KEY
    from devenv.root import SPEC_FILENAME, find_root

    if option:
        root = os.path.abspath(str(option))
        return root if os.path.isfile(os.path.join(root, SPEC_FILENAME)) else None
    declared = os.environ.get(ROOT_KEY)
    if declared and os.path.isfile(os.path.join(declared, SPEC_FILENAME)):
        return declared
    return find_root(str(config.rootpath)) or find_root(os.getcwd())


def _root_warning(config: pytest.Config) -> str | None:
    """Which project DEVENV_ROOT chose, why, and how to choose another, when neither pytest's
    rootdir nor the working directory is inside it (a shell that sourced another project's
    env.sh); None when they are, or when --devenv-root chose."""
    from devenv.environment import ROOT_KEY
    from devenv.root import find_root

    if config.getoption("devenv_root", None):
        return None
    root = project_root(config)
    if root is None or root != os.environ.get(ROOT_KEY):
        return None
    rootdir, cwd = str(config.rootpath), os.getcwd()
    # The working directory too: `cd project && devenv run -- pytest /elsewhere/test_x.py`
    # (README) has its rootdir elsewhere on purpose.
    if _inside(root, rootdir) or _inside(root, cwd):
        return None
    other = find_root(rootdir) or find_root(cwd)
    command = f"`devenv run -- {_pytest_command()}`"
    choose = (
        f"to use {other}, start pytest there as {command} (or pass --devenv-root {other})"
        if other
        else f"to use another project, start pytest in it as {command} (or pass --devenv-root DIR)"
    )
    return (
        f"the project is {root} because {ROOT_KEY} names it (set by `devenv run`, the shell hook or a "
        f"sourced .devenv/env.sh of that project), but pytest's rootdir {rootdir} is not inside it; "
        f"{choose}; to keep {root} without this warning, pass --devenv-root {root}"
    )


def _inside(root: str, path: str) -> bool:
    """Whether `path` is `root` or a folder below it (symlinks resolved)."""
    real_root, real_path = os.path.realpath(root), os.path.realpath(path)
    return os.path.commonpath([real_root, real_path]) == real_root


def pytest_configure(config: pytest.Config) -> None:
    """Register the per-session process registry; check --devenv-root now, not when a fixture
    first needs it (under -q no header asks, and a wrong folder passed silently); warn when
    DEVENV_ROOT chose a project outside pytest's rootdir (the warnings summary survives -q)."""
    if config.getoption("devenv_root", None):
        project_root(config)
    config.stash[_PROCESSES] = _Processes()
    warning = config.stash[_ROOT_WARNING] = _root_warning(config)
    # Once per session: an xdist worker's header and warnings would only repeat the controller's.
    if warning and not os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            config.issue_config_time_warning(ProjectRootWarning(f"devenv: {warning}"), stacklevel=2)
        except ProjectRootWarning as error:
            # -W error (or filterwarnings = error) raises it here: a usage error, which pytest
            # prints as one line, not an INTERNALERROR traceback.
            raise pytest.UsageError(str(error)) from None


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """--devenv-show and --devenv-kill do their job and end the session."""
    show, kill = config.getoption("devenv_show", False), config.getoption("devenv_kill", False)
    if not (show or kill):
        return None
    root = project_root(config)
    if root is None:
        raise pytest.UsageError("--devenv-show/--devenv-kill: no envspec.toml found")
    from devenv.running import format_ps, ps, ps_notes, stop

    if kill:
        # Like xprocess's --xkill: what earlier sessions left; a running session's are its own.
        stopped = stop(root, os.environ, [], leftovers_only=True, launcher="fixture")
        for item in stopped:
            print(f"devenv: stopped {item.name} (pid {item.pid}) in {item.seconds:.2f} s")
        if not stopped:
            print("devenv: no process left by an earlier test session is running")
        return 0
    processes = ps(root, os.environ)
    print(format_ps(processes), end="")
    # What `devenv ps` says on stderr, "no processes run ..." among it: a table alone is
    # nothing at all when nothing runs.
    for note in ps_notes(processes):
        print(f"devenv: {note}", file=sys.stderr)
    return 0


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say whether pytest itself runs in the canonical environment, and if not, what differs;
    and whether DEVENV_ROOT chose a project outside pytest's rootdir."""
    root = project_root(config)
    if root is None:
        return []
    warning = config.stash.get(_ROOT_WARNING, None)
    return [_environment_line(config, root)] + ([f"devenv: warning: {warning}"] if warning else [])


def _environment_line(config: pytest.Config, root: str) -> str:
    """Whether pytest runs in the canonical environment of `root`, or what differs."""
    import devenv
    from devenv.errors import DevenvError

    try:
        env = devenv.load(root)
    except DevenvError as error:
        return f"devenv: cannot load the environment of {root}: {error}"
    from devenv.drift import drift_problems

    # Compare the variables themselves: a matching DEVENV_FINGERPRINT alone does not prove a
    # launcher kept them (`env -u PYTHONPATH` keeps the fingerprint).
    # What pytest was started with: a conftest setting a declared key later, or this plugin
    # giving the session its instance, is not the launcher's doing.
    started = config.stash.get(_STARTED_WITH, None)
    problems = drift_problems(os.environ if started is None else started, env)
    instance = config.stash.get(_INSTANCE, None)
    joined = f"; this session's instance is {instance} (DEVENV_INSTANCE)" if instance else ""
    if not problems:
        return (
            f"devenv: pytest runs in the canonical environment of {root} (fingerprint {env.fingerprint})"
            + joined
        )
    return (
        f"devenv: pytest does NOT run in the canonical environment of {root} ({'; '.join(problems)}); "
        f"run it as `devenv run -- {_pytest_command()}`"
    )


def _pytest_command() -> str:
    """How this pytest was started, as the user would type it after `devenv run --`."""
    program = os.path.basename(sys.argv[0]) if sys.argv else "pytest"
    if program in ("__main__.py", "pytest.py") or program.startswith("python"):
        return "python -m pytest"
    return program or "pytest"


@pytest.fixture(scope="session")
def devenv_instance(pytestconfig: pytest.Config) -> str:
    """This session's ${DEVENV_INSTANCE}: the xdist worker (gw0, ...) or `pytest`, plus random
    hex, so two sessions, or two xdist workers, never share a queue or a database file; the
    test process's own os.environ carries its values too (pytest_load_initial_conftests)."""
    instance = pytestconfig.stash.get(_INSTANCE, None)
    if instance is None:  # the plugin was loaded after the initial conftests (-p late)
        import devenv

        instance = devenv.new_instance(os.environ.get("PYTEST_XDIST_WORKER") or "pytest")
        pytestconfig.stash[_INSTANCE] = instance
    return instance


@pytest.fixture(scope="session")
def devenv_env(pytestconfig: pytest.Config, devenv_instance: str) -> CanonicalEnv:
    """The canonical environment of the project, for this session's instance: a mapping of
    every variable a launched process gets (PATH aside; `devenv.apply(env)` gives the rest)."""
    import devenv

    root = project_root(pytestconfig)
    if root is None:
        raise pytest.UsageError(
            f"devenv_env: no envspec.toml in {pytestconfig.rootpath} or above, the working directory "
            "or above, or DEVENV_ROOT; pass --devenv-root DIR"
        )
    return devenv.load(root, instance=devenv_instance)


@pytest.fixture(scope="session")
def devenv_spec(devenv_env: CanonicalEnv) -> Spec:
    """The project's parsed envspec.toml."""
    from devenv.spec import load_spec

    return load_spec(devenv_env.root)


@pytest.fixture(scope="session")
def devenv_process(
    pytestconfig: pytest.Config,
    devenv_env: CanonicalEnv,
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[Callable[..., ProcessHandle], None, None]:
    """Factory: `devenv_process(name, fresh=False, args=(), **overrides)` starts a declared
    process, waits until it is ready and returns its handle (pid, log_path, env, alive(),
    stop(), restart(); a context manager).

    The same name and overrides give the same running process for the whole session unless
    `fresh=True`; a handle stopped on purpose is started afresh by the next request.
    Overrides are environment variables (`${DEVENV_INSTANCE}` and other references are
    expanded), written to the log header.
    """
    import devenv
    from devenv.errors import DevenvError, ProcessError
    from devenv.exits import exit_meaning

    registry = pytestconfig.stash[_PROCESSES]
    log_dir = tmp_path_factory.getbasetemp() / "devenv"
    log_dir.mkdir(mode=0o700, exist_ok=True)

    def factory(
        name: str, *, fresh: bool = False, args: tuple[str, ...] = (), **overrides: str
    ) -> ProcessHandle:
        __tracebackhide__ = True
        key = (name, tuple(sorted(overrides.items())) + tuple(("--", a) for a in args))
        handle = registry.handles.get(key)
        if handle is not None and not fresh and not handle.stopped:
            code = handle.returncode
            if code is None:
                return registry.give(handle)
            registry.forget(key)
            raise ProcessError(_died_message(handle, code, exit_meaning(code, handle.command)))
        if handle is not None:
            registry.forget(key)
        registry.count += 1
        log_path = log_dir / f"{name}-{registry.count}.log"
        try:
            handle = devenv.start(
                name,
                env=devenv_env,
                overrides=overrides,
                args=args,
                log_path=str(log_path),
                launcher="fixture",
                tasks_done=registry.tasks_done,
            )
        except DevenvError as error:
            # The message names the process, its exit, the command and its log; devenv's own
            # frames would only bury it.
            # Still the same exception (a test may expect it with pytest.raises).
            raise error.with_traceback(None) from None
        registry.handles[key] = handle
        return registry.give(handle)

    try:
        yield factory
    finally:
        registry.stop_all()


def _died_message(handle: ProcessHandle, code: int, meaning: str) -> str:
    from devenv.exits import ended

    return (
        f"{handle.name} (pid {handle.pid}) {ended(code)} during the test session "
        f"({meaning}); log {handle.log_path}, last lines:\n{handle.masked_tail()}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Remember where each process log stands, and fail fast if a process this test holds died."""
    registry = item.config.stash[_PROCESSES]
    item.stash[_OFFSETS] = {handle.log_path: handle.log_size() for handle in registry.live()}
    registry.using = item.stash[_USED] = []
    yield  # the fixtures: a session fixture hands over the handle it got for an earlier test
    if "devenv_process" not in getattr(item, "fixturenames", ()):
        return
    from devenv.errors import ProcessError
    from devenv.exits import exit_meaning

    __tracebackhide__ = True
    held = {id(handle) for handle in _used_by(item)}
    for key, handle, code in registry.dead():
        if id(handle) not in held:
            continue  # another test's process: the next test using it gets the error
        # Erroring here, naming the exit code, beats the test timing out on a task nobody
        # consumes. Reported once: the next request starts it afresh. (A test that asks
        # devenv_process for it gets the same error from the request itself.)
        message = _died_message(handle, code, exit_meaning(code, handle.command))
        registry.forget(key)
        raise ProcessError(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """Attach the log, since the test began, of each process the test used to its report if
    it failed: a section (which JUnit XML carries under junit_logging = log or all) and a
    `devenv NAME log` property naming the file (always in JUnit XML)."""
    report = yield
    if not isinstance(report, pytest.TestReport) or not report.failed:
        return report
    offsets = item.stash.get(_OFFSETS, {})
    for handle in _used_by(item):
        # As record_property does: the JUnit writer reads it from the teardown report.
        item.user_properties.append((f"devenv {handle.name} log", handle.log_path))
        text = handle.read_log(offsets.get(handle.log_path, handle.log_offset))
        lines = text.splitlines()
        if len(lines) > REPORT_LINES:
            skipped = f"... ({len(lines) - REPORT_LINES} earlier lines in {handle.log_path})"
            lines = [skipped, *lines[-REPORT_LINES:]]
        if lines:
            text = _masked(handle, "\n".join(lines))
            report.sections.append((SECTION.format(name=handle.name, when=report.when), text))
            # The JUnit writer reads the teardown report, which gets the item's sections.
            item.add_report_section(report.when, f"log devenv {handle.name}", text)
    return report


def _used_by(item: pytest.Item) -> list[ProcessHandle]:
    """The processes `item` used: handed to it by devenv_process (in its setup or body), or
    held by one of its fixtures (a session fixture that started one for an earlier test)."""
    given = item.stash.get(_USED, None)
    used = list(given or ())
    if item.config.stash[_PROCESSES].handles:
        from devenv.processes import ProcessHandle

        values = getattr(item, "funcargs", {}).values()
        used += [value for value in values if isinstance(value, ProcessHandle)]
    return list({id(handle): handle for handle in used}.values())


def _masked(handle: ProcessHandle, text: str) -> str:
    from devenv.masking import Masker

    return Masker.for_logs(handle.env, handle.secret_keys).mask(text)
