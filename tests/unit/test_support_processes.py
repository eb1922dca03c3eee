"""The shared test guards in tests/support/processes.py catch what they promise to catch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import gone, no_leftovers, project_processes, wait_for


def test_no_leftovers_kills_and_reports_a_process_that_outlives_the_test(tmp_path: Path) -> None:
    root = tmp_path / "project"
    env = {"DEVENV_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    sleeper = "import time; time.sleep(60)"
    with pytest.raises(AssertionError, match="processes outlived the test"), no_leftovers(str(tmp_path)):
        child = subprocess.Popen([sys.executable, "-c", sleeper], env=env)
        wait_for(lambda: bool(project_processes(str(tmp_path))), timeout=10, what="the child to start")
    child.wait(timeout=10)  # killed by the guard (reaped here: it is our child)
    assert gone(child.pid)
    with no_leftovers(str(tmp_path)):  # a test that leaves nothing passes
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
