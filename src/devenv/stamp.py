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

from devenv.binding import FIELDS, binding_fields, bound_here, foreign_owner
from devenv.layout import SYNC_INCOMPLETE, SYNC_STAMP, state_dir, state_path
from devenv.snapshot import UNREADABLE, read_snapshot, stat_fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


MAGIC = "devenv-sync-stamp"
VERSION = "2"


def site_packages(venv: str) -> list[str]:
    """The venv's site-packages folder(s)."""
    lib = os.path.join(venv, "lib")
    try:
        names = sorted(os.listdir(lib))
    except OSError:
        return []
    return [os.path.join(lib, name, "site-packages") for name in names if name.startswith("python")]


def encode_stamp(root: str, paths: "list[str]", *, locked: bool) -> str:
    """The text of sync.nul of `root` for `paths` as they are now; `locked`: a committed,
    current lock was installed (so a no-op `sync --frozen` may also skip)."""
    fields = [MAGIC, VERSION, *binding_fields(root), "1" if locked else "0"]
    for path in paths:
        fields += [path, *stat_fields(path)]
    fields.append("end")
    return "\0".join(fields)


def unchanged(root: str, *, frozen: bool) -> bool:
    """True when `root`'s sync.nul exists, was written for this checkout by this user, and
    every recorded input still has its size and mtime."""
    try:
        descriptor = os.open(os.path.join(state_dir(root), SYNC_STAMP), os.O_RDONLY | os.O_NOFOLLOW)
        with open(descriptor, encoding="utf-8", errors="surrogateescape") as handle:
            if foreign_owner(os.fstat(descriptor)):
                return False
            fields = handle.read().split("\0")
    except (OSError, UnicodeError):
        return False
    if len(fields) < 4 + FIELDS or fields[0] != MAGIC or fields[1] != VERSION or fields[-1] != "end":
        return False
    if not bound_here(fields[2 : 2 + FIELDS], root):
        return False  # another checkout's (a copy, a committed .devenv/): sync afresh
    if frozen and fields[2 + FIELDS] != "1":
        return False
    body = fields[3 + FIELDS : -1]
    if len(body) % 3:
        return False
    for index in range(0, len(body), 3):
        current = stat_fields(body[index])
        if current != (body[index + 1], body[index + 2]) or current[0] == UNREADABLE:
            return False
    return True


def nothing_to_sync(root: str, outer: "Mapping[str, str]", *, frozen: bool) -> bool:
    """True when `devenv sync` has nothing to do for a shell with `outer`, decided from stats
    alone (no pip, no TOML, no hashing): the last sync finished, none of its inputs changed,
    and env.nul is fresh."""
    if os.path.exists(state_path(root, SYNC_INCOMPLETE)) or not unchanged(root, frozen=frozen):
        return False
    snapshot = read_snapshot(root)
    return snapshot is not None and snapshot.is_fresh(outer)


def lock_current_since_sync(root: str, committed: str) -> bool:
    """True when the last sync installed the committed lock `committed` (which it checked was
    current for envspec.toml [python], the interpreter and the platform), and nothing sync.nul
    records has changed since: the answer of `devenv lock --check` without parsing the lock or
    the package lines (what a no-op `sync --frozen` trusts). A lock another tool wrote is
    never answered here (it records no inputs: `lock --check` says so itself)."""
    if not committed or not unchanged(root, frozen=True):
        return False
    from devenv.lock import recorded_tool

    return isinstance(recorded_tool(os.path.join(root, committed)).get("inputs"), dict)
