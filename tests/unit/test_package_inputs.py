"""What the last sync recorded of the files [python].packages reads, and what changed since:
by part, and looked at only when a file's size or mtime moved."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import cast

import pytest

from devenv.package_inputs import UNRECORDED, changed_parts, recorded_paths, recording, stale_detail, watch
from devenv.spec import Spec, load_spec
from devenv.store import PythonRecord

APP = '[project]\nname = "app"\nversion = "1"\ndependencies = ["six"]\n\n[dependency-groups]\ndev = ["iniconfig"]\n'


def spec_with(tmp_path: Path, *lines: str) -> Spec:
    body = "".join(f"    {json.dumps(line)},\n" for line in lines)
    (tmp_path / "envspec.toml").write_text(f"[python]\npackages = [\n{body}]\n")
    return load_spec(str(tmp_path))


def synced(spec: Spec) -> PythonRecord:
    """A sync's record, made with the files dated 1 s back (not racy)."""
    for entry in watch(spec)[0]:
        if os.path.exists(entry[0]):
            past = os.stat(entry[0]).st_mtime_ns - 1_000_000_000
            os.utime(entry[0], ns=(past, past))
    return recording(cast(PythonRecord, {"packages": list(spec.python.packages)}), watch(spec))


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
    assert recorded_paths(record) == [str(tmp_path / "pyproject.toml")]
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
    assert recorded_paths(record) == [str(lib / name) for name in ("pyproject.toml", "setup.cfg", "setup.py")]
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
