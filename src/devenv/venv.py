"""The project's virtual environment: create it, and make it hold exactly the locked package set.

devenv decides what is needed (`interpreters.py` which interpreter, `lock.py` whether the lock
is current); an installer (`installers/`) resolves and installs. A sync changes the venv in
place: it installs what the lock lists and is missing, and removes what the lock does not list.
A venv is created only where nothing is, rebuilt only when it carries devenv's marker and the
interpreter changed, and loses packages only when devenv made it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from devenv import digest, lock_cache, packaging_cache
from devenv.environment import ROOT_KEY
from devenv.errors import LockError, SpecError, StaleError, SyncError
from devenv.installers import Installer, LockRequest, Progress, SyncRequest, counted, installer_for
from devenv.interpreters import Interpreter, find_interpreter, probe_interpreter
from devenv.layout import DEFAULT_VENV, PRIVATE_LOCK, SYNC_INCOMPLETE, state_dir, state_path
from devenv.lock import (
    DEFAULT_INDEX,
    Lock,
    finish_lock,
    lock_filename,
    lock_from,
    read_lock,
    recorded_tool,
    select_lock,
    stale_reasons,
    standard_problems,
)
from devenv.records import dataclass
from devenv.requirements import PackageLine, parse_packages
from devenv.resolver import pythonpath_entries, venv_path, venv_python
from devenv.spec import Spec, line_of
from devenv.store import PythonRecord, write_atomic

#: Written into every venv devenv creates; only a venv holding it is ever cleared or rebuilt.
MARKER = "devenv-venv.json"

#: `name NUL version NUL direct_url.json NUL` of every distribution on the interpreter's
#: path, the first of each name. Read from each dist-info's METADATA header, without
#: importlib.metadata, json, re or urllib at start-up: they and the e-mail parser took 0.2 s
#: of each listing of a 65-package venv here, and json (which imports re) and urllib alone 7
#: of this script's 23 ms; `installed_distributions` reads direct_url.json in devenv's own
#: process. An .egg-info (setuptools leaves one in the source folder of an editable install)
#: goes through importlib.metadata unless a distribution of its name came first.
_INSTALLED = (
    "import os, sys\n"
    "found = {}\n"
    "def key_of(name):\n"
    "    key = name.lower().replace('_', '-').replace('.', '-')\n"
    "    while '--' in key:\n        key = key.replace('--', '-')\n"
    "    return key\n"
    "def add(name, version, folder):\n"
    "    if key_of(name) in found:\n        return\n"
    "    try:\n"
    "        with open(os.path.join(folder, 'direct_url.json'), 'rb') as f:\n"
    "            url = f.read().replace(b'\\0', b'')\n"
    "    except OSError:\n        url = b''\n"
    "    found[key_of(name)] = (version, url)\n"
    "for path in sys.path:\n"
    "    try:\n        entries = sorted(os.listdir(path or '.'))\n"
    "    except OSError:\n        continue\n"
    "    for entry in entries:\n"
    "        folder = os.path.join(path or '.', entry)\n"
    "        fields = {}\n"
    "        if entry.endswith('.dist-info'):\n"
    "            try:\n"
    "                with open(os.path.join(folder, 'METADATA'), encoding='utf-8', errors='replace') as f:\n"
    "                    for line in f:\n"
    "                        if not line.strip():\n                            break\n"
    "                        key, _, value = line.partition(':')\n"
    "                        if key in ('Name', 'Version'):\n"
    "                            fields.setdefault(key, value.strip())\n"
    "            except OSError:\n                pass\n"
    "        elif entry.endswith('.egg-info') and key_of(entry[:-9].split('-')[0]) not in found:\n"
    "            import importlib.metadata as m, pathlib\n"
    "            d = m.PathDistribution(pathlib.Path(folder))\n"
    "            fields = {'Name': d.metadata['Name'] or '', 'Version': d.version or ''}\n"
    "        if fields.get('Name'):\n"
    "            add(fields['Name'], fields.get('Version', ''), folder)\n"
    "out = bytearray()\n"
    "for key in sorted(found):\n"
    "    version, url = found[key]\n"
    "    for text in (key, version):\n"
    "        out += text.replace('\\0', '').encode('utf-8', 'replace') + b'\\0'\n"
    "    out += url + b'\\0'\n"
    "sys.stdout.buffer.write(bytes(out))\n"
)


#: Every installed file whose sha256 differs from its distribution's RECORD (or is missing).
_RECORDS = (
    "import base64, csv, hashlib, importlib.metadata as m, json, os\n"
    "bad = []\n"
    "for d in m.distributions():\n"
    "    text = d.read_text('RECORD') or ''\n"
    "    name = d.metadata['Name'] if d.metadata else '?'\n"
    "    for row in csv.reader(text.splitlines()):\n"
    "        if len(row) < 2 or not row[1].startswith('sha256='):\n            continue\n"
    "        path = os.path.join(str(d.locate_file('')), row[0])\n"
    "        try:\n"
    "            with open(path, 'rb') as f:\n"
    "                digest = hashlib.sha256(f.read()).digest()\n"
    "        except OSError:\n"
    "            bad.append([name, row[0], 'missing'])\n            continue\n"
    "        if 'sha256=' + base64.urlsafe_b64encode(digest).rstrip(b'=').decode() != row[1]:\n"
    "            bad.append([name, row[0], 'changed'])\n"
    "print(json.dumps(bad))\n"
)


def changed_files(python: str) -> list[tuple[str, str, str]]:
    """(distribution, file, "changed" | "missing") for every installed file that differs
    from what its RECORD says was installed: a package edited in place at the same version."""
    result = subprocess.run([python, "-I", "-c", _RECORDS], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SyncError(f"{python}: cannot verify installed files: {result.stderr.strip()}")
    return [(str(a), str(b), str(c)) for a, b, c in json.loads(result.stdout)]


# -- where the venv may be -------------------------------------------------------------------


def check_venv_location(spec: Spec, outer: Mapping[str, str] | None = None) -> None:
    """Refuse (exit 2, before anything is touched) a venv that would hold or replace
    something devenv did not make: the root, a folder above it, .git, a [paths] folder, the
    spec or dotenv files, an existing folder that is not a virtual environment, or another
    project's venv (`outer`, default this process's environment, tells the active one).

    A [paths] folder may hold the venv (a flat layout puts "." on PYTHONPATH and the venv in
    .devenv/venv under it): rebuilding the venv replaces only the venv folder itself."""
    venv = venv_path(spec)
    where = f"{line_of(spec.path, 'python', 'venv')}: [python].venv = {spec.python.venv!r}"
    problem = _venv_overlap(spec, venv)
    if problem:
        raise SpecError(f"{where} {problem}; {_venv_suggestion(spec)}")
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
    active_root = outer.get(ROOT_KEY)
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


#: Venv folders proposed, in this order, when the declared one is refused.
_VENV_PROPOSALS = (DEFAULT_VENV, ".venv", ".devenv/python")


def _venv_overlap(spec: Spec, venv: str) -> str:
    """Why a venv at `venv` would replace something of the user's, or "" when it would not."""
    root = os.path.normpath(spec.root)
    if venv == root or root.startswith(venv.rstrip(os.sep) + os.sep):
        return "is the project folder or a folder above it"
    git = os.path.join(root, ".git")
    if venv == git or venv.startswith(git + os.sep):
        return "is inside .git"
    # Only what the venv folder would hold is at risk: a file or folder at or under it.
    protected = [spec.path, *(os.path.join(root, name) for name in spec.dotenv.files)]
    protected += list(pythonpath_entries(spec))
    for path in protected:
        if path == venv or path.startswith(venv + os.sep):
            return f"would hold {os.path.relpath(path, root)}, which devenv must never replace"
    return ""


def _venv_suggestion(spec: Spec) -> str:
    """A venv folder to use instead: never the refused one, never one that is refused too."""
    root = os.path.normpath(spec.root)
    for candidate in _VENV_PROPOSALS:
        path = os.path.normpath(os.path.join(root, candidate))
        if path != venv_path(spec) and not _venv_overlap(spec, path):
            return f'use e.g. "{candidate}"'
    return "choose a folder inside the project that holds none of these"


def ensure_venv(spec: Spec, interpreter: Interpreter, progress: Progress) -> bool:
    """Create the venv when there is none, rebuild it when the interpreter changed and devenv
    made it; returns True when it was (re)created."""
    venv = venv_path(spec)
    python = venv_python(spec)
    if os.path.exists(python):
        existing = probe_interpreter(python, root=spec.root, remember=True)
        copied = _copied_with_the_checkout(venv, spec.root)
        if (
            existing is not None
            and not copied
            and os.path.realpath(existing.base) == os.path.realpath(interpreter.base)
            and existing.version == interpreter.version
        ):
            return False
        if not made_by_devenv(venv, spec.root) and not copied:
            raise SyncError(
                f"{venv} uses another interpreter than {interpreter.base} and was not created by devenv, "
                "so devenv will not rebuild it; remove it yourself or point [python].venv elsewhere"
            )
        _refuse_running(venv)
        reason = "it was copied with the checkout" if copied else "the interpreter changed"
    elif os.path.isdir(venv) and os.listdir(venv) and not made_by_devenv(venv, spec.root):
        raise SyncError(f"{venv} is a broken virtual environment devenv did not create; remove it yourself")
    else:
        reason = "there was none"
    progress(f"creating {os.path.relpath(venv, spec.root)} ({reason}) with {interpreter.describe()}")
    _create_venv(spec, installer_for(spec.python.installer), interpreter.base)
    return True


def _create_venv(spec: Spec, installer: Installer, base: str) -> None:
    venv = venv_path(spec)
    installer.create(venv, base)
    # The marker names this checkout (path, device, inode): only its own venv is ever
    # cleared, rebuilt or uninstalled from (see made_by_devenv).
    info = os.stat(spec.root)
    marker = {"made-by": "devenv", "project": spec.root, "device": info.st_dev, "inode": info.st_ino}
    write_atomic(os.path.join(venv, MARKER), json.dumps(marker, sort_keys=True).encode() + b"\n")


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


# -- what is installed -------------------------------------------------------------------------


def installed_distributions(python: str) -> dict[str, tuple[str, str]]:
    """name -> (version, local project folder or "") of everything installed for `python`."""
    result = subprocess.run([python, "-I", "-c", _INSTALLED], capture_output=True, check=False)
    return _listed(python, result.returncode, result.stdout, result.stderr)


#: Run by an interpreter started with -S before the installer finishes: it waits for a line
#: on stdin (none: the sync failed, it exits), then does what `site` does at every start
#: (site.main(): the venv's site-packages and the .pth files in it as they are now), so it
#: lists exactly what an interpreter started at that moment would.
_AFTER_SIGNAL = "import sys\nif not sys.stdin.buffer.readline():\n    sys.exit(0)\nimport site\nsite.main()\n"


@contextlib.contextmanager
def _listing_ready(python: str, *, early: bool) -> Iterator[Callable[[], dict[str, tuple[str, str]]]]:
    """Yields `list_now`, `installed_distributions(python)` at the moment it is called, from
    an interpreter started when the block began (`early`): its start (~10 ms) overlaps the
    installer's run instead of following it (README, "Performance")."""
    if not early:
        yield lambda: installed_distributions(python)
        return
    process = subprocess.Popen(
        [python, "-I", "-S", "-c", _AFTER_SIGNAL + _INSTALLED],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def list_now() -> dict[str, tuple[str, str]]:
        out, err = process.communicate(b"go\n")
        return _listed(python, process.returncode, out, err)

    try:
        yield list_now
    finally:
        if process.returncode is None:
            process.kill()
            process.communicate()


def _listed(python: str, returncode: int, stdout: bytes, stderr: bytes) -> dict[str, tuple[str, str]]:
    if returncode != 0:
        message = stderr.decode("utf-8", "replace").strip()
        raise SyncError(f"{python}: cannot list installed packages: {message}")
    fields = stdout.split(b"\0")
    found = {}
    for at in range(0, len(fields) - 2, 3):
        name, version = (fields[at + i].decode("utf-8", "replace") for i in (0, 1))
        found[name] = (version, _local_folder(fields[at + 2]))
    return found


def _local_folder(direct_url: bytes) -> str:
    """The folder of a distribution installed from a local project (its direct_url.json
    names a `file:` directory), else ""."""
    try:
        info = json.loads(direct_url or b"null")
    except ValueError:
        return ""
    if isinstance(info, dict) and "dir_info" in info and str(info.get("url", "")).startswith("file:"):
        url = str(info["url"])
        if url.startswith("file:///") and url.isprintable() and not any(char in url for char in " %?#"):
            # What urlsplit's path and unquote give for it, without importing urllib (2 ms
            # of each sync, after the install).
            return os.path.normpath(url[len("file://") :])
        from urllib.parse import unquote, urlsplit

        return os.path.normpath(unquote(urlsplit(url).path))
    return ""


def installed_packages(python: str) -> list[str]:
    """`name==version` for every distribution installed for `python`, sorted."""
    return _pins(installed_distributions(python))


def _pins(installed: dict[str, tuple[str, str]]) -> list[str]:
    return sorted(f"{name}=={version}" for name, (version, _) in installed.items())


# -- the lock --------------------------------------------------------------------------------


def _make_lock(
    spec: Spec,
    installer: Installer,
    lines: tuple[PackageLine, ...],
    interpreter: Interpreter | None,
    progress: Progress,
    *,
    path: str,
    portable: bool,
    index: tuple[str, tuple[str, ...]] = (DEFAULT_INDEX, ()),
) -> Lock:
    """Resolve `lines` with `installer` against `index` (URL, extra URLs) and write the lock
    to `path`. `interpreter`: the one a one-platform lock is made for (None: universal)."""
    python = venv_python(spec)
    if interpreter is not None:
        installer.prepare(python, interpreter, progress, cwd=spec.root)
    request = LockRequest(
        spec=spec,
        lines=lines,
        python=python,
        index_url=index[0],
        extra_index_urls=index[1],
        portable=portable,
        target=path,
        requires_python=covered_pythons(spec, interpreter),
    )
    document = installer.lock(request, progress)
    # pip outside --isolated (a private lock) resolves with this machine's pip configuration.
    machine = not portable and not installer.universal
    text, written = finish_lock(
        document,
        spec=spec,
        lines=lines,
        installer=installer.name,
        tool_version=installer.version(),
        interpreter=interpreter,
        target=path,
        index_url="pip configuration" if machine else index[0],
        extra_index_urls=() if machine else index[1],
        universal=installer.universal,
        portable=portable,
        requires_python=request.requires_python,
    )
    if not portable:
        text = text.replace("# Written by `devenv lock`", "# Written by `devenv sync` (no committed lock)", 1)
    data = text.encode("utf-8")
    _write_visible(path, data, private=not portable)
    # What was just written: not parsed again (~0.1 s), its [[packages]] not hashed again.
    return lock_from(path, data, written, packages_sha256=written["tool"]["devenv"]["packages-sha256"])


def covered_pythons(spec: Spec, interpreter: Interpreter | None) -> str:
    """The Python versions a universal lock covers: [python].requires, else the minor version
    of the interpreter devenv chose and every newer one (what `uv lock` does without a
    requires-python), never uv's guess of 3.8, which most current packages no longer support."""
    if spec.python.requires or interpreter is None:
        return spec.python.requires
    return f">={interpreter.minor}"


def refuse_below_floor(spec: Spec, lock: Lock, interpreter: Interpreter) -> None:
    """A lock whose Python floor came from the machine that locked (no [python].requires)
    cannot serve an older Python: say which key fixes it, instead of re-locking for it."""
    floor = str(lock.tool.get("python-floor", ""))
    if spec.python.requires or not floor or lock.standard:
        return
    if not packaging_cache.contains(spec.root, f">={floor}", interpreter.minor):
        raise LockError(
            f"{os.path.basename(lock.path)} covers Python >={floor} (the Python of the machine "
            f"that ran `devenv lock`: {spec.path} has no [python].requires), and this machine's "
            f"Python is {interpreter.version}; set [python].requires in envspec.toml "
            f'(e.g. requires = ">={interpreter.minor}") and run `devenv lock`, or install Python {floor}'
        )


def _write_visible(path: str, data: bytes, *, private: bool) -> None:
    """Atomically write a file meant for git (mode from the umask) or for .devenv/ (0600)."""
    write_atomic(path, data)
    if not private:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)


# -- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Choice:
    """What a sync works from: the interpreter, the committed lock and why it is stale."""

    interpreter: Interpreter
    lock: Lock | None
    reasons: list[str]


def _choose(
    spec: Spec, previous: PythonRecord | None, lines: tuple[PackageLine, ...], *, remember: bool
) -> _Choice:
    """The interpreter (one the committed lock allows, when there is one) and the lock.
    `remember`: store what probing found (only under `.devenv/lock`)."""
    preferred = previous["base_interpreter"] if previous else None
    requires, named = spec.python.requires, spec.python.interpreter
    interpreter = find_interpreter(
        requires, named=named, preferred=preferred, spec_path=spec.path, root=spec.root, remember=remember
    )
    lock = select_lock(spec.root, interpreter.markers)
    if lock is not None and lock.requires_python:
        interpreter = find_interpreter(
            requires,
            named=named,
            preferred=preferred,
            locked=lock.requires_python,
            spec_path=spec.path,
            root=spec.root,
            remember=remember,
        )
    if lock is not None:
        refuse_below_floor(spec, lock, interpreter)
    reasons = stale_reasons(spec, lines, lock, python_version=interpreter.version) if lock else []
    return _Choice(interpreter=interpreter, lock=lock, reasons=reasons)


def _refuse_frozen(choice: _Choice, lines: tuple[PackageLine, ...]) -> None:
    if choice.lock is None and lines:
        raise LockError(
            "--frozen: there is no pylock.toml to install from; run `devenv lock` and commit pylock.toml"
        )
    if choice.reasons and choice.lock is not None:
        raise LockError(
            f"--frozen: {os.path.basename(choice.lock.path)} is stale ({'; '.join(choice.reasons)}); "
            "run `devenv lock` and commit the new lock"
        )


def _current_lock(
    spec: Spec,
    installer: Installer,
    choice: _Choice,
    lines: tuple[PackageLine, ...],
    interpreter: Interpreter,
    progress: Progress,
) -> Lock | None:
    """The lock to install: the committed one (locked again when stale), else the private
    one under .devenv/ (made or remade when [python].packages changed)."""
    lock = choice.lock
    if lock is not None and lock.standard:
        return lock  # another tool's lock: installed as it is, never overwritten by a sync
    if not lines:
        return None
    if lock is not None and not choice.reasons:
        return lock
    if lock is not None:
        progress(f"{os.path.basename(lock.path)} is stale ({'; '.join(choice.reasons)}); locking again")
        index = lock_index(spec, lock.tool)
        written = _make_lock(
            spec, installer, lines, interpreter, progress, path=lock.path, portable=True, index=index
        )
        progress(f"wrote {os.path.relpath(written.path, spec.root)}; commit it")
        return written
    private = state_path(spec.root, PRIVATE_LOCK)
    existing = read_lock(private) if os.path.isfile(private) else None
    if existing is not None and not stale_reasons(spec, lines, existing, python_version=interpreter.version):
        return existing
    progress(
        "no pylock.toml: resolving [python].packages on this machine; run `devenv lock` "
        "and commit pylock.toml so every machine installs the same versions"
    )
    return _make_lock(
        spec,
        installer,
        lines,
        interpreter,
        progress,
        path=private,
        portable=False,
        index=lock_index(spec, {}),
    )


def lock_index(
    spec: Spec, tool: dict[str, Any], given: str | None = None, given_extra: tuple[str, ...] = ()
) -> tuple[str, tuple[str, ...]]:
    """The index (URL, extra URLs) a lock is made against: `--index-url` and
    `--extra-index-url`, else [python].index, else what the existing lock records in `tool`,
    its [tool.devenv] (a re-lock never moves a project from its mirror to PyPI), else PyPI."""
    recorded, recorded_extra = "", tuple[str, ...]()
    if isinstance(tool.get("inputs"), dict):  # a lock devenv wrote
        recorded = str(tool.get("index-url", ""))
        recorded_extra = tuple(str(url) for url in tool.get("extra-index-urls", []))
        if recorded == "pip configuration":
            recorded, recorded_extra = "", ()
    url = given or spec.python.index or recorded or DEFAULT_INDEX
    declared = spec.python.index or spec.python.extra_indexes
    extra = given_extra or (spec.python.extra_indexes if declared else recorded_extra)
    return url, extra


def sync_venv(
    spec: Spec,
    previous: PythonRecord | None,
    *,
    frozen: bool,
    progress: Progress,
    check: bool = False,
    meanwhile: Sequence[Callable[[], object]] = (),
) -> tuple[PythonRecord, bool]:
    """Bring the venv in line with the lock (made first when there is none or it is stale);
    returns the record and whether anything changed. `check`: change nothing, raise
    StaleError when something would change. `meanwhile`: work of the caller's that needs
    nothing from the venv, done while the installer runs."""
    check_venv_location(spec)
    lines = parse_packages(spec)
    choice = _choose(spec, previous, lines, remember=not check)
    if choice.lock is not None:
        _warn_other_patch_version(choice, progress)
    if frozen:
        _refuse_frozen(choice, lines)
    installer = installer_for(spec.python.installer)
    if check:
        return _check_only(spec, installer, previous, choice, lines)
    created = ensure_venv(spec, choice.interpreter, progress)
    python = venv_python(spec)
    # What packaging answered (the lines, the interpreter, the lock's markers) is all known
    # by the time the installer starts.
    jobs = [lambda: packaging_cache.save(spec.root), *meanwhile]
    if choice.lock is not None and not choice.reasons:
        parsed = choice.lock
        jobs.insert(1, lambda: lock_cache.remember(spec.root, parsed))
    # The pip installer needs the venv's own pip version; uv needs nothing from inside it, but
    # a venv made just now is probed once all the same, so that doctor finds it in the cache:
    # while uv installs (the probe took 0.12-0.15 s of a 2 s sync here, benchmarks/packages.py).
    interpreter = choice.interpreter
    if not installer.universal:
        interpreter = probe_interpreter(python, root=spec.root, remember=True) or choice.interpreter
    elif created:
        jobs.append(lambda: probe_interpreter(python, root=spec.root, remember=True))
    lock = _current_lock(spec, installer, choice, lines, interpreter, progress)
    # uv never makes the venv again (pip may, when its pip is missing): an interpreter of the
    # venv started now lists it afterwards.
    early = not installer.needs
    with _alongside(jobs) as start, _listing_ready(python, early=early) as list_installed:
        changed = _apply_lock(
            spec, installer, previous, interpreter, lock, lines, progress, created=created, start=start
        )
        installed = list_installed()
    changed = changed or created
    record: PythonRecord = {
        "base_interpreter": choice.interpreter.base,
        "interpreter": python,
        "version": interpreter.version,
        "implementation": interpreter.implementation,
        "requires": spec.python.requires,
        "venv": venv_path(spec),
        "packages": list(spec.python.packages),
        "installed": _pins(installed),
        "inputs_sha256": _inputs_sha(lock, interpreter),
        "lock": os.path.relpath(lock.path, spec.root) if lock is not None and choice.lock else "",
        "lock_sha256": lock.sha256 if lock is not None else "",
    }
    return record, changed


def _warn_other_patch_version(choice: _Choice, progress: Progress) -> None:
    assert choice.lock is not None
    locked_python = str(choice.lock.tool.get("python", ""))
    here = choice.interpreter
    if locked_python and locked_python != here.version and locked_python.rsplit(".", 1)[0] == here.minor:
        progress(
            f"warning: {os.path.basename(choice.lock.path)} was made with Python {locked_python}, "
            f"this interpreter is {here.version} (same minor version: installing it anyway)"
        )


def _inputs_sha(lock: Lock | None, interpreter: Interpreter) -> str:
    inputs = digest.sha256()
    for part in (lock.sha256 if lock else "", interpreter.implementation, interpreter.version):
        inputs.update(part.encode() + b"\0")
    return inputs.hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    """What a sync must change in the venv."""

    remove: tuple[str, ...]
    install_lock: bool
    missing_local: tuple[PackageLine, ...]


def _plan(
    installer: Installer,
    interpreter: Interpreter,
    lock: Lock | None,
    lines: tuple[PackageLine, ...],
    installed: dict[str, tuple[str, str]],
    *,
    root: str,
) -> _Plan:
    """Names to uninstall, whether the lock must be installed, local projects missing: for
    the part of the lock whose markers hold for this interpreter (of the project at `root`)."""
    selected = lock.selected(interpreter.markers, root=root) if lock else ()
    wanted = {entry.name: entry.version for entry in selected if not entry.directory}
    local = [line for line in lines if line.is_local_project]
    locked_dirs = {entry.directory for entry in selected if entry.directory}
    local_dirs = {line.path for line in local} | locked_dirs
    remove = sorted(
        name
        for name, (_, folder) in installed.items()
        if name not in wanted and name not in installer.keep and folder not in local_dirs
    )
    install_lock = any(installed.get(name, ("", ""))[0] != version for name, version in wanted.items())
    present = {folder for _, folder in installed.values()}
    install_lock = install_lock or bool(locked_dirs - present)
    missing_local = tuple(line for line in local if line.path not in present)
    return _Plan(remove=tuple(remove), install_lock=install_lock, missing_local=missing_local)


def _check_only(
    spec: Spec,
    installer: Installer,
    previous: PythonRecord | None,
    choice: _Choice,
    lines: tuple[PackageLine, ...],
) -> tuple[PythonRecord, bool]:
    python = venv_python(spec)
    lock = choice.lock
    problems = []
    fix = "run `devenv sync`"
    if not os.path.exists(python):
        problems.append("there is no venv yet")
    elif lines and lock is None:
        private = state_path(spec.root, PRIVATE_LOCK)
        lock = read_lock(private) if os.path.isfile(private) else None
        reasons = stale_reasons(spec, lines, lock, python_version=choice.interpreter.version) if lock else []
        if lock is None or reasons:
            # The reasons name a file's part too ("changed pyproject.toml [project].dependencies").
            shown = f" ({'; '.join(reasons)})" if reasons else ""
            problems.append(f"[python].packages changed since the last sync{shown}")
    if choice.reasons:
        problems.append(f"the lock is stale ({'; '.join(choice.reasons)})")
    if os.path.exists(python) and not problems:
        installed = installed_distributions(python)
        plan = _plan(installer, choice.interpreter, lock, lines, installed, root=spec.root)
        if plan.remove:
            problems.append(f"not in the lock: {', '.join(plan.remove)}")
        if plan.install_lock:
            problems.append("locked packages are missing or at another version")
        if plan.missing_local:
            problems.append(f"not installed: {', '.join(line.text for line in plan.missing_local)}")
        changed = changed_files(python)
        if changed:
            shown = ", ".join(f"{name}: {file} ({how})" for name, file, how in changed[:5])
            more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
            problems.append(f"installed files differ from their RECORD: {shown}{more}")
            fix = _repair_advice(spec, sorted({name for name, _, _ in changed}))
    if problems or previous is None:
        raise StaleError(
            f"{os.path.relpath(venv_path(spec), spec.root)} is out of sync "
            f"({'; '.join(problems) or 'never synced'}); {fix}"
        )
    return previous, False


def _repair_advice(spec: Spec, names: list[str]) -> str:
    """How to repair packages edited in place at the same version. `devenv sync` does not: it
    decides from versions (and a no-op sync from stats), and hashing every installed file
    against its RECORD took 1.4 s for this repository's 65 packages, against a no-op sync
    budget of 1.3x a bare interpreter start (README, "Locked packages")."""
    venv = os.path.relpath(venv_path(spec), spec.root)
    if made_by_devenv(venv_path(spec), spec.root):
        return f"remove {venv} and run `devenv sync`, which installs the lock into a new one"
    return f"reinstall {', '.join(names)} in {venv} (devenv did not create it, so it will not remove it)"


@contextlib.contextmanager
def _alongside(jobs: Sequence[Callable[[], object]]) -> Iterator[Callable[[], None]]:
    """Yields `start`, which runs `jobs` in order in a thread; they are done (their first
    error raised here) when the block ends, inline if `start` was never called, not at all
    when the block fails before it. The thread starts just before the installer, so that
    its Python does not delay the installer's start; it is always waited for, since its
    jobs write `.devenv/`, which only the holder of `.devenv/lock` may do."""
    import threading

    failed: list[BaseException] = []

    def run() -> None:
        try:
            for job in jobs:
                job()
        except BaseException as error:  # re-raised in the calling thread below
            failed.append(error)

    thread = threading.Thread(target=run, daemon=True)
    try:
        yield thread.start
    except BaseException:
        if thread.ident is not None:
            thread.join()
        raise
    if thread.ident is None:
        run()
    else:
        thread.join()
    if failed:
        raise failed[0]


def _apply_lock(
    spec: Spec,
    installer: Installer,
    previous: PythonRecord | None,
    interpreter: Interpreter,
    lock: Lock | None,
    lines: tuple[PackageLine, ...],
    progress: Progress,
    *,
    created: bool = False,
    start: Callable[[], None] = lambda: None,
) -> bool:
    """Remove what the lock does not list, install what it lists and is missing, then the
    local projects; True when anything changed. `created`: the venv was made just now.
    `start` is called just before the installer runs (`_alongside`)."""
    python = venv_python(spec)
    venv = venv_path(spec)
    # A venv the installer made just now holds nothing, unless it seeds its own tools (pip).
    installed = {} if created and not installer.needs else installed_distributions(python)
    plan = _plan(installer, interpreter, lock, lines, installed, root=spec.root)
    local_changed = previous is not None and lock is not None and previous.get("lock_sha256") != lock.sha256
    local = tuple(line for line in lines if line.is_local_project)
    install_local = local if (local_changed or plan.missing_local) else ()
    tools_missing = sorted(installer.needs - set(installed))
    nothing_to_do = not plan.remove and not plan.install_lock and not install_local
    if nothing_to_do and (not tools_missing or not made_by_devenv(venv, spec.root)):
        return False
    if tools_missing:
        if not made_by_devenv(venv, spec.root):
            raise SyncError(
                f"{venv} has no {', '.join(tools_missing)}, which devenv installs with, and devenv did "
                "not create it; install it into the venv, or remove the venv and let `devenv sync` "
                "create one"
            )
        _refuse_running(venv)
        progress(
            f"{os.path.relpath(venv, spec.root)} has no {', '.join(tools_missing)} (removed by hand?); "
            "creating it again"
        )
        _create_venv(spec, installer, interpreter.base)
        plan = _plan(installer, interpreter, lock, lines, installed_distributions(python), root=spec.root)
        install_local = local
    if plan.remove and not made_by_devenv(venv, spec.root):
        # Removing is the one in-place change that destroys something: only in a venv devenv made.
        raise SyncError(
            f"{venv} was not created by devenv and holds {len(plan.remove)} package(s) the lock does "
            f"not list ({', '.join(plan.remove)}); devenv removes packages only from venvs it made: "
            "uninstall them yourself, or point [python].venv at a new folder and let `devenv sync` "
            "create it"
        )
    mark_incomplete(spec.root)
    if plan.remove:
        removed = ", ".join(plan.remove)
        progress(f"removing {counted(len(plan.remove), 'package')} the lock does not list: {removed}")
    request = SyncRequest(
        spec=spec,
        python=python,
        lock=lock,
        lines=lines,
        remove=plan.remove,
        install_lock=plan.install_lock,
        local=install_local,
    )
    start()
    installer.sync(request, progress)
    return True


# -- the unfinished-sync marker ----------------------------------------------------------------


def mark_incomplete(root: str) -> None:
    """Mark the state unfinished until the sync has written it (print-env, run and up refuse)."""
    write_atomic(state_path(root, SYNC_INCOMPLETE), f"{os.getpid()}\n".encode())


def clear_incomplete(root: str) -> None:
    """The sync finished and its state is written."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_path(root, SYNC_INCOMPLETE))


# -- devenv lock -------------------------------------------------------------------------------


def lock_project(
    spec: Spec,
    previous: PythonRecord | None,
    *,
    name: str | None,
    index_url: str | None,
    extra_index_urls: tuple[str, ...] = (),
    progress: Progress,
) -> Lock:
    """`devenv lock`: resolve [python].packages and write pylock[.NAME].toml at the root."""
    check_venv_location(spec)
    lines = parse_packages(spec)
    if not lines:
        raise SpecError(f"{spec.path}: [python].packages is empty; there is nothing to lock")
    installer = installer_for(spec.python.installer)
    interpreter = None  # a universal lock (uv) is made for every Python requires allows
    # pip locks with the venv's pinned pip, for its interpreter; uv without [python].requires
    # for the minor version of the one devenv chooses and newer (covered_pythons).
    if not installer.universal or not spec.python.requires:
        preferred = previous["base_interpreter"] if previous else None
        interpreter = find_interpreter(
            spec.python.requires,
            named=spec.python.interpreter,
            preferred=preferred,
            spec_path=spec.path,
            root=spec.root,
            remember=True,
        )
    if interpreter is not None and not installer.universal:
        ensure_venv(spec, interpreter, progress)
        interpreter = probe_interpreter(venv_python(spec), root=spec.root, remember=True) or interpreter
    path = os.path.join(spec.root, lock_filename(name))
    existing = recorded_tool(path) if os.path.isfile(path) else {}
    written = _make_lock(
        spec,
        installer,
        lines,
        interpreter,
        progress,
        path=path,
        portable=True,
        index=lock_index(spec, existing, index_url, extra_index_urls),
    )
    packaging_cache.save(spec.root)
    return written


def check_lock(spec: Spec, previous: PythonRecord | None) -> tuple[Lock | None, list[str]]:
    """`devenv lock --check`: the lock for this platform and what changed since it was made."""
    lines = parse_packages(spec)
    choice = _choose(spec, previous, lines, remember=False)
    if choice.lock is None:
        return None, ["there is no pylock.toml"]
    if choice.lock.standard:
        return choice.lock, standard_problems(choice.lock)
    return choice.lock, choice.reasons
