"""What the last sync recorded of the files [python].packages reads, and what changed since:
by part, and looked at only when a file's size or mtime moved."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import cast

import pytest

from devenv.package_inputs import (
    UNRECORDED,
    changed_parts,
    moved_since,
    recorded_paths,
    recording,
    stale_detail,
    watch,
)
from devenv.requirements import nested_references
from devenv.spec import Spec, load_spec
from devenv.store import PythonRecord

APP = '[project]\nname = "app"\nversion = "1"\ndependencies = ["six"]\n\n[dependency-groups]\ndev = ["iniconfig"]\n'


def spec_with(tmp_path: Path, *lines: str) -> Spec:
    body = "".join(f"    {json.dumps(line)},\n" for line in lines)
    (tmp_path / "envspec.toml").write_text(f"[python]\npackages = [\n{body}]\n")
    return load_spec(str(tmp_path))


def synced(spec: Spec, lock: str = "") -> PythonRecord:
    """A sync's record, made with the files dated 1 s back (not racy); `lock`: the committed
    lock it installed, by name."""
    for path in [entry[0] for entry in watch(spec)[0]] + [os.path.join(spec.root, lock)]:
        if os.path.isfile(path):
            past = os.stat(path).st_mtime_ns - 1_000_000_000
            os.utime(path, ns=(past, past))
    sha = hashlib.sha256((Path(spec.root) / lock).read_bytes()).hexdigest() if lock else "private"
    installed = {"packages": list(spec.python.packages), "lock": lock, "lock_sha256": sha}
    return recording(cast(PythonRecord, installed), watch(spec), spec.root)


def rewrite(path: Path, text: str) -> None:
    """Write `text`, dated 1 s after the file's old mtime (so its stat moves, and is not racy)."""
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(mtime + 1_000_000_000, mtime + 1_000_000_000))


@pytest.mark.parametrize(
    ("lines", "edit", "changed"),
    [
        (("-r pyproject.toml",), ('["six"]', '["six", "idna"]'), ["pyproject.toml [project].dependencies"]),
        (
            ("--group dev",),
            ('["iniconfig"]', '["iniconfig", "idna"]'),
            ["pyproject.toml [dependency-groups].dev"],
        ),
        (("--group dev",), ('["six"]', '["six", "idna"]'), []),
        (("-r pyproject.toml", "--group dev"), ('version = "1"', 'version = "2"'), []),
        (
            ("-r pyproject.toml",),
            ("[dependency-groups]", "[tool.ruff]\nline-length = 1\n\n[dependency-groups]"),
            [],
        ),
    ],
)
def test_only_the_parts_a_line_reads_count(
    tmp_path: Path, lines: tuple[str, ...], edit: tuple[str, str], changed: list[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(APP)
    spec = spec_with(tmp_path, *lines)
    record = synced(spec)
    assert recorded_paths(record) == [str(tmp_path / "pyproject.toml"), str(tmp_path / "pylock.toml")]
    rewrite(tmp_path / "pyproject.toml", APP.replace(*edit))
    found, kept = changed_parts(spec, record)
    assert found == changed
    if changed:
        assert kept is record
    else:  # the new stat is what the caller writes, so the next check is a stat again
        assert kept["package_files"] != record["package_files"]
        assert changed_parts(spec, kept) == ([], kept)


def test_an_unmoved_stat_is_trusted_without_reading_the_file(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(APP)
    spec = spec_with(tmp_path, "-r pyproject.toml")
    record = synced(spec)
    stat = pyproject.stat()
    broken = "x" * (stat.st_size - 1) + "\n"  # same size, not TOML: reading it would fail
    pyproject.write_text(broken)
    os.utime(pyproject, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert changed_parts(spec, record) == ([], record)


def test_a_requirements_file_counts_whole(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec)
    rewrite(tmp_path / "requirements.txt", "six\n# a comment\n")
    assert changed_parts(spec, record)[0] == ["requirements.txt"]
    assert stale_detail(["requirements.txt"]) == "requirements.txt changed since the last `devenv sync`"


def test_a_setup_cfg_added_to_a_local_project_counts_by_its_sections(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "pyproject.toml").write_text(
        '[project]\nname = "lib"\nversion = "1"\n\n[tool.mypy]\nstrict = true\n'
    )
    spec = spec_with(tmp_path, "-e ./lib")
    record = synced(spec)
    metadata = [str(lib / name) for name in ("pyproject.toml", "setup.cfg", "setup.py")]
    assert recorded_paths(record) == [*metadata, str(tmp_path / "pylock.toml")]
    rewrite(lib / "setup.cfg", "[flake8]\nmax-line-length = 100\n")
    assert changed_parts(spec, record)[0] == []
    rewrite(lib / "setup.cfg", "[options]\ninstall_requires = idna\n")
    assert changed_parts(spec, record)[0] == ["lib/setup.cfg [options] (added)"]


def test_a_record_from_before_these_files_were_kept_is_not_fresh(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(APP)
    old = cast(PythonRecord, {"packages": ["-r pyproject.toml"]})
    assert changed_parts(spec_with(tmp_path, "-r pyproject.toml"), old)[0] == [UNRECORDED]
    assert "older devenv" in stale_detail([UNRECORDED])
    assert changed_parts(spec_with(tmp_path), cast(PythonRecord, {"packages": []}))[0] == []


@pytest.mark.parametrize("name", ["pylock.toml", "pylock.linux.toml"])
def test_the_lock_installed_counts_by_its_sha256(tmp_path: Path, name: str) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    lock = tmp_path / name
    lock.write_text('lock-version = "1.0"\n')
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec, lock=name)
    assert str(lock) in recorded_paths(record)
    rewrite(lock, 'lock-version = "1.0"\n')  # a touch, or a checkout of the same bytes
    found, kept = changed_parts(spec, record)
    assert found == [] and kept["package_files"] != record["package_files"]
    assert changed_parts(spec, kept) == ([], kept)
    rewrite(lock, 'lock-version = "1.0"\n[[packages]]\nname = "six"\n')
    assert changed_parts(spec, kept)[0] == [name]
    assert stale_detail([name]) == f"{name} changed since the last `devenv sync`"
    lock.unlink()
    assert changed_parts(spec, kept)[0] == [f"{name} (removed)"]


def test_without_a_committed_lock_a_pylock_toml_that_appears_counts(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec)  # from .devenv/'s private lock
    (tmp_path / "requirements.txt").touch()
    assert changed_parts(spec, record)[0] == []
    rewrite(tmp_path / "pylock.toml", 'lock-version = "1.0"\n')  # `devenv lock`, or a pull
    assert changed_parts(spec, record)[0] == ["pylock.toml (added)"]


def test_a_lock_the_sync_did_not_install_is_not_watched(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n')
    (tmp_path / "pylock.macos.toml").write_text('lock-version = "1.0"\n')
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec, lock="pylock.toml")
    assert str(tmp_path / "pylock.macos.toml") not in recorded_paths(record)
    rewrite(tmp_path / "pylock.macos.toml", "# another platform's lock, re-locked\n")
    assert changed_parts(spec, record)[0] == []


def test_files_a_requirements_file_names_count_too(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "requirements.txt").write_text("-r reqs/base.txt\n--constraint=constraints.txt\nsix\n")
    (tmp_path / "reqs" / "base.txt").write_text("-r ../requirements.txt  # a cycle is read once\nidna\n")
    (tmp_path / "constraints.txt").write_text("idna<4\n")
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec)
    names = ("requirements.txt", "reqs/base.txt", "constraints.txt", "pylock.toml")
    assert recorded_paths(record) == [str(tmp_path / name) for name in names]
    rewrite(tmp_path / "reqs" / "base.txt", "idna>=3\n")
    assert changed_parts(spec, record)[0] == ["reqs/base.txt"]
    rewrite(tmp_path / "constraints.txt", "idna<5\n")
    assert changed_parts(spec, record)[0] == ["constraints.txt", "reqs/base.txt"]


@pytest.mark.parametrize(
    ("text", "files"),
    [
        ("-r base.txt\n-c constraints.txt\n", ["base.txt", "constraints.txt"]),
        ("--requirement base.txt\n--constraint=c.txt\n-rshort.txt\n", ["base.txt", "c.txt", "short.txt"]),
        ("six  # -r not-a-file.txt\n# -r commented.txt\n", []),
        ("-r \\\n  continued.txt\n", ["continued.txt"]),
        ("-r https://example.org/reqs.txt\n-e ./lib\n--requirements-typo x\n", []),
        ("  -r indented.txt  # why\n", ["indented.txt"]),
    ],
)
def test_nested_references_read_as_pip_reads_them(text: str, files: list[str]) -> None:
    assert nested_references(text) == files


def test_a_lock_changed_after_the_sync_read_it_is_not_recorded_as_installed(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n')
    spec = spec_with(tmp_path, "-r requirements.txt")
    installed = hashlib.sha256(lock.read_bytes()).hexdigest()
    watched = watch(spec)
    rewrite(lock, 'lock-version = "1.0"\n# pulled while the installer ran\n')
    python = cast(
        PythonRecord, {"packages": ["-r requirements.txt"], "lock": "pylock.toml", "lock_sha256": installed}
    )
    record = recording(python, watched, str(tmp_path))
    assert changed_parts(spec, record)[0] == ["pylock.toml"]


def test_env_nul_is_not_fresh_for_a_file_edited_after_the_sync_read_it(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    spec = spec_with(tmp_path, "-r requirements.txt")
    record = synced(spec)
    path = str(tmp_path / "requirements.txt")
    size, mtime = next((size, mtime) for name, size, mtime in record["package_files"] if name == path)
    spec_stamp = (str(tmp_path / "envspec.toml"), "10", "1")
    assert not moved_since(record, [spec_stamp, (path, size, mtime)])
    assert moved_since(record, [spec_stamp, (path, size, str(int(mtime) + 1))])
    assert moved_since(record, [(str(tmp_path / "pylock.toml"), "5", "1")])  # recorded absent
