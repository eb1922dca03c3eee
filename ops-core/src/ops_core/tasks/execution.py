"""What the actor does with one task: claim it, run the agent, record the outcome."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

from agentkit import Agent, AgentError
from ops_core.store import Task, TaskStore

log = logging.getLogger("ops_core.tasks")


def execute(task_id: str, store: TaskStore, environ: Mapping[str, str] | None = None) -> Task:
    """Run task `task_id` once and return its final row; agent failures end it FAILED."""
    env = os.environ if environ is None else environ
    task = store.start_run(task_id)
    if task.finished:
        # Redelivery of a message whose task already ended (e.g. a worker killed after the
        # write but before the ack): the run is counted, the outcome is left as it was.
        log.warning("task %s already %s; not running it again (run %d)", task_id, task.status, task.runs)
        return task
    log.info("task %s started (provider=%s, run %d)", task_id, task.provider, task.runs)
    started = time.monotonic()
    try:
        result = Agent(task.provider).run(task.prompt, env)
    except AgentError as exc:
        # The message is the user's fix (e.g. "set LLM_API_KEY in .env"); it never holds a key.
        task = store.fail(task_id, str(exc))
        log.info("task %s FAILED in %.2fs: %s", task_id, time.monotonic() - started, exc)
        return task
    except Exception as exc:
        # A bug, not a user error: still end the task (max_retries=0 means nobody else will),
        # and keep the traceback in the worker log.
        task = store.fail(task_id, f"unexpected {type(exc).__name__}: {exc}")
        log.exception("task %s FAILED in %.2fs", task_id, time.monotonic() - started)
        return task
    task = store.complete(task_id, result)
    log.info("task %s COMPLETED in %.2fs", task_id, time.monotonic() - started)
    return task
