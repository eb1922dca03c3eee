"""The Dramatiq entry point: `python -m dramatiq ops_core.tasks.worker`; needs RABBITMQ_URL."""

from __future__ import annotations

import logging
import os

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from ops_core import config
from ops_core.errors import UnknownTaskError
from ops_core.store import TaskStore
from ops_core.tasks.execution import execute

log = logging.getLogger("ops_core.tasks")

# Read at import so a missing or malformed setting fails the import itself: Dramatiq then
# logs "Failed to import module." with this message and exits 2 (dramatiq/cli.py,
# worker_process) instead of running a worker that fails every message.
RABBITMQ_URL = config.rabbitmq_url(os.environ)
QUEUE_NAME = config.queue_name(os.environ)
DATABASE_PATH = config.database_path(os.environ)

# confirm_delivery: `submit` learns at once when RabbitMQ did not accept the message.
broker = RabbitmqBroker(url=RABBITMQ_URL, confirm_delivery=True)
dramatiq.set_broker(broker)
log.info("ops_core worker: queue %r, database %s", QUEUE_NAME, DATABASE_PATH.absolute())


@dramatiq.actor(queue_name=QUEUE_NAME, max_retries=0)
def run_task(task_id: str) -> None:
    """Run one stored task; a failure is final (FAILED with the reason), never retried."""
    store = TaskStore(DATABASE_PATH)
    try:
        execute(task_id, store)
    except UnknownTaskError:
        # Almost always the submitter and the worker use different DATABASE_URLs.
        log.error(
            "task %s not found in %s: do the submitter and the worker share DATABASE_URL?",
            task_id,
            store.path,
        )
