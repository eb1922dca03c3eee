"""Dotenv files read strictly through python-dotenv's own parser.

python-dotenv silently drops or swallows lines it cannot parse (a stray quote can eat the
next ten variables without a word). devenv uses the same parser
(`dotenv.parser.parse_stream`) so values mean what python-dotenv users expect, but turns
every such case into an error naming `file:line`.
"""

from __future__ import annotations

import io
import os
import re
from bisect import bisect_left
from functools import partial
from itertools import compress
from typing import NamedTuple

from devenv.errors import DotenvError, Place, preview
from devenv.records import dataclass
from devenv.spec import KEY_PATTERN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType
    from typing import IO

    from dotenv.parser import Binding

_ASSIGNMENT_LINE = re.compile(r"\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=")
_NEWLINE = re.compile(r"\r\n|\n|\r")


class DotenvEntry(NamedTuple):
    """One `KEY=value` line: `literal` when single-quoted (no `${...}` interpolation).

    A named tuple rather than a record (devenv/records.py): a file of 10 000 keys makes
    10 000 of them on every re-resolve, and a tuple is made in C (`Parse.entries`)."""

    key: str
    value: str
    line: int
    literal: bool


#: python-dotenv's parser module once loaded here (see `_parser`).
_LOADED: dict[str, ModuleType] = {}


def _parser() -> ModuleType:
    """python-dotenv's `dotenv.parser`, from its own `dotenv/parser.py` loaded without the
    package's `__init__`, which imports `dotenv.main` and with it logging, pathlib, urllib
    and tempfile: ~6 ms that a re-resolve after a `.env` edit does not need
    (benchmarks/diagnostics.py). The parser imports nothing of its package, so this runs the
    very code `import dotenv.parser` would; once dotenv is imported, that module is used."""
    import sys

    loaded = sys.modules.get("dotenv.parser") or _LOADED.get("parser")
    if loaded is None:
        from importlib.machinery import PathFinder, SourceFileLoader

        package = PathFinder.find_spec("dotenv")
        folders = package.submodule_search_locations if package is not None else None
        if not folders:  # found by another finder: import it the usual way
            from dotenv import parser

            return parser
        path = os.path.join(next(iter(folders)), "parser.py")
        loaded = type(sys)("devenv._dotenv_parser")
        loaded.__file__ = path
        SourceFileLoader(loaded.__name__, path).exec_module(loaded)
        _LOADED["parser"] = loaded
    return loaded


def _parse_stream() -> Callable[[IO[str]], Iterator[Binding]]:
    function: Callable[[IO[str]], Iterator[Binding]] = _parser().parse_stream
    return function


def parser_path() -> str | None:
    """The file python-dotenv's parser was loaded from (None when it came from elsewhere)."""
    path: str | None = getattr(_parser(), "__file__", None)
    return path


@dataclass(slots=True)
class Parse:
    """A parse of one dotenv text that succeeded, binding by binding, in the form the next
    parse of the same file reuses (`parse_text`) and `.devenv/` keeps (devenv/dotenv_cache.py).

    `text` is what python-dotenv's reader parsed (newlines made LF, one byte order mark
    dropped). Binding `i` starts at offset `starts[i]` (on line `line_at(starts[i])`); `keys[i]` is None
    for a blank or comment binding, else the binding is the entry (`keys[i]`, `values[i]`,
    `entry_lines[i]`, `literals[i]`).
    """

    text: str
    starts: list[int]
    keys: list[str | None]
    values: list[str]
    entry_lines: list[int]
    literals: list[bool]

    def line_at(self, offset: int) -> int:
        """The line number python-dotenv's reader counts at `offset` of `text`."""
        return self.text.count("\n", 0, offset) + 1

    def entries(self) -> tuple[DotenvEntry, ...]:
        """The `KEY=value` entries, in file order."""
        fields = compress(
            zip(self.keys, self.values, self.entry_lines, self.literals, strict=True), self.keys
        )
        return tuple(map(partial(tuple.__new__, DotenvEntry), fields))


def parse_dotenv(text: str, *, name: str) -> tuple[DotenvEntry, ...]:
    """Parse dotenv `text`; `name` (as the user knows the file) is used in every message."""
    return parse_text(text, name=name).entries()


def parse_text(text: str, *, name: str, previous: Parse | None = None) -> Parse:
    """Parse dotenv `text` (`name` is used in every message), reusing what `previous`, a
    parse of an earlier version of the same file, has of the text both share: the result
    is exactly python-dotenv's parse of the whole text (tests/unit/test_dotenvfile_reparse.py).

    python-dotenv's `parse_stream` reads one binding after another, each a contiguous slice
    of the text, and carries nothing from one to the next but the position and the line
    number; a binding read from a position depends only on the text from there on (its
    patterns are matched at the position, with no look-behind, `^` or `\\b`). So:

    - a binding of `previous` that ends before the first changed character was read from
      the same characters and reads the same now: reading a binding that parses (and
      `previous`, a parse that succeeded, holds no other) looks no further than its own last
      character, its line break, except at the end of the text, which one ending before a
      change is not at (a quote left open scans to the end, but that is an error binding);
    - once the new parse reaches a position in the unchanged end of the text that is the
      start of a binding of `previous`, everything after it reads as before, its lines moved
      by how many lines the edit added.

    Only the bindings in between are read again, by python-dotenv itself.
    """
    string = io.StringIO(text, newline=None).read().removeprefix("\ufeff")  # what the reader parses
    parse = Parse(string, [], [], [], [], [])
    position, line, tail = 0, 1, None
    if previous is not None:
        old = previous.text
        same = _common_prefix(old, string)
        # Bindings 0..kept-1 end before `same`, with a character to spare; the first that
        # does not starts at starts[kept], and is read again.
        kept = max(0, bisect_left(previous.starts, same) - 1)
        # The reader drops a byte order mark at the start of what it is given: never start
        # it on one (parse from a binding earlier, or from the start as a full parse does).
        while kept and string[previous.starts[kept]] == "\ufeff":
            kept -= 1
        if kept:
            position = previous.starts[kept]
            line = previous.line_at(position)
            _extend(parse, previous, 0, kept, 0, 0)
        unchanged = _common_suffix(old, string, min(len(old), len(string)) - same)
        tail = (previous, len(string) - unchanged, len(string) - len(old))
    stream = io.StringIO(text, newline=None) if position == 0 else io.StringIO(string[position:], newline="")
    bindings = _parse_stream()(stream)
    offset = line - 1  # the reader counts lines from 1 at `position`
    while position < len(string):
        if tail is not None and position >= tail[1]:
            before, shift = tail[0], tail[2]
            index = bisect_left(before.starts, position - shift)
            if index < len(before.starts) and before.starts[index] == position - shift:
                lines = line - before.line_at(position - shift)
                _extend(parse, before, index, len(before.starts), shift, lines)
                return parse
        binding = next(bindings)
        line = offset + binding.original.line
        key, value, entry_line, literal = _checked(binding, line, name)
        parse.starts.append(position)
        parse.keys.append(key)
        parse.values.append(value)
        parse.entry_lines.append(entry_line)
        parse.literals.append(literal)
        position += len(binding.original.string)
        line += binding.original.string.count("\n")
    return parse


def _extend(parse: Parse, previous: Parse, first: int, last: int, shift: int, lines: int) -> None:
    """Append bindings first..last-1 of `previous`, `shift` characters and `lines` lines on."""
    starts = previous.starts[first:last]
    parse.starts += [start + shift for start in starts] if shift else starts
    entry_lines = previous.entry_lines[first:last]
    parse.entry_lines += [line + lines for line in entry_lines] if lines else entry_lines
    parse.keys += previous.keys[first:last]
    parse.values += previous.values[first:last]
    parse.literals += previous.literals[first:last]


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of `a` and `b` (comparisons in C, halving)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while high - low > 1:  # a[:low] == b[:low] and a[:high] != b[:high]
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix of `a` and `b`, at most `limit`."""
    if limit <= 0:
        return 0
    if a[len(a) - limit :] == b[len(b) - limit :]:
        return limit
    low, high = 0, limit  # the last `low` characters agree, the last `high` do not
    while high - low > 1:
        middle = (low + high) // 2
        if a[len(a) - middle : len(a) - low] == b[len(b) - middle : len(b) - low]:
            low = middle
        else:
            high = middle
    return low


def _checked(binding: Binding, line: int, name: str) -> tuple[str | None, str, int, bool]:
    """One binding read at `line` as (key, value, line, literal), key None for a blank or a
    comment; a DotenvError for anything python-dotenv would drop or misread silently."""
    original, line = _own_lines(binding.original.string, line)
    if binding.error:
        where = Place(name, line)
        raise DotenvError(_unparseable_message(where, original), place=where)
    if "\ufeff" in original.partition("=")[0]:
        where = Place(name, line)
        raise DotenvError(f"{where}: {_BOM_IN_NAME}", place=where)
    if binding.key is None:
        return None, "", line, False  # blank line or comment
    if not KEY_PATTERN.match(binding.key):
        where = Place(name, line)
        raise DotenvError(
            f"{where}: {preview(binding.key)} is not a valid variable name "
            "(letters, digits and _, not starting with a digit); rename it",
            place=where,
        )
    if binding.value is None:
        # A line without '=' is as often a pasted secret as a forgotten value: name
        # only its start.
        where = Place(name, line)
        raise DotenvError(
            f"{where}: the line starting {preview(binding.key)} has no '='; write KEY=value "
            "(or KEY= for an empty value)",
            place=where,
        )
    if "\n" in original.rstrip("\r\n"):
        _check_swallowed(Place(name, line), binding.key, original, line)
    return binding.key, binding.value, line, _is_single_quoted(original)


def _own_lines(original: str, line: int) -> tuple[str, int]:
    # python-dotenv counts the blank and whitespace-only lines before a binding as part of
    # it, and reports the first of them as its line. Drop them, so that every check and
    # every line number is about the binding itself. Lines are counted as python-dotenv
    # counts them (\r\n, \n or \r).
    blank = original[: len(original) - len(original.lstrip())]
    breaks = list(_NEWLINE.finditer(blank))
    if not breaks:
        return original, line
    return original[breaks[-1].end() :], line + len(breaks)


def read_dotenv(path: str, *, name: str) -> tuple[DotenvEntry, ...]:
    """Read and parse the dotenv file at `path` (UTF-8, an optional BOM is ignored)."""
    from devenv.project import read_input  # the one reader of inputs (regular files only)

    data = read_input(path, name, DotenvError)
    if data is None:
        raise DotenvError(f"{name}: not found", place=Place(name))
    return parse_dotenv_bytes(data, name=name)


def parse_dotenv_bytes(data: bytes, *, name: str) -> tuple[DotenvEntry, ...]:
    """Decode (UTF-8, an optional BOM is ignored) and parse the bytes of a dotenv file."""
    return parse_dotenv(decode_dotenv(data, name=name), name=name)


def decode_dotenv(data: bytes, *, name: str) -> str:
    """The text of a dotenv file's bytes: UTF-8, an optional BOM dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = Place(name, data.count(b"\n", 0, exc.start) + 1)
        raise DotenvError(
            f"{where}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8", place=where
        ) from None
    text = text.removeprefix("\ufeff")
    if text.startswith("\ufeff"):
        # A second byte order mark (a file saved twice by a BOM-adding editor, or two files
        # joined): python-dotenv drops it silently, and other readers keep it in the name.
        where = Place(name, 1)
        raise DotenvError(f"{where}: {_BOM_IN_NAME}", place=where)
    return text


_BOM_IN_NAME = "a byte order mark (U+FEFF) is part of the variable name; save the file as UTF-8 without a BOM"


def _is_single_quoted(original: str) -> bool:
    _, _, rest = original.partition("=")
    return rest.lstrip(" \t").startswith("'")


def _check_swallowed(where: Place, key: str, original: str, line: int) -> None:
    # A quote left open swallows every following line up to the next matching quote, and
    # python-dotenv accepts that silently when the quotes happen to pair up. A multi-line
    # value whose inner lines look like assignments is almost always that mistake.
    inner = _NEWLINE.split(original.rstrip("\r\n"))[1:]
    swallowed = [text.split("=", 1)[0].strip() for text in inner if _ASSIGNMENT_LINE.match(text)]
    if swallowed:
        last = line + len(inner)
        raise DotenvError(
            f"{where}: the quoted value of {key} runs on to line {last} and swallows what look "
            f"like assignments ({', '.join(swallowed)}); close the quote on line {line} "
            '(a value that really spans lines can use "\\n" inside double quotes)',
            place=where,
        )


def _unparseable_message(where: Place, original: str) -> str:
    # Never echo the line itself: it may hold a secret. Say what kind of problem it is.
    first = _NEWLINE.split(original, maxsplit=1)[0]
    spans = len(_NEWLINE.findall(original.rstrip("\r\n"))) + 1
    key = first.split("=", 1)[0].strip().removeprefix("export").strip() if "=" in first else ""
    what = f"the line for {key}" if key and KEY_PATTERN.match(key) else "this line"
    if spans > 1:
        return (
            f"{where}: python-dotenv cannot parse {what}: a quote opened here is not closed "
            f"properly and swallows the next {spans - 1} line(s); close the quote on this line"
        )
    if ":" in first and "=" not in first:
        return f"{where}: cannot parse {what}: write KEY=value (not KEY: value)"
    return (
        f"{where}: python-dotenv cannot parse {what}; write KEY=value, quoting the value "
        "with '...' or \"...\" if it has spaces, quotes or #"
    )
