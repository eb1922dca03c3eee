"""The files `[python].packages` reads, as inputs of the venv the last sync made.

`-r pyproject.toml[...]`, `--group`, `-e .`, `-r requirements.txt`, a local project's
setup.cfg and the files its `[tool.setuptools.dynamic]` names decide what is installed as
much as the `[python]` table does. So a change to what they declare is a changed `[python]`:
every launch stops with "run `devenv sync`" (`project.refresh`), and doctor fails its
packages line.

Only the parts that can change what is installed count (`requirements.inputs_digest`: a
`[project].dependencies`, a group, a build's tables, a requirements file; an edit of
`[tool.ruff]` does not). Telling them apart means parsing TOML, so it happens only when a
file's size or mtime moved. The sync records each file's stat next to the digest of its
parts, and a check that finds the parts unchanged returns the record with the new stats for
the caller to write, so the next launch is back to one `stat` per file: env.nul lists these
files among its inputs (docs/architecture.md, "Freshness").

The lock the sync installed from (pylock.toml or pylock.NAME.toml, devenv's or another
tool's) is one more such file, whose one part is its sha256 as the sync read it (env.json's
`lock_sha256`): a `git pull` that brings a new lock stops every launch too. Without a
committed lock, pylock.toml is watched as absent, so the one `devenv lock` or a pull adds is
not silently ignored while the venv holds what the private lock resolved.

This module imports only `os` and the snapshot's stat helpers: `project.refresh` calls it on
every refresh, and a `.env` edit must not import `devenv.requirements`, which happens only
when one of these files' stat moved.
"""

import os

from devenv.snapshot import ABSENT, RACY, stat_fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.spec import Spec
    from devenv.store import PythonRecord

#: What changed, for a record written before syncs recorded these files: what the venv was
#: installed from is unknown, so it is not fresh.
UNRECORDED = "unrecorded"


def recorded_paths(python: "PythonRecord | None") -> list[str]:
    """The files the last sync recorded (none before a sync, or for an older record)."""
    if python is None:
        return []
    return [entry[0] for entry in python.get("package_files", [])]


#: The part of a lock file: `lock: NAME` (relative to the root) -> its sha256, or LOCK_ABSENT.
LOCK_PART = "lock: "
LOCK_ABSENT = "absent"

#: The files [python].packages reads ([path, size, mtime_ns] each), the digest of each part
#: of them that can change what is installed, and whether pylock.toml was absent before the
#: sync chose a lock (`watch`).
Watched = tuple[list[list[str]], dict[str, str], bool]


def recording(python: "PythonRecord", watched: Watched, root: str) -> "PythonRecord":
    """`python` (what a sync installed) with what `watch` saw before the sync read the files,
    and the lock: the committed one `python` names, with the sha256 of the bytes installed,
    or, without one, pylock.toml if it was absent. The lock is stat-ed now, then read: its
    stat is kept only when its bytes are still those installed (a lock the sync wrote itself
    included), else it is racy, so the next check hashes it and finds the change."""
    from devenv.lock import LOCK_NAME

    files, parts, lock_absent = watched
    record = python.copy()
    name = python["lock"] or LOCK_NAME
    if python["lock"] or lock_absent:
        installed = python["lock_sha256"] if python["lock"] else LOCK_ABSENT
        entry, now = _lock_part(os.path.join(root, name))
        files = [*files, entry if now == installed else [entry[0], RACY, RACY]]
        parts = {**parts, LOCK_PART + name: installed}
    record["package_files"] = files
    record["package_parts"] = parts
    return record


def moved_since(python: "PythonRecord", stamps: "list[tuple[str, str, str]]") -> bool:
    """True when one of `stamps` ((path, size, mtime_ns), as env.nul is about to record them)
    is a file `python` records with another stat, or as racy: it was edited after the sync
    read it (while the installer ran), so env.nul must not call it fresh."""
    recorded = {path: (size, mtime) for path, size, mtime in python.get("package_files", [])}
    return any(
        path in recorded and (recorded[path] != (size, mtime) or recorded[path][0] == RACY)
        for path, size, mtime in stamps
    )


def changed_parts(spec: "Spec", python: "PythonRecord") -> "tuple[list[str], PythonRecord]":
    """What changed in the files `python` records since the last sync, by file and part
    (`pyproject.toml [project].dependencies`, `requirements.txt`), and the record to keep:
    `python` itself, or, when a file's stat moved but none of its parts did, `python` with the
    new stats (the caller writes it, so the next check is a `stat` again)."""
    recorded = python.get("package_parts")
    if recorded is None:
        return ([UNRECORDED] if spec.python.packages else []), python
    files = python.get("package_files", [])
    if all(stat_fields(path) == (size, mtime) and size != RACY for path, size, mtime in files):
        return [], python
    current_files, current = _watch_packages(spec)
    for key in recorded:
        if key.startswith(LOCK_PART):
            entry, current[key] = _lock_part(os.path.join(spec.root, key.removeprefix(LOCK_PART)))
            current_files.append(entry)
    changes = []
    for key in sorted(set(recorded) | set(current)):
        name = key.removeprefix("file: ").removeprefix(LOCK_PART)
        if recorded.get(key) == current.get(key):
            continue
        if key not in recorded or recorded[key] == LOCK_ABSENT:
            changes.append(f"{name} (added)")
        elif key not in current or current[key] == LOCK_ABSENT:
            changes.append(f"{name} (removed)")
        else:
            changes.append(name)
    if changes:
        return changes, python
    record = python.copy()
    record["package_files"] = current_files
    return [], record


def watch(spec: "Spec") -> Watched:
    """Each file `spec`'s packages read, with its stat taken before its bytes are read (an
    edit made meanwhile then moves the stat, and is looked at again), the digest of the
    parts of them that can change what is installed, and whether the project has no
    pylock.toml. A sync calls it before it reads any of them, so an edit made while it runs
    is never recorded as installed."""
    from devenv.lock import LOCK_NAME

    absent = stat_fields(os.path.join(spec.root, LOCK_NAME))[0] == ABSENT
    return (*_watch_packages(spec), absent)


def _entry(path: str) -> list[str]:
    """[path, size, mtime_ns], or RACY for both when modified within the clock's tick (a
    second write could keep this size and mtime)."""
    import time

    from devenv.project import RACY_NS

    size, mtime = stat_fields(path)
    racy = mtime.isdigit() and time.time_ns() - int(mtime) < RACY_NS
    return [path, RACY, RACY] if racy else [path, size, mtime]


def _lock_part(path: str) -> tuple[list[str], str]:
    """The lock at `path`: its stat, taken first, and its sha256 (LOCK_ABSENT without one)."""
    from devenv import digest
    from devenv.errors import LockError
    from devenv.project import read_input

    entry = _entry(path)
    data = read_input(path, path, LockError, fix="put the lock file back")
    return entry, LOCK_ABSENT if data is None else digest.sha256(data).hexdigest()


def _watch_packages(spec: "Spec") -> tuple[list[list[str]], dict[str, str]]:
    """`watch` of the files the package lines read (the locks left out)."""
    from devenv.requirements import inputs_digest, metadata_files, parse_packages

    lines = parse_packages(spec)
    files = [_entry(path) for path in dict.fromkeys(metadata_files(spec, lines))]
    # The lines themselves and [python].requires are the [python] table's, compared as such.
    parts = {
        key: value
        for key, value in inputs_digest(spec, lines).items()
        if key != "requires" and not key.startswith("line: ")
    }
    return files, parts


def stale_detail(changes: list[str]) -> str:
    """What `changed_parts` found, in words (doctor's detail; a launch adds the fix)."""
    if changes == [UNRECORDED]:
        return (
            "the last `devenv sync` was made by an older devenv, which did not record the files "
            "[python].packages reads"
        )
    return f"{', '.join(changes)} changed since the last `devenv sync`"
