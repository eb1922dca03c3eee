"""Packages side by side with uv, on a clone of this repository (warm caches, interleaved rounds,
medians and ratios, as README "Performance" describes):

- sync: `devenv sync --frozen` into an empty venv against `uv venv` + `uv pip sync` of the
  same pylock.toml;
- lock: `devenv lock` against `uv pip compile --universal --format pylock.toml` of the same
  package lines.

    .devenv/venv/bin/python benchmarks/packages.py [--rounds 5] [--offline]

A warm cache does not spare uv the network: it revalidates every wheel a pylock.toml names,
and where the index answers "modified" (as here) it downloads them all again, on both sides
(`uv pip sync -v`: "Found modified response ... Downloading ruff"); that is most of each
side's time and of its spread. `--offline` sets UV_OFFLINE=1 for both (devenv hands it on to
uv): installs from the cache alone, so what devenv adds weighs more in the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
DEVENV = os.path.join(BIN, "devenv")
UV = os.path.join(BIN, "uv")


ENV = dict(os.environ)


def timed(command: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--offline", action="store_true", help="UV_OFFLINE=1 for both: the cache alone")
    options = parser.parse_args()
    rounds = options.rounds
    if options.offline:
        ENV["UV_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as scratch:
        clone = os.path.join(scratch, "clone")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        sys.path.insert(0, os.path.join(ROOT, "src"))
        from devenv.requirements import parse_packages, requirements_text
        from devenv.spec import load_spec

        spec = load_spec(clone)
        with open(os.path.join(clone, ".devenv-bench.in"), "w") as handle:
            handle.write(requirements_text(parse_packages(spec)))
        python = sys.executable
        results: dict[str, list[float]] = {name: [] for name in ("sync", "uv sync", "lock", "uv lock")}
        venv = os.path.join(clone, ".devenv", "venv")
        other = os.path.join(scratch, "uv-venv")
        timed([DEVENV, "sync", "--frozen"], clone)  # warm
        for _ in range(rounds):
            shutil.rmtree(venv)
            results["sync"].append(timed([DEVENV, "sync", "--frozen"], clone))
            shutil.rmtree(other, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([UV, "venv", "-q", "--no-config", "-p", python, other], check=True, env=ENV)
            subprocess.run(
                [
                    UV,
                    "pip",
                    "sync",
                    "-q",
                    "--no-config",
                    "--preview-features",
                    "pylock",
                    "-p",
                    other,
                    "pylock.toml",
                ],
                cwd=clone,
                check=True,
                env=ENV,
            )
            results["uv sync"].append(time.perf_counter() - start)
            results["lock"].append(timed([DEVENV, "lock"], clone))
            compile_ = [UV, "pip", "compile", "-q", "--no-config", "--universal", "--format", "pylock.toml"]
            compile_ += [
                "--python-version",
                "3.11",
                ".devenv-bench.in",
                "-o",
                os.path.join(scratch, "pylock.toml"),
            ]
            results["uv lock"].append(timed(compile_, clone))
    median = {name: statistics.median(values) for name, values in results.items()}
    load = os.getloadavg()[0]
    offline = ", offline (UV_OFFLINE=1)" if options.offline else ""
    print(f"rounds {rounds}, load average {load:.2f}{offline}")
    for name, value in median.items():
        print(f"{name:8} median {value * 1000:7.0f} ms")
    for job, budget in (("sync", 1.3), ("lock", 1.5)):
        # Each round runs both sides back to back: the median of the rounds' own ratios is
        # steadier than the ratio of the medians when the load (or the network) drifts.
        pairs = zip(results[job], results[f"uv {job}"], strict=True)
        paired = statistics.median(ours / theirs for ours, theirs in pairs)
        ratio = median[job] / median[f"uv {job}"]
        print(f"{job} ratio {ratio:.2f}x, median of the rounds' ratios {paired:.2f}x (budget {budget}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
