"""One environment, every launcher: the fixture, the API, `devenv up worker`, `nox -s worker`,
`devenv run` and a bash that sourced .devenv/env.sh all give the worker the same managed and
resolved keys, and none hands it an undeclared key of its caller's environment."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import devenv
from devenv.environment import CanonicalEnv, join_path
from devenv.processes import ProcessHandle
from tests.e2e.conftest import delete_queues
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]


def assert_canonical(
    actual: dict[str, str], env: CanonicalEnv, *, overrides: dict[str, str], who: str
) -> None:
    """Every managed and resolved key as devenv resolved it (overrides as given), PATH venv-first."""
    for key, value in env.variables.items():
        expected = overrides.get(key, value)
        if key == "DEVENV_FINGERPRINT" and overrides:
            continue  # overrides change the environment, so they change its fingerprint
        assert actual.get(key) == expected, f"{who}: {key} differs"
    for key in env.unset:
        assert key not in actual, f"{who}: {key} should have been unset"
    path = actual.get("PATH", "")
    assert path == join_path(env.path_prefix, path), f"{who}: PATH does not start with the venv"


#: Undeclared keys in the caller's environment: no launcher may hand them to the worker.
LEAK = {"FOO_LEAK": "x", "DJANGO_SETTINGS_MODULE": "config.settings.production"}


def assert_no_leak(actual: dict[str, str], *, who: str) -> None:
    for key in LEAK:
        assert key not in actual, f"{who}: {key} reached the worker from its launcher's environment"


def tree_environs(pid: int) -> list[tuple[str, dict[str, str]]]:
    """(description, environ) of `pid` and every descendant it forked."""
    main = psutil.Process(pid)
    processes = [main, *main.children(recursive=True)]
    return [(f"pid {p.pid} ({' '.join(p.cmdline()[:4])})", p.environ()) for p in processes]


def dramatiq_under(pid: int) -> psutil.Process | None:
    """The Dramatiq main process somewhere below `pid`, once it exists."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if "dramatiq" in child.cmdline() and "dramatiq" not in psutil.Process(child.ppid()).cmdline():
                return child
        except psutil.Error:
            continue
    return None


def run_ids() -> set[str]:
    found = set()
    for process in psutil.process_iter(["environ"]):
        environ = process.info.get("environ") or {}
        if environ.get("DEVENV_ROOT") == str(ROOT) and "DEVENV_RUN_ID" in environ:
            found.add(environ["DEVENV_RUN_ID"])
    return found


def test_the_fixture_worker_and_everything_it_forked(
    worker: ProcessHandle, devenv_env: CanonicalEnv, worker_overrides: dict[str, str]
) -> None:
    environs = tree_environs(worker.pid)
    assert len(environs) >= 2, "dramatiq forks at least one worker process"
    for who, actual in environs:
        assert_canonical(actual, devenv_env, overrides=worker_overrides, who=who)
        assert actual["DEVENV_RUN_ID"] == worker.run_id


@pytest.fixture
def foreground(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Launchers started in the foreground by a test; interrupted and checked at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def interrupt_and_check(process: subprocess.Popen[bytes], run_id: str) -> int:
    """Ctrl-C (SIGINT to the launcher's process group); nothing of that run may be left."""
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=30)
    assert run_id not in run_ids(), "a process of the interrupted run is still alive"
    return code


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(["devenv", "up", "worker"], id="devenv-up"),
        pytest.param(["nox", "-s", "worker"], id="nox"),
        pytest.param(
            ["devenv", "run", "--", "python", "-m", "dramatiq", "ops_core.tasks.worker", "--processes", "1"],
            id="devenv-run",
        ),
    ],
)
def test_foreground_launchers_give_the_canonical_env(
    launcher: list[str], foreground: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # up and nox use the checkout's default instance, as shells and `devenv run` do (the session's own
    # instance is for the fixture).
    devenv_env = devenv.load(str(ROOT))
    assert shutil.which(launcher[0]), f"{launcher[0]} should be on the canonical PATH"
    log = (tmp_path / "launcher.log").open("wb")
    process = subprocess.Popen(
        launcher,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ | LEAK,
        # A terminal's Ctrl-C reaches programs that have SIGINT at its default. A test run
        # started in the background by a non-interactive shell inherits SIGINT ignored, and
        # Python (nox) then never turns it into KeyboardInterrupt: reset it, as a terminal has it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    foreground.append(process)
    found: list[psutil.Process] = []

    def worker_started() -> bool:
        assert process.poll() is None, (tmp_path / "launcher.log").read_text()
        # `devenv run` execs: the launched pid is Dramatiq's main process itself.
        master = psutil.Process(process.pid) if launcher[1] == "run" else dramatiq_under(process.pid)
        if master is not None and "dramatiq" in master.cmdline() and len(master.children()) >= 1:
            found.append(master)
            return True
        return False

    wait_for(worker_started, timeout=120, what=f"{' '.join(launcher)} to start the worker", interval=0.2)
    # Ctrl-C as the README has it: once the launcher said the worker is ready (`devenv run`
    # execs the worker, which says nothing of the kind: its forked process is enough).
    if launcher[1] != "run":
        wait_for(
            lambda: b"worker ready after" in (tmp_path / "launcher.log").read_bytes(),
            timeout=60,
            what=f"{' '.join(launcher)} to report the worker ready",
            interval=0.1,
        )
    master = found[0]
    for who, actual in tree_environs(master.pid):
        assert_canonical(actual, devenv_env, overrides={}, who=f"{launcher[0]}: {who}")
        assert_no_leak(actual, who=f"{' '.join(launcher[:2])}: {who}")
    assert master.environ()["DEVENV_FINGERPRINT"] == devenv_env.fingerprint
    if launcher[1] == "run":
        assert master.pid == process.pid, "devenv run execs the command"
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) in (0, -signal.SIGINT, 130)
        return
    code = interrupt_and_check(process, master.environ()["DEVENV_RUN_ID"])
    assert code == 130, "interrupted, not finished: devenv up and nox both exit 128 + SIGINT"


@pytest.mark.parametrize("launcher", ["fixture", "api"])
def test_in_process_launchers_hand_no_undeclared_key_to_the_worker(
    launcher: str,
    monkeypatch: pytest.MonkeyPatch,
    devenv_env: CanonicalEnv,
    devenv_process: Callable[..., ProcessHandle],
    worker_overrides: dict[str, str],
    e2e_queue: str,
) -> None:
    # The test process's own environment is the fixture's and the API's caller's environment.
    for key, value in LEAK.items():
        monkeypatch.setenv(key, value)
    # Its own process, not the session's, on its own queue: the session's worker consumes
    # e2e_queue, and a second consumer there is rightly warned about (StaleConsumersWarning).
    queue = f"{e2e_queue}_{launcher}"
    overrides = worker_overrides | {"LOG_LEVEL": "DEBUG", "OPS_CORE_QUEUE": queue}
    if launcher == "fixture":
        handle = devenv_process("worker", fresh=True, **overrides)
    else:
        handle = devenv.start("worker", env=devenv_env, overrides=overrides)
    try:
        assert "FOO_LEAK" not in handle.env
        environs = tree_environs(handle.pid)
        assert len(environs) >= 2, "dramatiq forks at least one worker process"
        for who, actual in environs:
            assert_no_leak(actual, who=f"{launcher}: {who}")
            assert actual["DEVENV_LAUNCHER"] == launcher
    finally:
        handle.stop()
        delete_queues(devenv_env["RABBITMQ_URL"], queue)


def test_a_bash_that_sourced_env_sh() -> None:
    devenv_env = devenv.load(str(ROOT))  # the checkout's default instance, as every shell gets
    base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), "PYTHONHOME": "/must/go"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", ". .devenv/env.sh && exec /usr/bin/env -0"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        check=True,
    )
    actual = dict(item.split("=", 1) for item in result.stdout.decode().split("\0") if item)
    assert_canonical(actual, devenv_env, overrides={}, who="bash")
    assert actual["DEVENV_FINGERPRINT"] == devenv_env.fingerprint


def test_nox_worker_passes_its_arguments_to_the_worker() -> None:
    # `nox -s worker -- ARGS` is `devenv up worker -- ARGS`: Dramatiq itself gets --help,
    # prints its usage and exits, which up reports (with the log tail) as an early exit.
    result = subprocess.run(
        ["nox", "-s", "worker", "--", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "$ dramatiq some_module" in output, output  # the end of Dramatiq's --help
    assert "process 'worker' exited with code 0 before it was ready" in output
