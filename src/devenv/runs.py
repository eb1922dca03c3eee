"""Run records and leftovers: who started what, found again after a crash, and ended for good.

Every launch writes `.devenv/runs/<run_id>.json` and marks its process with DEVENV_RUN_ID.
A record whose owner (the `devenv up`, test session or script that started it) is gone is
a leftover; its processes are found by pid (checked against pid reuse) and by the marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NotRequired, TypeAlias, TypedDict

from devenv.environment import RUN_ID_KEY
from devenv.layout import RUNS, SERVICES, state_path
from devenv.store import TEMP_PREFIX

if TYPE_CHECKING:
    import psutil

    from devenv.trees import StopTarget

#: How long killed processes get to disappear before a stop gives up waiting on them.
KILL_GRACE = 3.0
#: SIGTERM to SIGKILL for a run whose record names no stop_timeout ([processes] default).
DEFAULT_STOP_TIMEOUT = 10.0

Launcher: TypeAlias = Literal["up", "fixture", "api", "run", "nox", "shell", "task"]


class RunRecord(TypedDict):
    """`.devenv/runs/<run_id>.json`: who started what, to find leftovers after a crash."""

    schema: int
    run_id: str
    name: str
    pid: int
    create_time: float
    owner_pid: int
    owner_create_time: float
    command: list[str]
    log_path: str
    fingerprint: str
    started_at: str
    launcher: str
    instance: str
    stop_timeout: float
    #: The checkout and user the run was started for (devenv/binding.py): a record without
    #: one, or with another's, is never acted on.
    binding: NotRequired[list[str]]
    #: What the run left running after its main process exited (daemons.py), adopted by the
    #: `devenv up` that started it: [pid, create_time] each. Such a daemon may have cleared
    #: its environment, so this is how `devenv ps` and `devenv stop` find it.
    daemons: NotRequired[list[list[float]]]


def runs_dir(root: str) -> str:
    """Where run records live."""
    return state_path(root, RUNS)


def services_dir(root: str) -> str:
    """Where the records of services devenv started live (who started each, its log)."""
    return state_path(root, SERVICES)


def write_record(root: str, record: RunRecord) -> str:
    """Write `record` atomically (0600 in a 0700 folder); return its path."""
    from devenv.binding import binding_fields
    from devenv.store import state_folder, write_atomic

    path = os.path.join(state_folder(root, RUNS), f"{record['run_id']}.json")
    bound: RunRecord = {**record, "binding": binding_fields(root)}
    write_atomic(path, json.dumps(bound, sort_keys=True).encode())
    return path


def read_records(root: str) -> list[tuple[str, RunRecord]]:
    """(path, record) of every readable run record; unreadable ones are removed (written
    atomically, so an unreadable record is garbage)."""
    from devenv.store import open_folder

    folder = runs_dir(root)
    if not os.path.lexists(folder):
        return []
    # Every operation goes through a descriptor of the folder opened without following a
    # link: with `.devenv/runs -> ..`, the project's own *.json files are no records to remove.
    descriptor = open_folder(folder)
    try:
        return _read_records(root, folder, descriptor)
    finally:
        os.close(descriptor)


def _read_records(root: str, folder: str, descriptor: int) -> list[tuple[str, RunRecord]]:
    from devenv.binding import bound_here, foreign_owner

    found = []
    for entry in sorted(os.listdir(descriptor)):
        if not entry.endswith(".json") or entry.startswith(TEMP_PREFIX):
            continue  # a writer's temporary file is not a record (nor garbage to remove)
        path = os.path.join(folder, entry)
        try:
            opened = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=descriptor)
            with open(opened, encoding="utf-8") as handle:
                if foreign_owner(os.fstat(opened)):
                    continue  # another user's: never trusted, never removed
                record: RunRecord = json.load(handle)
            if not (
                isinstance(record.get("run_id"), str)
                and isinstance(record.get("pid"), int)
                and isinstance(record.get("owner_pid"), int)
                and isinstance(record.get("owner_create_time"), float | int)
            ):
                raise ValueError("not a run record")
            if not bound_here([str(field) for field in record.get("binding") or []], root):
                raise ValueError("a record of another checkout (copied with it) or of an older devenv")
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(entry, dir_fd=descriptor)
            continue
        found.append((path, record))
    return found


def _stop_request_path(root: str, run_id: str) -> str:
    return os.path.join(runs_dir(root), f"{run_id}.stop")


def request_stop(root: str, run_id: str) -> None:
    """Mark the run as stopped on request (`devenv stop`), before it is signalled: the
    `devenv up` supervising it then neither restarts it nor reports a crash."""
    folder = runs_dir(root)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    from devenv.store import write_atomic

    write_atomic(_stop_request_path(root, run_id), b"")


def stop_requested(root: str, run_id: str) -> bool:
    """Whether `devenv stop` asked for this run to stop."""
    return os.path.exists(_stop_request_path(root, run_id))


def clear_stop_request(root: str, run_id: str) -> None:
    """Forget the request (the run is gone)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_stop_request_path(root, run_id))


def owner_alive(record: RunRecord) -> bool:
    """Whether the process that started the run still runs (then it is not a leftover)."""
    return matches(record["owner_pid"], record["owner_create_time"])


def cleanup_leftovers(root: str, needs: Mapping[str, Sequence[str]] | None = None) -> list[int]:
    """End what earlier runs left behind when their owner died; return the pids of the main
    processes ended.

    They stop by the one path every stop takes (`trees.stop_trees`, as `devenv stop` does):
    SIGTERM to each main process, its recorded stop_timeout, then SIGKILL to what is left, level
    by level of `needs` (what nothing needs first). An RQ worker unregisters itself only on
    SIGTERM: killed outright, the next worker of its name is refused until Redis forgets it.
    A record whose owner process still runs belongs to another `devenv up` or test session
    and is left alone; one another launcher is already ending is waited for, not signalled
    twice (a second SIGTERM kills Dramatiq's workers hard).
    """
    leftovers = [(path, record) for path, record in read_records(root) if not owner_alive(record)]
    if not leftovers:
        return []
    from devenv.needs import stop_levels
    from devenv.trees import stop_trees

    mine: list[tuple[str, RunRecord, int]] = []
    theirs: list[tuple[RunRecord, int]] = []
    ended: list[int] = []
    try:
        for path, record in leftovers:
            claim = _claim(path)
            if claim is not None:
                descriptor, locked = claim
                if locked:
                    mine.append((path, record, descriptor))
                else:
                    theirs.append((record, descriptor))
        targets = _leftover_targets([record for _, record, _ in mine])
        for level in stop_levels(needs or {}, list(dict.fromkeys(record["name"] for _, record, _ in mine))):
            batch = [t for _, record, _ in mine if record["name"] in level for t in targets[record["run_id"]]]
            stop_trees(batch)
            ended += [target.pid for target in batch]
        for path, record, _ in mine:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            clear_stop_request(root, record["run_id"])
        for record, descriptor in theirs:
            _wait_unlocked(descriptor, record.get("stop_timeout", DEFAULT_STOP_TIMEOUT) + 2 * KILL_GRACE)
    finally:
        for descriptor in [d for *_, d in mine] + [d for _, d in theirs]:
            os.close(descriptor)
    return sorted(set(ended))


def _claim(path: str) -> tuple[int, bool] | None:
    """Lock the leftover's record for ending it: (descriptor, True) once locked here,
    (descriptor, False) while another launcher holds it, None if it is gone already."""
    import fcntl

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return descriptor, False
    try:
        # Locked only after the holder before us had ended it and removed the record.
        if os.stat(path, follow_symlinks=False).st_ino == os.fstat(descriptor).st_ino:
            return descriptor, True
    except OSError:
        pass
    os.close(descriptor)
    return None


def _wait_unlocked(descriptor: int, timeout: float) -> None:
    """Wait (up to `timeout`) until the launcher ending a leftover is done with it."""
    import fcntl

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.05)


def _leftover_targets(records: Sequence[RunRecord]) -> dict[str, list[StopTarget]]:
    """For each leftover run, the trees to stop: its main process (if it is still the one
    recorded), the daemons its record lists, and each process carrying its marker whose parent
    does not (what its main process left when it died)."""
    import psutil

    from devenv.trees import StopTarget

    marked = marked_by_run({record["run_id"] for record in records}) if records else {}
    targets: dict[str, list[StopTarget]] = {}
    for record in records:
        run_id = record["run_id"]
        timeout = record.get("stop_timeout", DEFAULT_STOP_TIMEOUT)
        tops: dict[int, psutil.Process] = {}
        if matches(record["pid"], record.get("create_time", 0.0)):
            with contextlib.suppress(psutil.Error):
                tops[record["pid"]] = psutil.Process(record["pid"])
        for daemon in recorded_daemons(record):
            tops.setdefault(daemon.pid, daemon)
        members = {proc.pid for proc in marked.get(run_id, [])} | set(tops)
        for proc in marked.get(run_id, []):
            with contextlib.suppress(psutil.Error):
                if proc.pid not in tops and proc.ppid() not in members:
                    tops[proc.pid] = proc
        targets[run_id] = [
            StopTarget(pid=pid, timeout=timeout, run_id=run_id, main=proc) for pid, proc in tops.items()
        ]
    return targets


def recorded_daemons(record: RunRecord) -> list[psutil.Process]:
    """The daemons the record lists that still run (checked against pid reuse)."""
    import psutil

    found = []
    for entry in record.get("daemons") or []:
        try:
            pid, created = int(entry[0]), float(entry[1])
            if matches(pid, created):
                found.append(psutil.Process(pid))
        except (psutil.Error, ValueError, TypeError, IndexError):
            continue
    return found


def marked_processes(run_id: str) -> list[psutil.Process]:
    """Every process whose (initial) environment carries DEVENV_RUN_ID=`run_id`."""
    return marked_by_run({run_id}).get(run_id, [])


def marked_by_run(run_ids: set[str]) -> dict[str, list[psutil.Process]]:
    """The live processes carrying the DEVENV_RUN_ID marker of each of `run_ids` (one scan)."""
    import psutil

    own = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        own.update(p.pid for p in psutil.Process().parents())
    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter():
        if proc.pid in own:
            continue
        try:
            # environ() is the environment the process was exec'd with, read best-effort.
            run_id = proc.environ().get(RUN_ID_KEY, "")
            if run_id in run_ids and not is_zombie(proc):
                found.setdefault(run_id, []).append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def matches(pid: int, create_time: float) -> bool:
    """Whether `pid` is still the process that was created at `create_time` (no pid reuse)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.05 and not is_zombie(proc)
    except psutil.Error:
        return False


def is_zombie(proc: psutil.Process) -> bool:
    """Whether `proc` is gone or a zombie (it runs nothing: it only waits to be reaped)."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return True
    except psutil.AccessDenied:
        return False


def kill(proc: psutil.Process) -> bool:
    """SIGKILL `proc` if it is still running and not a zombie; True if it was signalled."""
    import psutil

    try:
        if not proc.is_running() or is_zombie(proc):
            return False
        proc.kill()
        return True
    except psutil.Error:
        return False


def wait_gone(procs: list[psutil.Process], *, timeout: float) -> None:
    """Wait until each of `procs` is gone or a zombie (a zombie runs nothing)."""
    import psutil

    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending and time.monotonic() < deadline:
        still = []
        for proc in pending:
            try:
                if proc.is_running() and not is_zombie(proc):
                    still.append(proc)
            except psutil.Error:
                continue
        pending = still
        if pending:
            time.sleep(0.01)
