"""uv as the installer (the default): `uv pip compile --universal` writes one lock for every
platform and Python minor version, `uv pip sync` makes the venv hold exactly the part of it
whose markers match (removing the rest), hash-checked.

uv comes from the `uv` package on PyPI (a dependency of devenv). It runs with `--no-config`
and without the caller's UV_* settings, so a uv.toml or an extra index of this machine never
reaches a lock; uv never reads pip's configuration.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from devenv.errors import LockError, SyncError
from devenv.installers import (
    LockRequest,
    Progress,
    SyncRequest,
    counted,
    expand_url,
    failure_advice,
    run_guarded,
    scratch_folder,
)
from devenv.layout import state_dir
from devenv.requirements import read_elsewhere, requirements_text

if TYPE_CHECKING:
    from devenv.interpreters import Interpreter

#: The caller's UV_* settings uv may still see: where its cache and Pythons live, and index
#: credentials (UV_INDEX_<NAME>_USERNAME / _PASSWORD), which never reach a lock.
_KEPT = re.compile(r"UV_(CACHE_DIR|NO_CACHE|PYTHON_INSTALL_DIR|OFFLINE|INDEX_\w+_(USERNAME|PASSWORD))\Z")
#: pylock.toml support in `uv pip sync` is a preview feature; naming it silences uv's warning.
_PREVIEW = ["--preview-features", "pylock"]


@functools.cache
def uv_binary() -> str:
    """The uv executable installed with devenv (the `uv` package), else uv on PATH. Looked
    for once per process: `find_uv_bin` took 2-3 ms of each of a sync's two uv runs."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        import shutil

        found = shutil.which("uv")
        if found is None:
            raise SyncError(
                'uv is not installed; reinstall devenv (it depends on uv), or set [python].installer = "pip"'
            ) from None
        return found


def uv_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment uv runs with: the caller's, without UV_* configuration."""
    environ = dict(os.environ) if environ is None else environ
    kept = {key: value for key, value in environ.items() if not key.startswith("UV_") or _KEPT.match(key)}
    # The platform's certificate store, as pip uses it (truststore): a company CA installed
    # there works for uv too, without SSL_CERT_FILE.
    return kept | {"UV_SYSTEM_CERTS": "1"}


def lowest_minor(requires: str, *, root: str | None = None) -> str:
    """The lowest Python minor version `requires` allows (the universal lock starts there).
    `root`: the project whose `.devenv/packaging.json` may hold the answer (packaging_cache.py)."""
    from devenv import packaging_cache

    found = packaging_cache.lowest_minor(root, requires)
    if not found:
        raise LockError(f"[python].requires = {requires!r} allows no Python 3 version")
    return found


class UvOutput:
    """Turns uv's output into devenv's progress lines: one per phase, source builds named,
    downloads shown only on a terminal; everything else is kept for an error message."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.kept: list[str] = []

    def __call__(self, line: str) -> None:
        text = line.strip()
        self.kept.append(line)
        tally = re.match(r"(Resolved|Prepared|Installed|Uninstalled) (\d+) packages? in", text)
        building = re.match(r"Building (\S+?)(==\S+)?( @ (\S+))?\Z", text)
        if tally:
            verb = {"Resolved": "resolved", "Prepared": "downloaded or built", "Installed": "installed"}
            self.progress(f"{verb.get(tally.group(1), 'removed')} {counted(int(tally.group(2)), 'package')}")
        elif building:
            name, url = building.group(1), building.group(4) or ""
            if url.startswith("file:"):
                self.progress(f"building {name} (a local project)")
            else:
                self.progress(f"building {name} from source: no wheel for this platform")
        elif text.startswith("Downloading "):
            self.progress(f"downloading {text.removeprefix('Downloading ')}", transient=True)

    def failure(self) -> str:
        """uv's own words for what failed (its error lines), without the chatter."""
        start = next(
            (i for i, line in enumerate(self.kept) if line.lstrip().startswith(("error:", "×"))),
            max(len(self.kept) - 20, 0),
        )
        return "".join(self.kept[start:])


class UvInstaller:
    """`[python].installer = "uv"` (the default)."""

    name = "uv"
    #: `uv pip sync` leaves a venv's seed packages in place.
    keep = frozenset({"pip", "setuptools", "wheel"})
    needs: frozenset[str] = frozenset()
    universal = True

    def create(self, venv: str, base: str) -> None:
        """`uv venv` (measured 0.07 s against virtualenv's 1.0 s here; README, "Performance").
        Without pip: uv installs from outside the venv."""
        args = ["venv", "--no-config", "--quiet", "--clear", "--python", base, venv]
        result = run_guarded([uv_binary(), *args], cwd=os.path.dirname(venv), capture=True, env=uv_environ())
        if result.returncode != 0:
            raise SyncError(f"uv could not create {venv} with {base}: {result.stderr.strip()}")

    def version(self) -> str:
        """The version of the uv package devenv runs ("" for a uv from PATH), from the name of
        its dist-info folder: importing importlib.metadata would add ~20 ms to every lock."""
        import glob

        try:
            import uv
        except ImportError:
            return ""
        site = os.path.dirname(os.path.dirname(os.path.abspath(uv.__file__)))
        for path in sorted(glob.glob(os.path.join(glob.escape(site), "uv-*.dist-info"))):
            return os.path.basename(path).removeprefix("uv-").removesuffix(".dist-info")
        return ""

    def prepare(self, python: str, interpreter: Interpreter, progress: Progress, *, cwd: str) -> None:
        """uv needs nothing inside the venv."""

    def _run(self, args: list[str], *, cwd: str, progress: Progress, what: str) -> None:
        output = UvOutput(progress)
        result = run_guarded([uv_binary(), *args], cwd=cwd, env=uv_environ(), on_line=output)
        if result.returncode != 0:
            failure = output.failure()
            sys.stderr.write(failure)
            raise SyncError(
                failure_advice(failure, f"{what} failed (exit {result.returncode})", "devenv sync")
            )

    def _index_args(self, request_index: str, extras: tuple[str, ...]) -> list[str]:
        args = ["--default-index", expand_url(request_index)]
        for extra in extras:
            args += ["--index", expand_url(extra)]
        return args

    def lock(self, request: LockRequest, progress: Progress) -> dict[str, Any]:
        """`uv pip compile --universal --format pylock.toml` for every Python minor version
        [python].requires allows."""
        from devenv import resolved_cache

        spec = request.spec
        folder = state_dir(spec.root)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with scratch_folder(folder, ".tmp-lock-") as scratch:
            requirements = os.path.join(scratch, "requirements.in")
            with open(requirements, "w", encoding="utf-8") as handle:
                handle.write(requirements_text(request.lines))
            output = os.path.join(scratch, "pylock.toml")
            args = ["pip", "compile", "--no-config", "--universal", "--format", "pylock.toml"]
            args += ["--python-version", lowest_minor(request.requires_python, root=spec.root), "--no-header"]
            args += self._index_args(request.index_url, request.extra_index_urls)
            args += [f"--refresh-package={name}" for name in read_elsewhere(request.lines)]
            args += ["-o", output, requirements]
            progress(f"resolving {counted(len(request.lines), 'package line')} with uv for every platform")
            try:
                self._run(args, cwd=spec.root, progress=progress, what="uv pip compile")
            except SyncError as error:
                raise LockError(str(error).replace("`devenv sync`", "`devenv lock`")) from None
            with open(output, "rb") as handle:
                text = handle.read().decode("utf-8")
            # Parsing only the [[packages]] tables that changed since the last lock.
            document = resolved_cache.parse(spec.root, text)
        for package in document.get("packages", []):
            directory = package.get("directory")
            if isinstance(directory, dict):  # uv writes it relative to the output file
                directory["path"] = os.path.normpath(os.path.join(scratch, str(directory.get("path", "."))))
        return document

    def sync(self, request: SyncRequest, progress: Progress) -> None:
        """`uv pip sync LOCK`: exact (removes what the lock does not list for this platform),
        hash-checked against the lock, `--strict` (every dependency present)."""
        spec, python, lock = request.spec, request.python, request.lock
        base = ["--no-config", "-p", python]
        if lock is None:
            if request.remove:
                self._run(
                    ["pip", "uninstall", *base, *request.remove], cwd=spec.root, progress=progress, what="uv"
                )
            return
        index = str(lock.tool.get("index-url") or "https://pypi.org/simple")
        if index == "pip configuration":
            index = "https://pypi.org/simple"
        extras = tuple(str(url) for url in lock.tool.get("extra-index-urls", []))
        args = ["pip", "sync", *base, *_PREVIEW, "--strict", *self._index_args(index, extras), lock.path]
        progress(f"installing {os.path.relpath(lock.path, spec.root)} (hash-checked)")
        self._run(args, cwd=spec.root, progress=progress, what="uv pip sync")
        locked_dirs = {entry.directory for entry in lock.entries if entry.directory}
        missing = tuple(
            line for line in request.lines if line.is_local_project and line.path not in locked_dirs
        )
        if missing:
            progress(f"installing {', '.join(line.text for line in missing)} from the root (--no-deps)")
            with scratch_folder(state_dir(spec.root), ".tmp-local-") as scratch:
                requirements = os.path.join(scratch, "local.txt")
                with open(requirements, "w", encoding="utf-8") as handle:
                    handle.write(requirements_text(missing))
                args = ["pip", "install", *base, "--no-deps", "-r", requirements]
                self._run(args, cwd=spec.root, progress=progress, what="uv pip install")
