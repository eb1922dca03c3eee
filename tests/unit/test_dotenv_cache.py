"""`.devenv/dotenv.nul` gives back the parses it was given, and nothing it cannot trust."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devenv import dotenv_cache
from devenv.dotenvfile import parse_text
from devenv.layout import PARSE_CACHE
from devenv.store import ensure_state_dir


@pytest.fixture
def root(tmp_path: Path) -> str:
    ensure_state_dir(str(tmp_path))
    return str(tmp_path)


def test_saved_parses_load_as_they_were(root: str) -> None:
    parses = {
        os.path.join(root, ".env"): parse_text(
            "# settings\nexport A=1\nB='${literal}'\nC=\"two\nlines\"\n\n\nD=${A:-x}\r\n# end", name=".env"
        ),
        os.path.join(root, ".env.local"): parse_text("", name=".env.local"),
        os.path.join(root, "odd\udcff.env"): parse_text("U='ä €'\n# € in a comment\n", name="x"),
    }
    dotenv_cache.save(root, parses)
    loaded = dotenv_cache.load(root)
    assert loaded == parses
    mode = os.stat(os.path.join(root, ".devenv", PARSE_CACHE)).st_mode
    assert stat.S_IMODE(mode) == 0o600, "it holds the dotenv text, secrets included"


def test_a_text_holding_nul_and_line_breaks_round_trips(root: str) -> None:
    parse = parse_text("A=1\n# \0 in a comment\nB='x\ny'\n", name=".env")
    dotenv_cache.save(root, {"/p/.env": parse, "/p/.env2": parse_text("C=3", name=".env2")})
    loaded = dotenv_cache.load(root)
    assert loaded["/p/.env"] == parse
    assert loaded["/p/.env2"].values == ["3"]


def test_a_value_holding_nul_is_not_kept(root: str) -> None:
    dotenv_cache.save(root, {"/p/.env": parse_text('A="x\0y"\n', name=".env")})
    assert dotenv_cache.load(root) == {}


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "empty"])
def test_a_damaged_file_is_no_parse(root: str, damage: str) -> None:
    dotenv_cache.save(root, {"/p/.env": parse_text("A=1\nB=2\n", name=".env")})
    path = os.path.join(root, ".devenv", PARSE_CACHE)
    data = bytearray(Path(path).read_bytes())
    if damage == "flip":
        data[-3] ^= 0x01  # "B=2" becomes "B=3" in the kept text: the CRC-32 no longer matches
    elif damage == "truncate":
        del data[-5:]
    elif damage == "append":
        data += b"C=3\n"
    else:
        data = bytearray()
    Path(path).write_bytes(bytes(data))
    assert dotenv_cache.load(root) == {}


def test_parses_kept_by_other_code_are_no_parse(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv_cache.save(root, {"/p/.env": parse_text("A=1\n", name=".env")})
    assert dotenv_cache.load(root) != {}
    monkeypatch.setattr(dotenv_cache, "code_digest", lambda: "another-python-dotenv")
    assert dotenv_cache.load(root) == {}


def test_no_file_is_no_parse(root: str) -> None:
    assert dotenv_cache.load(root) == {}


def test_the_digest_follows_the_parser_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from devenv import dotenvfile

    digest = dotenv_cache.code_digest.__wrapped__()  # uncached: the cache keeps one process's code
    assert digest is not None
    parser = dotenvfile.parser_path()
    assert parser is not None
    changed = tmp_path / "parser.py"
    changed.write_bytes(Path(parser).read_bytes() + b"\n# another version\n")
    monkeypatch.setattr(dotenvfile, "parser_path", lambda: str(changed))
    assert dotenv_cache.code_digest.__wrapped__() not in (None, digest)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_users_file_is_no_parse(root: str) -> None:
    dotenv_cache.save(root, {"/p/.env": parse_text("A=1\n", name=".env")})
    assert dotenv_cache.load(root) != {}
    os.chown(os.path.join(root, ".devenv", PARSE_CACHE), 12345, -1)
    assert dotenv_cache.load(root) == {}
