"""Writing `.devenv/`: env.json, the pre-rendered shell files and env.nul, all atomically.

Every file is written to a temporary file in the same folder and moved into place with
`os.replace`, so a reader never sees half a file (research CONC-01: 179,260 torn reads with
plain writes, 0 this way). Files are 0600 in a 0700 folder that ignores itself in git.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, TypedDict, cast

from devenv.errors import StaleError
from devenv.resolver import Resolution
from devenv.snapshot import FILENAME, encode_snapshot, state_dir

ENV_JSON = "env.json"
SCHEMA = 1

#: Pre-rendered files: sourcing them costs no Python start-up at all.
RENDERED = (("env.sh", "sh"), ("env.fish", "fish"), ("env.ps1", "powershell"), ("env.dotenv", "dotenv"))


class InputRecord(TypedDict):
    """One file the environment was resolved from; `sha256` is None when it was absent."""

    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None


class VariableRecord(TypedDict):
    value: str
    source: str
    overrode: list[str]


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


class EnvDocument(TypedDict):
    """The shape of `.devenv/env.json`."""

    schema: int
    root: str
    fingerprint: str
    python: PythonRecord
    variables: dict[str, VariableRecord]
    path_prefix: list[str]
    unset: list[str]
    secret: list[str]
    inherited: dict[str, str | None]
    inputs: list[InputRecord]


def ensure_state_dir(root: str) -> str:
    """Create `.devenv/` (0700, with a `.gitignore` of `*`) and return its path."""
    folder = state_dir(root)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    ignore = os.path.join(folder, ".gitignore")
    if not os.path.exists(ignore):
        write_atomic(ignore, b"# Written by devenv: nothing in .devenv/ belongs in git.\n*\n")
    return folder


def write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, never a mix."""
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def locked(root: str) -> Iterator[None]:
    """Hold `.devenv/lock` exclusively (flock: released even if this process is killed)."""
    import fcntl

    folder = ensure_state_dir(root)
    descriptor = os.open(os.path.join(folder, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def read_document(root: str) -> EnvDocument | None:
    """The current env.json, or None when there is none (or it is from another schema)."""
    try:
        with open(
            os.path.join(state_dir(root), ENV_JSON), encoding="utf-8", errors="surrogateescape"
        ) as handle:
            document: Any = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StaleError(
            f"{os.path.join(state_dir(root), ENV_JSON)}: unreadable ({exc}); run `devenv sync` to rewrite it"
        ) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        return None
    return cast(EnvDocument, document)


def write_state(
    root: str,
    resolution: Resolution,
    *,
    python: PythonRecord,
    inputs: Sequence[InputRecord],
    inherited: dict[str, str | None],
) -> EnvDocument:
    """Write every file under `.devenv/` for `resolution`; env.nul last, since its presence
    with fresh stamps is what tells readers the rest is current."""
    from devenv.renderers import render

    folder = ensure_state_dir(root)
    env = resolution.canonical()
    for filename, fmt in RENDERED:
        text = render(fmt, env)
        if fmt == "powershell":
            text = "\ufeff" + text  # Windows PowerShell reads a BOM-less file as Windows-1252
        write_atomic(os.path.join(folder, filename), text.encode("utf-8", "surrogateescape"))
    document: EnvDocument = {
        "schema": SCHEMA,
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
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    write_atomic(os.path.join(folder, ENV_JSON), text.encode("ascii"))
    stamps = [(record["path"], *_stamp(record)) for record in inputs]
    snapshot = encode_snapshot(env, stamps, sorted(inherited.items()))
    write_atomic(os.path.join(folder, FILENAME), snapshot.encode("utf-8", "surrogateescape"))
    return document


def _stamp(record: InputRecord) -> tuple[str, str]:
    if record["size"] is None:
        return ("-", "-")
    return (str(record["size"]), str(record["mtime_ns"]))


def input_record(path: str) -> InputRecord:
    """Size, mtime and sha256 of `path` (all None when it does not exist)."""
    import hashlib

    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return {"path": path, "size": None, "mtime_ns": None, "sha256": None}
    return {"path": path, "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
