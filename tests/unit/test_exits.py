"""What an exit code means, in the words a crash report shows (devenv/exits.py)."""

from __future__ import annotations

import pytest

from devenv.exits import ended, exit_meaning, exit_status, is_dramatiq, shell_code


@pytest.mark.parametrize(
    ("code", "command", "meaning"),
    [
        (-9, ["python", "worker.py"], "a kill -9, or the kernel's out-of-memory killer (dmesg says which)"),
        (-15, [], "something other than devenv asked it to stop"),
        (-200, [], "a signal from outside devenv ended it"),
        (
            3,
            ["python", "-m", "dramatiq", "app"],
            "broker connection failed during boot (Dramatiq RET_CONNECT)",
        ),
        (3, ["python", "worker.py"], "a failure code of the program's own; see its log"),
        (
            1,
            ["/venv/bin/dramatiq", "app"],
            "killed (Dramatiq RET_KILLED; also any worker that died from a signal)",
        ),
        (
            0,
            ["python", "web.py"],
            "exited normally, but a long-running process must stay up until it is stopped",
        ),
    ],
)
def test_an_exit_code_is_explained_for_the_program_that_exited(
    code: int, command: list[str], meaning: str
) -> None:
    assert exit_meaning(code, command) == meaning


def test_dramatiq_is_recognised_as_a_module_or_a_script() -> None:
    assert is_dramatiq(["python", "-m", "dramatiq", "tasks"])
    assert is_dramatiq(["/venv/bin/dramatiq-gevent", "tasks"])
    assert not is_dramatiq(["python", "-m", "celery", "worker"])


def test_a_signal_is_reported_as_a_shell_reports_it() -> None:
    assert shell_code(-15) == 143
    assert shell_code(-2) == 130
    assert shell_code(4) == 4


def test_how_a_process_ended_uses_the_shells_128_plus_n_never_pythons_negative_code() -> None:
    assert ended(3) == "exited with code 3"
    assert ended(-9) == "was killed by SIGKILL (exit 137)"
    assert exit_status(-15) == "killed by SIGTERM (exit 143)"
    assert exit_status(-200) == "killed by signal 200 (exit 328)"
    assert exit_status(0) == "exit code 0"
