"""devenv.records.dataclass makes, from the same declarations, classes that behave as the
standard library's dataclasses do (mypy checks them as dataclasses: devenv/records.py)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from devenv import records


def _declare(decorate: Any, field: Any) -> tuple[type, type, type]:
    @decorate(frozen=True, kw_only=True, slots=True)
    class Point:
        """A point."""

        x: int
        y: int = 2
        tags: list[str] = field(default_factory=list)
        hidden: str = field(default="s", repr=False)

        @property
        def total(self) -> int:
            return self.x + self.y

    @decorate(frozen=True, slots=True)
    class Pair:
        first: str
        second: str = "b"

    @decorate(kw_only=True, slots=True)
    class Counter:
        count: int = 0

    return Point, Pair, Counter


MINE = _declare(records.dataclass, records.field)
THEIRS = _declare(dataclasses.dataclass, dataclasses.field)


@pytest.mark.parametrize("classes", [MINE, THEIRS], ids=["records", "dataclasses"])
def test_records_behave_as_dataclasses(classes: tuple[type, type, type]) -> None:
    point_class, pair_class, counter_class = classes
    point = point_class(x=1)
    assert (point.x, point.y, point.tags, point.hidden, point.total) == (1, 2, [], "s", 3)
    assert point == point_class(x=1) and point != point_class(x=1, y=3)
    assert hash(point_class(x=1, tags=())) == hash(point_class(x=1, tags=()))
    assert point_class(x=1).tags is not point_class(x=1).tags  # a fresh default each time
    assert repr(point).endswith("Point(x=1, y=2, tags=[])")
    assert point_class.__doc__ == "A point."
    with pytest.raises(AttributeError):
        point.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.x  # type: ignore[misc]
    assert not hasattr(point, "__dict__")
    with pytest.raises(TypeError):
        point_class(1)
    with pytest.raises(TypeError):
        point_class(y=1)  # x is required
    pair = pair_class("a")
    assert (pair.first, pair.second) == ("a", "b") and pair_class.__match_args__ == ("first", "second")
    counter = counter_class()
    counter.count += 1
    assert counter.count == 1 and counter != counter_class()
    with pytest.raises(TypeError):
        hash(counter)  # mutable and compared by value: unhashable, as a dataclass is
    for again in (copy.copy(point), copy.deepcopy(point)):  # through __reduce_ex__, as pickle
        assert again == point


def test_replace_is_dataclasses_replace() -> None:
    for point_class, replace in ((MINE[0], records.replace), (THEIRS[0], dataclasses.replace)):
        moved = replace(point_class(x=1, tags=["a"]), y=5)
        assert (moved.x, moved.y, moved.tags) == (1, 5, ["a"])
        with pytest.raises(TypeError):
            replace(point_class(x=1), z=1)


def test_the_refresh_path_does_not_import_dataclasses() -> None:
    """What the records are for: resolving (spec, dotenv, resolver, store) without
    `dataclasses` and the `inspect` it brings."""
    code = (
        "import sys, devenv.project, devenv.explain, devenv.doctor\n"
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
