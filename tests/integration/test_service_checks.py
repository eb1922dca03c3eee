"""Service checks that prove the service, not the port: real Redis, PostgreSQL, RabbitMQ,
HTTP servers and check commands on loopback.

Each finding of issue 16 is here: Celery's `//` vhost, URLs without a port, a `tcp` check
that says "reachable" for a database that does not exist or a Redis that refuses the
password, hints that name files the project does not have, and start failures whose reason
was only in a log.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.connect import probe_tcp, tcp_address
from devenv.errors import ServiceError
from devenv.services import CommandContext, check_service, ensure_service, probe_service
from devenv.spec import ServiceSpec
from tests.support.broker import require_broker
from tests.support.canonical import root_env
from tests.support.leftovers import forbid_leftovers
from tests.support.projects import DEVENV, Project, hermetic_env
from tests.support.servers import (
    POSTGRES_ADDRESS,
    free_port,
    postgres_database,
    private_postgres,
    private_redis,
    require_postgres,
    require_redis,
)

HOST_PYTHON = sys.executable
#: "At once": well below the 10 s deadlines given, far above a loaded machine's round trip.
AT_ONCE = 5.0


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


def service(check: str, url: str = "${SERVICE_URL}", **settings: object) -> ServiceSpec:
    return ServiceSpec(name="svc", check=check, url=url, **settings)  # type: ignore[arg-type]


def refusal(spec: ServiceSpec, url: str, *, within: float = 10) -> tuple[str, float]:
    """Check `spec` with SERVICE_URL = `url`, expecting ServiceError: (message, seconds taken)."""
    began = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        check_service(spec, {"SERVICE_URL": url}, deadline=began + within)
    return str(caught.value), time.monotonic() - began


def passes(spec: ServiceSpec, url: str) -> None:
    check_service(spec, {"SERVICE_URL": url}, deadline=time.monotonic())


# -- amqp: the vhost as kombu and Celery read it ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("amqp://guest:guest@127.0.0.1:5672//", id="celery-default-double-slash"),
        pytest.param("amqp://guest:guest@127.0.0.1:5672/", id="bare-trailing-slash"),
        pytest.param("amqp://guest:guest@127.0.0.1:5672", id="no-path"),
        pytest.param("amqp://guest:guest@127.0.0.1:5672/%2F", id="percent-encoded"),
        pytest.param("amqp://guest:guest@127.0.0.1//", id="no-port"),
    ],
)
def test_celery_s_broker_urls_reach_the_default_vhost(url: str) -> None:
    require_broker()
    passes(service("amqp"), url)


def test_a_vhost_that_does_not_exist_is_named() -> None:
    require_broker()
    message, elapsed = refusal(service("amqp"), "amqp://guest:guest@127.0.0.1:5672/devenv_t_novhost")
    assert elapsed < AT_ONCE, elapsed
    assert "vhost 'devenv_t_novhost' does not exist or guest may not use it" in message


# -- tcp: any URL, its scheme's default port ----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        pytest.param("postgresql://u:p@127.0.0.1/mydb", ("127.0.0.1", 5432), id="postgresql"),
        pytest.param("postgres:///acme_shop", ("localhost", 5432), id="cookiecutter-django-no-host"),
        pytest.param("redis://127.0.0.1", ("127.0.0.1", 6379), id="redis"),
        pytest.param("rediss://cache.internal/0", ("cache.internal", 6380), id="rediss"),
        pytest.param("amqps://h/vh", ("h", 5671), id="amqps"),
        pytest.param("mysql://u:p@db/app", ("db", 3306), id="mysql"),
        pytest.param("http://127.0.0.1/health", ("127.0.0.1", 80), id="http"),
        pytest.param("https://example.test/", ("example.test", 443), id="https"),
        pytest.param("127.0.0.1:8000", ("127.0.0.1", 8000), id="host-port"),
        pytest.param("[::1]:8000", ("::1", 8000), id="v6-host-port"),
    ],
)
def test_tcp_takes_any_url_with_its_scheme_s_default_port(url: str, address: tuple[str, int]) -> None:
    assert tcp_address(url) == address


@pytest.mark.parametrize(
    ("url", "server"),
    [
        pytest.param("postgresql://u:p@127.0.0.1/mydb", "PostgreSQL", id="postgresql"),
        pytest.param("postgres:///acme_shop", "PostgreSQL", id="cookiecutter-django"),
        pytest.param("redis://127.0.0.1", "Redis", id="redis"),
    ],
)
def test_tcp_reaches_the_real_servers_behind_portless_urls(url: str, server: str) -> None:
    if server == "Redis":
        require_redis()
    else:
        require_postgres()
    passes(service("tcp"), url)


def test_tcp_hint_names_only_the_real_cause() -> None:
    message, _ = refusal(service("tcp"), "foo://u:s3cret@127.0.0.1/x", within=0.1)
    assert "no port in 'foo://u:***@127.0.0.1/x', and foo:// has no default port; add :PORT" in message
    assert "percent-encoded" not in message  # the red herring the old hint gave
    assert "s3cret" not in message
    message, _ = refusal(service("tcp"), "amqp://u:pa/ss@127.0.0.1/x", within=0.1)
    assert "is not a number; a password holding / ? # @ or : must be percent-encoded" in message
    assert "pa/ss" not in message


# -- redis: PING with the URL's password and database --------------------------------------------


def test_redis_ping_passes_on_the_shared_server() -> None:
    passes(service("redis"), require_redis())


def test_a_redis_that_refuses_the_password_is_named_while_tcp_says_reachable() -> None:
    with private_redis() as server:
        wrong = f"redis://:not-{server.password}@127.0.0.1:{server.port}/0"
        assert probe_tcp(wrong, 2).reachable  # what `tcp` proved: nothing about the login
        message, elapsed = refusal(service("redis"), wrong)
        assert elapsed < AT_ONCE, "a wrong password is not retried"
        assert "authentication failed: the user or password is wrong" in message
        assert "Redis refused the login" in message
        assert f"not-{server.password}" not in message and "redis://:***@127.0.0.1" in message
        assert "check the user and password in SERVICE_URL" in message
        missing = f"redis://127.0.0.1:{server.port}/0"
        assert "Redis refused the login" in refusal(service("redis"), missing)[0]
        passes(service("redis"), f"redis://:{server.password}@127.0.0.1:{server.port}/1")


def test_a_redis_database_the_server_does_not_have_is_named() -> None:
    require_redis()
    message, elapsed = refusal(service("redis"), "redis://127.0.0.1:6379/99")
    assert elapsed < AT_ONCE
    assert "Redis has no database 99" in message
    assert "use a database number the server has" in message
    assert probe_tcp("redis://127.0.0.1:6379/99", 2).reachable


def test_redis_that_is_down_is_refused_and_retried_until_the_deadline() -> None:
    message, elapsed = refusal(service("redis"), f"redis://127.0.0.1:{free_port()}/9", within=0.6)
    assert 0.4 <= elapsed < AT_ONCE
    assert "connection refused" in message


# -- postgres: connect with the URL's credentials and database ------------------------------------


def test_postgres_connects_to_a_database_that_exists() -> None:
    with postgres_database() as url:
        passes(service("postgres"), url)


def test_a_postgres_database_that_does_not_exist_is_named_with_the_fix() -> None:
    require_postgres()
    url = "postgresql://postgres@{}:{}/devenv_t_nope_does_not_exist".format(*POSTGRES_ADDRESS)
    assert probe_tcp(url, 2).reachable  # what `tcp` proved: a port, not the database
    message, elapsed = refusal(service("postgres"), url)
    assert elapsed < AT_ONCE
    assert "database 'devenv_t_nope_does_not_exist' does not exist" in message
    assert "createdb devenv_t_nope_does_not_exist" in message


NEEDS_POSTGRES = """\
[python]
venv = "{venv}"

[services.db]
check = "postgres"
url = "postgresql://postgres@127.0.0.1:5432/postgres"

[tasks.t]
command = ["true"]
needs = ["db"]
"""


def test_a_devenv_without_psycopg_says_how_to_add_it_to_itself_as_it_was_installed(
    tmp_path: Path, shared_venv: str
) -> None:
    # This devenv came from a folder (pip install [-e] .): the PyPI name would install another.
    project = Project.create(
        tmp_path / "proj", venv=shared_venv, spec=NEEDS_POSTGRES.format(venv=shared_venv)
    )
    project.sync()
    shadow = project.write("shadow/psycopg/__init__.py", "raise ImportError('not installed here')\n").parent
    result = project.devenv("task", "t", env=hermetic_env(PYTHONPATH=str(shadow.parent)))
    assert result.returncode == 2, result.stderr
    repo = Path(__file__).resolve().parents[2]
    python = Path(DEVENV).parent / "python"
    assert (
        f"install devenv with its postgres extra, which brings psycopg ({python} -m pip install "
        in result.stderr
    )
    assert f"{repo}[postgres]" in result.stderr and "pip install 'devenv[postgres]'" not in result.stderr
    # doctor's fix is that command, not an editor on envspec.toml.
    doctor = project.devenv("doctor", env=hermetic_env(PYTHONPATH=str(shadow.parent)))
    (line,) = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL  service db")]
    assert line.endswith(
        f"(fix: {python} -m pip install {'-e ' if ' -e ' in result.stderr else ''}'{repo}[postgres]')"
    )


def test_postgres_without_a_host_goes_through_the_local_socket() -> None:
    require_postgres()
    message, _ = refusal(service("postgres"), "postgres://postgres@/devenv_t_nope_socket")
    assert "database 'devenv_t_nope_socket' does not exist" in message


def test_a_postgres_role_that_does_not_exist_is_named_with_the_fix() -> None:
    require_postgres()
    url = "postgresql://devenv_t_nobody@{}:{}/postgres".format(*POSTGRES_ADDRESS)
    message, _ = refusal(service("postgres"), url)
    assert "no such role 'devenv_t_nobody'" in message
    assert "createuser devenv_t_nobody" in message


def test_a_postgres_password_refused_is_named_and_masked() -> None:
    with private_postgres() as server:
        wrong = f"postgresql://postgres:bad-{server.password}@127.0.0.1:{server.port}/postgres"
        message, elapsed = refusal(service("postgres"), wrong)
        assert elapsed < AT_ONCE
        assert "password authentication failed" in message
        assert "check the user and password in SERVICE_URL" in message
        assert f"bad-{server.password}" not in message
        passes(
            service("postgres"), f"postgresql://postgres:{server.password}@127.0.0.1:{server.port}/postgres"
        )


# -- http and command --------------------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    code = 200
    body = b"ok"

    def do_GET(self) -> None:
        self.send_response(self.code)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[int, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def test_http_check_says_what_came_back(web: tuple[int, type[_Answer]]) -> None:
    port, handler = web
    url = f"http://127.0.0.1:{port}/health"
    passes(service("http"), url)
    handler.code, handler.body = 503, b"database unavailable: password hunter2-secret rejected"
    message, elapsed = refusal(service("http"), url, within=0.5)
    assert 0.3 <= elapsed < AT_ONCE, "a 503 is retried: the server may still be starting"
    assert "HTTP 503 Service Unavailable (want 2xx or 3xx): 'database unavailable: password" in message
    handler.code = 302
    passes(service("http"), url)
    message, _ = refusal(service("http", status=(200,)), url, within=0.1)
    assert "HTTP 302 Found (want 200)" in message


def test_http_check_masks_the_secrets_of_the_environment(web: tuple[int, type[_Answer]]) -> None:
    port, handler = web
    handler.code, handler.body = 500, b"cannot log in with token sk-live-0123456789abcdef"
    spec = service("http")
    with pytest.raises(ServiceError) as caught:
        check_service(
            spec,
            {"SERVICE_URL": f"http://127.0.0.1:{port}/", "API_TOKEN": "sk-live-0123456789abcdef"},
            deadline=time.monotonic(),
        )
    assert "sk-live-0123456789abcdef" not in str(caught.value)
    assert "cannot log in with token ***" in str(caught.value)


def test_command_check_runs_in_the_launch_environment(tmp_path: Path) -> None:
    script = "import os, sys; print('db is', os.environ['STATE']); sys.exit(0 if os.environ['STATE'] == 'up' else 3)"
    spec = ServiceSpec(name="db", check="command", command=(HOST_PYTHON, "-c", script))
    up = CommandContext(env={**os.environ, "STATE": "up"}, root=str(tmp_path))
    assert probe_service(spec, "", context=up).reachable
    down = CommandContext(env={**os.environ, "STATE": "down"}, root=str(tmp_path))
    status = probe_service(spec, "", context=down)
    assert (status.reachable, status.cause, status.detail) == (False, "failed", "exit code 3: db is down")
    with pytest.raises(ServiceError) as caught:
        check_service(spec, {}, deadline=time.monotonic(), context=down)
    assert "the check command failed (exit code 3: db is down)" in str(caught.value)
    assert "fix [services.db].command" in str(caught.value)


def test_command_check_without_a_context_gets_the_declared_keys_and_no_undeclared_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exit 3 when the caller's undeclared key reached the check, 4 when a declared one did not.
    script = (
        "import os, sys; print(sorted(k for k in os.environ if k.startswith('W14_')));"
        "sys.exit(3 if 'W14_LEAK' in os.environ else 4 if os.environ.get('W14_DECLARED') != 'yes' else 0)"
    )
    spec = ServiceSpec(name="db", check="command", command=(HOST_PYTHON, "-c", script))
    monkeypatch.setenv("W14_LEAK", "from the caller's shell")
    variables = {"DEVENV_ROOT": str(tmp_path), "W14_DECLARED": "yes"}
    status = probe_service(spec, "", variables=variables)
    assert status.reachable, status.detail
    check_service(spec, variables, deadline=time.monotonic())


# -- messages name only what the project has; start failures say why ------------------------------


def test_hints_never_name_dotenv_files_the_project_may_not_have() -> None:
    require_broker()
    for url in ("amqp://guest:wrong-pw@127.0.0.1:5672/%2F", "amqp://guest:guest@127.0.0.1:5672/devenv_t_x"):
        message, _ = refusal(service("amqp"), url)
        assert ".env" not in message
        assert "`devenv explain SERVICE_URL` shows where it is set" in message


def test_a_failing_start_command_shows_its_last_lines_masked(tmp_path: Path) -> None:
    port = free_port()
    say = (
        "import os, sys; print('checking the broker with token', os.environ['BROKER_TOKEN']);"
        "print('RabbitMQ is not installed; run scripts/install-rabbitmq', file=sys.stderr); sys.exit(1)"
    )
    spec = ServiceSpec(
        name="rabbitmq", check="tcp", url=f"127.0.0.1:{port}", start=("python", "-c", say), timeout=5
    )
    with pytest.raises(ServiceError) as caught:
        ensure_service(spec, root_env(tmp_path, BROKER_TOKEN="sk-live-abcdef0123456789"))
    message = str(caught.value)
    assert "exited with code 1" in message
    assert "RabbitMQ is not installed; run scripts/install-rabbitmq" in message
    assert "checking the broker with token ***" in message
    assert "sk-live-abcdef0123456789" not in message
    assert "service-rabbitmq.log" in message


@pytest.mark.parametrize("command", [["print-env"], ["run", "--", "true"]], ids=["print-env", "run"])
def test_the_protocol_clients_stay_off_the_print_env_and_run_path(
    project: Project, command: list[str]
) -> None:
    project.sync()
    result = subprocess.run(
        [HOST_PYTHON, "-X", "importtime", DEVENV, *command],
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert "os" in imported or "posixpath" in imported, result.stderr[:500]
    assert not imported & {"redis", "psycopg", "pika", "psutil", "http", "socket"}
