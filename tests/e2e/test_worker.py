"""The mission end to end: tasks through the real worker, started by the fixture."""

from __future__ import annotations

import time
from pathlib import Path

from ops_core import TaskStore

from devenv.processes import ProcessHandle
from tests.e2e.conftest import delete_queues, submit, submitter_env
from tests.support.processes import wait_for


def test_task_without_llm_key_fails_with_the_reason_within_10s(
    worker: ProcessHandle, e2e_database: Path
) -> None:
    store = TaskStore(e2e_database)
    started = time.monotonic()
    (task_id,) = submit(submitter_env(worker), ("llm", "summarise the logs"))
    wait_for(lambda: store.get(task_id).finished, timeout=10, what=f"task {task_id} to end")
    task = store.get(task_id)
    assert task.status == "FAILED"
    assert "no LLM key configured" in (task.error or "")
    assert task.runs == 1  # no retries
    assert time.monotonic() - started < 10


def test_echo_task_completes_with_its_result(worker: ProcessHandle, e2e_database: Path) -> None:
    store = TaskStore(e2e_database)
    (task_id,) = submit(submitter_env(worker), ("echo", "hello world"))
    wait_for(lambda: store.get(task_id).finished, timeout=10, what=f"task {task_id} to end")
    task = store.get(task_id)
    assert (task.status, task.result, task.runs) == ("COMPLETED", "echo: hello world", 1)


def test_200_tasks_on_two_worker_processes_each_run_exactly_once(
    devenv_process,
    worker_overrides: dict[str, str],
    e2e_database: Path,  # type: ignore[no-untyped-def]
) -> None:
    # A queue of its own: the session's single-process worker must not take a share.
    # Overrides expand ${DEVENV_INSTANCE} like the declaration does.
    pool = devenv_process(
        "worker", **worker_overrides, WORKER_PROCESSES="2", OPS_CORE_QUEUE="ops_core_${DEVENV_INSTANCE}_pool"
    )
    queue = pool.env["OPS_CORE_QUEUE"]
    assert queue == f"ops_core_{pool.env['DEVENV_INSTANCE']}_pool"
    try:
        import psutil

        workers = [
            p
            for p in psutil.Process(pool.pid).children(recursive=True)
            if "dramatiq" in " ".join(p.cmdline())
        ]
        assert len(workers) >= 2, "dramatiq should have forked two worker processes"
        ids = submit(submitter_env(pool), *[("echo", f"task {n}") for n in range(200)])
        assert len(set(ids)) == 200
        store = TaskStore(e2e_database)

        def all_ended() -> bool:
            return all(store.get(task_id).finished for task_id in ids)

        wait_for(all_ended, timeout=90, what="200 tasks to end", interval=0.25)
        tasks = [store.get(task_id) for task_id in ids]
        assert {task.status for task in tasks} == {"COMPLETED"}
        assert [task.runs for task in tasks] == [1] * 200
        assert {task.result for task in tasks} == {f"echo: task {n}" for n in range(200)}
    finally:
        pool.stop()
        delete_queues(pool.env["RABBITMQ_URL"], queue)
