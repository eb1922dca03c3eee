"""`devenv diff` and `devenv ps` against real child processes (psutil reads their environ)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devenv.drift import ProcessEnvironUnavailable, compare, diff_process, drift_problems, format_diff
from devenv.environment import CanonicalEnv, apply_env
from devenv.running import format_ps, ps, ps_notes
from devenv.snapshot import read_snapshot
from tests.support.leftovers import Spawn, spawner
from tests.support.processes import running, wait_for
from tests.support.projects import DEVENV, Project, hermetic_env
from tests.support.secrets import assert_no_secret

SLEEP = "import time; time.sleep(30)"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start children; every one (and its descendants) is killed and reaped afterwards."""
    with spawner(tmp_path) as start:
        yield start


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
    # An undeclared key in the caller's shell stays there: devenv run is hermetic.
    leaky = hermetic_env(FOO_LEAK="x", DJANGO_SETTINGS_MODULE="config.settings.production")
    child = spawn([DEVENV, "run", "--", "python", "-c", SLEEP], cwd=project.root, env=leaky)
    wait_for(
        running(child.pid, SLEEP), timeout=10, what="the child to run"
    )  # devenv run execs: same PID, new command line

    diff = diff_process(child.pid, canonical(project), tree=True)
    assert not diff.differs, format_diff(diff, canonical(project))
    assert diff.fingerprint == "current"
    assert "matches the canonical environment" in format_diff(diff, canonical(project))
    assert not {"FOO_LEAK", "DJANGO_SETTINGS_MODULE"} & set(psutil.Process(child.pid).environ())


def test_diff_names_an_undeclared_key_a_process_got_outside_devenv(project: Project, spawn: Spawn) -> None:
    project.sync()
    env = canonical(project)
    # Started by hand with the canonical env plus what a developer's shell exported.
    child_env = apply_env(env, hermetic_env()) | {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
    # ... from an interactive shell, which also exports its own state to every command.
    child_env |= {"PWD": str(project.root), "OLDPWD": "/", "SHLVL": "2", "_": sys.executable}
    child = spawn([sys.executable, "-c", SLEEP], cwd=project.root, env=child_env)
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")
    result = project.devenv("diff", str(child.pid))
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "  extra      DJANGO_SETTINGS_MODULE, not declared; reached the process from its launcher's "
        "environment\n"
    ) in result.stdout
    as_json = json.loads(project.devenv("diff", str(child.pid), "--json").stdout)
    assert as_json["undeclared"] == ["DJANGO_SETTINGS_MODULE"] and as_json["differs"]
    # Keys the shell itself sets on every command it starts are not what reached it.
    assert "PWD" not in result.stdout and "SHLVL" not in result.stdout
    # A key the project passes through ([env].pass) is no drift.
    spec = (project.root / "envspec.toml").read_text().replace("[env]\n", '[env]\npass = ["DJANGO_*"]\n')
    project.write("envspec.toml", spec)
    passed = project.devenv("diff", str(child.pid))
    # ... and [env].pass is outside the fingerprint: the process is still current.
    assert passed.returncode == 0 and "DJANGO_SETTINGS_MODULE" not in passed.stdout, passed.stdout


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
    assert "1 process(es) run with a stale environment; restart them to pick up changes" in ps_notes([info])
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


# -- drift_problems: the one comparison doctor, the pytest header and `devenv diff` share -------


def _env() -> CanonicalEnv:
    return CanonicalEnv(
        root="/p",
        fingerprint="f" * 16,
        variables={
            "A": "1",
            "API_TOKEN": "s3nt1nel-drift-token",
            "DEVENV_FINGERPRINT": "f" * 16,
            "PYTHONPATH": "/p/src",
        },
        path_prefix=["/p/.venv/bin"],
        unset=["PYTHONHOME"],
        secret=["API_TOKEN"],
    )


def test_drift_problems_is_empty_exactly_when_compare_finds_nothing() -> None:
    env = _env()
    loaded = apply_env(env, {"PATH": "/usr/bin", "HOME": "/h"})
    assert drift_problems(loaded, env) == []
    assert not compare(0, "", loaded, env).differs


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param({"A": None}, "missing: A", id="missing"),
        pytest.param({"API_TOKEN": "s3nt1nel-other"}, "differs: API_TOKEN", id="differs"),
        pytest.param({"PYTHONHOME": "/x"}, "should be unset: PYTHONHOME", id="unset"),
        pytest.param({"PYTHONPATH": None}, "PYTHONPATH missing", id="pythonpath-missing"),
        pytest.param({"PYTHONPATH": "/p/src:/elsewhere"}, "PYTHONPATH different", id="pythonpath-different"),
        pytest.param({"PATH": "/usr/bin:/p/.venv/bin"}, "PATH does not start with /p/.venv/bin", id="path"),
        pytest.param({"DEVENV_FINGERPRINT": "0" * 16}, "fingerprint stale", id="stale"),
        pytest.param({"DEVENV_FINGERPRINT": None}, "fingerprint absent", id="absent"),
    ],
)
def test_drift_problems_names_each_difference_compare_finds(
    change: dict[str, str | None], problem: str
) -> None:
    env = _env()
    actual = apply_env(env, {"PATH": "/usr/bin"})
    for key, value in change.items():
        if value is None:
            del actual[key]
        else:
            actual[key] = value
    assert drift_problems(actual, env) == [problem]
    assert compare(0, "", actual, env).differs
    assert "s3nt1nel" not in problem, "keys only, never values"


@pytest.mark.parametrize(
    "value",
    [
        "overridden",
        "${SERVICE}_x",  # expanded at launch
        "${LITERAL}",  # expands to '${NOT_EXPANDED}': a ${ that must not be expanded again
    ],
    ids=["plain", "reference", "reference-to-a-literal-dollar-brace"],
)
def test_a_process_started_with_set_is_current_with_its_overrides(
    project: Project, spawn: Spawn, value: str
) -> None:
    project.sync()
    child = spawn(
        [DEVENV, "run", "--set", f"GREETING={value}", "--", "python", "-c", SLEEP],
        cwd=project.root,
        env=hermetic_env(),
    )
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")
    listed = project.devenv("ps", "--json")
    (info,) = [p for p in json.loads(listed.stdout) if p["pid"] == child.pid]
    assert (info["status"], info["overrides"]) == ("current", ["GREETING"]), info
    assert "current (overrides: GREETING)" in project.devenv("ps").stdout
    result = project.devenv("diff", str(child.pid))
    assert result.returncode == 0, result.stdout
    assert "  overrides: GREETING (compared with them applied)\n" in result.stdout
    assert "stale" not in result.stdout


def test_ps_marks_a_process_with_an_undeclared_key(project: Project, spawn: Spawn) -> None:
    project.sync()
    child_env = apply_env(canonical(project), hermetic_env()) | {"FOO_LEAK": "x"}
    child = spawn([sys.executable, "-c", SLEEP], cwd=project.root, env=child_env)
    wait_for(running(child.pid, SLEEP), timeout=10, what="the child to run")
    (info,) = [p for p in json.loads(project.devenv("ps", "--json").stdout) if p["pid"] == child.pid]
    assert info["undeclared"] == ["FOO_LEAK"] and info["status"] == "current", info
    listed = project.devenv("ps")
    assert "current (extra: FOO_LEAK)" in listed.stdout
    assert "have keys no devenv launch gives (extra); `devenv diff PID` names them" in listed.stderr


#: A launched program that starts its own child with a key added for it, as Django's
#: autoreloader restarts `runserver` with RUN_MAIN=true, and a key it changes for it.
RELOADER = (
    "import os, subprocess, sys, time\n"
    "env = {**os.environ, 'RUN_MAIN': 'true', 'WORKER_MODE': 'reloaded'}\n"
    f"subprocess.Popen([sys.executable, '-c', {SLEEP!r}], env=env)\n"
    "time.sleep(30)\n"
)


def _reloaded_child(parent: int) -> int:
    wait_for(lambda: len(psutil.Process(parent).children()) == 1, timeout=10, what="the child to start")
    child = psutil.Process(parent).children()[0].pid
    wait_for(running(child, SLEEP), timeout=10, what="the child to run")
    return child


def test_a_key_the_launched_program_sets_for_its_child_is_not_drift(project: Project, spawn: Spawn) -> None:
    project.sync()
    parent = spawn([DEVENV, "run", "--", "python", "-c", RELOADER], cwd=project.root, env=hermetic_env())
    child = _reloaded_child(parent.pid)
    listed = json.loads(project.devenv("ps", "--json").stdout)
    (info,) = [p for p in listed if p["pid"] == child]
    assert (info["status"], info["undeclared"]) == ("current", []), info
    assert "extra" not in project.devenv("ps").stderr
    result = project.devenv("diff", str(child))
    assert result.returncode == 0, result.stdout
    assert (
        f"  set        RUN_MAIN, by its parent PID {parent.pid} (python) for the processes it starts "
        "(not drift)\n"
    ) in result.stdout
    as_json = json.loads(project.devenv("diff", str(child), "--json").stdout)
    assert {item["key"]: item["pid"] for item in as_json["set_in_tree"]} == {
        "RUN_MAIN": parent.pid,
        "WORKER_MODE": parent.pid,
    }
    assert not as_json["differs"] and as_json["undeclared"] == []
    tree = project.devenv("diff", str(parent.pid), "--tree")
    assert tree.returncode == 0, tree.stdout


def test_a_key_that_reached_the_launched_process_from_outside_is_still_extra(
    project: Project, spawn: Spawn
) -> None:
    project.sync()
    # Started by hand with what a developer's shell exported: FOO_LEAK reaches the child
    # unchanged, WORKER_MODE the program changes for its child.
    outside = {"FOO_LEAK": "x", "WORKER_MODE": "outer"}
    parent_env = apply_env(canonical(project), hermetic_env()) | outside
    parent = spawn([sys.executable, "-c", RELOADER], cwd=project.root, env=parent_env)
    child = _reloaded_child(parent.pid)
    listed = {p["pid"]: p for p in json.loads(project.devenv("ps", "--json").stdout)}
    assert listed[parent.pid]["undeclared"] == ["FOO_LEAK", "WORKER_MODE"]
    assert listed[child]["undeclared"] == ["FOO_LEAK"]
    result = project.devenv("diff", str(child))
    assert result.returncode == 1, result.stdout
    assert "  extra      FOO_LEAK, not declared; reached the process from its launcher's environment\n" in (
        result.stdout
    )
    assert f"  set        WORKER_MODE, by its parent PID {parent.pid}" in result.stdout
    assert project.devenv("diff", str(parent.pid)).returncode == 1
