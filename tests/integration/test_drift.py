"""`devenv diff` and `devenv ps` against real child processes (psutil reads their environ)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import psutil
import pytest

from devenv.drift import ProcessEnvironUnavailable, diff_process, format_diff
from devenv.environment import CanonicalEnv, apply_env
from devenv.ps import format_ps, ps, ps_notes
from devenv.snapshot import read_snapshot
from tests.support.processes import running, wait_for
from tests.support.projects import DEVENV, Project, hermetic_env
from tests.support.secrets import assert_no_secret

SLEEP = "import time; time.sleep(30)"

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start children; every one (and its descendants) is killed and reaped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        popen: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            command, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
        )
        started.append(popen)
        return popen

    yield start
    survivors = []
    for popen in started:
        try:
            top = psutil.Process(popen.pid)
            tree = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        popen.wait(timeout=10)  # reaps our child; grandchildren are reparented and reaped by init
        _, alive = psutil.wait_procs(tree, timeout=10)
        survivors += [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not survivors, f"children outlived the test: {survivors}"
    assert not any(psutil.pid_exists(popen.pid) and popen.returncode is None for popen in started)


def canonical(project: Project) -> CanonicalEnv:
    snapshot = read_snapshot(str(project.root))
    assert snapshot is not None
    return snapshot.env


def test_child_started_without_pythonpath_differs(project: Project, spawn: Spawn) -> None:
    project.sync(env=hermetic_env(DEMO_TOKEN="s3nt1nel-canonical"))
    env = canonical(project)
    # The classic fixture bug: an env dict built by hand, without PYTHONPATH.
    child_env = apply_env(env, hermetic_env())
    del child_env["PYTHONPATH"]
    child_env["DEMO_TOKEN"] = "s3nt1nel-stale-one"
    child = spawn([os.path.join(project.venv, "bin", "python"), "-c", SLEEP], env=child_env)
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")

    diff = diff_process(child.pid, env)
    assert diff.differs
    assert diff.pythonpath == "missing"
    assert diff.pythonpath_missing == tuple(env.variables["PYTHONPATH"].split(":"))
    assert [d.key for d in diff.different] == ["DEMO_TOKEN"]
    assert diff.fingerprint == "current"
    text = format_diff(diff, env)
    assert "missing    PYTHONPATH" in text
    for secret in ("s3nt1nel-canonical", "s3nt1nel-stale-one"):
        assert_no_secret(text, secret)
        assert_no_secret(json.dumps(diff.to_json()), secret)


def test_child_started_by_devenv_run_matches(project: Project, spawn: Spawn) -> None:
    project.sync()
    child = spawn([DEVENV, "run", "--", "python", "-c", SLEEP], cwd=project.root, env=hermetic_env())
    wait_for(
        running(child.pid, SLEEP), timeout=10, what="the child to run"
    )  # devenv run execs: same PID, new command line

    diff = diff_process(child.pid, canonical(project), tree=True)
    assert not diff.differs, format_diff(diff, canonical(project))
    assert diff.fingerprint == "current"
    assert "matches the canonical environment" in format_diff(diff, canonical(project))


def test_tree_finds_a_grandchild_started_with_a_hand_built_env(project: Project, spawn: Spawn) -> None:
    project.sync()
    parent_code = (
        "import os, subprocess, sys, time\n"
        "env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}\n"
        f"subprocess.Popen([sys.executable, '-c', {SLEEP!r}], env=env)\n"
        "time.sleep(30)\n"
    )
    child = spawn([DEVENV, "run", "--", "python", "-c", parent_code], cwd=project.root, env=hermetic_env())
    wait_for(
        lambda: len(psutil.Process(child.pid).children()) == 1, timeout=10, what="the grandchild to start"
    )
    grandchild = psutil.Process(child.pid).children()[0]
    wait_for(running(grandchild.pid, SLEEP), timeout=10, what="the child to run")

    env = canonical(project)
    assert not diff_process(child.pid, env).differs
    diff = diff_process(child.pid, env, tree=True)
    assert diff.differs
    assert [(c.pid, c.pythonpath) for c in diff.children] == [(grandchild.pid, "missing")]
    assert f"PID {grandchild.pid}" in format_diff(diff, env)


def test_vanished_pid_is_a_clear_error(project: Project, spawn: Spawn) -> None:
    project.sync()
    child = spawn([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    with pytest.raises(ProcessEnvironUnavailable, match=f"no process {child.pid}") as info:
        diff_process(child.pid, canonical(project))
    assert info.value.exit_code == 2


def test_zombie_is_a_clear_error(project: Project, spawn: Spawn) -> None:
    project.sync()
    child = spawn([sys.executable, "-c", "pass"])
    # Not reaped yet (no wait/poll): the kernel keeps it as a zombie.
    wait_for(
        lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
        timeout=10,
        what="the child to exit",
    )
    with pytest.raises(ProcessEnvironUnavailable, match=f"PID {child.pid}"):
        diff_process(child.pid, canonical(project))


def test_unreadable_process_says_permission_denied(project: Project) -> None:
    project.sync()
    try:
        psutil.Process(1).environ()
    except psutil.AccessDenied:
        pass
    else:
        pytest.skip("PID 1's environment is readable here")
    with pytest.raises(ProcessEnvironUnavailable, match="permission denied; run as the same user"):
        diff_process(1, canonical(project))


def test_ps_marks_a_running_child_stale_after_an_env_edit(project: Project, spawn: Spawn) -> None:
    project.sync()
    env = canonical(project)
    child_env = apply_env(env, hermetic_env()) | {"DEVENV_RUN_ID": "test-run-1"}
    child = spawn([os.path.join(project.venv, "bin", "python"), "-c", SLEEP], env=child_env)
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")

    listed = {p.pid: p for p in ps(str(project.root), hermetic_env())}
    assert child.pid in listed
    assert listed[child.pid].status == "current"
    assert listed[child.pid].run_id == "test-run-1"
    assert listed[child.pid].fingerprint == env.fingerprint

    with open(project.root / ".env.defaults", "a", encoding="utf-8") as handle:
        handle.write("GREETING=changed\n")
    info = {p.pid: p for p in ps(str(project.root), hermetic_env())}[child.pid]
    assert info.status == "stale"
    assert "stale" in format_ps([info])
    assert ps_notes([info]) == ["1 process(es) run with a stale environment; restart them to pick up changes"]
    assert json.loads(json.dumps(info.to_json()))["status"] == "stale"


def test_ps_only_lists_this_root_unless_all(project: Project, spawn: Spawn) -> None:
    project.sync()
    env = canonical(project)
    other = apply_env(env, hermetic_env()) | {"DEVENV_RUN_ID": "other-run", "DEVENV_ROOT": "/elsewhere"}
    child = spawn([sys.executable, "-c", SLEEP], env=other)
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")
    assert child.pid not in {p.pid for p in ps(str(project.root), hermetic_env())}
    assert child.pid in {p.pid for p in ps(str(project.root), hermetic_env(), all_projects=True)}
    assert format_ps([]) == ""  # stdout carries data only: the sentence is ps_notes', for stderr
    assert ps_notes([]) == ["no processes run in this project's environment"]
