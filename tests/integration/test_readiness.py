"""`http` and `command` readiness through the real launcher, on real child processes.

An HTTP server that answers 503 while it starts is waited for until it answers 200; a server
another program already runs on the port fails the start at once, naming that program; a
check command runs in the launched process's own environment with a per-try limit; and a
worker whose log says "ready" while it cannot reach its queue table is not taken for ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import devenv
from devenv.environment import CanonicalEnv
from devenv.errors import ProcessError
from devenv.processes import start
from devenv.spec import Spec, load_spec
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone
from tests.support.projects import Project
from tests.support.servers import free_port, postgres_database

#: The interpreter running the tests (it has psycopg); the shared venv has nothing installed.
HOST_PYTHON = sys.executable
#: "At once": far below the start_timeout the wrong behaviour would wait.
AT_ONCE = 10.0

SPEC = """\
[project]
name = "ready"

[python]
venv = "{venv}"

[dotenv]
files = [".env.defaults"]

[processes.x]
command = {command}
ready = {ready}
start_timeout = {start_timeout}
stop_timeout = 5
"""

Launch = Callable[..., tuple[Spec, CanonicalEnv]]


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


@pytest.fixture
def launch(tmp_path: Path, shared_venv: str) -> Launch:
    """Write a project whose process `x` runs `command` with `ready`; sync it; (spec, env)."""

    def make(
        command: list[str],
        ready: str,
        *,
        files: dict[str, str] | None = None,
        dotenv: str = "",
        start_timeout: float = 30,
    ) -> tuple[Spec, CanonicalEnv]:
        text = SPEC.format(
            venv=shared_venv, command=json.dumps(command), ready=ready, start_timeout=start_timeout
        )
        project = Project.create(tmp_path / "proj", venv=shared_venv, spec=text, dotenv=dotenv)
        for name, body in (files or {}).items():
            project.write(name, body)
        project.sync()
        return load_spec(str(project.root)), devenv.load(str(project.root))

    return make


#: An HTTP server that answers 503 ("starting") for its first `delay` seconds, then 200.
WEB = """\
import http.server, sys, time
port, delay, code_after = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
began = time.monotonic()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        starting = time.monotonic() - began < delay
        code = 503 if starting else code_after
        body = (sys.argv[4] if len(sys.argv) > 4 else ("starting" if starting else "ok")).encode()
        print("served", code, flush=True)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print("listening", flush=True)
server.serve_forever()
"""


def test_http_readiness_waits_through_503_for_the_200(launch: Launch) -> None:
    port = free_port()
    spec, env = launch(
        [HOST_PYTHON, "web.py", str(port), "1.5", "200"],
        f'{{ http = "http://127.0.0.1:{port}/health" }}',
        files={"web.py": WEB},
    )
    with start(spec, "x", env) as handle:
        assert handle.ready_after is not None and handle.ready_after >= 1.5, handle.ready_after
        output = handle.read_log(handle.log_offset)
        assert "served 503" in output, "the probe asked while the server was starting"
        assert output.rstrip().endswith("served 200")
    assert gone(handle.pid)


def test_http_readiness_with_status_waits_for_that_status(launch: Launch) -> None:
    port = free_port()
    spec, env = launch(
        [HOST_PYTHON, "web.py", str(port), "0", "302"],
        f'{{ http = "http://127.0.0.1:{port}/", status = [200] }}',
        files={"web.py": WEB},
        start_timeout=1.5,
    )
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    assert f"last saw: http://127.0.0.1:{port}/: HTTP 302 Found (want 200)" in str(caught.value)


def test_http_readiness_says_what_came_back_masked(launch: Launch) -> None:
    port = free_port()
    spec, env = launch(
        [HOST_PYTHON, "web.py", str(port), "999", "200", "db down: password ${DB_PASSWORD} refused"],
        f'{{ http = "http://127.0.0.1:{port}/health" }}',
        files={"web.py": WEB},
        dotenv="DB_PASSWORD=k9-very-secret-value\n",
        start_timeout=1.5,
    )
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    message = str(caught.value)
    assert "was not ready after" in message
    assert "HTTP 503 Service Unavailable (want 2xx or 3xx): 'db down: password *** refused'" in message
    assert "k9-very-secret-value" not in message


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """An HTTP server that is not part of any launched tree (another program), answering 200."""
    started: list[subprocess.Popen[bytes]] = []

    def serve(port: int) -> subprocess.Popen[bytes]:
        script = tmp_path / "other_web.py"
        script.write_text(WEB)
        process = subprocess.Popen([HOST_PYTHON, str(script), str(port), "0", "200"], stdout=subprocess.PIPE)
        started.append(process)
        assert process.stdout is not None and process.stdout.readline() == b"listening\n"
        return process

    yield serve
    for process in started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_http_readiness_refuses_a_server_another_program_runs(
    launch: Launch, other_server: Callable[[int], subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    holder = other_server(port)
    spec, env = launch(
        [HOST_PYTHON, "web.py", str(port), "0", "200"],
        f'{{ http = "http://127.0.0.1:{port}/health" }}',
        files={"web.py": WEB},
    )
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    assert time.monotonic() - began < AT_ONCE, "fail at once, not after start_timeout"
    message = str(caught.value)
    assert f"127.0.0.1:{port} is already in use by pid {holder.pid} ({HOST_PYTHON} " in message
    assert "other_web.py" in message


# -- command -----------------------------------------------------------------------------------

#: Creates `flag` after a second, then idles.
SLOW_START = "import pathlib, time; time.sleep(1); pathlib.Path('flag').write_text('up'); print('up', flush=True); time.sleep(60)"

#: Exit 0 when the flag exists and the check sees the process's own environment and folder.
CHECK = """\
import os, pathlib, sys
assert os.environ["MARKER"] == "from-dotenv", os.environ.get("MARKER")
assert os.environ.get("DEVENV_RUN_ID"), "the launched process's own environment"
sys.exit(0 if pathlib.Path("flag").exists() else 1)
"""


def test_command_readiness_runs_in_the_process_s_environment_until_it_exits_0(launch: Launch) -> None:
    spec, env = launch(
        [HOST_PYTHON, "-c", SLOW_START],
        '{ command = ["python", "check.py"] }',
        files={"check.py": CHECK},
        dotenv="MARKER=from-dotenv\n",
    )
    with start(spec, "x", env) as handle:
        assert handle.ready_after is not None and handle.ready_after >= 1.0
        assert (Path(spec.root) / "flag").exists()
    assert gone(handle.pid)


def test_a_check_command_waits_a_quarter_second_between_tries(tmp_path: Path) -> None:
    from devenv.readiness import COMMAND_INTERVAL, CommandProbe

    tries = tmp_path / "tries"
    count = f"import pathlib; p = pathlib.Path({str(tries)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')"
    probe = CommandProbe([HOST_PYTHON, "-c", count], env=dict(os.environ), cwd=str(tmp_path), timeout=5)
    first, second = probe.poll(), probe.poll()
    assert (first, second, tries.read_text()) == (second, first, "x"), "the second poll reused the first"
    time.sleep(COMMAND_INTERVAL)  # the interval itself is what is tested, not a synchronisation
    assert probe.poll().ready and tries.read_text() == "xx"


def test_command_readiness_limits_each_try(launch: Launch) -> None:
    spec, env = launch(
        [HOST_PYTHON, "-c", "import time; time.sleep(60)"],
        f'{{ command = ["{HOST_PYTHON}", "-c", "import time; time.sleep(30)"], timeout = 0.3 }}',
        start_timeout=1.5,
    )
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    assert time.monotonic() - began < AT_ONCE
    assert "last saw: the command ran longer than 0.3 s" in str(caught.value)


def test_command_readiness_quotes_the_failing_output_masked(launch: Launch) -> None:
    say = "import os, sys; print('login refused for', os.environ['API_TOKEN']); sys.exit(2)"
    spec, env = launch(
        [HOST_PYTHON, "-c", "import time; time.sleep(60)"],
        f"{{ command = {json.dumps([HOST_PYTHON, '-c', say])} }}",
        dotenv="API_TOKEN=tok-0123456789abcdef\n",
        start_timeout=1,
    )
    with pytest.raises(ProcessError) as caught:
        start(spec, "x", env)
    message = str(caught.value)
    assert "last saw: exit code 2: login refused for ***" in message
    assert "tok-0123456789abcdef" not in message


# -- the lie of `log` readiness: a worker on a Postgres broker without its schema ---------------

#: What dramatiq-pg does without its schema: says it is ready, then fails every poll.
WORKER = """\
import os, time, psycopg
print("Worker process is ready for action.", flush=True)
while True:
    try:
        with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
            connection.execute("SELECT 1 FROM dramatiq.queue LIMIT 1")
        print("consumed", flush=True)
    except psycopg.Error as error:
        print(f"error: {str(error).strip()}", flush=True)
    time.sleep(0.2)
"""

#: The queue table is there: the check a `command` probe runs instead of trusting the log.
QUEUE_TABLE = "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).execute('SELECT 1 FROM dramatiq.queue LIMIT 1')"


@pytest.mark.parametrize("ready", ["log", "command"])
def test_log_readiness_lies_about_a_worker_without_its_schema_and_command_does_not(
    launch: Launch, ready: str
) -> None:
    with postgres_database() as url:
        probe = (
            '{ log = "ready for action" }'
            if ready == "log"
            else f"{{ command = {json.dumps([HOST_PYTHON, '-c', QUEUE_TABLE])} }}"
        )
        spec, env = launch(
            [HOST_PYTHON, "worker.py"],
            probe,
            files={"worker.py": WORKER},
            dotenv=f"DATABASE_URL={url}\n",
            start_timeout=2,
        )
        if ready == "log":
            # The lie the README's readiness table shows: ready, while every poll fails.
            with start(spec, "x", env) as handle:
                assert handle.ready_after is not None
                deadline = time.monotonic() + 10
                while 'relation "dramatiq.queue" does not exist' not in handle.read_log(handle.log_offset):
                    assert time.monotonic() < deadline, handle.read_log(handle.log_offset)
                    time.sleep(0.05)
            return
        with pytest.raises(ProcessError) as caught:
            start(spec, "x", env)
        assert 'relation "dramatiq.queue" does not exist' in str(caught.value)
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA dramatiq; CREATE TABLE dramatiq.queue (id int)")
        with start(spec, "x", env) as handle:
            assert handle.ready_after is not None
