"""devenv: one declared environment (envspec.toml) for every launcher.

The public Python API, for scripts, another project's noxfile and test fixtures:

    import devenv

    env = devenv.load()                       # the canonical environment (a mapping)
    child = devenv.apply(env)                 # os.environ with it applied, for subprocess
    with devenv.start("worker") as worker:    # started, ready, stopped on leaving the block
        ...

This module is the whole public surface (`__all__`, documented in the README's "Python
API"): the functions, the errors they raise and the values they return. Every other module
is devenv's inside and may change without notice.

Everything here imports lazily: `import devenv` costs nothing on the `devenv print-env`
path, and psutil or pika load only when a process is started.
"""

# No `from __future__ import annotations` here: even that import costs start-up time on the
# `devenv print-env` / `run` path, which imports this package. Annotations are strings instead.
# Nothing is imported at load, not even the error classes: every module the start-up path
# imports costs ~0.1 ms (docs/architecture.md, "Start-up budget"), and that path needs
# errors.py only to raise one.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devenv.environment import CanonicalEnv
    from devenv.errors import (
        AlreadyRunningError,
        CommandNotFoundError,
        DevenvError,
        DotenvError,
        LockError,
        Place,
        ProcessError,
        RenderError,
        ResolveError,
        ServiceError,
        SpecError,
        StaleError,
        StateError,
        SyncError,
        UsageError,
    )
    from devenv.processes import ProcessHandle, StaleConsumersWarning
    from devenv.running import ProcessInfo
    from devenv.runs import Launcher
    from devenv.tasks import TaskError

__version__ = "0.1.0"

__all__ = [
    "AlreadyRunningError",
    "CanonicalEnv",
    "CommandNotFoundError",
    "DevenvError",
    "DotenvError",
    "LockError",
    "Place",
    "ProcessError",
    "ProcessHandle",
    "ProcessInfo",
    "RenderError",
    "ResolveError",
    "ServiceError",
    "SpecError",
    "StaleConsumersWarning",
    "StaleError",
    "StateError",
    "SyncError",
    "TaskError",
    "UsageError",
    "__version__",
    "apply",
    "find_root",
    "load",
    "new_instance",
    "ps",
    "start",
]

#: Where each public type lives, imported on first use so that `import devenv` costs nothing:
#: CanonicalEnv, and the types whose modules are heavy (psutil, subprocess, threads). Every
#: other public name that is not a function here is an error class of `devenv.errors` (a launch
#: that works never needs them).
_LAZY = {
    "CanonicalEnv": "devenv.environment",
    "ProcessHandle": "devenv.processes",
    "StaleConsumersWarning": "devenv.processes",
    "ProcessInfo": "devenv.running",
    "TaskError": "devenv.tasks",
}


def __getattr__(name: str) -> object:
    """`devenv.DevenvError`, `devenv.ProcessHandle` and every other public type, imported
    when first asked for."""
    if name not in __all__:
        raise AttributeError(f"module 'devenv' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY.get(name, "devenv.errors")), name)
    globals()[name] = value
    return value


def find_root(start: str | None = None) -> str:
    """The project folder: the nearest folder upward from `start` (default: the working
    directory) that holds envspec.toml. UsageError (exit 2) if there is none."""
    import os

    from devenv.errors import UsageError
    from devenv.root import SPEC_FILENAME
    from devenv.root import find_root as find_upward

    folder = os.path.abspath(start or os.getcwd())
    found = find_upward(folder)
    if found is None:
        raise UsageError(f"no {SPEC_FILENAME} in {folder} or any folder above it")
    return found


def load(
    root: str | None = None, *, instance: str | None = None, frozen: bool = False, profile: str | None = None
) -> "CanonicalEnv":
    """The canonical environment of the project at `root` (default: found from the working
    directory), refreshed if an input changed. `instance` sets ${DEVENV_INSTANCE} (default:
    the checkout's own, e.g. "main_f2af" for /work/main, what shells and `devenv run` get);
    `profile` picks a `[profiles.NAME]` (default: the one DEVENV_PROFILE names, else none; ""
    for none). The result maps variable names to values."""
    from devenv.current import fresh_env

    return fresh_env(find_root(root), frozen=frozen, instance=instance, profile=profile)


def apply(env: "CanonicalEnv", base: "Mapping[str, str] | None" = None) -> dict[str, str]:
    """The environment a child process gets: every variable of `env`, the venv first on PATH,
    and of `base` (default os.environ) only the pass-through keys (README, "What a launched
    process gets"); unset keys dropped."""
    import os

    from devenv.environment import apply_env

    return apply_env(env, os.environ if base is None else base)


def start(
    name: str,
    *,
    root: str | None = None,
    env: "CanonicalEnv | None" = None,
    instance: str | None = None,
    overrides: "Mapping[str, str] | None" = None,
    args: "Sequence[str]" = (),
    log_path: str | None = None,
    launcher: "Launcher" = "api",
    tasks_done: "set[str] | None" = None,
    profile: str | None = None,
) -> "ProcessHandle":
    """Start the declared process `name` exactly as `devenv up NAME` does and return its
    handle once it is ready (a context manager; `stop()`, `restart()`, `pid`, `log_path`,
    `env`). A process not stopped by the caller is stopped when the interpreter exits.
    `launcher` is what `devenv ps` shows as its starter.

    The tasks it needs (`[tasks.NAME]`) run first, to completion, in the same environment
    and instance, `overrides` included; a task that fails raises TaskError. Pass the same set
    as `tasks_done` to several starts to run each task once: the names of tasks that finished
    are added to it (with overrides, the name and a hash of them, so a start with other
    overrides runs the task again in its own environment), and tasks already in it are
    skipped."""
    import os

    from devenv.errors import UsageError
    from devenv.processes import start as start_process
    from devenv.spec import load_spec

    if env is None:
        env = load(root, instance=instance, profile=profile)
    elif instance is not None or profile is not None:
        raise UsageError("pass env, or instance and profile, not both (they are part of the env)")
    return start_process(
        load_spec(env.root),
        name,
        env,
        overrides=overrides,
        extra_args=args,
        log_path=log_path,
        launcher=launcher,
        tasks_done=tasks_done,
        # A fixed log (the fixture's tmp folder) keeps the tasks' logs next to it.
        task_log_dir=os.path.dirname(os.path.abspath(log_path)) if log_path else None,
    )


def new_instance(prefix: str = "run") -> str:
    """A fresh, unique ${DEVENV_INSTANCE} value (`prefix` plus random hex), for isolated runs."""
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def ps(root: str | None = None) -> "list[ProcessInfo]":
    """Every process running in the project's environment, as `devenv ps --json` lists them
    (declared name, launcher, instance, whether it is current, whether it is a leftover)."""
    import os

    from devenv.running import ps as list_processes

    return list_processes(find_root(root), os.environ)
