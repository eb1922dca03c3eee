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


def doctor_fixes(project: Project, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """`devenv [ARGS] doctor`'s failed checks, name -> fix, from its human output."""
    result = project.devenv(*args, "doctor", env=env)
    fixes = {}
    for line in result.stdout.splitlines():
        if line.startswith("FAIL"):
            name = line[6:19].strip()
            fixes[name] = line.partition("  (fix: ")[2].removesuffix(")")
    return fixes


def test_an_unknown_profile_gets_a_fix_naming_a_declared_profile_not_an_editor_on_dotenv(
    project: Project,
) -> None:
    spec = project.root / "envspec.toml"
    spec.write_text(spec.read_text() + '\n[profiles.local]\nvars = { SERVICE = "local" }\n')
    project.sync()
    fixes = doctor_fixes(project, "--profile", "lcal")
    assert fixes["variables"] == (
        "export DEVENV_PROFILE=local  # or --profile local; or declare it in envspec.toml [profiles]"
    )
    assert fixes["state"].startswith("export DEVENV_PROFILE=local && devenv sync  #")
    # Pasted: the profile it names resolves, and so does sync.
    assert "variables" not in doctor_fixes(project, env=hermetic_env(DEVENV_PROFILE="local"))
    assert project.sync(env=hermetic_env(DEVENV_PROFILE="local")).returncode == 0


def test_a_broken_dotenv_line_gets_a_fix_naming_its_file_and_line_not_a_bare_sync(project: Project) -> None:
    project.sync()
    project.write(".env", "GREETING=ok\nBROKEN LINE\n")
    fixes = doctor_fixes(project)
    assert fixes["variables"] == "${EDITOR:-vi} .env  # line 2"
    # sync alone fails with the same error: the state fix edits the line first.
    assert project.devenv("sync").returncode == 2
    assert fixes["state"] == "${EDITOR:-vi} .env && devenv sync  # line 2"
