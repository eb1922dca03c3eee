"""doctor's fixes for a damaged project must be ones that work when pasted."""

from __future__ import annotations

import shutil
from pathlib import Path

from devenv.doctor import format_doctor, run_checks
from tests.support.projects import Project, hermetic_env


def test_a_symlinked_devenv_gets_a_fix_that_removes_the_link_not_devenv_sync(
    project: Project, tmp_path: Path
) -> None:
    project.sync()
    elsewhere = tmp_path / "elsewhere"
    shutil.move(project.root / ".devenv", elsewhere)
    (project.root / ".devenv").symlink_to(elsewhere)
    report = run_checks(str(project.root), hermetic_env())
    state = report.check("state")
    assert state.status == "fail" and ".devenv is a symlink" in state.detail, format_doctor(report)
    assert state.fix.startswith(f"rm {project.root / '.devenv'} && devenv sync")
    # The fix works as written: the link goes, its target stays, sync then succeeds.
    (project.root / ".devenv").unlink()
    assert elsewhere.is_dir()
    assert project.sync().returncode == 0


def test_a_dotenv_that_is_a_folder_gets_a_fix_that_moves_it_not_an_editor(project: Project) -> None:
    project.sync()
    (project.root / ".env").mkdir()
    report = run_checks(str(project.root), hermetic_env())
    failed = [check for check in report.checks if check.status == "fail" and ".env" in check.detail]
    assert failed, format_doctor(report)
    assert all("EDITOR" not in check.fix for check in failed), format_doctor(report)
    assert any(check.fix.startswith("mv .env .env.folder") for check in failed), format_doctor(report)


def test_a_code_key_from_set_says_to_remove_the_set_not_a_line(project: Project) -> None:
    project.sync()
    result = project.devenv("run", "--set", "BASH_ENV=/tmp/x.sh", "--", "true")
    assert result.returncode == 2
    assert "or remove the --set" in result.stderr and "remove the line" not in result.stderr
