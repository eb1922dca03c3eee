"""`.devenv/packaging.json`: what the `packaging` library answered for this project, kept so
that a sync, `lock` or `lock --check` of unchanged inputs does not import it.

Importing `packaging` (its requirement, specifier and marker modules pull in dataclasses,
logging, platform and ~100 regular expressions) took 40 ms of each command here with
bytecode and 65 ms without (PYTHONDONTWRITEBYTECODE=1 and a venv uv installed without
bytecode): a fifth of `devenv sync --frozen` into an empty venv and of `devenv lock`, whose
budgets are ratios to uv's own (README, "Performance"). Every question devenv asks it
(whether a requirement line is valid and what it names, whether a specifier contains a
version, whether a marker holds in an environment) is a pure function of its text, so the
answer is kept under the question, as JSON, and asked again only for a new question.

An answer is trusted only from the same code: the record carries packaging's version and the
size and mtime of this file (which says how each answer is computed), and is ignored when
either differs. Only answers are kept: a question packaging refused (an invalid line or
marker) is asked again every time, so its error message is packaging's own.

Obeys the rules of `.devenv/` (docs/architecture.md, "The .devenv/ contract"): written
atomically by `store.write_atomic`, only by commands that hold `.devenv/lock` (sync, lock);
read with O_NOFOLLOW, never when `.devenv` is a link or the file another user's; bound to its
checkout (`binding.py`), so a copied or committed file is ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from devenv.binding import read_bound_json, write_bound_json
from devenv.layout import PACKAGING

SCHEMA = 1

T = TypeVar("T")

#: The answers as read (and added to) by this process, per root: kind -> question -> answer.
_READ: dict[str, dict[str, dict[str, Any]]] = {}
#: Roots with answers not written yet.
_PENDING: set[str] = set()


def _code() -> list[Any]:
    """What the answers were computed by: packaging's version (its `__init__` alone, ~0.2 ms)
    and this module's size and mtime."""
    import packaging

    info = os.stat(__file__)
    return [SCHEMA, str(packaging.__version__), info.st_size, info.st_mtime_ns]


def _answers(root: str) -> dict[str, dict[str, Any]]:
    if root not in _READ:
        document = read_bound_json(root, PACKAGING, SCHEMA)
        current = document is not None and document.get("code") == _code()
        answers = document.get("answers") if document is not None and current else None
        _READ[root] = (
            {kind: dict(found) for kind, found in answers.items() if isinstance(found, dict)}
            if isinstance(answers, dict)
            else {}
        )
    return _READ[root]


def answer(root: str | None, kind: str, question: str, compute: Callable[[], T]) -> T:
    """The answer to `question` of `kind` (a name of the function asked, with any context the
    answer depends on, such as the marker environment), from `root`'s record when it holds
    one, else `compute()`'s, which must be JSON (str, bool, list of str) and is recorded.
    An exception of `compute` (packaging refusing the question) goes to the caller, and
    nothing is recorded. `root` None: `compute()`, without a record."""
    if root is None:
        return compute()
    answers = _answers(root).setdefault(kind, {})
    if question in answers:
        found: T = answers[question]
        return found
    value = compute()
    answers[question] = value
    _PENDING.add(root)
    return value


def save(root: str) -> None:
    """Write the answers of `root` found by this process, if any are new. Called only by a
    command holding `.devenv/lock`."""
    if root not in _PENDING:
        return
    _PENDING.discard(root)
    # A memo that is checked against its code and question: losing it in a power cut costs time only.
    fields: dict[str, object] = {"code": _code(), "answers": _answers(root)}
    write_bound_json(root, PACKAGING, SCHEMA, fields, durable=False)


class Refused(Exception):
    """packaging refused the question (an invalid requirement or marker); str() is its message."""


def requirement(root: str | None, text: str) -> tuple[str, str]:
    """(normalised name, URL or "") of the PEP 508 requirement `text`; Refused for a line
    that is not one."""

    def parse() -> list[str]:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        try:
            parsed = Requirement(text)
        except InvalidRequirement as exc:
            raise Refused(str(exc)) from None
        return [canonicalize_name(parsed.name), parsed.url or ""]

    name, url = answer(root, "requirement", text, parse)
    return name, url


def contains(root: str | None, specifier: str, version: str) -> bool:
    """Whether the PEP 440 `specifier` (valid: checked where it was read) allows `version`,
    pre-releases included."""

    def ask() -> bool:
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(specifier).contains(version, prereleases=True)

    return answer(root, "contains " + specifier, version, ask)


def lowest_minor(root: str | None, requires: str) -> str:
    """The lowest Python 3 minor version (3.8 to 3.19) the specifier `requires` allows for
    some patch release, "" for none."""

    def lowest() -> str:
        from packaging.specifiers import SpecifierSet

        allowed = SpecifierSet(requires)
        for minor in range(8, 20):
            if any(allowed.contains(f"3.{minor}.{patch}", prereleases=True) for patch in range(0, 40)):
                return f"3.{minor}"
        return ""

    return answer(root, "lowest minor", requires, lowest)


def marker_holds(root: str | None, text: str, environment: Mapping[str, str | frozenset[str]]) -> bool:
    """Whether the marker `text` holds in `environment`: PEP 751's evaluation when a value is
    a set (`extras`, `dependency_groups` of a lock's package), which packaging before 25.1
    does not know (then PEP 508's, the same for every other marker); Refused for a marker
    packaging cannot read."""

    def evaluate() -> bool:
        from packaging.markers import InvalidMarker, Marker

        try:
            marker = Marker(text)
        except InvalidMarker as exc:
            raise Refused(str(exc)) from None
        if not any(isinstance(value, frozenset) for value in environment.values()):
            return marker.evaluate(environment)
        try:
            return marker.evaluate(environment, "lock_file")
        except TypeError:
            plain = {key: value for key, value in environment.items() if isinstance(value, str)}
            return marker.evaluate(plain)

    return answer(root, "marker " + environment_key(environment), text, evaluate)


def environment_key(environment: Mapping[str, str | frozenset[str]]) -> str:
    """A marker environment as text (sets as sorted lists), for the `kind` of a marker answer."""
    plain = {
        key: sorted(value) if isinstance(value, frozenset) else value for key, value in environment.items()
    }
    return json.dumps(plain, sort_keys=True, separators=(",", ":"))
