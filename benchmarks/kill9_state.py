"""kill -9 of `devenv lock` and `devenv sync` at random moments: is any later command blocked?

Each round starts `devenv lock` (or a `devenv sync` with work to do: a locked package was
removed from the venv by hand), SIGKILLs it after a random 0-3 s, then runs what a user
runs next: `devenv sync`, an edit of `.env` and `devenv print-env`, `devenv run -- true`.
Figures: commands blocked afterwards (non-zero exit, must be 0), tracebacks (must be 0),
and `.devenv/.tmp-*` leftovers still there after that next sync (must be 0).
The project needs [python].packages = ["six"] and a reachable index. Usage:

    devenv run -- python benchmarks/kill9_state.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.projects import DEVENV, hermetic_env

SPEC = """\
[project]
name = "k9"

[python]
venv = ".devenv/venv"
packages = ["six"]

[dotenv]
files = [".env"]
"""


def env() -> dict[str, str]:
    outer = hermetic_env()
    for key in ("PIP_CONFIG_FILE", "PIP_CERT", "HOME", "SSL_CERT_FILE", "HTTPS_PROXY", "https_proxy"):
        if key in os.environ:
            outer[key] = os.environ[key]
    return outer


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DEVENV, *args], cwd=root, env=env(), capture_output=True, text=True, timeout=300, check=False
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=18)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    blocked, tracebacks, leftovers = 0, 0, 0
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "proj"
        root.mkdir()
        (root / "envspec.toml").write_text(SPEC)
        (root / ".env").write_text("ROUND=0\n")
        first = run(root, "sync")
        assert first.returncode == 0, first.stderr
        for number in range(options.rounds):
            command = "lock" if number % 2 == 0 else "sync"
            if command == "sync":
                for path in glob.glob(str(root / ".devenv/venv/lib/python*/site-packages/six*")):
                    shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            victim = subprocess.Popen(
                [DEVENV, command], cwd=root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            time.sleep(rng.uniform(0, 3))
            with_group = victim.poll() is None
            if with_group:
                os.killpg(victim.pid, signal.SIGKILL)  # devenv and the pip it started
            victim.wait()
            (root / ".env").write_text(f"ROUND={number + 1}\n")
            results = [run(root, "sync")]
            leftovers += len(list((root / ".devenv").glob(".tmp-*")))
            (root / ".env").write_text(f"ROUND=after-{number + 1}\n")
            results += [run(root, "print-env"), run(root, "run", "--", "true")]
            blocked += sum(result.returncode != 0 for result in results)
            tracebacks += sum("Traceback" in result.stderr for result in results)
            for result in results:
                if result.returncode != 0:
                    print(
                        f"round {number} ({command}, killed={with_group}): {result.args[1]}: "
                        f"{result.stderr.strip()[-200:]}"
                    )
    print(f"{options.rounds} rounds (lock and sync alternately), load {os.getloadavg()[0]:.1f}")
    print(
        f"commands blocked afterwards: {blocked}  tracebacks: {tracebacks}  "
        f".tmp-* left after the next sync: {leftovers}"
    )
    return 1 if blocked or tracebacks or leftovers else 0


if __name__ == "__main__":
    raise SystemExit(main())
