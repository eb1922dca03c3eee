"""Service checks against real sockets and the real RabbitMQ: classified causes, masked URLs.

Only loopback is ever contacted. A wrong password must fail at once (waiting does not fix
it), a closed port must fail within the deadline, and the password never appears.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devenv.errors import ServiceError
from devenv.masking import mask_url
from devenv.services import check_service, ensure_service, probe_service
from devenv.spec import ServiceSpec
from tests.support.broker import require_broker
from tests.support.canonical import root_env
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone, wait_for

HOST_PYTHON = sys.executable
PASSWORD = "s3cr3t-Pa55"
#: An upper bound for "at once, no retrying": well below the 10 s deadline those tests give.
AT_ONCE = 5.0


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


def amqp(url: str = "${RABBITMQ_URL}", **settings: object) -> ServiceSpec:
    return ServiceSpec(name="rabbitmq", check="amqp", url=url, **settings)  # type: ignore[arg-type]


def fail(service: ServiceSpec, url: str, *, within: float) -> tuple[str, float]:
    """Check `service` (url in RABBITMQ_URL) expecting ServiceError; (message, seconds taken)."""
    began = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        check_service(service, {"RABBITMQ_URL": url}, deadline=began + within)
    return str(caught.value), time.monotonic() - began


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def hang_up_server() -> Iterator[int]:
    """A loopback port that accepts connections and closes them at once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- mask_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"),
        ("amqp://u:p%40ss@host/vh?heartbeat=5", "amqp://u:***@host/vh?heartbeat=5"),
        ("amqp://user@host:5672/", "amqp://user@host:5672/"),
        ("amqp://host/", "amqp://host/"),
        ("amqp://u:p@ss@[::1:5672/", "amqp://u:***@[::1:5672/"),  # unparseable: regex fallback
    ],
    ids=["password", "escaped-password", "no-password", "no-user", "unparseable"],
)
def test_mask_url_hides_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


# -- amqp -----------------------------------------------------------------------------------


def test_closed_port_is_refused_within_the_deadline() -> None:
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:1/%2F"
    message, elapsed = fail(amqp(), url, within=0.6)
    assert 0.4 <= elapsed < AT_ONCE, elapsed  # retried until the deadline, not forever
    assert "service 'rabbitmq' at amqp://guest:***@127.0.0.1:1/%2F is unreachable" in message
    assert "connection refused" in message
    assert "point RABBITMQ_URL at a running one" in message
    assert PASSWORD not in message


def test_wrong_password_fails_at_once_naming_the_cause() -> None:
    require_broker()
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:5672/%2F"
    message, elapsed = fail(amqp(), url, within=10)
    assert elapsed < AT_ONCE, elapsed  # no retrying: waiting does not fix a password
    assert "amqp://guest:***@127.0.0.1:5672/%2F" in message
    assert "authentication failed" in message and "403 ACCESS_REFUSED" in message
    assert "check the user and password in RABBITMQ_URL" in message
    assert PASSWORD not in message


def test_missing_vhost_fails_at_once_naming_the_cause() -> None:
    require_broker()
    message, elapsed = fail(amqp(), "amqp://guest:guest@127.0.0.1:5672/no-such-vhost", within=10)
    assert elapsed < AT_ONCE, elapsed
    assert "vhost 'no-such-vhost' does not exist or guest may not use it" in message and "530" in message


def test_reachable_broker_passes() -> None:
    require_broker()
    began = time.monotonic()
    check_service(amqp(), {"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/%2F"}, deadline=began)
    assert time.monotonic() - began < AT_ONCE


def test_a_silent_server_is_a_timeout(silent_server: int) -> None:
    url = f"amqp://guest:{PASSWORD}@127.0.0.1:{silent_server}/%2F"
    message, elapsed = fail(amqp(), url, within=0.3)
    assert elapsed < AT_ONCE, elapsed  # one attempt, bounded by its stack_timeout (pika's own is 15 s)
    assert "timed out" in message
    assert PASSWORD not in message


def test_a_server_that_hangs_up_is_a_protocol_error(hang_up_server: int) -> None:
    message, elapsed = fail(amqp(), f"amqp://guest:guest@127.0.0.1:{hang_up_server}/%2F", within=10)
    assert elapsed < AT_ONCE, elapsed
    assert "does not speak the expected protocol" in message


def test_undefined_variable_in_the_url_is_named() -> None:
    with pytest.raises(Exception, match=r"\[services.rabbitmq\].url references \$\{RABBITMQ_URL\}"):
        check_service(amqp(), {}, deadline=time.monotonic())


# -- tcp and start commands -----------------------------------------------------------------


def test_tcp_check(silent_server: int) -> None:
    service = ServiceSpec(name="db", check="tcp", url=f"127.0.0.1:{silent_server}")
    assert probe_service(service, service.url).reachable
    closed = ServiceSpec(name="db", check="tcp", url="tcp://127.0.0.1:1")
    status = probe_service(closed, closed.url)
    assert (status.reachable, status.cause) == (False, "refused")


SERVER = """\
import os, socket, sys, time
time.sleep(0.3)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(8)
with open(sys.argv[2], "w") as f:
    f.write(str(os.getpid()))
while True:
    server.accept()[0].close()
"""


def test_ensure_service_runs_the_start_command_and_waits(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(SERVER)
    port = free_port()
    pid_file = tmp_path / "server.pid"
    service = ServiceSpec(
        name="fake",
        check="tcp",
        url="127.0.0.1:${FAKE_PORT}",
        start=("python", "server.py", str(port), str(pid_file)),
        timeout=5,
    )
    began = time.monotonic()
    ensure_service(service, root_env(tmp_path, FAKE_PORT=str(port)))
    try:
        assert 0.3 <= time.monotonic() - began < service.timeout
        assert probe_service(service, f"127.0.0.1:{port}").reachable
        log = (tmp_path / ".devenv" / "logs" / "service-fake.log").read_text()
        assert f"command: {os.path.dirname(HOST_PYTHON)}/python server.py" in log
    finally:
        # devenv reaps the service it started (a daemon thread waits for it), so the test
        # kills it and only watches it go: a psutil wait here would steal its exit status.
        server = int(pid_file.read_text())
        os.kill(server, signal.SIGKILL)
        wait_for(lambda: not psutil.pid_exists(server), timeout=5, what="devenv to reap the killed server")


LEAVES_IT_RUNNING = """\
import os, sys
from devenv.environment import CanonicalEnv
from devenv.services import ensure_service
from devenv.spec import ServiceSpec
root, port = sys.argv[1], sys.argv[2]
start = (sys.executable, "server.py", port, os.path.join(root, "server.pid"))
service = ServiceSpec(name="fake", check="tcp", url="127.0.0.1:" + port, start=start, timeout=5)
ensure_service(service, CanonicalEnv(root=root, fingerprint="test", variables={"DEVENV_ROOT": root}))
"""


def test_a_service_left_running_at_exit_gives_no_resource_warning(tmp_path: Path) -> None:
    # `devenv up` starts a broker and exits, leaving it running on purpose: Python must not
    # warn "subprocess N is still running" about it (as it does for a Popen it was dropped with).
    (tmp_path / "server.py").write_text(SERVER)
    port = free_port()
    result = subprocess.run(
        [HOST_PYTHON, "-W", "always", "-c", LEAVES_IT_RUNNING, str(tmp_path), str(port)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    server = int((tmp_path / "server.pid").read_text())
    try:
        assert result.returncode == 0, result.stderr
        assert "ResourceWarning" not in result.stderr, result.stderr
        assert not gone(server), "the service outlives the process that started it"
    finally:
        os.kill(server, signal.SIGKILL)


def test_a_failing_start_command_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceSpec(
        name="fake",
        check="tcp",
        url=f"127.0.0.1:{port}",
        start=("python", "-c", "import sys; print('no license'); sys.exit(4)"),
        timeout=5,
    )
    began = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        ensure_service(service, root_env(tmp_path))
    assert time.monotonic() - began < service.timeout, "the exit is reported at once, not at the timeout"
    assert "exited with code 4" in str(caught.value)
    assert "service-fake.log" in str(caught.value)
