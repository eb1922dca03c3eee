"""The one rule that turns a command word into an executable (run, up, services, fixture)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.commands import find_command
from devenv.errors import CommandNotFoundError


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_python_is_the_venv_interpreter_whatever_path_says(tmp_path: Path) -> None:
    venv_python = executable(tmp_path / "venv" / "bin" / "python")
    other = executable(tmp_path / "elsewhere" / "python")
    found = find_command("python", path=str(other.parent), root=str(tmp_path), venv=str(tmp_path / "venv"))
    assert found == str(venv_python)


def test_a_relative_path_is_taken_from_the_root_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = executable(tmp_path / "scripts" / "start")
    executable(tmp_path / "sub" / "scripts" / "start")  # a decoy next to the working directory
    monkeypatch.chdir(tmp_path / "sub")
    assert find_command("scripts/start", path="", root=str(tmp_path)) == str(script)


def test_a_bare_name_is_looked_up_on_the_given_path_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = executable(tmp_path / "bin" / "tool")
    executable(tmp_path / "cwd" / "tool")
    monkeypatch.chdir(tmp_path / "cwd")
    # An empty PATH entry means "the current folder" to a shell; never here.
    assert find_command("tool", path=os.pathsep + str(tmp_path / "bin"), root="/") == str(tool)
    with pytest.raises(CommandNotFoundError, match="command not found: tool"):
        find_command("tool", path=os.pathsep, root="/")


def test_a_file_that_is_not_executable_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "plain").write_text("echo\n")
    with pytest.raises(CommandNotFoundError, match="relative paths are taken from the project root"):
        find_command("scripts/plain", path="", root=str(tmp_path))
    assert CommandNotFoundError.exit_code == 127
