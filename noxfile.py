"""nox sessions for devenv, all in the canonical environment.

Every session runs with `venv_backend="none"` and goes through `devenv`: nox builds no
virtualenv of its own, so `nox -s tests`, a shell that sourced .devenv/env.sh and CI all see
the same interpreter and variables. `env` syncs .devenv/ and every other session requires it.
"""

from __future__ import annotations

import os
import shutil
import sys

import nox

#: The devenv installed next to this nox (scripts/bootstrap's venv), else the one on PATH:
#: `.devenv/bootstrap/bin/nox -s tests` works without activating anything.
DEVENV = os.path.join(os.path.dirname(sys.executable), "devenv")
if not os.path.exists(DEVENV):
    DEVENV = shutil.which("devenv") or "devenv"

nox.options.sessions = ["tests", "lint"]
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False


@nox.session(venv_backend="none")
def env(session: nox.Session) -> None:
    """Create/refresh .devenv/ (venv, packages, resolved variables); under -R/--no-install, only verify."""
    # `nox -R` and `--no-install` promise not to install: then only check, and fail when the
    # venv is out of sync. nox has no public accessor for the option, so read its config.
    if session._runner.global_config.no_install:
        session.run(DEVENV, "sync", "--check", external=True)
    else:
        session.run(DEVENV, "sync", external=True)


@nox.session(venv_backend="none", requires=["env"], tags=["tests"])
def tests(session: nox.Session) -> None:
    """Unit, integration and reference-workspace tests (real shells, real subprocesses, the real CLI)."""
    session.run(DEVENV, "run", "--", "python", "-m", "pytest", *session.posargs, external=True)


@nox.session(venv_backend="none", requires=["env"], tags=["tests", "e2e"])
def e2e(session: nox.Session) -> None:
    """End-to-end tests against the reference worker on the real RabbitMQ; fails if a process outlives them.

    `nox -s e2e -- -n 2` runs them on two xdist workers. nox -l shows only the first line.
    """
    import devenv

    session.run(DEVENV, "run", "--", "python", "-m", "pytest", "tests/e2e", *session.posargs, external=True)
    # A worker whose test session is gone would keep consuming: no run may leave one behind.
    left = [p for p in devenv.ps() if p.leftover]
    if left:
        session.error(
            "processes outlived the test run: "
            + ", ".join(f"{p.name} (pid {p.pid}, {p.launcher})" for p in left)
            + "; `devenv stop --all` ends them"
        )


@nox.session(venv_backend="none", requires=["env"])
def worker(session: nox.Session) -> None:
    """Start the reference worker in the foreground (same as `devenv up worker -- ARGS`)."""
    # On Ctrl-C devenv stops the worker tree in order (Dramatiq needs a few seconds); nox's
    # default escalation (SIGTERM after 0.3 s, SIGKILL 0.2 s later) would orphan it.
    session.run(
        DEVENV,
        "up",
        "worker",
        *(["--", *session.posargs] if session.posargs else []),  # `nox -s worker -- --watch src`
        external=True,
        interrupt_timeout=30,
        terminate_timeout=10,
        success_codes=[0, 130],  # Ctrl-C is how a foreground worker is meant to end
    )


#: What `lowest` runs: the unit tests and every test of a readiness probe or service check
#: (the code that calls psutil, pika, redis-py and psycopg). The reference workspace's own
#: tests (tests/workspace) are not among them: their packages are pinned by envspec.toml, not
#: by devenv's declared ranges; nor is the test of this noxfile, which is this repository's
#: own tool and runs with the locked nox (its `requires=` needs a newer nox than devenv does).
LOWEST_TESTS = [
    "tests/unit",
    "--ignore=tests/unit/test_lowest_versions.py",
    "tests/integration/test_readiness.py",
    "tests/integration/test_service_checks.py",
    "tests/integration/test_services.py",
    "tests/integration/test_processes.py",
    "-k",
    "not test_processes or (tcp_probe or consumer or probe_that or probe_s_pika) and not dramatiq",
]


def lowest_constraints(pyproject: str = "pyproject.toml") -> list[str]:
    """`name==X` for every dependency (extras included) at the lowest version its range allows."""
    import tomllib

    from packaging.requirements import Requirement

    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    lines = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    pins = []
    for line in lines:
        requirement = Requirement(line)
        floors = [s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        if not floors:
            raise ValueError(f"pyproject.toml: {line!r} has no lower bound; give it one (>=)")
        pins.append(f"{requirement.name}=={floors[0]}")
    return pins


@nox.session(venv_backend="virtualenv")
def lowest(session: nox.Session) -> None:
    """Unit and readiness tests with the lowest version of every dependency pyproject.toml allows."""
    # A fresh virtualenv of its own: the canonical one holds the locked (newest) versions.
    constraints = os.path.join(session.create_tmp(), "lowest.txt")
    with open(constraints, "w") as handle:
        handle.write("\n".join(lowest_constraints()) + "\n")
    tools = [line for line in _spec_packages() if line.split("==")[0] in ("pytest", "hypothesis")]
    session.install("-c", constraints, "-e", ".[postgres]", *tools)
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *LOWEST_TESTS, *session.posargs)


def _spec_packages() -> list[str]:
    import tomllib

    with open("envspec.toml", "rb") as handle:
        return list(tomllib.load(handle)["python"]["packages"])


@nox.session(venv_backend="none", requires=["env"], tags=["lint"])
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict."""
    session.run(DEVENV, "run", "--", "ruff", "check", ".", external=True)
    session.run(DEVENV, "run", "--", "ruff", "format", "--check", ".", external=True)
    session.run(DEVENV, "run", "--", "mypy", external=True)


@nox.session(venv_backend="none", requires=["env"], tags=["bench"])
def bench(session: nox.Session) -> None:
    """Start-up benchmark of print-env and run, as ratios against T0 (`python -c pass`)."""
    session.run(DEVENV, "run", "--", "python", "benchmarks/cli_startup.py", *session.posargs, external=True)
