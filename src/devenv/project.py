"""A project on disk: read its inputs, resolve them, keep `.devenv/` fresh, run `sync`.

This is the slow path. `print-env` and `run` only come here when `snapshot.py` finds an
input changed; then the variables are re-resolved automatically (like direnv reloading),
while a change to [python] needs an explicit `devenv sync`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from devenv.dotenvfile import read_dotenv
from devenv.errors import DotenvError, SpecError, StaleError
from devenv.resolver import DEFAULT_INSTANCE, DotenvSource, Resolution, pythonpath_entries, resolve
from devenv.root import SPEC_FILENAME
from devenv.snapshot import Snapshot, read_snapshot
from devenv.spec import Spec, load_spec
from devenv.store import (
    EnvDocument,
    InputRecord,
    PythonRecord,
    input_record,
    locked,
    read_document,
    write_state,
)
from devenv.venv import sync_venv, venv_python


def dotenv_sources(spec: Spec) -> list[DotenvSource]:
    """Parse every [dotenv].files entry; a missing file is an error unless it is optional."""
    sources = []
    for name in spec.dotenv.files:
        path = os.path.join(spec.root, name)
        if not os.path.exists(path):
            if name in spec.dotenv.optional:
                sources.append(DotenvSource(name=name, entries=None))
                continue
            raise DotenvError(
                f"{name}: not found (listed in {SPEC_FILENAME} [dotenv].files); create it, "
                "or add it to [dotenv].optional if it may be absent"
            )
        sources.append(DotenvSource(name=name, entries=read_dotenv(path, name=name)))
    return sources


def check_pythonpath(spec: Spec) -> None:
    """Every [paths].pythonpath entry must be an existing folder."""
    for entry, absolute in zip(spec.pythonpath, pythonpath_entries(spec), strict=False):
        if not os.path.isdir(absolute):
            raise SpecError(
                f"{spec.path}: [paths].pythonpath entry {entry!r} is not a folder ({absolute}); "
                "create it or remove it from the list"
            )


def input_paths(spec: Spec) -> list[str]:
    """Files whose change means the environment must be resolved again."""
    dotenv = [os.path.join(spec.root, name) for name in spec.dotenv.files]
    return [spec.path, *dotenv, venv_python(spec)]


def resolve_project(
    spec: Spec,
    outer: Mapping[str, str],
    overrides: Sequence[tuple[str, str]] = (),
    *,
    instance: str = DEFAULT_INSTANCE,
) -> Resolution:
    """Resolve `spec` with its dotenv files against `outer` (read only for [env].inherit)."""
    check_pythonpath(spec)
    return resolve(spec, dotenv=dotenv_sources(spec), outer=outer, overrides=overrides, instance=instance)


def _inherited(spec: Spec, outer: Mapping[str, str]) -> dict[str, str | None]:
    return {key: outer.get(key) for key in spec.env.inherit}


def _write(spec: Spec, resolution: Resolution, python: PythonRecord, outer: Mapping[str, str]) -> EnvDocument:
    inputs = [input_record(path) for path in input_paths(spec)]
    return write_state(spec.root, resolution, python=python, inputs=inputs, inherited=_inherited(spec, outer))


def _changed_inputs(document: EnvDocument) -> list[InputRecord]:
    # Hashing only runs here, after a stat mismatch (DESIGN §5): a `touch` is not a change.
    changed = []
    for recorded in document["inputs"]:
        current = input_record(recorded["path"])
        if current["sha256"] != recorded["sha256"]:
            changed.append(recorded)
    return changed


def refresh(root: str, outer: Mapping[str, str], *, frozen: bool = False) -> Snapshot:
    """Make `.devenv/` current for `outer` and return the fresh snapshot."""
    with locked(root):
        snapshot = read_snapshot(root)
        if snapshot is not None and snapshot.is_fresh(outer):
            return snapshot  # another process refreshed it while we waited for the lock
        document = read_document(root)
        if document is None:
            raise StaleError(f"{root}: no .devenv/ environment yet; run `devenv sync` first")
        spec = load_spec(root)
        python = document["python"]
        if os.path.normpath(document["root"]) != os.path.normpath(root):
            raise StaleError(
                f"{root}: .devenv/ was made for {document['root']} (the project moved); run `devenv sync`"
            )
        _check_python_unchanged(spec, python)
        changed = _changed_inputs(document)
        inherited_changed = [
            key for key, value in _inherited(spec, outer).items() if document["inherited"].get(key) != value
        ]
        if frozen and (changed or inherited_changed or set(document["inherited"]) != set(spec.env.inherit)):
            what = [os.path.relpath(r["path"], root) for r in changed] + [
                f"outer {key}" for key in inherited_changed
            ]
            raise StaleError(
                f"--frozen: .devenv/ is out of date ({', '.join(what) or 'inputs changed'} changed); "
                "run `devenv sync` and commit nothing else"
            )
        resolution = resolve_project(spec, outer)
        _write(spec, resolution, python, outer)
    fresh = read_snapshot(root)
    if fresh is None:
        raise StaleError(f"{root}: .devenv/env.nul could not be read back; run `devenv sync`")
    return fresh


def _check_python_unchanged(spec: Spec, python: PythonRecord) -> None:
    if not os.path.exists(venv_python(spec)):
        raise StaleError(f"{venv_python(spec)}: the venv is missing; run `devenv sync` to create it")
    if (
        python["requires"] != spec.python.requires
        or python["packages"] != list(spec.python.packages)
        or python["interpreter"] != venv_python(spec)
    ):
        raise StaleError(f"{spec.path}: [python] changed since the last `devenv sync`; run `devenv sync`")


def current(root: str, outer: Mapping[str, str], *, frozen: bool = False) -> Snapshot:
    """The fresh snapshot of `root`: read it, and refresh it only when an input changed."""
    snapshot = read_snapshot(root)
    if snapshot is not None and snapshot.is_fresh(outer):
        return snapshot
    return refresh(root, outer, frozen=frozen)


def sync(
    root: str, outer: Mapping[str, str], *, frozen: bool, progress: Callable[[str], None]
) -> tuple[EnvDocument, bool]:
    """`devenv sync`: venv, packages, resolution, `.devenv/`; returns (document, installed?)."""
    spec = load_spec(root)
    # Resolve first: a typo in .env should fail in a second, not after a venv is built.
    resolution = resolve_project(spec, outer)
    with locked(root):
        previous = read_document(root)
        record, installed = sync_venv(
            spec, previous["python"] if previous else None, frozen=frozen, progress=progress
        )
        if frozen and previous is not None and previous["fingerprint"] != resolution.fingerprint:
            raise StaleError(
                "--frozen: the resolved variables differ from .devenv/env.json; run `devenv sync`"
            )
        document = _write(spec, resolution, record, outer)
    return document, installed
