"""`.devenv/resolved.json`: the parse of each `[[packages]]` table of the last pylock.toml the
installer wrote for `devenv lock`, so that locking again parses only the tables that changed.

tomllib took ~22 ms of each `devenv lock` here for uv's ~230 KB output, whose budget is a
ratio to `uv pip compile`'s own time (README, "Performance"); a lock made again from the same
lines mostly gets the same tables back. The text is cut before each `[[packages]]` line; a
table whose text is unchanged (the sha256 of its text) is taken from the record, any other is
parsed. What that gives is tomllib's parse of the whole text, for the shape installers write
(a header of plain keys, then the `[[packages]]` tables, each with its own sub-tables):
anything else (a table after the packages, a `packages` key in the header, a cut through a
multi-line string, which then fails to parse alone) is parsed whole.

A table is recorded as JSON, its TOML dates and times as `{"$toml": "datetime", "iso": ...}`,
and only when reading that JSON back gives the same table; the record carries the Python
version (tomllib's) and the size and mtime of this file, and is ignored when either differs.

Obeys the rules of `.devenv/` (docs/architecture.md, "The .devenv/ contract"): written
atomically by `store.write_atomic`, only by commands that hold `.devenv/lock` (lock, and a
sync that locks); read with O_NOFOLLOW, never when `.devenv` is a link or the file another
user's; bound to its checkout (`binding.py`), so a copied or committed file is ignored.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

from devenv import digest
from devenv.binding import read_bound_json, write_bound_json
from devenv.layout import RESOLVED

SCHEMA = 1
#: Where a table starts (the line before it ends with the newline).
TABLE = "\n[[packages]]\n"

_TYPES: dict[str, Any] = {
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
}


def _code() -> list[Any]:
    info = os.stat(__file__)
    return [SCHEMA, list(sys.version_info[:3]), info.st_size, info.st_mtime_ns]


def _encode(value: Any) -> Any:
    for name in ("datetime", "date", "time"):  # datetime first: a datetime is a date too
        if isinstance(value, getattr(datetime, name)):
            return {"$toml": name, "iso": value.isoformat()}
    raise TypeError(f"{type(value).__name__} in a lock table")


def _decode(table: dict[str, Any]) -> Any:
    if len(table) == 2 and table.get("$toml") in _TYPES and isinstance(table.get("iso"), str):
        return _TYPES[table["$toml"]](table["iso"])
    return table


def parse(root: str, text: str) -> dict[str, Any]:
    """What `tomllib.loads(text)` gives for the lock text `text` the installer wrote for the
    project at `root` (its TOMLDecodeError too), parsing only the tables the record lacks;
    the record is replaced by the tables of `text`."""
    import tomllib

    head, cut, rest = text.partition(TABLE)
    parts = [TABLE.lstrip("\n") + part for part in rest.split(TABLE)] if cut else []
    try:
        document = tomllib.loads(head + "\n")
    except tomllib.TOMLDecodeError:  # cut through a string: the whole text decides
        return tomllib.loads(text)
    if not parts or "packages" in document:
        return tomllib.loads(text)
    found = read_bound_json(root, RESOLVED, SCHEMA)
    known = found.get("tables") if found is not None and found.get("code") == _code() else None
    recorded: dict[str, Any] = known if isinstance(known, dict) else {}
    tables, kept = [], {}
    for part in parts:
        key = digest.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()
        encoded = recorded.get(key)
        if isinstance(encoded, str):
            table = json.loads(encoded, object_hook=_decode)
        else:
            try:
                alone = tomllib.loads(part)
            except tomllib.TOMLDecodeError:
                return tomllib.loads(text)  # cut where it must not be: the whole text decides
            if list(alone) != ["packages"] or len(alone["packages"]) != 1:
                return tomllib.loads(text)
            table = alone["packages"][0]
            encoded = _recordable(table)
        tables.append(table)
        if encoded is not None:
            kept[key] = encoded
    document["packages"] = tables
    if kept != recorded:
        _save(root, kept)
    return document


def _recordable(table: dict[str, Any]) -> str | None:
    """`table` as JSON, when reading that back gives the same table; else None."""
    try:
        encoded = json.dumps(table, default=_encode, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    return encoded if json.loads(encoded, object_hook=_decode) == table else None


def _save(root: str, tables: dict[str, str]) -> None:
    # A memo checked against its text and code: losing it in a power cut costs time only.
    write_bound_json(root, RESOLVED, SCHEMA, {"code": _code(), "tables": tables}, durable=False)
