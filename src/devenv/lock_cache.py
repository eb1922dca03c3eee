"""`.devenv/locks.json`: what parsing each of the project's locks found, kept so that a sync
or `lock --check` of an unchanged lock does not parse its TOML again (tomllib took ~30 ms of
this repository's 230 KB lock: an eighth of devenv's own share of a sync into an empty venv,
README "Performance").

An entry is the `Lock` (lock.py) of one file, keyed by the file's path and the sha256 of its
bytes, which are read and hashed on every lookup (~1 ms), and by the code that parsed it
(SCHEMA, and the size and mtime of lock.py, so that an edited checkout of devenv parses
again). Only a parse is stored, never a lock as devenv meant to write it.

Obeys the rules of `.devenv/` (docs/architecture.md, "The .devenv/ contract"): written
atomically by `store.write_atomic`, only by commands that hold `.devenv/lock` (sync); read
with O_NOFOLLOW, never when `.devenv` is a link or the file another user's; bound to its
checkout (`binding.py`), so a copied or committed file is ignored.
"""

from __future__ import annotations

import json
import os
from typing import Any

from devenv import digest
from devenv.binding import read_bound_json, write_bound_json
from devenv.layout import LOCKS
from devenv.lock import Lock, LockedPackage

SCHEMA = 1

#: The cache as read by this process, per root.
_READ: dict[str, dict[str, Any]] = {}


def _code() -> list[int]:
    """The size and mtime of lock.py: a parse made by other code is not this code's parse."""
    from devenv import lock

    info = os.stat(lock.__file__)
    return [SCHEMA, info.st_size, info.st_mtime_ns]


def _entries(root: str) -> dict[str, Any]:
    if root not in _READ:
        document = read_bound_json(root, LOCKS, SCHEMA)
        locks = document.get("locks") if document is not None else None
        _READ[root] = dict(locks) if isinstance(locks, dict) else {}
    return _READ[root]


def lookup(root: str, path: str, data: bytes) -> Lock | None:
    """The Lock parsed from `data` (the bytes of the lock at `path`), when an entry for
    exactly these bytes, made by this code, is recorded; else None."""
    entry = _entries(root).get(path)
    if not isinstance(entry, dict) or entry.get("code") != _code():
        return None
    sha256 = digest.sha256(data).hexdigest()
    if entry.get("sha256") != sha256:
        return None
    try:
        entries = tuple(
            LockedPackage(
                name=str(name),
                version=str(version),
                marker=str(marker),
                directory=str(directory),
                files=tuple((str(url), str(hashed)) for url, hashed in files),
            )
            for name, version, marker, directory, files in entry["entries"]
        )
        return Lock(
            path=path,
            sha256=sha256,
            requires_python=str(entry["requires_python"]),
            environments=tuple(str(marker) for marker in entry["environments"]),
            packages={package.name: package.version for package in entries},
            entries=entries,
            tool=dict(entry["tool"]),
            created_by=str(entry["created_by"]),
            packages_sha256=str(entry["packages_sha256"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def remember(root: str, lock: Lock) -> None:
    """Record `lock`, as read_lock parsed it from the file at `lock.path`. Called only by a
    command holding `.devenv/lock`; nothing is written when the entry is already there, or
    when the lock holds a value JSON cannot carry unchanged (a TOML date in [tool.devenv])."""
    entries = _entries(root)
    current = entries.get(lock.path)
    if isinstance(current, dict) and current.get("sha256") == lock.sha256 and current.get("code") == _code():
        return
    entry = {
        "code": _code(),
        "sha256": lock.sha256,
        "requires_python": lock.requires_python,
        "environments": list(lock.environments),
        "entries": [
            [package.name, package.version, package.marker, package.directory, [*map(list, package.files)]]
            for package in lock.entries
        ],
        "tool": lock.tool,
        "created_by": lock.created_by,
        "packages_sha256": lock.packages_sha256,
    }
    try:
        text = json.dumps(entry, sort_keys=True)
    except (TypeError, ValueError):
        return
    if json.loads(text)["tool"] != lock.tool:  # e.g. a tuple or a float JSON turns into another value
        return
    entries[lock.path] = entry
    # Only the project's locks as they are now: a removed pylock.NAME.toml leaves no entry behind.
    for path in [path for path in entries if not os.path.isfile(path)]:
        del entries[path]
    write_bound_json(root, LOCKS, SCHEMA, {"locks": entries})
