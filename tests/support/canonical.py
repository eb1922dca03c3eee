"""A CanonicalEnv built by hand, for tests of what the renderers write."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from devenv.environment import CanonicalEnv

__all__ = ["make_env", "root_env"]


def make_env(
    variables: dict[str, str],
    *,
    path_prefix: tuple[str, ...] = (),
    unset: tuple[str, ...] = (),
) -> CanonicalEnv:
    """A CanonicalEnv with only what the renderers read."""
    return CanonicalEnv(
        root="/proj", fingerprint="f", variables=variables, path_prefix=path_prefix, unset=unset
    )


def root_env(root: Path, **variables: str) -> CanonicalEnv:
    """A CanonicalEnv for a project at `root` whose PATH starts with the test interpreter's bin
    (so `python` in a start command is the interpreter running the tests)."""
    return CanonicalEnv(
        root=str(root),
        fingerprint="test",
        variables={"DEVENV_ROOT": str(root), **variables},
        path_prefix=[os.path.dirname(sys.executable)],
    )
