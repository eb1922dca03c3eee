"""docker renderer: raw `KEY=value` lines for `docker run --env-file`."""

from __future__ import annotations

from devenv.environment import exported
from devenv.errors import RenderError
from devenv.renderers import HEADER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


# bufio.Scanner's MaxScanTokenSize: docker's kvfile fails on a longer line.
_MAX_LINE_BYTES = 64 * 1024


def render(env: CanonicalEnv, base_path: str | None) -> str:
    """One raw line per key; refuses what docker's kvfile parser cannot carry unchanged."""
    variables = env.variables if base_path is None else exported(env, base_path)
    lines = [HEADER]
    for key, value in variables.items():
        _check(key, value)
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def _check(key: str, value: str) -> None:
    """Raise `RenderError` naming `key` if its value would not come back from --env-file."""
    # docker/cli pkg/kvfile: no escapes or quoting exist, lines must be valid UTF-8 and
    # shorter than 64 KiB, and newer versions strip one pair of matching outer quotes.
    problem = None
    if "\n" in value:
        problem = "contains a newline, which --env-file cannot carry"
    elif "\r" in value:
        problem = "contains a carriage return, which --env-file drops or splits on"
    elif any("\ud800" <= char <= "\udfff" for char in value):
        problem = "is not valid UTF-8 (undecodable bytes), which --env-file rejects"
    elif len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        problem = "starts and ends with the same quote, which some docker versions strip"
    elif len(f"{key}={value}".encode()) >= _MAX_LINE_BYTES:
        problem = "is 64 KiB or longer, more than --env-file reads on one line"
    if problem:
        raise RenderError(
            f"devenv cannot write {key} in docker format: its value {problem}; use --format dotenv or json"
        )
