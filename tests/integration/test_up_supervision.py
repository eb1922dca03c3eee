"""`devenv up` supervising several processes through the real CLI: they start and stop at
once (in dependency order), `devenv stop` wins over the restart policy and is no crash, and
a hang-up stops everything."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.environment import default_instance
from tests.integration.test_cli_diagnostics import Up
from tests.support.leftovers import Spawn, forbid_leftovers, launched_under, spawner
from tests.support.processes import gone, wait_for
from tests.support.projects import DEFAULT_SPEC, DEVENV, Project, hermetic_env

#: One declared process: marks its start, waits for `--start-with` peers to have started
#: before it says ready (so only a parallel start gets them all ready), checks that what it
#: `--needs` was ready first, and on SIGTERM waits for its `--stop-with` peers to have been
#: signalled too (so only a parallel stop ends them before their stop_timeout).
UNIT = """\
import argparse, os, signal, sys, time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("--start-with", default="")
parser.add_argument("--stop-with", default="")
parser.add_argument("--needs", default="")
parser.add_argument("--crash-once", action="store_true")
args = parser.parse_args()
marks = Path(os.environ["DEVENV_ROOT"]) / "marks"
marks.mkdir(exist_ok=True)


def mark(what):
    (marks / f"{what}-{args.name}").touch()


def has(what, name):
    return (marks / f"{what}-{name}").exists()


def wait_all(what, names):
    deadline = time.monotonic() + 30
    while not all(has(what, n) for n in names) and time.monotonic() < deadline:
        time.sleep(0.02)


def on_term(signum, frame):
    # Which of the processes it needs had been told to stop before it (none should have).
    early = [n for n in args.needs.split(",") if n and has("term", n)]
    (marks / f"order-{args.name}").write_text(",".join(early))
    mark("term")
    wait_all("term", [n for n in args.stop_with.split(",") if n])
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
mark("started")
missing = [n for n in args.needs.split(",") if n and not has("ready", n)]
if missing:
    print("started before", missing, "was ready", flush=True)
    sys.exit(1)
wait_all("started", [n for n in args.start_with.split(",") if n])
mark("ready")
print("ready", flush=True)
if args.crash_once and not has("crashed", args.name):
    mark("crashed")
    time.sleep(1)  # long after up saw it ready: this is a crash after ready
    print("crashing on purpose", flush=True)
    sys.exit(3)
while True:
    time.sleep(60)
"""


def unit(
    name: str,
    *,
    needs: str = "",
    restart: str = "no",
    stop_timeout: int = 20,
    crash_once: bool = False,
    **flags: str,
) -> str:
    """A [processes.NAME] table running UNIT with `flags` (start_with="a,b")."""
    words = ["python", "unit.py", name] + (["--crash-once"] if crash_once else [])
    for key, value in flags.items():
        words += [f"--{key.replace('_', '-')}", value]
    if needs:
        words += ["--needs", needs]
    quoted = ", ".join(f'"{word}"' for word in words)
    needed = ", ".join(f'"{n}"' for n in needs.split(",") if n)
    return (
        f"\n[processes.{name}]\ncommand = [{quoted}]\nneeds = [{needed}]\n"
        f'ready = {{ log = "^ready" }}\nstart_timeout = 20\nstop_timeout = {stop_timeout}\n'
        f'restart = "{restart}"\n'
    )


def make_project(project: Project, *tables: str) -> None:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + "".join(tables))
    project.write("unit.py", UNIT)
    project.sync()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    with spawner(tmp_path) as start:
        yield start


def up(spawn: Spawn, project: Project, tmp_path: Path, *args: str) -> Up:
    out, err = tmp_path / "up.out", tmp_path / "up.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        # Its own session, as `setsid devenv up` has: no terminal, signals only from us.
        popen = spawn(
            [DEVENV, "up", *args], cwd=project.root, env=hermetic_env(), stdout=stdout, stderr=stderr
        )
    return Up(popen=popen, out=out, err=err)


def wait_ready(running: Up, *names: str) -> None:
    def all_ready() -> bool:
        text = running.stderr()
        return running.popen.poll() is not None or all(f"{n} ready after" in text for n in names)

    wait_for(all_ready, timeout=60, what=f"{', '.join(names)} to be ready")
    assert running.popen.poll() is None, running.stderr()


def stop_notes(project: Project, name: str) -> str:
    """devenv's notes in NAME's latest log (how its stop went)."""
    log = project.root / ".devenv" / "logs" / f"{name}.log"
    return "\n".join(line for line in log.read_text().splitlines() if line.startswith("==== devenv:"))


def test_independent_processes_start_at_once_and_a_needed_one_is_ready_first(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    # a, b and c each say ready only once all three have started: started one after another,
    # a would wait for b forever (until its start_timeout).
    make_project(
        project,
        unit("a", start_with="a,b,c"),
        unit("b", start_with="a,b,c"),
        unit("c", start_with="a,b,c"),
        unit("web", needs="a"),
    )
    running = up(spawn, project, tmp_path)
    wait_ready(running, "a", "b", "c", "web")
    wait_for(lambda: "web | ready" in running.stdout(), timeout=10, what="web's output")
    assert running.interrupt() == 130
    assert not launched_under(tmp_path)


def test_independent_processes_stop_at_once_and_a_needing_one_stops_first(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    # On SIGTERM a, b and c each wait until all three were signalled: stopped one after
    # another, a would wait for b until its stop_timeout and be killed.
    make_project(
        project,
        unit("a", stop_with="a,b,c"),
        unit("b", stop_with="a,b,c"),
        unit("c", stop_with="a,b,c"),
        unit("db"),
        unit("web", needs="db"),
    )
    running = up(spawn, project, tmp_path)
    wait_ready(running, "a", "b", "c", "db", "web")
    began = time.monotonic()
    assert running.interrupt() == 130
    assert time.monotonic() - began < 20, "a stop waited for a stop_timeout"
    for name in ("a", "b", "c", "db", "web"):
        notes = stop_notes(project, name)
        assert "did not exit within stop_timeout" not in notes, notes
        assert re.search(rf"stopped {name} \(pid \d+, exit code 0\)", notes), notes
    # web needs db, so it was told to stop before db was.
    assert (project.root / "marks" / "order-web").read_text() == ""
    assert not launched_under(tmp_path)


def test_devenv_stop_all_goes_in_dependency_order_and_up_then_exits_0(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    make_project(project, unit("worker"), unit("web", needs="worker"))
    running = up(spawn, project, tmp_path)
    wait_ready(running, "worker", "web")
    # A foreground up writes the combined log too, and holds its instance.
    wait_for(lambda: "worker | ready" in project.devenv("logs").stdout, timeout=10, what="devenv logs")
    second = project.devenv("up")
    assert second.returncode == 1, second.stderr
    assert (
        f"already running for instance {default_instance(str(project.root))} (pid {running.popen.pid}, in a terminal"
        in second.stderr
    )
    result = project.devenv("stop", "--all")
    assert result.returncode == 0, result.stderr
    assert running.popen.wait(timeout=30) == 0, running.stderr()
    assert (project.root / "marks" / "order-web").read_text() == ""
    errors = running.stderr()
    assert "web (pid" in errors and "was stopped on request (devenv stop)" in errors
    assert "exited with code" not in errors, errors
    assert not launched_under(tmp_path)


def test_devenv_stop_of_a_restart_on_failure_process_is_not_restarted(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    make_project(project, unit("worker", restart="on-failure"), unit("other"))
    running = up(spawn, project, tmp_path)
    wait_ready(running, "worker", "other")
    result = project.devenv("stop", "worker")
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: "worker (pid" in running.stderr() or "restart 1 of" in running.stderr(),
        timeout=20,
        what="up to notice the stop",
    )
    errors = running.stderr()
    assert "was stopped on request (devenv stop)" in errors, errors
    assert "restart" not in errors, errors
    assert running.popen.poll() is None, "up must keep running what was not stopped"
    listed = [row["name"] for row in json.loads(project.devenv("ps", "--json").stdout)]
    assert "worker" not in listed and "other" in listed, listed
    assert running.interrupt() == 130


#: Counts its starts in `starts`: the first becomes ready and crashes a second later; every
#: later one before start number argv[1] exits 1 at once (its broker still down), the rest stay up.
FLAKY = """\
import sys, time
from pathlib import Path

counter = Path("starts")
start = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(start))
if start == 1:
    print("ready", flush=True)
    time.sleep(1)  # long after up saw it ready: a crash after ready
    sys.exit(3)
if start < int(sys.argv[1]):
    print(f"start {start}: broker down", flush=True)
    sys.exit(1)
print("ready", flush=True)
while True:
    time.sleep(60)
"""


def flaky_project(project: Project, up_from: int) -> None:
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + (
            f'\n[processes.worker]\ncommand = ["python", "flaky.py", "{up_from}"]\n'
            'ready = { log = "^ready" }\nstart_timeout = 20\nrestart = "on-failure"\n'
        ),
    )
    project.write("flaky.py", FLAKY)
    project.sync()


def test_a_restart_that_fails_before_ready_is_restarted_again_with_the_backoff(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    # A worker whose broker is down for a while at restart time must be kept up.
    flaky_project(project, up_from=4)
    running = up(spawn, project, tmp_path, "worker")
    wait_ready(running, "worker")
    wait_for(
        lambda: "worker ready again after" in running.stderr() or running.popen.poll() is not None,
        timeout=30,
        what="the fourth start to be ready",
    )
    errors = running.stderr()
    assert running.popen.poll() is None, errors
    assert "worker exited with code 3 (" in errors and "restart 1 of 5 in 0.5 s" in errors, errors
    assert "process 'worker' exited with code 1 before it was ready" in errors, errors
    assert "restart 2 of 5 in 1 s" in errors and "restart 3 of 5 in 2 s" in errors, errors
    assert "restart 4 of 5" not in errors, errors
    assert (project.root / "starts").read_text() == "4"
    assert running.interrupt() == 130
    assert not launched_under(tmp_path)


def test_up_reports_the_crash_after_the_fifth_restart_failed_before_ready(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    flaky_project(project, up_from=99)
    running = up(spawn, project, tmp_path, "worker")
    wait_ready(running, "worker")
    # 0.5 + 1 + 2 + 4 + 8 s of backoff.
    assert running.popen.wait(timeout=60) == 1, running.stderr()
    errors = running.stderr()
    assert "restart 5 of 5 in 8 s" in errors, errors
    assert "process 'worker' exited with code 1 before it was ready" in errors, errors
    assert "after 5 restart(s)" in errors, errors
    assert "start 6: broker down" in errors, errors  # the log tail of the last start
    assert (project.root / "starts").read_text() == "6"
    assert not launched_under(tmp_path)


def test_devenv_stop_during_a_restarts_start_is_a_stop_on_request(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    # up_from=99 and start_timeout = 20: the second start is still starting when stopped...
    flaky_project(project, up_from=99)
    project.write("flaky.py", FLAKY.replace("sys.exit(1)", "time.sleep(60)"))  # ...a slow one
    running = up(spawn, project, tmp_path, "worker")
    wait_ready(running, "worker")
    wait_for(
        lambda: "start 2: broker down" in running.stdout() or running.popen.poll() is not None,
        timeout=30,
        what="the restart to be starting",
    )
    result = project.devenv("stop", "worker")
    assert result.returncode == 0, result.stderr
    assert running.popen.wait(timeout=30) == 0, running.stderr()
    errors = running.stderr()
    assert "was stopped on request (devenv stop)" in errors, errors
    assert "restart 2 of" not in errors and "before it was ready" not in errors, errors


def up_one_worker(project: Project, spawn: Spawn, tmp_path: Path) -> Up:
    """`devenv up worker` of a project declaring only that one process, once it is ready."""
    make_project(project, unit("worker"))
    running = up(spawn, project, tmp_path, "worker")
    wait_ready(running, "worker")
    return running


def test_devenv_stop_of_a_process_without_restart_is_no_crash_and_up_exits_0(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    running = up_one_worker(project, spawn, tmp_path)
    result = project.devenv("stop", "worker")
    assert result.returncode == 0, result.stderr
    assert running.popen.wait(timeout=30) == 0, running.stderr()
    errors = running.stderr()
    assert "worker (pid" in errors and "was stopped on request (devenv stop)" in errors
    assert "after it was ready" not in errors, errors


def test_sighup_stops_every_process_like_ctrl_c(project: Project, spawn: Spawn, tmp_path: Path) -> None:
    names = [f"p{index}" for index in range(6)]
    make_project(project, *(unit(name) for name in names))
    running = up(spawn, project, tmp_path)
    wait_ready(running, *names)
    assert len(launched_under(tmp_path)) >= 6
    # A closed terminal: `setsid devenv up` (spawn gives it its own session) and kill -HUP.
    os.kill(running.popen.pid, signal.SIGHUP)
    assert running.popen.wait(timeout=30) == 128 + signal.SIGHUP, running.stderr()
    assert not launched_under(tmp_path), "processes outlived a hung-up devenv up"
    for name in names:
        assert re.search(rf"stopped {name} \(pid \d+, exit code 0\)", stop_notes(project, name))


def test_a_process_killed_by_a_signal_is_reported_as_a_shell_reports_it(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    running = up_one_worker(project, spawn, tmp_path)
    (row,) = [row for row in json.loads(project.devenv("ps", "--json").stdout) if row["name"] == "worker"]
    os.kill(row["pid"], signal.SIGKILL)
    # 137 = 128 + 9, as the shell says it and up exits with it; never Python's -9.
    assert running.popen.wait(timeout=30) == 137, running.stderr()
    errors = running.stderr()
    assert f"worker (pid {row['pid']}) was killed by SIGKILL (exit 137) after it was ready: " in errors
    assert "code -9" not in errors


def test_the_next_up_ends_what_a_killed_up_left_running_by_sigterm_first(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    # An RQ worker unregisters on SIGTERM only: killed outright, its name stays taken in
    # Redis and the next worker of that name refuses to start for minutes.
    make_project(project, unit("worker"))
    first = up(spawn, project, tmp_path, "worker")
    wait_ready(first, "worker")
    leftover = first.child_pid
    first.popen.kill()  # kill -9 of up: no stop, its worker runs on
    first.popen.wait(timeout=10)
    assert not gone(leftover), "the worker should outlive a SIGKILLed up"
    (tmp_path / "second").mkdir()
    second = up(spawn, project, tmp_path / "second", "worker")
    wait_ready(second, "worker")
    assert (
        f"ended 1 process left running by an earlier launch whose launcher is gone (pid {leftover})"
        in second.stderr()
    )
    assert gone(leftover)
    assert (project.root / "marks" / "term-worker").exists(), "the leftover got no SIGTERM before SIGKILL"
    assert second.interrupt() == 130
    assert not launched_under(tmp_path)


@contextlib.contextmanager
def detached_up(project: Project, *args: str) -> Iterator[tuple[int, str]]:
    """`devenv up -d ARGS`: (the supervisor's pid, up's messages); the supervisor is not the
    test's child, so it is killed here if a failing test leaves it running."""
    result = project.devenv("up", "-d", *args, timeout=120)
    assert result.returncode == 0, result.stderr
    match = re.search(
        rf"up runs in the background \(pid (\d+), instance {default_instance(str(project.root))}\)",
        result.stderr,
    )
    assert match, result.stderr
    pid = int(match.group(1))
    try:
        yield pid, result.stderr
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_up_detached_returns_once_ready_and_logs_ps_and_stop_work_on_it(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    make_project(project, unit("worker"), unit("web", needs="worker"))
    with detached_up(project) as (supervisor, messages):
        assert "worker ready after" in messages and "web ready after" in messages
        # It returned once everything was ready, leaving the supervisor and its processes.
        assert not gone(supervisor)
        rows = {row["name"]: row for row in json.loads(project.devenv("ps", "--json").stdout)}
        assert {"worker", "web"} <= set(rows), rows
        assert all(rows[n]["launcher"] == "up" and not rows[n]["leftover"] for n in ("worker", "web"))

        out = tmp_path / "logs.out"
        with open(out, "wb") as stdout:
            follower = spawn([DEVENV, "logs", "-f"], cwd=project.root, env=hermetic_env(), stdout=stdout)
        wait_for(
            lambda: "worker | ready" in out.read_text() and "web    | ready" in out.read_text(),
            timeout=20,
            what="both processes' lines in devenv logs -f",
        )
        only_web = project.devenv("logs", "web")
        assert only_web.returncode == 0, only_web.stderr
        assert "web    | ready\n" in only_web.stdout and "worker |" not in only_web.stdout

        again = project.devenv("up", "-d")
        assert again.returncode == 1
        assert (
            f"devenv up is already running for instance {default_instance(str(project.root))} (pid {supervisor}, in the background"
            in (again.stderr)
        )
        foreground = project.devenv("up", "worker")
        assert (
            foreground.returncode == 1
            and f"already running for instance {default_instance(str(project.root))}" in foreground.stderr
        )

        stopped = project.devenv("stop", "--all")
        assert stopped.returncode == 0, stopped.stderr
        # Everything was stopped on request: the supervisor ends, and so does logs -f.
        assert follower.wait(timeout=30) == 0
        wait_for(lambda: gone(supervisor), timeout=30, what="the supervisor to exit")
        text = out.read_text()
        assert "web (pid" in text and "was stopped on request (devenv stop)" in text
        assert "every process was stopped on request" in text
        assert not launched_under(tmp_path)
    unknown = project.devenv("logs", "nothere")
    assert unknown.returncode == 2 and "no process named 'nothere'" in unknown.stderr
    # Right after an edit broke envspec.toml, what ran is still there to read (as ps and stop).
    spec = project.root / "envspec.toml"
    spec.write_text(spec.read_text() + "[broken\n")
    broken = project.devenv("logs", "web")
    assert broken.returncode == 0, broken.stderr
    assert "web    | ready\n" in broken.stdout and "envspec.toml:" in broken.stderr
    assert "NAME is not checked" in broken.stderr


def test_up_detached_restarts_by_its_policy_and_reports_the_crash_in_the_log(
    project: Project, tmp_path: Path
) -> None:
    make_project(project, unit("worker", restart="on-failure", crash_once=True))
    with detached_up(project) as (supervisor, _):
        wait_for(
            lambda: "worker ready again after" in project.devenv("logs").stdout,
            timeout=30,
            what="the restart in the log",
        )
        text = project.devenv("logs").stdout
        assert "worker | crashing on purpose" in text
        assert "worker exited with code 3" in text and "restart 1 of 5" in text
        assert project.devenv("stop", "--all").returncode == 0
        wait_for(lambda: gone(supervisor), timeout=30, what="the supervisor to exit")
    assert not launched_under(tmp_path)


def test_up_detached_returns_a_failed_start_with_its_message_and_code(
    project: Project, tmp_path: Path
) -> None:
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + (
            '\n[processes.worker]\ncommand = ["python", "-c", "import sys; print(\'no broker\'); sys.exit(3)"]\n'
            'ready = { log = "^ready" }\n'
        ),
    )
    project.sync()
    result = project.devenv("up", "-d", timeout=120)
    assert result.returncode == 3, result.stderr
    assert "process 'worker' exited with code 3 before it was ready" in result.stderr
    assert "no broker" in result.stderr
    assert not launched_under(tmp_path)


def test_up_says_when_it_ends_what_a_killed_up_left_running(project: Project, tmp_path: Path) -> None:
    make_project(project, unit("worker"))
    # Ends (and fails on) whatever survives, also when an assertion below fails mid-way.
    with forbid_leftovers(tmp_path), detached_up(project) as (supervisor, _):
        worker = next(
            row for row in json.loads(project.devenv("ps", "--json").stdout) if row["name"] == "worker"
        )
        os.kill(supervisor, signal.SIGKILL)
        wait_for(lambda: gone(supervisor), timeout=10, what="the killed supervisor")
        rows = json.loads(project.devenv("ps", "--json").stdout)
        assert [(row["pid"], row["leftover"]) for row in rows if row["name"] == "worker"] == [
            (worker["pid"], True)
        ]
        with detached_up(project) as (again, messages):
            assert (
                f"ended 1 process left running by an earlier launch whose launcher is gone (pid {worker['pid']})"
                in messages
            )
            assert gone(worker["pid"])
            assert project.devenv("stop", "--all").returncode == 0
            wait_for(lambda: gone(again), timeout=30, what="the second supervisor to exit")
