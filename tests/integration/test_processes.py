"""The launcher on real child processes: early exits, readiness, stops that leave nothing behind.

Each fault gets its own throw-away project; every test is guarded by `_no_leftovers`, which
fails it if any process it started (a descendant, or anything carrying a DEVENV_RUN_ID for a
root under its tmp_path) is still alive afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

import devenv
from devenv.environment import CanonicalEnv
from devenv.errors import ProcessError, ResolveError, ServiceError, UsageError
from devenv.exits import exit_meaning
from devenv.logs import KEEP_LOGS, log_tail
from devenv.processes import StaleConsumersWarning, start
from devenv.runs import cleanup_leftovers, runs_dir
from devenv.spec import Spec, load_spec
from devenv.up import run_up
from tests.support.broker import require_broker
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone, wait_for
from tests.support.projects import Project

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: The interpreter running the tests has pika, dramatiq and devenv; the shared venv has none.
HOST_PYTHON = sys.executable

SPEC = """\
[project]
name = "launch"

[python]
venv = "{venv}"

[paths]
pythonpath = ["lib-a/src"]

[dotenv]
files = [".env.defaults"]

[vars]
PYTHONUNBUFFERED = "1"

[services.rabbitmq]
check = "amqp"
url = "${{RABBITMQ_URL}}"
timeout = 5

{extra}
"""

Launch = Callable[..., tuple[Spec, CanonicalEnv]]

#: An upper bound for "at once": far below the 30 s start_timeout (or 60 s sleep) the wrong
#: behaviour would wait, and far above what a loaded machine takes.
AT_ONCE = 10.0


def toml_list(*words: str) -> str:
    """A TOML array of strings (JSON strings are valid TOML basic strings)."""
    return json.dumps(list(words))


@pytest.fixture
def launch(tmp_path: Path, shared_venv: str) -> Launch:
    """Write a project with `extra` TOML and `files`, sync it, and return (spec, env)."""

    def make(
        extra: str, *, files: dict[str, str] | None = None, broker_url: str = BROKER_URL
    ) -> tuple[Spec, CanonicalEnv]:
        project = Project.create(
            tmp_path / "proj",
            venv=shared_venv,
            spec=SPEC.format(venv=shared_venv, extra=extra),
            dotenv=f"RABBITMQ_URL={broker_url}\n",
        )
        for name, text in (files or {}).items():
            project.write(name, text)
        project.sync()
        root = str(project.root)
        return load_spec(root), devenv.load(root)

    return make


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


def read_pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def process_toml(
    command: list[str], *, ready: str | None = 'ready = { log = "^up$" }', **settings: object
) -> str:
    lines = ["[processes.x]", f"command = {toml_list(*command)}"]
    if ready:
        lines.append(ready)
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


SERVE = "import time; print('up'); time.sleep(60)"

# -- overrides ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        pytest.param({"LD_PRELOAD": "/tmp/x.so"}, "LD_PRELOAD makes programs run code", id="runs-code"),
        pytest.param({"STRIPPED": "1"}, "STRIPPED, which envspec.toml [env].unset removes", id="unset-key"),
        pytest.param({"VIRTUAL_ENV": "/x"}, "VIRTUAL_ENV is managed by devenv", id="managed-key"),
        pytest.param({"A": "a\0b"}, "contains a NUL byte", id="nul-byte"),
    ],
)
def test_api_overrides_get_every_check_devenv_run_set_gets(
    launch: Launch, overrides: dict[str, str], refusal: str
) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE]) + '[env]\nunset = ["STRIPPED"]\n')
    with pytest.raises(ResolveError) as caught:
        start(spec, "x", env, overrides=overrides)
    assert refusal in str(caught.value)
    assert not os.path.exists(os.path.join(spec.root, ".devenv", "logs", "x.log")), "nothing may start"


# -- early exit ---------------------------------------------------------------------------


def test_import_failure_is_reported_at_once_with_its_traceback(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", "import no_such_module_for_devenv"]))
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    elapsed = time.monotonic() - began
    message = str(caught.value)
    assert elapsed < AT_ONCE, message
    assert "exited with code 1 before it was ready" in message
    assert "uncaught exception" in message
    assert "Traceback (most recent call last):" in message
    assert "ModuleNotFoundError: No module named 'no_such_module_for_devenv'" in message
    # The command shown is the one really run: `python` resolved to the venv interpreter.
    assert f"command: {env.path_prefix[0]}/python -c" in message
    assert not os.listdir(runs_dir(spec.root)), "the run record must be removed"


def test_dramatiq_import_failure_names_the_dramatiq_meaning(launch: Launch) -> None:
    command = [HOST_PYTHON, "-m", "dramatiq", "no_such_module_for_devenv", "--processes", "1"]
    spec, env = launch(process_toml([*command, "--threads", "1"]))
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    message = str(caught.value)
    assert time.monotonic() - began < AT_ONCE, message
    assert "exited with code 2" in message
    assert "import error or bad command-line argument (Dramatiq RET_IMPORT)" in message
    assert "No module named 'no_such_module_for_devenv'" in message


def test_exit_with_code_zero_before_ready_is_an_error(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", "print('bye')"]))
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    assert time.monotonic() - began < AT_ONCE
    assert "exited with code 0 before it was ready" in str(caught.value)
    assert "must stay up" in str(caught.value)
    assert "bye" in str(caught.value)


def test_secrets_the_process_printed_are_masked_in_the_error(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", "import os; print(os.environ['API_TOKEN'])"]))
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env, overrides={"API_TOKEN": "hunter2-token-value"})
    assert "hunter2-token-value" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_probe_that_never_passes_times_out_naming_what_it_saw(launch: Launch) -> None:
    spec, env = launch(
        process_toml(
            ["python", "-c", "import time; print('booting'); time.sleep(60)"],
            ready='ready = { log = "never printed" }',
            start_timeout=0.5,
            stop_timeout=2,
        )
    )
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    elapsed = time.monotonic() - began
    message = str(caught.value)
    assert 0.5 <= elapsed < AT_ONCE, message
    # The time waited is measured (0.5 s or more under load); its shape and the setting are not.
    assert re.search(r"was not ready after \d+\.\d s \(\[processes\.x\]\.start_timeout = 0\.5\)", message)
    assert "log /never printed/" in message
    assert "no match for /never printed/ in 1 line(s) of output" in message
    assert "booting" in message
    assert caught.value.exit_code == 124, "devenv up exits as timeout(1) does, not 2 (bad usage)"


def test_log_tail_keeps_a_whole_traceback(tmp_path: Path) -> None:
    frames = "".join(f'  File "m{i}.py", line {i}, in f\n    f()\n' for i in range(40))
    log = tmp_path / "x.log"
    log.write_text("header\nTraceback (most recent call last):\n" + frames + "RecursionError: deep\n")
    tail = log_tail(str(log), lines=10)
    assert tail.startswith("Traceback (most recent call last):")
    assert tail.rstrip().endswith("RecursionError: deep")


def test_exit_meanings() -> None:
    dramatiq = ["/v/bin/python", "-m", "dramatiq", "app"]
    assert "RET_CONNECT" in exit_meaning(3, dramatiq)
    assert "RET_PIDFILE" in exit_meaning(4, dramatiq)
    assert "RET_KILLED" in exit_meaning(1, dramatiq)
    assert "out-of-memory killer" in exit_meaning(-9)
    assert exit_meaning(7, ["/bin/prog"]) == "a failure code of the program's own; see its log"


# -- readiness -----------------------------------------------------------------------------


def test_log_readiness_waits_for_the_line_not_for_the_header(launch: Launch) -> None:
    # The pattern also appears in the command, which the log header quotes: it must not count.
    spec, env = launch(
        process_toml(
            ["python", "-c", "import time; time.sleep(0.3); print('server up'); time.sleep(60)"],
            ready='ready = { log = "server up" }',
        )
    )
    handle = start(spec, "x", env, overrides={"DEMO_SETTING": "on", "API_TOKEN": "hunter2-token"})
    try:
        assert handle.ready_after is not None
        assert 0.3 <= handle.ready_after < AT_ONCE
        assert handle.alive()
        assert os.path.isabs(handle.log_path)
        logs = os.path.join(spec.root, ".devenv", "logs")
        assert handle.log_path == os.path.join(logs, f"x-{handle.run_id}.log")
        # The stable name points at the latest run's own log.
        assert os.readlink(os.path.join(logs, "x.log")) == f"x-{handle.run_id}.log"
        assert stat.S_IMODE(os.stat(os.path.dirname(handle.log_path)).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(handle.log_path).st_mode) == 0o600
        header = handle.read_log()
        assert f"run id: {handle.run_id}" in header
        assert "overrides: API_TOKEN=*** DEMO_SETTING=on" in header
        assert "hunter2-token" not in header
        assert handle.env["DEVENV_RUN_ID"] == handle.run_id
        assert handle.env["DEMO_SETTING"] == "on"
        record = json.loads(Path(runs_dir(spec.root), f"{handle.run_id}.json").read_text())
        assert (record["pid"], record["owner_pid"]) == (handle.pid, os.getpid())
    finally:
        code = handle.stop()
    assert code == -signal.SIGTERM
    assert not handle.alive()
    assert not os.listdir(runs_dir(spec.root))


def test_the_child_gets_the_canonical_env_and_the_root_as_cwd(launch: Launch, tmp_path: Path) -> None:
    script = "import json, os, sys; print(json.dumps([os.getcwd(), sys.executable, dict(os.environ)]))"
    spec, env = launch(
        process_toml(
            ["python", "-c", script + "; print('up'); import time; time.sleep(60)"],
        )
    )
    handle = start(spec, "x", env, base={"PATH": "/usr/bin:/bin", "HOME": "/nowhere"})
    try:
        line = handle.read_log(handle.log_offset).splitlines()[0]
    finally:
        handle.stop()
    cwd, executable, child_env = json.loads(line)
    assert cwd == spec.root
    assert executable.startswith(env.path_prefix[0])
    assert child_env["HOME"] == "/nowhere"
    assert child_env["PYTHONPATH"] == os.path.join(spec.root, "lib-a", "src")
    assert child_env["DEVENV_FINGERPRINT"] == env.fingerprint
    assert child_env["PATH"].split(":")[0] == env.path_prefix[0]


def test_amqp_queue_readiness_waits_for_a_real_consumer(launch: Launch) -> None:
    require_broker()
    import pika

    queue = f"devenv-test-{uuid.uuid4().hex}"
    consumer = """\
import os, sys, time, pika
time.sleep(float(sys.argv[2]))
connection = pika.BlockingConnection(pika.URLParameters(os.environ["RABBITMQ_URL"]))
channel = connection.channel()
channel.queue_declare(queue=sys.argv[1])
channel.basic_consume(queue=sys.argv[1], on_message_callback=lambda ch, m, p, b: None)
print("consuming", flush=True)
channel.start_consuming()
"""
    spec, env = launch(
        process_toml(
            [HOST_PYTHON, "consumer.py", queue, "0.3"],
            ready=f'needs = ["rabbitmq"]\nready = {{ amqp_queue = "{queue}", consumers = 1 }}',
            start_timeout=10,
        ),
        files={"consumer.py": consumer},
    )
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    try:
        handle = start(spec, "x", env)
        try:
            # Before the consumer declared the queue the probe saw 404 ("not yet"), not an error.
            assert handle.ready_after is not None and handle.ready_after >= 0.3
            channel = connection.channel()
            assert channel.queue_declare(queue=queue, passive=True).method.consumer_count == 1
            channel.close()
        finally:
            handle.stop()
        assert gone(handle.pid)
    finally:
        connection.channel().queue_delete(queue=queue)
        connection.close()


def test_consumers_already_on_the_queue_are_reported_and_not_counted(launch: Launch) -> None:
    require_broker()
    import pika

    queue = f"devenv-test-{uuid.uuid4().hex}"
    consumer = """\
import os, sys, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ["RABBITMQ_URL"]))
channel = connection.channel()
channel.basic_consume(queue=sys.argv[1], on_message_callback=lambda ch, m, p, b: None)
channel.start_consuming()
"""
    spec, env = launch(
        process_toml(
            [HOST_PYTHON, "consumer.py", queue],
            ready=f'needs = ["rabbitmq"]\nready = {{ amqp_queue = "{queue}" }}',
            start_timeout=10,
        ),
        files={"consumer.py": consumer},
    )
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    try:
        channel.queue_declare(queue=queue)
        channel.basic_consume(queue=queue, on_message_callback=lambda ch, m, p, b: None)
        with pytest.warns(StaleConsumersWarning, match="1 consumer\\(s\\) were already on queue"):
            handle = start(spec, "x", env)
        try:
            probe = connection.channel()
            assert probe.queue_declare(queue=queue, passive=True).method.consumer_count == 2
            probe.close()
            assert "will take messages meant for x" in handle.read_log()
        finally:
            handle.stop()
    finally:
        channel.queue_delete(queue=queue)
        connection.close()


def test_an_unreachable_needed_service_fails_before_spawning(launch: Launch) -> None:
    spec, env = launch(
        process_toml(["python", "-c", SERVE], ready='needs = ["rabbitmq"]'),
        broker_url="amqp://guest:hush-hush@127.0.0.1:1/%2F",
    )
    began = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        start(spec, "x", env)
    assert time.monotonic() - began < AT_ONCE
    assert "amqp://guest:***@127.0.0.1:1/%2F" in str(caught.value)
    assert "hush-hush" not in str(caught.value)
    assert not os.path.exists(os.path.join(spec.root, ".devenv", "logs", "x.log"))


# -- stop ----------------------------------------------------------------------------------


def test_a_process_ignoring_sigterm_is_killed_after_stop_timeout(launch: Launch) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up'); time.sleep(60)"
    spec, env = launch(process_toml(["python", "-c", code], stop_timeout=1))
    handle = start(spec, "x", env)
    began = time.monotonic()
    returncode = handle.stop()
    elapsed = time.monotonic() - began
    assert returncode == -signal.SIGKILL
    assert 1.0 <= elapsed < AT_ONCE, elapsed  # stop_timeout, then SIGKILL (not the 60 s sleep)
    assert gone(handle.pid)
    assert "did not exit within stop_timeout = 1 s of SIGTERM" in handle.read_log()


TREE = """\
import os, subprocess, sys, time
pids, depth = sys.argv[1], int(sys.argv[2])
with open(pids, "a") as f:
    f.write(f"{os.getpid()}\\n")
for _ in range(2 if depth else 0):
    subprocess.Popen([sys.executable, __file__, pids, str(depth - 1)])
if depth == 2:
    print("up")
time.sleep(60)
"""


def test_stop_leaves_no_grandchildren(launch: Launch) -> None:
    spec, env = launch(
        process_toml(["python", "tree.py", "pids.txt", "2"], stop_timeout=2), files={"tree.py": TREE}
    )
    handle = start(spec, "x", env)
    pids_file = Path(spec.root, "pids.txt")
    wait_for(lambda: len(read_pids(pids_file)) == 7, timeout=5, what="7 processes in the tree")
    pids = read_pids(pids_file)
    # The main process dies of SIGTERM at once (no wait for stop_timeout); its children are
    # then killed with the group.
    assert handle.stop() == -signal.SIGTERM
    assert "did not exit within stop_timeout" not in handle.read_log()
    assert [pid for pid in pids if not gone(pid)] == []


def test_one_proc_scan_per_tick_notes_the_descendants_of_every_running_process(
    launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten processes used to cost ten /proc scans every tick (9.8 % of a core for an idle `up`).
    import devenv.processes

    tables = "\n".join(
        process_toml(["python", "-c", SERVE]).replace("[processes.x]", f"[processes.p{index}]")
        for index in range(10)
    )
    spec, env = launch(tables)
    handles = [start(spec, f"p{index}", env) for index in range(10)]
    scans: list[float] = []
    real_scan = devenv.processes.scan

    def counted(roots: object = None) -> object:
        scans.append(time.monotonic())
        return real_scan(roots)  # type: ignore[arg-type]

    monkeypatch.setattr(devenv.processes, "scan", counted)
    began = time.monotonic()
    wait_for(lambda: len(scans) >= 5, timeout=AT_ONCE, what="five watcher ticks")
    ticks = (time.monotonic() - began) / devenv.processes.WATCH_INTERVAL
    assert len(scans) <= ticks + 2, f"{len(scans)} scans in {ticks:.1f} ticks for 10 processes"
    # Reading only the launched trees finds what reading every process finds.
    everything, trees = real_scan(), real_scan(handle.pid for handle in handles)
    for handle in handles:
        assert sorted(trees.descendants(handle.pid)) == sorted(everything.descendants(handle.pid))
    devenv.processes.stop_processes(handles)
    assert all(gone(handle.pid) for handle in handles)


ESCAPE = """\
import subprocess, sys, time
# The middle process starts a grandchild in a new session and exits: the grandchild is
# reparented away from the tree and out of the process group; only its env marker remains.
subprocess.run([sys.executable, "-c", '''
import subprocess, sys
p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
open(sys.argv[1], "a").write(f"{p.pid}\\\\n")
''', sys.argv[1]], check=True)
print("up")
time.sleep(60)
"""


def test_stop_finds_a_grandchild_that_escaped_into_its_own_session(launch: Launch) -> None:
    spec, env = launch(
        process_toml(["python", "escape.py", "pids.txt"], stop_timeout=2),
        files={"escape.py": ESCAPE},
    )
    handle = start(spec, "x", env)
    (escaped,) = read_pids(Path(spec.root, "pids.txt"))
    grandchild = psutil.Process(escaped)
    assert os.getpgid(escaped) != handle.pid
    # The launched process is a child subreaper: the orphan is re-parented to it, not to init.
    assert escaped in [p.pid for p in psutil.Process(handle.pid).children(recursive=True)]
    assert grandchild.environ()["DEVENV_RUN_ID"] == handle.run_id
    handle.stop()
    assert gone(escaped)


# -- leftovers of a killed owner ----------------------------------------------------------

OWNER = """\
import sys, time
import devenv
from devenv.processes import start
from devenv.spec import load_spec
root = sys.argv[1]
handle = start(load_spec(root), "x", devenv.load(root))
print(handle.pid, handle.run_id, flush=True)
time.sleep(60)
"""


def test_leftovers_of_a_killed_owner_are_cleaned_by_the_next_start(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE], stop_timeout=2), files={"owner.py": OWNER})
    owner = subprocess.Popen(
        [HOST_PYTHON, "owner.py", spec.root], cwd=spec.root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        pid_text, run_id = owner.stdout.readline().split()
    finally:
        owner.kill()  # SIGKILL: no teardown, no atexit; its worker is orphaned
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    orphan = int(pid_text)
    assert not gone(orphan), "the orphan should have survived its owner"
    assert os.path.exists(os.path.join(runs_dir(spec.root), f"{run_id}.json"))

    handle = start(spec, "x", env)
    try:
        assert gone(orphan)
        assert os.listdir(runs_dir(spec.root)) == [f"{handle.run_id}.json"]
    finally:
        handle.stop()


#: Notes each SIGTERM (as a worker would start a warm shutdown) and keeps running.
STUBBORN = """\
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: open("sigterm", "a").write(f"{os.getpid()}\\n"))
print("up", flush=True)
while True:
    time.sleep(60)
"""


def _orphaned_stubborn_worker(root: str) -> int:
    """The pid of STUBBORN started by owner.py, whose owner is then killed: a leftover."""
    owner = subprocess.Popen([HOST_PYTHON, "owner.py", root], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        orphan = int(owner.stdout.readline().split()[0])
    finally:
        owner.kill()  # its worker is orphaned, a leftover for the next start
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    assert not gone(orphan)
    return orphan


def test_a_leftover_is_ended_by_the_stop_path_sigterm_then_its_own_stop_timeout(launch: Launch) -> None:
    spec, env = launch(
        process_toml(["python", "stubborn.py"], stop_timeout=1),
        files={"owner.py": OWNER, "stubborn.py": STUBBORN},
    )
    orphan = _orphaned_stubborn_worker(spec.root)

    began = time.monotonic()
    handle = start(spec, "x", env)
    took = time.monotonic() - began
    try:
        assert gone(orphan)
        assert read_pids(Path(spec.root) / "sigterm") == [orphan], "no SIGTERM before the SIGKILL"
        # SIGKILL came after its recorded stop_timeout (1 s), not at once nor after the default 10 s.
        assert 1.0 <= took < 8.0, took
    finally:
        handle.stop()


def test_two_launchers_ending_one_leftover_at_once_send_one_sigterm(launch: Launch) -> None:
    # Two xdist workers starting after a killed session: a second SIGTERM would make
    # Dramatiq kill its workers hard, so one ends the leftover and the other waits for it.
    spec, _ = launch(
        process_toml(["python", "stubborn.py"], stop_timeout=2),
        files={"owner.py": OWNER, "stubborn.py": STUBBORN},
    )
    orphan = _orphaned_stubborn_worker(spec.root)
    code = "import sys; from devenv.runs import cleanup_leftovers; print(cleanup_leftovers(sys.argv[1]))"
    ending = [
        subprocess.Popen([HOST_PYTHON, "-c", code, spec.root], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    said = [popen.communicate(timeout=30)[0].strip() for popen in ending]
    assert sorted(said) == sorted(["[]", f"[{orphan}]"]), said
    assert gone(orphan)
    assert read_pids(Path(spec.root) / "sigterm") == [orphan], "SIGTERM was sent more than once"


def test_runs_whose_owner_is_alive_are_left_alone(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE]))
    first = start(spec, "x", env)
    try:
        assert cleanup_leftovers(spec.root) == []
        second = start(spec, "x", env)
        try:
            assert first.alive() and second.alive()
        finally:
            second.stop()
    finally:
        first.stop()


# -- devenv up (run_foreground) -------------------------------------------------------------


def test_run_foreground_streams_the_log_and_returns_the_exit_code(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "import time, sys; print('up'); time.sleep(0.2); print('working'); sys.exit(3)"
    spec, env = launch(process_toml(["python", "-c", code]))
    out = io.StringIO()
    assert run_up(spec, ["x"], env, out=out) == 3
    assert out.getvalue() == "x | up\nx | working\n"
    assert "devenv: x ready after" in capsys.readouterr().err


def test_sigterm_to_devenv_up_stops_the_tree_and_returns_130(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE], stop_timeout=2))
    out = io.StringIO()
    disposition = signal.getsignal(signal.SIGTERM)

    def interrupt_when_ready() -> None:
        wait_for(lambda: "up" in out.getvalue(), timeout=10, what="the log to stream")
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=interrupt_when_ready, daemon=True)
    thread.start()
    began = time.monotonic()
    assert run_up(spec, ["x"], env, out=out) == 130
    thread.join(timeout=5)
    assert time.monotonic() - began < 5
    assert signal.getsignal(signal.SIGTERM) == disposition


# -- a real Dramatiq worker ------------------------------------------------------------------

DRAMATIQ_APP = """\
import os
import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

dramatiq.set_broker(RabbitmqBroker(url=os.environ["RABBITMQ_URL"]))


@dramatiq.actor(queue_name=os.environ["DEMO_QUEUE"])
def noop():
    pass
"""


def test_a_real_dramatiq_worker_is_ready_on_its_consumer_and_stops_gracefully(launch: Launch) -> None:
    require_broker()
    import pika

    queue = f"devenv-test-{uuid.uuid4().hex}"
    command = [HOST_PYTHON, "-m", "dramatiq", "demo_app", "--processes", "1", "--threads", "1"]
    spec, env = launch(
        process_toml(
            [*command, "--worker-shutdown-timeout", "1000"],
            ready=f'needs = ["rabbitmq"]\nready = {{ amqp_queue = "{queue}", consumers = 1 }}',
            start_timeout=20,
            stop_timeout=5,
        ),
        files={"lib-a/src/demo_app.py": DRAMATIQ_APP},
    )
    try:
        handle = start(spec, "x", env, overrides={"DEMO_QUEUE": queue})
        workers = psutil.Process(handle.pid).children(recursive=True)
        assert workers, "dramatiq forks its worker processes"
        began = time.monotonic()
        code = handle.stop()
        # SIGTERM to the main process only: a graceful stop (exit 0), no "Killing worker
        # process" from a second SIGTERM as killpg(SIGTERM) would cause.
        assert code == 0, handle.tail()
        assert time.monotonic() - began < 5
        assert "Killing worker process" not in handle.read_log()
        assert [w.pid for w in workers if not gone(w.pid)] == []
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(queue=name)
        connection.close()


# -- readiness that tells the truth ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


LISTENER = """\
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
time.sleep(float(sys.argv[2]))
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""


@pytest.fixture
def other_program(tmp_path: Path) -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """Start a listener that is not part of any launched tree (another program)."""
    started: list[subprocess.Popen[bytes]] = []

    def listen(port: int) -> subprocess.Popen[bytes]:
        script = tmp_path / "other.py"
        script.write_text(LISTENER)
        process = subprocess.Popen([HOST_PYTHON, str(script), str(port), "0"], stdout=subprocess.PIPE)
        started.append(process)
        assert process.stdout is not None and process.stdout.readline() == b"listening\n"
        return process

    yield listen
    for process in started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_tcp_probe_names_the_program_that_already_holds_the_port(
    launch: Launch, other_program: Callable[[int], subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    holder = other_program(port)
    spec, env = launch(
        process_toml(
            ["python", "listener.py", str(port), "0"], ready=f'ready = {{ tcp = "127.0.0.1:{port}" }}'
        ),
        files={"listener.py": LISTENER},
    )
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    message = str(caught.value)
    assert time.monotonic() - began < AT_ONCE, "fail at once, not after start_timeout"
    assert f"127.0.0.1:{port} is already in use by pid {holder.pid} ({HOST_PYTHON} " in message
    assert "other.py" in message


def test_a_tcp_probe_passes_only_when_the_launched_tree_listens(launch: Launch) -> None:
    port = free_port()
    spec, env = launch(
        process_toml(
            ["python", "listener.py", str(port), "0.4"], ready=f'ready = {{ tcp = "127.0.0.1:{port}" }}'
        ),
        files={"listener.py": LISTENER},
    )
    with start(spec, "x", env) as handle:
        assert handle.ready_after is not None and handle.ready_after >= 0.4
        assert "listening" in handle.read_log(handle.log_offset)
    assert gone(handle.pid)


def test_a_consumer_another_run_starts_at_the_same_moment_does_not_count(launch: Launch) -> None:
    """The launched process never consumes; another program's consumer appears right after the
    launch. Counting consumers alone called that "ready"."""
    require_broker()
    import pika

    queue = f"devenv-test-{uuid.uuid4().hex}"
    spec, env = launch(
        process_toml(
            ["python", "-c", "import time; time.sleep(60)"],
            ready=f'needs = ["rabbitmq"]\nready = {{ amqp_queue = "{queue}" }}',
            start_timeout=2,
        )
    )
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    channel.queue_declare(queue=queue)
    foreign = threading.Event()

    def consume_soon() -> None:
        other = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        wait_for(lambda: bool(marked_tree(spec.root)), timeout=10, what="the launch")
        other.channel().basic_consume(queue=queue, on_message_callback=lambda ch, m, p, b: None)
        foreign.set()
        while foreign.is_set():
            other.process_data_events(time_limit=0.05)
        other.close()

    thread = threading.Thread(target=consume_soon, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProcessError) as caught:
            start(spec, "x", env)
        assert foreign.is_set(), "the foreign consumer should have appeared during the wait"
        assert "the launched processes hold 0 broker connection(s)" in str(caught.value)
    finally:
        foreign.clear()
        thread.join(timeout=5)
        channel.queue_delete(queue=queue)
        connection.close()


def marked_tree(root: str) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("DEVENV_ROOT") == root and "DEVENV_RUN_ID" in proc.environ():
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


# -- stop: a daemon that leaves everything behind -----------------------------------------------

DAEMON = """\
import os, sys, time
# The classic double fork: the middle process starts a new session, forks the daemon and
# exits at once; the daemon execs with an empty environment, so no marker names it.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["sleep", "300"], {})
    os._exit(0)
print("up", flush=True)
time.sleep(60)
"""


def test_a_double_forking_daemon_that_clears_its_environment_is_stopped(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "daemon.py"], stop_timeout=2), files={"daemon.py": DAEMON})
    handle = start(spec, "x", env)

    def daemon() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["sleep", "300"] and os.getsid(p.pid) != os.getsid(0)
        ]

    wait_for(lambda: bool(daemon()), timeout=5, what="the daemon")
    (sleeper,) = daemon()
    try:
        assert sleeper.environ() == {}
        assert os.getsid(sleeper.pid) not in (handle.pid, os.getsid(0))
        handle.stop()
        assert gone(sleeper.pid), "the daemon outlived the stop"
    finally:
        with contextlib.suppress(psutil.Error):
            sleeper.kill()


# -- the handle --------------------------------------------------------------------------------


def test_restart_gives_a_new_process_and_log_and_the_handle_is_a_context_manager(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE]))
    with start(spec, "x", env) as handle:
        first_pid, first_log, first_run = handle.pid, handle.log_path, handle.run_id
        assert handle.restart() is handle
        assert gone(first_pid)
        assert (handle.pid, handle.log_path) != (first_pid, first_log) and handle.run_id != first_run
        assert handle.alive() and handle.read_log(handle.log_offset) == "up\n"
    assert gone(handle.pid) and handle.stopped


def test_the_probe_s_pika_warnings_stay_out_of_captured_logs(
    launch: Launch, caplog: pytest.LogCaptureFixture
) -> None:
    require_broker()
    spec, env = launch(
        process_toml(
            ["python", "-c", "import time; time.sleep(60)"],
            ready=f'needs = ["rabbitmq"]\nready = {{ amqp_queue = "devenv-test-{uuid.uuid4().hex}" }}',
            start_timeout=0.5,
        )
    )
    with caplog.at_level("DEBUG"), pytest.raises(ProcessError, match="does not exist yet"):
        start(spec, "x", env)
    chatter = [r.getMessage() for r in caplog.records if r.name.startswith("pika")]
    assert not chatter, chatter[:3]


# -- devenv up [NAME...] -----------------------------------------------------------------------

TWO = """\
[processes.a]
command = ["python", "-c", "import sys, time; print('a', sys.argv[1:], flush=True); time.sleep(60)"]
ready = {{ log = "^a" }}
stop_timeout = 2

[processes.b]
command = ["python", "-c", "{b}"]
needs = ["a"]
ready = {{ log = "^b" }}
stop_timeout = 2
{extra}
"""


def test_up_starts_what_a_process_needs_first_and_prefixes_each_line(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    b = "import sys, time; print('b', sys.argv[1:], flush=True); time.sleep(0.3); sys.exit(3)"
    spec, env = launch(TWO.format(b=b, extra=""))
    out = io.StringIO()
    assert run_up(spec, ["b"], env, out=out, extra_args=["--watch"]) == 3
    err = capsys.readouterr().err
    assert err.index("devenv: a ready after") < err.index("devenv: b ready after")
    assert out.getvalue().splitlines()[:2] == ["a | a []", "b | b ['--watch']"]


def test_a_crash_after_ready_is_reported_at_once_and_the_others_are_stopped(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    b = "import sys, time; print('b', flush=True); time.sleep(0.3); print('boom', flush=True); sys.exit(3)"
    spec, env = launch(TWO.format(b=b, extra=""))
    out = io.StringIO()
    began = time.monotonic()
    assert run_up(spec, [], env, out=out) == 3
    assert time.monotonic() - began < 5
    err = capsys.readouterr().err
    assert (
        "devenv: b (pid " in err
        and "exited with code 3 after it was ready: a failure code of the program's own; see its log; stopping the others"
        in err
    )
    assert "--- last lines of its log ---\nb\nboom\n--- end of log ---" in err
    (record,) = [line for line in out.getvalue().splitlines() if line.startswith("a |")]
    assert record == "a | a []"
    assert not marked_tree(spec.root), "a must be stopped after b crashed"


def test_restart_on_failure_restarts_with_backoff_then_reports(
    launch: Launch, capsys: pytest.CaptureFixture[str]
) -> None:
    # First run: crash right after ready. Second run: stay up 0.3 s, then exit 0.
    b = (
        "import os, sys, time; print('b', flush=True); first = not os.path.exists('ran'); "
        "open('ran', 'a').close(); time.sleep(0.2 if first else 0.3); sys.exit(1 if first else 0)"
    )
    spec, env = launch(TWO.format(b=b, extra='restart = "on-failure"'))
    assert run_up(spec, ["b"], env, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "b exited with code 1 (it failed" in err and "restart 1 of 5 in 0.5 s" in err
    assert "devenv: b ready again after" in err
    # Exit 0 is no failure to restart from, but a long-running process must stay up.
    assert "exited with code 0 after it was ready (after 1 restart(s))" in err


def test_up_refuses_arguments_for_several_processes(launch: Launch) -> None:
    spec, env = launch(TWO.format(b="print('b')", extra=""))
    with pytest.raises(UsageError, match="arguments after -- go to one process"):
        run_up(spec, ["a", "b"], env, out=io.StringIO(), extra_args=["--x"])


def test_two_runs_of_one_process_write_their_own_logs(launch: Launch) -> None:
    spec, env = launch(process_toml(["python", "-c", SERVE]))
    with start(spec, "x", env) as one, start(spec, "x", env) as two:
        assert one.log_path != two.log_path
        assert "run id: " + two.run_id not in Path(one.log_path).read_text()
        latest = Path(spec.root, ".devenv", "logs", "x.log")
        assert latest.resolve() == Path(two.log_path)
        assert stat.S_IMODE(os.stat(two.log_path).st_mode) == 0o600


def test_old_run_logs_are_pruned(launch: Launch) -> None:

    spec, env = launch(process_toml(["python", "-c", SERVE]))
    logs = Path(spec.root, ".devenv", "logs")
    logs.mkdir(parents=True, exist_ok=True)
    old = [logs / f"x-{n:032x}.log" for n in range(KEEP_LOGS + 3)]
    for index, path in enumerate(old):
        path.write_text("old\n")
        os.utime(path, (1000 + index, 1000 + index))
    (logs / "xy-notmine.log").write_text("kept\n")
    with start(spec, "x", env) as handle:
        runs = sorted(p.name for p in logs.glob("x-*.log"))
        assert len(runs) == KEEP_LOGS
        assert Path(handle.log_path).name in runs and old[-1].name in runs and old[0].name not in runs
        assert (logs / "xy-notmine.log").exists()


def test_a_process_that_stayed_up_long_enough_gets_its_restarts_back(
    launch: Launch, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv import up

    monkeypatch.setattr(up, "RESTART_DELAYS", (0.01,))
    monkeypatch.setattr(up, "STABLE_AFTER", 0.2)
    # Runs 1-3 crash after 0.4 s (longer than STABLE_AFTER), run 4 exits 0.
    b = (
        "import sys, time; print('b', flush=True); runs = open('runs', 'a+'); runs.write('x'); "
        "runs.seek(0); n = len(runs.read()); runs.close(); time.sleep(0.4); sys.exit(1 if n < 4 else 0)"
    )
    spec, env = launch(TWO.format(b=b, extra='restart = "on-failure"'))
    assert run_up(spec, ["b"], env, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("restart 1 of 1") == 3, err
    assert "exited with code 0 after it was ready" in err


def test_prefixes_are_coloured_on_request_and_never_with_no_color(
    launch: Launch, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = "import sys, time; print('b', flush=True); time.sleep(0.2); sys.exit(3)"
    spec, env = launch(TWO.format(b=b, extra=""))
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    run_up(spec, ["b"], env, out=out)
    assert "\x1b[33mb |\x1b[0m b" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    run_up(spec, ["b"], env, out=out)
    assert "\x1b[" not in out.getvalue() and "b | b" in out.getvalue()


@pytest.mark.parametrize("value", ["0", "false"])
def test_force_color_0_turns_colour_off(launch: Launch, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # nox and Node's tools read FORCE_COLOR=0 as "no colour"; it used to force colour on.
    b = "import sys, time; print('b', flush=True); time.sleep(0.2); sys.exit(3)"
    spec, env = launch(TWO.format(b=b, extra=""))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", value)
    out = _Terminal()
    run_up(spec, ["b"], env, out=out)
    assert "\x1b[" not in out.getvalue() and "b | b" in out.getvalue()


class _Terminal(io.StringIO):
    """Output that says it is a terminal, where colour would be on by default."""

    def isatty(self) -> bool:
        return True
