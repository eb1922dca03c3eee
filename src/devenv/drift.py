"""`devenv diff PID`: compare a running process's environment with the canonical one.

psutil's `Process.environ()` reads /proc/PID/environ, the environment a process was *started*
with: later `os.environ` changes inside it are invisible, so a diff says what the process
was given, which is exactly what goes wrong when a launcher builds its own env dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias, TypedDict

from devenv.environment import (
    FINGERPRINT_KEY,
    INSTANCE_KEY,
    LABEL_KEYS,
    LAUNCHER_KEY,
    OVERRIDES_KEY,
    ROOT_KEY,
    RUN_ID_KEY,
    CanonicalEnv,
    apply_env,
)
from devenv.errors import PROCESS_GONE, DevenvError
from devenv.layout import ENV_JSON
from devenv.records import dataclass

FingerprintStatus: TypeAlias = Literal["current", "stale", "absent"]
PythonpathStatus: TypeAlias = Literal["same", "missing", "different", "unexpected"]

#: Keys a POSIX shell exports to every command it starts, describing the shell itself (its
#: folder, its previous one, how deep it is, the command's path: POSIX "Shell Variables" and
#: bash's `_`). Every process started by hand has them, whatever it was started with, so they
#: are not keys that reached it from the developer's environment: `devenv diff`, `ps` and
#: doctor's shell check would otherwise list them above the one key that matters.
SHELL_STATE_KEYS = ("PWD", "OLDPWD", "SHLVL", "_")


class ProcessEnvironUnavailable(DevenvError):
    """The environment of a process cannot be read (gone, zombie, another user's, hidden)."""

    exit_code = 2


class ValueDiffJson(TypedDict):
    key: str
    expected: str
    actual: str


class SetInTreeJson(TypedDict):
    key: str
    pid: int
    program: str


class ProcessDiffJson(TypedDict):
    """The `devenv diff --json` shape (values masked)."""

    pid: int
    name: str
    differs: bool
    missing: list[str]
    different: list[ValueDiffJson]
    extra: list[str]
    undeclared: list[str]
    set_in_tree: list[SetInTreeJson]
    pythonpath: PythonpathStatus
    pythonpath_missing: list[str]
    pythonpath_unexpected: list[str]
    path_venv_first: bool
    fingerprint: FingerprintStatus
    error: str | None
    children: list[ProcessDiffJson]


@dataclass(frozen=True, kw_only=True, slots=True)
class ValueDiff:
    """A key whose value differs; both values are masked when secret."""

    key: str
    expected: str
    actual: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SetInTree:
    """An undeclared key that a program of the process's own tree set for the processes it
    starts (Django's autoreloader starts `runserver` again with RUN_MAIN=true): not drift."""

    key: str
    #: The process whose program set it (its environment lacks the key, or has another value).
    pid: int
    program: str
    #: True when that process is the parent, not an ancestor further up.
    parent: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessDiff:
    """How one process's start-up environment differs from the canonical one."""

    pid: int
    name: str
    missing: tuple[str, ...] = ()
    different: tuple[ValueDiff, ...] = ()
    #: Keys the process has that a devenv launch removes ([env].unset, PYTHONPATH when empty).
    extra: tuple[str, ...] = ()
    #: Keys neither canonical nor passed through (DEFAULT_PASS, [env].pass): they reached the
    #: process from its launcher's environment, and no devenv launch would give them.
    undeclared: tuple[str, ...] = ()
    #: Undeclared keys a program of its tree set for it (`set_in_tree`): not drift.
    set_in_tree: tuple[SetInTree, ...] = ()
    pythonpath: PythonpathStatus = "same"
    pythonpath_missing: tuple[str, ...] = ()
    pythonpath_unexpected: tuple[str, ...] = ()
    path_venv_first: bool = True
    fingerprint: FingerprintStatus = "current"
    #: Set for a child whose environment could not be read (the top process raises instead).
    error: str | None = None
    children: tuple[ProcessDiff, ...] = ()

    @property
    def differs(self) -> bool:
        """True when this process or any child differs (`devenv diff` exits 1)."""
        own = bool(
            self.missing
            or self.different
            or self.extra
            or self.undeclared
            or self.pythonpath != "same"
            or not self.path_venv_first
            or self.fingerprint != "current"
        )
        return own or any(child.differs for child in self.children)

    def to_json(self) -> ProcessDiffJson:
        """The JSON form (`devenv diff --json`)."""
        return {
            "pid": self.pid,
            "name": self.name,
            "differs": self.differs,
            "missing": list(self.missing),
            "different": [{"key": d.key, "expected": d.expected, "actual": d.actual} for d in self.different],
            "extra": list(self.extra),
            "undeclared": list(self.undeclared),
            "set_in_tree": [
                {"key": item.key, "pid": item.pid, "program": item.program} for item in self.set_in_tree
            ],
            "pythonpath": self.pythonpath,
            "pythonpath_missing": list(self.pythonpath_missing),
            "pythonpath_unexpected": list(self.pythonpath_unexpected),
            "path_venv_first": self.path_venv_first,
            "fingerprint": self.fingerprint,
            "error": self.error,
            "children": [child.to_json() for child in self.children],
        }


def read_environ(pid: int) -> tuple[str, dict[str, str]]:
    """(name, start-up environment) of `pid`, or ProcessEnvironUnavailable saying why not."""
    import psutil

    try:
        process = psutil.Process(pid)
        name = process.name()
        environ = process.environ()
    except psutil.ZombieProcess:
        raise ProcessEnvironUnavailable(
            f"cannot read the environment of PID {pid}: it has exited (a zombie waiting to be reaped)"
        ) from None
    except psutil.NoSuchProcess:
        raise ProcessEnvironUnavailable(
            f"no process {pid} (it has exited, or the PID is wrong)", cause=PROCESS_GONE
        ) from None
    except psutil.AccessDenied:
        raise ProcessEnvironUnavailable(
            f"cannot read the environment of PID {pid}: permission denied; "
            "run as the same user as the process"
        ) from None
    if not environ:
        # Kernel threads have none, and macOS hides other processes' (psutil#2084): "unknown",
        # not "no variables", or every key would be reported missing.
        raise ProcessEnvironUnavailable(
            f"cannot read the environment of PID {pid}: the system returned it empty "
            "(a kernel thread, or hidden by the OS)"
        )
    return name, dict(environ)


def compare(pid: int, name: str, actual: Mapping[str, str], canonical: CanonicalEnv) -> ProcessDiff:
    """Compare a start-up environment with what `apply_env(canonical, actual)` would give."""
    from devenv.masking import Masker, mask_value, secret_values

    expected = apply_env(canonical, actual)
    declared = canonical.secret
    # The process's own secrets too: an old, rotated key interpolated into another variable
    # is in its environment, not in the canonical one.
    masker = Masker.from_values(
        secret_values(canonical.variables, declared) + secret_values(actual, declared)
    )
    special = ("PYTHONPATH", "PATH", FINGERPRINT_KEY)
    missing = tuple(key for key in canonical.variables if key not in actual and key not in special)
    different = tuple(
        ValueDiff(
            key=key,
            expected=masker.mask(mask_value(key, expected[key], declared)),
            actual=masker.mask(mask_value(key, actual[key], declared)),
        )
        for key in canonical.variables
        if key not in special and key in actual and actual[key] != expected[key]
    )
    removed = sorted(key for key in actual if key not in expected and key != "PYTHONPATH")
    # A launcher labels its own child (DEVENV_RUN_ID, ...): those are not drift.
    undeclared = tuple(
        key
        for key in removed
        if key not in canonical.unset and key not in LABEL_KEYS and key not in SHELL_STATE_KEYS
    )
    wanted = _entries(expected.get("PYTHONPATH"))
    present = _entries(actual.get("PYTHONPATH"))
    pythonpath: PythonpathStatus
    if wanted == present:
        pythonpath = "same"
    elif not wanted:
        pythonpath = "unexpected"  # devenv removes an inherited PYTHONPATH; this one kept it
    elif "PYTHONPATH" not in actual:
        pythonpath = "missing"  # the classic fixture bug: an env dict built without it
    else:
        pythonpath = "different"
    first = actual.get("PATH", "").split(os.pathsep)[0]
    fingerprint: FingerprintStatus
    if FINGERPRINT_KEY not in actual:
        fingerprint = "absent"
    elif actual[FINGERPRINT_KEY] == canonical.fingerprint:
        fingerprint = "current"
    else:
        fingerprint = "stale"
    return ProcessDiff(
        pid=pid,
        name=name,
        missing=missing,
        different=different,
        extra=tuple(key for key in removed if key in canonical.unset),
        undeclared=undeclared,
        pythonpath=pythonpath,
        pythonpath_missing=tuple(entry for entry in wanted if entry not in present),
        pythonpath_unexpected=tuple(entry for entry in present if entry not in wanted),
        path_venv_first=not canonical.path_prefix or first == canonical.path_prefix[0],
        fingerprint=fingerprint,
    )


def _tree_marks(environ: Mapping[str, str]) -> tuple[str, str, str]:
    # What a launch puts on its process and every descendant inherits: a parent with other
    # marks (`devenv up` itself, a shell, another run) is not in the same launched tree.
    return (os.path.normpath(environ[ROOT_KEY]), environ.get(RUN_ID_KEY, ""), environ.get(LAUNCHER_KEY, ""))


def set_in_tree(pid: int, environ: Mapping[str, str], keys: Sequence[str]) -> tuple[SetInTree, ...]:
    """Which of `keys` (undeclared keys of process `pid`, started with `environ`) a program of
    its own launched tree set for it: going up its ancestors while they carry the same
    DEVENV_ROOT, DEVENV_RUN_ID and DEVENV_LAUNCHER, the first whose start-up environment
    lacks the key or has another value. A key every ancestor in the tree has with the same
    value came with the launch of the tree's first process, from its launcher: still extra.
    A process whose parent has left the tree (a daemon, reparented) is compared as launched."""
    import psutil

    if not keys or ROOT_KEY not in environ:
        return ()
    marks = _tree_marks(environ)
    pending = {key: environ[key] for key in keys}
    found = []
    try:
        ancestors = psutil.Process(pid).parents()  # the parent first, then its parent, ...
    except psutil.Error:
        return ()
    for depth, ancestor in enumerate(ancestors):
        try:
            theirs = ancestor.environ()
            program = ancestor.name()
        except psutil.Error:
            break
        if ROOT_KEY not in theirs or _tree_marks(theirs) != marks:
            break
        for key, value in list(pending.items()):
            if theirs.get(key) != value:
                found.append(SetInTree(key=key, pid=ancestor.pid, program=program, parent=depth == 0))
                del pending[key]
        if not pending:
            break
    return tuple(sorted(found, key=lambda item: item.key))


def with_tree(diff: ProcessDiff, environ: Mapping[str, str]) -> ProcessDiff:
    """`diff` with the undeclared keys a program of its tree set for it moved to `set_in_tree`."""
    from devenv.records import replace

    found = set_in_tree(diff.pid, environ, diff.undeclared)
    if not found:
        return diff
    keys = {item.key for item in found}
    undeclared = tuple(key for key in diff.undeclared if key not in keys)
    return replace(diff, undeclared=undeclared, set_in_tree=found)


def drift_problems(actual: Mapping[str, str], canonical: CanonicalEnv) -> list[str]:
    """What makes the environment `actual` (a shell's, pytest's own) differ from the canonical
    one, as short phrases naming keys, never values; empty when it matches. Undeclared keys
    are not among them: in a shell they are expected (ProcessDiff.undeclared names them).

    The same comparison as `devenv diff PID` (`compare`), so doctor, the pytest header and
    `devenv diff` can never disagree about whether an environment drifted.
    """
    return problems_of(compare(0, "", actual, canonical), canonical)


def problems_of(diff: ProcessDiff, canonical: CanonicalEnv) -> list[str]:
    problems = []
    if diff.missing:
        problems.append(f"missing: {few(diff.missing)}")
    if diff.different:
        problems.append(f"differs: {few([item.key for item in diff.different])}")
    if diff.extra:
        problems.append(f"should be unset: {few(diff.extra)}")
    if diff.pythonpath == "unexpected":
        problems.append("PYTHONPATH should be unset")
    elif diff.pythonpath != "same":
        problems.append(f"PYTHONPATH {diff.pythonpath}")
    if not diff.path_venv_first and canonical.path_prefix:
        problems.append(f"PATH does not start with {canonical.path_prefix[0]}")
    if diff.fingerprint != "current":
        problems.append(f"fingerprint {diff.fingerprint}")
    return problems


def few(keys: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def overrides_of(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The overrides a process was launched with: the keys its DEVENV_OVERRIDES names, with
    the values it got."""
    keys = [key for key in environ.get(OVERRIDES_KEY, "").split(",") if key in environ]
    return tuple((key, environ[key]) for key in keys)


def expected_env(
    root: str, environ: Mapping[str, str], outer: Mapping[str, str], *, instance: str | None = None
) -> tuple[CanonicalEnv, str]:
    """The environment a process with `environ` was meant to get, and how it is described
    ("process web, profile local, instance main_f2af"): the instance and profile it carries, and,
    for a declared process or task devenv launched (its run record names it), that unit's own
    `env` table on top. `outer` is the caller's environment (for [env].inherit)."""
    from devenv.environment import PROFILE_KEY, RUN_ID_KEY, default_instance
    from devenv.project import resolve_env
    from devenv.runs import read_records
    from devenv.spec import load_spec

    instance = instance or environ.get(INSTANCE_KEY) or default_instance(root)
    overrides = overrides_of(environ)  # a layer it was launched with, not drift
    profile = environ.get(PROFILE_KEY, "")
    run_id = environ.get(RUN_ID_KEY)
    name = next((r["name"] for _, r in read_records(root) if run_id and r["run_id"] == run_id), "")
    spec = load_spec(root)
    kind = "task" if name in spec.task_names() else "process"
    unit = name if name in (*spec.task_names(), *(p.name for p in spec.processes)) else None
    # The process's values were expanded when it was launched: applied as they are.
    state = resolve_env(
        root,
        outer,
        instance=instance,
        profile=profile,
        unit=unit,
        overrides=overrides,
        expand_overrides=False,
    )
    shown = [f"{kind} {name}"] if unit else []
    shown += [f"profile {profile}" if profile else "no profile", f"instance {instance}"]
    shown += [f"overrides {','.join(key for key, _ in overrides)}"] if overrides else []
    return state.resolution.canonical(), ", ".join(shown)


def _entries(value: str | None) -> list[str]:
    return [entry for entry in (value or "").split(os.pathsep) if entry]


def diff_process(pid: int, canonical: CanonicalEnv, *, tree: bool = False) -> ProcessDiff:
    """`devenv diff PID [--tree]`: the process (and with `tree`, each descendant) vs canonical."""
    import psutil

    name, environ = read_environ(pid)
    result = with_tree(compare(pid, name, environ, canonical), environ)
    if not tree:
        return result
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    children = []
    for child in descendants:
        try:
            child_name, child_environ = read_environ(child.pid)
        except ProcessEnvironUnavailable as error:
            if error.cause == PROCESS_GONE:
                continue  # exited between listing and reading: not part of the tree any more
            children.append(ProcessDiff(pid=child.pid, name="?", error=str(error)))
            continue
        children.append(with_tree(compare(child.pid, child_name, child_environ, canonical), child_environ))
    from devenv.records import replace

    return replace(result, children=tuple(children))


def format_diff(diff: ProcessDiff, canonical: CanonicalEnv) -> str:
    """Human text for `devenv diff`: one line per difference, children indented."""
    return "\n".join(_diff_lines(diff, canonical, indent="")) + "\n"


def _diff_lines(diff: ProcessDiff, canonical: CanonicalEnv, *, indent: str) -> list[str]:
    head = f"{indent}PID {diff.pid} ({diff.name})"
    if diff.error:
        return [f"{head}: {diff.error}"]
    lines = [f"{head}: {'differs from' if diff.differs else 'matches'} the canonical environment"]
    pad = indent + "  "
    if canonical.overridden and not indent:
        lines.append(f"{pad}overrides: {', '.join(canonical.overridden)} (compared with them applied)")
    for key in diff.missing:
        lines.append(f"{pad}missing    {key}")
    for item in diff.different:
        lines.append(f"{pad}different  {item.key}: {item.actual!r}, expected {item.expected!r}")
    for key in diff.extra:
        lines.append(f"{pad}extra      {key} (a devenv launch removes it)")
    for key in diff.undeclared:
        lines.append(
            f"{pad}extra      {key}, not declared; reached the process from its launcher's environment"
        )
    for setter in diff.set_in_tree:
        by = "its parent" if setter.parent else "an ancestor in its tree,"
        lines.append(
            f"{pad}set        {setter.key}, by {by} PID {setter.pid} ({setter.program}) for the processes it "
            "starts (not drift)"
        )
    if diff.pythonpath == "missing":
        lines.append(f"{pad}missing    PYTHONPATH (expected {os.pathsep.join(diff.pythonpath_missing)})")
    elif diff.pythonpath != "same":
        for entry in diff.pythonpath_missing:
            lines.append(f"{pad}PYTHONPATH lacks   {entry}")
        for entry in diff.pythonpath_unexpected:
            lines.append(f"{pad}PYTHONPATH extra   {entry}")
        if not diff.pythonpath_missing and not diff.pythonpath_unexpected:
            lines.append(f"{pad}PYTHONPATH entries in a different order")
    if not diff.path_venv_first and canonical.path_prefix:
        lines.append(f"{pad}PATH does not start with {canonical.path_prefix[0]}")
    if diff.fingerprint == "stale":
        lines.append(f"{pad}fingerprint stale (started before the last change; restart it)")
    elif diff.fingerprint == "absent":
        lines.append(f"{pad}fingerprint absent (not started by devenv)")
    for child in diff.children:
        lines += _diff_lines(child, canonical, indent=pad)
    return lines


# -- devenv diff OTHER/env.json: another machine's environment ------------------------------

#: What a published env.json puts where a sensitive value was: an HMAC keyed by `salt`, so
#: two machines can tell equal secrets from different ones without either value being shown.
HASHED = "hmac-sha256"


class OtherDocumentError(DevenvError):
    """The other machine's env.json cannot be read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """One difference: what, ours, theirs (already safe to show)."""

    section: Literal["interpreter", "packages", "variables", "lock"]
    name: str
    ours: str
    theirs: str


@dataclass(frozen=True, kw_only=True, slots=True)
class MachineDiff:
    """How another machine's environment (its env.json) differs from this one."""

    other: str
    rows: tuple[Row, ...]
    fingerprints: tuple[str, str]

    @property
    def differs(self) -> bool:
        """True when anything differs (`devenv diff FILE` exits 1)."""
        return bool(self.rows)

    def to_json(self) -> dict[str, object]:
        """The JSON form (`devenv diff FILE --json`)."""
        return {
            "other": self.other,
            "differs": self.differs,
            "fingerprint": {"ours": self.fingerprints[0], "theirs": self.fingerprints[1]},
            "differences": [
                {"section": r.section, "name": r.name, "ours": r.ours, "theirs": r.theirs} for r in self.rows
            ],
        }


def read_other_document(path: str) -> dict[str, object]:
    """Another machine's env.json (`path` may be the file or a folder holding it)."""
    import json

    from devenv.errors import Place
    from devenv.project import read_input
    from devenv.spec import too_deep

    if os.path.isdir(path):
        path = os.path.join(path, ENV_JSON)
    data = read_input(path, path, OtherDocumentError)
    if data is None:
        raise OtherDocumentError(
            f"{path}: not a PID and no such file; pass a PID or another machine's env.json "
            "(or `devenv export`'s output)"
        )
    text = data.decode("utf-8", "surrogateescape")
    try:
        document = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        place = Place(path, line)
        raise OtherDocumentError(
            f"{place}: not a readable env.json ({type(exc).__name__})", place=place
        ) from None
    except RecursionError:
        raise too_deep(OtherDocumentError, path, text) from None
    if not isinstance(document, dict) or not isinstance(document.get("variables"), dict):
        raise OtherDocumentError(f"{path}: not a devenv env.json (no variables table)")
    return document


def _sensitive_keys(document: Mapping[str, object]) -> set[str]:
    from devenv.masking import Masker, is_secret_key, looks_like_token, url_passwords

    variables = _plain_values(document)
    listed = document.get("secret")
    declared = [str(key) for key in listed] if isinstance(listed, list) else []
    masker = Masker.from_variables(variables, declared)
    hashed = {key for key, item in _items(document) if isinstance(item.get(HASHED), str)}
    return hashed | {
        key
        for key, value in variables.items()
        if is_secret_key(key, declared)
        or looks_like_token(value)
        or url_passwords(value)
        or masker.mask(value) != value
    }


def _items(document: Mapping[str, object]) -> list[tuple[str, dict[str, object]]]:
    variables = document.get("variables")
    if not isinstance(variables, dict):
        return []
    return [(str(key), item) for key, item in variables.items() if isinstance(item, dict)]


def _plain_values(document: Mapping[str, object]) -> dict[str, str]:
    return {key: str(item.get("value", "")) for key, item in _items(document) if HASHED not in item}


def _hmac(salt: str, value: str) -> str:
    import hashlib
    import hmac

    return hmac.new(salt.encode(), value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def export_document(document: Mapping[str, object]) -> dict[str, object]:
    """env.json made safe to publish (e.g. as a CI artifact): every sensitive value replaced
    by an HMAC under a random salt; interpreter, packages and the rest unchanged."""
    import secrets

    salt = secrets.token_hex(16)
    sensitive = _sensitive_keys(document)
    variables: dict[str, object] = {}
    for key, item in _items(document):
        if key in sensitive:
            value = str(item.get("value", ""))
            variables[key] = {"source": item.get("source", ""), HASHED: _hmac(salt, value)}
        else:
            variables[key] = item
    exported = {key: value for key, value in document.items() if key not in ("variables", "inherited")}
    exported["variables"] = variables
    exported["salt"] = salt
    return exported


def _normalised(value: str, root: str) -> str:
    # Two checkouts live in different folders; compare paths relative to each one's root.
    return value.replace(root, "${DEVENV_ROOT}") if root else value


def compare_documents(ours: Mapping[str, object], theirs: Mapping[str, object], *, other: str) -> MachineDiff:
    """Interpreter, packages and variables of this machine vs another's env.json."""
    rows: list[Row] = []
    our_python = ours.get("python") if isinstance(ours.get("python"), dict) else {}
    their_python = theirs.get("python") if isinstance(theirs.get("python"), dict) else {}
    assert isinstance(our_python, dict) and isinstance(their_python, dict)
    for field_name in ("implementation", "version"):
        a, b = str(our_python.get(field_name, "?")), str(their_python.get(field_name, "?"))
        if a != b:
            rows.append(Row(section="interpreter", name=field_name, ours=a, theirs=b))
    a, b = str(our_python.get("lock_sha256", "")), str(their_python.get("lock_sha256", ""))
    if a != b:
        rows.append(Row(section="lock", name="sha256", ours=a[:16] or "-", theirs=b[:16] or "-"))
    our_packages = _package_versions(our_python.get("installed"))
    their_packages = _package_versions(their_python.get("installed"))
    for name in sorted(set(our_packages) | set(their_packages)):
        a, b = our_packages.get(name, "-"), their_packages.get(name, "-")
        if a != b:
            rows.append(Row(section="packages", name=name, ours=a, theirs=b))
    our_root, their_root = str(ours.get("root", "")), str(theirs.get("root", ""))
    sensitive = _sensitive_keys(ours) | _sensitive_keys(theirs)
    our_items, their_items = dict(_items(ours)), dict(_items(theirs))
    salt = str(theirs.get("salt", ""))
    for key in sorted(set(our_items) | set(their_items)):
        if key == FINGERPRINT_KEY:
            continue
        mine, yours = our_items.get(key), their_items.get(key)
        if mine is None or yours is None:
            shown = "(secret)" if key in sensitive else None
            rows.append(
                Row(
                    section="variables",
                    name=key,
                    ours="-" if mine is None else shown or _normalised(str(mine.get("value", "")), our_root),
                    theirs="-"
                    if yours is None
                    else shown or _normalised(str(yours.get("value", "")), their_root),
                )
            )
            continue
        if key in sensitive:
            mine_value = str(mine.get("value", ""))
            if isinstance(yours.get(HASHED), str):
                same = _hmac(salt, mine_value) == yours[HASHED]
            else:
                same = mine_value == str(yours.get("value", ""))
            if not same:
                rows.append(
                    Row(section="variables", name=key, ours="(secret)", theirs="(secret, differs by hash)")
                )
            continue
        a = _normalised(str(mine.get("value", "")), our_root)
        b = _normalised(str(yours.get("value", "")), their_root)
        if a != b:
            rows.append(Row(section="variables", name=key, ours=a, theirs=b))
    return MachineDiff(
        other=other,
        rows=tuple(rows),
        fingerprints=(str(ours.get("fingerprint", "")), str(theirs.get("fingerprint", ""))),
    )


def _package_versions(installed: object) -> dict[str, str]:
    versions = {}
    for entry in installed if isinstance(installed, list) else []:
        name, _, version = str(entry).partition("==")
        versions[name] = version
    return versions


def format_machine_diff(diff: MachineDiff) -> str:
    """Human text for `devenv diff FILE`: one section per kind, ours and theirs side by side."""
    if not diff.differs:
        return f"same environment as {diff.other} (fingerprint {diff.fingerprints[0]})\n"
    lines = [f"this machine vs {diff.other}:"]
    width = max(len(row.name) for row in diff.rows)
    ours_width = max(len(row.ours) for row in diff.rows)
    section = ""
    for row in diff.rows:
        if row.section != section:
            section = row.section
            lines.append(f"  {section}:")
        lines.append(f"    {row.name.ljust(width)}  {row.ours.ljust(ours_width)}  | {row.theirs}")
    lines.append(f"  fingerprint: {diff.fingerprints[0]} here, {diff.fingerprints[1] or '-'} there")
    return "\n".join(lines) + "\n"
