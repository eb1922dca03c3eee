"""The shared leftover guard in tests/support/leftovers.py catches what it promises to catch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.leftovers import forbid_leftovers, launched_under
from tests.support.processes import gone, wait_for


def test_forbid_leftovers_kills_and_reports_a_process_that_outlives_the_test(tmp_path: Path) -> None:
    root = tmp_path / "project"
    env = {"DEVENV_ROOT": str(root), "PATH": "/usr/bin:/bin"}
    sleeper = "import time; time.sleep(60)"
    with pytest.raises(AssertionError, match="processes outlived the test"), forbid_leftovers(tmp_path):
        child = subprocess.Popen([sys.executable, "-c", sleeper], env=env)
        wait_for(lambda: bool(launched_under(tmp_path)), timeout=10, what="the child to start")
    child.wait(timeout=10)  # killed by the guard (reaped here: it is our child)
    assert gone(child.pid)
    with forbid_leftovers(tmp_path):  # a test that leaves nothing passes
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
