"""In-place edit storm: readers (`devenv print-env`) against a writer rewriting `.env` in
place in two pieces (tests/support/torn.py). Figures: reads, torn reads served with exit 0
(must be 0), reads that failed (a file never quiet is an error, never a value).

    devenv run -- python benchmarks/torn_reads.py [--storms 5] [--writes 100] [--readers 4]
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
    options = parser.parse_args()
    reads = failed = 0
    served_torn: list[str] = []
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
            )
            reads, failed = reads + result.reads, failed + result.failed
            served_torn += result.torn
    print(
        f"{options.storms} storms x {options.writes} in-place writes, {options.readers} readers, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(f"reads: {reads}  torn reads served: {len(served_torn)}  failed (file never quiet): {failed}")
    return 1 if served_torn else 0


if __name__ == "__main__":
    raise SystemExit(main())
