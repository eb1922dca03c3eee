"""Fuzzed envspec.toml and dotenv files through the real CLI: tracebacks, and exit-2
messages that name no file or no line (both must be 0).

Each case mutates a real seed (tests/support/fuzz.py: the demo spec with services and
processes, the demo dotenv file and real dotenv files from ../shared/data/envcorpus/), writes
it into a synced throw-away project, and runs `devenv print-env` (which re-reads and
re-resolves every input). Usage (from the repository root):

    devenv run -- python benchmarks/fuzz_inputs.py [--cases 500] [--seed 18]
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.fuzz import cases, classify
from tests.support.projects import DEVENV, Project, hermetic_env, make_shared_venv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=18)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        venv = make_shared_venv(Path(folder) / "venv")
        project = Project.create(Path(folder) / "proj", venv=venv)
        project.sync()
        pristine = {name: (project.root / name).read_bytes() for name in ("envspec.toml", ".env.defaults")}
        kinds: collections.Counter[str] = collections.Counter()
        examples: dict[str, str] = {}
        for case in cases(venv, options.cases, options.seed):
            for name, data in pristine.items():
                (project.root / name).write_bytes(data)
            path = project.root / case.which
            path.write_bytes(case.text.encode("utf-8", "surrogatepass"))
            past = time.time() - 5
            os.utime(path, (past, past))
            result = subprocess.run(
                [DEVENV, "print-env"], cwd=project.root, env=hermetic_env(), capture_output=True,
                text=True, timeout=60, check=False,
            )  # fmt: skip
            outcome = classify(result.returncode, result.stderr, case.which)
            kinds[outcome.kind] += 1
            examples.setdefault(outcome.kind, outcome.message)
    print(f"{options.cases} cases (seed {options.seed}), load {os.getloadavg()[0]:.1f}")
    for kind in ("ok", "clean", "traceback", "no-file", "no-line"):
        print(
            f"{kind}: {kinds[kind]}"
            + (f"  e.g. {examples[kind][:160]}" if kind in examples and kind not in ("ok", "clean") else "")
        )
    return 1 if kinds["traceback"] or kinds["no-file"] or kinds["no-line"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
