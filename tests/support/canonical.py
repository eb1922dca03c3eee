"""A CanonicalEnv built by hand, for tests of what the renderers write."""

from __future__ import annotations

from devenv.environment import CanonicalEnv

__all__ = ["make_env"]


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
