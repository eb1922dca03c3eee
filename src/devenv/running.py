"""`devenv ps` and `devenv stop`: every process running in this project's environment.

A process belongs to a project when its environment carries that project's DEVENV_ROOT,
however it was started: `devenv up`, the pytest fixture, the Python API (these also carry a
DEVENV_RUN_ID and a run record), `devenv run`, a nox session, or a shell that sourced
.devenv/env.sh; and the daemons a run's record lists (what a process left running when its
main process exited, adopted by `devenv up`: daemons.py), which may have cleared their
environment. `stop` ends them by the same path as `up` (`trees.stop_trees`): SIGTERM to the main
process, a grace period, then SIGKILL to its group, session and every descendant.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeAlias, TypedDict

from devenv.environment import (
    FINGERPRINT_KEY,
    INSTANCE_KEY,
    LAUNCHER_KEY,
    OVERRIDES_KEY,
    PROFILE_KEY,
    ROOT_KEY,
    RUN_ID_KEY,
    SERVICE_KEY,
    CanonicalEnv,
    default_instance,
)
from devenv.errors import DevenvError, UsageError
from devenv.records import dataclass
from devenv.runs import DEFAULT_STOP_TIMEOUT, RunRecord, owner_alive, read_records

ProcessStatus: TypeAlias = Literal["current", "stale"]

#: Launchers whose processes `devenv stop` may end; a shell is the user's own, a service
#: (the broker) outlives `up` on purpose.
STOPPABLE = ("up", "fixture", "api", "run", "nox", "task")


class ProcessInfoJson(TypedDict):
    pid: int
    ppid: int
    name: str
    program: str
    launcher: str
    run_id: str
    instance: str
    profile: str
    root: str
    age_seconds: float
    fingerprint: str
    status: ProcessStatus
    leftover: bool
    overrides: list[str]
    undeclared: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessInfo:
    """A running process whose environment belongs to a devenv project."""

    pid: int
    ppid: int
    #: The declared name (`worker`), else the service name, else the program's name.
    name: str
    program: str
    #: up, fixture, api, run, nox, service, or shell (nothing of devenv's started it).
    launcher: str
    run_id: str
    instance: str
    #: The [profiles.NAME] its environment was resolved for ("" for none).
    profile: str
    root: str
    age_seconds: float
    fingerprint: str
    #: "current" when its DEVENV_FINGERPRINT equals what a launch would get now.
    status: ProcessStatus
    #: Started by a launcher that is gone (a killed `devenv up`, test session or script):
    #: nothing will stop it but `devenv stop` or the next start of the same project.
    leftover: bool = False
    #: Keys its launcher set on top of the files (--set, a process's overrides): the status
    #: compares with the canonical env with those values, so an override is never "stale".
    overrides: tuple[str, ...] = ()
    #: Keys it has that no devenv launch gives (see drift.ProcessDiff.undeclared), without
    #: those a program of its own tree set for it (drift.set_in_tree).
    undeclared: tuple[str, ...] = ()

    def to_json(self) -> ProcessInfoJson:
        """The JSON form (`devenv ps --json` is a list of these)."""
        return {
            "pid": self.pid,
            "ppid": self.ppid,
            "name": self.name,
            "program": self.program,
            "launcher": self.launcher,
            "run_id": self.run_id,
            "instance": self.instance,
            "profile": self.profile,
            "root": self.root,
            "age_seconds": round(self.age_seconds, 1),
            "fingerprint": self.fingerprint,
            "status": self.status,
            "leftover": self.leftover,
            "overrides": list(self.overrides),
            "undeclared": list(self.undeclared),
        }


def current_env(root: str, outer: Mapping[str, str], environ: Mapping[str, str]) -> CanonicalEnv | None:
    """What a launch of the process with `environ` would get now (inputs re-read: its
    instance, profile, overrides and declared `env` table), else the last snapshot's, or
    None when there is neither."""
    from devenv.drift import expected_env

    try:
        return expected_env(root, environ, outer)[0]
    except DevenvError:
        from devenv.snapshot import read_snapshot

        snapshot = read_snapshot(root)
        return snapshot.env if snapshot is not None and OVERRIDES_KEY not in environ else None


def ps(root: str, outer: Mapping[str, str], *, all_projects: bool = False) -> list[ProcessInfo]:
    """Processes whose environment has DEVENV_ROOT = `root` (or any root), but not devenv's
    own process and its ancestors (the shell you typed `devenv ps` in)."""
    from devenv.drift import compare, overrides_of, with_tree

    wanted = os.path.normpath(root)
    exclude: set[int] = set()
    envs: dict[tuple[str, str, str, str, tuple[tuple[str, str], ...]], CanonicalEnv | None] = {}
    records: dict[str, dict[str, RunRecord]] = {}
    declared: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    now = time.time()
    found = []
    attrs = ["pid", "ppid", "name", "create_time", "environ", "cmdline"]
    for info in _processes(attrs, None if all_projects else wanted):
        if not exclude:
            exclude = _self_and_ancestors()
        environ = info.get("environ") or {}  # None for other users' processes (AccessDenied)
        process_root = os.path.normpath(environ.get(ROOT_KEY, "")) if ROOT_KEY in environ else ""
        if not process_root or info["pid"] in exclude:
            continue
        if not all_projects and process_root != wanted:
            continue
        if process_root not in records:
            records[process_root] = {record["run_id"]: record for _, record in read_records(process_root)}
            declared[process_root] = _declared_commands(process_root)
        run_id = environ.get(RUN_ID_KEY, "")
        record = records[process_root].get(run_id)
        cmdline = info.get("cmdline") or []
        name = (
            (record["name"] if record else "")
            or environ.get(SERVICE_KEY, "")
            or _declared_name(cmdline, declared[process_root])
            or info["name"]
            or "?"
        )
        instance = environ.get(INSTANCE_KEY) or default_instance(process_root)
        profile = environ.get(PROFILE_KEY, "")
        overrides = overrides_of(environ)
        key = (process_root, instance, profile, record["name"] if record else "", overrides)
        if key not in envs:
            envs[key] = current_env(process_root, outer, environ)
        current = envs[key]
        fingerprint = environ.get(FINGERPRINT_KEY, "")
        found.append(
            ProcessInfo(
                pid=info["pid"],
                ppid=info["ppid"] or 0,
                name=name,
                program=info["name"] or "?",
                launcher=(record.get("launcher") if record else None) or environ.get(LAUNCHER_KEY, "shell"),
                run_id=run_id,
                instance=instance,
                profile=profile,
                root=process_root,
                age_seconds=max(0.0, now - (info["create_time"] or now)),
                fingerprint=fingerprint,
                status="current" if current and fingerprint == current.fingerprint else "stale",
                leftover=bool(run_id) and (record is None or not owner_alive(record)),
                overrides=tuple(k for k, _ in overrides),
                # Not what a program of its own tree set for it (Django's RUN_MAIN).
                undeclared=with_tree(compare(info["pid"], "", environ, current), environ).undeclared
                if current
                else (),
            )
        )
    if not all_projects and wanted not in records:
        records[wanted] = {record["run_id"]: record for _, record in read_records(wanted)}
    found += _daemon_rows(records, outer, envs, exclude | {p.pid for p in found}, now)
    return sorted(found, key=lambda p: (p.root, p.run_id, p.pid))


def _daemon_rows(
    records: Mapping[str, Mapping[str, RunRecord]],
    outer: Mapping[str, str],
    envs: dict[tuple[str, str, str, str, tuple[tuple[str, str], ...]], CanonicalEnv | None],
    listed: set[int],
    now: float,
) -> list[ProcessInfo]:
    """The daemons run records list that `ps` did not find by their environment (they
    cleared it): under the declared name of the run that left them."""
    from devenv.runs import recorded_daemons

    rows = []
    for root, by_run in records.items():
        for run_id, record in by_run.items():
            if not record.get("daemons"):
                continue  # most runs leave none: psutil is imported only for those that do
            import psutil

            for daemon in recorded_daemons(record):
                if daemon.pid in listed:
                    continue
                instance = record.get("instance") or "main"
                key = (root, instance, "", record["name"], ())
                if key not in envs:
                    environ = {ROOT_KEY: root, INSTANCE_KEY: instance, RUN_ID_KEY: run_id}
                    envs[key] = current_env(root, outer, environ)
                current = envs[key]
                try:
                    ppid, program, created = daemon.ppid(), daemon.name(), daemon.create_time()
                except psutil.Error:
                    continue
                rows.append(
                    ProcessInfo(
                        pid=daemon.pid,
                        ppid=ppid,
                        name=record["name"],
                        program=program or "?",
                        launcher=record.get("launcher") or "up",
                        run_id=run_id,
                        instance=instance,
                        profile="",
                        root=root,
                        age_seconds=max(0.0, now - created),
                        fingerprint=record.get("fingerprint", ""),
                        status="current"
                        if current and record.get("fingerprint") == current.fingerprint
                        else "stale",
                        leftover=not owner_alive(record),
                    )
                )
                listed.add(daemon.pid)
    return rows


def _processes(attrs: list[str], root: str | None) -> Iterator[dict[str, Any]]:
    """psutil's `info` (`attrs`, None where access is denied) of every process whose
    environment names DEVENV_ROOT (= `root`, when given). On Linux, /proc/PID/environ is read
    once per process to find them first, so psutil (its import, and five reads per process)
    is paid only for those: `devenv ps` on a busy machine costs about one interpreter start
    (benchmarks/diagnostics.py). Elsewhere, every process is asked."""
    needle = f"\0{ROOT_KEY}=".encode()
    try:
        names = os.listdir("/proc")
    except OSError:
        names = []
    if not names:
        import psutil

        for process in psutil.process_iter(attrs):
            yield process.info
        return
    pids = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                data = b"\0" + handle.read()
        except OSError:
            continue  # gone, or another user's (psutil would find no environment either)
        start = data.find(needle)
        if start < 0:
            continue
        value = data[start + len(needle) :].partition(b"\0")[0]
        if root is None or os.path.normpath(os.fsdecode(value)) == root:
            pids.append(int(name))
    if not pids:
        return
    import psutil

    for pid in pids:
        try:
            yield psutil.Process(pid).as_dict(attrs=attrs, ad_value=None)
        except psutil.NoSuchProcess:
            continue


def _self_and_ancestors() -> set[int]:
    import psutil

    own = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        own.update(p.pid for p in psutil.Process().parents())
    return own


def _declared_commands(root: str) -> list[tuple[str, tuple[str, ...]]]:
    """(name, command words) of every declared process; [] if the spec cannot be read."""
    from devenv.spec import load_spec

    try:
        return [(p.name, p.command) for p in load_spec(root).processes]
    except DevenvError:
        return []


def _declared_name(cmdline: list[str], declared: list[tuple[str, tuple[str, ...]]]) -> str:
    """The declared process whose command this is (same program, same literal arguments)."""
    if not cmdline:
        return ""
    program = os.path.basename(cmdline[0])
    for name, words in declared:
        first = os.path.basename(words[0])
        if not (program == first or (first == "python" and program.startswith("python"))):
            continue
        # Compare the words that hold no ${...}: those vary with the environment.
        fixed = [(i, w) for i, w in enumerate(words[1:], 1) if "${" not in w]
        if len(cmdline) >= len(words) and all(cmdline[i] == w for i, w in fixed):
            return name
    return ""


def format_ps(processes: list[ProcessInfo], *, show_root: bool = False) -> str:
    """Human text for `devenv ps`: a table (nothing when no process runs; see `ps_note`)."""
    if not processes:
        return ""
    header = [
        "PID",
        "PPID",
        "AGE",
        "NAME",
        "LAUNCHER",
        "INSTANCE",
        "STATUS",
        "FINGERPRINT",
        "PROFILE",
        "RUN ID",
    ] + (["ROOT"] if show_root else [])
    rows = [header]
    for p in processes:
        row = [
            str(p.pid),
            str(p.ppid),
            _age(p.age_seconds),
            p.name,
            p.launcher,
            p.instance,
            _status(p),
            p.fingerprint or "-",
            p.profile or "-",
            (p.run_id or "-") + (" (leftover)" if p.leftover else ""),
        ]
        rows.append(row + ([p.root] if show_root else []))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines) + "\n"


def _status(process: ProcessInfo) -> str:
    """current or stale, plus what makes the process differ from a plain launch."""
    text: str = process.status
    if process.overrides:
        text += f" (overrides: {','.join(process.overrides)})"
    if process.undeclared:
        text += f" (extra: {','.join(process.undeclared[:3])}{',...' if len(process.undeclared) > 3 else ''})"
    return text


def ps_notes(processes: list[ProcessInfo]) -> list[str]:
    """What a person should know about the `devenv ps` table: messages for stderr, not data."""
    if not processes:
        return ["no processes run in this project's environment"]
    notes = []
    stale = sum(p.status == "stale" for p in processes)
    if stale:
        notes.append(f"{stale} process(es) run with a stale environment; restart them to pick up changes")
    extra = sum(bool(p.undeclared) for p in processes)
    if extra:
        notes.append(
            f"{extra} process(es) have keys no devenv launch gives (extra); `devenv diff PID` names them"
        )
    leftovers = sum(p.leftover for p in processes)
    if leftovers:
        notes.append(
            f"{leftovers} process(es) outlived the launcher that started them; `devenv stop --all` ends them"
        )
    return notes


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# -- devenv stop ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Stopped:
    """One stopped process tree: its main pid, name, how long it took, and whether its main
    process outlived its stop_timeout and was killed."""

    pid: int
    name: str
    launcher: str
    seconds: float
    killed: bool


def stop(
    root: str,
    outer: Mapping[str, str],
    names: list[str],
    *,
    leftovers_only: bool = False,
    launcher: str | None = None,
    include_run: bool = False,
) -> list[Stopped]:
    """Stop this project's processes named `names` (all stoppable ones if empty), only those
    this devenv started for this checkout (`_started_here`), never a shell or a service. A
    name that is neither declared nor one of devenv's launches is a UsageError.

    Trees stop level by level, what nothing else needs first, each level at once. A run
    devenv launched is marked as stopped on request first, so a `devenv up` supervising it
    neither restarts it nor reports a crash.
    """
    from devenv.needs import stop_levels
    from devenv.runs import request_stop
    from devenv.trees import StopTarget, stop_trees

    running = ps(root, outer)
    if names:
        _refuse_unstoppable(root, names, running)
    declared = _declared_needs(root)
    records = {record["run_id"]: record for _, record in read_records(root)}
    listed = [
        p
        for p in running
        if p.launcher != "service"
        and (not names or p.name in names)
        and (p.leftover or not leftovers_only)
        and (launcher is None or p.launcher == launcher)
        and _started_here(p, records, include_run=include_run or bool(names))
    ]
    pids = {p.pid for p in listed}
    # The main process of each tree: one whose parent is not in the selection.
    mains = [p for p in listed if p.ppid not in pids]
    results = []
    for level in stop_levels(declared, list(dict.fromkeys(main.name for main in mains))):
        batch = [main for main in mains if main.name in level]
        targets = []
        for main in batch:
            record = records.get(main.run_id)
            timeout = record.get("stop_timeout", DEFAULT_STOP_TIMEOUT) if record else DEFAULT_STOP_TIMEOUT
            if main.run_id:
                request_stop(root, main.run_id)
            targets.append(StopTarget(pid=main.pid, timeout=timeout, run_id=main.run_id))
        stop_trees(targets)
        results += [
            Stopped(
                pid=main.pid,
                name=main.name,
                launcher=main.launcher,
                seconds=target.seconds,
                killed=target.timed_out,
            )
            for main, target in zip(batch, targets, strict=True)
        ]
    return results


def _refuse_unstoppable(root: str, names: list[str], running: list[ProcessInfo]) -> None:
    """Refuse a name devenv may not stop: undeclared, and not one of its launches either."""
    from devenv.spec import load_spec

    declared = {process.name for process in load_spec(root).processes}
    for name in names:
        if name in declared or any(p.name == name and p.launcher in STOPPABLE for p in running):
            continue
        shell = [p for p in running if p.name == name]
        if shell:
            pids = ", ".join(str(p.pid) for p in shell)
            raise UsageError(
                f"{name} (pid {pids}) was started from a {shell[0].launcher}, not by devenv, and is not a "
                "declared [processes] name; devenv stops only what it launched or declares: "
                f"end it yourself (kill {shell[0].pid})"
            )
        raise UsageError(
            f"no process named {name!r}: declared are {', '.join(sorted(declared)) or 'none'} "
            "(see `devenv ps` for what runs)"
        )


def _started_here(process: ProcessInfo, records: Mapping[str, RunRecord], *, include_run: bool) -> bool:
    """Whether `devenv stop` may end `process`: it runs as this user, and either its marker
    (DEVENV_RUN_ID) names a run record this devenv wrote for this checkout (read_records
    returns only those: same root path, device, inode and uid) whose main process is still
    the one recorded (pid and start time), or `devenv run` exec'd it (no record: run costs
    no write) and it was named or `--include-run` given. Carrying DEVENV_ROOT is not enough:
    a shell that sourced env.sh, or another user's process, is never stopped."""
    import psutil

    from devenv.runs import matches

    try:
        if psutil.Process(process.pid).uids().real != os.getuid():
            return False
    except psutil.Error:
        return False
    record = records.get(process.run_id) if process.run_id else None
    if record is not None:
        # The recorded main process must still be the one started (no pid reuse); the others
        # carry the run's marker in the environment they were exec'd with.
        return process.pid != record["pid"] or matches(record["pid"], record.get("create_time", 0.0))
    return include_run and process.launcher in ("run", "nox")


def _declared_needs(root: str) -> dict[str, tuple[str, ...]]:
    """Each declared process's `needs`; {} if the spec cannot be read."""
    from devenv.spec import load_spec

    try:
        return {p.name: p.needs for p in load_spec(root).processes}
    except DevenvError:
        return {}
