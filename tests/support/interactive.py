"""Drive a real interactive shell (bash, zsh, fish) through a pseudo-terminal, prompt by prompt.

The prompt hooks under test run only in an interactive shell at a prompt, so each command is
typed into the shell's terminal and the answer is read until the next prompt's marker.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

MARK = "@@devenv-prompt@@"

#: How each shell starts without the user's rc files, with a prompt ending in MARK.
ARGV = {
    "bash": ["bash", "--norc", "--noprofile", "-i"],
    "bash-posix": ["bash", "--posix", "--norc", "--noprofile", "-i"],
    "zsh": ["zsh", "-f", "-i"],
    "fish": ["fish", "--no-config", "-i"],
}


def _take_terminal() -> None:
    # In the child, after setsid: make the pty its controlling terminal (fish refuses to run
    # interactively without one, and job control needs it).
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class InteractiveShell:
    """One interactive shell on a pty; `type(line)` returns what it printed until the next prompt."""

    def __init__(self, kind: str, executable: str, *, cwd: Path, env: dict[str, str]) -> None:
        self.kind = kind
        argv = [executable, *ARGV[kind][1:]]
        # The prompt is set before the first one is drawn (PS1 in the environment; fish's -C),
        # so the marker never shows up in an echoed command line.
        if kind == "fish":
            argv += ["-C", f"function fish_prompt; printf '{MARK}'; end; function fish_greeting; end"]
        env = {**env, "PS1": MARK, "PS2": "", "PROMPT": MARK, "RPROMPT": "", "TERM": "dumb"}
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        self.buffer = b""
        self.count = 0
        self._until(MARK.encode())

    def _send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def _until(self, wanted: bytes, *, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            index = self.buffer.find(wanted)
            if index >= 0:
                text, self.buffer = self.buffer[:index], self.buffer[index + len(wanted) :]
                return text.decode("utf-8", "replace").replace("\r", "")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.kind}: {wanted!r} never came; saw {self.buffer[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.buffer += os.read(self.master, 65536)
                except OSError as exc:
                    raise RuntimeError(f"{self.kind} ended: {self.buffer[-2000:]!r}") from exc

    def type(self, line: str) -> str:
        """Type `line`, then a command printing a token, which runs at the prompt after the
        one that followed `line` (so the prompt hook has run); what the shell printed."""
        self.count += 1
        token = f"done-{self.count}-{MARK}"
        self._send(line)
        # printf's format splits the token, so the echoed command line never contains it.
        self._send(f"printf '%s%s\\n' 'done-{self.count}-' '{MARK}'")
        return self._until(token.encode() + b"\r\n")

    def environment(self, folder: Path) -> dict[str, str]:
        """The environment the shell exports now, as a child of it sees it."""
        target = folder / f"env-{time.monotonic_ns()}"
        self.type(f"/usr/bin/env -0 > '{target}'")
        items = (item.split(b"=", 1) for item in target.read_bytes().split(b"\0") if item)
        return {key.decode(): value.decode("utf-8", "surrogateescape") for key, value in items}

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.master)
