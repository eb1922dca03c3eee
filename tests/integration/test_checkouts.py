"""Two checkouts of one project on one machine: each has its own default instance.

${DEVENV_INSTANCE} defaults to the checkout's folder name plus a hash of its real path
(environment.default_instance), so `SHOP_QUEUE=shop_jobs_${DEVENV_INSTANCE}` names a queue of
its own in every clone, even two clones in folders of the same name, and a worker started by
`devenv up` in one never takes the other's tasks (README, "Parallel runs").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.environment import default_instance
from tests.conftest import require_tool
from tests.support.broker import require_broker
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import wait_for
from tests.support.projects import DEVENV, Project, hermetic_env

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: The interpreter running the tests has dramatiq; the shared venv has nothing installed.
HOST_PYTHON = sys.executable

SPEC = """\
[project]
name = "shop"

[python]
venv = "{venv}"

[paths]
pythonpath = ["src"]

[dotenv]
files = [".env.defaults"]

[vars]
PYTHONUNBUFFERED = "1"

[services.rabbitmq]
check = "amqp"
url = "${{RABBITMQ_URL}}"
timeout = 10

[processes.worker]
command = [{python}, "-m", "dramatiq", "shop_tasks", "--processes", "1", "--threads", "1",
           "--worker-shutdown-timeout", "1000"]
needs = ["rabbitmq"]
ready = {{ amqp_queue = "${{SHOP_QUEUE}}", consumers = 1 }}
start_timeout = 60
stop_timeout = 10
"""

DOTENV = f"""\
RABBITMQ_URL={BROKER_URL}
SHOP_QUEUE=shop_jobs_${{DEVENV_INSTANCE}}
SHOP_DATABASE=${{DEVENV_ROOT}}/shop-${{DEVENV_INSTANCE}}.sqlite3
"""

#: The app: one actor on the declared queue that notes which checkout's worker ran it.
TASKS = """\
import os

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

dramatiq.set_broker(RabbitmqBroker(url=os.environ["RABBITMQ_URL"]))


@dramatiq.actor(queue_name=os.environ["SHOP_QUEUE"], max_retries=0)
def record(tag):
    with open(os.path.join(os.environ["DEVENV_ROOT"], "done.txt"), "a") as done:
        done.write(tag + "\\n")
"""


@pytest.fixture
def clones(tmp_path: Path, shared_venv: str) -> tuple[Project, Project]:
    """One project in git, cloned into two folders that are both called `shop`, each synced."""
    git = require_tool("git")
    origin = Project.create(
        tmp_path / "origin",
        venv=shared_venv,
        spec=SPEC.format(venv=shared_venv, python=json.dumps(HOST_PYTHON)),
        dotenv=DOTENV,
    )
    origin.write("src/shop_tasks.py", TASKS)
    origin.write(".gitignore", ".devenv/\ndone.txt\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([git, "init", "-q", str(origin.root)], check=True)
    subprocess.run([git, "-C", str(origin.root), "add", "."], check=True)
    subprocess.run([git, "-C", str(origin.root), *identity, "commit", "-qm", "shop"], check=True)
    made = []
    for parent in ("alice", "bob"):
        root = tmp_path / parent / "shop"
        subprocess.run([git, "clone", "-q", str(origin.root), str(root)], check=True)
        clone = Project(root=root, venv=shared_venv)
        clone.sync()
        made.append(clone)
    return made[0], made[1]


def printed(project: Project) -> dict[str, str]:
    result = project.devenv("print-env", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run_printenv(project: Project, *keys: str) -> list[str]:
    result = project.devenv("run", "--", "printenv", *keys)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_two_clones_get_their_own_instance_queue_and_database_stable_across_runs(
    clones: tuple[Project, Project],
) -> None:
    keys = ("DEVENV_INSTANCE", "SHOP_QUEUE", "SHOP_DATABASE")
    seen = {}
    for clone in clones:
        first = printed(clone)
        instance = first["DEVENV_INSTANCE"]
        assert instance == default_instance(str(clone.root)) and instance.startswith("shop_"), instance
        assert first["SHOP_QUEUE"] == f"shop_jobs_{instance}"
        # The same values every time, from print-env and from run alike.
        assert printed(clone) == first
        values = [first[key] for key in keys]
        assert run_printenv(clone, *keys) == values
        assert run_printenv(clone, *keys) == values
        seen[clone.root] = values
    alice, bob = (seen[clone.root] for clone in clones)
    assert all(a != b for a, b in zip(alice, bob, strict=True)), (alice, bob)


def test_explain_says_which_checkout_the_instance_is_named_after(clones: tuple[Project, Project]) -> None:
    alice = clones[0]
    real = os.path.realpath(alice.root)
    instance = default_instance(str(alice.root))
    why = (
        f'this checkout\'s default instance: its folder name "shop" + a hash of {real}; '
        "--instance NAME joins or starts another"
    )
    shown = alice.devenv("explain", "DEVENV_INSTANCE")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"DEVENV_INSTANCE={instance}\n    built-in: {why}\n"
    queue = alice.devenv("explain", "SHOP_QUEUE")
    assert queue.stdout == (
        f"SHOP_QUEUE=shop_jobs_{instance}\n    from .env.defaults:2, using ${{DEVENV_INSTANCE}} ({why})\n"
    )
    joined = alice.devenv("explain", "--instance", "main", "SHOP_QUEUE")
    assert joined.stdout.startswith("SHOP_QUEUE=shop_jobs_main\n")
    assert f"--instance main (this checkout's default is {instance}: " in joined.stdout


def test_a_copied_checkout_resolves_its_own_default_instance(
    clones: tuple[Project, Project], tmp_path: Path
) -> None:
    original = clones[0]
    theirs = printed(original)["DEVENV_INSTANCE"]
    copy = tmp_path / "copy" / "shop"
    shutil.copytree(original.root, copy, symlinks=True)  # .devenv/ and its env.nul included
    clone = Project(root=copy, venv=original.venv)
    before_sync = clone.devenv("print-env", "--format", "json")
    assert theirs not in before_sync.stdout, "the copy was served the original's instance"
    clone.sync()
    ours = printed(clone)
    assert ours["DEVENV_INSTANCE"] == default_instance(str(copy)) != theirs
    assert run_printenv(clone, "SHOP_QUEUE") == [f"shop_jobs_{ours['DEVENV_INSTANCE']}"]
    assert printed(original)["DEVENV_INSTANCE"] == theirs


@contextlib.contextmanager
def worker_up(project: Project) -> Iterator[subprocess.Popen[str]]:
    """`devenv up worker` in `project`, ready; interrupted (as Ctrl-C) afterwards."""
    up = subprocess.Popen(
        [DEVENV, "up", "worker"],
        cwd=project.root,
        env=hermetic_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stderr is not None
        for line in up.stderr:
            if "worker ready" in line:
                break
        else:
            pytest.fail(f"devenv up worker in {project.root} ended before the worker was ready")
        yield up
    finally:
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)


def delete_queues(*names: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    try:
        channel = connection.channel()
        for name in names:
            for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                channel.queue_delete(queue=queue)
    finally:
        connection.close()


def test_each_clones_worker_does_only_the_tasks_submitted_in_that_clone(
    clones: tuple[Project, Project], tmp_path: Path
) -> None:
    require_broker()
    queues = [printed(clone)["SHOP_QUEUE"] for clone in clones]
    submit = "import sys, shop_tasks\nfor i in range(10):\n    shop_tasks.record.send(f'{sys.argv[1]}-{i}')\n"
    try:
        with forbid_leftovers(tmp_path), worker_up(clones[0]), worker_up(clones[1]):
            for clone, tag in zip(clones, ("alice", "bob"), strict=True):
                sent = clone.devenv("run", "--", HOST_PYTHON, "-c", submit, tag)
                assert sent.returncode == 0, sent.stderr
            done = [clone.root / "done.txt" for clone in clones]

            def finished() -> bool:
                return all(path.exists() and len(path.read_text().splitlines()) >= 10 for path in done)

            wait_for(finished, timeout=60, what="both workers to run ten tasks each")
            for path, tag in zip(done, ("alice", "bob"), strict=True):
                assert sorted(path.read_text().splitlines()) == sorted(f"{tag}-{i}" for i in range(10))
    finally:
        delete_queues(*queues)
