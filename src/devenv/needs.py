"""What `needs` means for order: which declared units may start now, and the levels a stop
goes through (those nothing needs first, each level at once).

Pure: it sees names and their `needs` only, so processes and one-shot steps are alike here
(a need outside the mapping, such as a service, is met before any unit starts).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


def startable(
    needs: Mapping[str, Sequence[str]], *, done: Collection[str], begun: Collection[str]
) -> list[str]:
    """The units not begun yet whose every need (among `needs`' keys) is done, in the
    mapping's order."""
    return [
        name
        for name, wanted in needs.items()
        if name not in begun and all(need in done for need in wanted if need in needs)
    ]


def stop_levels(needs: Mapping[str, Sequence[str]], names: Sequence[str] | None = None) -> list[list[str]]:
    """`names` (default: every unit) grouped for stopping: first those no other unit needs,
    then what only they needed, and so on, so nothing stops before what depends on it.

    A unit's level is the longest chain of dependents above it; units in one level stop at
    once. Names outside `needs` (not declared) go in the first level.
    """
    wanted = list(needs) if names is None else list(names)
    dependents: dict[str, list[str]] = {name: [] for name in needs}
    for name, its_needs in needs.items():
        for need in its_needs:
            if need in dependents:
                dependents[need].append(name)
    rank: dict[str, int] = {}

    def level(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in rank:
            above = [d for d in dependents.get(name, ()) if d not in seen]
            rank[name] = 1 + max((level(d, (*seen, name)) for d in above), default=-1)
        return rank[name]

    levels: dict[int, list[str]] = {}
    for name in wanted:
        levels.setdefault(level(name), []).append(name)
    return [levels[index] for index in sorted(levels)]
