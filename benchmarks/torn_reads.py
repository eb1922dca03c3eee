"""In-place edit storm: readers (`devenv print-env`) against a writer rewriting `.env` in
place in two pieces, in bursts with quiet pauses between (tests/support/torn.py). Figures:
reads attempted, reads served (exit 0), torn reads served with exit 0 (must be 0), reads
that had to wait (began within 0.1 s of a write, or overlapped one), reads that failed (a
file never quiet is an error, never a value).

    devenv run -- python benchmarks/torn_reads.py [--storms 5] [--writes 100] [--readers 4] [--burst 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import torn
from tests.support.projects import DEVENV, Project, hermetic_env, make_shared_venv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=int, default=5)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--burst", type=int, default=10, help="writes per burst (pauses between)")
    options = parser.parse_args()
    total = torn.Result()
    with tempfile.TemporaryDirectory() as folder:
        venv = make_shared_venv(Path(folder) / "venv")
        project = Project.create(Path(folder) / "proj", venv=venv, spec=torn.SPEC.format(venv=venv))
        project.write(".env", torn.text(0))
        project.sync()
        for number in range(options.storms):
            result = torn.storm(
                DEVENV,
                str(project.root),
                hermetic_env(),
                writes=options.writes,
                readers=options.readers,
                seed=number,
                burst=options.burst,
            )
            total.attempted += result.attempted
            total.served += result.served
            total.failed += result.failed
            total.waited += result.waited
            total.torn += result.torn
    print(
        f"{options.storms} storms x {options.writes} in-place writes (bursts of {options.burst}, "
        f"quiet pauses of 0.15-0.4 s between), {options.readers} readers, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"reads attempted: {total.attempted}  served: {total.served}  torn reads served: "
        f"{len(total.torn)}  reads that waited (began within 0.1 s of a write or overlapped "
        f"one): {total.waited}  failed (file never quiet): {total.failed}"
    )
    for example in total.torn[:5]:
        print(f"torn: {example}")
    return 1 if total.torn else 0


if __name__ == "__main__":
    raise SystemExit(main())
