"""Dotenv parsing through python-dotenv, strictly: every line devenv would guess about is an error."""

from __future__ import annotations

import pytest

from devenv.dotenvfile import DotenvEntry, parse_dotenv
from devenv.errors import DotenvError


def values(text: str) -> dict[str, str]:
    return {entry.key: entry.value for entry in parse_dotenv(text, name=".env")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("export A=1\n", {"A": "1"}, id="export-prefix"),
        pytest.param("A = 1\n", {"A": "1"}, id="spaces-around-equals"),
        pytest.param('A="a\\nb"\n', {"A": "a\nb"}, id="double-quote-escapes"),
        pytest.param("A='a\\nb'\n", {"A": "a\\nb"}, id="single-quotes-literal"),
        pytest.param('A="l1\nl2"\n', {"A": "l1\nl2"}, id="multiline-quoted"),
        pytest.param("A=a # comment\n", {"A": "a"}, id="inline-comment"),
        pytest.param("A=a#b\n", {"A": "a#b"}, id="hash-inside"),
        pytest.param("A=1\nA=2\n", {"A": "2"}, id="last-wins"),
        pytest.param("A=$(touch x)\n", {"A": "$(touch x)"}, id="no-command-substitution"),
        pytest.param("\ufeffA=1\n", {"A": "1"}, id="bom"),
        pytest.param("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}, id="crlf"),
        pytest.param("# only a comment\n\n", {}, id="comments"),
        pytest.param("A=\n", {"A": ""}, id="empty"),
        pytest.param("A=b\n\nC=d\n", {"A": "b", "C": "d"}, id="blank-line-between"),
        pytest.param("\nA=1\n", {"A": "1"}, id="starts-with-a-blank-line"),
        pytest.param("A=1\r\n  \r\n\t\r\nB=2\r\n", {"A": "1", "B": "2"}, id="crlf-whitespace-lines"),
        pytest.param('A="l1\r\nl2"\r\n', {"A": "l1\nl2"}, id="crlf-in-quoted-value-as-python-dotenv"),
    ],
)
def test_values_match_python_dotenv(text: str, expected: dict[str, str]) -> None:
    assert values(text) == expected


def test_single_quoted_values_are_marked_literal() -> None:
    entries = parse_dotenv("A='${X}'\nB=\"${X}\"\nC=${X}\n", name=".env")
    assert [(e.key, e.literal, e.line) for e in entries] == [("A", True, 1), ("B", False, 2), ("C", False, 3)]
    assert isinstance(entries[0], DotenvEntry)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'A=1\nB="oops\nC=2\nD=3"\n',
            ".env:2: the quoted value of B runs on to line 4 and swallows what look like assignments (C, D)",
            id="stray-quote-swallows",
        ),
        pytest.param(
            'A="oops\nB=1\nC=2\nD="x"junk\n',
            ".env:1: python-dotenv cannot parse the line for A: a quote opened here",
            id="stray-quote-unparseable",
        ),
        pytest.param("A=1\nB\n", ".env:2: the line starting 'B' has no '='", id="no-equals"),
        pytest.param("A=l1\nl2\n", ".env:2: the line starting 'l2' has no '='", id="unquoted-multiline"),
        pytest.param(
            "A: 1\n", ".env:1: cannot parse this line: write KEY=value (not KEY: value)", id="yaml-style"
        ),
        pytest.param("1A=1\n", ".env:1: '1A' is not a valid variable name", id="digit-key"),
        pytest.param("A.B=1\n", ".env:1: 'A.B' is not a valid variable name", id="dotted-key"),
        pytest.param("'A B'=1\n", ".env:1: 'A B' is not a valid variable name", id="quoted-key"),
        pytest.param("A='a'b\n", ".env:1: python-dotenv cannot parse the line for A", id="junk-after-quote"),
    ],
)
def test_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(DotenvError) as error:
        parse_dotenv(text, name=".env")
    assert expected in str(error.value)


BLANK = "\n \n\t\n"  # three blank or whitespace-only lines, which python-dotenv counts into the next binding


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "A=1\n" + BLANK + 'B="oops\nC=2\nD=3"\n',
            ".env:5: the quoted value of B runs on to line 7 and swallows what look like assignments (C, D); "
            "close the quote on line 5",
            id="swallows",
        ),
        pytest.param(
            BLANK + 'A="oops\nB=1\nD="x"junk\n',
            ".env:4: python-dotenv cannot parse the line for A: a quote opened here is not closed "
            "properly and swallows the next 2 line(s)",
            id="unparseable-quote",
        ),
        pytest.param("A=1\n" + BLANK + "B\n", ".env:5: the line starting 'B' has no '='", id="no-equals"),
        pytest.param(
            "A=1\n" + BLANK + "B: 2\n", ".env:5: cannot parse this line: write KEY=value", id="yaml"
        ),
        pytest.param(BLANK + "1A=1\n", ".env:4: '1A' is not a valid variable name", id="bad-key"),
        pytest.param(
            'A=1\r\n\r\n\r\nB="x"y\r\n', ".env:4: python-dotenv cannot parse the line for B", id="crlf"
        ),
    ],
)
def test_errors_after_blank_lines_name_the_keys_own_line(text: str, expected: str) -> None:
    with pytest.raises(DotenvError) as error:
        parse_dotenv(text, name=".env")
    assert expected in str(error.value)


def test_entries_after_blank_lines_carry_their_own_line() -> None:
    text = "\nA=1\n\n\n# c\n\nexport B='x'\r\n \r\nC=\"l1\nl2\"\n\nD=\n"
    entries = parse_dotenv(text, name=".env")
    assert [(e.key, e.line) for e in entries] == [("A", 2), ("B", 7), ("C", 9), ("D", 12)]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("sk-live-4242aBcD9999zzzz", id="invalid-key"),
        pytest.param("ghp_4242aBcD9999zzzzYYYY", id="valid-looking-key"),
        pytest.param("sk_live:4242aBcD9999zzzz", id="colon-inside"),
    ],
)
def test_a_secret_pasted_alone_on_a_line_is_not_echoed(secret: str) -> None:
    with pytest.raises(DotenvError) as error:
        parse_dotenv(f"A=1\n\n{secret}\n", name=".env")
    message = str(error.value)
    assert message.startswith(".env:3: "), message
    assert repr(secret[:4]) + "..." in message  # enough to find the line, not the value
    assert secret[:5] not in message


def test_an_error_never_echoes_the_value() -> None:
    with pytest.raises(DotenvError) as error:
        parse_dotenv('API_TOKEN="hunter2-secret\nX=1\nY="z"q\n', name=".env")
    assert "hunter2" not in str(error.value)
