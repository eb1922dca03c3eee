"""devenv: one declared environment (envspec.toml) for every launcher.

The public Python API, for scripts, another project's noxfile and test fixtures:

    import devenv

    env = devenv.load()                       # the canonical environment (a mapping)
    child = devenv.apply(env)                 # os.environ with it applied, for subprocess
    with devenv.start("worker") as worker:    # started, ready, stopped on leaving the block
        ...

Everything here imports lazily: `import devenv` costs nothing on the `devenv print-env`
path, and psutil or pika load only when a process is started.
"""

# No `from __future__ import annotations` here: even that import costs start-up time on the
# `devenv print-env` path, which imports this package. Annotations are strings instead.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devenv.environment import CanonicalEnv
    from devenv.processes import ProcessHandle
    from devenv.ps import ProcessInfo
    from devenv.runs import Launcher

__version__ = "0.1.0"

__all__ = ["__version__", "apply", "find_root", "load", "new_instance", "ps", "start"]


def find_root(start: str | None = None) -> str:
    """The project folder: the nearest folder upward from `start` (default: the working
    directory) that holds envspec.toml. DevenvError (exit 2) if there is none."""
    from devenv.api import find_project_root

    return find_project_root(start)


def load(
    root: str | None = None, *, instance: str | None = None, frozen: bool = False, profile: str | None = None
) -> "CanonicalEnv":
    """The canonical environment of the project at `root` (default: found from the working
    directory), refreshed if an input changed. `instance` sets ${DEVENV_INSTANCE} (default:
    the checkout's own, e.g. "main_f2af" for /work/main, what shells and `devenv run` get);
    `profile` picks a `[profiles.NAME]` (default: the one DEVENV_PROFILE names, else none; ""
    for none). The result maps variable names to values."""
    from devenv.api import load_env

    return load_env(root, instance=instance, frozen=frozen, profile=profile)


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
    and instance; a task that fails raises `devenv.tasks.TaskError`. Pass the same set as
    `tasks_done` to several starts to run each task once: the names of tasks that finished
    are added to it, and tasks already in it are skipped."""
    from devenv.api import start_process

    return start_process(
        name,
        root=root,
        env=env,
        instance=instance,
        overrides=overrides,
        args=args,
        log_path=log_path,
        launcher=launcher,
        tasks_done=tasks_done,
        profile=profile,
    )


def new_instance(prefix: str = "run") -> str:
    """A fresh, unique ${DEVENV_INSTANCE} value (`prefix` plus random hex), for isolated runs."""
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def ps(root: str | None = None) -> "list[ProcessInfo]":
    """Every process running in the project's environment, as `devenv ps --json` lists them
    (declared name, launcher, instance, whether it is current, whether it is a leftover)."""
    import os

    from devenv.api import find_project_root
    from devenv.ps import ps as list_processes

    return list_processes(find_project_root(root), os.environ)
