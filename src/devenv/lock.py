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
import json
import os
import re
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from devenv import digest
from devenv.errors import LockError, SpecError
from devenv.records import dataclass
from devenv.spec import Spec

if TYPE_CHECKING:
    from devenv.interpreters import Interpreter
    from devenv.requirements import PackageLine


LOCK_NAME = "pylock.toml"
#: The index a lock resolves against unless `devenv lock --index-url` says otherwise. pip runs
#: with --isolated, so an extra index from this machine's pip configuration never lands in it.
DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedPackage:
    """One `[[packages]]` entry: what a sync compares with the venv and `lock --check` with
    the recorded indexes."""

    name: str
    version: str
    #: The PEP 508 marker that decides whether this platform installs it ("" always).
    marker: str
    #: A local project (`directory = { path = ... }`): its absolute folder, else "".
    directory: str
    #: (url, sha256) of every file the entry lists ("" where it has no sha256).
    files: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    """A pylock.toml on disk: its path, content hash and what devenv recorded in it."""

    path: str
    sha256: str
    requires_python: str
    environments: tuple[str, ...]
    #: name -> version of every locked package (on every platform).
    packages: dict[str, str]
    entries: tuple[LockedPackage, ...]
    #: [tool.devenv]: inputs (name -> sha256), installer, index-url, ...; {} for a lock
    #: another tool wrote.
    tool: dict[str, Any]
    #: `created-by` ("devenv", "uv", "pip", ...).
    created_by: str
    #: sha256 of the [[packages]] tables as read (compared with tool["packages-sha256"]).
    packages_sha256: str

    @property
    def standard(self) -> bool:
        """True for a lock another tool wrote (uv, pip, pdm): installed as it is."""
        return not isinstance(self.tool.get("inputs"), dict)

    def selected(self, markers: dict[str, str], *, root: str | None = None) -> tuple[LockedPackage, ...]:
        """The entries this platform installs (their marker holds for `markers`). `root`: the
        project whose `.devenv/packaging.json` may hold the answers (packaging_cache.py)."""
        from devenv import packaging_cache

        environment: dict[str, str | frozenset[str]] = {
            **markers,
            "extras": frozenset(),
            "dependency_groups": frozenset(self.default_groups),
        }
        chosen = []
        for entry in self.entries:
            try:
                holds = not entry.marker or marker_holds(entry.marker, environment, root=root)
            except packaging_cache.Refused:
                raise LockError(f"{self.path}: package {entry.name} has an invalid marker") from None
            if holds:
                chosen.append(entry)
        return tuple(chosen)

    @property
    def default_groups(self) -> tuple[str, ...]:
        return tuple(self.tool.get("default-groups", ()))


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


def read_lock(path: str, *, root: str | None = None) -> Lock:
    """Parse a pylock.toml; a broken one is a LockError naming the file. `root`: the project
    whose `.devenv/locks.json` may hold the parse of exactly these bytes (lock_cache.py)."""
    import tomllib

    from devenv.project import read_input
    from devenv.spec import too_deep

    data = read_input(path, path, LockError) or b""
    if root is not None:
        from devenv import lock_cache

        cached = lock_cache.lookup(root, path, data)
        if cached is not None:
            return cached
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockError(
            f"{path}: cannot read the lock ({exc}); run `devenv lock` to write it again"
        ) from None
    except RecursionError:
        raise too_deep(LockError, path, data.decode("utf-8")) from None
    return lock_from(path, data, document)


def recorded_tool(path: str) -> dict[str, Any]:
    """The [tool.devenv] table of the lock at `path` ({} for a lock another tool wrote), read
    without parsing the [[packages]] before it: a re-lock needs only the recorded index, and
    this repository's 230 KB lock takes ~0.1 s to parse whole. `devenv lock` writes the table
    last; a lock laid out otherwise is read whole."""
    import tomllib

    from devenv.project import read_input

    data = read_input(path, path, LockError) or b""
    start = data.find(b"\n[tool.devenv]\n")
    if start >= 0:
        try:
            tool = tomllib.loads(data[start:].decode("utf-8")).get("tool", {}).get("devenv")
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            tool = None
        if isinstance(tool, dict):
            return tool
    return read_lock(path).tool


def lock_from(path: str, data: bytes, document: dict[str, Any], *, packages_sha256: str = "") -> Lock:
    """The Lock of `document`, whose TOML text `data` is (or will be) the file at `path`.
    `packages_sha256`: `packages_digest` of its [[packages]], when the caller just made it."""
    folder = os.path.dirname(os.path.abspath(path))
    raw = [package for package in document.get("packages", []) if isinstance(package, dict)]
    entries = tuple(_entry(package, folder) for package in raw if "name" in package)
    tool = document.get("tool", {}).get("devenv", {})
    return Lock(
        path=path,
        sha256=digest.sha256(data).hexdigest(),
        requires_python=str(document.get("requires-python", "")),
        environments=tuple(str(marker) for marker in document.get("environments", [])),
        packages={entry.name: entry.version for entry in entries},
        entries=entries,
        tool=tool if isinstance(tool, dict) else {},
        created_by=str(document.get("created-by", "")),
        packages_sha256=packages_sha256 or packages_digest(raw),
    )


def _entry(package: dict[str, Any], folder: str) -> LockedPackage:
    directory = package.get("directory")
    files = []
    for item in [package.get("sdist"), package.get("archive"), *package.get("wheels", [])]:
        if isinstance(item, dict) and ("url" in item or "path" in item):
            hashes = item.get("hashes", {})
            files.append((str(item.get("url") or item.get("path")), str(hashes.get("sha256", ""))))
    return LockedPackage(
        name=_normalise(str(package["name"])),
        version=str(package.get("version", "")),
        marker=str(package.get("marker", "")),
        directory=(
            os.path.normpath(os.path.join(folder, str(directory.get("path", "."))))
            if isinstance(directory, dict)
            else ""
        ),
        files=tuple(files),
    )


def marker_holds(text: str, environment: dict[str, str | frozenset[str]], *, root: str | None = None) -> bool:
    """PEP 751's evaluation of a package marker (`extras` and `dependency_groups` are sets);
    packaging_cache.Refused for one packaging cannot read. `root`: as for `Lock.selected`."""
    from devenv import packaging_cache

    return packaging_cache.marker_holds(root, text, environment)


def packages_digest(packages: list[dict[str, Any]]) -> str:
    """sha256 over the [[packages]] tables: a URL or hash edited by hand changes it."""
    return digest.sha256(_packages_json(packages).encode()).hexdigest()


def _packages_json(packages: list[dict[str, Any]]) -> str:
    """The text `packages_digest` hashes (ASCII: every other character escaped)."""
    return json.dumps(packages, sort_keys=True, default=str, separators=(",", ":"))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def matches_platform(lock: Lock, environment: dict[str, str], *, root: str | None = None) -> bool:
    """True when one of the lock's `environments` markers holds for `environment`. `root`:
    as for `Lock.selected`."""
    if not lock.environments:
        return True
    from devenv import packaging_cache

    for text in lock.environments:
        try:
            if packaging_cache.marker_holds(root, text, environment):
                return True
        except packaging_cache.Refused:
            raise LockError(f"{lock.path}: environments entry {text!r} is not a valid marker") from None
    return False


def select_lock(root: str, environment: dict[str, str]) -> Lock | None:
    """The lock for this platform, None when the project has none; a LockError when every
    lock is for another platform (saying how to add one for this one)."""
    others = []
    for path in lock_files(root):
        lock = read_lock(path, root=root)
        if matches_platform(lock, environment, root=root):
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
    """What changed since `lock` was made (empty when it is current; always empty for a
    lock another tool wrote, which devenv cannot compare with its inputs)."""
    if lock.standard:
        return []
    reasons = []
    recorded = lock.tool["inputs"]
    from devenv.requirements import inputs_digest

    current = inputs_digest(spec, lines)
    for key in sorted(set(recorded) | set(current)):
        if key not in recorded:
            reasons.append(f"added {key}")
        elif key not in current:
            reasons.append(f"removed {key}")
        elif recorded[key] != current[key]:
            reasons.append(f"changed {key}")
    installer = str(lock.tool.get("installer", "pip"))
    if installer != spec.python.installer:
        reasons.append(f"made by {installer}, and [python].installer is {spec.python.installer!r}")
    from devenv.installers import installer_for
    from devenv.spec import INSTALLERS

    # A lock of an installer this devenv does not know is judged as the one in the spec's.
    universal = installer_for(installer if installer in INSTALLERS else spec.python.installer).universal
    locked_python = str(lock.tool.get("python", ""))
    if not universal and locked_python and minor_of(locked_python) != minor_of(python_version):
        reasons.append(f"locked for Python {locked_python}, this interpreter is {python_version}")
    elif universal and lock.requires_python:
        from devenv import packaging_cache

        if not packaging_cache.contains(spec.root, lock.requires_python, python_version):
            reasons.append(f"requires-python {lock.requires_python!r} excludes this Python {python_version}")
    if universal and list(lock.tool.get("platforms", [])) != list(spec.python.platforms):
        reasons.append("changed [python].platforms")
    if spec.python.index and lock.tool.get("index-url") != spec.python.index:
        reasons.append("changed [python].index")
    if spec.python.index and list(lock.tool.get("extra-index-urls", [])) != list(spec.python.extra_indexes):
        reasons.append("changed [python].index extra")
    return reasons + integrity_problems(lock)


def integrity_problems(lock: Lock) -> list[str]:
    """What makes a devenv lock untrustworthy though no input changed: [[packages]] edited
    after `devenv lock` wrote them, a file from outside the recorded indexes, a file
    without a sha256."""
    problems = []
    recorded = lock.tool.get("packages-sha256")
    if recorded and recorded != lock.packages_sha256:
        problems.append(
            "its [[packages]] were edited after `devenv lock` wrote them (a URL or hash changed "
            "without an input change)"
        )
    hosts = index_hosts([str(lock.tool.get("index-url", "")), *lock.tool.get("extra-index-urls", [])])
    known: dict[str, str] = {}  # scheme://authority/ -> host: a lock's ~700 URLs share a few
    for entry in lock.entries:
        for url, sha256 in entry.files:
            prefix = _authority(url)
            host = known.get(prefix) if prefix else None
            if host is None:
                host = _host(url)
                if prefix:
                    known[prefix] = host
            if hosts and host not in hosts:
                problems.append(
                    f"{entry.name}: {_without_userinfo(url)} is outside the recorded indexes "
                    f"({', '.join(sorted(hosts))})"
                )
            if not sha256:
                problems.append(f"{entry.name}: {_without_userinfo(url)} has no sha256")
    return problems


def standard_problems(lock: Lock) -> list[str]:
    """What is wrong with a lock another tool wrote: not valid PEP 751 (packaging.pylock's
    own validation), or a file without a sha256."""
    import tomllib

    problems = []
    try:
        from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError
    except ImportError:  # packaging before 26.1 cannot validate PEP 751; the hashes are still checked
        problems.append("not validated as PEP 751 (packaging 26.1 or later does that)")
    else:
        with open(lock.path, "rb") as handle:
            document = tomllib.load(handle)
        try:
            Pylock.from_dict(document)
        except (PylockValidationError, PylockUnsupportedVersionError) as exc:
            return [f"it is not valid PEP 751 ({exc})"]
    return problems + [
        f"{entry.name}: {_without_userinfo(url)} has no sha256"
        for entry in lock.entries
        for url, sha256 in entry.files
        if not sha256
    ]


#: Where an index serves its files from when that is another host (PyPI's simple API at
#: pypi.org links to files.pythonhosted.org).
_FILE_HOSTS = {"pypi.org": ("files.pythonhosted.org",)}


def index_hosts(urls: list[str]) -> set[str]:
    """The hosts a lock made against `urls` may take files from ("" entries ignored)."""
    hosts: set[str] = set()
    for url in urls:
        if not url or url == "pip configuration":
            continue
        host = _host(url)
        hosts.add(host)
        hosts.update(_FILE_HOSTS.get(host, ()))
    return hosts


#: An authority that is a bare host name (no user, port or IPv6 brackets): its own hostname.
_PLAIN_AUTHORITY = re.compile(r"[a-z][a-z0-9+.-]*://([A-Za-z0-9.-]+)/", re.ASCII)


def _host(url: str) -> str:
    plain = _PLAIN_AUTHORITY.match(url)
    if plain:  # what urlsplit's hostname gives, without importing urllib (3 ms of each sync)
        return plain.group(1).lower()
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


def _authority(url: str) -> str:
    """`scheme://authority/` of `url` (what its host is read from), "" when it has no such
    plain prefix (then the host is read from the whole URL)."""
    scheme, sep, rest = url.partition("://")
    end = rest.find("/")
    if not sep or end < 0 or any(char in rest[:end] for char in "?#\\"):
        return ""
    return url[: len(scheme) + 3 + end + 1]


def _without_userinfo(url: str) -> str:
    return re.sub(r"^([a-z+]+://)[^/@]*@", r"\1", url)


def finish_lock(
    resolved: dict[str, Any],
    *,
    spec: Spec,
    lines: tuple[PackageLine, ...],
    installer: str,
    tool_version: str,
    interpreter: Interpreter | None,
    target: str,
    index_url: str,
    extra_index_urls: tuple[str, ...] = (),
    universal: bool,
    portable: bool = True,
    requires_python: str = "",
) -> tuple[str, dict[str, Any]]:
    """The pylock.toml text, and the document it holds, from what the installer resolved,
    whose directory entries carry absolute paths: requires-python, environments and
    [tool.devenv] added, credentials taken out of every URL. `interpreter`: the one a
    one-platform lock is made for (None for a universal lock).

    A universal lock (uv) keeps local projects as directory entries relative to the lock's
    folder, and covers [python].platforms (all of PLATFORMS when empty). A one-platform lock
    (pip) leaves them out (pip writes them without a hash, which fails under hash checking):
    they are installed from the root with --no-deps after the lock. `requires_python`: the
    Python versions a universal lock covers (`venv.covered_pythons`)."""
    from devenv.requirements import inputs_digest

    requires_python = requires_python or spec.python.requires
    folder = os.path.dirname(os.path.abspath(target))
    packages = []
    for package in resolved.get("packages", []):
        directory = package.get("directory")
        if isinstance(directory, dict):
            if not universal:
                continue
            relative = os.path.relpath(str(directory["path"]), folder)
            package = {**package, "directory": {**directory, "path": relative}}
        packages.append(package)
    if universal and spec.python.platforms:
        packages = narrow(packages, spec.python.platforms, requires_python, root=spec.root)
    # Their JSON (the digest's text) shows at once whether any string holds an `@` (which a
    # URL's credentials need) or a file:// URL: only then are the tables walked (~4 ms).
    packages_json = _packages_json(packages)
    if "@" in packages_json:
        packages = [_scrub(package) for package in packages]
        packages_json = _packages_json(packages)
    tool: dict[str, Any] = {
        "installer": installer,
        installer: tool_version,
        "index-url": index_url,
        "extra-index-urls": list(extra_index_urls),
        "local": [line.text for line in lines if line.is_local_project],
        "inputs": inputs_digest(spec, lines),
        "packages-sha256": digest.sha256(packages_json.encode()).hexdigest(),
    }
    document: dict[str, Any] = {"lock-version": resolved.get("lock-version", "1.0")}
    if universal:
        if spec.python.platforms:
            document["environments"] = [platform_environment(name) for name in spec.python.platforms]
            tool["platforms"] = list(spec.python.platforms)
        document["requires-python"] = requires_python or str(resolved.get("requires-python", ""))
        if not spec.python.requires and requires_python:
            # Not declared: the floor is the Python of the machine that locked; another
            # machine's older Python is refused by name (venv.refuse_below_floor).
            tool["python-floor"] = requires_python.removeprefix(">=")
    else:
        assert interpreter is not None, "a one-platform lock is made for one interpreter"
        document["environments"] = [platform_marker(interpreter.markers)]
        document["requires-python"] = f"=={interpreter.minor}.*"
        tool = {"python": interpreter.version, "implementation": interpreter.implementation, **tool}
    document |= {"created-by": "devenv", "packages": packages, "tool": {"devenv": tool}}
    text = "# Written by `devenv lock` from envspec.toml [python]; commit it. Do not edit by hand.\n"
    text += toml_text(document)
    # [tool.devenv] may quote the user's own `name @ file:///...` line; the packages may not.
    if portable and "file://" in packages_json and any("file://" in text for text in _strings(packages)):
        raise LockError(
            "the lock would contain a file:// URL (a package from a local index or folder); "
            "lock against a real index (devenv lock --index-url URL) or list the folder as -e PATH"
        )
    return text, document


def _strings(value: Any) -> Iterator[str]:
    """Every string in `value` (nested dicts and lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _scrub(value: Any) -> Any:
    """`value` with user:password@ taken out of every URL (credentials come from the
    environment when the installer runs, and never go into a file meant for git)."""
    if isinstance(value, str) and "://" in value:
        return _without_userinfo(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


#: `[python].platforms` names -> (sys_platform, platform_machine, platform_system, wheel
#: platform tag fragments).
_PLATFORMS = {
    "linux-x86_64": ("linux", "x86_64", "Linux", ("linux_x86_64", "manylinux", "musllinux")),
    "linux-arm64": ("linux", "aarch64", "Linux", ("linux_aarch64", "manylinux", "musllinux")),
    "macos-x86_64": ("darwin", "x86_64", "Darwin", ("macosx",)),
    "macos-arm64": ("darwin", "arm64", "Darwin", ("macosx",)),
    "windows-x86_64": ("win32", "AMD64", "Windows", ("win_amd64",)),
    "windows-arm64": ("win32", "ARM64", "Windows", ("win_arm64",)),
}


def platform_environment(name: str) -> str:
    """The `environments` marker of a `[python].platforms` name."""
    sys_platform, machine, _, _ = _PLATFORMS[name]
    return f"sys_platform == {json.dumps(sys_platform)} and platform_machine == {json.dumps(machine)}"


def _wheel_fits(filename: str, name: str) -> bool:
    _, machine, _, fragments = _PLATFORMS[name]
    tag = filename.rsplit("-", 1)[-1].removesuffix(".whl")
    if tag == "any":
        return True
    for part in tag.split("."):
        if part.startswith(("manylinux", "musllinux", "linux")) and fragments[0].startswith("linux"):
            if part.endswith(machine):
                return True
        elif part.startswith("macosx") and "macosx" in fragments:
            if part.endswith((machine, "universal2", "intel" if machine == "x86_64" else "arm64")):
                return True
        elif part in fragments:
            return True
    return False


def narrow(
    packages: list[dict[str, Any]], platforms: tuple[str, ...], requires: str, *, root: str | None = None
) -> list[dict[str, Any]]:
    """Only what `platforms` can install: packages whose marker holds on one of them (for a
    Python minor `requires` allows), and wheels built for one of them. `root`: as for
    `Lock.selected`."""
    from devenv import packaging_cache

    allowed = requires or ">=3"
    minors = [
        f"3.{minor}" for minor in range(8, 16) if packaging_cache.contains(root, allowed, f"3.{minor}.99")
    ]
    minors = minors or ["3.12"]
    environments: list[dict[str, str | frozenset[str]]] = []
    for name in platforms:
        sys_platform, machine, system, _ = _PLATFORMS[name]
        for minor in minors:
            environments.append(
                {
                    "sys_platform": sys_platform,
                    "platform_machine": machine,
                    "platform_system": system,
                    "os_name": "nt" if sys_platform == "win32" else "posix",
                    "implementation_name": "cpython",
                    "platform_python_implementation": "CPython",
                    "python_version": minor,
                    "python_full_version": f"{minor}.0",
                    "implementation_version": f"{minor}.0",
                    "platform_release": "",
                    "platform_version": "",
                    "extras": frozenset(),
                    "dependency_groups": frozenset(),
                }
            )
    kept = []
    for package in packages:
        marker = package.get("marker")
        if marker and not any(marker_holds(str(marker), env, root=root) for env in environments):
            continue
        wheels = package.get("wheels")
        if isinstance(wheels, list):
            fitting = [
                wheel for wheel in wheels if any(_wheel_fits(_wheel_name(wheel), name) for name in platforms)
            ]
            package = {**package, "wheels": fitting}
        kept.append(package)
    return kept


def _wheel_name(wheel: dict[str, Any]) -> str:
    return str(wheel.get("name") or str(wheel.get("url", wheel.get("path", ""))).rsplit("/", 1)[-1])


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


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: What json.dumps gives for a string (ensure_ascii), without the encoder object around it.
_quoted = encode_basestring_ascii


#: The keys written so far (a lock's ~4000 keys are a dozen names).
_KEYS: dict[str, str] = {}


def _key(key: str) -> str:
    written = _KEYS.get(key)
    if written is None:
        written = _KEYS[key] = key if _BARE_KEY.fullmatch(key) else _quoted(key)
    return written


def _value(value: Any) -> str:
    if isinstance(value, str):  # the most of a lock's values, so asked first
        # A JSON string with every non-ASCII character escaped is a valid TOML basic string.
        return _quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()  # TOML's own date-time literal (pip may write upload-time)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise SpecError(f"cannot write {type(value).__name__} into a lock")
