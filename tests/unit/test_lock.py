"""pylock.toml (devenv/lock.py): reading a lock, choosing the one for this platform, and
refusing a broken or foreign one with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.errors import LockError
from devenv.lock import lock_filename, marker_holds, read_lock, recorded_tool, select_lock

LINUX = {
    "sys_platform": "linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "os_name": "posix",
    "platform_system": "Linux",
    "platform_release": "",
    "platform_version": "",
    "platform_python_implementation": "CPython",
    "implementation_version": "3.11.7",
}

LOCK = """\
lock-version = "1.0"
requires-python = ">=3.11"
environments = [{environment}]
created-by = "devenv"

[[packages]]
name = "Requests_OAuthlib"
version = "2.0.0"
marker = "python_version >= '3.8'"

[[packages.wheels]]
url = "https://files.example/requests_oauthlib-2.0.0-py2.py3-none-any.whl"
hashes = {{ sha256 = "abc" }}

[tool.devenv]
inputs-sha256 = "123"
"""


def _write(root: Path, name: str, environment: str) -> None:
    (root / name).write_text(LOCK.format(environment=environment))


def test_a_lock_is_read_with_normalised_names_and_its_files(tmp_path: Path) -> None:
    _write(tmp_path, "pylock.toml", "")
    lock = read_lock(str(tmp_path / "pylock.toml"))
    assert lock.packages == {"requests-oauthlib": "2.0.0"}
    (entry,) = lock.entries
    assert entry.files == (("https://files.example/requests_oauthlib-2.0.0-py2.py3-none-any.whl", "abc"),)
    assert lock.requires_python == ">=3.11" and lock.created_by == "devenv"


def test_the_lock_for_this_platform_is_chosen_and_another_platforms_is_refused_with_the_fix(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "pylock.toml", "\"sys_platform == 'darwin'\"")
    with pytest.raises(LockError, match=r"no lock for this platform .*devenv lock --name NAME"):
        select_lock(str(tmp_path), LINUX)
    _write(tmp_path, "pylock.linux.toml", "\"sys_platform == 'linux'\"")
    chosen = select_lock(str(tmp_path), LINUX)
    assert chosen is not None and chosen.path.endswith("pylock.linux.toml")


def test_no_lock_is_none(tmp_path: Path) -> None:
    assert select_lock(str(tmp_path), LINUX) is None


def test_a_broken_lock_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text("lock-version = [\n")
    with pytest.raises(LockError, match=r"pylock.toml: cannot read the lock .*run `devenv lock`"):
        read_lock(str(tmp_path / "pylock.toml"))


def test_a_lock_name_is_what_pip_reads_as_a_lock() -> None:
    assert lock_filename(None) == "pylock.toml"
    assert lock_filename("linux-arm") == "pylock.linux-arm.toml"
    with pytest.raises(LockError, match="use letters, digits"):
        lock_filename("../x")


def test_a_package_marker_is_evaluated_for_this_platform() -> None:
    assert marker_holds("python_version >= '3.8'", dict(LINUX))
    assert not marker_holds("sys_platform == 'win32'", dict(LINUX))


RECORDED = '\n[tool.devenv]\nindex-url = "https://mirror.example/simple"\n\n[tool.devenv.inputs]\n"line: six" = "1"\n'


@pytest.mark.parametrize(
    "text",
    [
        LOCK.format(environment="") + RECORDED.replace("\n[tool.devenv]\n", "\n"),  # devenv's layout
        LOCK.format(environment="")
        .replace("\n[[packages]]", RECORDED + "\n[[packages]]", 1)
        .split("[tool.devenv]\ninputs")[0],
    ],
    ids=["tool table last", "tool table first"],
)
def test_the_recorded_index_is_read_whatever_the_layout(tmp_path: Path, text: str) -> None:
    (tmp_path / "pylock.toml").write_text(text)
    tool = recorded_tool(str(tmp_path / "pylock.toml"))
    assert tool["index-url"] == "https://mirror.example/simple" and tool["inputs"] == {"line: six": "1"}
    assert tool == read_lock(str(tmp_path / "pylock.toml")).tool


def test_a_lock_from_another_tool_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text(LOCK.format(environment="").split("[tool.devenv]")[0])
    assert recorded_tool(str(tmp_path / "pylock.toml")) == {}


def test_each_file_outside_the_recorded_index_is_named_though_its_neighbours_share_a_prefix(
    tmp_path: Path,
) -> None:
    from devenv.lock import integrity_problems

    urls = [
        "https://files.pythonhosted.org/a-1-py3-none-any.whl",
        "https://user:secret@evil.example/b-1-py3-none-any.whl",
        "https://files.pythonhosted.org/c-1-py3-none-any.whl",
        "https://evil.example:8443/d-1-py3-none-any.whl",
        "HTTPS://FILES.PYTHONHOSTED.ORG/e-1-py3-none-any.whl",
        "https://files.pythonhosted.org.evil.example/f-1-py3-none-any.whl",
        "https://files.pythonhosted.org?/g-1-py3-none-any.whl",
        "https://files.pythonhosted.org/h-1-py3-none-any.whl",
    ]
    text = 'lock-version = "1.0"\ncreated-by = "devenv"\n'
    for number, url in enumerate(urls):
        text += f'\n[[packages]]\nname = "p{number}"\nversion = "1"\n'
        text += f'\n[[packages.wheels]]\nurl = "{url}"\nhashes = {{ sha256 = "abc" }}\n'
    text += '\n[tool.devenv]\nindex-url = "https://pypi.org/simple"\n'
    (tmp_path / "pylock.toml").write_text(text)
    problems = integrity_problems(read_lock(str(tmp_path / "pylock.toml")))
    assert [problem.split(":")[0] for problem in problems] == ["p1", "p3", "p5"]
    assert not any("secret" in problem for problem in problems)
