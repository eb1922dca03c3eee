"""Which checkout and which user a record under `.devenv/` (or a venv's marker) belongs to.

Every record devenv keeps names the project root it was written for, that folder's device
and inode, and the uid that wrote it. A record whose binding differs from the checkout
reading it (a copied checkout, a `.devenv/` committed to git and cloned, another user's
files) describes some other project: it is stale and resolved afresh, never trusted
(docs/architecture.md, "The .devenv/ contract"). The inode is what a copy or a clone cannot
carry over: `cp -a` keeps the path's text and the mtimes, never the inode.

On the `print-env` / `run` path, so it imports only `os`: checking costs one `stat` of the
root (and an `fstat` of the record already open).
"""

import os

#: How many fields a binding takes in a NUL-separated record (root, device, inode, uid).
FIELDS = 4


def binding_fields(root: str) -> list[str]:
    """The binding of a record written now for `root`: root path, device, inode, uid."""
    info = os.stat(root)
    return [root, str(info.st_dev), str(info.st_ino), str(os.getuid())]


def bound_here(fields: "list[str]", root: str) -> bool:
    """True when `fields` (as `binding_fields` wrote them) name `root` as it is now, and this user."""
    if len(fields) != FIELDS or fields[0] != root or fields[3] != str(os.getuid()):
        return False
    try:
        info = os.stat(root)
    except OSError:
        return False
    return fields[1] == str(info.st_dev) and fields[2] == str(info.st_ino)


def foreign_owner(info: os.stat_result) -> bool:
    """True when a file under `.devenv/` (its `fstat`) belongs to another user: never trusted
    and never rewritten, since that user's programs would then run with our values."""
    return info.st_uid != os.getuid()


def read_bound_json(root: str, name: str, schema: int) -> "dict[str, object] | None":
    """The JSON record `name` of `root`'s `.devenv/` (written with `"schema": schema` and
    `"binding": binding_fields(root)`), or None when it is absent, unreadable, reached through
    a link, another user's, of another schema or bound to another checkout."""
    import json

    from devenv.layout import state_dir, state_path

    if os.path.islink(state_dir(root)):
        return None
    try:
        descriptor = os.open(state_path(root, name), os.O_RDONLY | os.O_NOFOLLOW)
        with open(descriptor, encoding="utf-8") as handle:
            if foreign_owner(os.fstat(descriptor)):
                return None
            document = json.load(handle)
    except (OSError, ValueError, UnicodeError, RecursionError):
        return None
    if (
        isinstance(document, dict)
        and document.get("schema") == schema
        and isinstance(document.get("binding"), list)
        and bound_here([str(field) for field in document["binding"]], root)
    ):
        return document
    return None


def write_bound_json(
    root: str, name: str, schema: int, fields: "dict[str, object]", *, durable: bool = True
) -> None:
    """Write the JSON record `name` of `root`'s `.devenv/` that `read_bound_json` reads back:
    `fields` with its `schema` and this checkout's binding, atomically (`store.write_atomic`;
    `durable=False` for a memo whose loss in a power cut costs only time). Only for a command
    holding `.devenv/lock`."""
    import json

    from devenv.store import ensure_state_dir, write_atomic

    document = {"schema": schema, "binding": binding_fields(root), **fields}
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"
    write_atomic(os.path.join(ensure_state_dir(root), name), data.encode("ascii"), durable=durable)
