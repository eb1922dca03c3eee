"""GitHub Actions renderer: heredoc entries for the `$GITHUB_ENV` file."""

from __future__ import annotations

import os

from devenv.environment import exported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


#: Names the Actions runner will not take from $GITHUB_ENV, compared ignoring case: it fails
#: the step with "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command."
#: (NODE_OPTIONS would change how the runner's own Node actions run).
RUNNER_REFUSES = ("NODE_OPTIONS",)


def refused(variables: dict[str, str]) -> list[str]:
    """The keys of `variables` the runner refuses, which `render` leaves out."""
    return [key for key in variables if key.upper() in RUNNER_REFUSES]


def notes(env: CanonicalEnv, base_path: str | None) -> list[str]:
    """One line per key `render` leaves out (print-env shows them on stderr)."""
    from devenv.environment import exported

    return [
        f"left out {key}: the GitHub Actions runner refuses it from $GITHUB_ENV"
        for key in refused(exported(env, base_path or ""))
    ]


def delimiter() -> str:
    """A fresh `ghadelimiter_<32 hex>` (128 random bits, like the toolkit's uuid)."""
    return "ghadelimiter_" + os.urandom(16).hex()


def render(env: CanonicalEnv, base_path: str | None) -> str:
    """`KEY<<D`, the value, `D` per key; unset keys cannot be expressed and are left out.

    Always the heredoc form: `KEY=value` cannot carry a newline, and a guessable delimiter
    lets a value inject further `NAME=value` lines (a value holding "\nPATH=/evil" would
    set PATH for every later step). Keys the runner refuses are left out (`refused`).
    """
    variables = env.variables if base_path is None else exported(env, base_path)
    skipped = refused(variables)
    parts = []
    for key, value in variables.items():
        if key in skipped:
            continue
        mark = delimiter()
        while mark in value:
            mark = delimiter()
        parts.append(f"{key}<<{mark}\n{value}\n{mark}\n")
    return "".join(parts)
