"""Storm: concurrent `devenv print-env` / `devenv run` against a writer of `.env`.

For each write mode (a new file renamed into place, or rewritten in place) and each reader
command, a throw-away project is synced, then `--readers` reader loops run while one writer
rewrites `.env` `--writes` times (same-length values: only mtime and content change). This
is repeated `--storms` times, each storm ending at a different moment. Figures:

- wrong after: reads started after a storm's last write that did not see its value
  (must be 0: a wrong environment left in place);
- empty exit 0: runs that exited 0 without the variable (must be 0);
- failed: reader runs that exited non-zero during the storm (e.g. "inputs kept changing");
- p50 / p95: reader latency during the storms.

Usage (from the repository root):

    devenv run -- python benchmarks/storm.py [--storms 20] [--readers 8] [--writes 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.projects import DEVENV, Project, hermetic_env, make_shared_venv
from tests.support.storm import KEY, SPEC, percentile, storm, write_dotenv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=int, default=20)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.004, help="mean seconds between writes")
    options = parser.parse_args()
    print(
        f"{options.storms} storms x {options.writes} writes, {options.readers} readers, "
        f"{os.cpu_count()} cores, devenv {DEVENV}\n"
    )
    print("| writes | readers | reads | wrong after | empty exit 0 | failed | p50 ms | p95 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    total_wrong = 0
    for mode in ("rename", "in-place"):
        for command in ("print-env", "run"):
            with tempfile.TemporaryDirectory() as folder:
                # A throw-away venv: a sync makes its venv hold exactly the (empty) package
                # list, so pointing it at the running venv would uninstall devenv itself.
                venv = make_shared_venv(Path(folder) / "venv")
                project = Project.create(Path(folder) / "proj", venv=venv)
                project.write("envspec.toml", SPEC.format(venv=venv, key=KEY))
                write_dotenv(str(project.root / ".env"), 0, "rename")
                project.sync()
                reads, wrong, empty, failed = [], 0, 0, 0
                for number in range(options.storms):
                    result = storm(
                        DEVENV,
                        str(project.root),
                        env=hermetic_env(),
                        readers=options.readers,
                        writes=options.writes,
                        mode=mode,  # type: ignore[arg-type]
                        command=command,  # type: ignore[arg-type]
                        pause=options.pause,
                        seed=number,
                    )
                    reads += [read.seconds * 1000 for read in result.reads]
                    wrong += len(result.wrong_after())
                    empty += len(result.empty_ok())
                    failed += len(result.failed())
                total_wrong += wrong
                print(
                    f"| {mode} | {command} | {len(reads)} | {wrong} | {empty} | {failed} | "
                    f"{percentile(reads, 0.5):.0f} | {percentile(reads, 0.95):.0f} |"
                )
    return 1 if total_wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
