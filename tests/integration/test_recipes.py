"""The README's recipes, run as written: real Celery, RQ and uvicorn processes on the real
Redis, RabbitMQ and PostgreSQL, through the launcher every devenv entry point uses.

Each recipe's TOML and app file are taken from the README; only the variables in `.env` come
from here (this suite's Redis databases 10-11, its own queue, a throw-away database). The
Dramatiq-on-PostgreSQL recipe's worker cannot run here (dramatiq-pg 0.12 requires dramatiq
below 2, and this project pins 2.2.1), so its service check and its readiness command are
run as written around a stand-in worker that behaves as dramatiq-pg does without its schema.
"""

from __future__ import annotations

import re
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import devenv
from devenv.environment import CanonicalEnv
from devenv.errors import ProcessError
from devenv.processes import start
from devenv.spec import Spec, load_spec
from tests.integration.test_readiness import WORKER
from tests.support.broker import require_broker
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone
from tests.support.projects import Project
from tests.support.servers import free_port, postgres_database, require_redis

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
HOST_PYTHON = sys.executable

HEAD = """\
[project]
name = "recipe"

[python]
venv = "{venv}"

[paths]
pythonpath = ["src"]

[dotenv]
files = [".env"]

"""

#: Write a project from a recipe's TOML, its app files and `.env` values; sync it; (spec, env).
Make = Callable[[str, dict[str, str], dict[str, str]], tuple[Spec, CanonicalEnv]]


def recipe(title: str) -> tuple[str, dict[str, str]]:
    """The TOML block of the README recipe `title` and its app files (path -> text)."""
    section = README.split("\n### Recipes\n", 1)[1].split("\n### ", 1)[0]
    body = section.split(f"\n#### {title}\n", 1)[1].split("\n#### ", 1)[0]
    (toml,) = re.findall(r"```toml\n(.*?)```", body, flags=re.DOTALL)
    files = {}
    for block in re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    return toml, files


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


@pytest.fixture
def make(tmp_path: Path, shared_venv: str) -> Make:
    def build(toml: str, files: dict[str, str], dotenv: dict[str, str]) -> tuple[Spec, CanonicalEnv]:
        text = "".join(f"{key}={value}\n" for key, value in dotenv.items())
        project = Project.create(
            tmp_path / "proj", venv=shared_venv, spec=HEAD.format(venv=shared_venv) + toml, dotenv=""
        )
        project.write(".env", text)
        (project.root / "src").mkdir(exist_ok=True)
        for name, body in files.items():
            project.write(name, body)
        project.sync()
        return load_spec(str(project.root)), devenv.load(str(project.root))

    return build


def node() -> str:
    return f"devenv-t-{uuid.uuid4().hex[:8]}@localhost"


def test_celery_on_redis(make: Make) -> None:
    require_redis()
    toml, files = recipe("Celery on Redis")
    spec, env = make(toml, files, {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/10", "CELERY_NODE": node()})
    with start(spec, "worker", env) as worker:
        assert worker.ready_after is not None  # its own node answered `inspect ping`
    assert gone(worker.pid)


def test_celery_on_rabbitmq_with_celery_s_default_url(make: Make) -> None:
    require_broker()
    toml, _ = recipe("Celery on RabbitMQ")
    _, files = recipe("Celery on Redis")  # "with the same src/proj.py"
    queue = f"devenv_t_{uuid.uuid4().hex[:8]}"
    url = "amqp://guest:guest@127.0.0.1:5672//"
    spec, env = make(toml, files, {"CELERY_BROKER_URL": url, "CELERY_QUEUE": queue, "CELERY_NODE": node()})
    try:
        with start(spec, "worker", env) as worker:
            assert worker.ready_after is not None
    finally:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(queue)
        connection.close()
    assert gone(worker.pid)


def test_rq(make: Make) -> None:
    """Ready once the worker is registered, also when the Redis database already holds a job
    on another queue: `rq info` with no queue named lists only the workers of queues that
    hold jobs, which once left the recipe's check waiting until its timeout."""
    require_redis()
    from redis import Redis
    from rq import Queue

    toml, files = recipe("RQ")
    name = f"devenv-t-{uuid.uuid4().hex[:8]}"
    url = "redis://127.0.0.1:6379/11"
    spec, env = make(toml, files, {"REDIS_URL": url, "RQ_WORKER": name})
    other = Queue(f"devenv_t_other_{uuid.uuid4().hex[:8]}", connection=Redis.from_url(url))
    other.enqueue("os.getcwd")  # no worker listens to it: it stays queued
    try:
        with start(spec, "worker", env) as worker:
            assert worker.ready_after is not None
    finally:
        other.delete(delete_jobs=True)
    assert gone(worker.pid)


def test_fastapi_web_process(make: Make) -> None:
    toml, files = recipe("A FastAPI web process")
    port = free_port()
    with postgres_database() as url:
        spec, env = make(toml, files, {"DATABASE_URL": url, "WEB_PORT": str(port)})
        with start(spec, "web", env) as web:
            assert web.ready_after is not None
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                assert answer.status == 200 and b'"database":"ok"' in answer.read()
        assert gone(web.pid)


def test_dramatiq_on_postgres_waits_for_the_schema(make: Make) -> None:
    import psycopg

    toml, files = recipe("Dramatiq on PostgreSQL")
    assert 'command = ["dramatiq", "--processes", "1", "tasks"]' in toml
    stand_in = toml.replace(
        'command = ["dramatiq", "--processes", "1", "tasks"]', f'command = ["{HOST_PYTHON}", "worker.py"]'
    ).replace("start_timeout = 60", "start_timeout = 3")
    with postgres_database() as url:
        spec, env = make(stand_in, {**files, "worker.py": WORKER}, {"DATABASE_URL": url})
        with pytest.raises(ProcessError) as caught:
            start(spec, "worker", env)
        assert 'relation "dramatiq.queue" does not exist' in str(caught.value)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA dramatiq; CREATE TABLE dramatiq.queue (id int)")
        with start(spec, "worker", env) as worker:
            assert worker.ready_after is not None
