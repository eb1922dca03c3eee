"""In-place writers against readers: does any reader serve a file caught mid-write?

Shared by the property test (tests/integration/test_hostile.py) and the harness that gives
the figure (benchmarks/torn_reads.py). The writer rewrites `.env` in place the way a script
or an editor without atomic saves does: truncate, write the first part, pause, write the
rest. A reader's answer is torn when it exited 0 with a value no complete version holds.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
import time
from dataclasses import dataclass

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
    reads: int
    torn: list[str]
    failed: int


def storm(devenv: str, root: str, env: dict[str, str], *, writes: int, readers: int, seed: int) -> Result:
    """`readers` loops of `devenv print-env --format json` while one writer edits `.env`."""
    rng = random.Random(seed)
    stop = threading.Event()
    lock = threading.Lock()
    result = Result(reads=0, torn=[], failed=0)

    def read() -> None:
        while not stop.is_set():
            done = subprocess.run(
                [devenv, "print-env", "--format", "json"], cwd=root, env=env, capture_output=True,
                text=True, timeout=60, check=False,
            )  # fmt: skip
            with lock:
                result.reads += 1
                if done.returncode != 0:
                    result.failed += 1
                    continue
                values = json.loads(done.stdout)
                value = values.get(KEY, "")
                if not WHOLE.match(value) or values.get("OTHER") != "constant":
                    result.torn.append(f"{KEY}={value!r} OTHER={values.get('OTHER')!r}")

    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        for number in range(writes):
            write_in_place(f"{root}/.env", number, rng)
            time.sleep(rng.uniform(0, 0.03))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return result
