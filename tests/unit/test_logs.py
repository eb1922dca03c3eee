"""Process logs (devenv/logs.py): private files, and the tail a crash report quotes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devenv.logs import append_note, log_tail, open_log

TRACEBACK = """\
Traceback (most recent call last):
  File "worker.py", line 3, in <module>
    import no_such_module
  File "<frozen importlib._bootstrap>", line 1, in _find_and_load
ModuleNotFoundError: No module named 'no_such_module'
"""


def test_the_tail_reaches_back_to_a_whole_traceback(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("".join(f"line {n}\n" for n in range(50)) + TRACEBACK)
    tail = log_tail(str(log), lines=3)
    assert tail == TRACEBACK


def test_the_tail_is_the_last_lines_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("header\n" + "".join(f"line {n}\n" for n in range(10)))
    assert log_tail(str(log), lines=2) == "line 8\nline 9\n"
    assert log_tail(str(log), offset=len("header\n"), lines=100).splitlines()[0] == "line 0"
    assert log_tail(str(tmp_path / "missing.log")) == ""


def test_a_log_is_private_even_when_it_existed_with_a_looser_mode(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("before\n")
    log.chmod(0o644)
    os.close(open_log(str(log)))
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    append_note(str(log), "stopped worker")
    assert log.read_text() == "before\n==== devenv: stopped worker\n"
