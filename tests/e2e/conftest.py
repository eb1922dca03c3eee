"""The reference worker on the real RabbitMQ, started by devenv's own pytest fixture.

Each session, and each pytest-xdist worker, gets its own ${DEVENV_INSTANCE} from the plugin,
so the declaration in .env.defaults (`OPS_CORE_QUEUE=ops_core_${DEVENV_INSTANCE}`, the
database file likewise) gives it its own queue and SQLite file: a developer's running worker
is never disturbed, parallel workers never take each other's tasks, and nothing is left on
the broker afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.environment import CanonicalEnv
from devenv.processes import ProcessHandle
from tests.support.broker import require_broker


@pytest.fixture(scope="session", autouse=True)
def _broker() -> None:
    """Every end-to-end test talks to RabbitMQ: a skip without it locally, a failure in CI."""
    require_broker()


@pytest.fixture(scope="session")
def e2e_queue(devenv_env: CanonicalEnv, devenv_instance: str) -> Iterator[str]:
    """This session's own queue, from the declaration; deleted (with its .DQ and .XQ) after
    the workers stop."""
    name = devenv_env["OPS_CORE_QUEUE"]
    assert name.endswith(devenv_instance), "the declared queue should depend on ${DEVENV_INSTANCE}"
    yield name
    delete_queues(devenv_env["RABBITMQ_URL"], name)


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
def e2e_database(devenv_env: CanonicalEnv, devenv_instance: str) -> Iterator[Path]:
    """This session's own SQLite file, from the declaration; removed afterwards."""
    url = devenv_env["DATABASE_URL"]
    assert url.startswith("sqlite:///") and devenv_instance in url
    path = Path(url[len("sqlite:///") :])
    yield path
    for leftover in (path, path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def worker_overrides() -> dict[str, str]:
    """What the session's workers get on top of the canonical env (and the submitter too)."""
    # LLM_API_KEY empty: the "no key configured" path must not depend on the developer's shell.
    return {"LLM_API_KEY": ""}


@pytest.fixture(scope="session")
def worker(
    e2e_queue: str,
    e2e_database: Path,
    worker_overrides: dict[str, str],
    devenv_process: Callable[..., ProcessHandle],
) -> ProcessHandle:
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
