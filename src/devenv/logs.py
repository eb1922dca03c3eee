"""Process log files: one per run, a stable NAME.log link to the latest, private modes,
old runs pruned, and the tail a message quotes."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from typing import TYPE_CHECKING

from devenv.layout import LOGS, state_path

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping, Sequence
    from typing import BinaryIO

TAIL_LINES = 40
#: Per-run logs kept for each process name; older ones are removed at the next start.
KEEP_LOGS = 20


def logs_dir(root: str) -> str:
    """`<root>/.devenv/logs`: every log devenv writes for processes and services."""
    return state_path(root, LOGS)


def default_log_path(root: str, name: str) -> str:
    """`<root>/.devenv/logs/<name>.log`: the stable name, a link to the latest run's log."""
    return os.path.join(logs_dir(root), f"{name}.log")


def run_log_path(root: str, name: str, run_id: str) -> str:
    """`<root>/.devenv/logs/<name>-<run id>.log`: one run's own log."""
    return os.path.join(logs_dir(root), f"{name}-{run_id}.log")


def prepare_run_log(root: str, name: str, run_id: str) -> str:
    """The path of this run's log under `.devenv/logs/` (0700), with NAME.log pointing at it."""
    from devenv.store import state_folder

    path = run_log_path(root, name, run_id)
    state_folder(root, LOGS)  # 0700, and refused when it is a link
    prune_logs(os.path.dirname(path), name)
    point_latest(default_log_path(root, name), path)
    return path


def open_log(path: str) -> int:
    """An append-only descriptor on `path`, 0600 even if it existed with a looser mode: a
    process may print secrets to its log."""
    from devenv.store import check_no_links

    # Neither the log nor a folder between .devenv/ and it may be a link: a log devenv
    # writes never lands in (or replaces) a file of the user's.
    check_no_links(os.path.dirname(path))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def spawn_logged(
    command: Sequence[str], log: BinaryIO, *, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` with no stdin and its output appended to `log`, in a session of its
    own: Ctrl-C in the terminal, or its closing, reaches devenv only, which stops it in
    order (a service, a detached supervisor)."""
    import subprocess

    return subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        close_fds=True,
        start_new_session=True,
    )


def log_tail(path: str, offset: int = 0, *, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines after `offset`, reaching back to include a whole Traceback block."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(offset, size - 256 * 1024)
            handle.seek(start)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    first = max(0, len(all_lines) - lines)
    # A traceback cut in half hides the line that matters; start at its header instead.
    for index in range(len(all_lines) - 1, -1, -1):
        if all_lines[index].startswith("Traceback (most recent call last):"):
            if index < first:
                first = index
            break
    return "\n".join(all_lines[first:]) + ("\n" if all_lines else "")


def append_note(path: str, message: str) -> None:
    if not path:
        return
    with contextlib.suppress(OSError), os.fdopen(open_log(path), "ab") as log:
        log.write(f"==== devenv: {message}\n".encode("utf-8", "replace"))


def prune_logs(folder: str, name: str) -> None:
    """Remove all but the newest KEEP_LOGS - 1 run logs of `name` (the new run makes KEEP_LOGS)."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{32}}\.log\Z")
    try:
        entries = [e for e in os.scandir(folder) if pattern.match(e.name) and not e.is_symlink()]
    except OSError:
        return
    entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns, reverse=True)
    for entry in entries[KEEP_LOGS - 1 :]:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def point_latest(link: str, target: str) -> None:
    """Make `link` (NAME.log) a relative symlink to this run's log, atomically."""
    from devenv.store import check_no_links

    check_no_links(os.path.dirname(link))
    temporary = f"{link}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.basename(target), temporary)
    os.replace(temporary, link)
