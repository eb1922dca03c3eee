"""The cache of lock parses (`.devenv/locks.json`): an unchanged lock is read from it as
parsing would read it, an edited one is parsed again whatever its size and mtime, and the
cache obeys `.devenv/`'s rules (bound to its checkout, never another schema's)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from devenv import lock_cache
from devenv.layout import LOCKS, state_path
from devenv.lock import integrity_problems, read_lock

LOCK = """\
lock-version = "1.0"
requires-python = ">=3.11"
created-by = "devenv"

[[packages]]
name = "Requests_OAuthlib"
version = "2.0.0"
marker = "python_version >= '3.8'"

[[packages.wheels]]
url = "https://files.pythonhosted.org/requests_oauthlib-2.0.0-py2.py3-none-any.whl"
hashes = {{ sha256 = "{sha}" }}

[[packages]]
name = "local"
directory = {{ path = "." }}

[tool.devenv]
installer = "uv"
index-url = "https://pypi.org/simple"
inputs = {{ requires = "123" }}
"""


@pytest.fixture(autouse=True)
def _forget() -> None:
    lock_cache._READ.clear()  # each test reads the file as a new process would


def _project(tmp_path: Path, sha: str = "a" * 64) -> tuple[str, str]:
    root = tmp_path / "project"
    (root / ".devenv").mkdir(parents=True)
    (root / "pylock.toml").write_text(LOCK.format(sha=sha))
    return str(root), str(root / "pylock.toml")


def _remembered(root: str, path: str) -> None:
    lock_cache.remember(root, read_lock(path, root=root))
    lock_cache._READ.clear()


def test_an_unchanged_lock_is_read_from_the_cache_as_parsing_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, path = _project(tmp_path)
    parsed = read_lock(path)
    _remembered(root, path)
    import tomllib

    monkeypatch.setattr(tomllib, "loads", lambda text: pytest.fail("the lock was parsed again"))
    assert read_lock(path, root=root) == parsed


def test_an_edited_lock_is_parsed_again_though_its_size_and_mtime_are_the_same(tmp_path: Path) -> None:
    root, path = _project(tmp_path)
    _remembered(root, path)
    before = os.stat(path)
    Path(path).write_text(LOCK.format(sha="b" * 64))  # a hash changed by hand, same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    lock = read_lock(path, root=root)
    assert lock.entries[0].files[0][1] == "b" * 64
    assert lock == read_lock(path)


def test_a_cached_parse_keeps_what_lock_check_looks_at(tmp_path: Path) -> None:
    root, path = _project(tmp_path, sha="")
    _remembered(root, path)
    lock = read_lock(path, root=root)
    assert lock.entries[1].directory == root  # made absolute, as parsing does
    assert integrity_problems(lock) == integrity_problems(read_lock(path))
    assert any("has no sha256" in problem for problem in integrity_problems(lock))


def test_a_cache_copied_with_the_checkout_or_of_another_schema_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, path = _project(tmp_path)
    _remembered(root, path)
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    import tomllib

    parses = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: parses.append(1) or real(text))
    copied = read_lock(os.path.join(copy, "pylock.toml"), root=copy)
    assert copied.entries[1].directory == copy and parses == [1]
    document = json.loads(Path(state_path(root, LOCKS)).read_text())
    Path(state_path(root, LOCKS)).write_text(json.dumps(document | {"schema": lock_cache.SCHEMA + 1}))
    lock_cache._READ.clear()
    read_lock(path, root=root)
    assert parses == [1, 1]


def test_a_lock_with_a_date_in_its_tool_table_is_not_cached(tmp_path: Path) -> None:
    root, path = _project(tmp_path)
    Path(path).write_text(LOCK.format(sha="a" * 64) + "made = 2026-01-02T03:04:05Z\n")
    lock_cache.remember(root, read_lock(path))
    assert not os.path.exists(state_path(root, LOCKS))
