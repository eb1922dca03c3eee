"""Waiting on conditions and processes in tests: deadlines, never sleeps as synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def gone(pid: int) -> bool:
    """Whether `pid` no longer runs (a zombie runs nothing: it only waits to be reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def running(pid: int, code: str) -> Callable[[], bool]:
    """A condition: `pid` runs `python -c code` (for `devenv run`: only once it has exec'd)."""

    def check() -> bool:
        try:
            return psutil.Process(pid).cmdline()[1:] == ["-c", code]
        except (psutil.Error, IndexError):
            return False

    return check
