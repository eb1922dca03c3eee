"""The canonical environment and `apply_env`, the one function every launcher uses.

This module is on the `print-env` / `run` start-up path, whose budget is a few milliseconds
(benchmarks/cli_startup.py), so it imports nothing
beyond `os`: no dataclasses (which pull in `inspect`), no typing, no re. Values here are
plain slotted classes for that reason.
"""

import os
from _collections_abc import Mapping  # already loaded by `os`: free on the start-up path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = (
    "DEFAULT_INSTANCE",
    "MANAGED_BY",
    "MANAGED_KEYS",
    "CanonicalEnv",
    "apply_env",
    "exported",
    "join_path",
)

#: DEVENV_INSTANCE of the canonical environment (shells, `devenv run`, `devenv up`).
DEFAULT_INSTANCE = "main"

#: Keys devenv computes; a dotenv file or [vars] setting one of them is an error.
MANAGED_KEYS = ("PYTHONPATH", "VIRTUAL_ENV", "PATH", "DEVENV_ROOT", "DEVENV_FINGERPRINT", "DEVENV_INSTANCE")

#: Which envspec.toml key controls each managed key (used in error messages).
MANAGED_BY = {
    "PYTHONPATH": "[paths].pythonpath",
    "VIRTUAL_ENV": "[python].venv",
    "PATH": "[python].venv (its bin folder is put first on PATH)",
    "DEVENV_ROOT": "the folder holding envspec.toml",
    "DEVENV_FINGERPRINT": "devenv itself (a hash of the resolved environment)",
    "DEVENV_INSTANCE": "the launcher (main for shells, run and up; one per pytest session and xdist worker)",
}


class CanonicalEnv(Mapping[str, str]):
    """What every launched process gets on top of its base environment.

    `variables` holds resolved and managed keys except PATH, sorted by key; `path_prefix`
    are the folders put first on PATH; `unset` are removed from the base. The object is a
    read-only mapping of those variables (`env["DATABASE_URL"]`); `apply_env` gives the
    whole environment of a child, PATH included.
    """

    __slots__ = ("fingerprint", "path_prefix", "root", "secret", "unset", "variables")

    def __init__(
        self,
        *,
        root: str,
        fingerprint: str,
        variables: "Mapping[str, str]",
        path_prefix: "Iterable[str]" = (),
        unset: "Iterable[str]" = (),
        secret: "Iterable[str]" = (),
    ) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.variables = dict(sorted(variables.items()))
        self.path_prefix = tuple(path_prefix)
        self.unset = tuple(unset)
        self.secret = tuple(secret)

    def __getitem__(self, key: str) -> str:
        return self.variables[key]

    def __iter__(self) -> "Iterator[str]":
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        # Never show values: they may be secrets, and pytest prints reprs on failure.
        keys = list(self.variables)
        return f"CanonicalEnv(root={self.root!r}, fingerprint={self.fingerprint!r}, keys={keys!r})"


def join_path(prefix: "Iterable[str]", base_path: str) -> str:
    """PATH for a child: `prefix` first, then `base_path` without those folders or empty entries.

    Empty entries mean "the current folder" to every shell and exec; dropping them keeps
    a launch from depending on where it was started. The shell renderers emit the same rule.
    """
    first = list(prefix)
    rest = [entry for entry in base_path.split(os.pathsep) if entry and entry not in first]
    return os.pathsep.join(first + rest)


def apply_env(env: CanonicalEnv, base: "Mapping[str, str]") -> dict[str, str]:
    """The environment a child gets: `base`, minus `unset`, plus every canonical key.

    It never replaces `base` wholesale (HOME, LANG, TMPDIR survive) and never appends to an
    inherited PYTHONPATH: the canonical one replaces it, which is what keeps launchers equal.
    """
    result = dict(base)
    for key in env.unset:
        result.pop(key, None)
    result.update(env.variables)
    if env.path_prefix:
        result["PATH"] = join_path(env.path_prefix, base.get("PATH", os.defpath))
    return result


def exported(env: CanonicalEnv, base_path: str) -> dict[str, str]:
    """Every key devenv sets for a caller whose PATH is `base_path` (what print-env shows)."""
    result = dict(env.variables)
    if env.path_prefix:
        result["PATH"] = join_path(env.path_prefix, base_path)
    return dict(sorted(result.items()))
