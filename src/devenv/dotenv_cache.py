"""`.devenv/dotenv.nul`: the last parse of each dotenv file, which the next parse reuses.

python-dotenv parses about 45 000 lines a second: a `.env` of 10 000 keys costs ~0.2 s
to parse on every re-resolve after an edit, most of the 12 x T0 that issue 20 allows it
(benchmarks/diagnostics.py). `dotenvfile.parse_text` re-reads only the bindings an edit
touched when it is given the previous parse of the same file; this module keeps that parse.

It is a memo, never a source of values: a parse is kept only with the text it is a parse of,
and reused only for the characters that text shares with the file as it is now. A file that
is missing, damaged (its CRC-32 does not match), or written by another devenv or for
another python-dotenv (a digest of both parsers' code) is no parse at all: the file is
parsed in full. Written atomically and 0600 like the rest of `.devenv/` (it holds the
dotenv text, secrets included).
"""

from __future__ import annotations

import functools
import operator
import os
from itertools import islice

from devenv.dotenvfile import Parse
from devenv.layout import PARSE_CACHE, state_path

MAGIC = "devenv-dotenv-parses"
#: Bump when the layout below changes.
FORMAT = "3"
#: bytes(literals) -> "0" and "1".
_LITERAL = bytes.maketrans(b"\0\1", b"01")


@functools.cache
def code_digest() -> str | None:
    """A digest of the code a kept parse came from: python-dotenv's parser and devenv's
    reading of its bindings (dotenvfile.py). Another version of either: another digest;
    None when either cannot be read (then nothing is kept)."""
    from devenv import dotenvfile
    from devenv.digest import sha256

    digest = sha256(FORMAT.encode())
    for path in (dotenvfile.parser_path(), dotenvfile.__file__):
        if not path:
            return None
        try:
            with open(path, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            return None
    return digest.hexdigest()[:32]


def load(root: str) -> dict[str, Parse]:
    """The kept parse of each dotenv file (by absolute path); empty when there is none or
    it cannot be trusted (not a regular file of this user's, damaged, or other code's)."""
    import zlib

    from devenv.binding import foreign_owner

    try:
        descriptor = os.open(state_path(root, PARSE_CACHE), os.O_RDONLY | os.O_NOFOLLOW)
        with open(descriptor, "rb") as handle:
            if foreign_owner(os.fstat(descriptor)):
                return {}  # another user's: never trusted, as env.nul (snapshot.read_snapshot)
            data = handle.read()
    except OSError:
        return {}
    digest = code_digest()
    head = data.split(b"\0", 3)
    if digest is None or len(head) != 4 or head[0] != MAGIC.encode() or head[1] != digest.encode():
        return {}
    if head[2] != str(zlib.crc32(head[3])).encode():
        return {}
    try:
        return _decode(head[3].decode("utf-8", "surrogatepass"))
    except (ValueError, IndexError):
        return {}


def _decode(body: str) -> dict[str, Parse]:
    count, rest = body.split("\0", 1)
    files = int(count)
    meta = rest.split("\0", 3 * files)
    sizes = [(meta[3 * n], int(meta[3 * n + 1]), int(meta[3 * n + 2])) for n in range(files)]
    fields = meta[-1].split("\0", sum(3 + 2 * bindings for _, _, bindings in sizes))
    texts = fields[-1]
    parses = {}
    at = 0
    offset = 0
    for path, length, bindings in sizes:
        starts = _numbers(fields[at], bindings)
        entry_lines = _numbers(fields[at + 1], bindings)
        kinds = fields[at + 2]
        keys = fields[at + 3 : at + 3 + bindings]
        values = fields[at + 3 + bindings : at + 3 + 2 * bindings]
        at += 3 + 2 * bindings
        text = texts[offset : offset + length]
        offset += length
        # Checked with map() and C predicates: a loop in Python would cost a few ms a file.
        if len(text) != length or len(kinds) != bindings or len(values) != bindings:
            raise ValueError("truncated")
        if bindings and (starts[0] != 0 or starts[-1] >= length):
            raise ValueError("bindings outside the text")
        if not all(map(int.__lt__, starts, islice(starts, 1, None))):
            raise ValueError("bindings out of order")
        if kinds.strip("01") or not all(map(operator.or_, map(bool, keys), map("0".__eq__, kinds))):
            raise ValueError("a literal blank binding")
        literals = list(map("1".__eq__, kinds))
        parses[path] = Parse(text, starts, [key or None for key in keys], values, entry_lines, literals)
    if offset != len(texts):
        raise ValueError("trailing text")
    return parses


def _numbers(field: str, count: int) -> list[int]:
    numbers = list(map(int, field.split(","))) if field else []
    if len(numbers) != count:
        raise ValueError("wrong count")
    return numbers


def save(root: str, parses: dict[str, Parse]) -> None:
    """Keep `parses` (by absolute path) for the next resolution; the caller holds
    `.devenv/lock`. A value holding a NUL (never resolved: the resolver refuses it) is
    not kept."""
    import zlib

    from devenv.store import write_atomic

    kept = {path: parse for path, parse in parses.items() if "\0" not in "".join(parse.values)}
    meta = [str(len(kept))]
    fields: list[str] = []
    for path, parse in kept.items():
        meta += [path, str(len(parse.text)), str(len(parse.starts))]
        fields += [
            ",".join(map(str, parse.starts)),
            ",".join(map(str, parse.entry_lines)),
            bytes(parse.literals).translate(_LITERAL).decode("ascii"),  # "0" or "1" a binding
            *["" if key is None else key for key in parse.keys],  # "": a blank or a comment
            *parse.values,
        ]
    body = "\0".join([*meta, *fields, "".join(parse.text for parse in kept.values())])
    data = body.encode("utf-8", "surrogatepass")
    digest = code_digest()
    if digest is None:
        return
    head = f"{MAGIC}\0{digest}\0{zlib.crc32(data)}\0".encode()
    # No fsync: after a power cut a lost or damaged file fails its CRC-32, and the next
    # resolution parses in full.
    write_atomic(state_path(root, PARSE_CACHE), head + data, durable=False)
