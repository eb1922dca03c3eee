"""Waiting on conditions and processes in tests: deadlines, never sleeps as synchronisation."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator

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


def broker_up(host: str = "127.0.0.1", port: int = 5672) -> bool:
    """Whether something accepts connections on the RabbitMQ port."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def require_broker() -> None:
    """Skip a test that needs RabbitMQ on 127.0.0.1:5672 when it is not running; under CI,
    where it must run, fail instead (a missing broker must not turn the suite green)."""
    if broker_up():
        return
    if os.environ.get("CI"):
        pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (CI must start it)")
    pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")


def project_processes(prefix: str) -> list[psutil.Process]:
    """Live processes whose start-up environment says they belong to a project under `prefix`
    (devenv sets DEVENV_ROOT in everything it launches)."""
    prefix = prefix.rstrip(os.sep) + os.sep
    found = []
    for process in psutil.process_iter(["environ", "status"]):
        environ = process.info["environ"] or {}
        if (
            environ.get("DEVENV_ROOT", "").startswith(prefix)
            and process.info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(process)
    return found


@contextlib.contextmanager
def no_leftovers(prefix: str) -> Iterator[None]:
    """Fail the enclosed test if a process it started (a new descendant of this one, or a
    process of a project under `prefix`) is still alive after it; kill those first.

    Use as an autouse fixture: `with no_leftovers(str(tmp_path)): yield`."""
    before = {process.pid for process in psutil.Process().children(recursive=True)}
    yield
    found = {process.pid: process for process in project_processes(prefix)}
    found.update(
        (process.pid, process)
        for process in psutil.Process().children(recursive=True)
        if process.pid not in before
    )
    described = []
    for process in found.values():
        if gone(process.pid):
            continue
        with contextlib.suppress(psutil.Error):
            described.append(f"{process.pid} {process.cmdline()}")
            process.kill()
    assert not described, f"processes outlived the test: {described}"


def running(pid: int, code: str) -> Callable[[], bool]:
    """A condition: `pid` runs `python -c code` (for `devenv run`: only once it has exec'd)."""

    def check() -> bool:
        try:
            return psutil.Process(pid).cmdline()[1:] == ["-c", code]
        except (psutil.Error, IndexError):
            return False

    return check
