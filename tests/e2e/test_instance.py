"""The test process runs in its workers' instance: settings an app reads from os.environ at
import time (ops_core's queue and database) are the ones the fixture's worker got, so a test
that enqueues through the app's own code reaches that worker (README "pytest plugin")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ops_core import TaskStore

from devenv.environment import default_instance
from devenv.processes import ProcessHandle
from tests.support.processes import wait_for


# Two cases, so that under `-n 2` each xdist worker runs one with an instance of its own.
@pytest.mark.parametrize("prompt", ["first", "second"])
def test_a_task_enqueued_through_the_apps_own_code_is_done_by_the_fixture_worker(
    prompt: str, worker: ProcessHandle, e2e_database: Path
) -> None:
    queue = os.environ["OPS_CORE_QUEUE"]
    assert queue == worker.env["OPS_CORE_QUEUE"], "the test process and its worker disagree on the queue"
    assert queue.endswith(os.environ["DEVENV_INSTANCE"]) and os.environ[
        "DEVENV_INSTANCE"
    ] != default_instance(os.environ["DEVENV_ROOT"])
    assert os.environ["DATABASE_URL"] == worker.env["DATABASE_URL"]
    import ops_core

    task_id = ops_core.submit(prompt, provider="echo")  # the app's own code, in this process
    store = TaskStore(e2e_database)
    wait_for(lambda: store.get(task_id).finished, timeout=30, what=f"task {task_id} to end")
    task = store.get(task_id)
    assert (task.status, task.result) == ("COMPLETED", f"echo: {prompt}")
