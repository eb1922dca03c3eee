"""`devenv lock` and the exact in-place sync, with real pip on tiny pure-Python packages.

One project (and one venv) is shared by the module's tests, in the order a user would go:
lock, frozen sync, a package installed by hand, an edit that makes the lock stale, a diff
against another machine. pip's wheel cache keeps the downloads warm.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devenv.installers import installer_for
from devenv.spec import INSTALLERS
from tests.support.processes import wait_for
from tests.support.projects import DEVENV, Project, hermetic_env

SPEC = """\
[project]
name = "locked"

[python]
requires = ">=3.11"
installer = "{installer}"
packages = [
    "six >= 1.16",
    "iniconfig ; python_version >= '3.8'",
    "mypkg @ {url}",
]
"""

MYPKG = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "mypkg"
version = "0.1"
dependencies = ["six"]
"""


def pip_env() -> dict[str, str]:
    # The machine's pip configuration (an extra file:// index) stays in effect for installs,
    # as it would for a user: `devenv lock` must keep it out of the lock by itself.
    env = hermetic_env()
    for key in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


UV = os.path.join(os.path.dirname(sys.executable), "uv")


#: Whether each installer's lock holds the local projects (`pip lock` leaves them out; the
#: sync installs them after the lock).
LOCKS_LOCAL_PROJECTS = {"uv": True, "pip": False}


def installer_of(project: Project) -> str:
    return str(tomllib.loads((project.root / "envspec.toml").read_text())["python"]["installer"])


def install_by_hand(project: Project, *args: str) -> None:
    """What a user would run in the venv: pip where the installer is pip, uv pip for uv."""
    python = str(project.root / ".devenv" / "venv" / "bin" / "python")
    name = installer_of(project)
    if name == "pip":
        command = [python, "-m", "pip", *args]
    elif name == "uv":
        command = [UV, "pip", *args, "--python", python]
    else:
        pytest.fail(f"no by-hand install command for installer {name!r}: add it here")
    subprocess.run(
        command, check=True, env=pip_env() | {"SSL_CERT_FILE": os.environ.get("SSL_CERT_FILE", "")}
    )


@pytest.fixture(scope="module", params=INSTALLERS)
def locked(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Project:
    base = tmp_path_factory.mktemp(f"lock-{request.param}") / "a folder with spaces"
    package = base / "my pkg"
    (package / "src" / "mypkg").mkdir(parents=True)
    (package / "pyproject.toml").write_text(MYPKG)
    (package / "src" / "mypkg" / "__init__.py").write_text("X = 1\n")
    project = Project.create(
        base / "proj", venv=".devenv/venv", spec=SPEC.format(url=f"file://{package}", installer=request.param)
    )
    return project


def run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return project.devenv(*args, env=pip_env(), timeout=300)


def test_lock_writes_hashes_requires_python_environments_and_no_file_url(locked: Project) -> None:
    result = run(locked, "lock")
    assert result.returncode == 0, result.stderr
    assert "experimental" not in result.stderr  # pip's and uv's notes about their own features
    text = (locked.root / "pylock.toml").read_text()
    assert "file://" not in text.split("[tool")[0]
    lock = tomllib.loads(text)
    names = {package["name"]: package for package in lock["packages"]}
    if installer_for(installer_of(locked)).universal:
        # one lock for every platform and Python minor version requires allows
        assert lock["requires-python"] == ">=3.11" and "environments" not in lock
    else:  # one lock for this platform and Python minor version
        assert lock["requires-python"].startswith("==3.")
        assert lock["environments"] and "sys_platform" in lock["environments"][0]
    if LOCKS_LOCAL_PROJECTS[installer_of(locked)]:
        assert names.pop("mypkg")["directory"]["path"] == "../my pkg"  # relative to the lock
    assert set(names) == {"six", "iniconfig"}
    for package in names.values():
        assert all(wheel["hashes"]["sha256"] for wheel in package["wheels"])
        assert all(wheel["url"].startswith("https://") for wheel in package["wheels"])
    assert lock["tool"]["devenv"]["inputs"]
    assert run(locked, "lock", "--check").returncode == 0


def test_frozen_sync_installs_exactly_the_lock_and_everything_imports(locked: Project) -> None:
    result = run(locked, "sync", "--frozen")
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((locked.root / "pylock.toml").read_text())
    document = json.loads((locked.root / ".devenv" / "env.json").read_text())
    installed = {entry.split("==")[0]: entry.split("==")[1] for entry in document["python"]["installed"]}
    tools = {name: installed[name] for name in installer_for(installer_of(locked)).needs}
    assert installed == {
        **{package["name"]: package.get("version", "0.1") for package in lock["packages"]},
        "mypkg": "0.1",
        **tools,
    }
    assert document["python"]["lock"] == "pylock.toml"
    assert len(document["python"]["lock_sha256"]) == 64
    probe = run(locked, "run", "--", "python", "-c", "import six, iniconfig, mypkg; print(mypkg.X)")
    assert probe.returncode == 0 and probe.stdout == "1\n", probe.stderr


def test_a_package_installed_by_hand_is_removed_in_place(locked: Project) -> None:
    venv = locked.root / ".devenv" / "venv"
    inode = (venv / "bin").stat().st_ino
    before = json.loads((locked.root / ".devenv" / "env.json").read_text())["fingerprint"]
    # A tiny wheel pip builds from an sdist-free local folder: no network needed.
    extra = locked.root.parent / "handmade"
    (extra / "handmade").mkdir(parents=True)
    (extra / "handmade" / "__init__.py").write_text("")
    (extra / "pyproject.toml").write_text(MYPKG.replace("mypkg", "handmade").replace('["six"]', "[]"))
    install_by_hand(locked, "install", "-q", "--no-deps", str(extra))
    assert run(locked, "sync", "--check").returncode == 2
    result = run(locked, "sync")
    assert result.returncode == 0, result.stderr
    assert "removing 1 package the lock does not list: handmade" in result.stderr
    assert (venv / "bin").stat().st_ino == inode  # changed in place, not recreated
    assert run(locked, "run", "--", "python", "-c", "import handmade").returncode == 1
    assert json.loads((locked.root / ".devenv" / "env.json").read_text())["fingerprint"] == before


def test_an_edit_makes_the_lock_stale_until_devenv_lock(locked: Project) -> None:
    spec = (locked.root / "envspec.toml").read_text()
    locked.write("envspec.toml", spec.replace('"six >= 1.16",', '"six >= 1.16",\n    "iniconfig>=2",'))
    check = run(locked, "lock", "--check")
    assert check.returncode == 1 and "added line: iniconfig>=2" in check.stderr
    frozen = run(locked, "sync", "--frozen")
    assert frozen.returncode == 2 and "pylock.toml is stale" in frozen.stderr
    assert "Traceback" not in frozen.stderr
    assert run(locked, "lock").returncode == 0
    assert run(locked, "lock", "--check").returncode == 0
    assert run(locked, "sync", "--frozen").returncode == 0


def test_diff_with_another_machines_env_json_names_the_package(locked: Project, tmp_path: Path) -> None:
    document = json.loads((locked.root / ".devenv" / "env.json").read_text())
    document["root"] = "/elsewhere/proj"
    document["python"]["installed"] = [
        "six==1.16.0" if entry.startswith("six==") else entry for entry in document["python"]["installed"]
    ]
    other = tmp_path / "other"
    other.mkdir()
    (other / "env.json").write_text(json.dumps(document))
    result = run(locked, "diff", str(other / "env.json"))
    assert result.returncode == 1, result.stderr
    assert any(
        line.split()[:3] == ["six", "1.17.0", "|"] or "six" in line for line in result.stdout.splitlines()
    )
    assert "1.16.0" in result.stdout
    # The same environment published from elsewhere (secrets as hashes) compares equal.
    exported = run(locked, "export")
    assert exported.returncode == 0
    (other / "env.json").write_text(exported.stdout)
    assert run(locked, "diff", str(other / "env.json")).returncode == 0


def test_the_interpreter_is_part_of_the_lock(locked: Project) -> None:
    path = locked.root / "pylock.toml"
    original = path.read_text()
    if installer_for(installer_of(locked)).universal:  # requires-python decides
        try:
            path.write_text(original.replace('requires-python = ">=3.11"', 'requires-python = ">=3.99"'))
            frozen = run(locked, "sync", "--frozen")
            assert frozen.returncode == 2
            assert "requires-python '>=3.99' excludes this Python" in frozen.stderr
        finally:
            path.write_text(original)
        assert run(locked, "sync", "--frozen").returncode == 0
        return
    version = tomllib.loads(original)["tool"]["devenv"]["python"]
    major, minor, _ = version.split(".")
    try:
        path.write_text(original.replace(f'python = "{version}"', f'python = "{major}.{minor}.0"'))
        patch = run(locked, "sync", "--frozen")
        assert patch.returncode == 0, patch.stderr
        assert (
            f"warning: pylock.toml was made with Python {major}.{minor}.0, this interpreter is {version}"
            in (patch.stderr)
        )
        older = f"{major}.{int(minor) - 1}"
        path.write_text(
            original.replace(f'python = "{version}"', f'python = "{older}.1"').replace(
                f'requires-python = "=={major}.{minor}.*"', f'requires-python = "=={older}.*"'
            )
        )
        frozen = run(locked, "sync", "--frozen")
        assert frozen.returncode == 2
        assert f"locked for Python {older}.1, this interpreter is {version}" in frozen.stderr
    finally:
        path.write_text(original)
    assert run(locked, "sync", "--frozen").returncode == 0


def test_a_process_started_before_a_resync_that_changed_packages_is_stale(locked: Project) -> None:
    import psutil

    sleeper = subprocess.Popen([DEVENV, "run", "--", "sleep", "60"], cwd=locked.root, env=pip_env())
    try:
        wait_for(lambda: psutil.Process(sleeper.pid).name() == "sleep", timeout=10, what="the sleeper")
        assert run(locked, "diff", str(sleeper.pid)).returncode == 0
        spec = (locked.root / "envspec.toml").read_text()
        spec = spec.replace('    "iniconfig>=2",\n', "").replace(
            "    \"iniconfig ; python_version >= '3.8'\",\n", ""
        )
        locked.write("envspec.toml", spec)
        resync = run(locked, "sync")
        assert resync.returncode == 0 and "iniconfig" in resync.stderr, resync.stderr
        stale = run(locked, "diff", str(sleeper.pid))
        assert stale.returncode == 1 and "fingerprint stale" in stale.stdout, stale.stdout
    finally:
        sleeper.kill()
        sleeper.wait()


def test_kill_9_during_pip_blocks_launches_leaves_no_pip_and_the_next_sync_finishes(locked: Project) -> None:
    env = pip_env()
    name = installer_of(locked)
    if name == "pip":
        install_by_hand(locked, "uninstall", "-q", "-y", "six")
    elif name == "uv":
        # uv reinstalls from its cache in milliseconds: with an empty cache it must fetch six and
        # build mypkg (setuptools from the index), long enough to be caught in the middle.
        install_by_hand(locked, "uninstall", "-q", "six", "mypkg")
        env["UV_CACHE_DIR"] = str(locked.root.parent / "empty-uv-cache")
    else:
        pytest.fail(f"no way to make a sync by {name} slow enough to kill: add one here")
    sync = subprocess.Popen([DEVENV, "sync"], cwd=locked.root, env=env, stderr=subprocess.PIPE, text=True)
    marker = locked.root / ".devenv" / "sync-incomplete"
    wait_for(lambda: marker.exists() and bool(_pips_of(locked.root)), timeout=60, what="sync to start pip")
    assert int(marker.read_text()) == sync.pid
    os.kill(sync.pid, signal.SIGKILL)
    sync.wait()
    assert sync.stderr is not None
    sync.stderr.close()
    wait_for(lambda: not _pips_of(locked.root), timeout=10, what="pip to die with devenv")
    for command in (["print-env"], ["run", "--", "true"], ["up", "anything"]):
        refused = run(locked, *command)
        assert refused.returncode == 2
        assert "the last sync did not finish; run devenv sync" in refused.stderr
    finished = run(locked, "sync")
    assert finished.returncode == 0, finished.stderr
    assert "changed by hand" not in finished.stderr
    assert run(locked, "run", "--", "python", "-c", "import six").returncode == 0


def _pips_of(root: Path) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = process.info["cmdline"] or []
        # pip runs as the venv's python; uv (under a guard) names the venv's python with -p.
        if any(word.startswith(str(root)) for word in command) and "pip" in " ".join(command):
            found.append(process.info["pid"])
    return found


def test_bad_requirement_line_names_its_line_before_pip_runs(tmp_path: Path) -> None:
    spec = '[python]\npackages = [\n    "six",\n    "iniconfig >>= 2",\n]\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    result = project.devenv("sync")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "devenv: error: envspec.toml:4 [python].packages[1]: is not a valid requirement"
    )
    assert not (project.root / ".devenv" / "venv").exists()  # nothing built before the check


@pytest.mark.parametrize("venv", [".", "data", "src", ".git", "..", "lib-a/src"])
def test_a_venv_over_user_files_is_refused_and_nothing_is_touched(tmp_path: Path, venv: str) -> None:
    spec = f'[python]\nvenv = "{venv}"\n[paths]\npythonpath = ["lib-a/src"]\n'
    project = Project.create(tmp_path / "proj", venv=venv, spec=spec)
    for name in ("data/keep.csv", "src/app.py", ".git/HEAD", "lib-a/src/mod.py"):
        project.write(name, "precious\n")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = project.devenv("sync")
    assert result.returncode == 2, result.stderr
    assert "[python].venv" in result.stderr and "Traceback" not in result.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (project.root / "data" / "keep.csv").read_text() == "precious\n"


def test_no_lock_sync_says_how_to_make_one(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec='[python]\npackages = ["six"]\n')
    result = project.devenv("sync", env=pip_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("run `devenv lock`") == 1
    assert not (project.root / "pylock.toml").exists()
    frozen = project.devenv("sync", "--frozen", env=pip_env())
    assert frozen.returncode == 2 and "there is no pylock.toml" in frozen.stderr
    assert "nothing to install" in project.devenv("sync", env=pip_env()).stderr
    assert project.devenv("sync", "--check", env=pip_env()).returncode == 0


def test_a_lock_for_another_platform_says_how_to_add_one(project: Project) -> None:
    project.write("pylock.toml", 'lock-version = "1.0"\nenvironments = ["sys_platform == \'win32\'"]\n')
    result = project.devenv("sync")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no lock for this platform" in result.stderr
    assert "devenv lock --name NAME" in result.stderr and "pylock.NAME.toml" in result.stderr


def test_diff_compares_secrets_by_hash_and_never_shows_them(project: Project, tmp_path: Path) -> None:
    ours, theirs = "s3cr3t-value-one", "an0ther-secret-two"
    env = hermetic_env(DEMO_TOKEN=ours)
    assert project.devenv("sync", env=env).returncode == 0
    document = json.loads((project.root / ".devenv" / "env.json").read_text())
    document["variables"]["DEMO_TOKEN"]["value"] = theirs
    (tmp_path / "other.json").write_text(json.dumps(document))
    result = project.devenv("diff", str(tmp_path / "other.json"), env=env)
    assert result.returncode == 1
    assert "DEMO_TOKEN" in result.stdout and "(secret, differs by hash)" in result.stdout
    assert ours not in result.stdout + result.stderr and theirs not in result.stdout + result.stderr
    exported = project.devenv("export", env=env)
    assert exported.returncode == 0 and ours not in exported.stdout
    (tmp_path / "published.json").write_text(exported.stdout)
    assert project.devenv("diff", str(tmp_path / "published.json"), env=env).returncode == 0
    changed = project.devenv("diff", str(tmp_path / "published.json"), env=hermetic_env(DEMO_TOKEN=theirs))
    assert changed.returncode == 1 and "(secret, differs by hash)" in changed.stdout
    assert theirs not in changed.stdout + changed.stderr


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_venv_is_never_rebuilt_under_running_processes(tmp_path: Path, installer: str) -> None:
    import psutil

    spec = f'[python]\ninstaller = "{installer}"\n'
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)
    assert project.devenv("sync", env=pip_env()).returncode == 0
    venv = project.root / ".devenv" / "venv"
    site = next((venv / "lib").glob("python3*/site-packages"))
    sleeper = subprocess.Popen(
        [DEVENV, "run", "--", "python", "-c", "import time; time.sleep(60)"], cwd=project.root, env=pip_env()
    )
    try:
        wait_for(
            lambda: "time.sleep" in " ".join(psutil.Process(sleeper.pid).cmdline()), timeout=10, what="python"
        )
        needs = sorted(installer_for(installer).needs)
        if needs:  # what the installer needs in the venv is gone: a rebuild is due (devenv made it)
            shutil.rmtree(next(site.glob(f"{needs[0]}-*.dist-info")))
            again = "creating it again"
        else:  # another interpreter (pyenv's 3.12, found directly): a rebuild is due
            project.write("envspec.toml", spec + 'interpreter = "3.12"\n')
            again = "(the interpreter changed) with CPython 3.12"
        inode = (venv / "bin").stat().st_ino
        refused = project.devenv("sync", env=pip_env())
        assert refused.returncode == 2
        assert f"processes run from it (PID {sleeper.pid})" in refused.stderr
        assert (venv / "bin").stat().st_ino == inode
    finally:
        sleeper.kill()
        sleeper.wait()
    rebuilt = project.devenv("sync", env=pip_env())
    assert rebuilt.returncode == 0 and again in rebuilt.stderr, rebuilt.stderr


def test_nox_reuse_only_verifies_and_fails_when_out_of_sync(tmp_path: Path) -> None:
    import sys

    from tests.support.projects import make_shared_venv

    venv = make_shared_venv(tmp_path / "venv")
    project = Project.create(tmp_path / "proj", venv=venv, spec=f'[python]\nvenv = "{venv}"\n')
    shutil.copy(Path(__file__).resolve().parents[2] / "noxfile.py", project.root / "noxfile.py")
    nox = [os.path.join(os.path.dirname(sys.executable), "nox"), "-f", str(project.root / "noxfile.py")]
    env = hermetic_env()
    assert subprocess.run([*nox, "-s", "env"], env=env, capture_output=True).returncode == 0
    info = next(Path(venv).glob("lib/python3*/site-packages")) / "handmade-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: handmade\nVersion: 1.0\n")
    for reuse in (["-R"], ["--no-install"]):
        result = subprocess.run([*nox, *reuse, "-s", "env"], env=env, capture_output=True, text=True)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output  # nox: a session failed
        assert "devenv sync --check failed" in output and "not in the lock: handmade" in output
        assert info.exists()  # verified, not changed


def test_a_venv_devenv_did_not_make_never_loses_packages(tmp_path: Path) -> None:
    # The user's own venv, pointed at by [python].venv: adding to it is fine, removing is not.
    project = Project.create(
        tmp_path / "proj", venv="myvenv", spec='[python]\nvenv = "myvenv"\npackages = []\n'
    )
    venv = project.root / "myvenv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    extra = tmp_path / "theirs"
    (extra / "theirs").mkdir(parents=True)
    (extra / "theirs" / "__init__.py").write_text("")
    (extra / "pyproject.toml").write_text(MYPKG.replace("mypkg", "theirs").replace('["six"]', "[]"))
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(extra)], check=True, env=pip_env())
    result = project.devenv("sync", env=pip_env(), timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "was not created by devenv" in result.stderr and "theirs" in result.stderr
    assert subprocess.run([python, "-c", "import theirs"]).returncode == 0
