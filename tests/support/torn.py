"""In-place writers against readers: does any reader serve a file caught mid-write?

Shared by the property test (tests/integration/test_hostile.py) and the harness that gives
the figure (benchmarks/torn_reads.py). The writer rewrites `.env` in place the way a script
or an editor without atomic saves does: truncate, write the first part, pause, write the
rest; in bursts with quiet pauses between them, so readers are served between bursts (a
storm that never pauses only makes every reader wait until it ends). A reader's answer is torn when it exited 0 with a value no complete version holds.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field

KEY = "TORN_VALUE"
SPEC = """\
[project]
name = "torn"

[python]
venv = "{venv}"

[dotenv]
files = [".env"]
"""
WHOLE = re.compile(r"v\d{6}-end\Z")


def text(number: int) -> str:
    return f"{KEY}=v{number:06d}-end\nOTHER=constant\n"


def write_in_place(path: str, number: int, rng: random.Random) -> None:
    data = text(number).encode()
    cut = rng.randint(1, len(data) - 1)
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(data[:cut])
        handle.flush()
        time.sleep(rng.uniform(0, 0.01))
        handle.write(data[cut:])


@dataclass
class Result:
    #: Reads started (one `devenv print-env` each).
    attempted: int = 0
    #: Reads that exited 0 (each one checked for a torn value).
    served: int = 0
    #: Answers served with exit 0 that no complete version holds (must be 0).
    torn: list[str] = field(default_factory=list)
    #: Reads that exited non-zero (a file never quiet for QUIET_WAIT is an error, never a value).
    failed: int = 0
    #: Reads that began within QUIET of a write or overlapped one: devenv had to wait for
    #: the file to be quiet (or read it again) before serving them.
    waited: int = 0


#: How long devenv wants a file quiet before it serves it (project.QUIET_NS).
QUIET = 0.1


def storm(
    devenv: str,
    root: str,
    env: dict[str, str],
    *,
    writes: int,
    readers: int,
    seed: int,
    burst: int = 10,
    pause: tuple[float, float] = (0.15, 0.4),
) -> Result:
    """`readers` loops of `devenv print-env --format json` while one writer edits `.env`:
    `writes` in-place writes in bursts of `burst` (0-30 ms apart), each burst followed by a
    quiet pause of `pause` seconds, so readers complete reads between bursts as well as
    start them mid-burst."""
    rng = random.Random(seed)
    stop = threading.Event()
    lock = threading.Lock()
    result = Result()
    #: (start, end) of each write, monotonic.
    written: list[tuple[float, float]] = []

    def read() -> None:
        while not stop.is_set():
            began = time.monotonic()
            done = subprocess.run(
                [devenv, "print-env", "--format", "json"], cwd=root, env=env, capture_output=True,
                text=True, timeout=60, check=False,
            )  # fmt: skip
            ended = time.monotonic()
            with lock:
                result.attempted += 1
                if any(start < ended and end > began - QUIET for start, end in written):
                    result.waited += 1
                if done.returncode != 0:
                    result.failed += 1
                    continue
                result.served += 1
                values = json.loads(done.stdout)
                value = values.get(KEY, "")
                if not WHOLE.match(value) or values.get("OTHER") != "constant":
                    result.torn.append(f"{KEY}={value!r} OTHER={values.get('OTHER')!r}")

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        for number in range(writes):
            began = time.monotonic()
            write_in_place(f"{root}/.env", number, rng)
            with lock:
                written.append((began, time.monotonic()))
            last_of_burst = (number + 1) % burst == 0
            time.sleep(rng.uniform(*pause) if last_of_burst else rng.uniform(0, 0.03))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return result
