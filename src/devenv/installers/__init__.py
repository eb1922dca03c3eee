"""Installers: the tools that resolve `[python].packages` into a lock and make a venv hold it.

One small class per tool behind the `Installer` protocol; `venv.py` decides what must happen
(which interpreter, which venv, whether the lock is stale, what a sync would remove) and an
installer only does it. `[python].installer` chooses one by name.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from devenv.records import dataclass

if TYPE_CHECKING:
    from devenv.interpreters import Interpreter
    from devenv.lock import Lock
    from devenv.requirements import PackageLine
    from devenv.spec import Spec


class Progress(Protocol):
    """Where an installer reports what it is doing: one line per phase; a `transient` line
    (a download under way) is shown only on a terminal, and the next line replaces it."""

    def __call__(self, message: str, /, *, transient: bool = False) -> None: ...


#: Runs a command and, when its group must die with it (SIGTERM, which the kernel sends when
#: devenv dies), kills the group: uv does not take its build backends down when it is killed
#: (installers/pip.py has pip's own guard). A shell, not Python: it starts in ~1 ms, not ~40.
_GUARD = 'trap "kill -KILL 0" TERM; "$@" & wait $!'
#: Where util-linux's setpriv arms the death signal (`--pdeathsig`) in the child it execs,
#: so that no Python runs between fork and exec: a `preexec_fn` makes subprocess fork all of
#: devenv instead of using vfork, 7-11 ms a spawn here under load, and a sync spawns two.
_SETPRIV = ("/usr/bin/setpriv", "/bin/setpriv")
#: Run first by the shell setpriv starts: when devenv (pid $1) died before the signal was
#: armed, the shell's parent is another process, and the command never starts.
_ORPHANED = '[ "$PPID" = "$1" ] || exit 1; shift; '


@dataclass(frozen=True, kw_only=True, slots=True)
class LockRequest:
    """What to resolve: the package lines, for which interpreter, against which index."""

    spec: Spec
    lines: tuple[PackageLine, ...]
    #: The venv's interpreter (the pip installer resolves with it).
    python: str
    #: As written in envspec.toml or on the command line: `${NAME}` still in them.
    index_url: str
    extra_index_urls: tuple[str, ...]
    #: A lock meant for git: no machine configuration (an extra index, find-links) may leak in.
    portable: bool
    #: Where the lock will be written (local project paths are relative to its folder).
    target: str
    #: The Python versions a universal lock covers: [python].requires, else `>=` the minor
    #: version of the interpreter devenv chose (`venv.covered_pythons`).
    requires_python: str = ""


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
    #: Packages an exact sync never removes, and those the installer needs in the venv.
    keep: frozenset[str]
    needs: frozenset[str]
    #: True when one lock covers every platform (False: one lock per platform).
    universal: bool

    def create(self, venv: str, base: str) -> None:
        """Create (or clear and create again) the venv at `venv` for the interpreter `base`."""

    def prepare(self, python: str, interpreter: Interpreter, progress: Progress, *, cwd: str) -> None:
        """Make the venv ready for this installer (e.g. the pinned pip)."""

    def lock(self, request: LockRequest, progress: Progress) -> dict[str, Any]:
        """The PEP 751 document for `request` as the tool wrote it, with the path of every
        directory entry (a local project) made absolute."""

    def version(self) -> str:
        """The tool's version, recorded in the lock."""

    def sync(self, request: SyncRequest, progress: Progress) -> None:
        """Make the venv hold exactly `request.lock` (plus the local projects)."""


def counted(count: int, noun: str) -> str:
    """`1 package`, `2 packages`: how progress lines count."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def installer_for(name: str) -> Installer:
    """The installer `[python].installer` names (one of spec.INSTALLERS, which the spec has
    checked; a name missing here is a bug, never a silent fall back to another installer)."""
    if name == "uv":
        from devenv.installers.uv import UvInstaller

        return UvInstaller()
    if name == "pip":
        from devenv.installers.pip import PipInstaller

        return PipInstaller()
    raise ValueError(f"no installer named {name!r}: add it to devenv.installers.installer_for")


@contextlib.contextmanager
def scratch_folder(parent: str, prefix: str) -> Iterator[str]:
    """A new 0700 folder `parent/PREFIX<pid>` for an installer's own files while it runs,
    removed afterwards. `prefix` is one store.remove_orphaned_temporaries knows (`.tmp-lock-`,
    `.tmp-local-`), so the folder a killed devenv left behind is removed by the next holder
    of `.devenv/lock`, which the caller holds. Not tempfile's: importing it (shutil, random)
    took ~5 ms of each `devenv lock`, whose budget is a ratio to uv's (README, "Performance")."""
    path = os.path.join(parent, f"{prefix}{os.getpid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:  # a killed run's, whose pid this process now has
        _remove_folder(path)
        os.mkdir(path, 0o700)
    try:
        yield path
    finally:
        _remove_folder(path)


def _remove_folder(path: str) -> None:
    try:
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:  # a folder in it (an installer's own): the general way
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def expand_url(url: str, environ: dict[str, str] | None = None) -> str:
    """`url` with each `${NAME}` taken from the environment: how credentials reach an index
    without being written into envspec.toml or the lock."""
    import re

    environ = dict(os.environ) if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            from devenv.errors import LockError
            from devenv.masking import mask_url  # only to word the error: ~1 ms of each sync

            raise LockError(
                f"index URL {mask_url(url)} references ${{{name}}}, which is not set; "
                f"export {name} (devenv reads it from the environment and never writes it into the lock)"
            )
        from urllib.parse import quote

        return quote(environ[name], safe="")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value, url)


def run_guarded(
    command: Sequence[str],
    *,
    cwd: str,
    capture: bool = False,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an installer in its own process group that dies with devenv (SIGINT, SIGTERM or
    SIGKILL of devenv); uncaptured output goes to our stderr (stdout carries data only).
    `on_line`: the command's output (stdout and stderr) is passed to it line by line as it
    comes, and the command runs under _GUARD."""
    if on_line is not None:
        return _run_streaming(list(command), cwd=cwd, env=env, on_line=on_line)
    argv, options = _in_own_group(list(command), guard="")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
        text=True,
        env=env,
        **options,
    )
    try:
        out, err = process.communicate()
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    return subprocess.CompletedProcess(list(command), process.returncode, out or "", err or "")


def _run_streaming(
    command: list[str], *, cwd: str, env: dict[str, str] | None, on_line: Callable[[str], None]
) -> subprocess.CompletedProcess[str]:
    argv, options = _in_own_group(command, guard=_GUARD)
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **options,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            on_line(line)
        process.wait()
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    finally:
        process.stdout.close()
    return subprocess.CompletedProcess(command, process.returncode, "", "")


def _in_own_group(command: list[str], *, guard: str) -> tuple[list[str], dict[str, Any]]:
    """The argv and Popen options that start `command` (under the shell `guard`, when given)
    in its own process group, with SIGTERM sent to it when devenv dies: through setpriv where
    there is one (Linux), else with a `preexec_fn` that arms the signal itself."""
    setpriv = _setpriv()
    if setpriv is None:
        shell = ["/bin/sh", "-c", guard, "sh"] if guard else []
        return [*shell, *command], {"preexec_fn": _child_setup()}
    script = _ORPHANED + (guard or 'exec "$@"')
    armed = [setpriv, "--pdeathsig", "TERM", "/bin/sh", "-c", script, "sh", str(os.getpid())]
    return [*armed, *command], {"process_group": 0}


@functools.cache
def _setpriv() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    return next((path for path in _SETPRIV if os.access(path, os.X_OK)), None)


def _child_setup() -> Callable[[], None]:
    """What the child runs between fork and exec: its own process group, and SIGTERM when
    devenv dies."""
    import signal

    parent = os.getpid()
    set_death_signal = _death_signal_setter()

    def prepare() -> None:
        os.setpgid(0, 0)
        set_death_signal(signal.SIGTERM)
        if os.getppid() != parent:  # devenv died before the death signal was armed
            os._exit(1)

    return prepare


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


def failure_advice(output: str, what: str, command: str) -> str:
    """The error for a failed resolve or install: when the installer's output says no version
    fits the Python range, the fix is [python].requires, not the package lines."""
    lowered = output.lower()
    if (
        "requires-python" in lowered
        or "the requested python version" in lowered
        or ("requires a different python" in lowered)
    ):
        fix = (
            "set [python].requires in envspec.toml to the Python versions the project supports "
            '(e.g. requires = ">=3.12")'
        )
    else:
        fix = "fix [python].packages in envspec.toml"
    return f"{what}; see the message above, {fix}, then run `{command}`"
