"""Which project declarations the user allowed the shell hook to load (`devenv allow` / `deny`).

A cloned repository's envspec.toml and dotenv files are input from someone else, and the
hook loads them on `cd`, as direnv loads an `.envrc`. So the hook loads a project only while
the exact bytes of its envspec.toml and dotenv files are the ones its user allowed. The
allowed hashes live outside every project, under `$XDG_STATE_HOME/devenv/allowed/` (default
`~/.local/state`), one empty-bodied file per allowed state: the hook checks that the file
exists with one `stat`, so `devenv deny` takes effect at the next prompt.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence


def state_home(environ: Mapping[str, str]) -> str:
    """`$XDG_STATE_HOME/devenv`, or `~/.local/state/devenv` (the XDG base directory default)."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "devenv")


def inputs_digest(root: str, paths: Sequence[str]) -> str:
    """sha256 over the project folder and the name and bytes of each declaration file."""
    digest = hashlib.sha256(root.encode("utf-8", "surrogateescape") + b"\0")
    for path in paths:
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        except FileNotFoundError:
            digest.update(b"absent")
    return digest.hexdigest()


def _root_key(root: str) -> str:
    return hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def allowed_path(root: str, paths: Sequence[str], environ: Mapping[str, str]) -> str:
    """The file whose existence means "this exact declaration of `root` is allowed"."""
    name = f"{_root_key(root)}-{inputs_digest(root, paths)[:40]}"
    return os.path.join(state_home(environ), "allowed", name)


def _forget(root: str, folder: str) -> list[str]:
    """Remove every permission of `root` in `folder`; the paths removed."""
    prefix = _root_key(root) + "-"
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for name in names:
        if name.startswith(prefix):
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed


def allow(root: str, paths: Sequence[str], environ: Mapping[str, str]) -> str:
    """Allow the current declaration of `root` (and forget older ones); the file written."""
    target = allowed_path(root, paths, environ)
    folder = os.path.dirname(target)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    _forget(root, folder)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(root + "\n")  # for a human looking at the folder
    return target


def deny(root: str, environ: Mapping[str, str]) -> bool:
    """Revoke every permission of `root`; True when there was one."""
    return bool(_forget(root, os.path.join(state_home(environ), "allowed")))
