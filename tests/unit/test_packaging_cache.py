"""What packaging answered (`.devenv/packaging.json`): an answer is asked once and then read
back as packaging gave it, a question packaging refuses is asked again every time (so its
message stays packaging's own), and a record of other code or another checkout is ignored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devenv import packaging_cache
from devenv.errors import SpecError
from devenv.layout import PACKAGING, state_path
from devenv.requirements import parse_packages
from devenv.spec import load_spec


@pytest.fixture(autouse=True)
def _forget() -> None:
    packaging_cache._READ.clear()  # each test reads the file as a new process would
    packaging_cache._PENDING.clear()


def _root(tmp_path: Path) -> str:
    root = tmp_path / "project"
    (root / ".devenv").mkdir(parents=True)
    return str(root)


def _asked(root: str, kind: str, question: str, value: object) -> list[str]:
    calls: list[str] = []

    def compute() -> object:
        calls.append(question)
        return value

    packaging_cache.answer(root, kind, question, compute)
    return calls


def test_an_answer_is_asked_once_and_read_back_by_the_next_process(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert packaging_cache.requirement(root, "Six_Py[x] >= 1.16") == ("six-py", "")
    assert packaging_cache.contains(root, ">=3.11", "3.12.0rc1")  # pre-releases included
    assert not packaging_cache.contains(root, ">=3.11", "3.10.9")
    assert packaging_cache.lowest_minor(root, ">=3.10.2,<3.13") == "3.10"
    environment = {"sys_platform": "linux", "python_version": "3.11", "extras": frozenset()}
    assert not packaging_cache.marker_holds(root, "sys_platform == 'win32'", environment)
    packaging_cache.save(root)
    packaging_cache._READ.clear()
    for kind, question, value in [
        ("requirement", "Six_Py[x] >= 1.16", ["six-py", ""]),
        ("contains >=3.11", "3.12.0rc1", True),
        ("lowest minor", ">=3.10.2,<3.13", "3.10"),
        ("marker " + packaging_cache.environment_key(environment), "sys_platform == 'win32'", False),
    ]:
        assert _asked(root, kind, question, "not asked") == [], question
        assert packaging_cache.answer(root, kind, question, lambda: "not asked") == value


def test_a_refused_question_is_asked_again_with_packagings_own_message(tmp_path: Path) -> None:
    root = _root(tmp_path)
    for _ in range(2):
        with pytest.raises(packaging_cache.Refused, match="Expected"):
            packaging_cache.requirement(root, "six >>= 1")
        with pytest.raises(packaging_cache.Refused):
            packaging_cache.marker_holds(root, "sys_platform === ", {"sys_platform": "linux"})
    packaging_cache.save(root)
    assert not Path(state_path(root, PACKAGING)).exists()  # nothing was answered


def test_a_line_url_comes_back_as_packaging_read_it(tmp_path: Path) -> None:
    folder = tmp_path / "a b" / "pkg"
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    (tmp_path / "envspec.toml").write_text(f'[python]\npackages = ["pkg @ file://{folder}"]\n')
    spec = load_spec(str(tmp_path))
    (tmp_path / ".devenv").mkdir()
    first = parse_packages(spec)
    packaging_cache.save(str(tmp_path))
    packaging_cache._READ.clear()
    assert parse_packages(spec) == first and first[0].path == str(folder)


def test_a_record_of_other_code_or_another_checkout_is_ignored(tmp_path: Path) -> None:
    root = _root(tmp_path)
    packaging_cache.answer(root, "requirement", "six", lambda: ["six", ""])
    packaging_cache.save(root)
    path = Path(state_path(root, PACKAGING))
    document = json.loads(path.read_text())
    document["code"][1] = "0.0"  # another packaging version answered
    path.write_text(json.dumps(document))
    packaging_cache._READ.clear()
    assert _asked(root, "requirement", "six", ["six", ""]) == ["six"]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # `cp -r` of the checkout: its record names the original
    packaging_cache._READ.clear()
    packaging_cache._PENDING.clear()
    packaging_cache.answer(root, "requirement", "six", lambda: ["six", ""])
    packaging_cache.save(root)
    shutil.copy(path, copy / ".devenv" / PACKAGING)
    assert _asked(str(copy), "requirement", "six", ["six", ""]) == ["six"]


def test_a_bad_line_is_still_named_after_its_answer_is_kept_for_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / ".devenv").mkdir()
    (tmp_path / "envspec.toml").write_text('[python]\npackages = [\n    "six",\n]\n')
    parse_packages(load_spec(str(tmp_path)))
    packaging_cache.save(str(tmp_path))
    packaging_cache._READ.clear()
    (tmp_path / "envspec.toml").write_text('[python]\npackages = [\n    "six",\n    "iniconfig >>= 2",\n]\n')
    with pytest.raises(
        SpecError, match=r"^envspec.toml:4 \[python\].packages\[1\]: is not a valid requirement"
    ):
        parse_packages(load_spec(str(tmp_path)))


def test_known_lines_are_checked_without_importing_packaging(tmp_path: Path) -> None:
    (tmp_path / ".devenv").mkdir()
    (tmp_path / "envspec.toml").write_text(
        '[python]\npackages = ["six==1.16.0", "iniconfig; python_version >= \'3.8\'"]\n'
    )
    script = (
        "import sys; from devenv import packaging_cache; from devenv.requirements import parse_packages; "
        "from devenv.spec import load_spec; parse_packages(load_spec(sys.argv[1])); "
        "packaging_cache.save(sys.argv[1]); print(sorted(m for m in sys.modules if m.startswith('packaging.')))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert "packaging.requirements" in runs[0].stdout
    assert runs[1].stdout.strip() == "[]", runs[1].stderr
