"""Start-up cost of `devenv print-env` and `devenv run -- true` against T0 (docs/architecture.md).

T0 is `python -c pass` run by a bare venv of the interpreter in the `devenv` script's
shebang (benchmarks/timing.py), so the ratio measures what devenv adds, not how fast this
machine is. Commands are interleaved in a shuffled order every round (a noisy neighbour hits
all of them alike) and medians are compared. Usage:

    devenv run -- python benchmarks/cli_startup.py [--rounds 60] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from timing import T0, Step, measure, report, shebang_interpreter, t0_step

#: Every budget holds with and without PYTHONDONTWRITEBYTECODE=1 (common in CI and containers):
#: rows marked "(no bytecode writes)" run with it set, the others with it removed.
NO_WRITES = " (no bytecode writes)"
BUDGETS = {
    "devenv print-env": 1.1,
    "devenv run -- true": 1.05,
    "devenv print-env" + NO_WRITES: 1.1,
    "devenv run -- true" + NO_WRITES: 1.05,
    "devenv sync (nothing to do)": 3.0,
}


def environment(name: str) -> dict[str, str]:
    """The environment a command runs in: bytecode writes off only for the marked rows."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if name.endswith(NO_WRITES):
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


#: Rows that split a ratio into what devenv's code costs and what it cannot avoid: the venv
#: devenv runs from (its site-packages and .pth files, which T0's bare venv lacks), and that
#: venv's Python doing nothing but exec `true`, the floor of any Python front end of `run`.
VENV_T0 = "python -c pass (devenv's own venv)"
EXEC_FLOOR = "python -c 'os.execv(true)' (devenv's own venv: the floor of run)"


def commands(devenv: str, root: str) -> dict[str, Step]:
    """Every command to time, by the name shown in the table."""
    python = shebang_interpreter(devenv)
    true = shutil.which("true") or "/bin/true"
    named = {
        VENV_T0: [python, "-c", "pass"],
        EXEC_FLOOR: [python, "-c", f"import os; os.execv({true!r}, ['true'])"],
        "devenv print-env": [devenv, "print-env"],
        "devenv run -- true": [devenv, "run", "--", "true"],
        "devenv print-env" + NO_WRITES: [devenv, "print-env"],
        "devenv run -- true" + NO_WRITES: [devenv, "run", "--", "true"],
        "devenv sync (nothing to do)": [devenv, "sync"],
        "sh: . .devenv/env.sh (the floor: no Python)": ["/bin/sh", "-c", ". .devenv/env.sh"],
    }
    dotenv = os.path.join(os.path.dirname(python), "dotenv")
    usable = (
        os.path.exists(dotenv) and subprocess.run([dotenv, "--version"], capture_output=True).returncode == 0
    )
    if usable:  # python-dotenv's CLI needs the [cli] extra (click)
        env_file = os.path.join(root, ".env.defaults")
        named["dotenv run -- true (python-dotenv)"] = [dotenv, "-f", env_file, "run", "--", "true"]
    steps = {T0: t0_step(python)}
    steps.update({name: Step(argv, cwd=root, env=environment(name)) for name, argv in named.items()})
    return steps


def main() -> int:
    """Print a Markdown table of medians and ratios; exit 1 if a budget is exceeded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--root", default=os.getcwd(), help="project to run in (default: here)")
    parser.add_argument("--devenv", default=shutil.which("devenv"), help="devenv script to measure")
    options = parser.parse_args()
    if not options.devenv:
        raise SystemExit("no devenv on PATH; run this through `devenv run -- python ...`")
    samples = measure(commands(options.devenv, options.root), options.rounds)
    heading = f"{options.rounds} interleaved rounds, interpreter {shebang_interpreter(options.devenv)}"
    return 0 if report(samples, BUDGETS, heading) else 1


if __name__ == "__main__":
    sys.exit(main())
