"""The pytest plugin as a user meets it: a real pytest run inside a throw-away project.

Each test writes a project whose `sleeper` process prints `ready` (and `tick N` on each
SIGUSR1), writes a test file into it, runs pytest there in a subprocess (through
`devenv run` unless the test is about running outside it) and asserts on pytest's output.
An inner conftest records when each test phase was reported, so "at once" is measured, not
assumed. `_no_leftovers` fails any test after which a process it started is still alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone, wait_for
from tests.support.projects import DEVENV, Project, hermetic_env

#: The interpreter running these tests has pytest and devenv (so the plugin's entry point);
#: the shared venv of the throw-away projects has neither, but runs the sleeper.
HOST_PYTHON = sys.executable

SPEC = """\
[project]
name = "plugged"

[python]
venv = "{venv}"

[paths]
pythonpath = ["lib-a/src"]

[dotenv]
files = [".env.defaults"]

[vars]
PYTHONUNBUFFERED = "1"

[processes.sleeper]
command = {command}
ready = {{ log = "^ready$" }}
start_timeout = 30
stop_timeout = 2
"""

#: An upper bound for "at once": far below the sleeper's 30 s start_timeout, which is what the
#: wrong behaviour would wait, and far above what a loaded machine takes.
AT_ONCE = 10.0

SLEEPER = """\
\"\"\"Stay up until stopped: print `ready`, then `tick N` on the N-th SIGUSR1.\"\"\"
import signal
import time

count = 0


def tick(signum, frame):
    global count
    count += 1
    print(f"tick {count}", flush=True)


signal.signal(signal.SIGUSR1, tick)
print("ready", flush=True)
while True:
    time.sleep(60)
"""

#: Appends one JSON line per reported test phase to timeline.jsonl, with the wall clock.
TIMELINE_CONFTEST = """\
import json
import os
import time

TIMELINE = os.path.join(os.path.dirname(__file__), "timeline.jsonl")


def pytest_runtest_logreport(report):
    entry = {"test": report.nodeid.split("::")[-1], "when": report.when,
             "outcome": report.outcome, "duration": report.duration, "at": time.time()}
    with open(TIMELINE, "a") as out:
        out.write(json.dumps(entry) + "\\n")
"""

#: Helpers for inner test files: wait on a condition, and note facts for the outer test.
INNER_HELPERS = """\
import json
import os
import signal
import time

import psutil
import pytest

NOTES = os.path.join(os.path.dirname(__file__), "notes.jsonl")


def note(**facts):
    with open(NOTES, "a") as out:
        out.write(json.dumps(facts) + "\\n")


def wait_for(condition, what):
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
"""

MakeProject = Callable[..., Project]


@pytest.fixture
def plugin_project(tmp_path: Path, shared_venv: str) -> MakeProject:
    """Write and sync a project whose sleeper runs `command` (plus `more_spec`, such as a second
    process), with inner `tests` as a test file."""

    def make(
        tests: str, *, command: tuple[str, ...] = ("python", "sleeper.py"), more_spec: str = ""
    ) -> Project:
        project = Project.create(
            tmp_path / "proj",
            venv=shared_venv,
            spec=SPEC.format(venv=shared_venv, command=json.dumps(list(command))) + more_spec,
            dotenv="GREETING=hello\n",
        )
        project.write("sleeper.py", SLEEPER)
        project.write("conftest.py", TIMELINE_CONFTEST)
        project.write("test_inner.py", INNER_HELPERS + "\n\n" + tests)
        project.sync()
        return project

    return make


def pytest_command(project: Project, *args: str) -> list[str]:
    """pytest in `project` with its own basetemp (never the outer session's) and no cache."""
    basetemp = project.root.parent / f"basetemp-{time.monotonic_ns()}"
    return [HOST_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *args]


def run_pytest(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in `project` through `devenv run`, as the README tells users to."""
    result = project.devenv("run", "--", *pytest_command(project, *args), timeout=60)
    assert not result.stderr.startswith("devenv: error"), result.stderr
    return result


def canonical(project: Project, key: str) -> str:
    """The value of `key` in the project's canonical environment."""
    result = project.devenv("run", "--", "printenv", key)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def read_jsonl(path: Path) -> list[dict[str, object]]:
    """Every JSON line in `path` (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def report_section(output: str, title: str) -> list[str]:
    """The lines of pytest's `---- title ----` report section (fails when there is none)."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if re.fullmatch(rf"-+ {re.escape(title)} -+", line):
            body = []
            for following in lines[index + 1 :]:
                if re.fullmatch(r"[-=_]{3,} .* [-=_]{3,}", following):
                    break
                body.append(following)
            return body
    pytest.fail(f"no {title!r} section in pytest's output:\n{output}")


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


# -- the session header ----------------------------------------------------------------------

PASSING = "def test_nothing():\n    pass\n"


def test_header_says_pytest_runs_in_the_canonical_environment(plugin_project: MakeProject) -> None:
    project = plugin_project(PASSING)
    result = run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    fingerprint = canonical(project, "DEVENV_FINGERPRINT")
    expected = (
        f"devenv: pytest runs in the canonical environment of {project.root} (fingerprint {fingerprint}); "
        "this session's instance is pytest_"
    )
    (header,) = [line for line in result.stdout.splitlines() if line.startswith("devenv:")]
    assert header.startswith(expected), result.stdout
    assert header.endswith(" (DEVENV_INSTANCE)")


def test_a_conftest_setting_a_declared_key_is_not_the_launchers_fault(plugin_project: MakeProject) -> None:
    # The header judges what pytest was started with, not what a conftest changed later.
    project = plugin_project(PASSING)
    project.write("conftest.py", "import os\nos.environ['GREETING'] = 'set by conftest'\n")
    result = run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    (header,) = [line for line in result.stdout.splitlines() if line.startswith("devenv:")]
    assert header.startswith(f"devenv: pytest runs in the canonical environment of {project.root}"), header


INSTANCE_TESTS = """\
import os

def test_the_test_process_has_the_sessions_instance(devenv_env, devenv_instance):
    assert os.environ["DEVENV_INSTANCE"] == devenv_instance == devenv_env["DEVENV_INSTANCE"]
    assert os.environ["QUEUE"] == devenv_env["QUEUE"] == "q_" + devenv_instance
    assert os.environ["DEVENV_FINGERPRINT"] == devenv_env.fingerprint
    assert os.environ["AT_IMPORT"] == devenv_env["QUEUE"]
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_test_process_gets_its_instance_before_conftest_files(
    plugin_project: MakeProject, workers: list[str]
) -> None:
    project = plugin_project(
        INSTANCE_TESTS
        + "\n\ndef test_again(devenv_instance):\n    assert os.environ['DEVENV_INSTANCE'] == devenv_instance\n"
    )
    project.write(".env.defaults", "GREETING=hello\nQUEUE=q_${DEVENV_INSTANCE}\n")
    # What an app's settings module does at import time: read os.environ once.
    project.write("conftest.py", "import os\nos.environ['AT_IMPORT'] = os.environ['QUEUE']\n")
    result = run_pytest(project, *workers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def _outside_devenv(project: Project) -> list[str]:
    return pytest_command(project)


def _devenv_run_without_pythonpath(project: Project) -> list[str]:
    return [DEVENV, "run", "--", "env", "-u", "PYTHONPATH", *pytest_command(project)]


@pytest.mark.parametrize(
    "launch",
    [
        pytest.param(_outside_devenv, id="outside-devenv"),
        pytest.param(
            _devenv_run_without_pythonpath,
            id="devenv-run-then-PYTHONPATH-removed",
        ),
    ],
)
def test_header_says_what_differs_when_pytest_lacks_the_pythonpath(
    plugin_project: MakeProject, launch: Callable[[Project], list[str]]
) -> None:
    project = plugin_project(PASSING)
    result = subprocess.run(
        launch(project),
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (header,) = [line for line in result.stdout.splitlines() if line.startswith("devenv:")]
    assert header.startswith(f"devenv: pytest does NOT run in the canonical environment of {project.root} (")
    assert "PYTHONPATH missing" in header
    # The command pytest was started with, never a session name of this repository.
    assert header.endswith("run it as `devenv run -- python -m pytest`") and "nox" not in header


# -- devenv_process --------------------------------------------------------------------------

REUSED = """\
def record(devenv_process, test):
    handle = devenv_process("sleeper")
    environ = psutil.Process(handle.pid).environ()
    note(test=test, pid=handle.pid, run_id=handle.run_id, log_path=handle.log_path,
         log=open(handle.log_path).read(), alive=handle.alive(),
         pythonpath=environ.get("PYTHONPATH"), marker=environ.get("DEVENV_RUN_ID"))


def test_one(devenv_process):
    record(devenv_process, "one")


def test_two(devenv_process):
    record(devenv_process, "two")
"""


def test_devenv_process_is_started_once_per_session_in_the_canonical_env(
    plugin_project: MakeProject,
) -> None:
    project = plugin_project(REUSED)
    result = run_pytest(project, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    one, two = read_jsonl(project.root / "notes.jsonl")
    assert one["pid"] == two["pid"], "the second test must reuse the session's process"
    assert one["run_id"] == two["run_id"]
    assert one["alive"] is True
    # The child's own environment, read from /proc: the canonical PYTHONPATH and the marker.
    assert one["pythonpath"] == canonical(project, "PYTHONPATH") == str(project.root / "lib-a" / "src")
    assert one["marker"] == one["run_id"]
    assert isinstance(one["log"], str)
    assert "==== devenv: starting sleeper" in one["log"]
    assert one["log"].splitlines()[-1] == "ready"
    assert isinstance(one["pid"], int)
    assert gone(one["pid"]), "the session's end must stop the process"
    assert not os.listdir(project.root / ".devenv" / "runs"), "the run record must be removed"


OVERRIDES = """\
from devenv.errors import ResolveError


def test_refused(devenv_process):
    with pytest.raises(ResolveError) as caught:
        devenv_process("sleeper", PYTHONSTARTUP="/tmp/evil.py")
    note(refused=str(caught.value))


def test_expanded(devenv_process):
    handle = devenv_process("sleeper", GREETING="${DEVENV_INSTANCE}-hi")
    note(greeting=handle.env["GREETING"], instance=handle.env["DEVENV_INSTANCE"],
         fingerprint=handle.env["DEVENV_FINGERPRINT"])
"""


def test_fixture_overrides_get_every_check_devenv_run_set_gets(plugin_project: MakeProject) -> None:
    # A key that makes programs run code is refused from a fixture override exactly as from
    # `devenv run --set` (it is not in [env].trusted), and ${...} in an override is expanded.
    project = plugin_project(OVERRIDES)
    result = run_pytest(project, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    refused, expanded = read_jsonl(project.root / "notes.jsonl")
    assert isinstance(refused["refused"], str)
    assert "PYTHONSTARTUP makes programs run code" in refused["refused"]
    assert "[env].trusted" in refused["refused"]
    assert expanded["greeting"] == f"{expanded['instance']}-hi"
    assert expanded["fingerprint"] != canonical(project, "DEVENV_FINGERPRINT")


LOG_SECTION = """\
def tick(handle, line):
    os.kill(handle.pid, signal.SIGUSR1)
    wait_for(lambda: line in handle.read_log(), line)


def test_passes(devenv_process):
    tick(devenv_process("sleeper"), "tick 1")


def test_fails(devenv_process):
    tick(devenv_process("sleeper"), "tick 2")
    assert False, "the worker said tick 2"
"""


def test_a_failing_test_shows_what_the_process_logged_during_that_test(
    plugin_project: MakeProject,
) -> None:
    project = plugin_project(LOG_SECTION)
    result = run_pytest(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    # Only the failing test's own lines: not `ready`, not the earlier test's `tick 1`.
    assert report_section(result.stdout, "Captured log devenv sleeper (call)") == ["tick 2"]
    assert result.stdout.count("Captured log devenv sleeper") == 1, "a passing test gets no section"


def test_the_log_section_reaches_junit_xml(plugin_project: MakeProject) -> None:
    # pytest's JUnit writer takes only sections named "Captured log/stdout/stderr ..."; the
    # section used to be "devenv sleeper log (call)", missing even with junit_logging=all.
    project = plugin_project(LOG_SECTION)
    xml = project.root / "junit.xml"
    result = run_pytest(project, f"--junitxml={xml}", "-o", "junit_logging=all")
    assert result.returncode == 1, result.stdout + result.stderr
    import xml.etree.ElementTree as ElementTree

    cases = {case.get("name"): case for case in ElementTree.parse(xml).iter("testcase")}
    failed = cases["test_fails"]
    system_out = "".join(node.text or "" for node in failed.iter("system-out"))
    assert "tick 2" in system_out and "tick 1" not in system_out
    properties = {prop.get("name"): prop.get("value") for prop in failed.iter("property")}
    log = properties["devenv sleeper log"]
    assert log is not None and "tick 2" in Path(log).read_text()
    assert not list(cases["test_passes"].iter("property"))


NOT_USED = """SLEEPER_PID = []


def test_starts_it(devenv_process):
    SLEEPER_PID.append(devenv_process("sleeper").pid)


def test_never_asked_for_it():
    # The sleeper is live and logs during this test, which did not use it.
    os.kill(SLEEPER_PID[0], signal.SIGUSR1)
    time.sleep(0.5)
    assert False, "unrelated failure"
"""


def test_a_failing_test_gets_only_the_logs_of_processes_it_used(plugin_project: MakeProject) -> None:
    project = plugin_project(NOT_USED)
    result = run_pytest(project)
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert "unrelated failure" in result.stdout
    assert "Captured log devenv sleeper" not in result.stdout
    assert "tick 1" not in result.stdout


THROUGH_A_SESSION_FIXTURE = """@pytest.fixture(scope="session")
def sleeper(devenv_process):
    return devenv_process("sleeper")


def test_first(sleeper):
    pass


def test_later(sleeper):
    os.kill(sleeper.pid, signal.SIGUSR1)
    wait_for(lambda: "tick 1" in sleeper.read_log(), "tick 1")
    assert False, "the sleeper said tick 1"
"""


def test_a_process_held_by_a_session_fixture_counts_as_used(plugin_project: MakeProject) -> None:
    # test_later never calls devenv_process itself: its fixture got the handle for test_first.
    project = plugin_project(THROUGH_A_SESSION_FIXTURE)
    result = run_pytest(project)
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert report_section(result.stdout, "Captured log devenv sleeper (call)") == ["tick 1"]


KILLED_MID_SESSION = """\
@pytest.fixture(scope="session")
def sleeper(devenv_process):
    return devenv_process("sleeper")


def test_kill(sleeper):
    os.kill(sleeper.pid, signal.SIGKILL)
    wait_for(lambda: not sleeper.alive(), "the sleeper to die")
    note(pid=sleeper.pid, killed_at=time.time())


def test_next(sleeper):
    # The session fixture hands over the dead handle: nothing asks devenv_process again.
    pass
"""


def test_a_process_killed_mid_session_errors_the_next_test_holding_it_at_once(
    plugin_project: MakeProject,
) -> None:
    project = plugin_project(KILLED_MID_SESSION)
    result = run_pytest(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    (killed,) = read_jsonl(project.root / "notes.jsonl")
    died = f"sleeper (pid {killed['pid']}) was killed by SIGKILL (exit 137) during the test session ("
    assert died in result.stdout
    # The message ends with the log tail: what the process printed before it died.
    after = result.stdout.split("last lines:", 1)[1].splitlines()
    assert after[1].removeprefix("E").strip() == "ready", result.stdout
    (error,) = [
        t
        for t in read_jsonl(project.root / "timeline.jsonl")
        if t["test"] == "test_next" and t["when"] == "setup"
    ]
    assert error["outcome"] == "failed"
    assert isinstance(error["at"], float) and isinstance(killed["killed_at"], float)
    assert error["at"] - killed["killed_at"] < AT_ONCE, "reported at once, not after a start_timeout"


OTHER_PROCESS = """
[processes.other]
command = ["python", "sleeper.py"]
ready = { log = "^ready$" }
start_timeout = 30
stop_timeout = 2
"""

DIED_AMONG_OTHERS = """\
@pytest.fixture(scope="session")
def other(devenv_process):
    return devenv_process("other")


def test_kill(devenv_process):
    handle = devenv_process("sleeper")
    os.kill(handle.pid, signal.SIGKILL)
    wait_for(lambda: not handle.alive(), "the sleeper to die")
    note(pid=handle.pid)


def test_another_process(other):
    assert other.alive()


def test_same_name_other_overrides(devenv_process):
    assert devenv_process("sleeper", GREETING="other").alive()


def test_no_process(devenv_process):
    pass


def test_asks_for_it(devenv_process):
    devenv_process("sleeper")


def test_after_that(devenv_process):
    handle = devenv_process("sleeper")
    note(pid=handle.pid, alive=handle.alive())


def test_kill_again(devenv_process):
    handle = devenv_process("sleeper")
    os.kill(handle.pid, signal.SIGKILL)
    wait_for(lambda: not handle.alive(), "the sleeper to die")


def test_fresh(devenv_process):
    assert devenv_process("sleeper", fresh=True).alive()
"""


def test_a_dead_process_errors_only_the_next_test_using_it_then_starts_afresh(
    plugin_project: MakeProject,
) -> None:
    # README: "the next test using it errors at once ...; the request after that starts it
    # afresh". Tests using other processes (another name, other overrides) or none are not
    # that test: the error used to land on the first of them, and the test that did ask for
    # the dead process got a fresh one without a word.
    project = plugin_project(DIED_AMONG_OTHERS, more_spec=OTHER_PROCESS)
    result = run_pytest(project)
    assert "1 failed, 7 passed" in result.stdout, result.stdout + result.stderr
    phases = {(t["test"], t["when"]): t for t in read_jsonl(project.root / "timeline.jsonl")}
    outcomes = {test: phase["outcome"] for (test, when), phase in phases.items() if when == "call"}
    assert outcomes == {
        "test_kill": "passed",
        "test_another_process": "passed",
        "test_same_name_other_overrides": "passed",
        "test_no_process": "passed",
        "test_asks_for_it": "failed",
        "test_after_that": "passed",
        "test_kill_again": "passed",
        "test_fresh": "passed",  # fresh=True asks for a new one: no error
    }, result.stdout
    killed, after = read_jsonl(project.root / "notes.jsonl")
    died = f"sleeper (pid {killed['pid']}) was killed by SIGKILL (exit 137) during the test session ("
    assert died in result.stdout and "FAILED test_inner.py::test_asks_for_it" in result.stdout
    duration = phases[("test_asks_for_it", "call")]["duration"]
    assert isinstance(duration, float) and duration < AT_ONCE, "at once, not after a start_timeout"
    assert after["pid"] != killed["pid"] and after["alive"] is True


FAILS_ON_START = """\
@pytest.fixture
def sleeper(devenv_process):
    return devenv_process("sleeper")


def test_uses_it(sleeper):
    pass
"""


def test_a_process_that_fails_on_start_errors_the_test_with_its_traceback(
    plugin_project: MakeProject,
) -> None:
    project = plugin_project(FAILS_ON_START, command=("python", "-c", "import no_such_module"))
    result = run_pytest(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    out = result.stdout
    assert "process 'sleeper' exited with code 1 before it was ready" in out
    assert "it failed (Python exits 1 on an uncaught exception; see the log below)" in out
    assert "Traceback (most recent call last):" in out
    assert "ModuleNotFoundError: No module named 'no_such_module'" in out
    assert "devenv/processes.py" not in out and "devenv/__init__.py" not in out, "devenv's own frames"
    (setup,) = [t for t in read_jsonl(project.root / "timeline.jsonl") if t["when"] == "setup"]
    assert setup["outcome"] == "failed"
    assert isinstance(setup["duration"], float) and setup["duration"] < AT_ONCE, "not after start_timeout"


# -- a killed pytest run ---------------------------------------------------------------------

HANGS = """\
def test_hangs(devenv_process):
    handle = devenv_process("sleeper")
    note(pid=handle.pid)
    time.sleep(60)
"""

NEXT_RUN = """\
def test_starts_again(devenv_process):
    note(pid=devenv_process("sleeper").pid)
"""


#: The sleeper, but one that notes a SIGTERM (as an RQ worker unregisters on it) before exiting.
POLITE_SLEEPER = """\
import os, signal, sys, time


def on_term(signum, frame):
    open(os.path.join(os.environ["DEVENV_ROOT"], f"sigterm-{os.getpid()}"), "w").close()
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(60)
"""


def test_the_next_run_cleans_up_after_a_killed_pytest(plugin_project: MakeProject) -> None:
    project = plugin_project(HANGS, command=("python", "polite.py"))
    project.write("polite.py", POLITE_SLEEPER)
    notes = project.root / "notes.jsonl"
    with (project.root.parent / "killed-run.out").open("w") as out:
        # `devenv run` execs, so this pid is pytest's.
        killed = subprocess.Popen(
            [DEVENV, "run", "--", *pytest_command(project)],
            cwd=project.root,
            env=hermetic_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    old_pid: int | None = None
    try:
        wait_for(lambda: notes.exists(), timeout=10, what="the inner test to start the sleeper")
        (started,) = read_jsonl(notes)
        pid = started["pid"]
        assert isinstance(pid, int)
        old_pid = pid
        killed.kill()
        killed.wait(5)
        # Its own session: a SIGKILL to pytest (or to pytest's group) does not reach it.
        assert not gone(old_pid), "the sleeper should outlive a SIGKILLed pytest"

        notes.unlink()
        project.write("test_inner.py", INNER_HELPERS + "\n\n" + NEXT_RUN)
        result = run_pytest(project)
        assert result.returncode == 0, result.stdout + result.stderr
        (restarted,) = read_jsonl(notes)
        assert gone(old_pid), "the next run's start must kill the leftover"
        # Ended the way `devenv stop` ends it: SIGTERM first, SIGKILL only after stop_timeout.
        assert (project.root / f"sigterm-{old_pid}").exists(), "the leftover got no SIGTERM"
        assert restarted["pid"] != old_pid
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(5)
        if old_pid is not None and not gone(old_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(old_pid, signal.SIGKILL)


# -- deliberate stops, restart, context managers -------------------------------------------------

STOPPED_ON_PURPOSE = """\
def test_stops_it(devenv_process):
    handle = devenv_process("sleeper")
    note(pid=handle.pid)
    handle.stop()


def test_gets_a_fresh_one(devenv_process):
    handle = devenv_process("sleeper")
    note(pid=handle.pid, alive=handle.alive())


def test_restart_and_with(devenv_process):
    with devenv_process("sleeper", GREETING="other") as handle:
        before = handle.pid
        handle.restart()
        note(before=before, after=handle.pid, alive=handle.alive())
    assert not handle.alive()


def test_after_with(devenv_process):
    assert devenv_process("sleeper", GREETING="other").alive()
"""


def test_a_process_stopped_on_purpose_is_started_afresh_by_the_next_request(
    plugin_project: MakeProject,
) -> None:
    project = plugin_project(STOPPED_ON_PURPOSE)
    result = run_pytest(project)
    assert "4 passed" in result.stdout, result.stdout + result.stderr
    stopped, fresh, restarted = read_jsonl(project.root / "notes.jsonl")
    assert fresh["pid"] != stopped["pid"] and fresh["alive"] is True
    assert restarted["before"] != restarted["after"] and restarted["alive"] is True


# -- finding the project, options, instances ---------------------------------------------------

ROOT_FACTS = """\
def test_where(devenv_env, devenv_spec):
    note(root=devenv_env.root, keys=sorted(devenv_env), greeting=devenv_env["GREETING"],
         instance=devenv_env["DEVENV_INSTANCE"], worker=os.environ.get("PYTEST_XDIST_WORKER"),
         project=devenv_spec.project_name, processes=[p.name for p in devenv_spec.processes])
"""


def test_the_project_is_found_from_devenv_root_for_a_test_file_elsewhere(
    plugin_project: MakeProject, tmp_path: Path
) -> None:
    project = plugin_project(PASSING)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "test_x.py").write_text(
        INNER_HELPERS.replace(
            'os.path.dirname(__file__), "notes.jsonl"', f'{str(project.root)!r}, "notes.jsonl"'
        )
        + "\n\n"
        + ROOT_FACTS
    )
    # `devenv run` sets DEVENV_ROOT; pytest's rootdir is elsewhere, which holds no envspec.toml.
    result = project.devenv("run", "--", *pytest_command(project, str(elsewhere / "test_x.py")), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (facts,) = read_jsonl(project.root / "notes.jsonl")
    assert facts["root"] == str(project.root) and facts["greeting"] == "hello"
    assert "DEVENV_ROOT" in facts["keys"]  # type: ignore[operator]
    assert (facts["project"], facts["processes"]) == ("plugged", ["sleeper"]), "devenv_spec is envspec.toml"
    assert "warning" not in result.stdout, "the working directory is inside the project"

    # --devenv-root wins over everything, even outside devenv run.
    other = subprocess.run(
        [*pytest_command(project, str(elsewhere / "test_x.py"), f"--devenv-root={project.root}")],
        cwd=elsewhere,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode == 0, other.stdout + other.stderr


def root_warning(chosen: Path, rootdir: Path) -> str:
    """The warning of a session whose DEVENV_ROOT names a project outside pytest's rootdir,
    where `rootdir` holds a project of its own."""
    return (
        f"the project is {chosen} because DEVENV_ROOT names it (set by `devenv run`, the shell hook "
        f"or a sourced .devenv/env.sh of that project), but pytest's rootdir {rootdir} is not inside it; "
        f"to use {rootdir}, start pytest there as `devenv run -- python -m pytest` "
        f"(or pass --devenv-root {rootdir}); to keep {chosen} without this warning, "
        f"pass --devenv-root {chosen}"
    )


def after_sourcing(other: Project, project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in `project`, started from a shell that sourced `other`'s .devenv/env.sh."""
    sourced = f'. "{other.root}/.devenv/env.sh" && cd "{project.root}" && exec "$@"'
    return subprocess.run(
        ["sh", "-c", sourced, "sh", *pytest_command(project, *args)],
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_devenv_root_of_another_project_is_named_in_a_warning(
    plugin_project: MakeProject, tmp_path: Path, shared_venv: str
) -> None:
    # The documented order still takes DEVENV_ROOT, but the header and pytest's warnings say
    # which project that is, why, and how to choose: it used to be silent.
    project = plugin_project(ROOT_FACTS)
    other = Project.create(
        tmp_path / "other",
        venv=shared_venv,
        spec=SPEC.format(venv=shared_venv, command='["python", "sleeper.py"]').replace("plugged", "other"),
        dotenv="GREETING=from the other project\n",
    )
    other.sync()
    warning = root_warning(other.root, project.root)
    result = after_sourcing(other, project)
    assert result.returncode == 0, result.stdout + result.stderr
    (facts,) = read_jsonl(project.root / "notes.jsonl")
    assert (facts["root"], facts["project"]) == (str(other.root), "other"), "the documented order"
    header = [line for line in result.stdout.splitlines() if line.startswith("devenv:")]
    assert header[0].startswith(f"devenv: pytest runs in the canonical environment of {other.root} ")
    assert header[1:] == [f"devenv: warning: {warning}"], result.stdout
    # Also in pytest's warnings summary, which -q keeps; -W error makes it a usage error.
    quiet = after_sourcing(other, project, "-q")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert f"ProjectRootWarning: devenv: {warning}" in quiet.stdout
    strict = after_sourcing(other, project, "-W", "error")
    assert (strict.returncode, strict.stdout) == (4, ""), strict.stdout + strict.stderr
    assert strict.stderr.strip() == f"ERROR: devenv: {warning}"

    # Either way out of it leaves no warning: `devenv run` in this project, or --devenv-root.
    ran = run_pytest(project)
    assert ran.returncode == 0 and "warning" not in ran.stdout, ran.stdout
    kept = after_sourcing(other, project, f"--devenv-root={other.root}")
    assert kept.returncode == 0 and "warning" not in kept.stdout, kept.stdout + kept.stderr


def test_devenv_show_says_when_nothing_runs(plugin_project: MakeProject) -> None:
    # As `devenv ps` does: an empty table on stdout, the sentence on stderr.
    project = plugin_project(PASSING)
    shown = run_pytest(project, "--devenv-show")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert (shown.stdout, shown.stderr) == ("", "devenv: no processes run in this project's environment\n")


@pytest.mark.parametrize("quiet", [[], ["-q"], ["-qq"]], ids=["plain", "q", "qq"])
def test_a_devenv_root_without_envspec_is_a_usage_error_at_once(
    plugin_project: MakeProject, tmp_path: Path, quiet: list[str]
) -> None:
    # Checked when pytest configures, not when the header asks: under -q no header asks, so
    # `--devenv-root /nonexistent` used to exit 0.
    project = plugin_project(PASSING)
    missing = tmp_path / "nonexistent"
    result = run_pytest(project, *quiet, f"--devenv-root={missing}")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"--devenv-root {missing}: no envspec.toml in {missing}" in result.stderr


def test_the_plugin_options_are_in_pytest_help(plugin_project: MakeProject) -> None:
    project = plugin_project(PASSING)
    result = run_pytest(project, "--help")
    for option in ("--devenv-root=DIR", "--devenv-show", "--devenv-kill"):
        assert option in result.stdout, option


def test_devenv_show_and_kill_list_and_stop_what_a_killed_session_left(plugin_project: MakeProject) -> None:
    project = plugin_project(HANGS)
    notes = project.root / "notes.jsonl"
    with (project.root.parent / "killed-run.out").open("w") as out:
        killed = subprocess.Popen(
            [DEVENV, "run", "--", *pytest_command(project)], cwd=project.root, env=hermetic_env(), stdout=out
        )
    pid = 0
    try:
        wait_for(lambda: notes.exists(), timeout=10, what="the inner test to start the sleeper")
        pid = int(read_jsonl(notes)[0]["pid"])  # type: ignore[call-overload]
        killed.kill()
        killed.wait(5)
        shown = run_pytest(project, "--devenv-show")
        (row,) = [line for line in shown.stdout.splitlines() if line.startswith(f"{pid} ")]
        assert row.split()[3:5] == ["sleeper", "fixture"], shown.stdout
        stopped = run_pytest(project, "--devenv-kill")
        assert f"devenv: stopped sleeper (pid {pid})" in stopped.stdout, stopped.stdout + stopped.stderr
        assert gone(pid)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(5)
        if pid and not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_each_xdist_worker_gets_its_own_instance(plugin_project: MakeProject) -> None:
    # pytest-xdist is a pinned test dependency (envspec.toml): no skip when it is missing.
    project = plugin_project(ROOT_FACTS + ROOT_FACTS.replace("test_where", "test_where_too"))
    project.write(".env.defaults", "GREETING=hello\nQUEUE=q_${DEVENV_INSTANCE}\n")
    result = run_pytest(project, "-n", "2")
    assert "2 passed" in result.stdout, result.stdout + result.stderr
    facts = read_jsonl(project.root / "notes.jsonl")
    assert {f["worker"] for f in facts} == {"gw0", "gw1"}
    instances = {f["worker"]: f["instance"] for f in facts}
    for worker, instance in instances.items():
        assert isinstance(instance, str) and instance.startswith(f"{worker}_")
    assert len(set(instances.values())) == 2
