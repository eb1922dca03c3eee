"""`.devenv/interpreters.json`: what probing an interpreter found, kept so that doctor,
`lock --check`, `lock` and sync do not start it again (a probe is an interpreter start plus
`platform` and `importlib.metadata`: ~180 ms under load, every time).

An entry is keyed by the interpreter's path and trusted only while its stamp still matches:
the stat (device, inode, size, mtime) of the path itself (a venv's link) and of the file it
leads to, of each pyvenv.cfg the interpreter reads at start-up, and the kernel release and
version (two of the PEP 508 markers). An entry is stored only when every stamped file was
last changed at least `RACY_NS` before the probe started, so a change the probe may have
missed (the same clock tick) can never hide behind an unchanged stamp. The pip version is
no fact of the interpreter: it changes with every install, so it is read again each time
from the interpreter's own `sys.path` folders (`interpreters.pip_version`).

Obeys the rules of `.devenv/` (docs/architecture.md, "The .devenv/ contract"): written
atomically by `store.write_atomic`, only by commands that hold `.devenv/lock` (sync, lock);
read with O_NOFOLLOW, never when `.devenv` is a link or the file another user's; bound to its
checkout (`binding.py`), so a copied or committed file is ignored. doctor and `lock --check`
only read it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from devenv.binding import read_bound_json, write_bound_json
from devenv.layout import INTERPRETERS

SCHEMA = 1
#: A file changed less than this before a probe started may have changed after the probe
#: looked, within the same tick of the file-system clock (the window of project.RACY_NS).
RACY_NS = 100_000_000

#: The cache as read by this process, per root (read once; sync and lock update it in place).
_READ: dict[str, dict[str, Any]] = {}


def _pyvenv_files(executable: str) -> tuple[str, str]:
    """The pyvenv.cfg files an interpreter looks for at start-up (CPython's getpath: beside
    the executable, then one folder up)."""
    folder = os.path.dirname(os.path.abspath(executable))
    return os.path.join(folder, "pyvenv.cfg"), os.path.join(os.path.dirname(folder), "pyvenv.cfg")


def stamp(executable: str) -> list[Any]:
    """What an entry for `executable` is valid for, as it is now."""
    parts: list[Any] = [list(os.uname()[2:4])]
    checked = [(executable, False), (executable, True)] + [(path, True) for path in _pyvenv_files(executable)]
    for path, follow in checked:
        try:
            info = os.stat(path, follow_symlinks=follow)
        except OSError:
            parts.append(None)
            continue
        parts.append([info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns])
    return parts


def _newest_mtime(parts: list[Any]) -> int:
    return max((entry[3] for entry in parts[1:] if entry is not None), default=0)


def _entries(root: str) -> dict[str, Any]:
    """The entries of `root`'s cache ({} when absent, unreadable, linked, foreign or unbound)."""
    if root in _READ:
        return _READ[root]
    entries: dict[str, Any] = {}
    _READ[root] = entries
    document = read_bound_json(root, INTERPRETERS, SCHEMA) or {}
    interpreters = document.get("interpreters")
    if isinstance(interpreters, dict):
        entries.update(interpreters)
    return entries


def lookup(root: str, executable: str) -> dict[str, Any] | None:
    """The facts recorded for `executable` when its stamp still matches, else None."""
    if not os.path.isabs(executable):
        return None
    entry = _entries(root).get(executable)
    if not isinstance(entry, dict) or entry.get("stamp") != stamp(executable):
        return None
    facts = entry.get("facts")
    return facts if isinstance(facts, dict) else None


def remember(
    root: str, executable: str, facts: dict[str, Any], *, started_ns: int, before: list[Any]
) -> None:
    """Record `facts`, found by a probe started at `started_ns` when `executable`'s stamp was
    `before`. Called only by a command holding `.devenv/lock`. Nothing is stored when the
    stamp changed meanwhile, or when a stamped file changed too shortly before the probe."""
    if not os.path.isabs(executable) or stamp(executable) != before:
        return
    if _newest_mtime(before) >= started_ns - RACY_NS:
        return
    entries = _entries(root)
    entry = {"stamp": before, "facts": facts}
    if entries.get(executable) == entry:
        return
    entries[executable] = entry
    write_bound_json(root, INTERPRETERS, SCHEMA, {"interpreters": entries})


def quiet_stamp(executable: str) -> list[Any]:
    """`stamp(executable)`, after waiting (at most RACY_NS) until its newest file is older
    than RACY_NS: a probe started then can be remembered."""
    parts = stamp(executable)
    wait = _newest_mtime(parts) + RACY_NS - time.time_ns()
    if 0 < wait <= RACY_NS:
        time.sleep(wait / 1e9 + 0.001)
        parts = stamp(executable)
    return parts
