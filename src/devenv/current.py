"""The current environment of a project: env.nul when it is fresh, else `.devenv/` refreshed.

What every launcher starts from (`print-env`, `run`, `up`, the pytest plugin, the Python
API). The fresh case is on the `print-env` / `run` path and costs a few `stat` calls, so
this module imports only the light snapshot reader; resolving (project.py, which imports
TOML, dotenv and the resolver) is imported only when an input changed.
"""

import os

from devenv.snapshot import check_sync_finished, read_snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from devenv.environment import CanonicalEnv


__all__ = ["fresh_env"]


def fresh_env(root: str, *, frozen: bool = False, outer: "Mapping[str, str] | None" = None) -> "CanonicalEnv":
    """The canonical env of `root` for a shell with `outer` (default: this process's
    environment), refreshing `.devenv/` only when an input changed; with `frozen`, a
    changed input is an error instead."""
    outer = os.environ if outer is None else outer
    check_sync_finished(root)
    snapshot = read_snapshot(root)
    if snapshot is not None and snapshot.is_fresh(outer):
        return snapshot.env
    from devenv.project import refresh

    return refresh(root, outer, frozen=frozen).env
