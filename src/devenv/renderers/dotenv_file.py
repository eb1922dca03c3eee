"""dotenv renderer: `KEY='value'` lines as python-dotenv reads them."""

from __future__ import annotations

import os

from devenv.environment import exported
from devenv.renderers import HEADER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


__all__ = ["quote", "render"]


def quote(value: str) -> str:
    """`value` single-quoted; python-dotenv decodes only `\\\\` and `\\'` inside `'...'`."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(env: CanonicalEnv, base_path: str | None) -> str:
    """One line per key; PATH only when `base_path` is known (unset keys cannot be written)."""
    lines = [HEADER]
    if base_path is None:
        variables = env.variables
        if env.path_prefix:
            folders = os.pathsep.join(env.path_prefix)
            if "\n" in folders or "\r" in folders:  # would end the comment line early
                folders = f"{len(env.path_prefix)} folder(s), see env.json"
            lines.append(f"# PATH is not set here: devenv puts these folders first: {folders}")
    else:
        variables = exported(env, base_path)
    lines += [f"{key}={quote(value)}" for key, value in variables.items()]
    return "\n".join(lines) + "\n"
