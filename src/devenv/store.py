"""Writing `.devenv/`: env.json, the pre-rendered shell files and env.nul, all atomically.

Every file is written to a temporary file in the same folder and moved into place with
`os.replace`, so a reader never sees half a file: with plain writes, a `print-env` racing a
`sync` can read a file the writer has truncated and not yet filled. Files are 0600 in a 0700
folder that ignores itself in git.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, NotRequired, TypedDict, cast

from devenv.environment import PROFILE_KEY, CanonicalEnv
from devenv.errors import StaleError, StateError
from devenv.layout import ENV_JSON, GITIGNORE, LOCK, RENDERED, SNAPSHOT, STATE_DIR, state_dir
from devenv.resolver import Resolution
from devenv.snapshot import ABSENT, RACY, encode_snapshot

SCHEMA = 1
#: Temporary files are named `.tmp-PID-...`: the pid tells the next writer whether it is orphaned.
TEMP_PREFIX = ".tmp-"


class InputRecord(TypedDict):
    """One file the environment was resolved from; `sha256` is None when it was absent."""

    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None


class PythonRecord(TypedDict):
    """What `devenv sync` set up: the interpreter, the venv, and what is installed in it."""

    base_interpreter: str
    interpreter: str
    version: str
    implementation: str
    requires: str
    venv: str
    packages: list[str]
    installed: list[str]
    inputs_sha256: str
    #: The committed lock installed ("" without one) and the sha256 of the lock installed.
    lock: str
    lock_sha256: str
    #: The files [python].packages reads (pyproject.toml, -r files, a local project's
    #: setup.cfg...) and the lock installed (or an absent pylock.toml), each [path, size,
    #: mtime_ns] as last seen with `package_parts` unchanged, and the sha256 of each part of
    #: them that can change what is installed (devenv/package_inputs.py). Absent in a record
    #: of a devenv from before they were kept.
    package_files: NotRequired[list[list[str]]]
    package_parts: NotRequired[dict[str, str]]


class VariableRecord(TypedDict):
    value: str
    source: str
    overrode: list[str]


class EnvDocument(TypedDict):
    """The shape of `.devenv/env.json`."""

    schema: int
    #: The checkout and user it was written for (devenv/binding.py).
    binding: NotRequired[dict[str, str | int]]
    root: str
    fingerprint: str
    python: PythonRecord
    variables: dict[str, VariableRecord]
    path_prefix: list[str]
    unset: list[str]
    secret: list[str]
    inherited: dict[str, str | None]
    inputs: list[InputRecord]
    #: The git index under which .devenv/ was last seen untracked (`refuse_tracked`).
    git_index: NotRequired[list[str]]


def ensure_state_dir(root: str) -> str:
    """Create `.devenv/` (0700, with a `.gitignore` of `*`) and return its path.

    A `.devenv` that is a symlink is refused: following it would chmod, write and (for a
    venv under it) wipe a folder devenv never made, possibly outside the project.
    """
    folder = state_dir(root)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateError(f"{folder}: cannot create it: {exc.strerror}; check permissions") from None
    try:
        # O_NOFOLLOW: a symlink swapped in after a check would still not be followed.
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise StateError(_unusable(folder, exc)) from None
    try:
        _refuse_foreign_owner(folder, os.fstat(descriptor))
        os.fchmod(descriptor, 0o700)
    except OSError as exc:
        raise StateError(f"{folder}: cannot make it private (0700): {exc.strerror}") from None
    finally:
        os.close(descriptor)
    ignore = os.path.join(folder, GITIGNORE)
    if os.path.islink(ignore):
        raise StateError(_unusable(ignore, OSError()))
    if not os.path.lexists(ignore):
        write_atomic(ignore, b"# Written by devenv: nothing in .devenv/ belongs in git.\n*\n")
    return folder


def _refuse_foreign_owner(path: str, info: os.stat_result) -> None:
    from devenv.binding import foreign_owner

    if foreign_owner(info):
        raise StateError(
            f"{path} belongs to another user (uid {info.st_uid}); devenv never uses or rewrites "
            "another user's state: run devenv as that user, or remove .devenv/ and run `devenv sync`"
        )


def refuse_tracked(root: str, *, untracked_at: list[str] | None = None) -> list[str] | None:
    """Refuse a `.devenv/` that git tracks: state committed to a repository was written for
    someone else's checkout (it could say "up to date" for values no `.env` may set).
    Costs one `git ls-files` on the slow path only; without git, or outside a repository,
    there is nothing to check.

    Returns the stamp of the git index (path, size, mtime, inode) taken before git was asked
    and found nothing tracked, which write_state records in env.json (`git_index`); given
    back as `untracked_at` while the index still has that stamp, git is not asked again:
    tracking a file means `git add`, which rewrites the index. None when there is nothing to
    stamp (no repository, or GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE set)."""
    if not _in_repository(root):
        return None  # nothing to ask git: the stats above are all a refresh outside git pays
    index = _git_index(root)
    stamp = _index_stamp(index) if index is not None else None
    if stamp is not None and stamp == untracked_at:
        return stamp
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(
            [git, "-C", root, "ls-files", "-z", "--", STATE_DIR],
            capture_output=True,
            timeout=10,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    tracked = [name for name in result.stdout.decode("utf-8", "replace").split("\0") if name]
    if result.returncode == 0 and tracked:
        raise StateError(
            f"{os.path.join(root, tracked[0])}: {len(tracked)} file(s) under .devenv/ are tracked by git; "
            "devenv's state belongs to one checkout and is never taken from a repository: run "
            "`git rm -r --cached .devenv` and commit, then `devenv sync`"
        )
    return stamp if result.returncode == 0 else None


def _in_repository(root: str) -> bool:
    """Whether git could see `root` as part of a repository: a `.git` in it or a folder
    above, or GIT_DIR / GIT_WORK_TREE set (git's own discovery stops at the same `.git`)."""
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return True
    return _git_entry(root) is not None


def _git_entry(root: str) -> str | None:
    """The nearest `.git` (folder, or a worktree's file) in `root` or a folder above."""
    folder = os.path.abspath(root)
    while True:
        entry = os.path.join(folder, ".git")
        if os.path.lexists(entry):
            return entry
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _git_index(root: str) -> str | None:
    """The index file git reads for `root` (None when the environment may point git at
    another one, or the `.git` entry is not one devenv reads)."""
    if any(key in os.environ for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")):
        return None
    entry = _git_entry(root)
    if entry is None or os.path.islink(entry):
        return None
    if os.path.isdir(entry):
        return os.path.join(entry, "index")
    try:
        with open(entry, encoding="utf-8") as handle:  # a worktree: "gitdir: PATH"
            line = handle.readline().strip()
    except (OSError, UnicodeError):
        return None
    if not line.startswith("gitdir: "):
        return None
    return os.path.join(os.path.dirname(entry), line[len("gitdir: ") :], "index")


def _index_stamp(index: str) -> list[str] | None:
    try:
        info = os.stat(index)
    except OSError:
        return None
    return [index, str(info.st_size), str(info.st_mtime_ns), str(info.st_ino)]


def _unusable(folder: str, exc: OSError) -> str:
    import errno

    if os.path.islink(folder):
        return (
            f"{folder} is a symlink (to {os.readlink(folder)}); devenv keeps its state only in real "
            "files and folders of the project; remove the link and run `devenv sync`"
        )
    if exc.errno == errno.ENOTDIR:
        return f"{folder} is not a folder; move it away and run `devenv sync`"
    return f"{folder}: cannot open it: {exc.strerror}; check its permissions"


def write_atomic(path: str, data: bytes, *, mtime_ns: int | None = None, durable: bool = True) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a mix.

    The temporary file is 0600 and carries the writer's pid in its name, so the next writer
    can remove it if this one is killed before the rename (it may hold secrets).
    `mtime_ns` sets the new file's modification time before it appears. `durable=False`
    skips the fsync, for a file whose loss or damage in a power cut costs only time (a
    memo that checks itself, such as dotenv.nul).
    """
    folder = os.path.dirname(path)
    check_no_links(folder)
    if os.path.islink(path):
        raise StateError(
            f"{path} is a symlink; devenv does not write through links; remove it and run `devenv sync`"
        )
    try:
        handle, temporary = _temporary_file(folder, os.path.basename(path))
    except OSError as exc:
        raise StateError(f"{folder}: cannot write there: {exc.strerror}; check its permissions") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        if mtime_ns is not None:
            os.utime(temporary, ns=(mtime_ns, mtime_ns))
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise StateError(f"{path}: cannot write it: {error.strerror}") from None
        raise


def _temporary_file(folder: str, name: str) -> tuple[int, str]:
    """A new 0600 file `.tmp-PID-RANDOM-NAME` in `folder`, as `tempfile.mkstemp` makes one
    (O_EXCL, never through a link), without importing tempfile (and with it random, shutil
    and the compression modules) on the refresh path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        temporary = os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}-{name}")
        try:
            return os.open(temporary, flags, 0o600), temporary
        except FileExistsError:
            continue


def remove_orphaned_temporaries(folder: str) -> list[str]:
    """Delete temporary files and folders whose writer is gone (killed mid-write); return
    their names. One named with a pid is orphaned when that process is gone; one named
    without (`.tmp-lock-*`, `.tmp-local-*`: made by `devenv lock` and `sync`, which hold
    `.devenv/lock` for their whole run) when the caller holds the lock, as every caller does.
    Nothing is followed: a link is removed itself, a folder is removed with its contents."""
    import stat

    removed = []
    descriptor = open_folder(folder)
    try:
        for name in os.listdir(descriptor):
            if not name.startswith(TEMP_PREFIX):
                continue
            writer = name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if writer.isdigit() and _alive(int(writer)):
                continue
            try:
                info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    import shutil  # only for a leftover folder: every refresh comes here

                    shutil.rmtree(name, dir_fd=descriptor)
                else:
                    os.unlink(name, dir_fd=descriptor)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StateError(
                    f"{os.path.join(folder, name)}: a leftover of a killed devenv that cannot be removed "
                    f"({exc.strerror}); remove it by hand"
                ) from None
            removed.append(name)
    finally:
        os.close(descriptor)
    return removed


def open_folder(folder: str) -> int:
    """A descriptor of `folder` opened without following a link (`.devenv/` or a folder in
    it); a link or a file there is a StateError naming it."""
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise StateError(_unusable(folder, exc)) from None


def state_folder(root: str, name: str) -> str:
    """`.devenv/NAME` (logs, runs, services), created 0700 when absent and never a link:
    with `.devenv/runs -> ..` a stop would delete the project's *.json files as unreadable
    records, and with `services -> ..` a service's record would overwrite the project's."""
    folder = os.path.join(ensure_state_dir(root), name)
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    descriptor = open_folder(folder)
    try:
        os.fchmod(descriptor, 0o700)
    finally:
        os.close(descriptor)
    return folder


def check_no_links(path: str) -> None:
    """Refuse `path` when it, or a folder between `.devenv/` and it, is a symbolic link:
    devenv writes, chmods and deletes only inside `.devenv/` itself, and a link there
    (`.devenv/runs -> ..`) would lead those operations out of it."""
    parts = os.path.normpath(path).split(os.sep)
    if STATE_DIR not in parts:
        return
    start = len(parts) - 1 - parts[::-1].index(STATE_DIR)
    for end in range(start + 1, len(parts) + 1):
        current = os.sep.join(parts[:end]) or os.sep
        if os.path.islink(current):
            raise StateError(_unusable(current, OSError()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(root: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold `.devenv/lock` exclusively (flock: released even if this process is killed).

    With `wait=False`, yields False at once instead of waiting when another process holds it.
    """
    import fcntl

    folder = ensure_state_dir(root)
    try:
        descriptor = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise StateError(_unusable(os.path.join(folder, LOCK), exc)) from None
    try:
        os.fchmod(descriptor, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def read_document(root: str, *, repairing: bool = False, variables: bool = True) -> EnvDocument | None:
    """The current env.json, or None when there is none (or it is from another schema).

    A damaged file (truncated, or not the shape devenv writes) is an error telling the user
    to run `devenv sync`; `repairing=True` (sync itself) treats it as absent instead.
    `variables=False` (a refresh, which rewrites them) leaves `variables` empty and does
    not decode them: at 10 000 keys they are 99% of the file and ~8 ms to decode.
    """
    folder = state_dir(root)
    path = os.path.join(folder, ENV_JSON)
    if os.path.islink(folder):
        raise StateError(_unusable(folder, OSError()))
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with open(descriptor, encoding="utf-8", errors="surrogateescape") as handle:
            _refuse_foreign_owner(path, os.fstat(descriptor))
            document: Any = json.load(handle) if variables else _without_variables(handle.read())
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise StateError(_unusable(path, exc)) from None
        if repairing:
            return None
        raise StaleError(f"{path}: unreadable ({exc.strerror}); run `devenv sync` to rewrite it") from None
    except (ValueError, UnicodeError, RecursionError) as exc:
        if repairing:
            return None
        raise StaleError(f"{path}: not valid JSON ({exc!r:.80}); run `devenv sync` to rewrite it") from None
    if isinstance(document, dict) and "schema" in document and document["schema"] != SCHEMA:
        return None
    if not _has_shape(document):
        if repairing:
            return None
        raise StaleError(f"{path}: not the shape devenv writes (damaged?); run `devenv sync` to rewrite it")
    if not _bound(document, root):
        if repairing:
            return None
        raise StaleError(
            f"{path}: written for another checkout ({document['root']}: a copy, a move, or a "
            "committed .devenv/) or another user; run `devenv sync` to resolve this one afresh"
        )
    return cast(EnvDocument, document)


#: Where the variables begin in an env.json that `write_state` wrote: keys sorted, one item
#: a line, so "variables" is the last key and this is the first line to name it (no value
#: before it is a dict under a key of that name: `inherited` maps keys to strings).
_VARIABLES = ',\n"variables": {'


def _without_variables(text: str) -> Any:
    """The document in `text` with an empty `variables`, decoding only what comes before
    them; the whole document when it is not laid out as `write_state` writes it."""
    start = text.find(_VARIABLES)
    if start >= 0 and text.endswith("}}\n"):
        head = json.loads(text[:start] + "}")
        if isinstance(head, dict) and "variables" not in head:
            head["variables"] = {}
            return head
    return json.loads(text)


def _bound(document: Any, root: str) -> bool:
    """Whether env.json was written for this checkout (a document from before bindings were
    recorded has only its root path, which refresh also compares)."""
    binding = document.get("binding")
    if binding is None:
        return True
    from devenv.binding import bound_here

    fields = (
        [binding.get(key) for key in ("root", "device", "inode", "uid")] if isinstance(binding, dict) else []
    )
    return bound_here([str(value) for value in fields], root)


def _field_types(record: Any) -> dict[str, tuple[type, ...]]:
    """The types each required key of the TypedDict `record` may hold, read from its
    annotations (strings: `from __future__ import annotations`), so the check of a read
    document cannot fall behind the record: a nested record is a dict."""
    kinds: dict[str, type] = {
        "str": str,
        "int": int,
        "bool": bool,
        "list": list,
        "dict": dict,
        "None": type(None),
    }
    fields = {}
    for key, annotation in record.__annotations__.items():
        text = str(getattr(annotation, "__forward_arg__", annotation))  # TypedDict keeps ForwardRefs
        if text.startswith("NotRequired["):
            continue
        outer = text.split("[", 1)[0]
        fields[key] = tuple(kinds.get(name.strip(), dict) for name in outer.split("|"))
    return fields


_DOCUMENT_FIELDS = _field_types(EnvDocument)
_PYTHON_FIELDS = _field_types(PythonRecord)


def _has_shape(document: Any) -> bool:
    """True when `document` has every field devenv reads, with the right types."""

    def fits(value: Any, fields: dict[str, tuple[type, ...]]) -> bool:
        return isinstance(value, dict) and all(isinstance(value.get(k), t) for k, t in fields.items())

    if not fits(document, _DOCUMENT_FIELDS) or not fits(document["python"], _PYTHON_FIELDS):
        return False
    inputs_ok = all(isinstance(i, dict) and isinstance(i.get("path"), str) for i in document["inputs"])
    variables_ok = all(
        isinstance(v, dict) and isinstance(v.get("value"), str) and isinstance(v.get("source"), str)
        for v in document["variables"].values()
    )
    return inputs_ok and variables_ok


def write_state(
    root: str,
    resolution: Resolution,
    *,
    python: PythonRecord,
    inputs: Sequence[InputRecord],
    inherited: dict[str, str | None],
    racy: bool = False,
    git_index: list[str] | None = None,
    env: CanonicalEnv | None = None,
) -> EnvDocument:
    """Write every file under `.devenv/` for `resolution`; env.nul last, since its presence
    with fresh stamps is what tells readers the rest is current. `git_index`: what
    `refuse_tracked` returned (recorded so that the next refresh need not ask git again).
    `env`: `resolution.canonical()` when the caller has it already.

    `inputs` must describe exactly the bytes `resolution` came from. `racy` means an input
    changed so recently that a further change could keep its size and mtime: the stamps are
    then written so that every reader (and every sourced env.sh) re-reads the inputs.
    """
    from devenv.renderers import lookup, render
    from devenv.renderers.refresh import with_refresh

    folder = ensure_state_dir(root)
    remove_orphaned_temporaries(folder)
    env = resolution.canonical() if env is None else env
    # The shell files carry the newest input mtime, so `[ .env -nt env.sh ]` means "changed
    # since the bytes these values came from", whatever order concurrent writers finish in.
    newest = max((r["mtime_ns"] for r in inputs if r["mtime_ns"] is not None), default=None)
    shell_mtime = None if newest is None else newest - (1 if racy else 0)
    command = devenv_command()
    for filename, fmt in RENDERED:
        target = os.path.join(folder, filename)
        text = with_refresh(  # a shell's file gets its staleness guard
            fmt,
            render(fmt, env, leave_out=True),
            own_path=target,
            inputs=inputs,
            root=root,
            devenv=command,
            profile=env.variables.get(PROFILE_KEY, ""),
        )
        if lookup(fmt).bom:
            text = "\ufeff" + text
        write_atomic(target, text.encode("utf-8", "surrogateescape"), mtime_ns=shell_mtime)
    from devenv.binding import binding_fields

    bound = binding_fields(root)
    document: EnvDocument = {
        "schema": SCHEMA,
        "binding": {"root": bound[0], "device": int(bound[1]), "inode": int(bound[2]), "uid": int(bound[3])},
        "root": root,
        "fingerprint": resolution.fingerprint,
        "python": python,
        "variables": {
            v.key: {"value": v.value, "source": v.source, "overrode": list(v.overrode)}
            for v in resolution.variables
        },
        "path_prefix": list(resolution.path_prefix),
        "unset": list(resolution.unset),
        "secret": list(resolution.secret),
        "inherited": dict(sorted(inherited.items())),
        "inputs": list(inputs),
    }
    if git_index is not None:
        document["git_index"] = git_index
    # One item a line, without indentation: `indent=` would force json's pure-Python encoder
    # (about 5x slower at 10 000 variables); these separators keep the C one. The document
    # is plain data made here, never a cycle: check_circular's bookkeeping of its 20 000
    # containers is a third of the encoding.
    text = (
        json.dumps(
            document, sort_keys=True, ensure_ascii=True, separators=(",\n", ": "), check_circular=False
        )
        + "\n"
    )
    write_atomic(os.path.join(folder, ENV_JSON), text.encode("ascii"))
    stamps = [(record["path"], *_stamp(record, racy=racy)) for record in inputs]
    snapshot = encode_snapshot(env, stamps, sorted(inherited.items()))
    write_atomic(os.path.join(folder, SNAPSHOT), snapshot.encode("utf-8", "surrogateescape"))
    return document


def devenv_command() -> str:
    """The absolute path of the running `devenv` script (what a stale env.sh calls), or ""."""
    import sys

    for candidate in (sys.argv[0], os.path.join(os.path.dirname(sys.executable), "devenv")):
        named = os.path.isabs(candidate) and os.path.basename(candidate) == "devenv"
        if named and os.access(candidate, os.X_OK):
            return candidate
    return ""


def _stamp(record: InputRecord, *, racy: bool) -> tuple[str, str]:
    if record["size"] is None:
        return (ABSENT, ABSENT)
    if racy and record["sha256"] is not None:
        return (RACY, RACY)
    return (str(record["size"]), str(record["mtime_ns"]))


def input_record(path: str) -> InputRecord:
    """Size, mtime and sha256 of `path` (all None when it does not exist)."""
    from devenv.digest import sha256

    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            digest = sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return {"path": path, "size": None, "mtime_ns": None, "sha256": None}
    return {"path": path, "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
