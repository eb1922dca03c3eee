"""One `devenv up` per instance, detached `devenv up -d`, and `devenv logs`.

Every `devenv up` claims its instance: an flock on `.devenv/up/INSTANCE.lock`, held for its
whole life (released by the kernel even after `kill -9`), and a state file beside it naming
its pid, processes, combined log and whether everything is ready. A second `up` of the same
instance finds the lock taken and says who runs it. Every `up` also writes its combined,
prefixed output (what the terminal shows, without colours) and its messages, crash reports
included, to `.devenv/logs/up-INSTANCE.log`, which `devenv logs` reads and follows.

`devenv up -d` starts the same `up` as a supervisor in its own session (no terminal: a
closed one cannot hang it up), with the combined log as its only output, and returns once
the state file says everything is ready, or with the supervisor's exit code if it failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO, TypedDict

from devenv.errors import EXIT_INTERRUPTED, AlreadyRunningError, ProcessError, UsageError
from devenv.layout import UP, state_path

#: How often `up -d` and `logs -f` look at the state file and the combined log.
FOLLOW_INTERVAL = 0.1
#: How long `up -d` waits for its supervisor's first sign of life (the state file).
CLAIM_TIMEOUT = 30.0
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class UpState(TypedDict):
    """`.devenv/up/INSTANCE.json`: the `devenv up` that holds the instance."""

    schema: int
    pid: int
    instance: str
    names: list[str]
    detached: bool
    log_path: str
    ready: bool
    started_at: str


def up_log_path(root: str, instance: str) -> str:
    """`.devenv/logs/up-INSTANCE.log`: the combined log of the instance's latest `up`."""
    from devenv.logs import logs_dir

    return os.path.join(logs_dir(root), f"up-{instance}.log")


def _paths(root: str, instance: str) -> tuple[str, str]:
    folder = state_path(root, UP)
    return os.path.join(folder, f"{instance}.lock"), os.path.join(folder, f"{instance}.json")


def read_state(root: str, instance: str) -> UpState | None:
    """The state of the `up` holding `instance`, or None when no `up` holds it."""
    lock_path, state_file = _paths(root, instance)
    if not _held(lock_path):
        return None
    try:
        with open(state_file, encoding="utf-8") as handle:
            state: UpState = json.load(handle)
    except (OSError, ValueError):
        return None  # the holder has not written it yet
    return state


def _held(lock_path: str) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Claim:
    """This process's hold on an instance: `ready()` says so in the state file."""

    def __init__(self, root: str, instance: str, state: UpState) -> None:
        self.root = root
        self.instance = instance
        self.state = state
        self.log_path = state["log_path"]

    def ready(self) -> None:
        """Mark everything as ready (what `up -d` waits for)."""
        self.state["ready"] = True
        _write_state(self.root, self.instance, self.state)


def _write_state(root: str, instance: str, state: UpState) -> None:
    from devenv.store import write_atomic

    write_atomic(_paths(root, instance)[1], json.dumps(state, sort_keys=True).encode())


@contextlib.contextmanager
def claim_instance(root: str, instance: str, names: Sequence[str], *, detached: bool) -> Iterator[Claim]:
    """Hold `instance` for this `devenv up`, or raise AlreadyRunningError naming the one that does."""
    lock_path, state_file = _paths(root, instance)
    os.makedirs(os.path.dirname(lock_path), mode=0o700, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunningError(_already_running(root, instance)) from None
    state: UpState = {
        "schema": 1,
        "pid": os.getpid(),
        "instance": instance,
        "names": list(names),
        "detached": detached,
        "log_path": up_log_path(root, instance),
        "ready": False,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        _write_state(root, instance, state)
        yield Claim(root, instance, state)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(state_file)
        os.close(fd)  # releases the lock


def _already_running(root: str, instance: str) -> str:
    state = None
    for _ in range(20):  # the holder writes its state right after taking the lock
        state = read_state(root, instance)
        if state is not None:
            break
        time.sleep(0.05)
    who = (
        f"pid {state['pid']}, {'in the background' if state['detached'] else 'in a terminal'}, "
        f"since {state['started_at']}, running {', '.join(state['names'])}"
        if state
        else "its state is not written yet"
    )
    return (
        f"devenv up is already running for instance {instance} ({who}); "
        "`devenv logs -f` follows it, `devenv ps` lists its processes, `devenv stop --all` stops it, "
        "`devenv up --instance NAME` starts another instance"
    )


# -- devenv up -d -------------------------------------------------------------------------------


def detach(
    root: str, names: Sequence[str], instance: str, *, extra_args: Sequence[str], frozen: bool, err: TextIO
) -> int:
    """Start `devenv up` as a supervisor in the background; return 0 once everything is
    ready, or the supervisor's exit code if it stopped first (its messages shown)."""
    if read_state(root, instance) is not None:
        raise AlreadyRunningError(_already_running(root, instance))
    log_path = up_log_path(root, instance)
    os.makedirs(os.path.dirname(log_path), mode=0o700, exist_ok=True)
    command = [sys.executable, "-m", "devenv.supervisor", root, instance, "1" if frozen else "0", *names]
    if extra_args:
        command += ["--", *extra_args]
    from devenv.logs import open_log, spawn_logged

    with os.fdopen(open_log(log_path), "ab") as log:
        log.truncate(0)  # the combined log holds the latest up only
        supervisor = spawn_logged(command, log)  # no terminal whose closing or Ctrl-C reaches it
    try:
        return _wait_detached(root, instance, supervisor, log_path, err)
    except KeyboardInterrupt:
        _say(err, f"interrupted; stopping the supervisor (pid {supervisor.pid}) and what it started")
        supervisor.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            supervisor.wait(120)
        return EXIT_INTERRUPTED


def _wait_detached(
    root: str, instance: str, supervisor: subprocess.Popen[bytes], log_path: str, err: TextIO
) -> int:
    shown = 0
    began = time.monotonic()
    while True:
        shown = _forward_messages(log_path, shown, err)
        code = supervisor.poll()
        if code is not None:
            _forward_messages(log_path, shown, err)
            return code
        state = read_state(root, instance)
        if state is not None and state["pid"] == supervisor.pid and state["ready"]:
            _say(
                err,
                f"up runs in the background (pid {supervisor.pid}, instance {instance}); "
                f"`devenv logs -f` follows {os.path.relpath(log_path, root)}, `devenv ps` lists its "
                "processes, `devenv stop --all` stops them",
            )
            return 0
        if state is None and time.monotonic() - began > CLAIM_TIMEOUT:
            raise ProcessError(
                f"the background supervisor (pid {supervisor.pid}) did not start; see {log_path}"
            )
        time.sleep(FOLLOW_INTERVAL)


def _forward_messages(log_path: str, offset: int, err: TextIO) -> int:
    """Copy the supervisor's own `devenv:` lines after `offset` to `err`; the new offset."""
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            chunk = log.read()
    except OSError:
        return offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", "replace").splitlines(keepends=True):
        if not _prefixed_name(line):
            err.write(line)
    err.flush()
    return offset + len(complete)


def _say(err: TextIO, message: str) -> None:
    err.write(f"devenv: {message}\n")
    err.flush()


def supervise(argv: Sequence[str]) -> int:
    """The background supervisor: `python -m devenv.supervisor ROOT INSTANCE FROZEN NAME... [-- ARGS]`."""
    from devenv.current import fresh_env
    from devenv.errors import DevenvError
    from devenv.spec import load_spec
    from devenv.up import run_up

    args = list(argv)
    extra: list[str] = []
    if "--" in args:
        extra = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    root, instance, frozen, *names = args
    try:
        env = fresh_env(root, frozen=frozen == "1", instance=instance)
        spec = load_spec(root)
        # stdout and stderr are the combined log already: up writes there only.
        return run_up(
            spec, names, env, extra_args=extra, out=sys.stdout, err=sys.stderr, detached=True, tee=False
        )
    except DevenvError as error:
        sys.stderr.write(f"devenv: error: {error}\n")
        return error.exit_code


# -- devenv logs --------------------------------------------------------------------------------


def _prefixed_name(line: str) -> str:
    """The process name of a `NAME | text` line of the combined log, else ''."""
    head, bar, _ = line.partition(" | ")
    return head.strip() if bar and head.strip() and " " not in head.strip() else ""


def show_logs(
    root: str,
    instance: str,
    names: Sequence[str],
    *,
    follow: bool,
    out: TextIO,
    declared: Sequence[str] | None,
) -> int:
    """`devenv logs [NAME...] [-f]`: the combined log of the instance's latest `up` (only
    NAME's lines when named); with `follow`, keep printing until that `up` ends. `declared`:
    the process names a NAME must be one of (None: envspec.toml cannot be read, so any)."""
    unknown = [name for name in names if declared is not None and name not in declared]
    if unknown and declared is not None:
        raise UsageError(f"no process named {unknown[0]!r}: declared are {', '.join(declared) or 'none'}")
    path = up_log_path(root, instance)
    if not os.path.exists(path):
        raise ProcessError(
            f"no devenv up has run for instance {instance} in {root} ({os.path.relpath(path, root)} "
            "does not exist); start one with `devenv up -d`"
        )
    offset = 0
    partial = ""
    while True:
        with open(path, "rb") as log:
            if os.fstat(log.fileno()).st_size < offset:
                offset, partial = 0, ""  # a new up of the instance started afresh
            log.seek(offset)
            chunk = log.read()
        offset += len(chunk)
        text = partial + chunk.decode("utf-8", "replace")
        lines = text.split("\n")
        partial = lines.pop()
        shown = [line for line in lines if not names or _prefixed_name(line) in names]
        if shown:
            out.write("".join(f"{line}\n" for line in shown))
            out.flush()
        if not follow:
            return 0
        if read_state(root, instance) is None and not chunk:
            return 0  # that up has ended and everything it wrote was shown
        time.sleep(FOLLOW_INTERVAL)


def strip_colour(text: str) -> str:
    """`text` without ANSI colour codes (the combined log file has none)."""
    return _COLOUR.sub("", text)


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
