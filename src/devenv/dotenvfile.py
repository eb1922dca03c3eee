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


@dataclass(frozen=True, kw_only=True, slots=True)
class DotenvEntry:
    """One `KEY=value` line: `literal` when single-quoted (no `${...}` interpolation)."""

    key: str
    value: str
    line: int
    literal: bool


#: python-dotenv's parser module once loaded here (see `_parse_stream`).
_LOADED: dict[str, ModuleType] = {}


def _parse_stream() -> Callable[[IO[str]], Iterator[Binding]]:
    """python-dotenv's `dotenv.parser.parse_stream`, from its own `dotenv/parser.py` loaded
    without the package's `__init__`, which imports `dotenv.main` and with it logging,
    pathlib, urllib and tempfile: ~6 ms that a re-resolve after a `.env` edit does not need
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

            return parser.parse_stream
        path = os.path.join(next(iter(folders)), "parser.py")
        loaded = type(sys)("devenv._dotenv_parser")
        loaded.__file__ = path
        SourceFileLoader(loaded.__name__, path).exec_module(loaded)
        _LOADED["parser"] = loaded
    function: Callable[[IO[str]], Iterator[Binding]] = loaded.parse_stream
    return function


def parse_dotenv(text: str, *, name: str) -> tuple[DotenvEntry, ...]:
    """Parse dotenv `text`; `name` (as the user knows the file) is used in every message."""
    parse_stream = _parse_stream()
    entries = []
    # python-dotenv reads files in text mode, where \r\n and \r become \n; a quoted value
    # spanning lines must read the same here.
    for binding in parse_stream(io.StringIO(text, newline=None)):
        original, line = _own_lines(binding.original.string, binding.original.line)
        where = Place(name, line)
        if binding.error:
            raise DotenvError(_unparseable_message(where, original), place=where)
        if "\ufeff" in original.partition("=")[0]:
            raise DotenvError(f"{where}: {_BOM_IN_NAME}", place=where)
        if binding.key is None:
            continue  # blank line or comment
        if not KEY_PATTERN.match(binding.key):
            raise DotenvError(
                f"{where}: {preview(binding.key)} is not a valid variable name "
                "(letters, digits and _, not starting with a digit); rename it",
                place=where,
            )
        if binding.value is None:
            # A line without '=' is as often a pasted secret as a forgotten value: name
            # only its start.
            raise DotenvError(
                f"{where}: the line starting {preview(binding.key)} has no '='; write KEY=value "
                "(or KEY= for an empty value)",
                place=where,
            )
        literal = _is_single_quoted(original)
        _check_swallowed(where, binding.key, original, line)
        entries.append(DotenvEntry(key=binding.key, value=binding.value, line=line, literal=literal))
    return tuple(entries)


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
    return parse_dotenv(text, name=name)


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
