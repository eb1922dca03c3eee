"""Which checkout a record belongs to (devenv/binding.py): a copy or a move is another one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devenv.binding import binding_fields, bound_here


def test_a_record_is_bound_to_the_folder_it_was_written_for(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    fields = binding_fields(str(root))
    assert bound_here(fields, str(root))


def test_a_copy_at_the_same_path_is_not_the_same_checkout(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    fields = binding_fields(str(root))
    shutil.copytree(root, tmp_path / "copy", copy_function=shutil.copy2)
    os.rename(root, tmp_path / "old")
    os.rename(tmp_path / "copy", root)  # same path text, another inode: what `cp -a` leaves
    assert not bound_here(fields, str(root))


def test_another_path_another_user_or_a_damaged_record_is_not_bound(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    path, device, inode, uid = binding_fields(str(root))
    assert not bound_here([str(tmp_path), device, inode, uid], str(root))
    assert not bound_here([path, device, inode, str(int(uid) + 1)], str(root))
    assert not bound_here([path, device], str(root))
    assert not bound_here([path, device, inode, uid], str(tmp_path / "gone"))
