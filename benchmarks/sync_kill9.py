"""kill -9 of `devenv sync` at random moments while pip runs: does anything launch from the
half-synced venv, and does any pip outlive devenv?

Each round uninstalls two locked packages by hand, starts `devenv sync`, waits until pip runs,
sleeps a random 0-1.5 s, kills devenv with SIGKILL, then counts `print-env` and
`run -- true` calls that exit 0 while a locked package is missing (must be 0) and pip processes
still alive 2 s later (must be 0). Usage, in a synced project with a pylock.toml:

    devenv run -- python benchmarks/sync_kill9.py --root DIR --rounds 20 --packages six iniconfig
    (--signal TERM or INT: the same with SIGTERM or SIGINT instead of SIGKILL)
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time

import psutil


def pips(root: str) -> list[int]:
    """pip processes running from the project's venv."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = process.info["cmdline"] or []
        if command and command[0].startswith(root) and "pip" in " ".join(command):
            found.append(process.info["pid"])
    return found


def main() -> int:
    """Print the counts; exit 1 when a launch succeeded on a half-synced venv or pip survived."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--packages", nargs="+", default=["six", "iniconfig"])
    parser.add_argument("--devenv", default="devenv")
    parser.add_argument(
        "--signal", default="KILL", choices=["KILL", "TERM", "INT"], help="what kills devenv (default: KILL)"
    )
    options = parser.parse_args()
    root = os.path.abspath(options.root)
    python = os.path.join(root, ".devenv", "venv", "bin", "python")
    marker = os.path.join(root, ".devenv", "sync-incomplete")
    env = dict(os.environ)
    launched = orphans = killed_during_pip = 0
    for _ in range(options.rounds):
        subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", *options.packages], check=True)
        sync = subprocess.Popen([options.devenv, "--root", root, "sync"], env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (os.path.exists(marker) and pips(root)) and time.monotonic() < deadline:
            if sync.poll() is not None:
                break
            time.sleep(0.01)
        time.sleep(random.uniform(0, 1.5))
        if sync.poll() is None:
            killed_during_pip += bool(pips(root))
            os.kill(sync.pid, getattr(signal, "SIG" + options.signal))
        sync.wait()
        time.sleep(2)
        orphans += len(pips(root))
        for command in (["print-env"], ["run", "--", "true"]):
            result = subprocess.run([options.devenv, "--root", root, *command], capture_output=True, env=env)
            # Half-synced: a package the lock holds cannot be imported (the import names of the
            # default packages are their project names).
            probe = [python, "-c", "import " + ", ".join(options.packages)]
            half = subprocess.run(probe, capture_output=True).returncode != 0
            if result.returncode == 0 and half:
                launched += 1
        subprocess.run([options.devenv, "--root", root, "sync"], check=True, capture_output=True, env=env)
    print(
        f"SIG{options.signal}: {options.rounds} rounds, {killed_during_pip} killed while pip ran: "
        f"{launched} exit-0 print-env/run on a half-synced venv, {orphans} pip processes outlived devenv"
    )
    return 1 if launched or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
