"""ops_core: DATABASE_URL parsing, the task store (also across processes), a task's execution,
the worker module's import contract and the `python -m ops_core` CLI (with a real RabbitMQ)."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ops_core import ConfigError, TaskStore, UnknownTaskError
from ops_core.config import mask_url, queue_name, sqlite_path
from ops_core.tasks.execution import execute

from agentkit import Agent
from tests.support.broker import require_broker

REPO = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join(str(REPO / folder) for folder in ("ops-core/src", "agentkit/src"))
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
NO_KEY = "no LLM key configured: set LLM_API_KEY in .env (or use --provider echo)"


# --- DATABASE_URL and other settings -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///tasks.db", "tasks.db"),
        ("sqlite:///.devenv/tasks.db", ".devenv/tasks.db"),
        ("sqlite:////var/tmp/tasks.db", "/var/tmp/tasks.db"),
        ("sqlite:///dir%20with%20space/t.db", "dir with space/t.db"),
    ],
    ids=["relative", "relative-dir", "absolute", "percent-encoded"],
)
def test_sqlite_urls_become_paths(url: str, path: str) -> None:
    assert sqlite_path(url) == Path(path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://bob:s3cret@db/x", "unsupported DATABASE_URL 'postgresql://bob:***@db/x'"),
        ("tasks.db", "unsupported DATABASE_URL 'tasks.db'"),
        ("sqlite://", "has no file path"),
        ("sqlite:///", "has no file path"),
        ("sqlite:///:memory:", "cannot be shared"),
    ],
    ids=["postgres", "bare-path", "no-path", "root-only", "memory"],
)
def test_bad_database_urls_are_clear_errors(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        sqlite_path(url)
    assert expected in str(excinfo.value)
    assert "s3cret" not in str(excinfo.value)


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("amqp://guest:pw@127.0.0.1:5672/%2F") == "amqp://guest:***@127.0.0.1:5672/%2F"
    assert mask_url("amqp://127.0.0.1/") == "amqp://127.0.0.1/"


def test_queue_name_default_override_and_validation() -> None:
    assert queue_name({}) == "ops_core"
    assert queue_name({"OPS_CORE_QUEUE": "test.q-1"}) == "test.q-1"
    with pytest.raises(ConfigError, match="not a valid queue name"):
        queue_name({"OPS_CORE_QUEUE": "9 bad"})


# --- the store ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    """A fresh store in a folder that does not exist yet (the store creates it)."""
    return TaskStore(tmp_path / "data" / "tasks.db")


def test_store_create_get_and_finish(store: TaskStore) -> None:
    task = store.create(prompt="hi", provider="echo")
    assert re.fullmatch(r"[0-9a-f]{32}", task.id)
    assert (task.status, task.runs, task.result, task.error) == ("PENDING", 0, None, None)
    assert store.get(task.id) == task

    running = store.start_run(task.id)
    assert (running.status, running.runs) == ("RUNNING", 1)
    done = store.complete(task.id, "answer")
    assert (done.status, done.result, done.finished) == ("COMPLETED", "answer", True)
    assert done.updated_at >= done.created_at

    other = store.create(prompt="x", provider="llm")
    failed = store.fail(other.id, "boom")
    assert (failed.status, failed.error, failed.result) == ("FAILED", "boom", None)


def test_store_list_is_newest_first_and_limited(store: TaskStore) -> None:
    ids = [store.create(prompt=str(n), provider="echo").id for n in range(3)]
    assert [t.id for t in store.list()] == ids[::-1]
    assert [t.id for t in store.list(limit=2)] == ids[:0:-1]


def test_store_unknown_id(store: TaskStore) -> None:
    for call in (store.get, store.start_run, lambda i: store.complete(i, "r")):
        with pytest.raises(UnknownTaskError, match=str(store.path)):
            call("nope")


def test_store_from_environ_reads_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    assert TaskStore.from_environ({"DATABASE_URL": url}).path == tmp_path / "env.db"
    with pytest.raises(ConfigError, match=r"DATABASE_URL is not set: .*devenv.*\.env"):
        TaskStore.from_environ({})


# Each child blocks on stdin until the parent has started them all, so they really race.
_INCREMENT = """
import sys
from ops_core import TaskStore
path, task_id, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdin.read(1)
store = TaskStore(path)
for _ in range(times):
    store.start_run(task_id)
"""
_CREATE = """
import sys
from ops_core import TaskStore
path, count = sys.argv[1], int(sys.argv[2])
sys.stdin.read(1)
store = TaskStore(path)
for n in range(count):
    store.create(prompt=f"p{n}", provider="echo")
"""


def _run_together(code: str, args: list[str], processes: int, cwd: Path) -> None:
    """Start `processes` children on one start signal and check they all succeed."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": PYTHONPATH}
    logs = [cwd / f"child-{n}.log" for n in range(processes)]
    children = []
    try:
        for log in logs:
            with log.open("w") as stderr:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", code, *args],
                        env=env,
                        cwd=cwd,
                        stdin=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                    )
                )
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go")
            child.stdin.close()
        codes = [child.wait(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert codes == [0] * processes, [log.read_text() for log in logs]


def test_concurrent_runs_from_several_processes_are_all_counted(store: TaskStore, tmp_path: Path) -> None:
    task = store.create(prompt="hi", provider="echo")
    _run_together(_INCREMENT, [str(store.path), task.id, "50"], 4, tmp_path)
    assert store.get(task.id).runs == 200


def test_several_processes_can_create_a_fresh_database_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "tasks.db"
    _run_together(_CREATE, [str(path), "25"], 4, tmp_path)
    assert len(TaskStore(path).list()) == 100


# --- executing a task -------------------------------------------------------------------------


def test_execute_echo_completes_once(store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    task = store.create(prompt="hello", provider="echo")
    with caplog.at_level(logging.INFO, logger="ops_core.tasks"):
        done = execute(task.id, store, {})
    assert (done.status, done.result, done.runs) == ("COMPLETED", "echo: hello", 1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(task.id in line for line in lines)
    assert "started" in lines[0] and "COMPLETED" in lines[1]


def test_execute_llm_without_key_fails_with_the_reason(store: TaskStore) -> None:
    task = store.create(prompt="hello", provider="llm")
    done = execute(task.id, store, {})
    assert (done.status, done.error, done.result, done.runs) == ("FAILED", NO_KEY, None, 1)


def test_execute_unknown_provider_fails_listing_the_known_ones(store: TaskStore) -> None:
    task = store.create(prompt="hello", provider="gpt")
    done = execute(task.id, store, {})
    assert done.status == "FAILED"
    assert done.error == "unknown provider 'gpt': known providers are echo, llm"


def test_execute_unexpected_error_still_ends_the_task(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Agent, prompt: str, environ: object = None) -> str:
        raise RuntimeError("provider bug")

    monkeypatch.setattr(Agent, "run", broken)
    task = store.create(prompt="hello", provider="echo")
    done = execute(task.id, store, {})
    assert (done.status, done.error) == ("FAILED", "unexpected RuntimeError: provider bug")


def test_execute_never_logs_the_key(store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"LLM_API_KEY": "sk-SECRET", "LLM_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    task = store.create(prompt="hello", provider="llm")
    with caplog.at_level(logging.DEBUG):
        done = execute(task.id, store, env)
    assert done.status == "FAILED" and "could not reach LLM" in (done.error or "")
    assert "sk-SECRET" not in caplog.text + (done.error or "")


def test_execute_does_not_rerun_a_finished_task(store: TaskStore) -> None:
    task = store.create(prompt="hello", provider="echo")
    execute(task.id, store, {})
    again = execute(task.id, store, {"LLM_API_KEY": "irrelevant"})
    # The redelivery is counted (so duplicates are visible) but the outcome is unchanged.
    assert (again.status, again.result, again.runs) == ("COMPLETED", "echo: hello", 2)


# --- subprocesses: the worker module and the CLI ----------------------------------------------


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An explicit environment for a child: only what ops_core needs, never the test's own."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": PYTHONPATH,
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli/tasks.db",
    }
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a Python child and capture its output."""
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ops_core ARGS` in its own environment."""
    return run(["-m", "ops_core", *args], child_env(tmp_path, **extra), tmp_path)


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    """The CLI's contract for errors: one line on stderr, no traceback."""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("ops_core: error: ")
    assert text in result.stderr


def test_worker_import_without_rabbitmq_url_says_how_to_fix(tmp_path: Path) -> None:
    result = run(["-c", "import ops_core.tasks.worker"], child_env(tmp_path), tmp_path)
    assert result.returncode == 1, result.stderr  # an uncaught error, as Python reports it
    last = result.stderr.strip().splitlines()[-1]
    assert "RABBITMQ_URL is not set" in last and "devenv" in last and ".env" in last


@pytest.mark.parametrize(("queue", "expected"), [(None, "ops_core"), ("q_test", "q_test")])
def test_worker_declares_one_actor_without_retries(tmp_path: Path, queue: str | None, expected: str) -> None:
    # Importing the worker does not connect: RabbitmqBroker declares queues lazily.
    code = (
        "import json, dramatiq, ops_core.tasks.worker as w\n"
        "b = dramatiq.get_broker()\n"
        "a = b.get_actor('run_task')\n"
        "print(json.dumps([b is w.broker, type(b).__name__,"
        " b.get_declared_actors() == {'run_task'}, a.queue_name, a.options.get('max_retries')]))\n"
    )
    extra = {"RABBITMQ_URL": RABBITMQ_URL}
    if queue is not None:
        extra["OPS_CORE_QUEUE"] = queue
    result = run(["-c", code], child_env(tmp_path, **extra), tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, "RabbitmqBroker", True, expected, 0]


@pytest.fixture
def cli_store(tmp_path: Path) -> TaskStore:
    """The store the CLI children use (same DATABASE_URL as `child_env`)."""
    return TaskStore(tmp_path / "cli" / "tasks.db")


def test_status_exit_codes(tmp_path: Path, cli_store: TaskStore) -> None:
    done = cli_store.create(prompt="a", provider="echo")
    cli_store.complete(done.id, "echo: a")
    failed = cli_store.create(prompt="b", provider="llm")
    cli_store.fail(failed.id, NO_KEY)
    pending = cli_store.create(prompt="c", provider="echo")

    ok = cli(tmp_path, "status", done.id)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "COMPLETED\necho: a\n", "")
    bad = cli(tmp_path, "status", failed.id)
    assert (bad.returncode, bad.stdout) == (1, f"FAILED\n{NO_KEY}\n")
    still = cli(tmp_path, "status", pending.id)
    assert (still.returncode, still.stdout) == (2, "PENDING\n")
    unknown = cli(tmp_path, "status", "nope")
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert_one_line_error(unknown, "no task 'nope'")


def test_status_wait_times_out_with_a_hint(tmp_path: Path, cli_store: TaskStore) -> None:
    task = cli_store.create(prompt="c", provider="echo")
    result = cli(tmp_path, "status", task.id, "--wait", "0.3")
    assert (result.returncode, result.stdout) == (2, "PENDING\n")
    assert_one_line_error(result, "still PENDING after 0.3 s: is a worker running")


def test_status_wait_returns_when_the_task_finishes(tmp_path: Path, cli_store: TaskStore) -> None:
    task = cli_store.create(prompt="c", provider="echo")
    waiter = subprocess.Popen(
        [sys.executable, "-m", "ops_core", "status", task.id, "--wait", "30"],
        env=child_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cli_store.start_run(task.id)
        cli_store.complete(task.id, "echo: c")
        stdout, stderr = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, stdout, stderr) == (0, "COMPLETED\necho: c\n", "")


def test_list_shows_newest_first(tmp_path: Path, cli_store: TaskStore) -> None:
    first = cli_store.create(prompt="first prompt", provider="echo")
    second = cli_store.create(prompt="second\nprompt", provider="llm")
    cli_store.fail(second.id, NO_KEY)
    result = cli(tmp_path, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [
        [second.id, "FAILED", "llm"],
        [first.id, "PENDING", "echo"],
    ]
    assert lines[0].endswith("second prompt")


def test_cli_config_errors_are_one_line(tmp_path: Path) -> None:
    missing = run(["-m", "ops_core", "list"], {"PYTHONPATH": PYTHONPATH}, tmp_path)
    assert missing.returncode == 3
    assert_one_line_error(missing, "DATABASE_URL is not set")
    other = cli(tmp_path, "list", DATABASE_URL="postgresql://u:hunter2@db/x")
    assert other.returncode == 3
    assert_one_line_error(other, "'postgresql://u:***@db/x'")
    no_broker = cli(tmp_path, "submit", "--provider", "echo", "hi")
    assert no_broker.returncode == 3
    assert_one_line_error(no_broker, "RABBITMQ_URL is not set")


def test_help_documents_commands_and_environment(tmp_path: Path) -> None:
    result = cli(tmp_path, "--help")
    assert result.returncode == 0
    for word in ("submit", "status", "list", "DATABASE_URL", "RABBITMQ_URL", "OPS_CORE_QUEUE"):
        assert word in result.stdout


def test_submit_to_an_unreachable_broker(tmp_path: Path, cli_store: TaskStore) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"amqp://guest:hunter2@127.0.0.1:{port}/%2F"
    result = cli(tmp_path, "submit", "--provider", "echo", "hi", RABBITMQ_URL=url)
    assert (result.returncode, result.stdout) == (3, "")
    assert_one_line_error(result, f"could not enqueue task on amqp://guest:***@127.0.0.1:{port}")
    assert "hunter2" not in result.stderr
    [task] = cli_store.list()
    assert task.status == "FAILED" and "could not enqueue" in (task.error or "")


# --- submit with the real broker ---------------------------------------------------------------


@pytest.fixture
def test_queue() -> Iterator[str]:
    """A queue name only this test uses; its three Dramatiq queues are deleted afterwards."""
    require_broker()
    import pika

    name = f"test_ops_core_{uuid.uuid4().hex[:12]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        for queue in (name, f"{name}.DQ", f"{name}.XQ"):
            connection.channel().queue_delete(queue)
    finally:
        connection.close()


def test_submit_stores_the_task_and_enqueues_it(
    tmp_path: Path, cli_store: TaskStore, test_queue: str
) -> None:
    import pika

    result = cli(
        tmp_path,
        "submit",
        "--provider",
        "echo",
        "hello broker",
        RABBITMQ_URL=RABBITMQ_URL,
        OPS_CORE_QUEUE=test_queue,
    )
    assert result.returncode == 0, result.stderr
    task_id = result.stdout.strip()
    assert result.stdout == task_id + "\n" and re.fullmatch(r"[0-9a-f]{32}", task_id)
    task = cli_store.get(task_id)
    assert (task.status, task.provider, task.prompt, task.runs) == (
        "PENDING",
        "echo",
        "hello broker",
        0,
    )

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        method, _properties, body = channel.basic_get(test_queue, auto_ack=True)
        assert method is not None, "submit did not put a message on the queue"
        message = json.loads(body)
        assert (message["actor_name"], message["queue_name"], message["args"]) == (
            "run_task",
            test_queue,
            [task_id],
        )
        assert channel.queue_declare(test_queue, passive=True).method.message_count == 0
    finally:
        connection.close()
