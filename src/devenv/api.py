"""What the public functions in `devenv/__init__.py` do (kept here so `import devenv` is cheap)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from devenv.environment import CanonicalEnv
from devenv.errors import UsageError
from devenv.processes import ProcessHandle
from devenv.runs import Launcher

__all__ = ["find_project_root", "load_env", "start_process"]


def find_project_root(start: str | None = None) -> str:
    """The nearest folder upward from `start` (default: cwd) holding envspec.toml."""
    from devenv.root import SPEC_FILENAME, find_root

    folder = os.path.abspath(start or os.getcwd())
    found = find_root(folder)
    if found is None:
        raise UsageError(f"no {SPEC_FILENAME} in {folder} or any folder above it")
    return found


def load_env(
    root: str | None, *, instance: str | None = None, frozen: bool = False, profile: str | None = None
) -> CanonicalEnv:
    """The canonical env of `root`, refreshed when stale, for `instance` (default: the
    checkout's own, `environment.default_instance`) and `profile` (default: what
    DEVENV_PROFILE names, else none)."""
    from devenv.current import fresh_env

    return fresh_env(find_project_root(root), frozen=frozen, instance=instance, profile=profile)


def start_process(
    name: str,
    *,
    root: str | None = None,
    env: CanonicalEnv | None = None,
    instance: str | None = None,
    overrides: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    log_path: str | None = None,
    launcher: Launcher = "api",
    tasks_done: set[str] | None = None,
    profile: str | None = None,
) -> ProcessHandle:
    """Start a declared process with the canonical env (or `env`) and wait until it is ready."""
    from devenv.processes import start
    from devenv.spec import load_spec

    if env is None:
        env = load_env(root, instance=instance, profile=profile)
    elif instance is not None or profile is not None:
        raise UsageError("pass env, or instance and profile, not both (they are part of the env)")
    spec = load_spec(env.root)
    return start(
        spec,
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
