"""The parse of an installer's lock (`.devenv/resolved.json`): what tomllib gives for the whole
text, whatever the shape, with only the [[packages]] tables the record lacks parsed again."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from devenv import resolved_cache
from devenv.layout import RESOLVED, state_path

UV_SHAPED = """\
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "amqp"
version = "5.4.2"
index = "https://pypi.org/simple"
sdist = { url = "https://files.example/amqp-5.4.2.tar.gz", upload-time = 2026-11-02T10:34:18Z, size = 133663, hashes = { sha256 = "93" } }
wheels = [{ url = "https://files.example/amqp-5.4.2-py3-none-any.whl", upload-time = 2026-11-02T10:34:16Z, size = 51956, hashes = { sha256 = "e6" } }]

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
wheels = [{ url = "https://files.example/colorama.whl", upload-time = 2022-10-25T02:36:20.123+01:00, size = 25335, hashes = { sha256 = "4f" } }]

[[packages]]
name = "local"
directory = { path = ".", editable = true }
"""


@pytest.fixture
def root(tmp_path: Path) -> str:
    (tmp_path / ".devenv").mkdir()
    return str(tmp_path)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts tomllib parses."""
    texts: list[str] = []
    loads = tomllib.loads

    def counting(text: str, **options: Any) -> dict[str, Any]:
        texts.append(text)
        return loads(text, **options)

    monkeypatch.setattr(tomllib, "loads", counting)
    return texts


def test_a_lock_parsed_again_reads_its_unchanged_tables_from_the_record(root: str, parsed: list[str]) -> None:
    whole = tomllib.loads(UV_SHAPED)
    assert resolved_cache.parse(root, UV_SHAPED) == whole
    parsed.clear()
    again = resolved_cache.parse(root, UV_SHAPED)
    assert again == whole and list(again) == list(whole)
    assert (
        again["packages"][1]["wheels"][0]["upload-time"] == whole["packages"][1]["wheels"][0]["upload-time"]
    )
    assert len(parsed) == 1 and "[[packages]]" not in parsed[0]  # the header alone
    changed = UV_SHAPED.replace('version = "0.4.6"', 'version = "0.4.7"')
    parsed.clear()
    assert resolved_cache.parse(root, changed) == tomllib.loads(changed)
    assert [text for text in parsed if "[[packages]]" in text] == [
        text for text in parsed if "0.4.7" in text
    ]  # the changed table alone, and the whole text by the assertion's own call
    tables = json.loads(Path(state_path(root, RESOLVED)).read_text())["tables"]
    assert len(tables) == 3  # only the tables of the last text are kept


@pytest.mark.parametrize(
    "text",
    [
        'a = 1\n[[packages]]\nname = "x"\n[tool.uv]\ny = 2\n',  # a table after the packages
        'packages = []\n[[packages]]\nname = "x"\n',  # an error for the whole text
        'a = """\n[[packages]]\n"""\n[[packages]]\nname = "x"\n',  # the cut is inside a string
        '[[packages]]\nname = "x"\n[[packages]]\nname = "y"\n',  # no header
        '[[packages]]\nname = "x"\n[packages.sdist]\nurl = "u"\n[[packages.wheels]]\nurl = "w"\n',
        'a = 1\n[[packages]]\nq = { "$toml" = "date", iso = "2020-01-01" }\nd = 2020-01-01\nt = 10:00:00\n',
        "a = 1\n",
    ],
)
def test_any_text_reads_as_tomllib_reads_it(root: str, text: str) -> None:
    try:
        expected: object = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        expected = type(error)
    for _ in range(2):  # parsed, then from whatever was recorded
        try:
            found: object = resolved_cache.parse(root, text)
        except tomllib.TOMLDecodeError as error:
            found = type(error)
        assert found == expected


def test_a_record_of_other_code_is_ignored(root: str, parsed: list[str]) -> None:
    resolved_cache.parse(root, UV_SHAPED)
    path = Path(state_path(root, RESOLVED))
    document = json.loads(path.read_text())
    document["code"][1] = [3, 0, 0]  # another Python's tomllib
    path.write_text(json.dumps(document))
    parsed.clear()
    assert resolved_cache.parse(root, UV_SHAPED) == tomllib.loads(UV_SHAPED)
    assert len([text for text in parsed if "[[packages]]" in text]) == 3 + 1
