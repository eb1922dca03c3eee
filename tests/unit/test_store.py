"""Writing and reading `.devenv/` (devenv/store.py): atomic 0600 files, and an env.json that
is not the shape devenv writes is refused with the fix, never half-used."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devenv.errors import StaleError, StateError
from devenv.store import read_document, write_atomic
from tests.support.projects import Project


def test_write_atomic_replaces_a_file_with_a_private_one_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "env.json"
    target.write_text("old")
    target.chmod(0o644)
    write_atomic(str(target), b"new", mtime_ns=1_000_000_000)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_mtime_ns == 1_000_000_000
    assert os.listdir(tmp_path) == ["env.json"]


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda document: document["python"].pop("lock"), "not the shape devenv writes"),
        (lambda document: document["python"].update(lock_sha256=7), "not the shape devenv writes"),
        (lambda document: document.pop("variables"), "not the shape devenv writes"),
        (lambda document: document["binding"].update(inode=1), "written for another checkout"),
    ],
    ids=["python-without-lock", "lock-sha256-not-a-string", "no-variables", "another-checkout"],
)
def test_a_damaged_env_json_asks_for_a_sync_and_sync_repairs_it(
    project: Project, damage: Callable[[dict[str, Any]], object], says: str
) -> None:
    project.sync()
    path = project.root / ".devenv" / "env.json"
    document = json.loads(path.read_text())
    damage(document)
    path.write_text(json.dumps(document))
    with pytest.raises(StaleError, match=f"{says}.*run `devenv sync`"):
        read_document(str(project.root))
    assert read_document(str(project.root), repairing=True) is None
    project.sync()
    assert read_document(str(project.root)) is not None


def test_a_linked_state_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".devenv").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StateError):
        read_document(str(tmp_path))


def test_a_document_read_without_its_variables_is_the_rest_of_it(project: Project) -> None:
    project.write(".env", "".join(f"KEY_{n}=value-{n}\n" for n in range(100)) + "variables=x\n")
    project.sync()
    whole = read_document(str(project.root))
    assert whole is not None and len(whole["variables"]) > 100
    head = read_document(str(project.root), variables=False)
    assert head == {**whole, "variables": {}}
    # Laid out otherwise (another writer): decoded whole, as read_document always did.
    path = project.root / ".devenv" / "env.json"
    path.write_text(json.dumps(whole, indent=2))
    assert read_document(str(project.root), variables=False) == whole
    # Damaged before the variables: the same error as a whole read.
    path.write_text(json.dumps({**whole, "python": 3}, sort_keys=True, separators=(",\n", ": ")) + "\n")
    with pytest.raises(StaleError, match="not the shape devenv writes"):
        read_document(str(project.root), variables=False)
