"""Process trees: who descends from whom (one /proc scan serves every tree), and the one way
devenv stops trees.

A stop sends SIGTERM to each main process only (Dramatiq forwards it once to its workers; a
second SIGTERM would kill them hard), waits up to each tree's own timeout, then SIGKILLs
what is left: the main process, its process group, every descendant noted while it ran, its
session and anything carrying the run's DEVENV_RUN_ID marker. Many trees stop at once: the
waits overlap, and the scans for sessions and markers cover all of them in one pass.
`ProcessHandle.stop`, `devenv up`, `devenv stop` and the next launch ending leftovers
(`runs.cleanup_leftovers`) all come here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from devenv.environment import RUN_ID_KEY
from devenv.records import dataclass, field
from devenv.runs import KILL_GRACE, is_zombie, kill, wait_gone

if TYPE_CHECKING:
    import psutil

#: How often a stop looks whether the main processes have exited.
EXIT_POLL = 0.02
#: How often a stop notes new descendants while it waits (a stopping worker may still fork).
RESCAN_INTERVAL = 0.25


@dataclass(frozen=True, slots=True)
class ProcTable:
    """One reading of /proc: each pid's parent and start time (clock ticks since boot)."""

    parent: dict[int, int]
    started: dict[int, int]

    def descendants(self, pid: int) -> list[int]:
        """Every pid below `pid` in this reading, parents before children."""
        children: dict[int, list[int]] = {}
        for child, parent in self.parent.items():
            children.setdefault(parent, []).append(child)
        found: list[int] = []
        pending = list(children.get(pid, ()))
        while pending:
            child = pending.pop()
            found.append(child)
            pending.extend(children.get(child, ()))
        return found


def scan(roots: Iterable[int] | None = None) -> ProcTable:
    """Read each process's parent and start time from /proc: every process, or only the
    trees below `roots`.

    A tree is read through /proc/PID/task/TID/children (Linux), so its cost follows the size
    of the trees, not of the machine: an idle `devenv up` holding 10 processes reads about 30
    small files per tick instead of every process's stat (about 1.7 ms per 100 processes).
    Where those files do not exist, every process is read.
    """
    if roots is not None:
        table = _scan_trees(list(roots))
        if table is not None:
            return table
    parent: dict[int, int] = {}
    started: dict[int, int] = {}
    try:
        entries = os.scandir("/proc")
    except OSError:
        return ProcTable(parent, started)
    with entries:
        for entry in entries:
            if entry.name.isdigit():
                read_stat(int(entry.name), parent, started)
    return ProcTable(parent, started)


def read_stat(pid: int, parent: dict[int, int], started: dict[int, int]) -> None:
    """Add `pid`'s parent and start ticks from /proc/PID/stat (nothing if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return  # gone since it was listed
    # The command name (field 2) is in parentheses and may hold spaces or ")".
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) >= 20:
        parent[pid] = int(fields[1])
        started[pid] = int(fields[19])


def _scan_trees(roots: list[int]) -> ProcTable | None:
    """The trees below `roots` from the children files; None where the kernel has none."""
    parent: dict[int, int] = {}
    started: dict[int, int] = {}
    pending = list(roots)
    seen: set[int] = set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        read_stat(pid, parent, started)
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone
        for thread in threads:
            try:
                with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                    children = [int(word) for word in handle.read().split()]
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{pid}/task"):
                    continue
                return None  # no children files in this kernel
            except OSError:
                continue
            for child in children:
                parent[child] = pid
                pending.append(child)
    return ProcTable(parent, started)


@dataclass(kw_only=True, slots=True)
class StopTarget:
    """One tree to stop, and afterwards how its stop went."""

    pid: int
    #: Seconds from SIGTERM until SIGKILL.
    timeout: float
    #: The DEVENV_RUN_ID its processes carry, when devenv launched it.
    run_id: str = ""
    #: Descendants noted while it ran, keyed by (pid, start ticks): orphans a scan of the
    #: tree cannot find any more once the main process is gone.
    known: dict[tuple[int, int], psutil.Process] = field(default_factory=dict)
    #: When this process is the tree's parent: reaped through Popen, which must see the status.
    popen: subprocess.Popen[bytes] | None = None
    #: Otherwise the main process as found when the stop began (pid reuse cannot fool it).
    main: psutil.Process | None = None
    #: Set by the stop: whether the main process outlived its timeout and was killed.
    timed_out: bool = False
    #: Set by the stop: whether anything of the tree had to be killed.
    killed: bool = False
    #: Set by the stop: seconds it took, from SIGTERM until nothing of the tree was left.
    seconds: float = 0.0

    def note(self, table: ProcTable) -> None:
        """Remember every descendant `table` shows."""
        note_descendants(self.known, table, self.pid)

    def running(self) -> bool:
        """Whether the main process still runs (a zombie runs nothing)."""
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            return self.main is not None and self.main.is_running() and not is_zombie(self.main)
        except Exception:
            return False


def note_descendants(known: dict[tuple[int, int], psutil.Process], table: ProcTable, pid: int) -> None:
    """Add to `known` every descendant of `pid` that `table` shows (only a new one costs a
    psutil handle): after the main process dies they are orphans no scan of its tree finds."""
    import psutil

    for child in table.descendants(pid):
        key = (child, table.started.get(child, 0))
        if key not in known:
            with contextlib.suppress(psutil.Error):
                known[key] = psutil.Process(child)


def stop_trees(targets: Sequence[StopTarget]) -> None:
    """Stop every tree in `targets` at once; each target records how its stop went."""
    if not targets:
        return
    import psutil

    began = time.monotonic()
    table = scan()
    for target in targets:
        if target.popen is None and target.main is None:
            with contextlib.suppress(psutil.Error):
                target.main = psutil.Process(target.pid)
        target.note(table)
        if not target.running():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError, psutil.Error):
            if target.popen is not None:
                target.popen.send_signal(signal.SIGTERM)
            elif target.main is not None:
                target.main.send_signal(signal.SIGTERM)
    pending = [t for t in targets if t.running()]
    rescan = time.monotonic() + RESCAN_INTERVAL
    while pending:
        now = time.monotonic()
        if now >= rescan:
            table = scan()
            for target in pending:
                target.note(table)
            rescan = now + RESCAN_INTERVAL
        pending = [t for t in pending if t.running() and now - began < t.timeout]
        if pending:
            time.sleep(EXIT_POLL)
    _kill_what_is_left(targets)
    for target in targets:
        target.seconds = time.monotonic() - began


def _kill_what_is_left(targets: Sequence[StopTarget]) -> None:
    late = [t for t in targets if t.running()]
    if late:
        table = scan()
        for target in late:
            target.timed_out = True
            target.note(table)
    victims: list[psutil.Process] = []
    for target in targets:
        mine: list[psutil.Process] = []
        if target.timed_out and target.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                target.popen.kill()  # reaped below
        elif target.timed_out and target.main is not None:
            mine += [target.main] if kill(target.main) else []
        # The group and session ids are the main pid (start_new_session); both outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(target.pid, signal.SIGKILL)
        mine += [p for p in target.known.values() if kill(p)]
        target.killed = target.timed_out or bool(mine)
        victims += mine
    for target in targets:
        if target.popen is not None:
            # Reap through Popen only: psutil.wait_procs on it would steal its exit status.
            with contextlib.suppress(subprocess.TimeoutExpired):
                target.popen.wait(KILL_GRACE)
    # A child that left the group (setpgid) stays in the session; one that left both and
    # cleared its environment was still noted as a descendant; the rest carry the marker.
    for target, procs in _strays(targets):
        hit = [p for p in procs if kill(p)]
        target.killed |= bool(hit)
        victims += hit
    wait_gone(victims, timeout=KILL_GRACE)


def _strays(targets: Sequence[StopTarget]) -> Iterable[tuple[StopTarget, list[psutil.Process]]]:
    """For each target, the live processes in its session or carrying its marker (one pass)."""
    import psutil

    by_session = {t.pid: t for t in targets}
    by_marker = {t.run_id: t for t in targets if t.run_id}
    own = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        own.update(p.pid for p in psutil.Process().parents())
    found: dict[int, list[psutil.Process]] = {id(t): [] for t in targets}
    for proc in psutil.process_iter():
        if proc.pid in own:
            continue
        owner = None
        with contextlib.suppress(OSError):
            owner = by_session.get(os.getsid(proc.pid))
        if owner is None and by_marker:
            with contextlib.suppress(psutil.Error, OSError):
                # environ() is the environment the process was exec'd with, read best-effort.
                owner = by_marker.get(proc.environ().get(RUN_ID_KEY, ""))
        if owner is not None and not is_zombie(proc):
            found[id(owner)].append(proc)
    return [(t, found[id(t)]) for t in targets]
