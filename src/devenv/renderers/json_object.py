"""JSON renderer: one flat object of what a launched process receives."""

from __future__ import annotations

import json

from devenv.environment import exported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


def render(env: CanonicalEnv, base_path: str | None) -> str:
    """Sorted keys, ASCII-only; PATH only when `base_path` is known, unset keys left out."""
    variables = env.variables if base_path is None else exported(env, base_path)
    return json.dumps(variables, ensure_ascii=True, sort_keys=True, indent=2) + "\n"
