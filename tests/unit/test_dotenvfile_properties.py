"""Generated well-formed dotenv files: devenv reads the values python-dotenv reads, at the key's line.

Each file is built from a model (comments, blank and whitespace-only lines, LF and CRLF,
`export`, single-, double- and unquoted values, empty values, trailing comments, quoted values
spanning lines), so the expected value and line of every key are known independently of both
parsers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.dotenvfile import read_dotenv

#: Fixed, so the run stays well under a few seconds; raise it locally to search harder.
EXAMPLES = 400

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True).filter(lambda key: key != "export")
NEWLINES = st.sampled_from(["\n", "\r\n"])
BLANKS = st.sampled_from(["", " ", "\t", "  \t "])
INDENTS = st.sampled_from(["", " ", "\t"])
#: Anything but line breaks; comments may hold quotes, '=' and '#'.
COMMENT_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20)
#: Unquoted words: no whitespace, quote, backslash-free of surprises, never starting with '#'.
WORD = st.text(st.sampled_from("abcXYZ019-_./:@%+=,;!?*()[]<>~^&|$é€#"), min_size=1, max_size=8).filter(
    lambda word: not word.startswith("#")
)
#: Inside quotes anything goes but the closing quote, a backslash and a line break.
SINGLE_TEXT = st.text(st.sampled_from('abc XYZ 019 #="$é€\t-/'), max_size=12)
DOUBLE_PIECES = st.lists(
    st.one_of(
        st.text(st.sampled_from("abc XYZ 019 #='$é€\t-/"), min_size=1, max_size=6).map(lambda t: (t, t)),
        st.sampled_from([("\\n", "\n"), ('\\"', '"'), ("\\\\", "\\"), ("\\t", "\t")]),
    ),
    max_size=5,
)
#: Inner lines of a double-quoted value that spans lines: words, never `KEY=`-like.
INNER_LINE = st.text(st.sampled_from("abc XYZ 019 -/:"), max_size=10)


@dataclass(frozen=True)
class Assignment:
    key: str
    text: str  # `KEY=value...` without indentation or line ending; may hold line breaks
    value: str  # what both parsers must read
    spans: int  # how many lines it takes


@st.composite
def assignments(draw: st.DrawFn) -> Assignment:
    key = draw(KEYS)
    export = draw(st.sampled_from(["", "export ", "export\t"]))
    equals = draw(st.sampled_from(["=", " =", "= ", " = "]))
    comment = draw(st.sampled_from(["", " # note", "\t# it's = 'x'", " #"]))
    style = draw(st.sampled_from(["unquoted", "empty", "single", "double", "multiline"]))
    spans = 1
    if style == "unquoted":
        value = " ".join(draw(st.lists(WORD, min_size=1, max_size=3)))
        raw = value
        if not comment and draw(st.booleans()):
            raw += " "  # trailing blanks are not part of an unquoted value
    elif style == "empty":
        value, raw = "", draw(st.sampled_from(["", "''", '""']))
        if raw == "" and comment and not equals.endswith(" "):
            comment = ""  # `KEY=#x` is the value "#x", not a comment
    elif style == "single":
        value = draw(SINGLE_TEXT)
        raw = f"'{value}'"
    elif style == "double":
        pieces = draw(DOUBLE_PIECES)
        value = "".join(decoded for _, decoded in pieces)
        raw = '"' + "".join(written for written, _ in pieces) + '"'
    else:
        lines = draw(st.lists(INNER_LINE, min_size=2, max_size=3))
        newline = draw(NEWLINES)
        value = "\n".join(lines)  # python-dotenv reads files in text mode: CRLF becomes LF
        raw = '"' + newline.join(lines) + '"'
        spans = len(lines)
    return Assignment(key=key, text=f"{export}{key}{equals}{raw}{comment}", value=value, spans=spans)


@st.composite
def dotenv_files(draw: st.DrawFn) -> tuple[str, list[tuple[str, int]], dict[str, str]]:
    """The file's text, every (key, line) in order, and the value each key ends with."""
    parts: list[str] = []
    bindings: list[tuple[str, int]] = []
    values: dict[str, str] = {}
    line = 1
    items = draw(st.lists(st.sampled_from(["blank", "comment", "assignment"]), max_size=14))
    for index, kind in enumerate(items):
        if kind == "blank":
            text = draw(BLANKS)
        elif kind == "comment":
            text = draw(INDENTS) + "#" + draw(COMMENT_TEXT)
        else:
            assignment = draw(assignments())
            bindings.append((assignment.key, line))
            values[assignment.key] = assignment.value
            text = draw(INDENTS) + assignment.text
            line += assignment.spans - 1
        last = index == len(items) - 1
        parts.append(text + ("" if last and draw(st.booleans()) else draw(NEWLINES)))
        line += 1
    return "".join(parts), bindings, values


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dotenv")


@settings(max_examples=EXAMPLES, deadline=None)
@given(generated=dotenv_files())
def test_devenv_reads_what_python_dotenv_reads_at_the_keys_line(
    folder: Path, generated: tuple[str, list[tuple[str, int]], dict[str, str]]
) -> None:
    from dotenv import dotenv_values

    text, bindings, values = generated
    path = folder / ".env"
    path.write_bytes(text.encode("utf-8"))
    entries = read_dotenv(str(path), name=".env")
    assert dotenv_values(path, interpolate=False) == values  # the model is python-dotenv's reading
    assert {entry.key: entry.value for entry in entries} == values
    assert [(entry.key, entry.line) for entry in entries] == bindings
