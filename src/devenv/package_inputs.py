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

This module imports only the snapshot's stat helpers: `project.refresh` calls it on
every refresh, and a `.env` edit must not import `devenv.requirements`, which happens only
when one of these files' stat moved.
"""

from devenv.snapshot import RACY, stat_fields

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


#: The files [python].packages reads ([path, size, mtime_ns] each) and the digest of each
#: part of them that can change what is installed (`watch`).
Watched = tuple[list[list[str]], dict[str, str]]


def recording(python: "PythonRecord", watched: Watched) -> "PythonRecord":
    """`python` (what a sync installed) with what `watch` saw before the sync read the files."""
    files, parts = watched
    record = python.copy()
    record["package_files"] = files
    record["package_parts"] = parts
    return record


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
    current_files, current = watch(spec)
    changes = []
    for key in sorted(set(recorded) | set(current)):
        name = key.removeprefix("file: ")
        if key not in recorded:
            changes.append(f"{name} (added)")
        elif key not in current:
            changes.append(f"{name} (removed)")
        elif recorded[key] != current[key]:
            changes.append(name)
    if changes:
        return changes, python
    record = python.copy()
    record["package_files"] = current_files
    return [], record


def watch(spec: "Spec") -> Watched:
    """Each file `spec`'s packages read, with its stat taken before its bytes are read (an
    edit made meanwhile then moves the stat, and is looked at again), and the digest of the
    parts of them that can change what is installed. A sync calls it before the installer
    reads them, so an edit made while it runs is never recorded as installed."""
    import time

    from devenv.project import RACY_NS
    from devenv.requirements import inputs_digest, metadata_files, parse_packages

    lines = parse_packages(spec)
    files = []
    now = time.time_ns()
    for path in dict.fromkeys(metadata_files(spec, lines)):
        size, mtime = stat_fields(path)
        # Modified within the clock's tick: a second write could keep this size and mtime.
        racy = mtime.isdigit() and now - int(mtime) < RACY_NS
        files.append([path, RACY, RACY] if racy else [path, size, mtime])
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
