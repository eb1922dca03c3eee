"""`needs` order: what may start now, and the levels a stop goes through (devenv/needs.py)."""

from __future__ import annotations

from devenv.needs import startable, stop_levels

#: web and beat need worker, worker needs the migrate task and a service (not a unit here).
NEEDS = {"migrate": [], "worker": ["migrate", "redis"], "web": ["worker"], "beat": ["worker"]}


def test_units_start_after_what_they_need_in_declaration_order() -> None:
    assert startable(NEEDS, done=set(), begun=set()) == ["migrate"]
    assert startable(NEEDS, done={"migrate"}, begun={"migrate"}) == ["worker"]
    assert startable(NEEDS, done={"migrate", "worker"}, begun={"migrate", "worker"}) == ["web", "beat"]


def test_a_need_that_is_begun_but_not_done_holds_back_what_needs_it() -> None:
    assert startable(NEEDS, done={"migrate"}, begun={"migrate", "worker"}) == []


def test_a_stop_goes_from_what_nothing_needs_down_to_what_everything_needs() -> None:
    assert stop_levels(NEEDS) == [["web", "beat"], ["worker"], ["migrate"]]


def test_a_stop_of_some_units_keeps_their_order_and_puts_undeclared_names_first() -> None:
    assert stop_levels(NEEDS, ["worker", "web"]) == [["web"], ["worker"]]
    assert stop_levels(NEEDS, ["stray", "worker"]) == [["stray"], ["worker"]]


def test_a_cycle_does_not_hang_the_stop() -> None:
    levels = stop_levels({"a": ["b"], "b": ["a"]})
    assert sorted(name for level in levels for name in level) == ["a", "b"]
