"""A re-parse that reuses the previous parse reads exactly what a full parse reads.

`dotenvfile.parse_text` given the parse of an earlier version of a file re-reads only the
bindings an edit touched. Random edits of real dotenv files (the team's corpus, when it is
beside the clone) and of generated ones (multi-line quoted values, `export`, comments, CRLF
and lone CR, no final newline, `${VAR:-default}`, a byte order mark) must give the same
bindings, entries and lines as a full parse by python-dotenv, or the same error.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.dotenvfile import Parse, parse_text
from devenv.errors import DotenvError

#: Fixed, so the run stays within a few seconds; raise it locally to search harder.
EXAMPLES = 300

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "envcorpus" / "files"


def _corpus() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return [
        path.read_bytes().decode("utf-8", "replace").removeprefix("\ufeff")
        for path in sorted(CORPUS.iterdir())
    ]


CORPUS_TEXTS = _corpus()

#: Pieces of dotenv text, hostile ones included: each may open or close a quote, a line, a
#: reference, so an edit can turn one binding into three or three into one.
FRAGMENTS = [
    "A=1\n",
    "export B=two words # note\n",
    "export\tC='single ${NOT}'\n",
    'D="double\nspans\nlines"\n',
    "E='multi\nline'\n",
    "F=${A:-${B:-x}}\n",
    "G=${A}_${C}\r\n",
    "# a comment with 'quote\n",
    "\n",
    "   \n",
    "\t# indented comment\n",
    "H=\n",
    "I= # empty with comment\n",
    "J=#novalue\n",
    'K="esc \\" \\n \\\\"\n',
    "L='it\\'s'\n",
    "M=last-no-newline",
    "N=cr\r",
    "'O'=quoted key\n",
    "P = spaced\n",
    "=",
    "'",
    '"',
    "\n",
    "\r\n",
    "\r",
    "#",
    "export ",
    "${",
    "}",
    " ",
    "Q",
    "\ufeff",
    "é€ ",
    "\\",
]

TEXTS = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)


@st.composite
def base_texts(draw: st.DrawFn) -> str:
    if CORPUS_TEXTS and draw(st.booleans()):
        return draw(st.sampled_from(CORPUS_TEXTS))
    return draw(TEXTS)


@st.composite
def edits(draw: st.DrawFn, text: str) -> str:
    """`text` with a few pieces deleted, replaced or inserted at random places."""
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + draw(st.sampled_from([0, 1, 2, 10, 200])))))
        piece = draw(st.one_of(TEXTS, st.sampled_from(FRAGMENTS), st.text(max_size=5)))
        text = text[:start] + piece + text[end:]
    return text


def _outcome(text: str, previous: Parse | None = None) -> tuple[object, ...]:
    try:
        parse = parse_text(text, name=".env", previous=previous)
    except DotenvError as error:
        return ("error", str(error), error.place)
    return ("parse", parse, parse.entries())


def _parsed(text: str) -> Parse | None:
    try:
        return parse_text(text, name=".env")
    except DotenvError:
        return None


def _python_dotenv(text: str) -> list[tuple[str | None, str | None, str, int]]:
    from dotenv.parser import parse_stream

    return [
        (binding.key, binding.value, binding.original.string, binding.original.line)
        for binding in parse_stream(io.StringIO(text, newline=None))
    ]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_reparse_after_random_edits_reads_what_a_full_parse_reads(data: st.DataObject) -> None:
    text = data.draw(base_texts())
    previous = _parsed(text)
    for _ in range(data.draw(st.integers(1, 3))):  # a chain: each parse reuses the last one
        text = data.draw(edits(text))
        assert _outcome(text, previous) == _outcome(text)
        if previous is not None and _parsed(text) is not None:
            previous = parse_text(text, name=".env", previous=previous)
        else:
            previous = _parsed(text)


@settings(max_examples=EXAMPLES, deadline=None)
@given(base_texts())
def test_a_full_parse_is_python_dotenv_binding_by_binding(text: str) -> None:
    parse = _parsed(text)
    if parse is None:
        return  # refused: tests/unit/test_dotenvfile.py holds what is refused and why
    bindings = _python_dotenv(text)
    assert parse.starts == [sum(len(b[2]) for b in bindings[:n]) for n in range(len(bindings))]
    assert [parse.line_at(start) for start in parse.starts] == [b[3] for b in bindings]
    assert parse.keys == [b[0] for b in bindings]
    assert [v for k, v in zip(parse.keys, parse.values, strict=True) if k] == [b[1] for b in bindings if b[0]]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("A=1\nB=2\nC=3\n", "A=1\nB=22\nC=3\n"),  # one value, same lines
        ("A=1\nB=2\nC=3\n", "A=1\nX=9\nB=2\nC=3\n"),  # a line added: the rest moves down
        ("A=1\nB=2\nC=3\n", "A=1\nC=3\n"),  # a line removed
        ("A=1\nB='x\nC=3\n", "A=1\nB='x'\nC=3\n"),  # never parsed: a full parse
        ("A=1\nB=2\n", "A=1\nB=2\nC=3"),  # appended without a final newline
        ("A=1\nB=2", "A=1\nB=2\n"),  # the final newline added
        ("A=1\nB=2\n", "A=1\nB='2\nC'\n"),  # a quote opened: the next line joins the value
        ("A=1\nB='2\nc'\nD=4\n", "A=1\nB=2\nc\nD=4\n"),  # closed: the line is its own again
        ("A=1\r\nB=2\r\n", "A=1\r\nB=3\r\n"),
        ("A=1\n\n\nB=2\n", "A=1\n\nB=2\n"),  # blank lines belong to the binding after them
        ("X=1\nA=${X}\n", "X=2\nA=${X}\n"),
        ("A=1\n", "\ufeffA=1\n"),
        ("A=1\nB=2\n", "A=1\n\ufeffB=2\n"),
    ],
)
def test_a_reparse_of_typical_edits_is_the_full_parse(before: str, after: str) -> None:
    assert _outcome(after, _parsed(before)) == _outcome(after)


def test_a_reparse_after_one_changed_value_reads_only_that_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv import dotenvfile

    lines = [f"KEY_{n}=value-{n}\n" for n in range(1000)]
    previous = parse_text("".join(lines), name=".env")
    lines[500] = "KEY_500=changed\n"
    read: list[str] = []
    parser = dotenvfile._parse_stream()

    def counting(stream: io.StringIO):  # type: ignore[no-untyped-def]
        for binding in parser(stream):
            read.append(binding.original.string)
            yield binding

    monkeypatch.setattr(dotenvfile, "_parse_stream", lambda: counting)
    parse = parse_text("".join(lines), name=".env", previous=previous)
    assert parse.values[500] == "changed"
    assert read == ["KEY_500=changed\n"]
    assert parse == parse_text("".join(lines), name=".env")
