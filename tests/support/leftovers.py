"""The one leftover-process guard: nothing a test started may outlive it.

A test's processes are its new descendants, and anything whose start-up environment carries
a DEVENV_ROOT under the test's own folder (a launched process that left the tree, or a
service started for a project there). Whatever is still alive afterwards is killed, so one
failure does not cascade, and the test fails naming each one. They are not waited for here:
reaping a child the test's own Popen holds would steal its exit status.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from tests.support.processes import gone

__all__ = ["Spawn", "forbid_leftovers", "launched_under", "spawner"]


def launched_under(folder: str | Path) -> list[psutil.Process]:
    """Live processes whose start-up environment says they belong to a project under `folder`."""
    prefix = str(folder).rstrip(os.sep) + os.sep
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
def forbid_leftovers(folder: str | Path) -> Iterator[None]:
    """Around a test: fail it if a process it started (see the module) is alive at the end."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    described = []
    try:
        yield
    finally:
        # Also when the test failed: what it left running must not outlive it either.
        found = {p.pid: p for p in psutil.Process().children(recursive=True) if p.pid not in before}
        found.update((p.pid, p) for p in launched_under(folder))
        for process in found.values():
            if gone(process.pid):
                continue
            with contextlib.suppress(psutil.Error):
                described.append(f"{process.pid} {process.cmdline()}")
                process.kill()
    assert not described, f"processes outlived the test: {described}"


#: Starts a child for a test: `spawn(command, **Popen keywords)`.
Spawn = Callable[..., "subprocess.Popen[bytes]"]


@contextlib.contextmanager
def spawner(folder: str | Path) -> Iterator[Spawn]:
    """Start children in their own session; afterwards kill each one's tree and anything a
    project under `folder` launched, reap the children, and fail if any of it survives."""
    started: list[subprocess.Popen[bytes]] = []

    def spawn(command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        popen: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            command, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
        )
        started.append(popen)
        return popen

    try:
        yield spawn
    finally:
        doomed: list[psutil.Process] = []
        for popen in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                top = psutil.Process(popen.pid)
                doomed += [top, *top.children(recursive=True)]
        doomed += launched_under(folder)
        for process in doomed:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        for popen in started:
            popen.wait(timeout=10)  # through Popen, so it knows its child is reaped
        psutil.wait_procs([p for p in doomed if p.pid not in {s.pid for s in started}], timeout=10)
    survivors = [p for p in doomed if not gone(p.pid)] + launched_under(folder)
    assert not survivors, f"processes outlived the test: {survivors}"
