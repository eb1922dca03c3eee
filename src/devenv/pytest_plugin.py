"""pytest plugin (entry point `pytest11`): the canonical env and declared processes as fixtures.

A thin layer over `devenv.processes` (DESIGN §9): `devenv_process("worker")` starts the
worker exactly as `devenv up worker` and `nox -s worker` do. Heavy modules (the launcher,
psutil, pika) are imported by the fixtures, never when pytest loads the plugin.
"""

from __future__ import annotations

import os
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
_OFFSETS = pytest.StashKey[dict[str, int]]()


class _Processes:
    """The processes this session started, by name and overrides, for reuse and reports."""

    def __init__(self) -> None:
        self.handles: dict[tuple[str, tuple[tuple[str, str], ...]], ProcessHandle] = {}
        self.count = 0

    def live(self) -> Iterator[ProcessHandle]:
        yield from self.handles.values()

    def forget(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> None:
        """Stop (reap, kill what it left) and drop a process: the next request starts a new one."""
        self.handles.pop(key).stop()

    def dead(self) -> Iterator[tuple[tuple[str, tuple[tuple[str, str], ...]], ProcessHandle, int]]:
        for key, handle in list(self.handles.items()):
            code = handle.returncode
            if code is not None:
                yield key, handle, code

    def stop_all(self) -> None:
        for handle in self.handles.values():
            handle.stop()


def _root(config: pytest.Config) -> str | None:
    from devenv.root import find_root

    return find_root(str(config.rootpath))


def pytest_configure(config: pytest.Config) -> None:
    """Register the per-session process registry."""
    config.stash[_PROCESSES] = _Processes()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say whether pytest itself runs in the canonical environment, and if not, what differs."""
    root = _root(config)
    if root is None:
        return []
    from devenv.errors import DevenvError

    try:
        env = _fresh_env(root)
    except DevenvError as error:
        return [f"devenv: cannot load the environment of {root}: {error}"]
    from devenv.doctor import shell_drift

    # Compare the variables themselves: a matching DEVENV_FINGERPRINT alone does not prove a
    # launcher kept them (`env -u PYTHONPATH` keeps the fingerprint).
    drift = shell_drift(env, os.environ)
    if drift.status == "ok" and os.environ.get("DEVENV_FINGERPRINT") == env.fingerprint:
        return [f"devenv: pytest runs in the canonical environment of {root} (fingerprint {env.fingerprint})"]
    return [
        f"devenv: pytest does NOT run in the canonical environment of {root}: {drift.detail}; "
        "run it as `devenv run -- pytest` or `nox -s tests`"
    ]


def _fresh_env(root: str) -> CanonicalEnv:
    from devenv.cli import fresh_env

    return fresh_env(root, frozen=False)


@pytest.fixture(scope="session")
def devenv_env(pytestconfig: pytest.Config) -> CanonicalEnv:
    """The canonical environment of the project pytest runs in, loaded fresh from `.devenv/`."""
    root = _root(pytestconfig)
    if root is None:
        raise pytest.UsageError(f"devenv_env: no envspec.toml in {pytestconfig.rootpath} or above")
    return _fresh_env(root)


@pytest.fixture(scope="session")
def devenv_spec(devenv_env: CanonicalEnv) -> Spec:
    """The project's parsed envspec.toml."""
    from devenv.spec import load_spec

    return load_spec(devenv_env.root)


@pytest.fixture(scope="session")
def devenv_process(
    pytestconfig: pytest.Config,
    devenv_env: CanonicalEnv,
    devenv_spec: Spec,
    tmp_path_factory: pytest.TempPathFactory,
) -> Generator[Callable[..., ProcessHandle], None, None]:
    """Factory: `devenv_process(name, fresh=False, **overrides)` starts a declared process,
    waits until it is ready and returns its handle (pid, log_path, env, alive(), stop()).

    The same name and overrides give the same running process for the whole session unless
    `fresh=True`. Overrides are environment variables, written to the log header.
    """
    from devenv.errors import ProcessError
    from devenv.processes import exit_meaning, start

    registry = pytestconfig.stash[_PROCESSES]
    log_dir = tmp_path_factory.getbasetemp() / "devenv"
    log_dir.mkdir(exist_ok=True)

    def factory(name: str, *, fresh: bool = False, **overrides: str) -> ProcessHandle:
        key = (name, tuple(sorted(overrides.items())))
        handle = registry.handles.get(key)
        if handle is not None and not fresh:
            code = handle.returncode
            if code is None:
                return handle
            registry.forget(key)
            raise ProcessError(_died_message(handle, code, exit_meaning(code, handle.command)))
        if handle is not None:
            registry.forget(key)
        registry.count += 1
        log_path = log_dir / f"{name}-{registry.count}.log"
        handle = start(devenv_spec, name, devenv_env, log_path=str(log_path), overrides=overrides)
        registry.handles[key] = handle
        return handle

    try:
        yield factory
    finally:
        registry.stop_all()


def _died_message(handle: ProcessHandle, code: int, meaning: str) -> str:
    return (
        f"{handle.name} (pid {handle.pid}) died during the test session with exit code {code} "
        f"({meaning}); log {handle.log_path}, last lines:\n{handle.tail()}"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember where each process log stands, and fail fast if a process this test uses died."""
    registry = item.config.stash[_PROCESSES]
    item.stash[_OFFSETS] = {handle.log_path: handle.log_size() for handle in registry.live()}
    if "devenv_process" not in getattr(item, "fixturenames", ()):
        return
    from devenv.errors import ProcessError
    from devenv.processes import exit_meaning

    __tracebackhide__ = True
    for key, handle, code in registry.dead():
        # Erroring here, naming the exit code, beats the test timing out on a task nobody
        # consumes (research PROC-03). Reported once: later requests start it afresh.
        message = _died_message(handle, code, exit_meaning(code, handle.command))
        registry.forget(key)
        raise ProcessError(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    """Attach each process's log since the test began to a failing test's report."""
    report = yield
    if not isinstance(report, pytest.TestReport) or not report.failed:
        return report
    offsets = item.stash.get(_OFFSETS, {})
    registry = item.config.stash[_PROCESSES]
    for handle in registry.live():
        text = handle.read_log(offsets.get(handle.log_path, handle.log_offset))
        lines = text.splitlines()
        if len(lines) > REPORT_LINES:
            skipped = f"... ({len(lines) - REPORT_LINES} earlier lines in {handle.log_path})"
            lines = [skipped, *lines[-REPORT_LINES:]]
        if lines:
            report.sections.append(
                (f"devenv {handle.name} log ({report.when})", _masked(handle, "\n".join(lines)))
            )
    return report


def _masked(handle: ProcessHandle, text: str) -> str:
    from devenv.secrets import Masker

    return Masker.for_logs(handle.env, handle.secret_keys).mask(text)
