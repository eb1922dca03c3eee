"""Finding the project: the nearest folder upward that holds envspec.toml (like git and .git).

On the `print-env` / `run` path, so it imports only `os`.
"""

import os

SPEC_FILENAME = "envspec.toml"


def find_root(start: str) -> str | None:
    """The nearest folder at or above `start` holding envspec.toml, or None."""
    current = os.path.abspath(start)
    while True:
        if os.path.isfile(os.path.join(current, SPEC_FILENAME)):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
