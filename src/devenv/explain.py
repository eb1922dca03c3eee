"""`devenv explain [KEY]`: each variable's value (secrets masked) and where it came from.

It resolves the current inputs (what the next launch will get) without writing `.devenv/`,
so it answers "why does my process see this value" even before a sync.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypedDict

from devenv.environment import INSTANCE_KEY, MANAGED_BY, PROFILE_KEY, join_path
from devenv.errors import UsageError
from devenv.records import dataclass
from devenv.resolver import MANAGED_SOURCE, Resolution


class ExplainedJson(TypedDict):
    key: str
    value: str
    masked: bool
    source: str
    overrode: list[str]
    managed_by: str | None
    instance: str | None


class ExplanationJson(TypedDict):
    """The `devenv explain --json` shape."""

    root: str
    revealed: bool
    variables: list[ExplainedJson]
    not_set: dict[str, str]
    process: str | None
    profile: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExplainedVariable:
    """One variable: its shown value, its provenance, what it overrode (lowest layer first)."""

    key: str
    value: str
    masked: bool
    source: str
    overrode: tuple[str, ...] = ()
    #: For managed keys: the envspec.toml key that controls the value.
    managed_by: str | None = None
    #: For DEVENV_INSTANCE and every value built from it: where the instance came from.
    instance: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """The variables explained, plus declared keys that are deliberately not set, and why."""

    root: str
    variables: tuple[ExplainedVariable, ...]
    not_set: tuple[tuple[str, str], ...] = ()
    revealed: bool = False
    #: The process or task whose declared environment this is (`--process NAME`), if any.
    process: str | None = None
    #: The profile it was resolved for (`--profile NAME` / DEVENV_PROFILE), if any.
    profile: str | None = None

    def to_json(self) -> ExplanationJson:
        """The JSON form (`devenv explain --json`)."""
        return {
            "root": self.root,
            "revealed": self.revealed,
            "variables": [
                {
                    "key": v.key,
                    "value": v.value,
                    "masked": v.masked,
                    "source": v.source,
                    "overrode": list(v.overrode),
                    "managed_by": v.managed_by,
                    "instance": v.instance,
                }
                for v in self.variables
            ],
            "not_set": dict(self.not_set),
            "process": self.process,
            "profile": self.profile,
        }


def explain(
    root: str,
    outer: Mapping[str, str],
    key: str | None = None,
    reveal: bool = False,
    *,
    process: str | None = None,
    instance: str | None = None,
) -> Explanation:
    """Explain every variable of the project at `root` (or only `key`) as a launch would see
    it; with `process`, as that declared process or task gets it (its own `env` on top), in
    `instance` (default: the checkout's own, `environment.default_instance`)."""
    from devenv.project import resolve_env

    # Through the launches' own door: DEVENV_FINGERPRINT must be the one they get. A missing
    # pythonpath folder does not hide the values (doctor names it).
    state = resolve_env(root, outer, check_paths=False, unit=process, instance=instance or None)
    spec, resolution = state.spec, state.resolution
    explained = _explained(resolution, outer, reveal=reveal, instance=instance_origin(root, instance))
    not_set = _not_set(spec.env.inherit, spec.env.unset, resolution, outer)
    profile = spec.profile.name if spec.profile else None

    def explanation(
        variables: tuple[ExplainedVariable, ...], unset: tuple[tuple[str, str], ...]
    ) -> Explanation:
        return Explanation(
            root=root, variables=variables, not_set=unset, revealed=reveal, process=process, profile=profile
        )

    if key is None:
        return explanation(explained, not_set)
    for variable in explained:
        if variable.key == key:
            return explanation((variable,), ())
    for name, reason in not_set:
        if name == key:
            return explanation((), ((name, reason),))
    raise UsageError(_unknown(key, [v.key for v in explained] + [name for name, _ in not_set]))


def instance_origin(root: str, instance: str | None) -> str:
    """Where ${DEVENV_INSTANCE} comes from, in words: `instance` (--instance NAME), or None
    for the checkout's default one, named after its folder and path (default_instance)."""
    from devenv.environment import default_instance

    real = os.path.realpath(root)
    default = f'its folder name "{os.path.basename(real)}" + a hash of {real}'
    if instance is None or instance == default_instance(root):
        return f"this checkout's default instance: {default}; --instance NAME joins or starts another"
    return f"--instance {instance} (this checkout's default is {default_instance(root)}: {default})"


def _explained(
    resolution: Resolution, outer: Mapping[str, str], *, reveal: bool, instance: str
) -> tuple[ExplainedVariable, ...]:
    from devenv.masking import Masker, mask_value

    declared = resolution.secret
    # By value too: a secret interpolated into an innocently named variable stays hidden.
    masker = Masker.from_variables(resolution.values(), declared)
    result = []
    for variable in resolution.variables:
        shown = variable.value if reveal else masker.mask(mask_value(variable.key, variable.value, declared))
        result.append(
            ExplainedVariable(
                key=variable.key,
                value=shown,
                masked=shown != variable.value,
                source=variable.source,
                overrode=variable.overrode,
                managed_by=MANAGED_BY.get(variable.key) if variable.source == MANAGED_SOURCE else None,
                instance=instance if variable.uses_instance or variable.key == INSTANCE_KEY else None,
            )
        )
    if resolution.path_prefix:
        # PATH is managed but not stored as a variable: it depends on the caller's PATH.
        path = join_path(resolution.path_prefix, outer.get("PATH", os.defpath))
        result.append(
            ExplainedVariable(
                key="PATH",
                value=path,
                masked=False,
                source=MANAGED_SOURCE,
                managed_by=MANAGED_BY["PATH"],
            )
        )
    return tuple(sorted(result, key=lambda v: v.key))


def _not_set(
    inherit: tuple[str, ...], unset: tuple[str, ...], resolution: Resolution, outer: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    values = resolution.values()
    reasons = []
    for key in inherit:
        if key not in values:
            reasons.append((key, "listed in [env].inherit but not set in the outer environment"))
    for key in resolution.unset:
        if key not in values:
            if key in unset:
                why = "[env].unset"
            elif key == PROFILE_KEY:
                why = "no profile chosen: --profile NAME or DEVENV_PROFILE picks a [profiles.NAME]"
            else:
                why = "[paths].pythonpath is empty"
            reasons.append((key, f"removed from every launch ({why})"))
    return tuple(reasons)


def _unknown(key: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    close += [name for name in known if name not in close and key.lower() == name.lower()]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return (
        f"{key} is not a variable of this project{hint} "
        "(`devenv explain` lists them all; declare new ones in envspec.toml [vars] or a dotenv file)"
    )


def format_explain(explanation: Explanation) -> str:
    """Human text: `KEY=value` then its provenance, one variable per paragraph-less line pair."""
    lines = []
    for variable in explanation.variables:
        value = variable.value if variable.value.isprintable() else repr(variable.value)
        lines.append(f"{variable.key}={value}")
        if variable.key == INSTANCE_KEY and variable.instance:
            origin = f"built-in: {variable.instance}"
        elif variable.managed_by:
            origin = f"managed by devenv, controlled by {variable.managed_by}"
        else:
            origin = f"from {variable.source}"
        if variable.instance and variable.key != INSTANCE_KEY:
            origin += f", using ${{DEVENV_INSTANCE}} ({variable.instance})"
        if variable.overrode:
            origin += f"; overrode {', '.join(reversed(variable.overrode))}"
        lines.append(f"    {origin}")
    for key, reason in explanation.not_set:
        lines.append(f"{key} (not set)")
        lines.append(f"    {reason}")
    return "\n".join(lines) + "\n" if lines else ""


#: Shown on stderr under a table with masked values: a message, not data.
MASKED_NOTE = "*** = secret, masked; `devenv explain --reveal KEY` shows it"
