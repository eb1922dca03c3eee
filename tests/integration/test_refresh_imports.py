"""What `print-env` and `run` import. On a fresh record: nothing beyond what the interpreter
loads for `python -c pass` but devenv's start-up modules (benchmarks/cli_startup.py measures
the cost of each). After a `.env` edit (print-env, run, the shell hook's refresh): only what
resolving needs, not the venv machinery, packaging, subprocess, dataclasses or the side of
python-dotenv that is not its parser (benchmarks/diagnostics.py measures what that saves)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.projects import DEVENV, Project, hermetic_env

#: What a refresh outside a git repository never needs.
NOT_NEEDED = {
    "dataclasses": "records are devenv.records classes",
    "inspect": "imported by dataclasses",
    "packaging": "[python].requires is a plain specifier",
    "subprocess": "no git repository to ask, no venv to probe",
    "tempfile": "store writes its own temporary files",
    "logging": "imported by dotenv.main",
    "devenv.venv": "a refresh never changes the venv",
    "devenv.requirements": "[python].packages are checked by sync",
    "_hashlib": "digest.sha256 needs no OpenSSL",
    "urllib.parse": "masking imports it where it quotes",
    "psutil": "nothing here looks at processes",
}


def _imported(argv: list[str], cwd: Path) -> set[str]:
    """The modules `argv` (run by devenv's interpreter) imports, as -X importtime lists them."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=cwd,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()[1:]}


@pytest.mark.parametrize("command", [["print-env"], ["run", "--", "true"]], ids=["print-env", "run"])
def test_a_fresh_launch_imports_only_the_start_up_path(project: Project, command: list[str]) -> None:
    """No module of the standard library beyond the interpreter's own start, and of devenv
    neither the declaration of the other commands (cli_commands, with argparse behind it), a
    renderer (a fresh env.nul carries print-env's default text) nor the error classes (each
    module costs ~0.1 ms of a budget of ~0.9 ms: docs/architecture.md, "Start-up budget")."""
    project.sync()
    imported = _imported([DEVENV, *command], project.root)
    assert "devenv.cli" in imported and "devenv.snapshot" in imported
    assert "devenv.project" not in imported, "the record was not fresh"
    beyond_python = imported - _imported(["-c", "pass"], project.root)
    assert {name for name in beyond_python if not name.startswith("devenv")} == set()
    assert "devenv.cli_commands" not in imported
    assert "devenv.renderers" not in imported, "print-env's default text is in env.nul"
    assert "devenv.errors" not in imported, "a launch that works raises nothing"


def _edit(project: Project) -> None:
    """Change a value, then date the file 2 s back: the refresh need not wait for it to settle."""
    project.write(".env", f"EDITED={time.time_ns()}\n")
    past = time.time_ns() - 2_000_000_000
    os.utime(project.root / ".env", ns=(past, past))


@pytest.mark.parametrize("command", [["print-env"], ["run", "--", "true"]], ids=["print-env", "run"])
def test_a_refresh_imports_only_what_resolving_needs(project: Project, command: list[str]) -> None:
    project.sync()
    _edit(project)
    imported = _imported([DEVENV, *command], project.root)
    assert "devenv.project" in imported, "the edit did not make it refresh"
    assert "tomllib" in imported and "devenv.dotenvfile" in imported
    loaded = {name: why for name, why in NOT_NEEDED.items() if name in imported}
    assert not loaded, loaded
    again = project.devenv("print-env", "--format", "json")
    assert "EDITED" in again.stdout


def test_git_is_asked_again_only_when_its_index_changed(project: Project, tmp_path: Path) -> None:
    """Outside a repository no git runs at all; inside one, a refresh asks `git ls-files`
    once per change of the index (what tracking .devenv/ takes), so a tracked .devenv/ is
    still refused at once."""
    git = shutil.which("git")
    assert git, "git is needed for this test"
    calls = tmp_path / "git-calls"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{git}" "$@"\n')
    wrapper.chmod(0o755)
    env = hermetic_env(PATH=f"{wrapper.parent}:/usr/local/bin:/usr/bin:/bin")

    def refreshes() -> int:
        before = len(calls.read_text().splitlines()) if calls.exists() else 0
        _edit(project)
        result = project.devenv("print-env", env=env)
        assert result.returncode == 0, result.stderr
        return (len(calls.read_text().splitlines()) if calls.exists() else 0) - before

    project.sync(env=env)
    assert refreshes() == 0  # no repository
    subprocess.run([git, "init", "-q", str(project.root)], check=True)
    subprocess.run([git, "-C", str(project.root), "add", "envspec.toml"], check=True)  # an index
    assert refreshes() == 1
    assert refreshes() == 0  # the same index: git is not asked again
    subprocess.run([git, "-C", str(project.root), "add", "-f", ".devenv/env.json"], check=True)
    _edit(project)
    refused = project.devenv("print-env", env=env)
    assert refused.returncode != 0 and "tracked by git" in refused.stderr
