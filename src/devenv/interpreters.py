"""Python interpreters: what one is (an `Interpreter` record) and which one a project gets.

The search order (README, "Which interpreter"): `[python].interpreter` when set (a path, or a
version such as "3.12"), the interpreter the last sync used, the one running devenv, the
versions uv installed (`uv python install`), the versions pyenv installed, then `python3.X`,
`python3` and `python` on PATH. pyenv's and uv's versions are found in their own folders,
never through pyenv's shims: a shim refuses to run a version that the folder's
`.python-version` does not name ("pyenv: python3.12: command not found").
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from devenv.errors import SpecError, SyncError
from devenv.records import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    """One Python interpreter as it answered the probe: where it is, its version, and the
    PEP 508 marker values a lock's markers are evaluated against."""

    #: The path it was run as (sys.executable), and the interpreter a venv of it points at.
    executable: str
    base: str
    version: str
    #: "CPython", "PyPy" (platform.python_implementation()).
    implementation: str
    #: The pip installed for it ("" when none): the pip installer needs a pinned one.
    pip: str
    #: Every PEP 508 marker variable, as `packaging.markers` evaluates them.
    markers: dict[str, str]

    @property
    def minor(self) -> str:
        """`3.11` of `3.11.7`."""
        return ".".join(self.version.split(".")[:2])

    def describe(self) -> str:
        """`CPython 3.11.7 (/usr/bin/python3.11)`."""
        return f"{self.implementation} {self.version} ({self.base})"


_PROBE = (
    "import json, os, platform, sys\n"
    "impl = sys.implementation\n"
    "iv = '{0.major}.{0.minor}.{0.micro}'.format(impl.version)\n"
    "if impl.version.releaselevel != 'final':\n"
    "    iv += impl.version.releaselevel[0] + str(impl.version.serial)\n"
    "print(json.dumps({'executable': sys.executable, 'version': platform.python_version(),"
    " 'implementation': platform.python_implementation(),"
    " 'base': getattr(sys, '_base_executable', sys.executable),"
    " 'sys_path': [p for p in sys.path if p and os.path.isdir(p)], 'markers': {"
    " 'sys_platform': sys.platform, 'platform_machine': platform.machine(),"
    " 'implementation_name': impl.name, 'os_name': os.name,"
    " 'platform_system': platform.system(),"
    " 'python_version': '.'.join(platform.python_version_tuple()[:2]),"
    " 'python_full_version': platform.python_version(),"
    " 'platform_python_implementation': platform.python_implementation(),"
    " 'platform_release': platform.release(), 'platform_version': platform.version(),"
    " 'implementation_version': iv}}))"
)


def probe_interpreter(
    executable: str, *, root: str | None = None, remember: bool = False
) -> Interpreter | None:
    """What `executable` is; None when it does not run.

    With `root`, the facts come from that project's cache while the interpreter is unchanged
    (devenv/interpreter_cache.py), else from running it once; `remember` (only for a command
    holding `.devenv/lock`: sync, lock) stores what a run found."""
    from devenv import interpreter_cache

    if root is not None:
        cached = interpreter_cache.lookup(root, executable)
        if cached is not None:
            found = _interpreter(cached)
            if found is not None:
                return found
    before = interpreter_cache.quiet_stamp(executable) if root is not None and remember else None
    import subprocess  # here: a cached interpreter (doctor, lock --check) needs none

    started = time.time_ns()
    try:
        result = subprocess.run(
            [executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        facts = json.loads(result.stdout)
    except ValueError:
        return None
    found = _interpreter(facts)
    if found is not None and root is not None and before is not None:
        interpreter_cache.remember(root, executable, facts, started_ns=started, before=before)
    return found


def _interpreter(facts: Any) -> Interpreter | None:
    """The record of a probe's (or the cache's) facts; None when they are not that shape."""
    try:
        return Interpreter(
            executable=str(facts["executable"]),
            base=str(facts["base"]),
            version=str(facts["version"]),
            implementation=str(facts["implementation"]),
            pip=pip_version([str(folder) for folder in facts["sys_path"]]),
            markers={str(key): str(value) for key, value in facts["markers"].items()},
        )
    except (KeyError, TypeError, AttributeError):
        return None


def pip_version(sys_path: list[str]) -> str:
    """The version of the pip an interpreter with `sys_path` imports ("" when none), as
    `importlib.metadata.version("pip")` finds it: the first pip distribution on the path.
    Read from the folders each time, never cached: every install may change it."""
    for folder in sys_path:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in sorted(names):
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info") or stem.partition("-")[0].lower() != "pip":
                continue
            metadata = "METADATA" if suffix == "dist-info" else "PKG-INFO"
            try:
                with open(os.path.join(folder, name, metadata), encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        if line.startswith("Version:"):
                            return line[len("Version:") :].strip()
                        if not line.strip():
                            break  # the headers end at the first blank line
            except OSError:
                continue
    return ""


#: Interpreters probed while searching, by path: installed interpreters do not change while
#: devenv runs.
_PROBED: dict[str, Interpreter | None] = {}


def _version_sort_key(path: str) -> tuple[int, ...]:
    """Newest first: `.../3.12.1/bin/python3` sorts before `.../3.9.18/bin/python3`."""
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    digits = [part for part in name.replace("-", ".").split(".") if part.isdigit()]
    return tuple(-int(part) for part in digits[:3])


def _pyenv_versions(environ: dict[str, str]) -> list[str]:
    root = environ.get("PYENV_ROOT") or os.path.join(environ.get("HOME", "~"), ".pyenv")
    import glob

    found = glob.glob(os.path.join(glob.escape(os.path.expanduser(root)), "versions", "*", "bin", "python3"))
    return sorted(found, key=_version_sort_key)


def _uv_versions(environ: dict[str, str]) -> list[str]:
    # uv's default install folder (`uv python dir`): $UV_PYTHON_INSTALL_DIR, else
    # $XDG_DATA_HOME/uv/python, else ~/.local/share/uv/python.
    root = environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME", "~"), ".local", "share"),
        "uv",
        "python",
    )
    import glob

    found = glob.glob(os.path.join(glob.escape(os.path.expanduser(root)), "*", "bin", "python3"))
    return sorted(found, key=_version_sort_key)


def _on_path(environ: dict[str, str]) -> list[str]:
    """python3.X, python3, python on PATH, skipping pyenv's shims (their versions are
    searched in pyenv's folder instead)."""
    shims = os.path.join(environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "shims")
    search = environ.get("PATH", os.defpath)
    found = []
    for name in [f"python3.{minor}" for minor in range(14, 7, -1)] + ["python3", "python"]:
        for folder in search.split(os.pathsep):
            if not folder or os.path.normpath(folder) == os.path.normpath(shims):
                continue
            import shutil

            path = shutil.which(name, path=folder)
            if path:
                found.append(path)
                break
    return found


def candidates(*, preferred: str | None, environ: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(path, where it was found) of every interpreter worth probing, in search order."""
    if preferred:
        yield preferred, "the last sync"
    yield getattr(sys, "_base_executable", sys.executable), "the interpreter running devenv"
    for path in _uv_versions(environ):
        yield path, "installed by uv"
    for path in _pyenv_versions(environ):
        yield path, "installed by pyenv"
    for path in _on_path(environ):
        yield path, "PATH"


def _named_check(named: str, spec_path: str) -> tuple[str, str]:
    """`[python].interpreter` as (path, "") or ("", version specifier)."""
    if os.sep in named or named.startswith("~"):
        return os.path.expanduser(named), ""
    parts = named.split(".")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        raise SpecError(
            f"{spec_path}: [python].interpreter = {named!r} is neither a path nor a version; "
            'write e.g. "3.12" or "/usr/bin/python3.12"'
        )
    return "", f"=={named}.*" if len(parts) < 3 else f"=={named}"


def find_interpreter(
    requires: str,
    *,
    named: str = "",
    preferred: str | None = None,
    locked: str = "",
    spec_path: str = "envspec.toml",
    environ: dict[str, str] | None = None,
    root: str | None = None,
    remember: bool = False,
) -> Interpreter:
    """The first interpreter in search order satisfying `requires` (and `[python].interpreter`
    when set); one satisfying the lock's `requires-python` too is preferred. `root` and
    `remember`: as for `probe_interpreter` (the project's cache of what each one is)."""
    from devenv import packaging_cache

    environ = dict(os.environ) if environ is None else environ
    specifiers = [requires or ">=0"]  # every one must allow the version

    def allowed(version: str, texts: list[str]) -> bool:
        return all(packaging_cache.contains(root, text, version) for text in texts)

    if named:
        path, version = _named_check(named, spec_path)
        if path:
            found = probe_interpreter(path, root=root, remember=remember)
            if found is None:
                raise SyncError(
                    f"{spec_path}: [python].interpreter = {named!r} does not run; "
                    "point it at an installed Python"
                )
            if not allowed(found.version, specifiers):
                raise SyncError(
                    f"{spec_path}: [python].interpreter = {named!r} is Python {found.version}, "
                    f"which [python].requires = {requires!r} does not allow; change one of them"
                )
            return found
        specifiers.append(version)
    seen: list[str] = []
    fallback = None
    for candidate, _ in candidates(preferred=preferred, environ=environ):
        if not candidate or candidate in seen:
            continue
        seen.append(candidate)
        if candidate not in _PROBED:  # a sync searches twice (before and after reading the lock)
            _PROBED[candidate] = probe_interpreter(candidate, root=root, remember=remember)
        facts = _PROBED[candidate]
        if not facts or not allowed(facts.version, specifiers):
            continue
        if not locked or allowed(facts.version, [locked]):
            return facts
        fallback = fallback or facts
    if fallback is not None:
        return fallback
    wanted = f"[python].requires = {requires!r}" + (f" and [python].interpreter = {named!r}" if named else "")
    raise SyncError(
        f"no Python interpreter satisfies {wanted} (tried: {', '.join(seen)}); install one "
        "(e.g. `uv python install 3.12` or `pyenv install 3.12`), or change envspec.toml [python]"
    )
