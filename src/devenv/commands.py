"""Command words to executables: the one rule `devenv run`, `up`, services and the fixture share.

- `python` means the project's venv interpreter, whatever PATH says;
- a path with a slash and not absolute is taken from the project root, so `scripts/start-x`
  works the same from any subfolder;
- a bare name is looked up on the canonical PATH (the venv's bin first), not the caller's.

On the `run` start-up path: it imports nothing beyond `os` (errors.py only when a word
names no executable).
"""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.errors import CommandNotFoundError


def find_command(word: str, *, path: str, root: str, venv: str | None = None) -> str:
    """The absolute executable for `word` (see the module docstring); CommandNotFoundError if none."""
    if word == "python" and venv:
        candidate = os.path.join(venv, "bin", "python")
        if _is_executable(candidate):
            return candidate
        raise _not_found(f"python: the venv interpreter {candidate} does not exist; run `devenv sync`")
    if os.sep in word:
        candidate = word if os.path.isabs(word) else os.path.join(root, word)
        if _is_executable(candidate):
            return os.path.normpath(candidate)
        where = "" if os.path.isabs(word) else f" (relative paths are taken from the project root {root})"
        raise _not_found(f"{word}: no such executable file{where}")
    for folder in path.split(os.pathsep):
        if not folder:
            continue  # an empty entry means "the current folder": never, it varies by caller
        candidate = os.path.join(folder, word)
        if _is_executable(candidate):
            return os.path.abspath(candidate)
    first = path.split(os.pathsep)[0] if path else "(empty)"
    raise _not_found(
        f"command not found: {word} (searched the canonical PATH, which starts with {first}); "
        "install it, e.g. add it to [python].packages and run `devenv sync`"
    )


def _is_executable(candidate: str) -> bool:
    return os.path.isfile(candidate) and os.access(candidate, os.X_OK)


def _not_found(message: str) -> "CommandNotFoundError":
    from devenv.errors import CommandNotFoundError

    return CommandNotFoundError(message)
