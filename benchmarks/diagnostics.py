"""Cost of the commands off the hot path, against T0: re-resolve after a `.env` edit, ps,
explain, doctor and lock --check (issue 20's budgets, docs/architecture.md "Start-up budget").

Throw-away projects are made in a temp folder and synced once (untimed): `bench` locks
python-dotenv (so `lock --check` and doctor's interpreter and package checks have real
work) and has no services (doctor's service checks are excluded by construction); `keys10`
and `keys10000` have a `.env` of 10 and 10 000 keys. Before each timed re-resolve, one value
of `.env` is rewritten with the same length and the file's mtime set 2 s into the past, so
the command measured is the resolution itself, not the 0.1 s wait for a file that was just
written (`project.QUIET_NS`). Every command runs in a small hermetic environment. Usage:

    devenv run -- python benchmarks/diagnostics.py [--rounds 20] [--devenv PATH] [--only re-resolve]

`--only TEXT` times T0 and the rows whose name contains TEXT (and makes only the projects
those rows use).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from timing import T0, Step, measure, report, shebang_interpreter, t0_step

BUDGETS = {
    "re-resolve after a .env edit (10 keys)": 4.0,
    "re-resolve after a .env edit (10 000 keys)": 12.0,
    "devenv ps": 4.0,
    "devenv explain": 4.0,
    "devenv doctor (no services)": 10.0,
    "devenv lock --check": 5.0,
}

SPEC = """\
[project]
name = "{name}"

[python]
requires = ">=3.11"
packages = [{packages}]

[dotenv]
files = [".env"]

[vars]
PYTHONUNBUFFERED = "1"

[processes.web]
command = ["python", "-m", "http.server", "${{PORT}}"]
"""


def _hermetic(interpreter_dir: str) -> dict[str, str]:
    env = {"PATH": f"{interpreter_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env["LANG"] = "C.UTF-8"
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX_URL", "XDG_CACHE_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _dotenv(keys: int, toggle: str) -> str:
    lines = ["PORT=8000", f"BENCH_TOGGLE={toggle}"]
    lines += [f"BENCH_KEY_{n}=value-{n}-${{PORT}}" for n in range(keys - 2)]
    return "\n".join(lines) + "\n"


def _project(folder: str, name: str, keys: int, packages: str, devenv: str, env: dict[str, str]) -> str:
    root = os.path.join(folder, name)
    os.makedirs(root)
    with open(os.path.join(root, "envspec.toml"), "w", encoding="utf-8") as handle:
        handle.write(SPEC.format(name=name, packages=packages))
    with open(os.path.join(root, ".env"), "w", encoding="utf-8") as handle:
        handle.write(_dotenv(keys, "a"))
    if packages:
        subprocess.run([devenv, "lock"], cwd=root, env=env, check=True, capture_output=True)
    subprocess.run([devenv, "sync"], cwd=root, env=env, check=True, capture_output=True)
    return root


def _editor(root: str, keys: int) -> Callable[[], None]:
    """The untimed edit before a re-resolve: one value changed, same size, an older mtime."""
    path = os.path.join(root, ".env")
    counter = itertools.count()
    texts = [_dotenv(keys, "a").encode(), _dotenv(keys, "b").encode()]

    def edit() -> None:
        number = next(counter)
        with open(path, "wb") as handle:
            handle.write(texts[number % 2])
        past = time.time_ns() - 2_000_000_000 - number
        os.utime(path, ns=(past, past))

    return edit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--devenv", default=shutil.which("devenv"), help="devenv script to measure")
    parser.add_argument("--keep", action="store_true", help="keep the temp projects (prints where)")
    parser.add_argument("--only", default="", metavar="TEXT", help="time only the rows whose name has TEXT")
    options = parser.parse_args()
    if not options.devenv:
        raise SystemExit("no devenv on PATH; run this through `devenv run -- python ...`")
    devenv = os.path.abspath(options.devenv)
    interpreter = shebang_interpreter(devenv)
    env = _hermetic(os.path.dirname(interpreter))
    folder = tempfile.mkdtemp(prefix="devenv-bench-diag-")
    projects: dict[str, str] = {}

    def project(name: str, keys: int, packages: str = "") -> str:
        if name not in projects:
            projects[name] = _project(folder, name, keys, packages, devenv, env)
        return projects[name]

    def bench() -> str:
        return project("bench", 10, '"python-dotenv==1.2.4"')

    def re_resolve(keys: int) -> Step:
        root = project(f"keys{keys}", keys)
        return Step([devenv, "print-env"], root, env, before=_editor(root, keys))

    rows: dict[str, Callable[[], Step]] = {
        "re-resolve after a .env edit (10 keys)": lambda: re_resolve(10),
        "re-resolve after a .env edit (10 000 keys)": lambda: re_resolve(10_000),
        "devenv ps": lambda: Step([devenv, "ps"], bench(), env),
        "devenv explain": lambda: Step([devenv, "explain"], bench(), env),
        "devenv doctor (no services)": lambda: Step([devenv, "doctor"], bench(), env),
        "devenv lock --check": lambda: Step([devenv, "lock", "--check"], bench(), env),
    }
    try:
        steps = {T0: t0_step(interpreter)}
        steps |= {name: make() for name, make in rows.items() if options.only in name}
        samples = measure(steps, options.rounds)
        budgets = {name: ratio for name, ratio in BUDGETS.items() if name in steps}
        held = report(samples, budgets, f"{options.rounds} interleaved rounds, devenv {devenv}")
    finally:
        if options.keep:
            print(f"\nprojects kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
