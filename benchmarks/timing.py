"""What every start-up benchmark shares: T0, interleaved rounds, medians and the budget table.

T0 is `python -c pass` run by a bare venv (no packages, no .pth files) of the interpreter the
`devenv` script starts with, by its absolute path (`python3` on PATH may be a pyenv shim that
adds ~80 ms). Commands are timed in a shuffled order every round, so a noisy neighbour on
the shared machine hits all of them alike, and medians are compared (docs/architecture.md,
"Start-up budget").
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

T0 = "T0: python -c pass (bare venv)"


@dataclass
class Step:
    """One timed command; `before` runs untimed just ahead of each timing (an edit to undo)."""

    argv: list[str]
    cwd: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    before: Callable[[], None] | None = None
    #: The exit codes that count as the command working (doctor exits 1 on a failed check).
    ok: tuple[int, ...] = (0,)


def shebang_interpreter(script: str) -> str:
    """The interpreter a console script starts with."""
    with open(script, encoding="utf-8") as handle:
        first = handle.readline()
    if not first.startswith("#!"):
        raise SystemExit(f"{script}: no shebang line")
    return first[2:].strip().split()[0]


def bare_venv(interpreter: str) -> str:
    """The python of a fresh, empty venv of `interpreter`'s base (made once per run)."""
    base = subprocess.run(
        [interpreter, "-c", "import sys; print(getattr(sys, '_base_executable', sys.executable))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = tempfile.mkdtemp(prefix="devenv-bench-t0-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    folder = os.path.join(parent, "venv")
    subprocess.run([base, "-m", "venv", "--without-pip", folder], check=True)
    return os.path.join(folder, "bin", "python")


def t0_step(interpreter: str) -> Step:
    return Step([bare_venv(interpreter), "-c", "pass"], cwd=os.getcwd())


def measure(steps: dict[str, Step], rounds: int) -> dict[str, list[float]]:
    """Wall-clock seconds of each step, `rounds` times, interleaved in random order."""
    import time

    samples: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)

    def once(name: str) -> float:
        step = steps[name]
        if step.before is not None:
            step.before()
        start = time.perf_counter()
        result = subprocess.run(
            step.argv, cwd=step.cwd, env=step.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        elapsed = time.perf_counter() - start
        if result.returncode not in step.ok:
            raise SystemExit(f"{name}: exit {result.returncode}: {result.stderr.decode(errors='replace')}")
        return elapsed

    for name in order:  # warm-up: page cache, .pyc files, a fresh .devenv/
        once(name)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            samples[name].append(once(name))
    return samples


def report(samples: dict[str, list[float]], budgets: dict[str, float], heading: str) -> bool:
    """Print the Markdown table (median ms, ratio to T0, budget); True when every budget holds."""
    t0 = statistics.median(samples[T0])
    load = os.getloadavg()
    print(f"{heading}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| command | median ms | ratio to T0 | budget |")
    print("|---|---:|---:|---:|")
    held = True
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / t0
        budget = budgets.get(name)
        verdict = ""
        if budget is not None:
            ok = ratio <= budget
            held &= ok
            verdict = f"≤ {budget}× {'ok' if ok else 'EXCEEDED'}"
        print(f"| `{name}` | {median * 1000:.1f} | {ratio:.2f}× | {verdict} |")
    sys.stdout.flush()
    return held
