"""What a process's exit code means, in words a user can act on (Dramatiq's own codes first)."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Sequence

#: Dramatiq's exit codes (its cli.py RET_* constants).
DRAMATIQ_EXIT_CODES = {
    0: "exited normally, but a long-running process must stay up until it is stopped",
    1: "killed (Dramatiq RET_KILLED; also any worker that died from a signal)",
    2: "import error or bad command-line argument (Dramatiq RET_IMPORT); see the traceback below",
    3: "broker connection failed during boot (Dramatiq RET_CONNECT)",
    4: "pid file problem (Dramatiq RET_PIDFILE)",
}

#: Other commands: only what is true of most programs.
GENERIC_EXIT_CODES = {
    0: "exited normally, but a long-running process must stay up until it is stopped",
    1: "it failed (Python exits 1 on an uncaught exception; see the log below)",
    2: "bad command-line usage, or an import error under Dramatiq (see the log below)",
}


#: What a signal that ended a process says about why (`ended` has already named it).
SIGNAL_MEANINGS = {
    signal.SIGKILL.value: "a kill -9, or the kernel's out-of-memory killer (dmesg says which)",
    signal.SIGSEGV.value: "it crashed (a fault in native code)",
    signal.SIGBUS.value: "it crashed (a fault in native code)",
    signal.SIGABRT.value: "it aborted (a failed check in native code, or abort())",
    signal.SIGTERM.value: "something other than devenv asked it to stop",
    signal.SIGINT.value: "something other than devenv interrupted it",
    signal.SIGHUP.value: "its terminal or session went away",
}


def exit_meaning(code: int, command: Sequence[str] = ()) -> str:
    """What an exit code means (Dramatiq's codes for a Dramatiq command); negative = signal."""
    if code < 0:
        return SIGNAL_MEANINGS.get(-code, "a signal from outside devenv ended it")
    table = DRAMATIQ_EXIT_CODES if is_dramatiq(command) else GENERIC_EXIT_CODES
    return table.get(code, "a failure code of the program's own; see its log")


def exit_status(code: int) -> str:
    """`exit code 3`, or `killed by SIGKILL (exit 137)` for Python's -9: the code a shell
    (and `devenv up`'s own exit) reports, 128+N for signal N, as the README uses."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name} (exit {shell_code(code)})"


def ended(code: int) -> str:
    """How a process ended, to follow its name: `exited with code 3`, `was killed by SIGKILL
    (exit 137)`."""
    return f"exited with code {code}" if code >= 0 else f"was {exit_status(code)}"


def is_dramatiq(command: Sequence[str]) -> bool:
    """Whether `command` runs the Dramatiq CLI (`python -m dramatiq` or the `dramatiq` script)."""
    if command and os.path.basename(command[0]).startswith("dramatiq"):
        return True
    return any(a == "-m" and b == "dramatiq" for a, b in itertools.pairwise(command))


def shell_code(code: int) -> int:
    """The code a shell reports for a child that ended with `code` (128+N for signal N)."""
    return 128 - code if code < 0 else code
