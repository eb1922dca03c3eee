"""`devenv up [NAME...]`: run declared processes in the foreground, with one combined log.

Services first (announced when up had to start them), then every process whose needs are
ready, all at once, each reported ready with its time. The terminal shows every process's
output, each line prefixed with its name (coloured on a terminal); each process still writes
its own log file. A process that dies after it was ready is reported at once (name, exit
code and what it means, log tail), the others are stopped and up exits non-zero, unless it
declared `restart = "on-failure"`. A process `devenv stop` ended is neither restarted nor a
crash; when all are stopped that way up exits 0. Ctrl-C, SIGTERM and SIGHUP (a closed
terminal) stop everything. Every stop goes level by level, what nothing needs first, each
level at once.

up is a child subreaper while it runs (daemons.py): a process whose main process exits 0
and leaves a daemon (it double-forked) is reported so, and up keeps supervising the daemon
as that process: listed by `devenv ps`, stopped by Ctrl-C and `devenv stop`, reported as a
crash when it exits.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import BinaryIO, TextIO, cast

from devenv.environment import CanonicalEnv
from devenv.errors import EXIT_INTERRUPTED, ProcessError, UsageError
from devenv.exits import ended, exit_meaning, shell_code
from devenv.needs import startable, stop_levels
from devenv.processes import POLL_INTERVAL as READY_POLL
from devenv.processes import ProcessHandle, StaleConsumersWarning, check_start, launch, stop_processes
from devenv.runs import stop_requested
from devenv.spec import ProcessSpec, Spec
from devenv.tasks import run_tasks

#: `devenv up --instance new`: a run in an instance of its own (`up_instance`).
NEW_INSTANCE = "new"
#: How often up looks for new output and for a process that exited.
POLL_INTERVAL = 0.1
#: Backoff before restart number n (from 0) of a `restart = "on-failure"` process; after the
#: last one up gives up and reports the crash.
RESTART_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: A process that stayed up this long has its restart count reset.
STABLE_AFTER = 60.0
#: ANSI colours for the prefixes, in the order processes start (honcho's palette).
COLOURS = ("36", "33", "32", "35", "34", "31")


def up_instance(option: str | None) -> str | None:
    """The ${DEVENV_INSTANCE} `devenv up --instance OPTION` runs in: OPTION (None: the
    default), or for `new` a fresh unique one, so the run shares no queue or file with any
    other (join it with `--instance` and the value)."""
    if option != NEW_INSTANCE:
        return option
    from devenv import new_instance

    return new_instance("up")


def up_order(
    spec: Spec, names: Sequence[str], *, extra_args: Sequence[str] = ()
) -> tuple[list[str], list[ProcessSpec]]:
    """The processes `devenv up NAME...` is asked for (every declared one if none is named)
    and those it starts, each after those it needs. A UsageError for an unknown name, a spec
    without processes, or arguments after `--` with other than one process (so `up -d`
    refuses them before it detaches)."""
    if not spec.processes:
        raise UsageError(f"{spec.path} declares no [processes.NAME]; nothing to start")
    wanted = list(names) or [p.name for p in spec.processes]
    if extra_args and len(wanted) != 1:
        raise UsageError("arguments after -- go to one process: devenv up NAME -- ARGS")
    return wanted, spec.process_order(wanted)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP reached `devenv up`: stop everything, exit 128 + signal
    (130 for Ctrl-C and SIGTERM, as before; 129 for a hang-up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + signal.SIGHUP if self.signum == signal.SIGHUP else EXIT_INTERRUPTED


class _Stream:
    """One process's log, read incrementally and written to the terminal line by line."""

    def __init__(self, handle: ProcessHandle, prefix: str) -> None:
        self.handle = handle
        self.prefix = prefix
        # A worker printing its broker URL must not show it (ProcessHandle.output_masker).
        self.masker = handle.output_masker()
        self.reset()

    def reset(self) -> None:
        """Follow the handle's current log from its current run's start (after a restart)."""
        self.close()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""
        # Kept open: a read that finds nothing new is one cheap system call, and up makes
        # ten of them a second per process while idle.
        try:
            self.file: BinaryIO | None = open(self.handle.log_path, "rb")  # noqa: SIM115
            self.file.seek(self.handle.log_offset)
        except OSError:
            self.file = None

    def close(self) -> None:
        """Close the log (the stream is done)."""
        file = getattr(self, "file", None)
        if file is not None:
            file.close()
        self.file = None

    def pump(self, out: TextIO, *, flush_partial: bool = False) -> bool:
        """Copy new complete lines to `out`; True if anything was read."""
        try:
            chunk = self.file.read() if self.file is not None else b""
        except OSError:
            chunk = b""
        text = self.partial + self.decoder.decode(chunk)
        lines = text.split("\n")
        self.partial = lines.pop()
        if flush_partial and self.partial:
            lines.append(self.partial)
            self.partial = ""
        # devenv's own "==== devenv: ..." lines belong in the file; the terminal gets them as
        # messages on stderr.
        lines = [line for line in lines if not line.startswith("==== devenv:")]
        if lines:
            out.write("".join(f"{self.prefix}{self.masker.mask(line)}\n" for line in lines))
            out.flush()
        return bool(chunk)


def run_up(
    spec: Spec,
    names: Sequence[str],
    env: CanonicalEnv,
    *,
    extra_args: Sequence[str] = (),
    out: TextIO,
    err: TextIO | None = None,
    base: Mapping[str, str] | None = None,
    detached: bool = False,
    tee: bool = True,
) -> int:
    """Start `names` (every declared process if empty) and what they need; stream; stop.

    Returns 130 after Ctrl-C / SIGTERM (129 after SIGHUP), 0 when every process was stopped
    by `devenv stop`, otherwise the crashed process's code (1 for a process that exited 0: a
    long-running process must stay up). Every command is checked first (`check_start`: a
    typo is an error before any task runs), then the instance is claimed (AlreadyRunningError
    when another `up` holds it); with `tee`, what `out` and `err` get also goes to the
    instance's combined log (a detached supervisor's output is that log already).
    """
    from devenv.daemons import subreaper
    from devenv.supervisor import claim_instance

    err = err or sys.stderr
    wanted, order = up_order(spec, names, extra_args=extra_args)
    needs = {process.name: process.needs for process in order}
    # Every command of every process and task, before the instance is claimed or a task runs.
    check_start(spec, list(needs), env, base=base)
    width = max(len(p.name) for p in order)
    colour = _use_colour(out)
    prefixes = {}
    for index, process in enumerate(order):
        label = process.name.ljust(width)
        prefixes[process.name] = (
            f"\x1b[{COLOURS[index % len(COLOURS)]}m{label} |\x1b[0m " if colour else f"{label} | "
        )
    with (
        claim_instance(spec.root, env.instance, list(needs), detached=detached) as claim,
        # Orphans of what up starts come to up, which traces, stops and reaps them.
        subreaper(),
    ):
        log = _open_combined_log(claim.log_path) if tee else None
        try:
            return _run(spec, wanted, needs, env, extra_args, base, claim.ready, prefixes, out, err, log)
        finally:
            if log is not None:
                log.close()


def _run(
    spec: Spec,
    wanted: list[str],
    needs: dict[str, tuple[str, ...]],
    env: CanonicalEnv,
    extra_args: Sequence[str],
    base: Mapping[str, str] | None,
    on_ready: Callable[[], None],
    prefixes: dict[str, str],
    out: TextIO,
    err: TextIO,
    log: TextIO | None,
) -> int:
    if log is not None:
        out, err = _Tee.of(out, log), _Tee.of(err, log)
    streams: list[_Stream] = []
    handles: dict[str, ProcessHandle] = {}
    # Processes whose main process exited 0 leaving a daemon, once said.
    announced: set[str] = set()
    with _signals_as_interrupt():
        try:
            _end_leftovers(spec, err)
            _ensure_services(spec, list(needs), env, base, err)
            # Every task any of them needs, once, in dependency order, before the first start.
            tasks_done: set[str] = set()
            run_tasks(
                spec,
                list(needs),
                env,
                base=base,
                launcher="up",
                done=tasks_done,
                report=lambda message: _say(err, message),
            )
            for handle in _start_all(spec, needs, env, wanted, extra_args, base, handles, tasks_done):
                if handle.note:
                    _say(err, f"warning: {handle.note}")
                _say(
                    err,
                    f"{handle.name} ready after {handle.ready_after or 0:.2f} s "
                    f"(pid {handle.pid}, log {_shown_path(handle.log_path, spec.root)})",
                )
                if handle.returncode == 0:
                    _say(err, _daemon_message(handle))
                    announced.add(handle.name)
                streams.append(_Stream(handle, prefixes[handle.name]))
            on_ready()
            return _follow(streams, out, err, spec.root, announced)
        except Interrupted as interrupted:
            running = [h for h in handles.values() if not h.stopped]
            if running:
                _say(err, "stopping " + ", ".join(f"{h.name} ({_pids(h)})" for h in reversed(running)))
            return interrupted.exit_code
        finally:
            for level in stop_levels(needs, [name for name in needs if name in handles]):
                stop_processes([handles[name] for name in level])
            for stream in streams:
                with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                    stream.pump(out, flush_partial=True)
                stream.close()


def _open_combined_log(path: str) -> TextIO:
    """The instance's combined log, emptied: it holds the latest `up` only."""
    from devenv.logs import open_log

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    log = os.fdopen(open_log(path), "a", encoding="utf-8", errors="replace")
    log.truncate(0)
    return log


class _Tee(io.TextIOBase):
    """Writes to the terminal and to the combined log (without colours), log first: a
    terminal gone after SIGHUP must not lose the log its lines."""

    def __init__(self, terminal: TextIO, log: TextIO) -> None:
        self.terminal = terminal
        self.log = log

    @classmethod
    def of(cls, terminal: TextIO, log: TextIO) -> TextIO:
        return cast(TextIO, cls(terminal, log))

    def write(self, text: str) -> int:
        from devenv.supervisor import strip_colour

        self.log.write(strip_colour(text))
        self.log.flush()
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()


def _start_all(
    spec: Spec,
    needs: dict[str, tuple[str, ...]],
    env: CanonicalEnv,
    wanted: list[str],
    extra_args: Sequence[str],
    base: Mapping[str, str] | None,
    handles: dict[str, ProcessHandle],
    tasks_done: set[str],
) -> Iterator[ProcessHandle]:
    """Launch every process whose needs are ready, all at once, and poll them together;
    yield each one as it becomes ready. `handles` gets every launched handle at once, so a
    failure or Ctrl-C stops the ones still starting too."""
    ready: set[str] = set()
    starting: list[ProcessHandle] = []
    tick = time.monotonic()
    while len(ready) < len(needs):
        for name in startable(needs, done=ready, begun=handles):
            args = extra_args if name in wanted and extra_args else ()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StaleConsumersWarning)
                handle = launch(
                    spec, name, env, base=base, extra_args=args, launcher="up", tasks_done=tasks_done
                )
            handles[name] = handle
            starting.append(handle)
        for handle in list(starting):
            if handle.poll_ready():  # raises ProcessError (after stopping it) if it failed
                starting.remove(handle)
                ready.add(handle.name)
                yield handle
        if starting:
            tick += READY_POLL
            time.sleep(max(0.0, tick - time.monotonic()))


def _follow(streams: list[_Stream], out: TextIO, err: TextIO, root: str, announced: set[str]) -> int:
    """Stream every log until one process dies for good, or all were stopped on request;
    return up's exit code.

    A `restart = "on-failure"` process that fails waits out its backoff and is started
    again here, polled for readiness between the others, so their output and crashes are
    seen meanwhile. A restart that fails before it is ready (exits, or is not ready within
    its start_timeout) is the next failure, restarted again until RESTART_DELAYS runs out.
    """
    restarts = {stream.handle.name: 0 for stream in streams}
    #: Processes waiting out their backoff: name -> when (time.monotonic) to start them again.
    due: dict[str, float] = {}
    #: Processes started again and not ready yet.
    starting: set[str] = set()
    # `announced`: the processes whose daemon was said already. Not "whose main process has
    # exited 0 by now": one that exits right after it was reported ready would never be said.
    while streams:
        busy = False
        for stream in list(streams):
            handle = stream.handle
            failed: ProcessError | None = None
            if handle.name in due:
                if time.monotonic() < due[handle.name]:
                    continue
                del due[handle.name]
                starting.add(handle.name)
                failed = _respawn(handle)
                stream.reset()
            else:
                # Descendants are noted by the launcher's watcher thread; here only the exit
                # (of the main process, or of the daemons it left when it exited 0).
                code = handle.exit_code()
                busy |= stream.pump(out)
                if code is not None and stop_requested(root, handle.run_id):
                    handle.stop()  # whatever it forked goes with it
                    streams.remove(stream)
                    stream.close()
                    starting.discard(handle.name)
                    _say(err, f"{handle.name} (pid {handle.pid}) was stopped on request (devenv stop)")
                    continue
                if handle.name in starting:
                    failed = _poll_restarted(handle)
                    if failed is None and handle.ready_after is not None:
                        starting.discard(handle.name)
                        _say(
                            err,
                            f"{handle.name} ready again after {handle.ready_after:.2f} s (pid {handle.pid})",
                        )
                elif code is None:
                    if handle.returncode == 0 and handle.name not in announced:
                        announced.add(handle.name)
                        _say(err, _daemon_message(handle))
                    if time.time() - handle.started_at > STABLE_AFTER:
                        restarts[handle.name] = 0
                    continue
                else:
                    announced.discard(handle.name)
                    stream.pump(out, flush_partial=True)
                    count = restarts[handle.name]
                    crash = _crash_message(handle, code, root, restarts=count)
                    handle.stop()
                    what = f"{handle.name} {ended(code)} ({exit_meaning(code, handle.command)})"
                    if not _restart_later(handle, code, what, restarts, due, err):
                        _say(err, crash)
                        return shell_code(code) if code else 1
                    continue
            if failed is None:
                continue
            # A restart that failed before it was ready: the next failure.
            starting.discard(handle.name)
            stream.pump(out, flush_partial=True)
            first, _, rest = str(failed).partition("\n")
            if not _restart_later(handle, failed.exit_code, first, restarts, due, err):
                _say(err, f"{first} (after {restarts[handle.name]} restart(s)); stopping the others\n{rest}")
                return failed.exit_code
        if streams and not busy:
            time.sleep(READY_POLL if starting else POLL_INTERVAL)
    _say(err, "every process was stopped on request; nothing left to run")
    return 0


def _respawn(handle: ProcessHandle) -> ProcessError | None:
    """Start `handle` again without waiting; the error if it could not even be spawned."""
    try:
        handle.respawn()
    except ProcessError as error:
        return error
    return None


def _poll_restarted(handle: ProcessHandle) -> ProcessError | None:
    """One readiness check of a restarted process; the error if it failed before ready."""
    try:
        handle.poll_ready()
    except ProcessError as error:
        return error
    return None


def _restart_later(
    handle: ProcessHandle,
    code: int,
    what: str,
    restarts: dict[str, int],
    due: dict[str, float],
    err: TextIO,
) -> bool:
    """Schedule the next restart of a `restart = "on-failure"` process that failed with
    `code` (`what` says how) and say so; False when its policy or its restarts are spent."""
    count = restarts[handle.name]
    if handle.process.restart != "on-failure" or code == 0 or count >= len(RESTART_DELAYS):
        return False
    delay = RESTART_DELAYS[count]
    restarts[handle.name] = count + 1
    due[handle.name] = time.monotonic() + delay
    _say(err, f'{what}; restart {count + 1} of {len(RESTART_DELAYS)} in {delay:g} s (restart = "on-failure")')
    return True


def _pids(handle: ProcessHandle) -> str:
    """`pid N` of its main process, or of the daemons it left once that exited."""
    daemons = handle.daemons() if handle.returncode is not None else []
    return ", ".join(f"pid {daemon.pid}" for daemon in daemons) or f"pid {handle.pid}"


def _daemon_message(handle: ProcessHandle) -> str:
    pids = ", ".join(f"pid {daemon.pid}" for daemon in handle.daemons()) or "nothing"
    return (
        f"{handle.name}: its main process (pid {handle.pid}) exited 0 and left {pids} running "
        f"(it daemonized); up supervises that as {handle.name}: `devenv ps` lists it, "
        f"`devenv stop {handle.name}` or Ctrl-C stops it"
    )


def _crash_message(handle: ProcessHandle, code: int, root: str, *, restarts: int) -> str:
    why = f" (after {restarts} restart(s))" if restarts else ""
    tail = handle.masked_tail().rstrip()
    who = f"{handle.name} (pid {handle.pid})"
    if handle.returncode == 0:
        who = f"the daemon {handle.name} left (its main process, pid {handle.pid}, exited 0)"
    return (
        f"{who} {ended(code)} after it was ready{why}: "
        f"{exit_meaning(code, handle.command)}; stopping the others\n"
        f"log: {_shown_path(handle.log_path, root)}\n"
        + (f"--- last lines of its log ---\n{tail}\n--- end of log ---" if tail else "(its log is empty)")
    )


def _ensure_services(
    spec: Spec, names: list[str], env: CanonicalEnv, base: Mapping[str, str] | None, err: TextIO
) -> None:
    """Make every needed service reachable first, announcing the ones up had to start."""
    from devenv.masking import mask_url
    from devenv.services import ensure_service, service_url

    seen: list[str] = []
    for name in names:
        for need in spec.process(name).needs:
            if need in seen or need not in spec.service_names():
                continue
            seen.append(need)
            service = spec.service(need)
            began = time.monotonic()
            log = ensure_service(service, env, base=base)
            if log is not None:
                _say(
                    err,
                    f"service {need} at {mask_url(service_url(service, env.variables))} was down; "
                    f"started it with {' '.join(service.start)} and it answered after "
                    f"{time.monotonic() - began:.1f} s (log {_shown_path(log, spec.root)}); "
                    "it keeps running after up stops",
                )


def _shown_path(path: str, root: str) -> str:
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def _use_colour(out: TextIO) -> bool:
    # NO_COLOR (no-color.org): any non-empty value turns colour off. FORCE_COLOR turns it on,
    # except 0 or false, which nox and Node's tools read as "off".
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR", "")
    if force:
        return force.lower() not in ("0", "false")
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _end_leftovers(spec: Spec, err: TextIO) -> None:
    """End what earlier launches left running when their launcher died (`devenv ps` shows
    them as leftovers), and say so: every launch does it, but `up` is where a user sees it."""
    from devenv.runs import cleanup_leftovers

    ended = cleanup_leftovers(spec.root, {process.name: process.needs for process in spec.processes})
    if ended:
        count = f"{len(ended)} process" + ("" if len(ended) == 1 else "es")
        pids = ", ".join(str(pid) for pid in ended)
        _say(err, f"ended {count} left running by an earlier launch whose launcher is gone (pid {pids})")


def _say(err: TextIO, message: str) -> None:
    # After SIGHUP the terminal is gone; a message must not cut the stop short.
    with contextlib.suppress(OSError):
        err.write(f"devenv: {message}\n")
        err.flush()


#: What stops `devenv up` in order: Ctrl-C, `kill`/nox, and a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_as_interrupt() -> Iterator[None]:
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        # The first signal starts an orderly stop; a second one (an impatient user, nox
        # escalating interrupt -> terminate -> kill, or SIGHUP after Ctrl-C) must not cut it
        # short and orphan the tree, so all are ignored from here on.
        for each in STOP_SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {each: signal.signal(each, interrupt) for each in STOP_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
