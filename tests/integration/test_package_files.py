"""The files `[python].packages` reads (pyproject.toml through `-r` and `--group`, a `-r`
requirements file and the files it names) and the lock the venv was synced from are inputs
of the sync: a change to what they declare stops every launch and fails doctor as a changed
`[python]` table does, an edit of anything else stops nothing. Real uv, real PyPI, the real
CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.projects import DEVENV, Project, index_env, uv_pylock

APP = """\
[project]
name = "flatapp"
version = "0.1"
dependencies = ["six"]

[dependency-groups]
dev = ["iniconfig"]
"""

SPEC = """\
[python]
requires = ">=3.11"
packages = {packages}

[tasks.hello]
command = ["python", "-c", "print('task ran')"]
"""


def run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return project.devenv(*args, env=index_env(), timeout=300)


def synced(project: Project) -> dict[str, object]:
    result = run(project, "sync")
    assert result.returncode == 0, result.stderr
    python: dict[str, object] = json.loads((project.root / ".devenv" / "env.json").read_text())["python"]
    return python


def flat_app(tmp_path: Path, packages: str) -> Project:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=SPEC.format(packages=packages))
    project.write("pyproject.toml", APP)  # no build backend: read, never built
    project.write("flatapp/__init__.py", "")
    return project


def assert_stopped(project: Project, what: str) -> None:
    """Every launch refuses with `what` and the fix, as for a changed [python] table; doctor
    fails its packages line with the same words."""
    message = f"{what} changed since the last `devenv sync`; run `devenv sync`"
    for args in (
        ("run", "--", "python", "-c", "print('launched')"),
        ("print-env",),
        ("task", "hello"),
        ("up", "-d"),
    ):
        result = run(project, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "launched" not in result.stdout and "task ran" not in result.stdout
        assert "Traceback" not in result.stderr
    # The Python API, which the pytest fixtures launch through.
    api = project.python(
        "import devenv\ntry:\n    devenv.load()\nexcept devenv.StaleError as e:\n    print(e)"
    )
    assert api.stdout.strip() == message, api.stderr
    doctor = run(project, "doctor")
    assert doctor.returncode == 1, doctor.stdout
    line = next(line for line in doctor.stdout.splitlines() if " packages " in line)
    assert line.startswith("FAIL") and what in line and "(fix: devenv sync)" in line, doctor.stdout


def assert_fresh(project: Project, module: str) -> None:
    result = run(project, "run", "--", "python", "-c", f"import {module}; print('imported')")
    assert result.returncode == 0 and result.stdout == "imported\n", result.stderr
    task = run(project, "task", "hello")
    assert task.returncode == 0 and "task ran" in task.stdout, task.stderr
    doctor = run(project, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert next(line for line in doctor.stdout.splitlines() if " packages " in line).startswith("ok")


def assert_launches_without_resolving(project: Project) -> None:
    """The next `run` reads only env.nul: the last launch recorded the new stats."""
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", DEVENV, "run", "--", "true"],
        cwd=project.root,
        env=index_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "devenv.project" not in importtime.stderr


def test_a_dependency_added_to_pyproject_stops_every_launch_until_a_sync(tmp_path: Path) -> None:
    project = flat_app(tmp_path, '["-r pyproject.toml", "--group dev"]')
    synced(project)
    assert_fresh(project, "six")
    edited = APP.replace('["six"]', '["six", "idna>=3"]')
    project.write("pyproject.toml", edited)
    assert_stopped(project, "pyproject.toml [project].dependencies")
    check = run(project, "sync", "--check")
    assert check.returncode == 2 and "changed pyproject.toml [project].dependencies" in check.stderr
    synced(project)
    assert_fresh(project, "idna")
    project.write("pyproject.toml", edited.replace('["iniconfig"]', '["iniconfig", "packaging"]'))
    assert_stopped(project, "pyproject.toml [dependency-groups].dev")


def test_a_group_line_does_not_read_the_project_dependencies(tmp_path: Path) -> None:
    project = flat_app(tmp_path, '["--group dev"]')
    synced(project)
    project.write("pyproject.toml", APP.replace('["six"]', '["six", "idna>=3"]'))
    assert_fresh(project, "iniconfig")


def test_an_edit_of_a_tool_table_stops_nothing_and_syncs_nothing(tmp_path: Path) -> None:
    project = flat_app(tmp_path, '["-r pyproject.toml", "--group dev"]')
    before = synced(project)
    site = next((project.root / ".devenv" / "venv" / "lib").glob("python3*/site-packages"))
    installed = {path.name: path.stat().st_mtime_ns for path in site.glob("*.dist-info")}
    project.write("pyproject.toml", APP + "\n# linters\n[tool.ruff]\nline-length = 120\n")
    assert_fresh(project, "six")
    assert run(project, "sync", "--check").returncode == 0
    after = json.loads((project.root / ".devenv" / "env.json").read_text())["python"]
    assert after["installed"] == before["installed"]
    assert {path.name: path.stat().st_mtime_ns for path in site.glob("*.dist-info")} == installed
    # The check found nothing relevant and kept the file's new stat: the next launch reads
    # only env.nul again, without resolving (what its start-up budget needs).
    assert_launches_without_resolving(project)


def test_an_edited_requirements_file_stops_every_launch_until_a_sync(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path / "proj", venv=".devenv/venv", spec=SPEC.format(packages='["-r requirements.txt"]')
    )
    project.write("requirements.txt", "six\n")
    synced(project)
    assert_fresh(project, "six")
    project.write("requirements.txt", "six\nidna>=3\n")
    assert_stopped(project, "requirements.txt")
    synced(project)
    assert_fresh(project, "idna")


@pytest.mark.parametrize("broken", ["[project\n", "not toml at all = = =\n"])
def test_a_pyproject_that_no_longer_parses_is_exit_2_naming_it(tmp_path: Path, broken: str) -> None:
    project = flat_app(tmp_path, '["-r pyproject.toml"]')
    synced(project)
    project.write("pyproject.toml", broken)
    result = run(project, "run", "--", "true")
    assert result.returncode == 2 and "pyproject.toml" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    doctor = run(project, "doctor")
    line = next(line for line in doctor.stdout.splitlines() if " packages " in line)
    assert line.startswith("FAIL") and "pyproject.toml" in line.split("(fix:")[1], doctor.stdout


def uv_lock(project: Project, requirement: str) -> None:
    """pylock.toml as another tool writes it (`uv pip compile`), locking `requirement`."""
    project.write("requirements.in", requirement + "\n")
    uv_pylock(project.root)


def six_version(project: Project) -> str:
    code = "import importlib.metadata as m; print(m.version('six'))"
    result = run(project, "run", "--", "python", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_pulled_lock_stops_every_launch_until_a_sync(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=SPEC.format(packages='["six"]'))
    uv_lock(project, "six==1.16.0")
    synced(project)
    assert six_version(project) == "1.16.0"
    uv_lock(project, "six==1.17.0")  # what a `git pull` brings: the same inputs, new versions
    assert_stopped(project, "pylock.toml")
    check = run(project, "sync", "--check")
    assert check.returncode == 2, check.stderr
    synced(project)
    assert six_version(project) == "1.17.0"
    assert_fresh(project, "six")
    # A checkout of the same bytes (a new mtime) stops nothing, and its stat is recorded.
    lock = project.root / "pylock.toml"
    lock.write_bytes(lock.read_bytes())
    earlier = lock.stat().st_mtime_ns - 2_000_000_000
    os.utime(lock, ns=(earlier, earlier))
    assert_fresh(project, "six")
    assert run(project, "sync", "--check").returncode == 0
    assert_launches_without_resolving(project)


def test_devenv_lock_without_a_sync_is_stale_and_a_sync_that_locks_again_is_not(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path / "proj", venv=".devenv/venv", spec=SPEC.format(packages='["-r requirements.txt"]')
    )
    project.write("requirements.txt", "six\n")
    synced(project)  # no pylock.toml: from a private lock under .devenv/
    assert_fresh(project, "six")
    locked = run(project, "lock")
    assert locked.returncode == 0, locked.stderr
    # The venv holds what the private lock resolved; a sync now installs pylock.toml.
    assert_stopped(project, "pylock.toml (added)")
    synced(project)
    assert_fresh(project, "six")
    project.write("requirements.txt", "six\nidna>=3\n")
    assert_stopped(project, "requirements.txt")
    relocked = run(project, "sync")  # locks pylock.toml again itself, then installs it
    assert relocked.returncode == 0 and "locking again" in relocked.stderr, relocked.stderr
    assert_fresh(project, "idna")
    assert run(project, "sync", "--check").returncode == 0
    assert run(project, "sync", "--frozen").returncode == 0
    assert_fresh(project, "idna")


def test_the_files_a_requirements_file_names_are_inputs_too(tmp_path: Path) -> None:
    project = Project.create(
        tmp_path / "proj", venv=".devenv/venv", spec=SPEC.format(packages='["-r requirements.txt"]')
    )
    project.write("requirements.txt", "-r reqs/base.txt\n-c constraints.txt\n")
    project.write("reqs/base.txt", "six\n")
    project.write("constraints.txt", "six>=1.10\n")
    assert run(project, "lock").returncode == 0
    synced(project)
    assert_fresh(project, "six")
    project.write("reqs/base.txt", "six\nidna>=3\n")
    check = run(project, "lock", "--check")
    assert check.returncode == 1 and "changed file: reqs/base.txt" in check.stderr, check.stderr
    assert_stopped(project, "reqs/base.txt")
    synced(project)
    assert_fresh(project, "idna")
    project.write("constraints.txt", "six>=1.10\nidna>=3.1\n")
    assert_stopped(project, "constraints.txt")
