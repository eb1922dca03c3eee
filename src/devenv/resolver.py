"""Resolution: envspec.toml + dotenv entries + declared outer keys -> one environment.

Pure: it reads no files and never touches `os.environ`; the caller passes the parsed dotenv
files and the outer environment in, and only keys listed in `[env].inherit` are taken from
the latter (docs/architecture.md, "Resolution"). Every variable keeps its provenance for `devenv explain`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import NamedTuple

from devenv.dotenvfile import DotenvEntry
from devenv.environment import (
    FINGERPRINT_KEY,
    INSTANCE_KEY,
    MANAGED_BY,
    MANAGED_KEYS,
    PROFILE_KEY,
    ROOT_KEY,
    CanonicalEnv,
    default_instance,
)
from devenv.errors import REQUIRED_MISSING, Place, ResolveError, SpecError, preview
from devenv.records import dataclass
from devenv.spec import KEY_PATTERN, ProcessSpec, Spec, TaskSpec, line_of
from devenv.trust import CODE_EXECUTION_KEYS, CODE_EXECUTION_PREFIXES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.store import PythonRecord


#: Linux's MAX_ARG_STRLEN: the longest `KEY=value\0` string exec accepts.
MAX_VALUE_BYTES = 128 * 1024

VARS_SOURCE = "envspec.toml [vars]"
OUTER_SOURCE = "outer environment"
SET_SOURCE = "--set"
MANAGED_SOURCE = "managed"

#: An instance name ends up in queue names, file names and URLs: keep it plain.
INSTANCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


class Variable(NamedTuple):
    """A resolved variable, where its value came from, and what it replaced (lowest first).

    A named tuple rather than a record (devenv/records.py): a `.env` of 10 000 keys makes
    10 000 of them on every re-resolve, made in C (`_NEW_VARIABLE`)."""

    key: str
    value: str
    source: str
    overrode: tuple[str, ...] = ()
    #: Built from ${DEVENV_INSTANCE}, directly or through a variable that was (`devenv
    #: explain` then says where the instance came from: a queue name is only readable so).
    uses_instance: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class DotenvSource:
    """A dotenv file as declared in [dotenv].files; `entries` is None when optional and absent."""

    name: str
    entries: tuple[DotenvEntry, ...] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """The resolved environment with provenance; `canonical()` is what launchers apply."""

    root: str
    variables: tuple[Variable, ...]
    path_prefix: tuple[str, ...]
    unset: tuple[str, ...]
    secret: tuple[str, ...]
    fingerprint: str
    #: [env].pass: handed on from the launcher's environment, outside the fingerprint.
    pass_through: tuple[str, ...] = ()

    def values(self) -> dict[str, str]:
        """Every key to set (managed ones included, PATH excluded) and its value."""
        return {variable.key: variable.value for variable in self.variables}

    def canonical(self) -> CanonicalEnv:
        """The light form every launcher applies (see environment.apply_env)."""
        return CanonicalEnv(
            root=self.root,
            fingerprint=self.fingerprint,
            variables=self.values(),
            path_prefix=self.path_prefix,
            unset=self.unset,
            secret=self.secret,
            pass_through=self.pass_through,
            overridden=tuple(v.key for v in self.variables if v.source == SET_SOURCE),
        )


def interpolate(
    text: str, lookup: Callable[[str], str | None], *, where: str | Place, secret: bool = False
) -> str:
    """Expand `${NAME}` and `${NAME:-default}` in `text`; anything undefined is an error.

    As in the shell, a default may itself hold references (`${A:-${B:-x}}`), expanded only
    when it is used. A `${` never closed is literal text, as it always was.
    A `${...}` that is not a reference is part of the value, maybe a password: messages show
    only its first characters, and with `secret` (a secret's value) the same for names.
    """
    try:
        return _expanded(text, lookup)
    except _Unexpandable as problem:
        raise _unexpandable(problem, where, secret) from None


class _Unexpandable(Exception):
    """A `${...}` of a value that `_expanded` cannot expand: `inner` is its text, `name`
    the undefined name (None when it is no reference at all)."""

    def __init__(self, inner: str, name: str | None) -> None:
        super().__init__(inner)
        self.inner = inner
        self.name = name


def _expanded(text: str, lookup: Callable[[str], str | None]) -> str:
    """`interpolate` without the message: where and whether it is a secret are worked out
    only when a value fails (`_unexpandable`), not for each of 10 000 that do not."""
    start = text.find("${")
    if start < 0:
        return text
    end = text.find("}", start + 2)
    if end > 0 and text.find("${", start + 2) < 0:
        # One reference, `${NAME}` and defined: the common case, without the loop below.
        name = text[start + 2 : end]
        if ":-" not in name and KEY_PATTERN.match(name):
            value = lookup(name)
            if value is not None:
                return text[:start] + value + text[end + 1 :]
    parts = []
    position = 0
    while start >= 0:
        end = text.find("}", start + 2)
        if end < 0:
            break
        if text.find("${", start + 2, end) >= 0:
            end = _closing_brace(text, start + 2)  # a nested reference
        inner = text[start + 2 : end]
        name, has_default, default = inner.partition(":-")
        if not KEY_PATTERN.match(name):
            raise _Unexpandable(inner, None)
        value = lookup(name)
        if has_default and not value:
            value = _expanded(default, lookup)
        elif value is None:
            raise _Unexpandable(inner, name)
        parts += [text[position:start], value]
        position = end + 1
        start = text.find("${", position)
    return "".join(parts) + text[position:]


def _unexpandable(problem: _Unexpandable, where: str | Place, secret: bool) -> ResolveError:
    if problem.name is None:
        return ResolveError(
            f"{where}: the ${{...}} starting {preview(problem.inner)} is not a reference devenv understands; "
            "write ${NAME} or ${NAME:-default} (for a literal ${, single-quote the value)",
            place=_place(where),
        )
    name = problem.name
    if secret:
        return ResolveError(
            f"{where} references a ${{...}} starting {preview(name)}, which is not defined; define "
            "it earlier or add it to [env].inherit (single-quote the value if its ${ is literal)",
            place=_place(where),
        )
    return ResolveError(
        f"{where} references ${{{name}}}, which is not defined; add {name} to "
        "[env].inherit to take it from the outer environment, or define it earlier",
        place=_place(where),
        keys=(name,),
    )


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` closing the `${` before `start` (nested `${...}` counted), or -1.
    Unbalanced, the first `}` closes it: `${a ${B}` stays the error it always was."""
    first = text.find("}", start)
    if first < 0 or text.find("${", start, first) < 0:
        return first  # no nested `${` before the first `}`: that one closes it
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return first


def _place(where: str | Place) -> Place | None:
    return where if isinstance(where, Place) else None


def check_value(where: str | Place, key: str, value: str) -> None:
    """Refuse values no process can receive: NUL bytes, or longer than exec allows."""
    if "\x00" in value:
        raise ResolveError(
            f"{where}: the value of {key} contains a NUL byte, which no process can receive",
            place=_place(where),
            keys=(key,),
        )
    # The kernel limits each "KEY=value\0" string of an exec to MAX_ARG_STRLEN bytes.
    if len(f"{key}={value}".encode("utf-8", "surrogateescape")) + 1 > MAX_VALUE_BYTES:
        raise ResolveError(
            f"{where}: the value of {key} is longer than 128 KiB; Linux refuses to start "
            "any process with it (E2BIG); put the data in a file and set its path",
            place=_place(where),
            keys=(key,),
        )


def check_trusted(spec: Spec, key: str, where: str | Place) -> None:
    """Refuse a key that makes programs run code unless envspec.toml lists it in [env].trusted."""
    from devenv.trust import runs_code

    why = runs_code(key)
    if why is not None and key not in spec.env.trusted:
        raise ResolveError(
            f"{where}: {key} makes programs run code ({why}), so devenv takes it from a dotenv "
            f"file or --set only when {os.path.basename(spec.path)} lists it in [env].trusted; "
            f'add trusted = ["{key}"] to [env] if you mean it, or remove '
            f"{'the --set' if str(where).startswith('--set') else 'the line'}",
            place=_place(where),
            keys=(key,),
        )


def check_not_unset(spec: Spec, key: str, where: str | Place) -> None:
    """A key may not be both removed ([env].unset) and set: devenv will not pick one silently."""
    if key in spec.env.unset:
        raise ResolveError(
            f"{where} sets {key}, which {os.path.basename(spec.path)} [env].unset removes; "
            "remove one of the two",
            place=_place(where),
            keys=(key,),
        )


def check_override(spec: Spec, key: str, value: str, *, where: str) -> None:
    """Every check a value set on top of the files must pass, whoever sets it (`--set`, a
    process's overrides in the pytest fixture or the Python API): a variable name, not managed
    by devenv, listed in [env].trusted if it makes programs run code, not in [env].unset, and
    a value a process can receive. `where` names the setter ("--set")."""
    if not KEY_PATTERN.match(key):
        raise ResolveError(f"{where}: {preview(key)} is not a valid variable name")
    if key in MANAGED_KEYS:
        raise ResolveError(
            f"{where} {key}: {key} is managed by devenv and cannot be set here; "
            f"it comes from {MANAGED_BY[key]}",
            keys=(key,),
        )
    check_trusted(spec, key, f"{where} {key}")
    check_not_unset(spec, key, f"{where} {key}")
    check_value(f"{where} {key}", key, value)


def venv_path(spec: Spec) -> str:
    """Absolute path of the project's virtual environment."""
    return os.path.normpath(os.path.join(spec.root, spec.python.venv))


def venv_python(spec: Spec) -> str:
    """The venv's interpreter: the canonical interpreter of the project."""
    return os.path.join(venv_path(spec), "bin", "python")


def python_identity(record: PythonRecord | None) -> str:
    """What the fingerprint covers of the venv: interpreter and installed package set."""
    if record is None:
        return ""
    from devenv.digest import sha256

    digest = sha256()
    for part in (record["implementation"], record["version"], *record["installed"]):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def pythonpath_entries(spec: Spec) -> tuple[str, ...]:
    """Absolute [paths].pythonpath entries, in order, without duplicates."""
    entries: list[str] = []
    for entry in spec.pythonpath:
        absolute = os.path.normpath(os.path.join(spec.root, entry))
        if absolute not in entries:
            entries.append(absolute)
    return tuple(entries)


def check_separable(spec: Spec) -> None:
    """Refuse a venv or [paths] folder whose path has ':': PATH and PYTHONPATH would split it."""
    carried = [("PATH", os.path.join(venv_path(spec), "bin"))]
    carried += [("PYTHONPATH", entry) for entry in pythonpath_entries(spec)]
    for variable, folder in carried:
        if os.pathsep not in folder:
            continue
        if os.pathsep in spec.root:
            what, fix = f"the project folder {spec.root}", "move or rename the project folder to a path"
        else:
            what, fix = f"the venv folder {venv_path(spec)} ([python].venv)", "set [python].venv to a path"
        raise ResolveError(
            f"{what} has '{os.pathsep}' in its path, which {variable} uses to separate folders, "
            f"so {variable} would split it in two; {fix} without '{os.pathsep}'"
        )


class _Layers:
    """Accumulates variables layer by layer, remembering what each one overrode."""

    def __init__(self, spec: Spec, outer: Mapping[str, str], instance: str) -> None:
        self.spec = spec
        self.instance = instance
        self.inherited = {key: outer[key] for key in spec.env.inherit if key in outer}
        self.variables: dict[str, Variable] = {}
        #: Whether a lookup since the last `set` reached ${DEVENV_INSTANCE}.
        self.instance_read = False

    def lookup(self, name: str) -> str | None:
        # An inherited key wins over files in the final result, so a reference to it must
        # see that same value; otherwise ${KEY} and KEY could disagree.
        if name in self.inherited:
            return self.inherited[name]
        variable = self.variables.get(name)
        if variable is not None:
            if variable.uses_instance:
                self.instance_read = True
            return variable.value
        if name == ROOT_KEY:
            return self.spec.root
        if name == INSTANCE_KEY:
            self.instance_read = True
            return self.instance
        return None

    def set(self, key: str, value: str, source: str, where: str | Place) -> None:
        if key in MANAGED_KEYS:
            raise ResolveError(
                f"{where}: {key} is managed by devenv and cannot be set here; "
                f"it comes from {MANAGED_BY[key]}",
                place=_place(where),
                keys=(key,),
            )
        check_not_unset(self.spec, key, where)
        check_value(where, key, value)
        self.put(key, value, source)

    def put(self, key: str, value: str, source: str) -> None:
        """`set` for a key and value that passed its checks."""
        previous = self.variables.get(key)
        overrode = (*previous.overrode, previous.source) if previous else ()
        uses, self.instance_read = self.instance_read, False
        self.variables[key] = Variable(
            key=key, value=value, source=source, overrode=overrode, uses_instance=uses
        )


def resolve(
    spec: Spec,
    *,
    dotenv: Sequence[DotenvSource],
    outer: Mapping[str, str],
    overrides: Sequence[tuple[str, str]] = (),
    python: str = "",
    instance: str | None = None,
    unit: ProcessSpec | TaskSpec | None = None,
    expand_overrides: bool = True,
) -> Resolution:
    """Resolve every layer, later ones winning: [vars] < dotenv files < the profile's [vars]
    < the profile's dotenv files < [env].inherit < the `env` table of `unit` (the process or
    task being launched) < --set. The profile is `spec.profile` (`Spec.with_profile`).

    `python` identifies the interpreter and installed package set; the fingerprint covers it,
    so two processes with the same fingerprint also run the same code. `instance` is the
    value of the built-in ${DEVENV_INSTANCE}: one declaration gives each parallel run its own
    queue or database file (`ops_core_${DEVENV_INSTANCE}`); None is the checkout's default
    instance (`environment.default_instance` of `spec.root`). `expand_overrides=False`
    takes the overrides as values a launch already expanded (what a running process got,
    which `ps` and `diff` compare with): expanding them again would read a `${` that came
    from a referenced value as a reference.
    """
    check_separable(spec)
    if instance is None:
        instance = default_instance(spec.root)
    if not INSTANCE_PATTERN.match(instance):
        raise ResolveError(
            f"instance name {instance[:20]!r} is not usable in queue and file names; "
            "use letters, digits, '_' and '-' (at most 64, starting with a letter or digit)"
        )
    for name, key in [("inherit", k) for k in spec.env.inherit] + [("unset", k) for k in spec.env.unset]:
        if key in MANAGED_KEYS:
            raise SpecError(
                f"{spec.path}: [env].{name} names {key}, which devenv manages "
                f"(it comes from {MANAGED_BY[key]}); remove it"
            )
    for key in spec.env.inherit:
        check_not_unset(spec, key, f"{spec.path}: [env].inherit")

    def secret(key: str, value: str) -> bool:
        from devenv.masking import is_secret_key, looks_like_token  # only for a message

        return is_secret_key(key, spec.env.secret) or looks_like_token(value)

    layers = _Layers(spec, outer, instance)

    def expanded(key: str, raw: str, where: str | Place) -> str:
        try:
            return _expanded(raw, layers.lookup)
        except _Unexpandable as problem:  # whether it is a secret matters only for the message
            raise _unexpandable(problem, where, secret(key, raw)) from None

    def declared(pairs: Sequence[tuple[str, str]], table: str) -> None:
        for key, raw in pairs:
            where = Place(spec.path, item=f"[{table}].{key}")
            layers.set(key, expanded(key, raw, where), f"envspec.toml [{table}]", where)

    profile = spec.profile
    # A profile's files come after the base ones (Spec.with_profile); its [vars] between.
    base_files = len(dotenv) - (len(profile.dotenv) if profile else 0)
    declared(spec.vars, "vars")
    for index, source in enumerate(dotenv):
        if profile is not None and index == base_files:
            declared(profile.vars, f"profiles.{profile.name}.vars")
        _dotenv_layer(spec, layers, source, secret)
    if profile is not None and base_files == len(dotenv):
        declared(profile.vars, f"profiles.{profile.name}.vars")
    for key, value in layers.inherited.items():
        layers.set(key, value, OUTER_SOURCE, f"outer environment variable {key}")
    if unit is not None:
        declared(unit.env, f"{unit.table}.env")
    for key, raw in overrides:
        # Expanded like a dotenv line: a shell expands `$X` before devenv sees it, but
        # '${X}_x' in single quotes and a fixture's overrides reach here as written.
        label = f"{SET_SOURCE} {key}"
        value = expanded(key, raw, label) if expand_overrides else raw
        check_override(spec, key, value, where=SET_SOURCE)
        layers.set(key, value, SET_SOURCE, label)

    missing = [key for key in spec.dotenv.required if not layers.variables.get(key, _EMPTY).value]
    if missing:
        files = ", ".join(spec.dotenv.files) or "a dotenv file"
        raise ResolveError(
            f"{line_of(spec.path, 'dotenv', 'required')}: required variable(s) not set: {', '.join(missing)} "
            f"([dotenv].required); set them in {files} or add them to [env].inherit",
            place=Place(spec.path, item="[dotenv].required"),
            keys=tuple(missing),
            cause=REQUIRED_MISSING,
        )
    return _with_managed(spec, layers.variables, python, instance)


def _dotenv_layer(
    spec: Spec, layers: _Layers, source: DotenvSource, secret: Callable[[str, str], bool]
) -> None:
    """The entries of one dotenv file, each checked as `check_trusted` and `_Layers.set`
    check it. A file may hold 10 000 keys (benchmarks/diagnostics.py): the checks that pass
    are made inline, and a place, a secret's classification or a message is made only for
    an entry that fails one."""
    risky = _RUNS_CODE_KEYS.difference(spec.env.trusted)
    refused = _MANAGED.union(spec.env.unset)
    prefix = f"{source.name}:"
    variables = layers.variables
    lookup = layers.lookup
    longest = (MAX_VALUE_BYTES - 2) // 4  # characters of KEY + value that surely fit
    for key, value, line, literal in source.entries or ():
        if key in risky or key.startswith(_RUNS_CODE_PREFIXES):
            check_trusted(spec, key, Place(source.name, line))
        if not literal and "${" in value:
            try:
                value = _expanded(value, lookup)
            except _Unexpandable as problem:
                raise _unexpandable(problem, Place(source.name, line), secret(key, value)) from None
        if key in refused or "\0" in value or len(key) + len(value) > longest:
            where = Place(source.name, line)
            layers.set(key, value, str(where), where)
        elif key in variables or layers.instance_read:
            layers.put(key, value, f"{prefix}{line}")
        else:  # what `put` makes of a first value that read no ${DEVENV_INSTANCE}
            variables[key] = _NEW_VARIABLE((key, value, f"{prefix}{line}", (), False))


#: `Variable(key, value, source, overrode, uses_instance)` from one tuple, without a call in Python.
_NEW_VARIABLE = partial(tuple.__new__, Variable)

#: What `check_trusted` and `_Layers.set` refuse, as sets (trust.py keeps them in order).
_MANAGED = frozenset(MANAGED_KEYS)
_RUNS_CODE_KEYS = frozenset(CODE_EXECUTION_KEYS)
_RUNS_CODE_PREFIXES = tuple(CODE_EXECUTION_PREFIXES)


_EMPTY = Variable(key="", value="", source="")


def _with_managed(spec: Spec, resolved: dict[str, Variable], python: str, instance: str) -> Resolution:
    venv = venv_path(spec)
    pythonpath = pythonpath_entries(spec)
    managed = {ROOT_KEY: spec.root, "VIRTUAL_ENV": venv, INSTANCE_KEY: instance}
    unset = list(spec.env.unset)
    if spec.profile is not None:
        managed[PROFILE_KEY] = spec.profile.name
    elif PROFILE_KEY not in unset:
        # The base environment says so: a shell that sourced a profile's env.sh and then the
        # base one must not keep naming that profile.
        unset.append(PROFILE_KEY)
    if pythonpath:
        managed["PYTHONPATH"] = os.pathsep.join(pythonpath)
    elif "PYTHONPATH" not in unset:
        # No declared entries: an inherited PYTHONPATH would still change imports.
        unset.append("PYTHONPATH")
    path_prefix = (os.path.join(venv, "bin"),)
    values = {key: variable.value for key, variable in resolved.items()} | managed
    fingerprint = fingerprint_of(values, path_prefix, unset, python)
    managed[FINGERPRINT_KEY] = fingerprint
    variables = dict(resolved)
    for key, value in managed.items():
        variables[key] = Variable(key=key, value=value, source=MANAGED_SOURCE)
    return Resolution(
        root=spec.root,
        variables=tuple(variables[key] for key in sorted(variables)),
        path_prefix=path_prefix,
        unset=tuple(unset),
        secret=spec.env.secret,
        fingerprint=fingerprint,
        pass_through=spec.env.pass_through,
    )


def fingerprint_of(
    values: Mapping[str, str], path_prefix: Sequence[str], unset: Sequence[str], python: str = ""
) -> str:
    """A short sha256 over everything a launch sets and the code it runs (interpreter and
    installed packages): equal fingerprints, equal environments."""
    from devenv.digest import sha256

    digest = sha256()
    # One update of the joined text hashes what one update a key did, without 10 000 calls.
    text = "".join([f"{key}={values[key]}\0" for key in sorted(values) if key != FINGERPRINT_KEY])
    digest.update(text.encode("utf-8", "surrogateescape"))
    digest.update(("PATH-prefix=" + os.pathsep.join(path_prefix) + "\0").encode("utf-8", "surrogateescape"))
    digest.update(("unset=" + ",".join(sorted(unset)) + "\0").encode())
    if python:
        digest.update(("python=" + python + "\0").encode())
    return digest.hexdigest()[:16]
