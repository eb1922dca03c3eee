"""How `devenv up` supervises: start of independent processes, stop of many, idle CPU.

    devenv run -- python benchmarks/up_supervision.py [--rounds 3] [--src OTHER/src]

Each round writes a throw-away project (a bare virtualenv, no packages) and runs the real
`devenv up` on it:

- start: 3 independent processes that each say ready 2 s after they start; the time from
  launching `devenv up` until it has reported all three ready, against the 6 s sum;
- stop: 10 processes that each take 1 s to exit after SIGTERM (a graceful shutdown); the
  time from Ctrl-C (SIGINT) until `devenv up` has exited, against the 10 s sum;
- idle: the CPU time `devenv up` (all its threads) uses while holding 10 ready processes,
  over --idle seconds, as a percentage of one core.

`--src DIR` runs devenv from another source tree (for example an export of an older commit:
`git archive REV src | tar -x -C /tmp/old`), so before and after are measured alike.
Rounds interleave nothing else; report medians, and the load average.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNIT = """\
import signal, sys, time
delay, stop = float(sys.argv[1]), float(sys.argv[2])
def on_term(signum, frame):
    time.sleep(stop)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
time.sleep(delay)
print("ready", flush=True)
while True:
    time.sleep(60)
"""

SPEC = """\
[project]
name = "bench"

[python]
venv = "{venv}"
{tables}
"""


def table(name: str, delay: float, stop: float) -> str:
    return (
        f'\n[processes.{name}]\ncommand = ["python", "unit.py", "{delay}", "{stop}"]\n'
        'ready = { log = "^ready" }\nstart_timeout = 60\nstop_timeout = 30\n'
    )


def devenv_command(src: str | None) -> tuple[list[str], dict[str, str]]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    env["LANG"] = "C.UTF-8"
    if src:
        env["PYTHONPATH"] = os.path.abspath(src)
    return [sys.executable, "-m", "devenv"], env


def make_project(folder: Path, venv: str, tables: str, command: list[str], env: dict[str, str]) -> None:
    folder.mkdir()
    (folder / "envspec.toml").write_text(SPEC.format(venv=venv, tables=tables))
    (folder / "unit.py").write_text(UNIT)
    subprocess.run([*command, "sync"], cwd=folder, env=env, check=True, capture_output=True)


def start_up(folder: Path, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    err = folder / "up.err"
    with open(err, "wb") as stderr:
        popen = subprocess.Popen(
            [*command, "up"],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    return popen, err


def wait_ready(popen: subprocess.Popen[bytes], err: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while err.read_text().count("ready after") < count:
        if popen.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"devenv up did not get {count} processes ready:\n{err.read_text()}")
        time.sleep(0.01)


def measure(root: Path, venv: str, command: list[str], env: dict[str, str], idle: float) -> dict[str, float]:
    import psutil

    figures = {}
    three = root / "three"
    make_project(three, venv, "".join(table(f"p{i}", 2.0, 0.0) for i in range(3)), command, env)
    began = time.monotonic()
    popen, err = start_up(three, command, env)
    wait_ready(popen, err, 3)
    figures["start 3 x 2 s"] = time.monotonic() - began
    popen.send_signal(signal.SIGINT)
    popen.wait(60)

    ten = root / "ten"
    make_project(ten, venv, "".join(table(f"p{i}", 0.0, 1.0) for i in range(10)), command, env)
    popen, err = start_up(ten, command, env)
    wait_ready(popen, err, 10)
    up = psutil.Process(popen.pid)
    time.sleep(1.0)  # let the last start settle before counting idle time
    before = up.cpu_times()
    time.sleep(idle)
    after = up.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    figures["idle CPU % (10 processes)"] = 100.0 * used / idle
    began = time.monotonic()
    popen.send_signal(signal.SIGINT)
    popen.wait(120)
    figures["stop 10 x 1 s"] = time.monotonic() - began
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--src", help="run devenv from this source folder instead")
    options = parser.parse_args()
    from virtualenv import cli_run

    command, env = devenv_command(options.src)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-up-") as scratch:
        venv = str(Path(scratch) / "venv")
        cli_run([venv, "--python", sys.executable, "--no-seed", "--quiet"], setup_logging=False)
        for index in range(options.rounds):
            root = Path(scratch) / f"round{index}"
            root.mkdir()
            for key, value in measure(root, venv, command, env, options.idle).items():
                results.setdefault(key, []).append(value)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'measure':<28} {'median':>8} {'min':>8} {'max':>8}  ({options.rounds} rounds)")
    for key, values in results.items():
        print(f"{key:<28} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
