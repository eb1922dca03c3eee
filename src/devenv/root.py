"""Finding the project: the nearest folder upward that holds envspec.toml (like git and .git).

On the `print-env` / `run` path, so it imports only `os` (errors.py only to raise one).
"""

import os

SPEC_FILENAME = "envspec.toml"


def find_root(start: str) -> str | None:
    """The nearest folder at or above `start` holding envspec.toml, or None."""
    current = os.path.abspath(start)
    while True:
        # exists, not isfile: an envspec.toml that is a FIFO or a folder is this project's,
        # and reading it says what is wrong with it.
        if os.path.exists(os.path.join(current, SPEC_FILENAME)):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def project_root(option: str | None) -> str:
    """The project folder: `option` (`--root`) when given, else the nearest folder upward
    from the working directory holding envspec.toml; a UsageError names the fix."""
    if option is not None:
        root = os.path.abspath(option)
        if not os.path.exists(os.path.join(root, SPEC_FILENAME)):
            from devenv.errors import UsageError

            raise UsageError(f"--root {option}: no {SPEC_FILENAME} in {root}")
        return root
    found = find_root(os.getcwd())
    if found is None:
        from devenv.errors import UsageError

        raise UsageError(
            f"no {SPEC_FILENAME} in {os.getcwd()} or any folder above it; "
            "run devenv inside a project or pass --root DIR"
        )
    return found
