"""What `devenv lock` and `devenv sync` print while they work (on a real terminal and without
one), and a real second index (`--extra-index-url`): packages made here, served by
`python -m http.server` on loopback, resolved and installed by the real uv."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.projects import DEVENV, Project, index_env
from tests.support.tiny_index import LocalIndex, write_sdist, write_wheel

#: What uv itself prints (to the pipe devenv reads): none of it may reach the user.
UV_CHATTER = (
    "Resolved ",
    "Prepared ",
    "Installed ",
    "Using Python",
    "Building ",
    "Built ",
    " + devenv-probe",
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """devenv-probe-base (a wheel) and devenv-probe-built (only an sdist, which depends on it)."""
    local = LocalIndex(tmp_path_factory.mktemp("index"))
    files = {"devenv_probe_base/__init__.py": "VALUE = 'from the second index'\n"}
    local.add("devenv-probe-base", write_wheel(local.files, "devenv-probe-base", "1.0", [], files))
    module = "from devenv_probe_base import VALUE\n"
    local.add(
        "devenv-probe-built",
        write_sdist(local.files, "devenv-probe-built", "1.0", ["devenv-probe-base"], module),
    )
    with local:
        yield local


def env(cache: Path, **extra: str) -> dict[str, str]:
    # A cache of its own: uv downloads (and builds) what the step under test needs.
    return index_env(UV_CACHE_DIR=str(cache), **extra)


def on_a_terminal(project: Project, args: list[str], environ: dict[str, str]) -> tuple[int, str]:
    """Run devenv with stdin, stdout and stderr on a real pseudo-terminal; its exit code and
    everything it drew there."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [DEVENV, *args], cwd=project.root, env=environ, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal's other end has closed it
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return process.wait(timeout=300), output.decode("utf-8", "replace")


def probe_project(tmp_path: Path, packages: str) -> Project:
    spec = f'[python]\nrequires = ">=3.11"\npackages = [{packages}]\n'
    return Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec)


def installed(project: Project) -> dict[str, str]:
    document = json.loads((project.root / ".devenv" / "env.json").read_text())
    return dict(entry.split("==", 1) for entry in document["python"]["installed"])


def test_on_a_terminal_lock_and_sync_show_phases_counts_and_the_source_build(
    index: LocalIndex, tmp_path: Path
) -> None:
    project = probe_project(tmp_path, '"devenv-probe-built"')
    code, lock = on_a_terminal(project, ["lock", "--index-url", index.url], env(tmp_path / "lock-cache"))
    assert code == 0, lock
    assert "devenv: resolving 1 package line with uv for every platform" in lock
    assert "devenv: resolved 2 packages" in lock
    code, sync = on_a_terminal(project, ["sync"], env(tmp_path / "sync-cache"))
    assert code == 0, sync
    for phase in (
        "devenv: installing pylock.toml (hash-checked)",
        "devenv: building devenv-probe-built from source: no wheel for this platform",
        "devenv: installed 2 packages",
    ):
        assert phase in sync
    for chatter in UV_CHATTER:
        assert chatter not in lock and chatter not in sync
    assert installed(project) == {"devenv-probe-base": "1.0", "devenv-probe-built": "1.0"}


def test_without_a_terminal_each_phase_is_one_plain_line(index: LocalIndex, tmp_path: Path) -> None:
    project = probe_project(tmp_path, '"devenv-probe-built"')
    lock = project.devenv("lock", "--index-url", index.url, env=env(tmp_path / "lock-cache"), timeout=300)
    assert lock.returncode == 0, lock.stderr
    sync = project.devenv("sync", env=env(tmp_path / "sync-cache"), timeout=300)
    assert sync.returncode == 0, sync.stderr
    for result in (lock, sync):
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith("devenv: ") for line in lines), result.stderr
        assert len(lines) == len(set(lines)), "a phase was printed twice"
        assert "\r" not in result.stderr and "\x1b" not in result.stderr  # nothing drawn in place
        assert not any(chatter in result.stderr for chatter in UV_CHATTER)
    assert lock.stderr.splitlines()[:2] == [
        "devenv: resolving 1 package line with uv for every platform",
        "devenv: resolved 2 packages",
    ]
    assert [line for line in sync.stderr.splitlines() if "creating" not in line and "wrote" not in line] == [
        "devenv: installing pylock.toml (hash-checked)",
        "devenv: building devenv-probe-built from source: no wheel for this platform",
        "devenv: downloaded or built 2 packages",
        "devenv: installed 2 packages",
    ]


def test_an_extra_index_is_locked_without_its_credentials_kept_on_relock_and_installed_from(
    index: LocalIndex, tmp_path: Path
) -> None:
    project = probe_project(tmp_path, '"six", "devenv-probe-base"')
    extra = index.url.replace("http://", "http://${PROBE_USER}:${PROBE_TOKEN}@")
    secrets = {"PROBE_USER": "someone", "PROBE_TOKEN": "t0ken-never-written"}
    missing = project.devenv("lock", "--extra-index-url", extra, env=env(tmp_path / "c0"), timeout=300)
    assert missing.returncode == 2 and "${PROBE_USER}, which is not set" in missing.stderr
    result = project.devenv(
        "lock", "--extra-index-url", extra, env=env(tmp_path / "c1", **secrets), timeout=300
    )
    assert result.returncode == 0, result.stderr

    def check_lock() -> None:
        text = (project.root / "pylock.toml").read_text()
        assert "someone" not in text and "t0ken-never-written" not in text
        lock = tomllib.loads(text)
        assert lock["tool"]["devenv"]["index-url"] == "https://pypi.org/simple"
        assert lock["tool"]["devenv"]["extra-index-urls"] == [extra]
        files = {package["name"]: package["wheels"][0]["url"] for package in lock["packages"]}
        assert files["devenv-probe-base"] == index.url.replace("/simple/", "/files/") + (
            "devenv_probe_base-1.0-py3-none-any.whl"
        )
        assert files["six"].startswith("https://files.pythonhosted.org/")

    check_lock()
    sync = project.devenv("sync", "--frozen", env=env(tmp_path / "c2", **secrets), timeout=300)
    assert sync.returncode == 0, sync.stderr
    assert "GET /files/devenv_probe_base-1.0-py3-none-any.whl" in index.requests()
    value = project.devenv("run", "--", "python", "-c", "import devenv_probe_base as m; print(m.VALUE)")
    assert value.stdout == "from the second index\n", value.stderr
    # An edit re-locks on the next sync, and a plain `devenv lock` locks again: both against
    # the recorded indexes, without being told them again.
    project.write(
        "envspec.toml",
        project.root.joinpath("envspec.toml").read_text().replace('"six"', '"six", "iniconfig"'),
    )
    resync = project.devenv("sync", env=env(tmp_path / "c2", **secrets), timeout=300)
    assert resync.returncode == 0 and "locking again" in resync.stderr, resync.stderr
    check_lock()
    assert {"iniconfig", "devenv-probe-base"} <= set(installed(project))
    relock = project.devenv("lock", env=env(tmp_path / "c2", **secrets), timeout=300)
    assert relock.returncode == 0, relock.stderr
    check_lock()
    assert project.devenv("lock", "--check", env=env(tmp_path / "c2", **secrets)).returncode == 0
