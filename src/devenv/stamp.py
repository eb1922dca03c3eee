"""`.devenv/sync.nul`: what a finished sync saw, so the next one can tell "nothing changed"
from a `stat` of each input, without starting pip, parsing TOML or hashing anything.

Like env.nul, the file is NUL-separated and this module imports only `os` (and the light
layout and env.nul modules): a no-op
`devenv sync` (every nox session runs one) must cost a few interpreter starts at most.
The inputs are envspec.toml, the lock, the project folder (a new pylock.NAME.toml appears
there), local projects' metadata, the venv's site-packages folder (installing or removing a
package by hand changes it), the venv's interpreter and env.json; env.nul's own freshness
check covers the dotenv files and inherited variables.
"""

import os

from devenv.layout import SYNC_INCOMPLETE, SYNC_STAMP, state_dir, state_path
from devenv.snapshot import ABSENT, read_snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MAGIC", "VERSION", "encode_stamp", "nothing_to_sync", "site_packages", "unchanged"]


MAGIC = "devenv-sync-stamp"
VERSION = "1"


def _stat(path: str) -> tuple[str, str]:
    try:
        info = os.stat(path)
    except OSError:
        return (ABSENT, ABSENT)
    return (str(info.st_size), str(info.st_mtime_ns))


def site_packages(venv: str) -> list[str]:
    """The venv's site-packages folder(s)."""
    lib = os.path.join(venv, "lib")
    try:
        names = sorted(os.listdir(lib))
    except OSError:
        return []
    return [os.path.join(lib, name, "site-packages") for name in names if name.startswith("python")]


def encode_stamp(paths: "list[str]", *, locked: bool) -> str:
    """The text of sync.nul for `paths` as they are now; `locked`: a committed, current lock
    was installed (so a no-op `sync --frozen` may also skip)."""
    fields = [MAGIC, VERSION, "1" if locked else "0"]
    for path in paths:
        fields += [path, *_stat(path)]
    fields.append("end")
    return "\0".join(fields)


def unchanged(folder: str, *, frozen: bool) -> bool:
    """True when `folder/sync.nul` exists and every recorded input still has its size and mtime."""
    try:
        with open(os.path.join(folder, SYNC_STAMP), encoding="utf-8", errors="surrogateescape") as handle:
            fields = handle.read().split("\0")
    except OSError:
        return False
    if len(fields) < 4 or fields[0] != MAGIC or fields[1] != VERSION or fields[-1] != "end":
        return False
    if frozen and fields[2] != "1":
        return False
    body = fields[3:-1]
    if len(body) % 3:
        return False
    return all(_stat(body[index]) == (body[index + 1], body[index + 2]) for index in range(0, len(body), 3))


def nothing_to_sync(root: str, outer: "Mapping[str, str]", *, frozen: bool) -> bool:
    """True when `devenv sync` has nothing to do for a shell with `outer`, decided from stats
    alone (no pip, no TOML, no hashing): the last sync finished, none of its inputs changed,
    and env.nul is fresh."""
    if os.path.exists(state_path(root, SYNC_INCOMPLETE)) or not unchanged(state_dir(root), frozen=frozen):
        return False
    snapshot = read_snapshot(root)
    return snapshot is not None and snapshot.is_fresh(outer)
