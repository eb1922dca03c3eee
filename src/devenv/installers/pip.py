"""pip as the installer (`[python].installer = "pip"`): `pip lock` for one platform, and an
exact sync devenv writes itself (pip has none): uninstall what the lock does not list,
install the lock hash-checked, then the local projects with --no-deps, then `pip check`.
"""

from __future__ import annotations

import os
import sys
import tempfile
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
)
from devenv.layout import state_dir
from devenv.requirements import requirements_text

if TYPE_CHECKING:
    import subprocess

    from devenv.interpreters import Interpreter
    from devenv.spec import Spec

#: pip writes and reads pylock.toml from 26.1 on; the lock is made with this exact version so
#: that the same inputs resolve the same way on every machine.
PIP_VERSION = "26.3"

#: pip runs as `python -c _GUARDED_PIP ...`: in its own process group, and when devenv dies
#: (the parent-death signal in installers/__init__.py), pip takes its whole group down with
#: it, build backends included, instead of running on as an orphan.
_GUARDED_PIP = (
    "import os, runpy, signal, sys\n"
    "signal.signal(signal.SIGTERM, lambda *_: os.killpg(0, signal.SIGKILL))\n"
    "sys.argv[0] = 'pip'\n"
    "runpy.run_module('pip', run_name='__main__', alter_sys=True)\n"
)


def run_pip(python: str, args: list[str], *, cwd: str) -> subprocess.CompletedProcess[str]:
    """`python -m pip ARGS` guarded (see _GUARDED_PIP), its output captured."""
    command = [python, "-I", "-c", _GUARDED_PIP, *args, "--disable-pip-version-check"]
    return run_guarded(command, cwd=cwd, capture=True)


def quiet_pip_output(text: str) -> str:
    """pip's output without its notes that are not about the user's packages: "pip lock is
    currently an experimental feature" (printed on every lock and every install of a lock)."""
    return "".join(line for line in text.splitlines(keepends=True) if "experimental feature" not in line)


class PipInstaller:
    """`[python].installer = "pip"`: the pinned pip resolves and installs."""

    name = "pip"
    keep = frozenset({"pip"})
    needs = frozenset({"pip"})
    universal = False

    def create(self, venv: str, base: str) -> None:
        """virtualenv, seeded with pip only (pip installs; anything else the exact sync that
        follows would remove again)."""
        from virtualenv import cli_run

        try:
            cli_run([venv, "--python", base, "--clear", "--no-setuptools", "--quiet"], setup_logging=False)
        except (SystemExit, Exception) as exc:  # virtualenv reports bad input with SystemExit
            raise SyncError(f"virtualenv could not create {venv} with {base}: {exc}") from None

    def version(self) -> str:
        """The pinned pip that writes the lock."""
        return PIP_VERSION

    def prepare(self, python: str, interpreter: Interpreter, progress: Progress, *, cwd: str) -> None:
        """The venv's pip is the pinned one that writes and reads pylock.toml."""
        if interpreter.pip == PIP_VERSION:
            return
        progress(f"installing pip {PIP_VERSION} into the venv (it writes and reads pylock.toml)")
        result = run_pip(python, ["install", "--quiet", f"pip=={PIP_VERSION}"], cwd=cwd)
        if result.returncode != 0:
            sys.stderr.write(quiet_pip_output(result.stderr))
            raise SyncError(f"could not install pip {PIP_VERSION} into the venv (exit {result.returncode})")

    def lock(self, request: LockRequest, progress: Progress) -> dict[str, Any]:
        """`pip lock` for the venv's interpreter (one platform).

        `portable` (a lock to commit): pip runs with --isolated and the index, so this
        machine's pip configuration (an extra index, find-links) never lands in the lock."""
        import tomllib

        spec, lines = request.spec, request.lines
        folder = state_dir(spec.root)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-lock-") as scratch:
            requirements = os.path.join(scratch, "requirements.txt")
            with open(requirements, "w", encoding="utf-8") as handle:
                handle.write(requirements_text(lines))
            # pip writes a local project's path relative to the lock's folder (the working
            # folder with `-o -`) and fails for one outside it: run from a folder above them all.
            base = lock_base(spec, request)
            args = ["lock", "--quiet", "-r", requirements, "-o", "-"]
            if request.portable:
                args += ["--isolated", "--index-url", expand_url(request.index_url)]
                for extra in request.extra_index_urls:
                    args += ["--extra-index-url", expand_url(extra)]
            progress(f"resolving {counted(len(lines), 'package line')} with pip {PIP_VERSION}")
            result = run_pip(request.python, args, cwd=base)
            if result.returncode != 0:
                sys.stderr.write(quiet_pip_output(result.stderr))
                raise LockError(
                    f"pip lock failed (exit {result.returncode}); see pip's output above, fix "
                    "[python].packages in envspec.toml, then run `devenv lock`"
                )
            try:
                document: dict[str, Any] = tomllib.loads(result.stdout)
            except tomllib.TOMLDecodeError as exc:
                raise LockError(f"pip lock wrote something that is not TOML ({exc})") from None
        for package in document.get("packages", []):
            directory = package.get("directory")
            if isinstance(directory, dict):  # pip's paths are relative to its working folder
                directory["path"] = os.path.normpath(os.path.join(base, str(directory.get("path", ""))))
        return document

    def sync(self, request: SyncRequest, progress: Progress) -> None:
        """Uninstall, install the lock (hash-checked), install the local projects, pip check."""
        spec, python, lock = request.spec, request.python, request.lock
        if request.remove:
            _pip_or_fail(python, ["uninstall", "--yes", "--quiet", *request.remove], spec, "pip uninstall")
        if request.install_lock and lock is not None:
            progress(
                f"installing {os.path.relpath(lock.path, spec.root)} "
                f"({counted(len(lock.packages), 'locked package')}, hash-checked)"
            )
            _pip_or_fail(
                python,
                ["install", "--quiet", "--no-deps", "--require-hashes", "-r", lock.path],
                spec,
                "pip install from the lock",
            )
        if request.local:
            progress(f"installing {', '.join(line.text for line in request.local)} from the root (--no-deps)")
            with tempfile.TemporaryDirectory(dir=state_dir(spec.root), prefix=".tmp-local-") as scratch:
                requirements = os.path.join(scratch, "local.txt")
                with open(requirements, "w", encoding="utf-8") as handle:
                    handle.write(requirements_text(request.local))
                _pip_or_fail(
                    python, ["install", "--quiet", "--no-deps", "-r", requirements], spec, "pip install"
                )
        result = run_pip(python, ["check"], cwd=spec.root)
        if result.returncode != 0:
            raise SyncError(
                "pip check found a dependency the lock does not hold:\n"
                + result.stdout.strip()
                + "\nrun `devenv lock` to resolve [python].packages again, then `devenv sync`"
            )


def lock_base(spec: Spec, request: LockRequest) -> str:
    """The folder above the root and every local project (pip's paths are relative to it)."""
    return os.path.commonpath([spec.root, *(line.path for line in request.lines if line.is_local_project)])


def _pip_or_fail(python: str, args: list[str], spec: Spec, what: str) -> None:
    result = run_pip(python, args, cwd=spec.root)
    if result.returncode != 0:
        output = quiet_pip_output(result.stdout + result.stderr)
        sys.stderr.write(output)
        raise SyncError(failure_advice(output, f"{what} failed (exit {result.returncode})", "devenv sync"))
