"""A declared process that daemonizes (its main process double-forks and exits 0 at once; the
daemon leaves the session and clears its environment), through the real CLI: `devenv up`
reports and supervises the daemon, `devenv ps` lists it under the declared name, and every
stop path ends it (`devenv stop --all`, `devenv stop NAME`, Ctrl-C), leaving nothing, not
even a zombie."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devenv.environment import default_instance
from tests.integration.test_up_cli import up_in_background
from tests.integration.test_up_supervision import detached_up
from tests.support.leftovers import Spawn, spawner
from tests.support.processes import wait_for
from tests.support.projects import DEFAULT_SPEC, Project

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="subreapers are Linux's")

#: The classic daemon: fork, setsid, fork again; the middle process and the main process
#: exit at once. The daemon runs `sh` with an empty environment (no DEVENV_ROOT, no
#: DEVENV_RUN_ID left to find it by) until `MARKER.stop` exists, then removes it and exits
#: with CODE.
DAEMONIZE = """\
import os, sys
marker, code = sys.argv[1], sys.argv[2]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        loop = 'while [ ! -e "$0.stop" ]; do sleep 0.05; done; rm "$0.stop"; exit ' + code
        os.execve("/bin/sh", ["/bin/sh", "-c", loop, marker], {})
    os._exit(0)
os.wait()
"""


def daemon_toml(marker: str, *, code: int = 0, restart: bool = False) -> str:
    return (
        "\n[processes.daemon]\n"
        f'command = ["python", "daemonize.py", "{marker}", "{code}"]\n'
        "stop_timeout = 5\n" + ('restart = "on-failure"\n' if restart else "")
    )


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[str]:
    """A path unique to this test, in the daemon's command line: only its processes carry
    it. Any of them still running afterwards is killed (by pid) and fails the test."""
    text = str(tmp_path / f"daemon-{uuid.uuid4().hex[:12]}")
    yield text
    left = _carrying(text)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, f"left running: {left}"


def _carrying(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    with spawner(tmp_path) as start:
        yield start


def daemon_project(project: Project, marker: str, **options: object) -> None:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + daemon_toml(marker, **options))  # type: ignore[arg-type]
    project.write("daemonize.py", DAEMONIZE)
    project.sync()


def the_daemon(messages: str, marker: str) -> psutil.Process:
    """The daemon up reported, checked to be the escaped kind: out of the session its main
    process was started in (which is the main pid), with an empty environment."""
    found = re.findall(
        r"daemon: its main process \(pid (\d+)\) exited 0 and left pid (\d+) running", messages
    )
    assert found, messages
    main, pid = (int(text) for text in found[-1])
    proc = psutil.Process(pid)
    assert proc.cmdline()[-1] == marker
    assert proc.environ() == {}
    assert os.getsid(pid) not in (main, os.getsid(0))
    return proc


def up_log(project: Project) -> Path:
    """The combined log of the project's default instance (`devenv up -d` writes there)."""
    return project.root / ".devenv" / "logs" / f"up-{default_instance(str(project.root))}.log"


def listed(project: Project) -> list[tuple[int, str, str]]:
    result = project.devenv("ps", "--json")
    assert result.returncode == 0, result.stderr
    return [(row["pid"], row["name"], row["launcher"]) for row in json.loads(result.stdout)]


def ended(proc: psutil.Process) -> bool:
    """Gone and reaped: not even a zombie is left (pid reuse cannot fool it)."""
    return not proc.is_running()


def test_up_detached_supervises_a_daemon_ps_lists_it_and_stop_all_ends_it(
    project: Project, marker: str
) -> None:
    daemon_project(project, marker)
    log = up_log(project)
    with detached_up(project) as (supervisor, _):
        # up -d returns once ready, which may be before the main process exits.
        wait_for(lambda: "left pid" in log.read_text(), timeout=30, what="the daemon in up's log")
        daemon = the_daemon(log.read_text(), marker)
        # Re-parented to the supervisor (a child subreaper), not to init.
        assert daemon.ppid() == supervisor
        assert listed(project) == [(daemon.pid, "daemon", "up")]
        stopped = project.devenv("stop", "--all")
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped daemon (pid {daemon.pid}, started by up)" in stopped.stderr
        wait_for(lambda: ended(daemon), timeout=10, what="the daemon to be gone and reaped")
        wait_for(lambda: not psutil.pid_exists(supervisor), timeout=20, what="the supervisor to exit")
    assert "was stopped on request (devenv stop)" in log.read_text(), log.read_text()


def test_ctrl_c_of_a_foreground_up_ends_the_daemon_it_supervises(
    project: Project, marker: str, spawn: Spawn, tmp_path: Path
) -> None:
    daemon_project(project, marker)
    up = up_in_background(spawn, tmp_path, cwd=project.root)
    wait_for(lambda: "left pid" in up.stderr() or up.popen.poll() is not None, timeout=30, what="the daemon")
    daemon = the_daemon(up.stderr(), marker)
    assert daemon.ppid() == up.popen.pid
    assert listed(project) == [(daemon.pid, "daemon", "up")]
    assert up.interrupt() == 130, up.stderr()
    wait_for(lambda: ended(daemon), timeout=10, what="the daemon to be gone")


def test_a_daemon_that_exits_is_reaped_reported_restarted_and_stop_name_ends_the_new_one(
    project: Project, marker: str, spawn: Spawn, tmp_path: Path
) -> None:
    daemon_project(project, marker, code=3, restart=True)
    up = up_in_background(spawn, tmp_path, cwd=project.root)
    wait_for(lambda: "left pid" in up.stderr() or up.popen.poll() is not None, timeout=30, what="the daemon")
    first = the_daemon(up.stderr(), marker)
    Path(marker + ".stop").touch()
    wait_for(
        lambda: "ready again" in up.stderr() or up.popen.poll() is not None, timeout=30, what="a restart"
    )
    assert "daemon exited with code 3 (" in up.stderr() and "restart 1 of 5" in up.stderr(), up.stderr()
    # up was its parent: it collected the exit code, and no zombie is left while up runs.
    assert up.popen.poll() is None and ended(first)

    wait_for(lambda: len(re.findall("left pid", up.stderr())) == 2, timeout=30, what="the new daemon")
    second = the_daemon(up.stderr(), marker)
    assert listed(project) == [(second.pid, "daemon", "up")]
    stopped = project.devenv("stop", "daemon")
    assert stopped.returncode == 0, stopped.stderr
    assert up.popen.wait(timeout=30) == 0, up.stderr()
    assert "every process was stopped on request" in up.stderr()
    wait_for(lambda: ended(second), timeout=10, what="the second daemon to be gone")


def test_the_daemon_of_a_killed_up_is_a_leftover_ps_lists_and_stop_all_ends(
    project: Project, marker: str
) -> None:
    daemon_project(project, marker)
    log = up_log(project)
    with detached_up(project) as (supervisor, _):
        wait_for(lambda: "left pid" in log.read_text(), timeout=30, what="the daemon in up's log")
        daemon = the_daemon(log.read_text(), marker)
        os.kill(supervisor, signal.SIGKILL)  # no teardown: the daemon is orphaned again, to init
        wait_for(lambda: not psutil.pid_exists(supervisor), timeout=10, what="the supervisor to die")
        rows = json.loads(project.devenv("ps", "--json").stdout)
        assert [(r["pid"], r["name"], r["leftover"]) for r in rows] == [(daemon.pid, "daemon", True)]
        stopped = project.devenv("stop", "--all")
        assert stopped.returncode == 0, stopped.stderr
        wait_for(lambda: ended(daemon), timeout=10, what="the leftover daemon to be gone")
