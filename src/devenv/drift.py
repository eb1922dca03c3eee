"""`devenv diff PID`: compare a running process's environment with the canonical one.

psutil's `Process.environ()` is the environment a process was *started* with (research
PROC-14): later `os.environ` changes inside it are invisible, so a diff says what the process
was given, which is exactly what goes wrong when a launcher builds its own env dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypedDict

from devenv.environment import CanonicalEnv, apply_env
from devenv.errors import DevenvError

FingerprintStatus: TypeAlias = Literal["current", "stale", "absent"]
PythonpathStatus: TypeAlias = Literal["same", "missing", "different", "unexpected"]

RUN_ID = "DEVENV_RUN_ID"


class ProcessEnvironUnavailable(DevenvError):
    """The environment of a process cannot be read (gone, zombie, another user's, hidden)."""

    exit_code = 2


class ValueDiffJson(TypedDict):
    key: str
    expected: str
    actual: str


class ProcessDiffJson(TypedDict):
    """The `devenv diff --json` shape (values masked)."""

    pid: int
    name: str
    differs: bool
    missing: list[str]
    different: list[ValueDiffJson]
    extra: list[str]
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
class ProcessDiff:
    """How one process's start-up environment differs from the canonical one."""

    pid: int
    name: str
    missing: tuple[str, ...] = ()
    different: tuple[ValueDiff, ...] = ()
    #: Keys the process has that a devenv launch removes ([env].unset, PYTHONPATH when empty).
    extra: tuple[str, ...] = ()
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
        raise ProcessEnvironUnavailable(f"no process {pid} (it has exited, or the PID is wrong)") from None
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
    from devenv.secrets import Masker, mask_value

    expected = apply_env(canonical, actual)
    declared = canonical.secret
    masker = Masker.from_env(canonical)
    special = ("PYTHONPATH", "PATH", "DEVENV_FINGERPRINT")
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
    extra = tuple(sorted(key for key in actual if key not in expected))
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
    if "DEVENV_FINGERPRINT" not in actual:
        fingerprint = "absent"
    elif actual["DEVENV_FINGERPRINT"] == canonical.fingerprint:
        fingerprint = "current"
    else:
        fingerprint = "stale"
    return ProcessDiff(
        pid=pid,
        name=name,
        missing=missing,
        different=different,
        extra=tuple(key for key in extra if key != "PYTHONPATH"),
        pythonpath=pythonpath,
        pythonpath_missing=tuple(entry for entry in wanted if entry not in present),
        pythonpath_unexpected=tuple(entry for entry in present if entry not in wanted),
        path_venv_first=not canonical.path_prefix or first == canonical.path_prefix[0],
        fingerprint=fingerprint,
    )


def _entries(value: str | None) -> list[str]:
    return [entry for entry in (value or "").split(os.pathsep) if entry]


def diff_process(pid: int, canonical: CanonicalEnv, *, tree: bool = False) -> ProcessDiff:
    """`devenv diff PID [--tree]`: the process (and with `tree`, each descendant) vs canonical."""
    import psutil

    name, environ = read_environ(pid)
    result = compare(pid, name, environ, canonical)
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
            if "no process" in str(error):
                continue  # exited between listing and reading: not part of the tree any more
            children.append(ProcessDiff(pid=child.pid, name="?", error=str(error)))
            continue
        children.append(compare(child.pid, child_name, child_environ, canonical))
    return ProcessDiff(
        pid=result.pid,
        name=result.name,
        missing=result.missing,
        different=result.different,
        extra=result.extra,
        pythonpath=result.pythonpath,
        pythonpath_missing=result.pythonpath_missing,
        pythonpath_unexpected=result.pythonpath_unexpected,
        path_venv_first=result.path_venv_first,
        fingerprint=result.fingerprint,
        children=tuple(children),
    )


def format_diff(diff: ProcessDiff, canonical: CanonicalEnv) -> str:
    """Human text for `devenv diff`: one line per difference, children indented."""
    return "\n".join(_diff_lines(diff, canonical, indent="")) + "\n"


def _diff_lines(diff: ProcessDiff, canonical: CanonicalEnv, *, indent: str) -> list[str]:
    head = f"{indent}PID {diff.pid} ({diff.name})"
    if diff.error:
        return [f"{head}: {diff.error}"]
    lines = [f"{head}: {'differs from' if diff.differs else 'matches'} the canonical environment"]
    pad = indent + "  "
    for key in diff.missing:
        lines.append(f"{pad}missing    {key}")
    for item in diff.different:
        lines.append(f"{pad}different  {item.key}: {item.actual!r}, expected {item.expected!r}")
    for key in diff.extra:
        lines.append(f"{pad}extra      {key} (a devenv launch removes it)")
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
