"""`pylock.toml` (PEP 751): the locked package set a sync installs, and whether it is stale.

pip writes the lock (`pip lock`); devenv adds what pip leaves out: `requires-python` for the
interpreter it was made with, `environments` for the platform, and a `[tool.devenv]` table
with a hash of every input, so `devenv lock --check` and `sync --frozen` can tell a stale lock
from a current one without resolving again (as uv's `--locked` and pdm's content hash do).
Local projects (`-e .`) are left out of the lock (pip writes them without a hash, which fails
under hash checking); their dependencies are locked like any other, and the projects
themselves are installed from the root with --no-deps after the lock.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.errors import LockError, SpecError
from devenv.requirements import PackageLine, inputs_digest
from devenv.spec import Spec

if TYPE_CHECKING:
    from devenv.interpreters import Interpreter

__all__ = [
    "DEFAULT_INDEX",
    "LOCK_NAME",
    "Lock",
    "finish_lock",
    "lock_filename",
    "lock_files",
    "matches_platform",
    "minor_of",
    "platform_marker",
    "read_lock",
    "select_lock",
    "stale_reasons",
    "toml_text",
]


LOCK_NAME = "pylock.toml"
#: The index a lock resolves against unless `devenv lock --index-url` says otherwise. pip runs
#: with --isolated, so an extra index from this machine's pip configuration never lands in it.
DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    """A pylock.toml on disk: its path, content hash and what devenv recorded in it."""

    path: str
    sha256: str
    requires_python: str
    environments: tuple[str, ...]
    #: name -> version of every locked package.
    packages: dict[str, str]
    #: [tool.devenv]: inputs (name -> sha256), python, implementation, pip, index-url.
    tool: dict[str, Any]


def lock_filename(name: str | None) -> str:
    """`pylock.toml`, or `pylock.NAME.toml` (the only names pip reads as a lock)."""
    if name is None:
        return LOCK_NAME
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise LockError(f"--name {name!r}: use letters, digits, - and _ (the file becomes pylock.NAME.toml)")
    return f"pylock.{name}.toml"


def lock_files(root: str) -> list[str]:
    """Every lock of the project: pylock.toml first, then pylock.*.toml sorted."""
    found = [os.path.join(root, LOCK_NAME)] if os.path.isfile(os.path.join(root, LOCK_NAME)) else []
    return found + sorted(glob.glob(os.path.join(glob.escape(root), "pylock.*.toml")))


def read_lock(path: str) -> Lock:
    """Parse a pylock.toml; a broken one is a LockError naming the file."""
    import tomllib

    from devenv.project import read_input
    from devenv.spec import too_deep

    data = read_input(path, path, LockError) or b""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockError(
            f"{path}: cannot read the lock ({exc}); run `devenv lock` to write it again"
        ) from None
    except RecursionError:
        raise too_deep(LockError, path, data.decode("utf-8")) from None
    packages = {}
    for package in document.get("packages", []):
        if isinstance(package, dict) and "name" in package:
            packages[_normalise(str(package["name"]))] = str(package.get("version", ""))
    tool = document.get("tool", {}).get("devenv", {})
    return Lock(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        requires_python=str(document.get("requires-python", "")),
        environments=tuple(str(marker) for marker in document.get("environments", [])),
        packages=packages,
        tool=tool if isinstance(tool, dict) else {},
    )


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def matches_platform(lock: Lock, environment: dict[str, str]) -> bool:
    """True when one of the lock's `environments` markers holds for `environment`."""
    if not lock.environments:
        return True
    from packaging.markers import InvalidMarker, Marker

    for text in lock.environments:
        try:
            if Marker(text).evaluate(environment):
                return True
        except InvalidMarker:
            raise LockError(f"{lock.path}: environments entry {text!r} is not a valid marker") from None
    return False


def select_lock(root: str, environment: dict[str, str]) -> Lock | None:
    """The lock for this platform, None when the project has none; a LockError when every
    lock is for another platform (saying how to add one for this one)."""
    others = []
    for path in lock_files(root):
        lock = read_lock(path)
        if matches_platform(lock, environment):
            return lock
        others.append(f"{os.path.basename(path)} ({'; '.join(lock.environments)})")
    if not others:
        return None
    here = platform_marker(environment)
    raise LockError(
        f"no lock for this platform ({here}): {', '.join(others)}; "
        "add one with `devenv lock --name NAME` (writes pylock.NAME.toml) and commit it"
    )


def platform_marker(environment: dict[str, str]) -> str:
    """The `environments` entry for a platform: OS, machine and implementation."""
    return (
        f"sys_platform == {json.dumps(environment['sys_platform'])} and "
        f"platform_machine == {json.dumps(environment['platform_machine'])} and "
        f"implementation_name == {json.dumps(environment['implementation_name'])}"
    )


def minor_of(version: str) -> str:
    """`3.11` of `3.11.7`."""
    return ".".join(version.split(".")[:2])


def stale_reasons(
    spec: Spec, lines: tuple[PackageLine, ...], lock: Lock, *, python_version: str
) -> list[str]:
    """What changed since `lock` was made (empty when it is current)."""
    reasons = []
    recorded = lock.tool.get("inputs")
    if not isinstance(recorded, dict):
        return [f"{os.path.basename(lock.path)} was not written by `devenv lock` (no [tool.devenv] inputs)"]
    current = inputs_digest(spec, lines)
    for key in sorted(set(recorded) | set(current)):
        if key not in recorded:
            reasons.append(f"added {key}")
        elif key not in current:
            reasons.append(f"removed {key}")
        elif recorded[key] != current[key]:
            reasons.append(f"changed {key}")
    locked_python = str(lock.tool.get("python", ""))
    if locked_python and minor_of(locked_python) != minor_of(python_version):
        reasons.append(f"locked for Python {locked_python}, this interpreter is {python_version}")
    return reasons


def finish_lock(
    pip_output: dict[str, Any],
    *,
    base: str,
    spec: Spec,
    lines: tuple[PackageLine, ...],
    interpreter: Interpreter,
    index_url: str,
    portable: bool = True,
) -> str:
    """The pylock.toml text from what `pip lock` wrote: local projects removed, and
    requires-python, environments and [tool.devenv] added."""
    from devenv.installers.pip import PIP_VERSION

    local = {line.path for line in lines if line.is_local_project}
    packages = []
    for package in pip_output.get("packages", []):
        directory = package.get("directory")
        if isinstance(directory, dict):
            path = os.path.normpath(os.path.join(base, str(directory.get("path", ""))))
            if path in local or os.path.isdir(path):
                continue  # installed from the root with --no-deps after the lock
        packages.append(package)
    document: dict[str, Any] = {
        "lock-version": pip_output.get("lock-version", "1.0"),
        "environments": [platform_marker(interpreter.markers)],
        "requires-python": f"=={interpreter.minor}.*",
        "created-by": "devenv",
        "packages": packages,
        "tool": {
            "devenv": {
                "python": interpreter.version,
                "implementation": interpreter.implementation,
                "pip": PIP_VERSION,
                "index-url": index_url,
                "local": [line.text for line in lines if line.is_local_project],
                "inputs": inputs_digest(spec, lines),
            }
        },
    }
    text = "# Written by `devenv lock` from envspec.toml [python]; commit it. Do not edit by hand.\n"
    text += toml_text(document)
    # [tool.devenv] may quote the user's own `name @ file:///...` line; the packages may not.
    if portable and "file://" in toml_text({"packages": packages}):
        raise LockError(
            "the lock would contain a file:// URL (a package from a local index or folder); "
            "lock against a real index (devenv lock --index-url URL) or list the folder as -e PATH"
        )
    return text


# -- a small TOML writer for the lock's shape (strings, numbers, lists, tables) -------------


def toml_text(document: dict[str, Any]) -> str:
    """TOML for `document`: scalars and inline tables first, then tables and arrays of tables."""
    out: list[str] = []
    _write_table(out, [], document)
    return "\n".join(out).lstrip("\n") + "\n"


def _write_table(out: list[str], path: list[str], table: dict[str, Any]) -> None:
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        if (isinstance(value, dict) and not _is_inline(value)) or (
            isinstance(value, list) and value and all(isinstance(item, dict) for item in value)
        ):
            nested.append((key, value))
        else:
            out.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        dotted = ".".join(_key(part) for part in [*path, key])
        if isinstance(value, dict):
            out += ["", f"[{dotted}]"]
            _write_table(out, [*path, key], value)
        else:
            for item in value:
                out += ["", f"[[{dotted}]]"]
                _write_table(out, [*path, key], item)


def _is_inline(table: dict[str, Any]) -> bool:
    return all(not isinstance(value, (dict, list)) for value in table.values()) and len(table) <= 4


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()  # TOML's own date-time literal (pip may write upload-time)
    if isinstance(value, str):
        # A JSON string with every non-ASCII character escaped is a valid TOML basic string.
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise SpecError(f"cannot write {type(value).__name__} into a lock")
