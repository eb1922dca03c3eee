"""The staleness guard of the pre-rendered shell files (env.sh, env.fish, env.ps1).

Sourcing `.devenv/env.sh` costs no Python start-up, but nothing refreshes it when `.env` is
edited, so it would silently export the old values. Each pre-rendered file therefore starts
with a check that costs only a few `stat` calls: is any input newer than this file (devenv
gives the file the newest input's mtime when it writes it), or has one appeared or vanished,
or does the shell's DEVENV_PROFILE name another profile than the one the file holds?
If so it asks devenv for the current values instead, through the devenv that wrote it, else
the one on PATH; when neither exists it says so on stderr and loads the old values. When
the refresh fails, nothing is loaded and the `.` / `source` itself fails (status 1).

`print-env` output never carries this guard: it is current by construction. Each shell's guard
is the `guard(body, stale)` of its format's module (`Format.module`, as `render` is), written
in that shell's own quoting; this module gives it what to test and what to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devenv.records import dataclass

if TYPE_CHECKING:
    from devenv.store import InputRecord


_NOTE = "devenv: {own} is older than its inputs"
_FAILED = "; refreshing it failed (see above); nothing was loaded"
_NOT_FOUND = " and devenv is not on PATH; loading the values devenv last wrote"


@dataclass(frozen=True, kw_only=True, slots=True)
class Staleness:
    """What a shell's guard tests and says: the file itself, the inputs it must not be older
    than (`present`) or that must not have appeared (`absent`), the project, the devenv that
    wrote it, the profile its values are of ("" for none), and the two messages on stderr."""

    own: str
    present: tuple[str, ...]
    absent: tuple[str, ...]
    root: str
    devenv: str
    profile: str
    failed: str
    not_found: str


def with_refresh(
    fmt: str,
    text: str,
    *,
    own_path: str,
    inputs: Sequence[InputRecord],
    root: str,
    devenv: str,
    profile: str = "",
) -> str:
    """`text` (the rendering of `fmt`) wrapped in the staleness guard of its shell; `text`
    itself for a format whose module has no `guard` (env.dotenv: no shell sources it).
    `profile` is the profile the values are of ("" for none)."""
    from devenv.renderers import lookup

    module = __import__(f"devenv.renderers.{lookup(fmt).module}", fromlist=["render"])
    guard = getattr(module, "guard", None)
    if guard is None:
        return text
    note = _NOTE.format(own=own_path)
    stale = Staleness(
        own=own_path,
        present=tuple(record["path"] for record in inputs if record["size"] is not None),
        absent=tuple(record["path"] for record in inputs if record["size"] is None),
        root=root,
        devenv=devenv,
        profile=profile,
        failed=note + _FAILED,
        not_found=note + _NOT_FOUND,
    )
    header, _, body = text.partition("\n")
    guarded: str = guard(body, stale)
    return header + "\n" + guarded
