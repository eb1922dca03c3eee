"""A storm: concurrent `devenv print-env` / `devenv run` readers against a writer of `.env`.

Shared by the correctness test (tests/integration/test_state.py) and the latency benchmark
(benchmarks/storm.py). The writer rewrites `.env` with values of the same length, so a
change never alters the file size: only mtime (and content) tell the versions apart, which
is the hardest case for a stat-based freshness check.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

WriteMode = Literal["rename", "in-place"]
ReadCommand = Literal["print-env", "run"]

KEY = "STORM_VALUE"

SPEC = """\
[project]
name = "storm"

[python]
venv = "{venv}"

[dotenv]
files = [".env"]
required = ["{key}"]
"""


def value(number: int) -> str:
    return f"v{number:06d}"


def write_dotenv(path: str, number: int, mode: WriteMode) -> None:
    """Write `.env` as an editor would: a new file moved into place, or rewritten in place."""
    text = f"{KEY}={value(number)}\nOTHER=constant\n"
    if mode == "rename":
        temporary = f"{path}.storm-tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


@dataclass
class Read:
    """One reader run: when it started (s after the storm began), how long it took, what it saw."""

    started: float
    seconds: float
    code: int
    value: str | None


@dataclass
class StormResult:
    reads: list[Read] = field(default_factory=list)
    final: str = ""
    #: Reads started after the last write finished: each must see `final`.
    after: list[Read] = field(default_factory=list)

    def wrong_after(self) -> list[Read]:
        return [read for read in self.after if read.code != 0 or read.value != self.final]

    def empty_ok(self) -> list[Read]:
        """Runs that exited 0 without the variable (an empty or half-read environment)."""
        return [read for read in self.reads + self.after if read.code == 0 and not read.value]

    def failed(self) -> list[Read]:
        return [read for read in self.reads if read.code != 0]


def read_once(devenv: str, root: str, command: ReadCommand, env: dict[str, str], start: float) -> Read:
    """Run one reader and record what it saw."""
    if command == "print-env":
        argv = [devenv, "print-env", "--format", "json"]
    else:
        argv = [devenv, "run", "--", "printenv", KEY]
    began = time.perf_counter()
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    seen: str | None = None
    if result.returncode == 0 and command == "print-env":
        seen = json.loads(result.stdout).get(KEY)
    elif result.returncode == 0:
        seen = result.stdout.strip() or None
    return Read(started=began - start, seconds=took, code=result.returncode, value=seen)


def storm(
    devenv: str,
    root: str,
    *,
    env: dict[str, str],
    readers: int,
    writes: int,
    mode: WriteMode,
    command: ReadCommand,
    pause: float = 0.004,
    seed: int = 0,
) -> StormResult:
    """Run `readers` reader loops while one writer rewrites `.env` `writes` times, then start
    `readers` more reads after the last write and record what everyone saw."""
    path = os.path.join(root, ".env")
    result = StormResult()
    lock = threading.Lock()
    done = threading.Event()
    start = time.perf_counter()
    rng = random.Random(seed)
    first = rng.randrange(10**5)

    def reader() -> None:
        while not done.is_set():
            read = read_once(devenv, root, command, env, start)
            with lock:
                result.reads.append(read)

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        for number in range(first, first + writes):
            write_dotenv(path, number, mode)
            time.sleep(rng.uniform(0, 2 * pause))
    finally:
        done.set()
        for thread in threads:
            thread.join()
    result.final = value(first + writes - 1)

    def check_after() -> None:
        read = read_once(devenv, root, command, env, start)
        with lock:
            result.after.append(read)

    checkers = [threading.Thread(target=check_after) for _ in range(readers)]
    for thread in checkers:
        thread.start()
    for thread in checkers:
        thread.join()
    return result


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
