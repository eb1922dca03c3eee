"""`devenv up`'s choices that need no process (devenv/up.py): the instance, what starts, what is refused."""

from __future__ import annotations

import pytest

from devenv.errors import SpecError, UsageError
from devenv.spec import Spec, parse_spec
from devenv.up import NEW_INSTANCE, up_instance, up_order


def test_instance_new_is_a_fresh_unique_instance_each_time() -> None:
    first, second = up_instance(NEW_INSTANCE), up_instance(NEW_INSTANCE)
    assert first is not None and second is not None
    assert first.startswith("up_") and second.startswith("up_") and first != second


def test_any_other_instance_is_taken_as_given() -> None:
    assert up_instance(None) is None
    assert up_instance("ci_7") == "ci_7"


SPEC = b"""\
[project]
name = "shop"

[processes.worker]
command = ["python", "worker.py"]

[processes.web]
command = ["python", "web.py"]
needs = ["worker"]
"""


def _spec(data: bytes = SPEC) -> Spec:
    return parse_spec(data, path="/shop/envspec.toml", root="/shop")


def test_up_starts_what_a_process_needs_first() -> None:
    wanted, order = up_order(_spec(), ["web"])
    assert wanted == ["web"]
    assert [process.name for process in order] == ["worker", "web"]
    assert up_order(_spec(), [])[0] == ["worker", "web"]


def test_up_refuses_before_starting_or_detaching_anything() -> None:
    with pytest.raises(UsageError, match="arguments after -- go to one process: devenv up NAME -- ARGS"):
        up_order(_spec(), [], extra_args=["--verbose"])
    with pytest.raises(SpecError, match="no process named 'nothere'"):
        up_order(_spec(), ["nothere"])
    with pytest.raises(
        UsageError, match=r"/shop/envspec.toml declares no \[processes.NAME\]; nothing to start"
    ):
        up_order(_spec(b'[project]\nname = "empty"\n'), [])
