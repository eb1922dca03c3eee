"""Start-up cost of `devenv print-env` and `devenv run -- true` against T0 (docs/architecture.md).

T0 is `python -c pass` run by the interpreter in the `devenv` script's shebang, so the
ratio measures what devenv adds, not how fast this machine is. Commands are interleaved in
a shuffled order every round (a noisy neighbour hits all of them alike) and medians are
compared. Usage:

    devenv run -- python benchmarks/cli_startup.py [--rounds 60] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

#: Every budget holds with and without PYTHONDONTWRITEBYTECODE=1 (common in CI and containers):
#: rows marked "(no bytecode writes)" run with it set, the others with it removed.
NO_WRITES = " (no bytecode writes)"
BUDGETS = {
    "devenv print-env": 1.5,
    "devenv run -- true": 1.5,
    "devenv print-env" + NO_WRITES: 1.5,
    "devenv run -- true" + NO_WRITES: 1.5,
    "devenv sync (nothing to do)": 3.0,
}


def shebang_interpreter(script: str) -> str:
    """The interpreter a console script starts with."""
    with open(script, encoding="utf-8") as handle:
        first = handle.readline()
    if not first.startswith("#!"):
        raise SystemExit(f"{script}: no shebang line")
    return first[2:].strip().split()[0]


def commands(devenv: str, root: str) -> dict[str, list[str]]:
    """Every command to time, by the name shown in the table."""
    python = shebang_interpreter(devenv)
    result = {
        "T0: python -c pass": [python, "-c", "pass"],
        "devenv print-env": [devenv, "print-env"],
        "devenv run -- true": [devenv, "run", "--", "true"],
        "devenv print-env" + NO_WRITES: [devenv, "print-env"],
        "devenv run -- true" + NO_WRITES: [devenv, "run", "--", "true"],
        "devenv sync (nothing to do)": [devenv, "sync"],
    }
    dotenv = os.path.join(os.path.dirname(python), "dotenv")
    usable = (
        os.path.exists(dotenv) and subprocess.run([dotenv, "--version"], capture_output=True).returncode == 0
    )
    if usable:  # python-dotenv's CLI needs the [cli] extra (click)
        env_file = os.path.join(root, ".env.defaults")
        result["dotenv run -- true (python-dotenv)"] = [dotenv, "-f", env_file, "run", "--", "true"]
    return result


def environment(name: str) -> dict[str, str]:
    """The environment a command runs in: bytecode writes off only for the marked rows."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if name.endswith(NO_WRITES):
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def measure(named: dict[str, list[str]], rounds: int, cwd: str) -> dict[str, list[float]]:
    """Wall-clock seconds of each command, `rounds` times, interleaved in random order."""
    samples: dict[str, list[float]] = {name: [] for name in named}
    order = list(named)
    envs = {name: environment(name) for name in order}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for name in order:  # warm-up: page cache, .pyc files, a fresh .devenv/
        subprocess.run(named[name], cwd=cwd, env=envs[name], check=True, **quiet)  # type: ignore[call-overload]
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            subprocess.run(named[name], cwd=cwd, env=envs[name], check=True, **quiet)  # type: ignore[call-overload]
            samples[name].append(time.perf_counter() - start)
    return samples


def main() -> int:
    """Print a Markdown table of medians and ratios; exit 1 if a budget is exceeded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--root", default=os.getcwd(), help="project to run in (default: here)")
    parser.add_argument("--devenv", default=shutil.which("devenv"), help="devenv script to measure")
    options = parser.parse_args()
    if not options.devenv:
        raise SystemExit("no devenv on PATH; run this through `devenv run -- python ...`")
    named = commands(options.devenv, options.root)
    samples = measure(named, options.rounds, options.root)
    t0 = statistics.median(samples["T0: python -c pass"])
    print(
        f"{options.rounds} interleaved rounds, {os.cpu_count()} cores, "
        f"interpreter {shebang_interpreter(options.devenv)}\n"
    )
    print("| command | median ms | ratio to T0 | budget |")
    print("|---|---:|---:|---:|")
    failed = False
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / t0
        budget = BUDGETS.get(name)
        verdict = ""
        if budget is not None:
            ok = ratio <= budget
            failed |= not ok
            verdict = f"≤ {budget}× {'ok' if ok else 'EXCEEDED'}"
        print(f"| `{name}` | {median * 1000:.1f} | {ratio:.2f}× | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
