"""Run declared tasks (`[tasks.NAME]`: migrate, create the run's database) to completion.

A task is launched exactly like a process (processes.ProcessHandle: the same environment,
command-word rule, log file per run with a header, run record and stop path), in the
canonical env and instance of whatever needs it, and is done when it exits 0. `devenv up`,
`devenv task`, the pytest fixture and the Python API all come through `run_tasks`, so a task
runs the same way wherever it is needed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence

from devenv.environment import CanonicalEnv
from devenv.errors import EXIT_TIMEOUT, ProcessError
from devenv.exits import ended, exit_meaning, shell_code
from devenv.records import dataclass
from devenv.runs import Launcher
from devenv.spec import Spec, TaskSpec

#: How often a running task is checked for its exit (and its new output copied).
POLL_INTERVAL = 0.05


class TaskError(ProcessError):
    """A task failed (non-zero exit, or its timeout): what stops a start. Its exit code is
    the task's own (128+N for signal N), 124 for a timeout."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskRun:
    """A task that ran to completion (exit 0)."""

    name: str
    pid: int
    run_id: str
    log_path: str
    seconds: float
    #: The environment the task got (may hold secrets: never printed by devenv).
    env: Mapping[str, str]


def run_tasks(
    spec: Spec,
    names: Sequence[str],
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None = None,
    launcher: Launcher = "api",
    done: set[str] | None = None,
    log_dir: str | None = None,
    report: Callable[[str], None] | None = None,
    output: Callable[[str], None] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> list[TaskRun]:
    """Run the tasks `names` need (and any task named itself), each after the tasks it needs,
    one at a time, in `env` with `overrides` on top (those of the process they run for: a
    test's own DATABASE_URL is the one its migrations must run against). Tasks in `done` are
    skipped; each one that finishes is added (`done_key`: its name, with overrides its name
    and their hash, so a start with other overrides runs it again in its own environment).

    `names` may name processes and tasks; only their task needs (and those tasks' own) run,
    never the processes a process needs. Raises TaskError for the first task that fails;
    nothing after it runs. `report` gets one line per finished task, `output` the tasks'
    output as it is written; `log_dir` puts the logs there instead of `.devenv/logs/`.
    """
    done = set() if done is None else done
    finished = []
    for task in spec.task_order(names):
        key = done_key(task.name, overrides)
        if key in done:
            continue
        log_path = os.path.join(log_dir, f"{task.name}-{time.time_ns()}.log") if log_dir else None
        run = run_task(
            spec,
            task,
            env,
            base=base,
            launcher=launcher,
            log_path=log_path,
            output=output,
            overrides=overrides,
        )
        done.add(key)
        finished.append(run)
        if report is not None:
            report(
                f"task {task.name} finished in {run.seconds:.2f} s (log {_shown(run.log_path, spec.root)})"
            )
    return finished


def done_key(name: str, overrides: Mapping[str, str] | None) -> str:
    """How a finished task is recorded in a `done` set: its name, and with overrides its name
    and a hash of them (never their values, which may be secrets)."""
    if not overrides:
        return name
    from devenv.digest import sha256

    text = "\0".join(f"{key}={value}" for key, value in sorted(overrides.items()))
    return f"{name} (overrides {sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:12]})"


def run_task(
    spec: Spec,
    task: TaskSpec,
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None = None,
    launcher: Launcher = "api",
    log_path: str | None = None,
    output: Callable[[str], None] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> TaskRun:
    """Run one task (its services first, not its task needs) and wait until it exits.

    Exit 0 returns a TaskRun; anything else is a TaskError with the exit code, what it
    means, the command, the folder and the log tail. After the exit, whatever the task left
    running (a daemon it forked) is killed, as a stop would: nothing outlives a task.
    """
    from devenv.processes import prepare, shown_command, tail_block

    handle = prepare(
        spec,
        task,
        env,
        base=base,
        overrides=overrides or {},
        extra_args=(),
        log_path=log_path,
        launcher=launcher,
    )
    began = time.monotonic()
    handle.spawn()  # a task has no readiness probe: it is done when it exits 0
    offset = handle.log_offset
    # Masked as `devenv up` masks a process's output; the log file keeps it as written.
    mask = handle.output_masker().mask if output is not None else str
    code: int | None = None
    try:
        while True:
            code = handle.returncode
            if output is not None:
                # Once it has exited, its last line may lack a newline: copy it too, before
                # the stop below appends devenv's own note.
                offset = _copy_new(handle.log_path, offset, output, mask, final=code is not None)
            if code is not None:
                break
            if time.monotonic() - began > task.timeout:
                handle.stop()
                raise TaskError(
                    f"task {task.name!r} did not finish within [tasks.{task.name}].timeout = "
                    f"{task.timeout:g} s; it was stopped\n"
                    f"command: {shown_command(handle)}\n"
                    f"cwd: {handle.cwd}\n"
                    f"log: {handle.log_path}\n" + tail_block(handle),
                    exit_code=EXIT_TIMEOUT,
                )
            time.sleep(POLL_INTERVAL)
    except BaseException:
        # Ctrl-C while a migration runs: stop it like a process, then let the interrupt go on.
        handle.stop()
        raise
    seconds = time.monotonic() - began
    # The tail before the stop: the stop appends a note of devenv's own to the log.
    failure = None
    if code != 0:
        failure = TaskError(
            f"task {task.name!r} {ended(code)} after {seconds:.2f} s: "
            f"{_task_meaning(code, handle.command)}\n"
            f"command: {shown_command(handle)}\n"
            f"cwd: {handle.cwd}\n"
            f"log: {handle.log_path}\n" + tail_block(handle),
            exit_code=shell_code(code),
        )
    handle.stop()  # reaps it and ends whatever it left behind
    if failure is not None:
        raise failure
    return TaskRun(
        name=task.name,
        pid=handle.pid,
        run_id=handle.run_id,
        log_path=handle.log_path,
        seconds=seconds,
        env=dict(handle.env),
    )


def _task_meaning(code: int, command: Sequence[str]) -> str:
    if code == 1:
        return "it failed (Python exits 1 on an uncaught exception; see the log below)"
    return exit_meaning(code, command)


def _copy_new(
    path: str, offset: int, output: Callable[[str], None], mask: Callable[[str], str], *, final: bool = False
) -> int:
    """Hand what was appended to the log since `offset` to `output`, masked and without
    devenv's own `==== devenv:` notes; returns the new offset (whole lines only, unless `final`)."""
    with contextlib.suppress(OSError), open(path, "rb") as log:
        log.seek(offset)
        chunk = log.read()
        end = len(chunk) if final else chunk.rfind(b"\n") + 1
        if end:
            lines = chunk[:end].decode("utf-8", "replace").splitlines(keepends=True)
            text = "".join(line for line in lines if not line.startswith("==== devenv:"))
            if text:
                output(mask(text))
            return offset + end
    return offset


def _shown(path: str, root: str) -> str:
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative
