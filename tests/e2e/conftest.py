"""The reference worker on the real RabbitMQ, started by devenv's own pytest fixture.

Each session gets its own queue (OPS_CORE_QUEUE) and SQLite file, so a developer's running
worker is never disturbed and nothing is left on the broker afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.environment import CanonicalEnv
from devenv.processes import ProcessHandle

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture(scope="session")
def e2e_queue(devenv_env: CanonicalEnv) -> Iterator[str]:
    """A queue of this session's own; deleted (with its .DQ and .XQ) after the workers stop."""
    name = f"ops_core_e2e_{uuid.uuid4().hex[:10]}"
    yield name
    delete_queues(devenv_env.variables.get("RABBITMQ_URL", RABBITMQ_URL), name)


def delete_queues(url: str, name: str) -> None:
    """Delete a Dramatiq queue and its delay and dead-letter queues: nothing left behind."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in (name, f"{name}.DQ", f"{name}.XQ"):
            channel.queue_delete(queue)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-db") / "tasks.db"


@pytest.fixture(scope="session")
def worker_overrides(e2e_queue: str, e2e_database: Path) -> dict[str, str]:
    """What the session's workers get on top of the canonical env (and the submitter too)."""
    # LLM_API_KEY empty: the "no key configured" path must not depend on the developer's shell.
    return {"OPS_CORE_QUEUE": e2e_queue, "DATABASE_URL": f"sqlite:///{e2e_database}", "LLM_API_KEY": ""}


@pytest.fixture(scope="session")
def worker(worker_overrides: dict[str, str], devenv_process: Callable[..., ProcessHandle]) -> ProcessHandle:
    """The reference worker, started exactly as `devenv up worker` starts it."""
    return devenv_process("worker", **worker_overrides)


def submit(env: dict[str, str], *tasks: tuple[str, str]) -> list[str]:
    """Submit (provider, prompt) tasks from a separate process with `env`; their ids."""
    script = (
        "import json, sys, ops_core\n"
        "for provider, prompt in json.loads(sys.argv[1]):\n"
        "    print(ops_core.submit(prompt, provider=provider), flush=True)\n"
    )
    import json

    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(tasks)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def submitter_env(worker: ProcessHandle) -> dict[str, str]:
    """The submitting process gets exactly the worker's environment (minus its run marker)."""
    env = dict(worker.env)
    env.pop("DEVENV_RUN_ID", None)
    env.setdefault("PATH", os.defpath)
    return env
