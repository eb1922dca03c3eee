"""Launch declared processes the same way for every launcher: `devenv up`, nox, the pytest fixture.

Start ensures services, spawns into a log file with the canonical env, and waits on the
declared probe while watching for an early exit. Stop signals the main process only, then
kills the group, every descendant seen, and anything carrying the run's DEVENV_RUN_ID marker:
nothing may outlive a stop (DESIGN §8; reliability catalogue PROC-01..PROC-06).
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO, TypedDict

from devenv.environment import CanonicalEnv, apply_env
from devenv.errors import ProcessError
from devenv.readiness import AmqpQueueProbe, LogProbe, Observation, Probe, TcpProbe
from devenv.spec import AmqpQueueReady, LogReady, ProcessSpec, Spec, TcpReady

if TYPE_CHECKING:
    import psutil

RUN_ID_KEY = "DEVENV_RUN_ID"
POLL_INTERVAL = 0.05
TAIL_LINES = 40
#: How long killed processes get to disappear before stop() gives up waiting on them.
KILL_GRACE = 3.0

#: Dramatiq's exit codes (cli.py RET_*; worker_fixture §1.3).
DRAMATIQ_EXIT_CODES = {
    0: "exited normally, but a long-running process must stay up until it is stopped",
    1: "killed (Dramatiq RET_KILLED; also any worker that died from a signal)",
    2: "import error or bad command-line argument (Dramatiq RET_IMPORT); see the traceback below",
    3: "broker connection failed during boot (Dramatiq RET_CONNECT)",
    4: "pid file problem (Dramatiq RET_PIDFILE)",
}

#: Other commands: only what is true of most programs.
GENERIC_EXIT_CODES = {
    0: "exited normally, but a long-running process must stay up until it is stopped",
    1: "it failed (Python exits 1 on an uncaught exception; see the log below)",
    2: "bad command-line usage, or an import error under Dramatiq (see the log below)",
}


class StaleConsumersWarning(UserWarning):
    """Someone else already consumes the queue a process is about to consume."""


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


def runs_dir(root: str) -> str:
    """Where run records live."""
    return os.path.join(root, ".devenv", "runs")


def default_log_path(root: str, name: str) -> str:
    """`<root>/.devenv/logs/<name>.log`."""
    return os.path.join(root, ".devenv", "logs", f"{name}.log")


def exit_meaning(code: int, command: Sequence[str] = ()) -> str:
    """What an exit code means (Dramatiq's codes for a Dramatiq command); negative = signal."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    table = DRAMATIQ_EXIT_CODES if is_dramatiq(command) else GENERIC_EXIT_CODES
    return table.get(code, f"exit code {code}")


def is_dramatiq(command: Sequence[str]) -> bool:
    """Whether `command` runs the Dramatiq CLI (`python -m dramatiq` or the `dramatiq` script)."""
    if command and os.path.basename(command[0]).startswith("dramatiq"):
        return True
    return any(a == "-m" and b == "dramatiq" for a, b in itertools.pairwise(command))


class ProcessHandle:
    """A running declared process: its pid, log, environment, and how to stop it."""

    def __init__(
        self,
        *,
        name: str,
        popen: subprocess.Popen[bytes],
        run_id: str,
        log_path: str,
        log_offset: int,
        env: dict[str, str],
        command: list[str],
        cwd: str,
        secret_keys: tuple[str, ...] = (),
        stop_timeout: float,
        record_path: str,
        started_at: float,
    ) -> None:
        self.name = name
        self.pid = popen.pid
        self.run_id = run_id
        self.log_path = log_path
        #: Byte offset where this run's output starts (after devenv's header).
        self.log_offset = log_offset
        #: The environment the child was given (may hold secrets: never printed by devenv).
        self.env = env
        self.command = command
        self.cwd = cwd
        #: [env].secret of the canonical env (for masking the log tail in messages).
        self.secret_keys = secret_keys
        self.stop_timeout = stop_timeout
        #: time.time() of the spawn.
        self.started_at = started_at
        #: Seconds from spawn to ready; None until ready.
        self.ready_after: float | None = None
        self._popen = popen
        self._record_path = record_path
        self._descendants: dict[int, psutil.Process] = {}
        self._stopped = False

    def __repr__(self) -> str:
        # Never show env values: they may be secrets and pytest prints reprs on failure.
        return (
            f"ProcessHandle(name={self.name!r}, pid={self.pid}, run_id={self.run_id!r}, "
            f"log_path={self.log_path!r})"
        )

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None."""
        return self._popen.poll()

    def alive(self) -> bool:
        """Whether the main process is still running (also refreshes the descendant snapshot)."""
        if self._popen.poll() is not None:
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

    def refresh_descendants(self) -> None:
        """Remember every descendant now alive: after the main process dies they are orphans
        that `children()` can no longer find (PROC-05)."""
        import psutil

        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            known = self._descendants.get(child.pid)
            if known is None or not _same_process(known, child):
                self._descendants[child.pid] = child

    def stop(self) -> int | None:
        """Stop the whole tree: SIGTERM the main process, wait, then SIGKILL what is left.

        Returns the main process's exit code. Safe to call more than once.
        """
        if self._stopped:
            return self._popen.returncode
        began = time.monotonic()
        if self._popen.poll() is None:
            self.refresh_descendants()
            # SIGTERM to the main process only: Dramatiq forwards it once to each worker;
            # killpg(SIGTERM) would give workers a second SIGTERM, a hard kill (PROC-04).
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._note(
                    f"{self.name} did not exit within stop_timeout = {self.stop_timeout:g} s "
                    "of SIGTERM; sending SIGKILL to its process group and descendants"
                )
        self._finish()
        code = self._popen.returncode
        self._note(
            f"stopped {self.name} (pid {self.pid}, exit code {code}) in {time.monotonic() - began:.2f} s"
        )
        return code

    def _finish(self) -> None:
        """Kill everything left of this run, reap the main process, remove the record."""
        self._stopped = True
        if self._popen.poll() is None:
            self.refresh_descendants()
        # The group id is the main pid (start_new_session); the group outlives its leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        victims = [p for p in self._descendants.values() if _kill(p)]
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
        # Reap the direct child with Popen.wait only: psutil.wait_procs on it would steal
        # its exit status (psutil#2710, PROC-06).
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(KILL_GRACE)
        # setsid'd or double-forked grandchildren escape the group and the tree; the marker
        # in their environment still names them (PROC-05).
        victims += kill_marked(self.run_id)
        _wait_gone(victims, timeout=KILL_GRACE)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._record_path)

    def _note(self, message: str) -> None:
        _append_log(self.log_path, message)


def start(
    spec: Spec,
    name: str,
    env: CanonicalEnv,
    *,
    log_path: str | None = None,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> ProcessHandle:
    """Start the declared process `name` and return once its readiness probe passes.

    Raises ProcessError at once if it exits first, or when `start_timeout` passes (after
    stopping it); ServiceError if a service it needs is unreachable.
    """
    from devenv.services import ensure_service

    process = spec.process(name)
    env = with_overrides(env, overrides or {}, where=f"overrides for {name}")
    cleanup_leftovers(spec.root)
    for need in process.needs:
        ensure_service(spec.service(need), env, base=base)

    run_id = uuid.uuid4().hex
    child_env = apply_env(env, os.environ if base is None else base)
    child_env[RUN_ID_KEY] = run_id
    words = expand(process.command, env, where=f"[processes.{name}].command")
    command = resolve_command(words, child_env.get("PATH", os.defpath), spec.root)

    log_path = os.path.abspath(log_path or default_log_path(spec.root, name))
    _private_dir(os.path.dirname(log_path))
    header = _header(name, command, spec.root, run_id, overrides or {}, env)
    # 0600: a process may print secrets to its log; devenv's own lines never contain any.
    with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as log:
        log.write(header.encode("utf-8", "replace"))
        log.flush()
        # The log probe starts after the header: the header quotes the command, which
        # could itself match the pattern.
        probe = _make_probe(spec, process, env, log_path=log_path, offset=log.tell())
        note = None
        if isinstance(probe, AmqpQueueProbe):
            note = _account_for_stale_consumers(probe, name)
        if note:
            log.write(f"==== devenv: warning: {note}\n".encode("utf-8", "replace"))
            log.flush()
        log_offset = log.tell()
        if isinstance(probe, LogProbe):
            probe.skip_to(log_offset)
        started_at = time.time()
        try:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=spec.root,
                env=child_env,
                close_fds=True,
                # Its own process group: killpg reaches everything it forks, and a Ctrl-C
                # in the terminal reaches devenv only, which then stops it in order.
                start_new_session=True,
            )
        except OSError as exc:
            if probe is not None:
                probe.close()
            raise ProcessError(
                f"process {name!r}: cannot run {command[0]!r}: {exc.strerror} ([processes.{name}].command)"
            ) from None
    spawned = time.monotonic()
    record_path = _write_record(spec.root, run_id, name, popen.pid, command, log_path, env)
    handle = ProcessHandle(
        name=name,
        popen=popen,
        run_id=run_id,
        log_path=log_path,
        log_offset=log_offset,
        env=child_env,
        command=command,
        cwd=spec.root,
        secret_keys=env.secret,
        stop_timeout=process.stop_timeout,
        record_path=record_path,
        started_at=started_at,
    )
    try:
        _wait_ready(handle, process, probe, spawned)
    except BaseException:
        # Including KeyboardInterrupt: a half-started process must not outlive the launcher.
        handle.stop()
        raise
    finally:
        if probe is not None:
            probe.close()
    if note:
        warnings.warn(StaleConsumersWarning(note), stacklevel=2)
    return handle


def with_overrides(env: CanonicalEnv, overrides: Mapping[str, str], *, where: str) -> CanonicalEnv:
    """`env` with `overrides` on top and a fingerprint that says so (overrides change the env)."""
    if not overrides:
        return env
    from devenv.environment import MANAGED_KEYS
    from devenv.resolver import check_value, fingerprint_of

    for key, value in overrides.items():
        if key in MANAGED_KEYS:
            raise ProcessError(f"{where}: {key} is managed by devenv and cannot be overridden")
        check_value(where, key, value)
    values = {**env.variables, **overrides}
    fingerprint = fingerprint_of(values, env.path_prefix, env.unset)
    values["DEVENV_FINGERPRINT"] = fingerprint
    return CanonicalEnv(
        root=env.root,
        fingerprint=fingerprint,
        variables=values,
        path_prefix=env.path_prefix,
        unset=env.unset,
        secret=env.secret,
    )


def expand(words: Sequence[str], env: CanonicalEnv, *, where: str) -> tuple[str, ...]:
    """`${NAME}` in command words (or a probe's queue) resolved against the canonical env,
    so one declaration can vary by variable (e.g. --processes ${WORKER_PROCESSES})."""
    from devenv.resolver import interpolate

    return tuple(interpolate(word, env.variables.get, where=where) for word in words)


def _wait_ready(handle: ProcessHandle, process: ProcessSpec, probe: Probe | None, spawned: float) -> None:
    deadline = spawned + process.start_timeout
    last = Observation(ready=False, seen="not checked yet")
    first = True
    while True:
        code = handle.returncode
        if code is None:
            handle.refresh_descendants()
            if probe is None:
                ready = not first  # no probe: alive for one poll interval is all we can know
                first = False
            else:
                last = probe.poll()
                ready = last.ready
            # Exiting right after the probe passed is still an early exit, not readiness.
            code = handle.returncode
            if ready and code is None:
                handle.ready_after = time.monotonic() - spawned
                return
        if code is not None:
            handle._finish()
            error = ProcessError(_early_exit_message(handle, code, time.monotonic() - spawned))
            # `devenv up` returns the child's code (DESIGN §7), even when it died before ready;
            # a child that exited 0 before it was ready still failed to start.
            error.exit_code = code if code > 0 else (128 - code if code < 0 else 1)
            raise error
        if time.monotonic() >= deadline:
            waited = time.monotonic() - spawned
            handle.stop()
            what = probe.description if probe is not None else "its start"
            raise ProcessError(
                f"process {handle.name!r} was not ready after {waited:.1f} s "
                f"([processes.{handle.name}].start_timeout = {process.start_timeout:g}); "
                f"waited for {what}, last saw: {last.seen}; it was stopped\n"
                f"command: {_shown(handle.command, handle.env, handle.secret_keys)}\n"
                f"log: {handle.log_path}\n" + _tail_block(handle)
            )
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))


def _early_exit_message(handle: ProcessHandle, code: int, after: float) -> str:
    return (
        f"process {handle.name!r} exited with code {code} before it was ready "
        f"(after {after:.2f} s): {exit_meaning(code, handle.command)}\n"
        f"command: {_shown(handle.command, handle.env, handle.secret_keys)}\n"
        f"cwd: {handle.cwd}\n"
        f"log: {handle.log_path}\n" + _tail_block(handle)
    )


def _tail_block(handle: ProcessHandle) -> str:
    from devenv.secrets import Masker

    # The message may end up in CI output: mask any secret the process printed.
    tail = Masker.for_logs(handle.env, handle.secret_keys).mask(handle.tail())
    if not tail.strip():
        return "(it wrote nothing to its log)"
    return f"--- last lines of its log ---\n{tail.rstrip()}\n--- end of log ---"


def log_tail(path: str, offset: int = 0, *, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines after `offset`, reaching back to include a whole Traceback block."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(offset, size - 256 * 1024)
            handle.seek(start)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    first = max(0, len(all_lines) - lines)
    # A traceback cut in half hides the line that matters; start at its header instead.
    for index in range(len(all_lines) - 1, -1, -1):
        if all_lines[index].startswith("Traceback (most recent call last):"):
            if index < first:
                first = index
            break
    return "\n".join(all_lines[first:]) + ("\n" if all_lines else "")


def resolve_command(command: tuple[str, ...], path: str, root: str) -> list[str]:
    """`command` with its first word made absolute against the child's PATH (or `root`)."""
    import shutil

    word = command[0]
    if os.sep in word:
        candidate = os.path.join(root, word)
        resolved = candidate if os.access(candidate, os.X_OK) else None
    else:
        resolved = shutil.which(word, path=path)
    if resolved is None:
        raise ProcessError(
            f"command {word!r} not found on the canonical PATH ({path.split(os.pathsep)[0]} "
            "first); run `devenv sync`, or fix the first word of [processes.*].command"
        )
    return [os.path.abspath(resolved), *command[1:]]


def cleanup_leftovers(root: str) -> list[int]:
    """Kill what earlier runs left behind when their owner died; return the killed pids.

    A record whose owner process still runs belongs to another `devenv up` or test session
    and is left alone.
    """
    import psutil

    folder = runs_dir(root)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    killed: list[psutil.Process] = []
    for entry in names:
        if not entry.endswith(".json"):
            continue
        path = os.path.join(folder, entry)
        try:
            with open(path, encoding="utf-8") as handle:
                record: RunRecord = json.load(handle)
            owner_alive = _matches(record["owner_pid"], record["owner_create_time"])
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError):
            # Records are written atomically, so an unreadable one is garbage.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        if owner_alive:
            continue
        if _matches(record["pid"], record["create_time"]):
            # Still the same process (no pid reuse): its group is the one we created.
            with contextlib.suppress(psutil.Error):
                main = psutil.Process(record["pid"])
                killed += [main] if _kill(main) else []
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record["pid"], signal.SIGKILL)
        killed += kill_marked(record["run_id"])
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    _wait_gone(killed, timeout=KILL_GRACE)
    return sorted({p.pid for p in killed})


def marked_processes(run_id: str) -> list[psutil.Process]:
    """Every process whose (initial) environment carries DEVENV_RUN_ID=`run_id`."""
    import psutil

    own = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        own.update(p.pid for p in psutil.Process().parents())
    found = []
    for proc in psutil.process_iter():
        if proc.pid in own:
            continue
        try:
            # environ() is the initial environment, read best-effort (PROC-14).
            if proc.environ().get(RUN_ID_KEY) == run_id and not _is_zombie(proc):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_marked(run_id: str) -> list[psutil.Process]:
    """SIGKILL every live process carrying the run marker; return the ones signalled."""
    return [proc for proc in marked_processes(run_id) if _kill(proc)]


def run_foreground(spec: Spec, name: str, env: CanonicalEnv, *, out: TextIO) -> int:
    """`devenv up NAME`: start, report readiness on stderr, stream the log, stop on Ctrl-C.

    Returns the child's exit code (128+N for signal N) or 130 after Ctrl-C / SIGTERM.
    """
    with _sigterm_as_interrupt():
        handle = None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", StaleConsumersWarning)
                handle = start(spec, name, env)
            for warning in caught:
                if issubclass(warning.category, StaleConsumersWarning):
                    sys.stderr.write(f"devenv: warning: {warning.message}\n")
                else:
                    warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
            sys.stderr.write(
                f"devenv: {name} ready after {handle.ready_after or 0:.2f} s "
                f"(pid {handle.pid}, log {handle.log_path})\n"
            )
            sys.stderr.flush()
            _stream(handle, out)
            code = handle.stop()
            if code is None:
                return 1
            return 128 - code if code < 0 else code
        except KeyboardInterrupt:
            if handle is not None:
                sys.stderr.write(f"devenv: stopping {name} (pid {handle.pid})\n")
                handle.stop()
            return 130
        finally:
            if handle is not None:
                handle.stop()


def _stream(handle: ProcessHandle, out: TextIO) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = handle.log_offset
    while True:
        running = handle.alive()
        try:
            with open(handle.log_path, "rb") as log:
                log.seek(offset)
                chunk = log.read()
        except OSError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            out.write(decoder.decode(chunk))
            out.flush()
        if not running:
            return
        if not chunk:
            time.sleep(0.1)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        # The first Ctrl-C or SIGTERM starts an orderly stop; a second one (an impatient
        # user, or nox escalating interrupt -> terminate -> kill) must not cut it short and
        # orphan the tree, so both are ignored from here on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def _make_probe(
    spec: Spec, process: ProcessSpec, env: CanonicalEnv, *, log_path: str, offset: int
) -> Probe | None:
    ready = process.ready
    if ready is None:
        return None
    if isinstance(ready, LogReady):
        return LogProbe(log_path, ready.pattern, offset=offset)
    if isinstance(ready, TcpReady):
        try:
            return TcpProbe(ready.address)
        except ValueError as exc:
            raise ProcessError(f"[processes.{process.name}].ready: {exc}") from None
    assert isinstance(ready, AmqpQueueReady)
    from devenv.services import service_url

    candidates = [spec.service(n) for n in process.needs] + list(spec.services)
    amqp = [s for s in candidates if s.check == "amqp"]
    if not amqp:
        raise ProcessError(
            f"[processes.{process.name}].ready uses amqp_queue, but no amqp service is declared; "
            'add [services.NAME] with check = "amqp" and list it in needs'
        )
    (queue,) = expand([ready.queue], env, where=f"[processes.{process.name}].ready")
    return AmqpQueueProbe(service_url(amqp[0], env.variables), queue, ready.consumers)


def _account_for_stale_consumers(probe: AmqpQueueProbe, name: str) -> str | None:
    """Raise the probe's target by consumers already there, and describe them."""
    baseline = probe.consumer_count()
    if not baseline:
        return None
    wanted = probe.consumers
    probe.consumers = baseline + wanted
    probe.description = f"amqp_queue {probe.queue!r} (consumers >= {probe.consumers})"
    # Orphaned workers keep consuming and steal the messages a test waits for (PROC-05).
    return (
        f"{baseline} consumer(s) were already on queue {probe.queue!r} before {name} started "
        "(an orphaned worker, another `devenv up` or another test session); they will take "
        f"messages meant for {name}; waiting for {probe.consumers} consumers"
    )


def _header(
    name: str,
    command: list[str],
    root: str,
    run_id: str,
    overrides: Mapping[str, str],
    env: CanonicalEnv,
) -> str:
    from devenv.secrets import Masker, mask_value

    masker = Masker.from_env(env)
    shown = [
        f"{key}={masker.mask(mask_value(key, value, env.secret))}" for key, value in sorted(overrides.items())
    ]
    return (
        f"\n==== devenv: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        f"==== command: {_shown(command, env.variables, env.secret)}\n"
        f"==== cwd: {root}\n"
        f"==== run id: {run_id}  fingerprint: {env.fingerprint}\n"
        f"==== overrides: {' '.join(shown) if shown else 'none'}\n"
    )


def _shown(command: list[str], variables: Mapping[str, str], secret: Sequence[str]) -> str:
    """The command as a shell line, with secrets masked: `${RABBITMQ_URL}` in a command must
    not put the broker password into a log header or a CI error message."""
    import shlex

    from devenv.secrets import Masker

    return Masker.from_variables(variables, secret).mask(shlex.join(command))


def _append_log(path: str, message: str) -> None:
    with contextlib.suppress(OSError), open(path, "ab") as log:
        log.write(f"==== devenv: {message}\n".encode("utf-8", "replace"))


def _private_dir(path: str) -> None:
    """Create `path` (and .devenv parents) as 0700 if missing."""
    os.makedirs(path, mode=0o700, exist_ok=True)


def _write_record(
    root: str,
    run_id: str,
    name: str,
    pid: int,
    command: list[str],
    log_path: str,
    env: CanonicalEnv,
) -> str:
    import psutil

    folder = runs_dir(root)
    _private_dir(folder)
    try:
        create_time = psutil.Process(pid).create_time()
    except psutil.Error:
        create_time = 0.0
    record: RunRecord = {
        "schema": 1,
        "run_id": run_id,
        "name": name,
        "pid": pid,
        "create_time": create_time,
        "owner_pid": os.getpid(),
        "owner_create_time": psutil.Process().create_time(),
        "command": command,
        "log_path": log_path,
        "fingerprint": env.fingerprint,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = os.path.join(folder, f"{run_id}.json")
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, sort_keys=True)
    os.replace(temporary, path)
    return path


def _matches(pid: int, create_time: float) -> bool:
    """Whether `pid` is still the process that was created at `create_time` (no pid reuse)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.05 and not _is_zombie(proc)
    except psutil.Error:
        return False


def _same_process(a: psutil.Process, b: psutil.Process) -> bool:
    import psutil

    try:
        return a.create_time() == b.create_time()
    except psutil.Error:
        return False


def _is_zombie(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.ZombieProcess:
        return True
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _kill(proc: psutil.Process) -> bool:
    """SIGKILL `proc` if it is still running and not a zombie; True if it was signalled."""
    import psutil

    try:
        if not proc.is_running() or _is_zombie(proc):
            return False
        proc.kill()
        return True
    except psutil.Error:
        return False


def _wait_gone(procs: list[psutil.Process], *, timeout: float) -> None:
    """Wait until each of `procs` is gone or a zombie (zombies count as gone, PROC-06)."""
    import psutil

    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending and time.monotonic() < deadline:
        still = []
        for proc in pending:
            try:
                if proc.is_running() and not _is_zombie(proc):
                    still.append(proc)
            except psutil.Error:
                continue
        pending = still
        if pending:
            time.sleep(0.01)
