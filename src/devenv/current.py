"""The current environment of a project: env.nul when it is fresh, else `.devenv/` refreshed.

What every launcher starts from (`print-env`, `run`, `up`, the pytest plugin, the Python
API). The fresh case is on the `print-env` / `run` path and costs a few `stat` calls, so
this module imports only the light snapshot reader; resolving (project.py, which imports
TOML, dotenv and the resolver) is imported only when an input changed, or when the launch
asks for more than the shells' environment (overrides, another instance).
"""

import os

from devenv.environment import INSTANCE_KEY, PROFILE_KEY
from devenv.snapshot import check_sync_finished, read_snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devenv.environment import CanonicalEnv
    from devenv.snapshot import Snapshot


def fresh_env(
    root: str,
    *,
    frozen: bool = False,
    outer: "Mapping[str, str] | None" = None,
    overrides: "Sequence[tuple[str, str]]" = (),
    instance: "str | None" = None,
    profile: "str | None" = None,
) -> "CanonicalEnv":
    """The canonical env of `root` for a shell with `outer` (default: this process's
    environment), refreshing `.devenv/` only when an input changed; with `frozen`, a
    changed input is an error instead.

    With `overrides` (the top layer, as `--set`) or an `instance` other than the checkout's
    default one (`environment.default_instance`, which `.devenv/` was resolved for), the
    result is resolved through `project.resolve_env`, the one door into resolution, after
    `.devenv/` itself was made current (so `--frozen` still refuses stale inputs).
    `profile` chooses a `[profiles.NAME]` as DEVENV_PROFILE in `outer` does (None: whatever
    `outer` says; "": the base declaration).
    """
    outer = os.environ if outer is None else outer
    if profile is not None and outer.get(PROFILE_KEY) != profile:
        # The profile is what DEVENV_PROFILE says (project.resolve_env): choosing one here is
        # that same value, so the snapshot's freshness and a refresh both see it.
        outer = {**outer, PROFILE_KEY: profile}
    env, _ = _current(root, outer, frozen)
    # The snapshot carries the default instance already: comparing with it costs no hash.
    if not overrides and (instance is None or instance == env.variables.get(INSTANCE_KEY)):
        return env
    from devenv.project import resolve_env

    return resolve_env(root, outer, overrides=overrides, instance=instance).resolution.canonical()


def fresh_env_and_text(root: str, fmt: str, *, frozen: bool = False) -> "tuple[CanonicalEnv, str | None]":
    """`fresh_env(root, frozen=frozen)` for this process's environment, and the text of `fmt`
    when a fresh env.nul carries it from the renderer installed now (`Snapshot.text_of`):
    what print-env prints then, without importing a renderer. None: render the env."""
    env, snapshot = _current(root, os.environ, frozen)
    return env, snapshot.text_of(fmt) if snapshot is not None else None


def _current(root: str, outer: "Mapping[str, str]", frozen: bool) -> "tuple[CanonicalEnv, Snapshot | None]":
    """The env of `.devenv/` made current, and the snapshot it came from when that was fresh
    (None: it was refreshed)."""
    check_sync_finished(root)
    snapshot = read_snapshot(root)
    if snapshot is not None and snapshot.is_fresh(outer):
        return snapshot.env, snapshot
    from devenv.project import refresh

    return refresh(root, outer, frozen=frozen).env, None
