"""The project's virtual environment: pick an interpreter, create the venv, make it hold
exactly the locked package set.

virtualenv creates the venv and pip installs into it; devenv decides what is needed. A sync
changes the venv in place: it installs what the lock lists and is missing, and uninstalls
what the lock does not list (pip has no sync of its own). A venv is created only where
nothing is, and rebuilt only when it carries devenv's marker and the interpreter changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import TypedDict

from devenv.errors import LockError, SpecError, StaleError, SyncError
from devenv.layout import DEFAULT_VENV, PRIVATE_LOCK, SYNC_INCOMPLETE, state_dir, state_path
from devenv.lock import (
    DEFAULT_INDEX,
    PIP_VERSION,
    Lock,
    finish_lock,
    lock_filename,
    minor_of,
    read_lock,
    select_lock,
    stale_reasons,
)
from devenv.requirements import PackageLine, parse_packages, requirements_text
from devenv.resolver import pythonpath_entries, venv_path
from devenv.spec import Spec
from devenv.store import write_atomic

__all__ = [
    "KEEP",
    "MARKER",
    "Progress",
    "PythonRecord",
    "check_lock",
    "check_venv_location",
    "clear_incomplete",
    "ensure_lock_pip",
    "ensure_venv",
    "find_interpreter",
    "installed_distributions",
    "installed_packages",
    "lock_project",
    "made_by_devenv",
    "make_lock",
    "mark_incomplete",
    "probe_interpreter",
    "python_identity",
    "run_pip",
    "sync_venv",
    "venv_owner",
    "venv_python",
]


Progress = Callable[[str], None]


class PythonRecord(TypedDict):
    """What `devenv sync` set up: the interpreter, the venv, and what is installed in it."""

    base_interpreter: str
    interpreter: str
    version: str
    implementation: str
    requires: str
    venv: str
    packages: list[str]
    installed: list[str]
    inputs_sha256: str
    #: The committed lock installed ("" without one) and the sha256 of the lock installed.
    lock: str
    lock_sha256: str


#: Written into every venv devenv creates; only a venv holding it is ever cleared or rebuilt.
MARKER = "devenv-venv.json"
#: Always kept: devenv installs with it.
KEEP = frozenset({"pip"})

_PROBE = (
    "import importlib.metadata, json, os, platform, sys\n"
    "try:\n    pip = importlib.metadata.version('pip')\nexcept Exception:\n    pip = ''\n"
    "print(json.dumps({'executable': sys.executable, 'version': platform.python_version(),"
    " 'implementation': platform.python_implementation(),"
    " 'base': getattr(sys, '_base_executable', sys.executable), 'prefix': sys.base_prefix,"
    " 'pip': pip, 'sys_platform': sys.platform, 'platform_machine': platform.machine(),"
    " 'implementation_name': sys.implementation.name, 'os_name': os.name,"
    " 'platform_system': platform.system(), 'python_version': '.'.join(platform.python_version_tuple()[:2]),"
    " 'python_full_version': platform.python_version(), 'platform_python_implementation':"
    " platform.python_implementation(), 'platform_release': platform.release(),"
    " 'platform_version': platform.version(), 'implementation_version': platform.python_version()}))"
)
_INSTALLED = (
    "import importlib.metadata as m, json, os, re\n"
    "from urllib.parse import unquote, urlsplit\n"
    "found = {}\n"
    "for d in m.distributions():\n"
    "    name = d.metadata['Name'] if d.metadata else None\n"
    "    if not name:\n        continue\n"
    "    local = ''\n"
    "    try:\n        info = json.loads(d.read_text('direct_url.json') or 'null')\n"
    "    except ValueError:\n        info = None\n"
    "    if isinstance(info, dict) and 'dir_info' in info and str(info.get('url', '')).startswith('file:'):\n"
    "        local = os.path.normpath(unquote(urlsplit(info['url']).path))\n"
    "    found.setdefault(re.sub(r'[-_.]+', '-', name).lower(), [d.version, local])\n"
    "print(json.dumps(found, sort_keys=True))\n"
)
#: pip runs as `python -c _GUARDED_PIP ...`: in its own process group, and when devenv dies
#: (the parent-death signal below), pip takes its whole group down with it, build backends
#: included, instead of running on as an orphan.
_GUARDED_PIP = (
    "import os, runpy, signal, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))\n"
    "sys.argv[0] = 'pip'\n"
    "runpy.run_module('pip', run_name='__main__', alter_sys=True)\n"
)


def venv_python(spec: Spec) -> str:
    """The venv's interpreter: the canonical interpreter of the project."""
    return os.path.join(venv_path(spec), "bin", "python")


def probe_interpreter(executable: str) -> dict[str, str] | None:
    """Version and platform facts about `executable`, or None when it does not run."""
    try:
        result = subprocess.run(
            [executable, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        facts: dict[str, str] = json.loads(result.stdout)
    except ValueError:
        return None
    return facts


def find_interpreter(requires: str, *, preferred: str | None = None, locked: str = "") -> dict[str, str]:
    """The first interpreter satisfying `requires` (and, when one does, the lock's
    `requires-python` too): the one used last time, the one running devenv, then
    python3.X / python3 / python on PATH."""
    from packaging.specifiers import SpecifierSet

    specifier = SpecifierSet(requires)
    lock_specifier = SpecifierSet(locked) if locked else None
    candidates = [preferred] if preferred else []
    candidates.append(getattr(sys, "_base_executable", sys.executable))
    candidates += [f"python3.{minor}" for minor in range(14, 7, -1)] + ["python3", "python"]
    seen: list[str] = []
    fallback = None
    for candidate in candidates:
        if not candidate or candidate in seen:
            continue
        seen.append(candidate)
        facts = probe_interpreter(candidate)
        if not facts or not specifier.contains(facts["version"], prereleases=True):
            continue
        if lock_specifier is None or lock_specifier.contains(facts["version"], prereleases=True):
            return facts
        fallback = fallback or facts
    if fallback is not None:
        return fallback
    raise SyncError(
        f"no Python interpreter satisfies [python].requires = {requires!r} "
        f"(tried: {', '.join(seen)}); install one, or change requires in envspec.toml"
    )


# -- where the venv may be -------------------------------------------------------------------


def check_venv_location(spec: Spec, outer: Mapping[str, str] | None = None) -> None:
    """Refuse (exit 2, before anything is touched) a venv that would hold or replace
    something devenv did not make: the root, a folder above it, .git, a [paths] folder, the
    spec or dotenv files, an existing folder that is not a virtual environment, or another
    project's venv (`outer`, default this process's environment, tells the active one)."""
    venv = venv_path(spec)
    where = f"{spec.path}: [python].venv = {spec.python.venv!r}"
    root = os.path.normpath(spec.root)
    if venv == root or root.startswith(venv.rstrip(os.sep) + os.sep):
        raise SpecError(f'{where} is the project folder or a folder above it; use e.g. "{DEFAULT_VENV}"')
    protected = [os.path.join(root, ".git"), spec.path]
    protected += [os.path.join(root, name) for name in spec.dotenv.files]
    protected += list(pythonpath_entries(spec))
    for path in protected:
        if path == venv or path.startswith(venv + os.sep) or venv.startswith(path + os.sep):
            raise SpecError(
                f"{where} overlaps {os.path.relpath(path, root)}, which devenv must never replace; "
                f'use e.g. "{DEFAULT_VENV}"'
            )
    if os.path.islink(venv):
        raise SpecError(f"{where} is a symbolic link; point it at a real folder")
    if os.path.lexists(venv):
        if not os.path.isdir(venv):
            raise SpecError(f"{where} is a file, not a virtual environment; remove it or choose another path")
        if os.listdir(venv) and not os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            raise SpecError(
                f"{where} is an existing folder that is not a virtual environment (no pyvenv.cfg); "
                "devenv will not touch it: choose another path or empty it yourself"
            )
    _refuse_foreign(spec, venv, where, os.environ if outer is None else outer)


def _refuse_foreign(spec: Spec, venv: str, where: str, outer: Mapping[str, str]) -> None:
    """Another project's venv (its marker names another root), or the venv active in a shell
    of another project, is never synced into: that would uninstall its packages."""
    marker = venv_owner(venv)
    fix = f'point [python].venv at a folder of this project, e.g. "{DEFAULT_VENV}"'
    theirs = marker is not None and not made_by_devenv(venv, spec.root)
    if theirs and not _copied_with_the_checkout(venv, spec.root):
        raise SpecError(
            f"{where} is the venv devenv made for another project ({(marker or {}).get('project')}); "
            f"syncing would change that project's packages: {fix}"
        )
    active_root = outer.get("DEVENV_ROOT")
    active = outer.get("VIRTUAL_ENV")
    if (
        active
        and active_root
        and os.path.normpath(active) == venv
        and os.path.normpath(active_root) != os.path.normpath(spec.root)
    ):
        raise SpecError(
            f"{where} is the active $VIRTUAL_ENV of another project ({active_root}); "
            f"syncing would change that project's packages: {fix}"
        )


def venv_owner(venv: str) -> dict[str, object] | None:
    """The marker of `venv` (which project devenv made it for), or None without one."""
    try:
        with open(os.path.join(venv, MARKER), "rb") as handle:
            marker = json.loads(handle.read(4096))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("made-by") == "devenv" else None


def made_by_devenv(venv: str, root: str) -> bool:
    """True when `venv` carries devenv's marker naming the project at `root` (its path, and its
    device and inode when the marker records them: markers before these fields have only
    the path), so devenv may clear, rebuild or uninstall from it. A venv devenv made for
    another project is not this project's to change."""
    marker = venv_owner(venv)
    if marker is None or marker.get("project") != root:
        return False
    if "inode" not in marker:
        return True
    try:
        info = os.stat(root)
    except OSError:
        return False
    return marker.get("device") == info.st_dev and marker.get("inode") == info.st_ino


def _copied_with_the_checkout(venv: str, root: str) -> bool:
    """A venv inside this project's own `.devenv/` whose marker names another root: it came
    with a copy of the checkout (`cp -r`), and devenv creates it again for this one."""
    inside = os.path.normpath(venv).startswith(os.path.normpath(state_dir(root)) + os.sep)
    return inside and venv_owner(venv) is not None and not made_by_devenv(venv, root)


def ensure_venv(spec: Spec, facts: dict[str, str], progress: Progress) -> bool:
    """Create the venv when there is none, rebuild it when the interpreter changed and devenv
    made it; returns True when it was (re)created."""
    venv = venv_path(spec)
    python = venv_python(spec)
    base = facts["base"]
    if os.path.exists(python):
        existing = probe_interpreter(python)
        copied = _copied_with_the_checkout(venv, spec.root)
        if (
            existing is not None
            and not copied
            and (
                os.path.realpath(existing["base"]) == os.path.realpath(base)
                and existing["version"] == facts["version"]
            )
        ):
            return False
        if not made_by_devenv(venv, spec.root) and not copied:
            raise SyncError(
                f"{venv} uses another interpreter than {base} and was not created by devenv, so "
                "devenv will not rebuild it; remove it yourself or point [python].venv elsewhere"
            )
        _refuse_running(venv)
        reason = "it was copied with the checkout" if copied else "the interpreter changed"
    elif os.path.isdir(venv) and os.listdir(venv) and not made_by_devenv(venv, spec.root):
        raise SyncError(f"{venv} is a broken virtual environment devenv did not create; remove it yourself")
    else:
        reason = "there was none"
    progress(
        f"creating {os.path.relpath(venv, spec.root)} ({reason}) with "
        f"{facts['implementation']} {facts['version']} ({base})"
    )
    _create_venv(venv, base)
    _write_marker(spec)
    return True


def _write_marker(spec: Spec) -> None:
    info = os.stat(spec.root)
    marker = {"made-by": "devenv", "project": spec.root, "device": info.st_dev, "inode": info.st_ino}
    write_atomic(os.path.join(venv_path(spec), MARKER), json.dumps(marker, sort_keys=True).encode() + b"\n")


def _refuse_running(venv: str) -> None:
    """A venv is never rebuilt under running processes: they would lose their files.

    In use: a process started through a path in the venv, or a process of the venv's
    interpreter launched with VIRTUAL_ENV pointing at it (`devenv run -- python`, whose argv[0]
    is the bare word). A shell that sourced env.sh only has the variable, and is not counted."""
    import psutil

    python = os.path.realpath(os.path.join(venv, "bin", "python"))
    users = []
    for process in psutil.process_iter(["pid", "cmdline", "environ", "exe"]):
        info = process.info
        command = info.get("cmdline") or []
        environ = info.get("environ") or {}
        by_path = any(word.startswith(venv + os.sep) for word in command[:2])
        by_interpreter = (
            environ.get("VIRTUAL_ENV") == venv and os.path.realpath(info.get("exe") or "") == python
        )
        if (by_path or by_interpreter) and info["pid"] != os.getpid():
            users.append(str(info["pid"]))
    if users:
        raise SyncError(
            f"{venv} must be rebuilt but processes run from it (PID {', '.join(users)}); "
            "stop them, then run `devenv sync`"
        )


def _create_venv(venv: str, base: str) -> None:
    from virtualenv import cli_run

    try:
        # Only pip: anything else would be uninstalled again by the exact sync that follows.
        cli_run([venv, "--python", base, "--clear", "--no-setuptools", "--quiet"], setup_logging=False)
    except (SystemExit, Exception) as exc:  # virtualenv reports bad input with SystemExit
        raise SyncError(f"virtualenv could not create {venv} with {base}: {exc}") from None


# -- running pip -----------------------------------------------------------------------------


def run_pip(
    python: str, args: list[str], *, cwd: str, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m pip ARGS` in its own process group that dies with devenv (SIGINT, SIGTERM
    or SIGKILL of devenv), its output on our stderr (stdout of devenv carries data only)."""
    import signal

    parent = os.getpid()
    set_death_signal = _death_signal_setter()

    def prepare() -> None:  # in the child, between fork and exec
        os.setpgid(0, 0)
        set_death_signal(signal.SIGTERM)
        if os.getppid() != parent:  # devenv died before the death signal was armed
            os._exit(1)

    command = [python, "-I", "-c", _GUARDED_PIP, *args, "--disable-pip-version-check"]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
        text=True,
        preexec_fn=prepare,
    )
    try:
        out, err = process.communicate()
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out or "", err or "")


def _kill_group(pgid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _death_signal_setter() -> Callable[[int], None]:
    """prctl(PR_SET_PDEATHSIG) on Linux: the kernel signals the child when devenv dies, even
    by SIGKILL. Elsewhere a no-op (devenv's own SIGINT/SIGTERM handling still kills pip)."""
    if not sys.platform.startswith("linux"):
        return lambda signum: None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    return lambda signum: libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)


def installed_distributions(python: str) -> dict[str, tuple[str, str]]:
    """name -> (version, local project folder or "") of everything installed for `python`."""
    result = subprocess.run([python, "-I", "-c", _INSTALLED], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SyncError(f"{python}: cannot list installed packages: {result.stderr.strip()}")
    found: dict[str, list[str]] = json.loads(result.stdout)
    return {name: (item[0], item[1]) for name, item in found.items()}


def installed_packages(python: str) -> list[str]:
    """`name==version` for every distribution installed for `python`, sorted."""
    return sorted(f"{name}=={version}" for name, (version, _) in installed_distributions(python).items())


# -- the lock --------------------------------------------------------------------------------


def ensure_lock_pip(python: str, facts: dict[str, str], progress: Progress, *, cwd: str) -> None:
    """The venv's pip is the pinned one that writes and reads pylock.toml."""
    if facts.get("pip") == PIP_VERSION:
        return
    progress(f"installing pip {PIP_VERSION} into the venv (it writes and reads pylock.toml)")
    result = run_pip(python, ["install", "--quiet", f"pip=={PIP_VERSION}"], cwd=cwd)
    if result.returncode != 0:
        raise SyncError(f"could not install pip {PIP_VERSION} into the venv (exit {result.returncode})")


def make_lock(
    spec: Spec,
    lines: tuple[PackageLine, ...],
    facts: dict[str, str],
    *,
    path: str,
    portable: bool,
    index_url: str = DEFAULT_INDEX,
) -> Lock:
    """Resolve `lines` with `pip lock` for the venv's interpreter and write the lock to `path`.

    `portable` (a lock to commit): pip runs with --isolated and `index_url`, so this machine's
    pip configuration (an extra index, find-links) never lands in the lock."""
    import tomllib

    python = venv_python(spec)
    folder = state_dir(spec.root)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-lock-") as scratch:
        requirements = os.path.join(scratch, "requirements.txt")
        with open(requirements, "w", encoding="utf-8") as handle:
            handle.write(requirements_text(lines))
        # pip writes a local project's path relative to the lock's folder (the working folder
        # with `-o -`) and fails for one outside it: run from a folder above them all.
        base = os.path.commonpath([spec.root, *(line.path for line in lines if line.is_local_project)])
        args = ["lock", "--quiet", "-r", requirements, "-o", "-"]
        if portable:
            args += ["--isolated", "--index-url", index_url]
        result = run_pip(python, args, cwd=base, capture=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            raise LockError(
                f"pip lock failed (exit {result.returncode}); see pip's output above, fix "
                "[python].packages in envspec.toml, then run `devenv lock`"
            )
        try:
            pip_output = tomllib.loads(result.stdout)
        except tomllib.TOMLDecodeError as exc:
            raise LockError(f"pip lock wrote something that is not TOML ({exc})") from None
    text = finish_lock(
        pip_output,
        base=base,
        spec=spec,
        lines=lines,
        facts=facts,
        environment=facts,
        index_url=index_url if portable else "pip configuration",
        portable=portable,
    )
    if not portable:
        text = text.replace("# Written by `devenv lock`", "# Written by `devenv sync` (no committed lock)", 1)
    _write_visible(path, text.encode("utf-8"), private=not portable)
    return read_lock(path)


def _write_visible(path: str, data: bytes, *, private: bool) -> None:
    """Atomically write a file meant for git (mode from the umask) or for .devenv/ (0600)."""
    write_atomic(path, data)
    if not private:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)


# -- sync ------------------------------------------------------------------------------------


def _identity(installed: list[str], facts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for part in (facts["implementation"], facts["version"], *installed):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def python_identity(record: PythonRecord | None) -> str:
    """What the fingerprint covers of the venv: interpreter and installed package set."""
    if record is None:
        return ""
    facts = {"implementation": record["implementation"], "version": record["version"]}
    return _identity(record["installed"], facts)


def sync_venv(
    spec: Spec, previous: PythonRecord | None, *, frozen: bool, progress: Progress, check: bool = False
) -> tuple[PythonRecord, bool]:
    """Bring the venv in line with the lock (made first when there is none or it is stale);
    returns the record and whether anything changed. `check`: change nothing, raise
    StaleError when something would change."""
    check_venv_location(spec)
    lines = parse_packages(spec)
    preferred = previous["base_interpreter"] if previous else None
    facts = find_interpreter(spec.python.requires or ">=0", preferred=preferred)
    lock = select_lock(spec.root, facts)
    if lock is not None and lock.requires_python:
        facts = find_interpreter(
            spec.python.requires or ">=0", preferred=preferred, locked=lock.requires_python
        )
    committed = lock is not None
    reasons = stale_reasons(spec, lines, lock, python_version=facts["version"]) if lock else []
    if lock is not None:
        locked_python = str(lock.tool.get("python", ""))
        if (
            locked_python
            and locked_python != facts["version"]
            and minor_of(locked_python) == minor_of(facts["version"])
        ):
            progress(
                f"warning: {os.path.basename(lock.path)} was made with Python {locked_python}, "
                f"this interpreter is {facts['version']} (same minor version: installing it anyway)"
            )
    if frozen and lock is None and lines:
        raise LockError(
            "--frozen: there is no pylock.toml to install from; run `devenv lock` and commit pylock.toml"
        )
    if frozen and reasons and lock is not None:
        raise LockError(
            f"--frozen: {os.path.basename(lock.path)} is stale ({'; '.join(reasons)}); "
            "run `devenv lock` and commit the new lock"
        )
    venv = venv_path(spec)
    python = venv_python(spec)
    if check:
        return _check_only(spec, previous, facts, lock, reasons, lines)
    created = ensure_venv(spec, facts, progress)
    if created:
        facts = probe_interpreter(python) or facts | {"pip": ""}
    else:
        facts = (probe_interpreter(python) or facts) | {"base": facts["base"]}
    private_lock = state_path(spec.root, PRIVATE_LOCK)
    if not lines:
        lock = None
    elif lock is None or reasons:
        if lock is not None:
            progress(f"{os.path.basename(lock.path)} is stale ({'; '.join(reasons)}); locking again")
            target, portable = lock.path, True
        else:
            existing = read_lock(private_lock) if os.path.isfile(private_lock) else None
            if existing is not None and not stale_reasons(
                spec, lines, existing, python_version=facts["version"]
            ):
                lock = existing
            target, portable = private_lock, False
        if lock is None or reasons:
            ensure_lock_pip(python, facts, progress, cwd=spec.root)
            facts = facts | {"pip": PIP_VERSION}
            if not portable:
                progress(
                    "no pylock.toml: resolving [python].packages on this machine; run `devenv lock` "
                    "and commit pylock.toml so every machine installs the same versions"
                )
            lock = make_lock(spec, lines, facts, path=target, portable=portable)
            if portable:
                progress(f"wrote {os.path.relpath(lock.path, spec.root)}; commit it")
    changed = _apply_lock(spec, previous, facts, lock, lines, progress) or created
    installed = installed_packages(python)
    base = facts.get("base", previous["base_interpreter"] if previous else sys.executable)
    record: PythonRecord = {
        "base_interpreter": base,
        "interpreter": python,
        "version": facts["version"],
        "implementation": facts["implementation"],
        "requires": spec.python.requires,
        "venv": venv,
        "packages": list(spec.python.packages),
        "installed": installed,
        "inputs_sha256": _inputs_sha(lock, facts),
        "lock": os.path.relpath(lock.path, spec.root) if lock is not None and committed else "",
        "lock_sha256": lock.sha256 if lock is not None else "",
    }
    return record, changed


def _inputs_sha(lock: Lock | None, facts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for part in (lock.sha256 if lock else "", facts["implementation"], facts["version"]):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _plan(
    lock: Lock | None, lines: tuple[PackageLine, ...], installed: dict[str, tuple[str, str]]
) -> tuple[list[str], bool, list[PackageLine]]:
    """(names to uninstall, whether the lock must be installed, local projects to install)."""
    wanted = dict(lock.packages) if lock else {}
    local = [line for line in lines if line.is_local_project]
    local_dirs = {line.path for line in local}
    remove = sorted(
        name
        for name, (_, folder) in installed.items()
        if name not in wanted and name not in KEEP and folder not in local_dirs
    )
    install_lock = any(installed.get(name, ("", ""))[0] != version for name, version in wanted.items())
    present = {folder for _, folder in installed.values()}
    missing_local = [line for line in local if line.path not in present]
    return remove, install_lock, missing_local


def _check_only(
    spec: Spec,
    previous: PythonRecord | None,
    facts: dict[str, str],
    lock: Lock | None,
    reasons: list[str],
    lines: tuple[PackageLine, ...],
) -> tuple[PythonRecord, bool]:
    python = venv_python(spec)
    problems = []
    if not os.path.exists(python):
        problems.append("there is no venv yet")
    elif lines and lock is None:
        private = state_path(spec.root, PRIVATE_LOCK)
        lock = read_lock(private) if os.path.isfile(private) else None
        if lock is None or stale_reasons(spec, lines, lock, python_version=facts["version"]):
            problems.append("[python].packages changed since the last sync")
    if reasons:
        problems.append(f"the lock is stale ({'; '.join(reasons)})")
    if os.path.exists(python) and not problems:
        remove, install_lock, missing_local = _plan(lock, lines, installed_distributions(python))
        if remove:
            problems.append(f"not in the lock: {', '.join(remove)}")
        if install_lock:
            problems.append("locked packages are missing or at another version")
        if missing_local:
            problems.append(f"not installed: {', '.join(line.text for line in missing_local)}")
    if problems or previous is None:
        raise StaleError(
            f"{os.path.relpath(venv_path(spec), spec.root)} is out of sync "
            f"({'; '.join(problems) or 'never synced'}); run `devenv sync`"
        )
    return previous, False


def _apply_lock(
    spec: Spec,
    previous: PythonRecord | None,
    facts: dict[str, str],
    lock: Lock | None,
    lines: tuple[PackageLine, ...],
    progress: Progress,
) -> bool:
    """Uninstall what the lock does not list, install what it lists and is missing
    (hash-checked), then the local projects with --no-deps; True when pip changed anything."""
    python = venv_python(spec)
    installed = installed_distributions(python)
    remove, install_lock, missing_local = _plan(lock, lines, installed)
    local_changed = previous is not None and lock is not None and previous.get("lock_sha256") != lock.sha256
    local = [line for line in lines if line.is_local_project]
    install_local = local if (local_changed or missing_local) else []
    venv = venv_path(spec)
    pip_missing = "pip" not in installed
    ours = made_by_devenv(venv, spec.root)
    if not remove and not install_lock and not install_local and not (pip_missing and ours):
        return False
    if pip_missing:
        if not made_by_devenv(venv, spec.root):
            raise SyncError(
                f"{venv} has no pip, which devenv installs with, and devenv did not create it; "
                "install pip into it, or remove it and let `devenv sync` create one"
            )
        _refuse_running(venv)
        progress(f"{os.path.relpath(venv, spec.root)} has no pip (removed by hand?); creating it again")
        _create_venv(venv, facts["base"])
        _write_marker(spec)
        installed = installed_distributions(python)
        remove, install_lock, missing_local = _plan(lock, lines, installed)
        install_local = local
    if remove and not made_by_devenv(venv, spec.root):
        # Removing is the one in-place change that destroys something: only in a venv devenv made.
        raise SyncError(
            f"{venv} was not created by devenv and holds {len(remove)} package(s) the lock does not "
            f"list ({', '.join(remove)}); devenv removes packages only from venvs it made: uninstall "
            "them yourself, or point [python].venv at a new folder and let `devenv sync` create it"
        )
    mark_incomplete(spec.root)
    if remove:
        progress(
            f"removing {len(remove)} {_packages(len(remove))} the lock does not list: {', '.join(remove)}"
        )
        _pip_or_fail(python, ["uninstall", "--yes", "--quiet", *remove], spec, "pip uninstall")
    if install_lock and lock is not None:
        progress(
            f"installing {os.path.relpath(lock.path, spec.root)} "
            f"({len(lock.packages)} locked {_packages(len(lock.packages))}, hash-checked)"
        )
        _pip_or_fail(
            python,
            ["install", "--quiet", "--no-deps", "--require-hashes", "-r", lock.path],
            spec,
            "pip install from the lock",
        )
    if install_local:
        progress(f"installing {', '.join(line.text for line in install_local)} from the root (--no-deps)")
        with tempfile.TemporaryDirectory(dir=state_dir(spec.root), prefix=".tmp-local-") as scratch:
            requirements = os.path.join(scratch, "local.txt")
            with open(requirements, "w", encoding="utf-8") as handle:
                handle.write(requirements_text(tuple(install_local)))
            _pip_or_fail(python, ["install", "--quiet", "--no-deps", "-r", requirements], spec, "pip install")
    result = run_pip(python, ["check"], cwd=spec.root, capture=True)
    if result.returncode != 0:
        raise SyncError(
            "pip check found a dependency the lock does not hold:\n"
            + result.stdout.strip()
            + "\nrun `devenv lock` to resolve [python].packages again, then `devenv sync`"
        )
    return True


def _packages(count: int) -> str:
    return "package" if count == 1 else "packages"


def _pip_or_fail(python: str, args: list[str], spec: Spec, what: str) -> None:
    result = run_pip(python, args, cwd=spec.root)
    if result.returncode != 0:
        raise SyncError(
            f"{what} failed (exit {result.returncode}); see pip's output above, fix [python].packages "
            "in envspec.toml, then run `devenv sync`"
        )


# -- the unfinished-sync marker ----------------------------------------------------------------


def mark_incomplete(root: str) -> None:
    """Mark the state unfinished until the sync has written it (print-env, run and up refuse)."""
    write_atomic(state_path(root, SYNC_INCOMPLETE), f"{os.getpid()}\n".encode())


def clear_incomplete(root: str) -> None:
    """The sync finished and its state is written."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_path(root, SYNC_INCOMPLETE))


def lock_project(
    spec: Spec, previous: PythonRecord | None, *, name: str | None, index_url: str, progress: Progress
) -> Lock:
    """`devenv lock`: resolve [python].packages and write pylock[.NAME].toml at the root."""
    check_venv_location(spec)
    lines = parse_packages(spec)
    if not lines:
        raise SpecError(f"{spec.path}: [python].packages is empty; there is nothing to lock")
    preferred = previous["base_interpreter"] if previous else None
    facts = find_interpreter(spec.python.requires or ">=0", preferred=preferred)
    ensure_venv(spec, facts, progress)
    python = venv_python(spec)
    facts = (probe_interpreter(python) or facts) | {"base": facts["base"]}
    ensure_lock_pip(python, facts, progress, cwd=spec.root)
    return make_lock(
        spec,
        lines,
        facts,
        path=os.path.join(spec.root, lock_filename(name)),
        portable=True,
        index_url=index_url,
    )


def check_lock(spec: Spec, previous: PythonRecord | None) -> tuple[Lock | None, list[str]]:
    """`devenv lock --check`: the lock for this platform and what changed since it was made."""
    lines = parse_packages(spec)
    preferred = previous["base_interpreter"] if previous else None
    facts = find_interpreter(spec.python.requires or ">=0", preferred=preferred)
    lock = select_lock(spec.root, facts)
    if lock is None:
        return None, ["there is no pylock.toml"]
    facts = find_interpreter(spec.python.requires or ">=0", preferred=preferred, locked=lock.requires_python)
    return lock, stale_reasons(spec, lines, lock, python_version=facts["version"])
