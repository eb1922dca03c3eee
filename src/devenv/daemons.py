"""Daemons: what a declared process leaves running when its main process exits (the classic
double fork: the main process forks, the child calls setsid and forks again, both exit).

`devenv up` (in a terminal, or the `up -d` supervisor) makes itself a child subreaper for
its whole life (Linux, prctl PR_SET_CHILD_SUBREAPER), so such an orphan is re-parented to up
instead of to init. The watcher in processes.py then traces each orphan to the process it
came from (`trace`), lists it in that run's record (so `devenv ps` and `devenv stop` find it
after it cleared its environment and left the session), stops it with that process, and
reaps it when it exits (`reap`), so up leaves no zombies.

The fixture and the Python API do not do this: a test session's own subprocesses would leave
their orphans to pytest too, as zombies nothing reaps (devenv can reap only what it can
trace). There the launched process itself is the subreaper (processes.SUBREAPER_SHIM),
which holds while it runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from devenv.environment import RUN_ID_KEY, SERVICE_KEY
from devenv.records import dataclass

# prctl(2) options (linux/prctl.h).
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37

_ACTIVE: list[bool] = []
#: Children this process spawned itself and still waits for (a readiness command, a
#: service's start command): never an orphan, never reaped here, whatever their environment.
_SPAWNED: set[int] = set()
#: Held while a child is spawned and while orphans are traced (processes.adopt_orphans).
SPAWN_LOCK = threading.RLock()


def _prctl(option: int, value: int) -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0))


def _is_subreaper() -> bool:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flag = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    return bool(flag.value)


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """Be a child subreaper while the block runs (yields whether this process is one); the
    previous setting is restored after it, so a `run_up` called inside a test session does
    not leave pytest adopting orphans."""
    if not sys.platform.startswith("linux"):
        yield False
        return
    try:
        was = _is_subreaper()
        became = was or _prctl(_PR_SET_CHILD_SUBREAPER, 1) == 0
    except (OSError, AttributeError):
        yield False
        return
    _ACTIVE.append(became)
    try:
        yield became
    finally:
        _ACTIVE.pop()
        if became and not was:
            with contextlib.suppress(OSError, AttributeError):
                _prctl(_PR_SET_CHILD_SUBREAPER, 0)


def subreaper_active() -> bool:
    """Whether this process currently adopts orphans (inside `subreaper()`)."""
    return any(_ACTIVE)


@contextlib.contextmanager
def spawning() -> Iterator[Callable[[int], None]]:
    """Spawn a child inside the block and pass its pid to the function it yields: until
    `forget(pid)` (once it was waited for), `trace` never takes it for an orphan, whatever
    its environment. The block holds the lock `adopt` passes hold, so no pass sees the
    child before it is noted."""
    with SPAWN_LOCK:
        yield _SPAWNED.add


def forget(pid: int) -> None:
    """The child `pid` noted in `spawning()` was waited for."""
    with SPAWN_LOCK:
        _SPAWNED.discard(pid)


def children() -> list[int]:
    """The pids of this process's children (every thread's), adopted ones included."""
    found: list[int] = []
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return found
    for thread in threads:
        with (
            contextlib.suppress(OSError, ValueError),
            open(f"/proc/self/task/{thread}/children", "rb") as handle,
        ):
            found += [int(word) for word in handle.read().split()]
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class Origin:
    """A launched process an orphan may have come from."""

    run_id: str
    #: The main process's pid: its session id too (it was started in a new session).
    pid: int
    #: Its main process's start (clock ticks since boot, as /proc/PID/stat gives it: the
    #: one clock every process's start is read on; psutil's create_time can be off by a
    #: second against time.time()).
    started: int
    #: Whether its main process has exited (only then are its orphans re-parented to up:
    #: while it runs, it is their subreaper).
    exited: bool
    #: When its main process was seen gone (time.time()), for the tie-break below.
    exited_at: float
    #: Its descendants noted while they were in its tree: (pid, start ticks).
    known: frozenset[tuple[int, int]]


def trace(pid: int, start_ticks: int, origins: Sequence[Origin]) -> Origin | None:
    """The launched process the orphan `pid` came from, or None (not devenv's, or a child
    this process spawned itself). In order, by what is exact first:

    1. it was noted in that process's tree while it was there;
    2. it is still in that process's session;
    3. its environment carries that run's DEVENV_RUN_ID (a service's, DEVENV_SERVICE, is
       never a process's);
    4. it cleared its environment and left the session before it was ever seen: the process
       whose main process exited most recently and was spawned before it was. This is the
       one guess; it can be wrong only when two processes both exited after spawning
       daemons that cleared their environment within one watcher tick. A child in this
       process's own session is never guessed to be an orphan (it is a `git` or `pip` this
       process runs).
    """
    import psutil

    with SPAWN_LOCK:
        if pid in _SPAWNED:
            return None
    for origin in origins:
        if (pid, start_ticks) in origin.known:
            return origin
    try:
        session = os.getsid(pid)
    except OSError:
        return None  # gone
    for origin in origins:
        if origin.pid == session:
            return origin
    environ: dict[str, str] = {}
    with contextlib.suppress(psutil.Error, OSError):
        environ = psutil.Process(pid).environ()
    if SERVICE_KEY in environ:
        return None
    run_id = environ.get(RUN_ID_KEY)
    if run_id:
        return next((origin for origin in origins if origin.run_id == run_id), None)
    if session == os.getsid(0):
        return None  # a child this process ran in its own session (git, pip): not an orphan
    candidates = [o for o in origins if o.exited and o.started <= start_ticks]
    return max(candidates, key=lambda o: o.exited_at, default=None)


def reap(pid: int) -> int | None:
    """Collect the exit status of the adopted orphan `pid` if it has exited (no zombie is
    left): its exit code (negative: the signal that killed it), or None while it runs."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)
