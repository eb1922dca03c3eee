"""One pylock.toml for every platform (uv, the default installer), standard locks from other
tools, the index recorded in the lock, projects declared by their pyproject.toml, and
interpreters found where pyenv installed them. Real uv, real PyPI, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.projects import Project, index_env, uv_pylock

MACAPP = """\
[project]
name = "macapp"
version = "0.1"
dependencies = ["appnope ; sys_platform == 'darwin'"]

[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"
"""

#: Settings of tools that are not build backends: editing them leaves the lock current.
TOOLS = '\n[tool.ruff]\nline-length = 120\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'


def run(project: Project, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return project.devenv(*args, env=index_env(**extra), timeout=300)


def installed(project: Project) -> set[str]:
    document = json.loads((project.root / ".devenv" / "env.json").read_text())
    return {entry.split("==")[0] for entry in document["python"]["installed"]}


@pytest.fixture(scope="module")
def universal(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("universal") / "proj"
    spec = '[python]\nrequires = ">=3.11"\npackages = ["pytest==9.2.0", "-e ./macapp"]\n'
    project = Project.create(root, venv=".devenv/venv", spec=spec)
    project.write("macapp/pyproject.toml", MACAPP)
    project.write("macapp/macapp/__init__.py", "")
    # Locked and synced here, not by the first tests: under xdist (`-n 2`) the tests of this
    # module run on two workers, each with its own copy of this fixture, in no fixed order.
    for step in (("lock",), ("sync", "--frozen")):
        result = run(project, *step)
        assert result.returncode == 0, result.stderr
    return project


def test_one_lock_carries_windows_and_macos_only_packages_with_their_markers(universal: Project) -> None:
    result = run(universal, "lock")
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((universal.root / "pylock.toml").read_text())
    packages = {package["name"]: package for package in lock["packages"]}
    assert "win32" in packages["colorama"]["marker"]
    assert "darwin" in packages["appnope"]["marker"]
    assert lock["requires-python"] == ">=3.11" and "environments" not in lock
    assert "/opt/" not in (universal.root / "pylock.toml").read_text()  # the machine's extra index


def test_a_linux_sync_installs_neither(universal: Project) -> None:
    result = run(universal, "sync", "--frozen")
    assert result.returncode == 0, result.stderr
    names = installed(universal)
    assert {"pytest", "macapp", "iniconfig"} <= names
    assert not {"colorama", "appnope"} & names
    assert run(universal, "sync", "--check").returncode == 0


def test_only_what_a_build_reads_of_a_local_projects_pyproject_is_a_lock_input(universal: Project) -> None:
    pyproject = universal.root / "macapp" / "pyproject.toml"
    lock = (universal.root / "pylock.toml").read_bytes()
    try:
        pyproject.write_text(MACAPP + TOOLS)  # other tools' settings: no build reads them
        assert run(universal, "lock", "--check").returncode == 0
        result = run(universal, "sync")
        assert result.returncode == 0 and "locking again" not in result.stderr, result.stderr
        assert "nothing to install" in result.stderr
        assert (universal.root / "pylock.toml").read_bytes() == lock
        edited = MACAPP.replace("dependencies = [", 'dependencies = ["six", ') + TOOLS
        pyproject.write_text(edited + "\n[tool.setuptools]\npackages = ['macapp']\n")
        check = run(universal, "lock", "--check")
        assert check.returncode == 1, check.stderr
        assert "changed macapp/pyproject.toml [project].dependencies" in check.stderr
        assert "added macapp/pyproject.toml [tool.setuptools]" in check.stderr  # the backend's own
        assert "[tool.ruff]" not in check.stderr and "[tool.pytest" not in check.stderr
    finally:
        pyproject.write_text(MACAPP)
    assert run(universal, "lock", "--check").returncode == 0


def test_the_file_setuptools_reads_dependencies_from_is_a_lock_input(tmp_path: Path) -> None:
    spec = '[python]\nrequires = ">=3.11"\npackages = ["-e ./app"]\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    dynamic = '\n[tool.setuptools.dynamic]\ndependencies = { file = ["requirements.in"] }\n'
    project.write(
        "app/pyproject.toml", MACAPP.replace("dependencies = [", 'dynamic = ["dependencies"]\n#[') + dynamic
    )
    project.write("app/macapp/__init__.py", "")
    project.write("app/requirements.in", "six\n")
    assert run(project, "lock").returncode == 0
    assert run(project, "sync", "--frozen").returncode == 0 and "six" in installed(project)
    project.write("app/requirements.in", "six\niniconfig\n")
    check = run(project, "lock", "--check")
    assert check.returncode == 1 and "changed file: app/requirements.in" in check.stderr, check.stderr
    result = run(project, "sync")
    assert result.returncode == 0 and "locking again" in result.stderr, result.stderr
    assert "iniconfig" in installed(project)


@pytest.mark.parametrize(
    ("sys_platform", "machine", "system", "tag", "wanted", "unwanted"),
    [
        ("win32", "AMD64", "Windows", "win_amd64", "colorama", "appnope"),
        ("darwin", "arm64", "Darwin", "macosx_14_0_arm64", "appnope", "colorama"),
    ],
)
def test_packaging_pylock_selects_the_right_set_elsewhere(
    universal: Project, sys_platform: str, machine: str, system: str, tag: str, wanted: str, unwanted: str
) -> None:
    from packaging.pylock import Pylock
    from packaging.tags import Tag

    document = tomllib.loads((universal.root / "pylock.toml").read_text())
    environment = {
        "sys_platform": sys_platform,
        "platform_machine": machine,
        "platform_system": system,
        "os_name": "nt" if sys_platform == "win32" else "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": "3.12",
        "python_full_version": "3.12.4",
        "implementation_version": "3.12.4",
        "platform_release": "",
        "platform_version": "",
    }
    tags = [Tag("cp312", "cp312", tag), Tag("py3", "none", "any")]
    chosen = {
        package.name for package, _ in Pylock.from_dict(document).select(environment=environment, tags=tags)
    }
    assert wanted in chosen and unwanted not in chosen and "pytest" in chosen


def test_lock_check_fails_on_a_swapped_url_or_hash(universal: Project) -> None:
    path = universal.root / "pylock.toml"
    original = path.read_text()
    try:
        path.write_text(original.replace("https://files.pythonhosted.org/", "https://evil.example/", 1))
        check = run(universal, "lock", "--check")
        assert check.returncode == 1 and "is outside the recorded indexes" in check.stderr, check.stderr
        lock = tomllib.loads(original)
        digest = next(p for p in lock["packages"] if "wheels" in p)["wheels"][0]["hashes"]["sha256"]
        path.write_text(original.replace(digest, "0" * 64))
        check = run(universal, "lock", "--check")
        assert check.returncode == 1 and "edited after `devenv lock` wrote them" in check.stderr
        assert run(universal, "sync", "--frozen").returncode == 2
    finally:
        path.write_text(original)
    assert run(universal, "lock", "--check").returncode == 0


def test_a_lock_written_by_uv_pip_compile_syncs_frozen_and_is_never_overwritten(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec='[python]\npackages = ["six"]\n')
    project.write("requirements.in", "six\n")
    uv_pylock(project.root)
    before = (project.root / "pylock.toml").read_bytes()
    frozen = run(project, "sync", "--frozen")
    assert frozen.returncode == 0, frozen.stderr
    assert "six" in installed(project)
    assert run(project, "sync").returncode == 0
    project.write("envspec.toml", '[python]\npackages = ["six", "iniconfig"]\n')
    assert run(project, "sync").returncode == 0
    assert (project.root / "pylock.toml").read_bytes() == before  # only `devenv lock` replaces it
    check = run(project, "lock", "--check")
    assert check.returncode == 0 and "written by uv, not by `devenv lock`" in check.stderr
    assert "cannot tell whether it matches" in check.stderr


def test_a_relock_keeps_the_recorded_index_and_never_writes_credentials(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec='[python]\npackages = ["six"]\n')
    index = "https://${IDX_USER}:${IDX_TOKEN}@pypi.org/simple/"
    secrets = {"IDX_USER": "someone", "IDX_TOKEN": "t0ken-never-written"}
    result = run(project, "lock", "--index-url", index, **secrets)
    assert result.returncode == 0, result.stderr
    project.write("envspec.toml", '[python]\npackages = ["six", "iniconfig"]\n')
    resync = run(project, "sync", **secrets)
    assert resync.returncode == 0 and "locking again" in resync.stderr, resync.stderr
    text = (project.root / "pylock.toml").read_text()
    assert tomllib.loads(text)["tool"]["devenv"]["index-url"] == index
    assert "t0ken-never-written" not in text and "someone" not in text
    missing = run(project, "lock")
    assert missing.returncode == 2 and "${IDX_USER}, which is not set" in missing.stderr


FLAT_APP = """\
[project]
name = "flatapp"
version = "0.1"
dependencies = ["six"]

[project.optional-dependencies]
ini = ["iniconfig"]

[dependency-groups]
lint = ["six"]
dev = ["iniconfig", { include-group = "lint" }]
"""


@pytest.mark.parametrize("line", ["-r pyproject.toml[ini]", "--group dev", "--group app/pyproject.toml:dev"])
def test_a_flat_unbuildable_app_is_declared_by_its_pyproject(tmp_path: Path, line: str) -> None:
    spec = f'[python]\npackages = ["{line}"]\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    for folder in ("", "app/"):
        project.write(f"{folder}pyproject.toml", FLAT_APP)  # no build backend, flat layout
        project.write(f"{folder}config/__init__.py", "")
        project.write(f"{folder}users/__init__.py", "")
    assert run(project, "lock").returncode == 0
    result = run(project, "sync", "--frozen")
    assert result.returncode == 0, result.stderr
    assert {"six", "iniconfig"} <= installed(project) and "flatapp" not in installed(project)
    pyproject = "app/pyproject.toml" if "app/" in line else "pyproject.toml"
    lock = (project.root / "pylock.toml").read_bytes()
    project.write(pyproject, FLAT_APP + TOOLS)
    assert run(project, "lock", "--check").returncode == 0
    result = run(project, "sync")
    assert result.returncode == 0 and "locking again" not in result.stderr, result.stderr
    assert "nothing to install" in result.stderr
    assert (project.root / "pylock.toml").read_bytes() == lock
    more_dependencies = FLAT_APP.replace('dependencies = ["six"]', 'dependencies = ["six", "packaging"]')
    edited, table = more_dependencies, "[project].dependencies"
    if line.startswith("--group"):  # reads the group (and the one it includes), not [project]
        project.write(pyproject, more_dependencies)
        assert run(project, "lock", "--check").returncode == 0
        edited, table = (
            FLAT_APP.replace('lint = ["six"]', 'lint = ["six", "packaging"]'),
            "[dependency-groups].dev",
        )
    project.write(pyproject, edited)
    check = run(project, "lock", "--check")
    assert check.returncode == 1 and f"changed {pyproject} {table}" in check.stderr, check.stderr


def test_a_package_changed_in_place_fails_sync_check(universal: Project) -> None:
    site = next((universal.root / ".devenv" / "venv" / "lib").glob("python3*/site-packages"))
    module = site / "iniconfig" / "__init__.py"
    original = module.read_bytes()
    try:
        module.write_bytes(original + b"# changed by hand\n")
        check = run(universal, "sync", "--check")
        assert check.returncode == 2
        assert "iniconfig: iniconfig/__init__.py (changed)" in check.stderr
        # A sync does not hash installed files (README, "Locked packages"): the advice is the
        # repair that works, and following it makes the venv whole again.
        assert "remove .devenv/venv and run `devenv sync`" in check.stderr
        assert run(universal, "sync").returncode == 0
        assert module.read_bytes().endswith(b"# changed by hand\n")
        shutil.rmtree(universal.root / ".devenv" / "venv")
        assert run(universal, "sync").returncode == 0
        assert not module.read_bytes().endswith(b"# changed by hand\n")
    finally:
        if module.exists():
            module.write_bytes(original)
    assert run(universal, "sync", "--check").returncode == 0


def test_pyenv_versions_are_found_without_the_shim(tmp_path: Path) -> None:
    pyenv = Path(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")))
    if not list(pyenv.glob("versions/3.12.*/bin/python3")):
        if os.environ.get("CI"):
            pytest.fail("pyenv's 3.12 is not installed")
        pytest.skip("pyenv's 3.12 is not installed here")
    project = Project.create(
        tmp_path / "proj", venv=".devenv/venv", spec='[python]\nrequires = ">=3.12,<3.13"\n'
    )
    # PATH holds pyenv's shims (which refuse 3.12 outside a .python-version folder) and no
    # python3.12: the version is found in pyenv's own folder.
    shims = str(pyenv / "shims")
    result = run(project, "sync", PATH=f"{shims}:/usr/bin:/bin", PYENV_ROOT=str(pyenv))
    assert result.returncode == 0, result.stderr
    assert "CPython 3.12" in result.stderr and str(pyenv / "versions") in result.stderr


def test_platforms_narrow_the_lock(tmp_path: Path) -> None:
    spec = '[python]\nrequires = ">=3.11"\nplatforms = ["linux-x86_64"]\npackages = ["pytest==9.2.0"]\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    assert run(project, "lock").returncode == 0
    lock = tomllib.loads((project.root / "pylock.toml").read_text())
    assert "colorama" not in {package["name"] for package in lock["packages"]}
    assert lock["environments"] == ['sys_platform == "linux" and platform_machine == "x86_64"']
    project.write("envspec.toml", spec.replace('["linux-x86_64"]', '["linux-x86_64", "windows-x86_64"]'))
    check = run(project, "lock", "--check")
    assert check.returncode == 1 and "changed [python].platforms" in check.stderr


def test_an_interpreter_path_that_does_not_run_is_exit_2(tmp_path: Path) -> None:
    spec = '[python]\ninterpreter = "/nowhere/python3.12"\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    result = run(project, "sync")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "[python].interpreter = '/nowhere/python3.12' does not run" in result.stderr


def test_without_python_requires_the_lock_covers_the_chosen_python_and_newer(tmp_path: Path) -> None:
    # Most projects declare no [python].requires; uv alone would resolve from Python 3.8,
    # where celery 5.7 has no release ("No solution found ... split").
    spec = '[project]\nname = "noreq"\n[python]\npackages = ["celery[redis]==5.7.0"]\n'
    project = Project.create(tmp_path / "noreq", venv=".devenv/venv", spec=spec)
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    synced = run(project, "sync")
    assert synced.returncode == 0, synced.stderr
    version = json.loads((project.root / ".devenv" / "env.json").read_text())["python"]["version"]
    minor = ".".join(version.split(".")[:2])
    assert run(project, "lock").returncode == 0
    lock = tomllib.loads((project.root / "pylock.toml").read_text())
    assert lock["requires-python"] == f">={minor}"
    assert lock["tool"]["devenv"]["python-floor"] == minor
    assert run(project, "lock", "--check").returncode == 0
    assert run(project, "sync", "--frozen").returncode == 0
    # Another machine, whose Python is older than the floor: told which key to set.
    text = (project.root / "pylock.toml").read_text()
    text = text.replace(f'requires-python = ">={minor}"', 'requires-python = ">=3.99"')
    (project.root / "pylock.toml").write_text(
        text.replace(f'python-floor = "{minor}"', 'python-floor = "3.99"')
    )
    for command in (("sync", "--frozen"), ("sync",), ("lock", "--check")):
        refused = run(project, *command)
        assert refused.returncode == 2, refused.stderr
        assert "has no [python].requires" in refused.stderr and "set [python].requires" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_a_python_range_no_release_fits_names_python_requires_not_the_packages(tmp_path: Path) -> None:
    spec = '[project]\nname = "old"\n[python]\nrequires = ">=3.8"\npackages = ["celery==5.7.0"]\n'
    project = Project.create(tmp_path / "old", venv=".devenv/venv", spec=spec)
    for command in ("lock", "sync"):
        failed = run(project, command)
        assert failed.returncode == 2, failed.stderr
        assert "set [python].requires in envspec.toml" in failed.stderr
        assert "fix [python].packages" not in failed.stderr and "Traceback" not in failed.stderr


def tree_state(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder`: (size, mtime_ns, first bytes)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            state[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, path.read_bytes()[:4096])
    return state


def test_a_failing_frozen_or_check_sync_changes_nothing(tmp_path: Path) -> None:
    spec = '[project]\nname = "pulled"\n[vars]\nGREETING = "{greeting}"\n[python]\nrequires = ">=3.11"\npackages = [{packages}]\n'
    project = Project.create(
        tmp_path / "pulled",
        venv=".devenv/venv",
        spec=spec.format(greeting="hi", packages='"iniconfig==2.0.0"'),
    )
    assert run(project, "lock").returncode == 0
    assert run(project, "sync", "--frozen").returncode == 0
    # A pull that changed both the packages (and their lock) and a variable.
    project.write("envspec.toml", spec.format(greeting="hello", packages='"iniconfig==2.0.0", "six==1.17.0"'))
    assert run(project, "lock").returncode == 0
    before = tree_state(project.root / ".devenv")
    ran_before = run(project, "run", "--", "true")
    for flag in ("--frozen", "--check"):
        refused = run(project, "sync", flag)
        assert refused.returncode == 2, refused.stderr
        assert "the resolved variables differ" in refused.stderr
        assert tree_state(project.root / ".devenv") == before  # the venv included: six not installed
    ran = run(project, "run", "--", "true")
    assert (ran.returncode, ran.stderr) == (ran_before.returncode, ran_before.stderr)
    assert "did not finish" not in ran.stderr
