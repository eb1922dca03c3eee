"""Launch declared processes the same way for every launcher: `devenv up`, nox, the pytest
fixture and the Python API.

Start ensures services, spawns into a log file with the canonical env, and waits on the
declared probe while watching for an early exit; `launch` returns right after the spawn, so
`devenv up` can start several processes at once and poll them together. Stop is
`trees.stop_trees` (SIGTERM to the main process, then SIGKILL to the group, the session,
every descendant seen and anything carrying the run's DEVENV_RUN_ID marker): nothing may
outlive a stop. One thread notes the descendants of every running process, from one /proc
scan per tick. Inside `devenv up` the same thread adopts what a process leaves running when
its main process exits (daemons.py): such a daemon is listed in its run record, supervised
and stopped as that process, and reaped when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

from devenv.daemons import SPAWN_LOCK, Origin, children, reap, subreaper_active, trace
from devenv.environment import INSTANCE_KEY, LAUNCHER_KEY, RUN_ID_KEY, CanonicalEnv, apply_env
from devenv.errors import EXIT_TIMEOUT, CommandNotFoundError, DevenvError, Place, ProcessError, ResolveError
from devenv.exits import ended, exit_meaning, exit_status, shell_code
from devenv.logs import TAIL_LINES, append_note, log_tail, open_log, prepare_run_log
from devenv.readiness import AmqpQueueProbe, CommandProbe, HttpProbe, LogProbe, Observation, Probe, TcpProbe
from devenv.runs import Launcher, RunRecord, clear_stop_request, is_zombie, write_record
from devenv.spec import AmqpQueueReady, CommandReady, HttpReady, LogReady, Spec, TcpReady, Unit
from devenv.trees import ProcTable, StopTarget, note_descendants, read_stat, scan, stop_trees

if TYPE_CHECKING:
    import psutil

    from devenv.masking import Masker

_Error = TypeVar("_Error", bound=DevenvError)

#: Readiness is polled this often: the budget is "ready within 50 ms of the consumer
#: registering", and a poll that finds it costs about 7 ms (count plus connections).
POLL_INTERVAL = 0.025
#: How often a background thread notes every live process's descendants, so a child that
#: outlives its parent is still known at stop. One /proc scan serves every process.
WATCH_INTERVAL = 0.25

#: Run between spawn and exec: it makes the launched process a child subreaper (Linux), so a
#: double-forked daemon is re-parented to it instead of to init and stays in its tree, where
#: stop finds it even after it cleared its environment and left the session. exec keeps the
#: pid, so the main process is still the program itself.
SUBREAPER_SHIM = """\
import os, sys
if sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
try:
    os.execv(sys.argv[1], sys.argv[1:])
except OSError as error:
    sys.stderr.write(f"devenv: cannot run {sys.argv[1]}: {error.strerror}\\n")
    sys.exit(127 if error.errno == 2 else 126)
"""


class StaleConsumersWarning(UserWarning):
    """Someone else already consumes the queue a process is about to consume."""


class ProcessHandle:
    """A declared process started by devenv: pid, log, environment, stop() and restart().

    Usable as a context manager (`with devenv.start("worker") as worker:`): leaving the
    block stops the whole tree.
    """

    def __init__(
        self,
        *,
        spec: Spec,
        process: Unit,
        env: CanonicalEnv,
        base: Mapping[str, str] | None,
        overrides: Mapping[str, str],
        extra_args: Sequence[str],
        log_path: str | None,
        launcher: Launcher,
    ) -> None:
        self.name = process.name
        self.spec = spec
        self.process = process
        #: The canonical env with overrides, before apply (what `env` was built from).
        self.canonical = env
        self.overrides = dict(overrides)
        self.extra_args = tuple(extra_args)
        self.launcher: Launcher = launcher
        #: The working folder: the root, or `[processes.NAME].cwd` under it.
        self.cwd = os.path.join(spec.root, process.cwd) if process.cwd else spec.root
        self.stop_timeout = process.stop_timeout
        #: [env].secret of the canonical env (for masking the log tail in messages).
        self.secret_keys = env.secret
        self._base = base
        self._fixed_log = log_path
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self.run_id = uuid.uuid4().hex
        self.pid = 0
        self.log_path = ""
        #: Byte offset where this run's output starts (after devenv's header).
        self.log_offset = 0
        #: The environment the child was given (may hold secrets: never printed by devenv).
        self.env: dict[str, str] = {}
        self.command: list[str] = []
        #: time.time() of the spawn.
        self.started_at = 0.0
        #: Seconds from spawn to ready; None until ready.
        self.ready_after: float | None = None
        #: A note for the user about the start (stale consumers), or None.
        self.note: str | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._record_path = ""
        #: Descendants noted while it ran, keyed by (pid, start ticks).
        self._descendants: dict[tuple[int, int], psutil.Process] = {}
        #: Orphans of its tree adopted by `devenv up` (daemons.py), keyed like descendants,
        #: while they run; and the exit codes of those that exited, in order.
        self._daemons: dict[tuple[int, int], psutil.Process] = {}
        self._daemon_codes: list[int] = []
        #: time.time() when its main process was first seen gone (0 while it runs).
        self._exited_at = 0.0
        self._start_ticks = 0
        self._record: RunRecord | None = None
        self._stopped = False
        self._probe: Probe | None = None
        self._spawned = 0.0
        self._last = Observation(ready=False, seen="not checked yet")
        self._polled = False

    def __repr__(self) -> str:
        # Never show env values: they may be secrets and pytest prints reprs on failure.
        return (
            f"ProcessHandle(name={self.name!r}, pid={self.pid}, run_id={self.run_id!r}, "
            f"log_path={self.log_path!r})"
        )

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None."""
        return None if self._popen is None else self._popen.poll()

    @property
    def stopped(self) -> bool:
        """Whether stop() ran (on purpose, or after a failed start)."""
        return self._stopped

    def alive(self) -> bool:
        """Whether the main process is still running (also refreshes the descendant snapshot)."""
        if self.returncode is not None:
            return False
        self.refresh_descendants()
        return True

    def log_size(self) -> int:
        """Current size of the log in bytes (an offset for `read_log`)."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def read_log(self, since: int = 0) -> str:
        """The log text from byte offset `since` (undecodable bytes replaced)."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(since)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last `lines` lines of this run's output, extended to include a whole traceback."""
        return log_tail(self.log_path, self.log_offset, lines=lines)

    def output_masker(self) -> Masker:
        """The one masking rule for what this run printed, wherever devenv shows it: `up`'s
        terminal and combined log, `devenv task`'s stdout, log tails in errors, what a probe
        quotes. The log file itself keeps the output as the program wrote it."""
        from devenv.masking import Masker

        return Masker.for_logs(self.env, self.secret_keys)

    def masked_tail(self, lines: int = TAIL_LINES) -> str:
        """`tail()` with every secret the process printed masked (for messages and CI output)."""
        return self.output_masker().mask(self.tail(lines))

    def tree(self) -> list[psutil.Process]:
        """The main process and every descendant alive now, and every daemon it left (with
        their descendants)."""
        import psutil

        found: list[psutil.Process] = []
        with self._lock:
            tops = [*self._daemons.values()]
        with contextlib.suppress(psutil.Error):
            tops.insert(0, psutil.Process(self.pid))
        for top in tops:
            with contextlib.suppress(psutil.Error):
                found += [top, *top.children(recursive=True)]
        return found

    def daemons(self) -> list[psutil.Process]:
        """What its tree left running after its main process exited, adopted by the `devenv up`
        that launched it (daemons.py); empty for the fixture and the API."""
        with self._lock:
            return list(self._daemons.values())

    def exit_code(self) -> int | None:
        """None while it runs: its main process, or, after that exited 0, a daemon it left.
        Otherwise the main process's exit code, or that of its last daemon to exit."""
        code = self.returncode
        if code != 0:
            return code
        adopt_orphans()  # the orphans were re-parented at the main process's exit
        with self._lock:
            if self._daemons:
                return None
            return self._daemon_codes[-1] if self._daemon_codes else 0

    def _origin(self) -> Origin:
        exited = self.returncode is not None
        if exited and not self._exited_at:
            self._exited_at = time.time()
        with self._lock:
            known = frozenset(self._descendants)
        return Origin(
            run_id=self.run_id,
            pid=self.pid,
            started=self._start_ticks,
            exited=exited,
            exited_at=self._exited_at,
            known=known,
        )

    def _adopt(self, pid: int, ticks: int) -> None:
        """Take the orphan `pid` as a daemon of this process: supervised, listed, stopped."""
        import psutil

        try:
            proc = psutil.Process(pid)
            shown = " ".join(proc.cmdline()) or proc.name()
        except psutil.Error:
            return
        with self._lock:
            self._daemons[(pid, ticks)] = proc
            self._descendants.setdefault((pid, ticks), proc)
        self._note(
            f"{self.name} left pid {pid} running ({shown[:200]}); devenv up supervises it as {self.name}"
        )
        self._write_daemons()

    def _reap_daemons(self) -> None:
        """Collect the exit code of each daemon that exited (reaped here: no zombie)."""
        with self._lock:
            daemons = list(self._daemons.items())
        gone = []
        for key, proc in daemons:
            code = reap(key[0])
            if code is None and not is_zombie(proc):
                continue  # still runs
            # None: gone, but not reaped here (its exit code is unknown).
            gone.append((key, 0 if code is None else code))
        if gone:
            with self._lock:
                for key, code in gone:
                    self._daemons.pop(key, None)
                    self._daemon_codes.append(code)
            self._write_daemons()

    def _write_daemons(self) -> None:
        """Rewrite the run record with the daemons now supervised (`devenv ps` lists them)."""
        import psutil

        record = self._record
        if record is None or self._stopped:
            return
        listed = []
        with self._lock:
            for proc in self._daemons.values():
                with contextlib.suppress(psutil.Error):
                    listed.append([proc.pid, proc.create_time()])
        record["daemons"] = listed
        with contextlib.suppress(OSError):
            write_record(self.spec.root, record)

    def refresh_descendants(self, table: ProcTable | None = None) -> None:
        """Remember every descendant now alive (from `table`, else a fresh /proc scan): after
        the main process dies they are orphans that no scan of its tree can find."""
        table = table if table is not None else scan()
        with self._lock:
            note_descendants(self._descendants, table, self.pid)
            for daemon, _ in list(self._daemons):
                note_descendants(self._descendants, table, daemon)

    def stop(self) -> int | None:
        """Stop the whole tree: SIGTERM the main process, wait, then SIGKILL what is left.

        Returns the main process's exit code. Safe to call more than once.
        """
        if self._popen is None:
            return None
        stop_processes([self])
        return self._popen.returncode

    def restart(self) -> ProcessHandle:
        """Stop the tree and start the process afresh (new run id, pid and log); wait until ready."""
        self.respawn()
        self.wait_ready()
        return self

    def respawn(self) -> None:
        """Stop the tree and spawn the process afresh (new run id, pid and log) without
        waiting: `poll_ready()` tells when it is ready (how `devenv up` restarts a process
        while it keeps following the others)."""
        self.stop()
        self._reset()
        self.spawn()

    def _note(self, message: str) -> None:
        append_note(self.log_path, message)

    def wait_ready(self) -> None:
        """Poll until the process is ready; raise ProcessError (after stopping it) if it exits
        first or `start_timeout` passes."""
        # A steady cadence: the time a poll took comes off the wait for the next one.
        tick = time.monotonic()
        while not self.poll_ready():
            tick += POLL_INTERVAL
            deadline = self._spawned + self.process.start_timeout
            time.sleep(max(0.0, min(tick, deadline) - time.monotonic()))

    def poll_ready(self) -> bool:
        """One readiness check: True once ready; ProcessError (after stopping the tree) if it
        exited first or `start_timeout` passed; False otherwise."""
        if self.ready_after is not None:
            return True
        try:
            return self._check_ready()
        except BaseException:
            # Including KeyboardInterrupt: a half-started process must not outlive the launcher.
            self._close_probe()
            self.stop()
            raise

    def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()

    def _check_ready(self) -> bool:
        probe = self._probe
        code = self.exit_code()
        if code is None:
            # Descendants are noted by the watcher thread; a poll here only costs latency.
            if probe is None:
                ready = self._polled  # no probe: alive for one poll interval is all we can know
                self._polled = True
            else:
                self._last = probe.poll()
                ready = self._last.ready
            # Exiting right after the probe passed is still an early exit, not readiness.
            code = self.exit_code()
            if ready and code is None:
                self.ready_after = time.monotonic() - self._spawned
                self._close_probe()
                return True
        if code is not None:
            self.stop()
            error = ProcessError(_early_exit_message(self, code, time.monotonic() - self._spawned))
            # `devenv up` returns the child's code, even when it died before ready;
            # a child that exited 0 before it was ready still failed to start.
            error.exit_code = shell_code(code) if code else 1
            raise error
        waited = time.monotonic() - self._spawned
        if waited >= self.process.start_timeout:
            self.stop()
            what = probe.description if probe is not None else "its start"
            timed_out = ProcessError(
                f"process {self.name!r} was not ready after {waited:.1f} s "
                f"([processes.{self.name}].start_timeout = {self.process.start_timeout:g}); "
                f"waited for {what}, last saw: {self._last.seen}; it was stopped\n"
                f"command: {shown_command(self)}\n"
                f"log: {self.log_path}\n" + tail_block(self)
            )
            timed_out.exit_code = EXIT_TIMEOUT  # as a task past its timeout, and timeout(1)
            raise timed_out
        return False

    def resolve(self) -> None:
        """Work out what a spawn runs, starting nothing: the child's environment and its
        command, each `${NAME}` expanded and the first word found by the command-word rule on
        the canonical PATH. ResolveError or ProcessError (at envspec.toml:LINE) if not."""
        process, env = self.process, self.canonical
        child_env = apply_env(env, os.environ if self._base is None else self._base)
        child_env[RUN_ID_KEY] = self.run_id
        child_env[LAUNCHER_KEY] = self.launcher
        words = expand(process.command, env, spec=self.spec, table=process.table, key="command")
        try:
            executable = resolve_word(words[0], child_env, self.spec.root)
        except CommandNotFoundError as error:
            kind = "task" if process.table.startswith("tasks.") else "process"
            message = f"{kind} {process.name!r}: {error} ([{process.table}].command)"
            raise _spec_error(ProcessError, self.spec, process.table, "command", message) from None
        self.env, self.command = child_env, [executable, *words[1:], *self.extra_args]

    def spawn(self) -> None:
        """Spawn into the log and record the run; the probe is left open for `poll_ready`.
        A task (tasks.py) is spawned the same way and then waited for until it exits."""
        self.resolve()
        spec, process, env, command = self.spec, self.process, self.canonical, self.command
        name = process.name
        kind = "task" if process.table.startswith("tasks.") else "process"
        if self._fixed_log:
            log_path = os.path.abspath(self._fixed_log)
            os.makedirs(os.path.dirname(log_path), mode=0o700, exist_ok=True)
        else:
            log_path = prepare_run_log(spec.root, name, self.run_id)
        self.log_path = log_path
        header = _header(name, command, self.cwd, self.run_id, self.overrides, env, self.launcher)
        with os.fdopen(open_log(log_path), "ab") as log:
            log.write(header.encode("utf-8", "replace"))
            log.flush()
            probe = _make_probe(self, log_path=log_path)
            if probe is not None:
                self.note = probe.prepare(name)
            if self.note:
                log.write(f"==== devenv: warning: {self.note}\n".encode("utf-8", "replace"))
                log.flush()
            self.log_offset = log.tell()
            self.started_at = time.time()
            try:
                with SPAWN_LOCK:  # no adoption pass sees it before it is known as a main process
                    self._popen = subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", SUBREAPER_SHIM, *command],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=self.cwd,
                        env=self.env,
                        close_fds=True,
                        # Its own process group and session: killpg reaches everything it forks,
                        # and a Ctrl-C in the terminal reaches devenv only, which stops it in order.
                        start_new_session=True,
                    )
            except OSError as exc:
                if probe is not None:
                    probe.close()
                why = f"cannot run {command[0]!r}: {exc.strerror}"
                raise ProcessError(f"{kind} {name!r}: {why} ([{process.table}].command)") from None
        self.pid = self._popen.pid
        self._start_ticks = _start_ticks(self.pid)
        self._spawned = time.monotonic()
        self._probe = probe
        self._record_path = _record(self)
        _watch(self)


class LaunchOptions(TypedDict, total=False):
    """How `launch` and `start` launch a declared process; every key may be left out.

    `log_path`: the log (default: `.devenv/logs/NAME-RUNID.log`); `overrides`: keys set on
    top of its environment (the fixture's, the API's); `base`: the launcher's environment
    (default os.environ), of which the child gets only the pass-through keys; `extra_args`:
    appended to its command; `launcher`: what `devenv ps` shows; `tasks_done`: tasks already
    run (see `start`); `task_log_dir`: where its tasks' logs go instead of `.devenv/logs/`."""

    log_path: str | None
    overrides: Mapping[str, str] | None
    base: Mapping[str, str] | None
    extra_args: Sequence[str]
    launcher: Launcher
    tasks_done: set[str] | None
    task_log_dir: str | None


def start(spec: Spec, name: str, env: CanonicalEnv, **options: Unpack[LaunchOptions]) -> ProcessHandle:
    """Start the declared process `name` and return once its readiness probe passes.

    The tasks it needs run first, to completion, in `env` with the same `overrides`
    (tasks.run_tasks); those in `tasks_done` are skipped, and each one that finishes is added
    to it, so a launcher starting several processes runs each task once per set of overrides.
    Raises TaskError when a task fails, ProcessError at once if the process exits first, or
    when `start_timeout` passes (after stopping it); ServiceError if a service it needs is
    unreachable. Processes still running
    when the interpreter exits are stopped then.
    """
    handle = launch(spec, name, env, **options)
    handle.wait_ready()
    if handle.note:
        warnings.warn(StaleConsumersWarning(handle.note), stacklevel=2)
    return handle


def launch(spec: Spec, name: str, env: CanonicalEnv, **options: Unpack[LaunchOptions]) -> ProcessHandle:
    """Spawn the declared process `name` and return at once: `poll_ready()` or `wait_ready()`
    on the handle tells when it is ready (as `start` does). The tasks it needs run first, to
    completion (see `start`)."""
    from devenv.runs import cleanup_leftovers
    from devenv.tasks import run_tasks

    process = spec.process(name)
    base = options.get("base")
    launcher = options.get("launcher", "api")
    # Every command of the start, before a task runs: a typo must not cost the migrations.
    check_start(
        spec, [name], env, base=base, overrides=options.get("overrides"), done=options.get("tasks_done")
    )
    cleanup_leftovers(spec.root, {unit.name: unit.needs for unit in spec.processes})
    run_tasks(
        spec,
        [name],
        env,
        base=base,
        launcher=launcher,
        done=options.get("tasks_done"),
        log_dir=options.get("task_log_dir"),
        overrides=options.get("overrides"),
    )
    handle = prepare(
        spec,
        process,
        env,
        base=base,
        overrides=options.get("overrides") or {},
        extra_args=options.get("extra_args", ()),
        log_path=options.get("log_path"),
        launcher=launcher,
    )
    handle.spawn()
    return handle


def prepare(
    spec: Spec,
    unit: Unit,
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None,
    overrides: Mapping[str, str],
    extra_args: Sequence[str],
    log_path: str | None,
    launcher: Launcher,
) -> ProcessHandle:
    """The handle of the declared process or task `unit`, ready to spawn: its own
    environment (`unit_env`: `env` with its `env` table and `overrides` on top), with the
    services it needs checked (and started when down) in that environment. Every launch of
    a unit, a process's or a task's, is made here."""
    from devenv.services import ensure_service

    unit_environment = unit_env(spec, unit, env, overrides, outer=os.environ if base is None else base)
    for need in unit.needs:
        if need in spec.service_names():
            ensure_service(spec.service(need), unit_environment, base=base)
    return ProcessHandle(
        spec=spec,
        process=unit,
        env=unit_environment,
        base=base,
        overrides=overrides,
        extra_args=extra_args,
        log_path=log_path,
        launcher=launcher,
    )


def check_start(
    spec: Spec,
    names: Sequence[str],
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    done: set[str] | None = None,
) -> None:
    """Check, starting nothing, everything a start of `names` runs: the tasks they need
    (those in `done` aside, as `tasks.run_tasks` skips them), then the processes named, each
    as its launch resolves it (`check_launch`). Every launcher calls it before the first
    task, so a typo fails at once instead of after the migrations ran."""
    from devenv.tasks import done_key

    tasks = [task for task in spec.task_order(names) if done_key(task.name, overrides) not in (done or ())]
    processes = [spec.process(name) for name in names if name not in spec.task_names()]
    units: list[Unit] = [*tasks, *processes]
    for unit in units:
        check_launch(spec, unit, env, base=base, overrides=overrides)


def check_launch(
    spec: Spec,
    unit: Unit,
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> ProcessHandle:
    """The handle of `unit` as its launch would make it, resolved and never spawned: its
    environment (`unit_env`), its command (`ProcessHandle.resolve`) and its readiness probe's
    fields (`_make_probe`, nothing opened). Raises what that launch would raise, at
    envspec.toml:LINE; no service is checked or started. `devenv doctor` and every launcher
    (`check_start`) ask this one function, so both find a typo by the launch's own rule."""
    overrides = overrides or {}
    handle = ProcessHandle(
        spec=spec,
        process=unit,
        env=unit_env(spec, unit, env, overrides, outer=os.environ if base is None else base),
        base=base,
        overrides=overrides,
        extra_args=(),
        log_path=None,
        launcher="api",
    )
    handle.resolve()
    if unit.ready is not None:
        _make_probe(handle, log_path=os.devnull)  # a probe opens nothing before prepare()
    return handle


def stop_processes(handles: Sequence[ProcessHandle]) -> None:
    """Stop the trees of `handles` at once, each with its own stop_timeout (`trees.stop_trees`);
    a handle already stopped is skipped."""
    todo: list[tuple[ProcessHandle, StopTarget, bool]] = []
    daemons: list[StopTarget] = []
    for handle in handles:
        popen = handle._popen
        with handle._lock:
            if popen is None or handle._stopped:
                continue
            handle._stopped = True
            known = dict(handle._descendants)
            left = list(handle._daemons.values())
        _LIVE.discard(handle)
        target = StopTarget(
            pid=handle.pid, timeout=handle.stop_timeout, run_id=handle.run_id, known=known, popen=popen
        )
        running = popen.poll() is None
        todo.append((handle, target, running))
        # A daemon it left gets the SIGTERM and the grace its main process would have had.
        daemons += [
            StopTarget(pid=d.pid, timeout=handle.stop_timeout, run_id=handle.run_id, known=known, main=d)
            for d in left
        ]
    stop_trees([target for _, target, _ in todo] + daemons)
    for handle, _, _ in todo:
        handle._reap_daemons()
    for handle, target, was_running in todo:
        if target.timed_out:
            handle._note(
                f"{handle.name} did not exit within stop_timeout = {handle.stop_timeout:g} s "
                "of SIGTERM; it was killed with SIGKILL, with its process group and descendants"
            )
        if was_running:
            handle._note(
                f"stopped {handle.name} (pid {handle.pid}, {exit_status(handle.returncode or 0)}) "
                f"in {target.seconds:.2f} s"
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle._record_path)
        clear_stop_request(handle.spec.root, handle.run_id)


def resolve_word(word: str, child_env: Mapping[str, str], root: str) -> str:
    """The first word of a command as an executable, by the rule `devenv run` uses."""
    from devenv.commands import find_command

    return find_command(
        word, path=child_env.get("PATH", os.defpath), root=root, venv=child_env.get("VIRTUAL_ENV")
    )


def unit_env(
    spec: Spec, unit: Unit, env: CanonicalEnv, overrides: Mapping[str, str], *, outer: Mapping[str, str]
) -> CanonicalEnv:
    """The declared environment of `unit`: `env` (same instance, same profile) with the
    unit's own `env` table and then `overrides` as its top layers, resolved again through the
    same door as `devenv run --set` (`project.resolve_env`), so every check `--set` gets
    applies (managed keys, [env].unset, keys that run code, NUL bytes), `${NAME}` expands the
    same way (`OPS_CORE_QUEUE="ops_core_${DEVENV_INSTANCE}"`) and the fingerprint covers them.
    """
    if not overrides and not unit.env:
        return env
    from devenv.environment import PROFILE_KEY
    from devenv.project import resolve_env

    state = resolve_env(
        spec.root,
        outer,
        overrides=list(overrides.items()),
        instance=env.instance,
        profile=env.variables.get(PROFILE_KEY, ""),
        unit=unit.name,
    )
    return state.resolution.canonical()


def expand(words: Sequence[str], env: CanonicalEnv, *, spec: Spec, table: str, key: str) -> tuple[str, ...]:
    """`${NAME}` in the words of `[table].key` (a command, a probe's address or queue)
    resolved against the canonical env, so one declaration can vary by variable (e.g.
    --processes ${WORKER_PROCESSES}); an undefined name is a ResolveError at its line."""
    from devenv.resolver import interpolate

    try:
        return tuple(interpolate(word, env.variables.get, where=f"[{table}].{key}") for word in words)
    except ResolveError as error:
        raise _spec_error(ResolveError, spec, table, key, str(error), keys=error.keys) from None


def _spec_error(
    kind: type[_Error], spec: Spec, table: str, key: str, message: str, *, keys: tuple[str, ...] = ()
) -> _Error:
    """A `kind` error about `[table].key` of envspec.toml, led by its file:line. The line is
    looked up only here, for a failure: a launch that resolves reads no file for it."""
    from devenv.spec import line_of

    place = line_of(spec.path, table, key)
    return kind(f"{place}: {message}", place=Place(place.path, place.line, f"[{table}].{key}"), keys=keys)


def _early_exit_message(handle: ProcessHandle, code: int, after: float) -> str:
    return (
        f"process {handle.name!r} {ended(code)} before it was ready "
        f"(after {after:.2f} s): {exit_meaning(code, handle.command)}\n"
        f"command: {shown_command(handle)}\n"
        f"cwd: {handle.cwd}\n"
        f"log: {handle.log_path}\n" + tail_block(handle)
    )


def tail_block(handle: ProcessHandle) -> str:
    """The masked log tail framed for a message, or a note that the log is empty."""
    tail = handle.masked_tail()
    if not tail.strip():
        return "(it wrote nothing to its log)"
    return f"--- last lines of its log ---\n{tail.rstrip()}\n--- end of log ---"


def _make_probe(handle: ProcessHandle, *, log_path: str) -> Probe | None:
    spec, process, env = handle.spec, handle.process, handle.canonical
    ready = process.ready
    table = process.table
    where = f"[{table}].ready"
    if ready is None:
        return None
    if isinstance(ready, LogReady):
        # The output starts after the notes prepare() returns: asked at the first poll.
        return LogProbe(log_path, ready.pattern, offset=lambda: handle.log_offset)
    if isinstance(ready, CommandReady):
        words = list(expand(ready.command, env, spec=spec, table=table, key="ready"))
        try:
            words[0] = resolve_word(words[0], handle.env, spec.root)
        except CommandNotFoundError as error:
            message = f"process {process.name!r}: readiness {error} ({where})"
            raise _spec_error(ProcessError, spec, table, "ready", message) from None
        mask = handle.output_masker().mask
        return CommandProbe(words, env=handle.env, cwd=spec.root, timeout=ready.timeout, mask=mask)
    if isinstance(ready, TcpReady | HttpReady):
        field = ready.address if isinstance(ready, TcpReady) else ready.url
        (address,) = expand([field], env, spec=spec, table=table, key="ready")
        try:
            if isinstance(ready, HttpReady):
                mask = handle.output_masker().mask
                return HttpProbe(address, status=ready.status, owners=handle.tree, mask=mask)
            return TcpProbe(address, owners=handle.tree)
        except ValueError as exc:
            raise _spec_error(ProcessError, spec, table, "ready", f"{where}: {exc}") from None
    assert isinstance(ready, AmqpQueueReady)
    from devenv.services import service_url

    services = [spec.service(n) for n in process.needs if n in spec.service_names()]
    amqp = [s for s in [*services, *spec.services] if s.check == "amqp"]
    if not amqp:
        message = (
            f"{where} uses amqp_queue, but no amqp service is declared; "
            'add [services.NAME] with check = "amqp" and list it in needs'
        )
        raise _spec_error(ProcessError, spec, table, "ready", message)
    (queue,) = expand([ready.queue], env, spec=spec, table=table, key="ready")
    return AmqpQueueProbe(service_url(amqp[0], env.variables), queue, ready.consumers, owners=handle.tree)


def _header(
    name: str,
    command: list[str],
    root: str,
    run_id: str,
    overrides: Mapping[str, str],
    env: CanonicalEnv,
    launcher: str,
) -> str:
    from devenv.masking import Masker, mask_value

    masker = Masker.from_env(env)
    shown = [
        f"{key}={masker.mask(mask_value(key, value, env.secret))}" for key, value in sorted(overrides.items())
    ]
    return (
        f"\n==== devenv: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')} (by {launcher})\n"
        f"==== command: {_masked_join(command, env.variables, env.secret)}\n"
        f"==== cwd: {root}\n"
        f"==== run id: {run_id}  fingerprint: {env.fingerprint}\n"
        f"==== overrides: {' '.join(shown) if shown else 'none'}\n"
    )


def shown_command(handle: ProcessHandle) -> str:
    """The handle's command as a shell line, secrets masked."""
    return _masked_join(handle.command, handle.env, handle.secret_keys)


def _masked_join(command: list[str], variables: Mapping[str, str], secret: Sequence[str]) -> str:
    """The command as a shell line, with secrets masked: `${RABBITMQ_URL}` in a command must
    not put the broker password into a log header or a CI error message."""
    import shlex

    from devenv.masking import Masker

    return Masker.from_variables(variables, secret).mask(shlex.join(command))


def _record(handle: ProcessHandle) -> str:
    import psutil

    try:
        create_time = psutil.Process(handle.pid).create_time()
    except psutil.Error:
        create_time = 0.0
    record: RunRecord = {
        "schema": 1,
        "run_id": handle.run_id,
        "name": handle.name,
        "pid": handle.pid,
        "create_time": create_time,
        "owner_pid": os.getpid(),
        "owner_create_time": psutil.Process().create_time(),
        "command": handle.command,
        "log_path": handle.log_path,
        "fingerprint": handle.canonical.fingerprint,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "launcher": handle.launcher,
        "instance": handle.canonical.variables.get(INSTANCE_KEY, ""),
        "stop_timeout": handle.stop_timeout,
    }
    handle._record = record
    return write_record(handle.spec.root, record)


# -- handles still running: watched while they run, stopped at interpreter exit ---------------

_LIVE: set[ProcessHandle] = set()
_WATCHER: list[threading.Thread] = []


def _watch(handle: ProcessHandle) -> None:
    _LIVE.add(handle)
    if not _WATCHER:
        thread = threading.Thread(target=_watch_loop, name="devenv-watch", daemon=True)
        _WATCHER.append(thread)
        thread.start()
        atexit.register(stop_all)


def _watch_loop() -> None:
    while True:
        with contextlib.suppress(Exception):
            adopt_orphans()
        live = [handle for handle in list(_LIVE) if handle.returncode is None or handle._daemons]
        if live:
            with contextlib.suppress(Exception):
                # One scan for all of them (of their trees only): the idle cost of `devenv up`.
                roots = [handle.pid for handle in live]
                roots += [pid for handle in live for pid, _ in list(handle._daemons)]
                table = scan(roots)
                for handle in live:
                    handle.refresh_descendants(table)
        time.sleep(WATCH_INTERVAL)


#: Children of this process traced to no launched process (a service's daemon, a command it
#: runs): looked at once, keyed by (pid, start ticks).
_NOT_ORPHANS: set[tuple[int, int]] = set()


def adopt_orphans() -> None:
    """Inside `devenv up` (a child subreaper, daemons.py): reap the daemons of every running
    handle that exited, and take each new orphan re-parented to this process as a daemon of
    the process it came from (daemons.trace)."""
    if not subreaper_active():
        return
    with SPAWN_LOCK:
        handles = [handle for handle in list(_LIVE) if handle._popen is not None]
        for handle in handles:
            handle._reap_daemons()
        mains = {handle.pid for handle in handles}
        adopted = {key for handle in handles for key in list(handle._daemons)}
        seen: set[tuple[int, int]] = set()
        origins: list[Origin] | None = None
        for pid in children():
            if pid in mains:
                continue
            key = (pid, _start_ticks(pid))
            seen.add(key)
            if key in adopted or key in _NOT_ORPHANS:
                continue
            if origins is None:
                origins = [handle._origin() for handle in handles]
            origin = trace(pid, key[1], origins)
            owner = next((h for h in handles if origin is not None and h.run_id == origin.run_id), None)
            if owner is None:
                _NOT_ORPHANS.add(key)
            else:
                owner._adopt(*key)
        _NOT_ORPHANS.intersection_update(seen)


def _start_ticks(pid: int) -> int:
    parent: dict[int, int] = {}
    started: dict[int, int] = {}
    read_stat(pid, parent, started)
    return started.get(pid, 0)


def stop_all() -> None:
    """Stop every process this interpreter started and has not stopped (run at exit)."""
    with contextlib.suppress(Exception):
        stop_processes(list(_LIVE))
