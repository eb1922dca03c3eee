"""What an adversarial pass found: another project's venv, links under `.devenv/`, leftovers
of killed commands, inputs that are not files, values that came out wrong.

Real `devenv` CLI, real venvs made by devenv, real FIFOs, sockets and links.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_state import assert_clean_error, print_env_json
from tests.support.projects import DEFAULT_SPEC, DEVENV, Project, hermetic_env

# -- another project's venv --------------------------------------------------------------------

#: A project whose venv devenv makes itself (no packages: the venv holds pip only).
OWN_VENV_SPEC = """\
[project]
name = "{name}"

[python]
venv = "{venv}"
"""


def fake_distribution(venv: Path, name: str) -> Path:
    """Install a distribution by hand (what pip leaves: dist-info with METADATA and RECORD)."""
    site = next((venv / "lib").glob("python*/site-packages"))
    module = site / f"{name}.py"
    module.write_text("VALUE = 1\n")
    info = site / f"{name}-1.0.dist-info"
    shutil.rmtree(info, ignore_errors=True)
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(
        f"{name}.py,,\n{info.name}/METADATA,,\n{info.name}/INSTALLER,,\n{info.name}/RECORD,,\n"
    )
    return module


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A synced project with a venv devenv made, holding one package the others do not list."""
    root = tmp_path_factory.mktemp("owner") / "owner"
    project = Project.create(
        root, venv=".devenv/venv", spec=OWN_VENV_SPEC.format(name="owner", venv=".devenv/venv")
    )
    project.sync()
    fake_distribution(root / ".devenv" / "venv", "victim")
    return project


def test_sync_refuses_the_venv_devenv_made_for_another_project(owner: Project, tmp_path: Path) -> None:
    venv = owner.root / ".devenv" / "venv"
    other = Project.create(
        tmp_path / "other", venv=str(venv), spec=OWN_VENV_SPEC.format(name="other", venv=venv)
    )
    result = other.devenv("sync")
    assert_clean_error(result, "is the venv devenv made for another project", str(owner.root))
    assert "envspec.toml" in result.stderr and "[python].venv" in result.stderr
    assert (next((venv / "lib").glob("python*/site-packages")) / "victim.py").exists(), (
        "its package was removed"
    )
    assert not (other.root / ".devenv").exists(), "something was written before the refusal"


def test_sync_refuses_the_active_venv_of_another_project(shared_venv: str, tmp_path: Path) -> None:
    project = Project.create(
        tmp_path / "proj", venv=shared_venv, spec=OWN_VENV_SPEC.format(name="p", venv=shared_venv)
    )
    shell = hermetic_env(VIRTUAL_ENV=shared_venv, DEVENV_ROOT=str(tmp_path / "elsewhere"))
    result = project.devenv("sync", env=shell)
    assert_clean_error(result, "is the active $VIRTUAL_ENV of another project", str(tmp_path / "elsewhere"))
    assert project.devenv("sync").returncode == 0, "the same venv from a neutral shell is fine"


def test_the_owner_itself_still_syncs_its_venv(owner: Project) -> None:
    result = owner.devenv("sync")
    assert result.returncode == 0, result.stderr
    assert not (
        next((owner.root / ".devenv/venv/lib").glob("python*/site-packages")) / "victim.py"
    ).exists(), "the owner's exact sync removes what its lock does not list"
    fake_distribution(owner.root / ".devenv" / "venv", "victim")


# -- values that came out wrong ----------------------------------------------------------------


def test_nested_defaults_expand_as_the_shell_does(project: Project) -> None:
    project.write(
        ".env",
        "EMPTY=\nBEE=bee\nX=${EMPTY:-${BEE}}\nY=${NOPE:-${EMPTY:-deep}}\nZ=${BEE:-${NOPE}}\nW=${NOPE:-lit}}\n",
    )
    project.sync()
    values = print_env_json(project)
    shell = subprocess.run(
        ["sh", "-c", 'EMPTY=; BEE=bee; printf "%s|" "${EMPTY:-${BEE}}" "${NOPE:-${EMPTY:-deep}}" '
         '"${BEE:-${NOPE}}" "${NOPE:-lit}}"'],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "|".join(values[key] for key in "XYZW") + "|" == shell.stdout == "bee|deep|bee|lit}|"


def test_a_byte_order_mark_inside_a_key_is_refused(project: Project) -> None:
    project.sync()
    (project.root / ".env").write_bytes(b"\xef\xbb\xbf\xef\xbb\xbfGREETING=bom\n")
    result = project.devenv("print-env")
    assert_clean_error(result, ".env:1: a byte order mark (U+FEFF) is part of the variable name")
    (project.root / ".env").write_bytes(b"GREETING=ok\n\xef\xbb\xbfOTHER=bom\n")
    assert_clean_error(project.devenv("print-env"), ".env:2: a byte order mark")
    (project.root / ".env").write_bytes(b"\xef\xbb\xbfGREETING=one-bom-is-fine\n")
    assert print_env_json(project)["GREETING"] == "one-bom-is-fine"


# -- inputs that are not regular files ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "folder"])
def test_a_dotenv_that_is_not_a_regular_file_is_exit_2_at_once(project: Project, kind: str) -> None:
    project.sync()
    path = project.root / ".env"
    listener = None
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
    elif kind == "device":
        path.symlink_to("/dev/zero")  # a link to a device: the device is what would be read
    else:
        path.mkdir()
    words = {"fifo": "a FIFO", "socket": "a socket", "device": "a device", "folder": "a folder"}
    try:
        for args in (("print-env",), ("run", "--", "true"), ("sync",)):
            result = project.devenv(*args, timeout=20)
            assert_clean_error(result, f".env: is {words[kind]}, not a file")
    finally:
        if listener is not None:
            listener.close()


def test_an_envspec_that_is_a_fifo_is_exit_2_at_once(project: Project) -> None:
    (project.root / "envspec.toml").unlink()
    os.mkfifo(project.root / "envspec.toml")
    assert_clean_error(project.devenv("sync", timeout=20), "envspec.toml: is a FIFO")


@pytest.mark.parametrize("entry", ["-e ./app", "-r app/pyproject.toml[dev]"])
def test_a_local_project_s_pyproject_that_is_a_fifo_is_exit_2_naming_it(project: Project, entry: str) -> None:
    # Its metadata is hashed for the lock (and read for -r); a plain open() of a FIFO with
    # no writer waited forever, and pip would have after it.
    spec = DEFAULT_SPEC.format(venv=project.venv)
    project.write("envspec.toml", spec.replace("[paths]", f'packages = ["{entry}"]\n\n[paths]', 1))
    project.write("app/setup.py", "from setuptools import setup\nsetup(name='app')\n")
    os.mkfifo(project.root / "app" / "pyproject.toml")
    fifo = project.root / "app" / "pyproject.toml"
    for args in (("lock",), ("sync",)):
        assert_clean_error(project.devenv(*args, timeout=20), f"{fifo}: is a FIFO, not a file")


def test_deeply_nested_toml_is_a_clean_error_with_its_line(project: Project) -> None:
    spec = DEFAULT_SPEC.format(venv=project.venv) + "\n[x]\ny = " + "[" * 600 + "]" * 600 + "\n"
    path = project.write("envspec.toml", spec)
    line = spec.count("\n", 0, spec.index("[" * 600)) + 1
    assert_clean_error(project.devenv("sync"), f"{path}:{line}: arrays or tables nested more than 100 levels")


def test_a_deeply_nested_env_json_to_compare_is_a_clean_error(project: Project, tmp_path: Path) -> None:
    project.sync()
    other = tmp_path / "env.json"
    other.write_text('{"variables":\n' + "[" * 5000 + "]" * 5000 + "}\n")
    result = project.devenv("diff", str(other))
    assert_clean_error(result, f"{other}:2: arrays or tables nested more than 100 levels")


# -- leftovers of killed commands --------------------------------------------------------------


def test_a_temporary_folder_of_a_killed_lock_is_removed_and_never_blocks(project: Project) -> None:
    project.sync()
    folder = project.root / ".devenv"
    # What `devenv lock` killed by SIGKILL leaves (tempfile.TemporaryDirectory never cleaned up).
    scratch = folder / ".tmp-lock-k1ll3d"
    scratch.mkdir()
    (scratch / "requirements.txt").write_text("six\n")
    project.write(".env", "GREETING=after-the-kill\n")
    result = project.devenv("print-env", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["GREETING"] == "after-the-kill"
    assert not scratch.exists()
    (folder / ".tmp-local-k1ll3d").mkdir()
    assert project.devenv("sync").returncode == 0
    assert not (folder / ".tmp-local-k1ll3d").exists()


def test_a_leftover_that_is_a_link_is_removed_itself_never_its_target(
    project: Project, tmp_path: Path
) -> None:
    project.sync()
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "data.txt").write_text("precious\n")
    (project.root / ".devenv" / ".tmp-lock-linked").symlink_to(keep)
    project.write(".env", "GREETING=again\n")
    assert project.devenv("print-env").returncode == 0
    assert not os.path.lexists(project.root / ".devenv" / ".tmp-lock-linked")
    assert (keep / "data.txt").read_text() == "precious\n"


def test_the_storm_benchmark_syncs_a_venv_of_its_own(owner: Project) -> None:
    """benchmarks/storm.py once synced its projects into the active venv (devenv's own when
    run as the README says), uninstalling all of it; here the active venv is a throw-away one."""
    venv = owner.root / ".devenv" / "venv"
    repository = Path(__file__).resolve().parents[2]
    env = hermetic_env(VIRTUAL_ENV=str(venv), PYTHONPATH=str(repository))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    result = subprocess.run(
        [sys.executable, "benchmarks/storm.py", "--storms", "1", "--readers", "1", "--writes", "2"],
        cwd=repository, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (next((venv / "lib").glob("python*/site-packages")) / "victim.py").exists(), (
        "the active venv was synced"
    )


# -- state bound to its checkout -------------------------------------------------------------


def test_a_copied_checkout_never_gets_the_originals_environment(owner: Project, tmp_path: Path) -> None:
    spec = OWN_VENV_SPEC.format(name="owner", venv=".devenv/venv") + '[dotenv]\nfiles = [".env.defaults"]\n'
    owner.write("envspec.toml", spec)
    owner.write(".env.defaults", "GREETING=original\n")
    owner.sync()
    copy = tmp_path / "copy"
    shutil.copytree(owner.root, copy, symlinks=True)
    (copy / ".env.defaults").write_text("GREETING=edited-in-the-copy\n")
    clone = Project(root=copy, venv=".devenv/venv")
    stale = clone.devenv("print-env", "--format", "json")
    assert_clean_error(stale, "written for another checkout", str(owner.root), "devenv sync")
    synced = clone.devenv("sync")
    assert synced.returncode == 0, synced.stderr
    assert "nothing to install" not in synced.stderr
    assert "copied with the checkout" in synced.stderr
    values = print_env_json(clone)
    assert values["GREETING"] == "edited-in-the-copy"
    assert values["DEVENV_ROOT"] == str(copy) and values["VIRTUAL_ENV"] == str(copy / ".devenv" / "venv")
    assert print_env_json(owner)["GREETING"] == "original", "the original is untouched"
    fake_distribution(owner.root / ".devenv" / "venv", "victim")  # its exact sync removed it


def test_a_committed_devenv_is_never_trusted(project: Project, tmp_path: Path) -> None:
    """A repository that commits .devenv/ written for the path it will be cloned to."""
    git = shutil.which("git")
    assert git, "git is needed to make the repository"
    project.sync()
    forged = project.root / ".devenv"
    # What the forger commits: the real state of a checkout at this very path, plus a code
    # key no .env may set, written into env.nul directly.
    nul = (forged / "env.nul").read_bytes()
    (forged / "env.nul").write_bytes(nul.replace(b"\0V\0", b"\0V\0BASH_ENV\0/tmp/forged-bash-env\0V\0", 1))
    subprocess.run([git, "init", "-q", str(project.root)], check=True)
    subprocess.run([git, "-C", str(project.root), "add", "-f", "."], check=True)
    identity = ["-c", "user.name=f", "-c", "user.email=f@example.com"]
    subprocess.run([git, "-C", str(project.root), *identity, "commit", "-qm", "forged"], check=True)
    clone = tmp_path / "clone"
    shutil.move(project.root, clone)  # the victim's clone: same text as the forger's path
    subprocess.run([git, "clone", "-q", str(clone), str(project.root)], check=True)
    victim = Project(root=project.root, venv=project.venv)
    for args in (("print-env",), ("run", "--", "true"), ("sync", "--frozen"), ("sync",)):
        result = victim.devenv(*args)
        assert_clean_error(result, "tracked by git", "git rm -r --cached .devenv")
        assert "forged-bash-env" not in result.stdout


def test_another_users_state_is_refused(project: Project) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    project.sync()
    os.chown(project.root / ".devenv" / "env.json", 4242, 4242)
    os.chown(project.root / ".devenv" / "env.nul", 4242, 4242)
    result = project.devenv("print-env")
    assert_clean_error(result, "env.json belongs to another user (uid 4242)")


# -- no link followed under .devenv/ -----------------------------------------------------------

LINKED_SPEC_TAIL = """
[services.package]
check = "tcp"
url = "127.0.0.1:{port}"
start = ["true"]
timeout = 2

[processes.web]
command = ["python", "-c", "print('ready', flush=True); import time; time.sleep(30)"]
ready = {{ log = "^ready" }}
needs = [{needs}]
"""


def linked_project(project: Project, *, needs: str = "") -> dict[str, bytes]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv) + LINKED_SPEC_TAIL.format(port=port, needs=needs),
    )
    project.sync()
    files = {"package.json": b'{"name": "app"}\n', "tsconfig.json": b"{}\n"}
    for name, data in files.items():
        (project.root / name).write_bytes(data)
    return files


def assert_untouched(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        assert not path.is_symlink() and path.read_bytes() == data, f"{name} was changed through a link"


def test_stop_never_deletes_through_a_linked_runs_folder(project: Project) -> None:
    files = linked_project(project)
    (project.root / ".devenv" / "runs").symlink_to("..")  # .devenv/runs -> .devenv/.. = the project
    assert_clean_error(project.devenv("stop", "--all"), ".devenv/runs is a symlink")
    assert_clean_error(project.devenv("up", "web"), ".devenv/runs is a symlink")
    assert_untouched(project.root, files)


def test_a_service_record_is_never_written_through_a_linked_services_folder(project: Project) -> None:
    files = linked_project(project, needs='"package"')
    (project.root / ".devenv" / "services").symlink_to("..")
    assert_clean_error(project.devenv("up", "web"), ".devenv/services is a symlink")
    assert_untouched(project.root, files)


def test_a_log_is_never_written_through_a_linked_logs_folder(project: Project, tmp_path: Path) -> None:
    linked_project(project)
    mine = tmp_path / "my-logs"
    mine.mkdir()
    files = {"web.log": b"my own log\n"}
    (mine / "web.log").write_bytes(files["web.log"])
    (project.root / ".devenv" / "logs").symlink_to(mine)
    assert_clean_error(project.devenv("up", "web"), ".devenv/logs is a symlink")
    assert_untouched(mine, files)
    assert sorted(p.name for p in mine.iterdir()) == ["web.log"]


# -- never a half-written file served ----------------------------------------------------------


def test_in_place_writers_against_readers_serve_no_torn_read(shared_venv: str, tmp_path: Path) -> None:
    from tests.support import torn

    project = Project.create(tmp_path / "proj", venv=shared_venv, spec=torn.SPEC.format(venv=shared_venv))
    project.write(".env", torn.text(0))
    project.sync()
    result = torn.storm(DEVENV, str(project.root), hermetic_env(), writes=60, readers=3, seed=18)
    # Reads were served between bursts, and some began mid-burst (so the check had work to do).
    assert result.served >= 3 and result.waited >= 1, result
    assert not result.torn, f"{len(result.torn)} of {result.served} reads were served torn: {result.torn[:5]}"
    assert print_env_json(project)[torn.KEY] == "v000059-end", "the last complete write is served afterwards"
