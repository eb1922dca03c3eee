"""The interpreter-facts cache (`.devenv/interpreters.json`): an interpreter is started once
while it is unchanged, again as soon as anything its facts depend on changes, and the cache
obeys `.devenv/`'s rules (bound to its checkout, never through a link, never another user's).

The "interpreter" here is a real shell script that counts its starts in a file and then
execs the real Python, so every test sees whether a probe really ran it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from devenv import interpreter_cache
from devenv.errors import StateError
from devenv.interpreters import pip_version, probe_interpreter
from devenv.layout import INTERPRETERS, state_path


@pytest.fixture(autouse=True)
def _forget() -> None:
    interpreter_cache._READ.clear()  # each test reads the file as a new process would


def _counting_python(folder: Path) -> tuple[str, Path]:
    count = folder / "starts"
    script = folder / "bin" / "python"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\necho start >> "{count}"\nexec "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    old = time.time_ns() - 2_000_000_000  # written well before any probe: not racy
    os.utime(script, ns=(old, old))
    return str(script), count


def _starts(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


def _project(tmp_path: Path, name: str = "project") -> str:
    root = tmp_path / name
    (root / ".devenv").mkdir(parents=True)
    return str(root)


def test_an_unchanged_interpreter_is_started_once(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    first = probe_interpreter(python, root=root, remember=True)
    interpreter_cache._READ.clear()
    second = probe_interpreter(python, root=root)
    assert first is not None and first == second
    assert first.version == ".".join(map(str, sys.version_info[:3]))
    assert _starts(count) == 1
    assert os.stat(state_path(root, INTERPRETERS)).st_mode & 0o777 == 0o600


def test_without_remember_nothing_is_written(tmp_path: Path) -> None:
    """doctor and `lock --check` only read the cache."""
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root)
    probe_interpreter(python, root=root)
    assert _starts(count) == 2
    assert not os.path.exists(state_path(root, INTERPRETERS))


def test_a_changed_interpreter_is_probed_again(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root, remember=True)
    later = time.time_ns() - 1_000_000_000
    os.utime(python, ns=(later, later))  # rebuilt in place: same path and size, another mtime
    interpreter_cache._READ.clear()
    probe_interpreter(python, root=root)
    assert _starts(count) == 2


def test_a_new_pyvenv_cfg_is_probed_again(tmp_path: Path) -> None:
    """A venv re-made with another base interpreter keeps its bin/python path."""
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root, remember=True)
    (tmp_path / "pyvenv.cfg").write_text("home = /somewhere/else\n")
    interpreter_cache._READ.clear()
    probe_interpreter(python, root=root)
    assert _starts(count) == 2


def test_an_interpreter_changed_just_now_is_remembered_only_once_quiet(tmp_path: Path) -> None:
    """A change in the same clock tick as the probe could hide behind an unchanged stamp:
    nothing changed less than RACY_NS before a probe is stored; `probe_interpreter` waits
    that long before a probe it is to remember."""
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    os.utime(python)  # changed now
    now = interpreter_cache.stamp(python)
    interpreter_cache.remember(root, python, {"any": "facts"}, started_ns=time.time_ns(), before=now)
    assert not os.path.exists(state_path(root, INTERPRETERS))
    os.utime(python)
    probe_interpreter(python, root=root, remember=True)
    interpreter_cache._READ.clear()
    probe_interpreter(python, root=root)
    assert _starts(count) == 1


def test_the_pip_version_is_read_afresh_not_cached(tmp_path: Path) -> None:
    python, _ = _counting_python(tmp_path)
    root = _project(tmp_path)
    first = probe_interpreter(python, root=root, remember=True)
    assert first is not None
    document = json.loads(Path(state_path(root, INTERPRETERS)).read_text())
    entry = document["interpreters"][python]
    assert "pip" not in entry["facts"]
    site = tmp_path / "site"
    _fake_dist(site, "pip", "99.1")
    entry["facts"]["sys_path"] = [str(site)]
    Path(state_path(root, INTERPRETERS)).write_text(json.dumps(document))
    interpreter_cache._READ.clear()
    again = probe_interpreter(python, root=root)
    assert again is not None and again.pip == "99.1"


def _fake_dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")


def test_pip_version_agrees_with_importlib_metadata(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _fake_dist(first, "pipx", "1.0")  # another project whose name starts with pip
    _fake_dist(first, "pip", "24.2")
    _fake_dist(second, "pip", "23.0")
    path = [str(tmp_path / "missing"), str(first), str(second)]
    expected = next(importlib.metadata.distributions(name="pip", path=path)).version
    assert pip_version(path) == expected == "24.2"
    assert pip_version([str(tmp_path / "missing")]) == ""


def test_a_copied_cache_is_not_trusted_by_another_checkout(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root, remember=True)
    copy = _project(tmp_path, "copy")
    shutil.copy2(state_path(root, INTERPRETERS), state_path(copy, INTERPRETERS))
    probe_interpreter(python, root=copy)
    assert _starts(count) == 2


def test_a_linked_cache_is_neither_read_nor_written_through(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root, remember=True)
    elsewhere = tmp_path / "elsewhere.json"
    os.replace(state_path(root, INTERPRETERS), elsewhere)
    os.symlink(elsewhere, state_path(root, INTERPRETERS))
    before = elsewhere.read_bytes()
    interpreter_cache._READ.clear()
    later = time.time_ns() - 1_000_000_000
    os.utime(python, ns=(later, later))
    with pytest.raises(StateError, match="symlink"):
        probe_interpreter(python, root=root, remember=True)
    assert _starts(count) == 2
    assert elsewhere.read_bytes() == before


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_another_users_cache_is_not_trusted(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    probe_interpreter(python, root=root, remember=True)
    os.chown(state_path(root, INTERPRETERS), 12345, 12345)
    interpreter_cache._READ.clear()
    probe_interpreter(python, root=root)
    assert _starts(count) == 2


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path) -> None:
    python, count = _counting_python(tmp_path)
    root = _project(tmp_path)
    Path(state_path(root, INTERPRETERS)).write_text('{"schema": 1, "interpreters": ')
    found = probe_interpreter(python, root=root, remember=True)
    assert found is not None and _starts(count) == 1
    interpreter_cache._READ.clear()
    assert probe_interpreter(python, root=root) == found
    assert _starts(count) == 1
