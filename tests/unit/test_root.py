"""Finding the project (devenv/root.py): the nearest envspec.toml upward, like git's .git."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from devenv.errors import UsageError
from devenv.root import find_root, project_root


def test_the_nearest_folder_upward_with_envspec_toml_is_the_project(tmp_path: Path) -> None:
    (tmp_path / "envspec.toml").write_text("")
    (tmp_path / "inner" / "envspec.toml").parent.mkdir()
    (tmp_path / "inner" / "envspec.toml").write_text("")
    (tmp_path / "inner" / "src" / "pkg").mkdir(parents=True)
    assert find_root(str(tmp_path / "inner" / "src" / "pkg")) == str(tmp_path / "inner")
    assert find_root(str(tmp_path)) == str(tmp_path)


def test_an_envspec_toml_that_is_not_a_file_still_marks_the_project(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "envspec.toml")  # reading it then says what is wrong with it
    assert find_root(str(tmp_path)) == str(tmp_path)


def test_no_project_is_none_and_the_cli_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not tmp_path: nox points TMPDIR inside this checkout (.nox/SESSION/tmp), which is a
    # project. A folder directly under /tmp has no envspec.toml above it.
    outside = tempfile.mkdtemp(dir="/tmp", prefix="devenv-no-project-")
    try:
        assert find_root(outside) is None
        monkeypatch.chdir(outside)
        with pytest.raises(UsageError, match="run devenv inside a project or pass --root DIR"):
            project_root(None)
    finally:
        os.rmdir(outside)


def test_root_option_must_hold_envspec_toml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"--root {tmp_path}: no envspec.toml in {tmp_path}"):
        project_root(str(tmp_path))
    (tmp_path / "envspec.toml").write_text("")
    assert project_root(str(tmp_path)) == str(tmp_path)
