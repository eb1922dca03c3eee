"""ops_core: store tasks in SQLite (DATABASE_URL), run them on a Dramatiq worker (RABBITMQ_URL)."""

from __future__ import annotations

import os

from ops_core.errors import BrokerError, ConfigError, OpsCoreError, StoreError, UnknownTaskError
from ops_core.store import Task, TaskStatus, TaskStore

__all__ = [
    "BrokerError",
    "ConfigError",
    "OpsCoreError",
    "StoreError",
    "Task",
    "TaskStatus",
    "TaskStore",
    "UnknownTaskError",
    "submit",
]


def submit(prompt: str, provider: str = "llm") -> str:
    """Store a PENDING task, enqueue it for the worker and return its id."""
    from agentkit import Agent

    # Reject an unknown provider here rather than as a FAILED task minutes later.
    Agent(provider)
    store = TaskStore.from_environ(os.environ)
    # Imported late: it needs RABBITMQ_URL and pulls in dramatiq and pika.
    import dramatiq.errors

    from ops_core import config
    from ops_core.tasks import worker

    task = store.create(prompt=prompt, provider=provider)
    try:
        worker.run_task.send(task.id)
    except dramatiq.errors.DramatiqError as exc:
        reason = f"could not enqueue task on {config.mask_url(worker.RABBITMQ_URL)}: {exc}"
        # The row stays, FAILED with the reason, so `list` does not show it PENDING forever.
        store.fail(task.id, reason)
        raise BrokerError(reason + " (is RabbitMQ running?)") from None
    return task.id
