"""Installers: the tools that resolve `[python].packages` into a lock and make a venv hold it.

One small class per tool behind the `Installer` protocol; `venv.py` decides what must happen
(which interpreter, which venv, whether the lock is stale, what a sync would remove) and an
installer only does it. `[python].installer` chooses one by name.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from devenv.interpreters import Interpreter
    from devenv.lock import Lock
    from devenv.requirements import PackageLine
    from devenv.spec import Spec

__all__ = [
    "Installer",
    "LockRequest",
    "Progress",
    "SyncRequest",
    "installer_for",
    "run_guarded",
]

#: Where an installer reports what it is doing (one line per call; cli.py prints it).
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class LockRequest:
    """What to resolve: the package lines, for which interpreter, against which index."""

    spec: Spec
    lines: tuple[PackageLine, ...]
    #: The venv's interpreter (the pip installer resolves with it).
    python: str
    interpreter: Interpreter
    index_url: str
    #: A lock meant for git: no machine configuration (an extra index, find-links) may leak in.
    portable: bool
    #: Where the lock will be written (local project paths are relative to its folder).
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncRequest:
    """What to install: the lock into the venv of `python`, after removing `remove`."""

    spec: Spec
    python: str
    lock: Lock | None
    lines: tuple[PackageLine, ...]
    #: Names installed but not in the lock (venv.py has checked that they may be removed).
    remove: tuple[str, ...]
    #: Whether some locked package is missing or at another version.
    install_lock: bool
    #: The local projects (-e .) to (re)install.
    local: tuple[PackageLine, ...]


class Installer(Protocol):
    """Resolves package lines into a pylock.toml document and installs one exactly."""

    name: str
    #: Packages the installer needs in the venv (an exact sync never removes them).
    keep: frozenset[str]
    #: True when one lock covers every platform (False: one lock per platform).
    universal: bool

    def prepare(self, python: str, interpreter: Interpreter, progress: Progress, *, cwd: str) -> None:
        """Make the venv ready for this installer (e.g. the pinned pip)."""

    def lock(self, request: LockRequest, progress: Progress) -> dict[str, Any]:
        """The PEP 751 document for `request`, as the tool wrote it."""

    def sync(self, request: SyncRequest, progress: Progress) -> None:
        """Make the venv hold exactly `request.lock` (plus the local projects)."""


def installer_for(name: str) -> Installer:
    """The installer `[python].installer` names."""
    from devenv.installers.pip import PipInstaller

    return PipInstaller()


def run_guarded(
    command: Sequence[str],
    *,
    cwd: str,
    capture: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an installer in its own process group that dies with devenv (SIGINT, SIGTERM or
    SIGKILL of devenv); uncaptured output goes to our stderr (stdout carries data only)."""
    import signal

    parent = os.getpid()
    set_death_signal = _death_signal_setter()

    def prepare() -> None:  # in the child, between fork and exec
        os.setpgid(0, 0)
        set_death_signal(signal.SIGTERM)
        if os.getppid() != parent:  # devenv died before the death signal was armed
            os._exit(1)

    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
        text=True,
        env=env,
        preexec_fn=prepare,
    )
    try:
        out, err = process.communicate()
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    return subprocess.CompletedProcess(list(command), process.returncode, out or "", err or "")


def _kill_group(pgid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _death_signal_setter() -> Callable[[int], None]:
    """prctl(PR_SET_PDEATHSIG) on Linux: the kernel signals the child when devenv dies, even
    by SIGKILL. Elsewhere a no-op (devenv's own SIGINT/SIGTERM handling still kills it)."""
    if not sys.platform.startswith("linux"):
        return lambda signum: None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    return lambda signum: libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)
