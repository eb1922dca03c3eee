"""[python].packages lines: checked with packaging, handed to pip whole, errors at their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.errors import SpecError
from devenv.requirements import inputs_digest, parse_packages, requirements_text
from devenv.resolver import fingerprint_of
from devenv.spec import Spec, load_spec


def spec_with(tmp_path: Path, *lines: str) -> Spec:
    # A JSON string is a valid TOML basic string: one entry per line, as users write them.
    body = "".join(f"    {json.dumps(line)},\n" for line in lines)
    (tmp_path / "envspec.toml").write_text(f"[python]\npackages = [\n{body}]\n")
    return load_spec(str(tmp_path))


def test_pep508_lines_with_spaces_markers_and_file_urls_reach_pip_whole(tmp_path: Path) -> None:
    project = tmp_path / "a path with spaces" / "mypkg"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mypkg'\n")
    spec = spec_with(
        tmp_path, "six >= 1.16", "iniconfig ; python_version >= '3.8'", f"mypkg @ file://{project}"
    )
    lines = parse_packages(spec)
    assert [line.name for line in lines] == ["six", "iniconfig", "mypkg"]
    assert lines[2].is_local_project and lines[2].path == str(project)
    text = requirements_text(lines).splitlines()
    assert text[:2] == ["six >= 1.16", "iniconfig ; python_version >= '3.8'"]
    assert text[2] == f"mypkg @ file://{str(project).replace(' ', '%20')}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("six >>= 1", "[python].packages[1]: is not a valid requirement"),
        ("--index-url https://x", "only -e PATH, -r FILE, -c FILE and --group"),
        ("-r missing.txt", "-r names missing.txt, which is not a file"),
        ("-e ./nowhere", "is not a Python project"),
        ("", "is empty"),
    ],
)
def test_a_bad_line_names_envspec_line_and_index(tmp_path: Path, line: str, message: str) -> None:
    spec = spec_with(tmp_path, "six", line)
    with pytest.raises(SpecError) as caught:
        parse_packages(spec)
    assert str(caught.value).startswith("envspec.toml:4 [python].packages[1]:")
    assert message in str(caught.value)


def test_the_fingerprint_covers_the_installed_package_set() -> None:
    values = {"A": "1"}
    assert fingerprint_of(values, ["/v/bin"], [], "pkgs-1") != fingerprint_of(
        values, ["/v/bin"], [], "pkgs-2"
    )
    assert fingerprint_of(values, ["/v/bin"], []) == fingerprint_of(values, ["/v/bin"], [], "")


PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "app"
version = "0.1"
dynamic = ["readme"]
dependencies = ["six"]

[dependency-groups]
dev = ["pytest"]

[tool.setuptools.dynamic]
readme = { file = "README.md" }

[tool.ruff]
line-length = 110
"""


def _digest_after(
    tmp_path: Path, edit: tuple[str, str], name: str = "pyproject.toml", text: str = PYPROJECT
) -> dict[str, str]:
    """The input keys of `-e .` whose hash an edit of its file `name` changes."""
    (tmp_path / name).write_text(text)
    spec = spec_with(tmp_path, "-e .")
    before = inputs_digest(spec, parse_packages(spec))
    (tmp_path / name).write_text(text.replace(*edit))
    after = inputs_digest(spec, parse_packages(spec))
    return {key: value for key, value in after.items() if before.get(key) != value} | {
        key: "removed" for key in before.keys() - after.keys()
    }


@pytest.mark.parametrize(
    "edit",
    [
        ("line-length = 110", "line-length = 120"),  # another tool's settings
        (
            "[tool.ruff]",
            "[tool.mypy]\nstrict = true\n\n[tool.pytest.ini_options]\naddopts = '-q'\n\n[tool.ruff]",
        ),
        ('dev = ["pytest"]', 'dev = ["pytest", "hypothesis"]'),  # PEP 735: not in a build's metadata
        ('version = "0.1"\n', 'version = "0.1"  # a comment\n\n'),  # layout and comments
        ('name = "app"\nversion = "0.1"', 'version = "0.1"\nname = "app"'),  # key order
    ],
)
def test_a_local_projects_lock_inputs_ignore_what_no_build_reads(
    tmp_path: Path, edit: tuple[str, str]
) -> None:
    assert _digest_after(tmp_path, edit) == {}


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (('["six"]', '["six>=1.16"]'), "pyproject.toml [project].dependencies"),
        (('version = "0.1"', 'version = "0.2"'), "pyproject.toml [project].version"),
        (('"setuptools>=69"', '"setuptools>=80"'), "pyproject.toml [build-system]"),
        (('"README.md"', '"README.rst"'), "pyproject.toml [tool.setuptools]"),
        (
            ("[tool.ruff]", "[tool.uv.sources]\nsix = { path = '../six' }\n\n[tool.ruff]"),
            "pyproject.toml [tool.uv]",
        ),
        (
            ("[tool.ruff]", "[tool.hatch.metadata]\nallow-direct-references = true\n\n[tool.ruff]"),
            "pyproject.toml [tool.hatch]",
        ),
    ],
)
def test_a_local_projects_lock_inputs_name_the_part_of_pyproject_that_changed(
    tmp_path: Path, edit: tuple[str, str], key: str
) -> None:
    assert list(_digest_after(tmp_path, edit)) == [key]


SETUP_CFG = """\
[metadata]
name = app

[options]
install_requires =
    six

[flake8]
max-line-length = 110

[tool:pytest]
addopts = -q

[mypy-six.*]
ignore_missing_imports = True
"""


@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        (("max-line-length = 110", "max-line-length = 120"), []),
        (("addopts = -q", "addopts = -q -x"), []),
        (("ignore_missing_imports = True", "ignore_missing_imports = False"), []),
        (("[flake8]", "# a comment\n[flake8]"), []),
        (("    six\n", "    six\n    iniconfig\n"), ["setup.cfg [options]"]),
        (("name = app", "name = app\nversion = 2"), ["setup.cfg [metadata]"]),
        (("[flake8]", "[bdist_wheel]\nuniversal = 1\n\n[flake8]"), ["setup.cfg [bdist_wheel]"]),
    ],
)
def test_a_setup_cfg_counts_by_the_sections_a_build_reads(
    tmp_path: Path, edit: tuple[str, str], changed: list[str]
) -> None:
    assert list(_digest_after(tmp_path, edit, "setup.cfg", SETUP_CFG)) == changed


def test_a_setup_cfg_configparser_cannot_read_counts_whole(tmp_path: Path) -> None:
    broken = "install_requires = six\n[flake8]\nmax-line-length = 110\n"  # no section header first
    assert list(_digest_after(tmp_path, ("110", "120"), "setup.cfg", broken)) == ["file: setup.cfg"]
