"""`devenv up`'s choices that do not need a process (devenv/up.py)."""

from __future__ import annotations

from devenv.up import NEW_INSTANCE, up_instance


def test_instance_new_is_a_fresh_unique_instance_each_time() -> None:
    first, second = up_instance(NEW_INSTANCE), up_instance(NEW_INSTANCE)
    assert first is not None and second is not None
    assert first.startswith("up_") and second.startswith("up_") and first != second


def test_any_other_instance_is_taken_as_given() -> None:
    assert up_instance(None) is None
    assert up_instance("ci_7") == "ci_7"
