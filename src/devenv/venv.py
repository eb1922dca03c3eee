"""The project's virtual environment: pick an interpreter, create the venv, install packages.

virtualenv creates the venv and pip installs into it; devenv only decides when either is
needed, so a second `devenv sync` with nothing changed installs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable

from devenv.errors import StaleError, SyncError
from devenv.resolver import venv_path
from devenv.spec import Spec
from devenv.store import PythonRecord

Progress = Callable[[str], None]

_PROBE = (
    "import json, platform, sys; print(json.dumps({'executable': sys.executable, "
    "'version': platform.python_version(), 'implementation': platform.python_implementation(), "
    "'base': getattr(sys, '_base_executable', sys.executable), 'prefix': sys.base_prefix}))"
)
_INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({d.metadata['Name'].lower() + '==' + d.version for d in m.distributions()})))"
)


def venv_python(spec: Spec) -> str:
    """The venv's interpreter: the canonical interpreter of the project."""
    return os.path.join(venv_path(spec), "bin", "python")


def probe_interpreter(executable: str) -> dict[str, str] | None:
    """Version facts about `executable`, or None when it does not run."""
    try:
        result = subprocess.run(
            [executable, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        facts: dict[str, str] = json.loads(result.stdout)
    except ValueError:
        return None
    return facts


def find_interpreter(requires: str, *, preferred: str | None = None) -> dict[str, str]:
    """The first interpreter satisfying `requires`: the one used last time, the one running
    devenv, then python3.X / python3 / python on PATH."""
    from packaging.specifiers import SpecifierSet

    specifier = SpecifierSet(requires)
    candidates = [preferred] if preferred else []
    candidates.append(getattr(sys, "_base_executable", sys.executable))
    candidates += [f"python3.{minor}" for minor in range(14, 7, -1)] + ["python3", "python"]
    seen: list[str] = []
    for candidate in candidates:
        if not candidate or candidate in seen:
            continue
        seen.append(candidate)
        facts = probe_interpreter(candidate)
        if facts and specifier.contains(facts["version"], prereleases=True):
            return facts
    raise SyncError(
        f"no Python interpreter satisfies [python].requires = {requires!r} "
        f"(tried: {', '.join(seen)}); install one, or change requires in envspec.toml"
    )


def python_inputs_digest(spec: Spec, base_interpreter: str, version: str) -> str:
    """A hash of everything that decides the venv's contents."""
    digest = hashlib.sha256()
    for part in (spec.python.requires, spec.python.venv, base_interpreter, version, *spec.python.packages):
        digest.update(part.encode() + b"\0")
    for folder in _local_projects(spec):
        for name in ("pyproject.toml", "setup.cfg", "setup.py"):
            try:
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read() + b"\0")
            except OSError:
                continue
    return digest.hexdigest()


def _local_projects(spec: Spec) -> list[str]:
    # `-e .` or `./pkg`: their metadata (dependencies) is part of what the venv holds.
    folders = []
    for package in spec.python.packages:
        for word in shlex.split(package):
            if word.startswith((".", "/")):
                folders.append(os.path.normpath(os.path.join(spec.root, word)))
    return folders


def installed_packages(python: str) -> list[str]:
    """`name==version` for every distribution installed for `python`, sorted."""
    result = subprocess.run([python, "-c", _INSTALLED], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SyncError(f"{python}: cannot list installed packages: {result.stderr.strip()}")
    packages: list[str] = json.loads(result.stdout)
    return packages


def sync_venv(
    spec: Spec, previous: PythonRecord | None, *, frozen: bool, progress: Progress
) -> tuple[PythonRecord, bool]:
    """Bring the venv in line with [python]; returns the record and whether anything changed."""
    venv = venv_path(spec)
    python = venv_python(spec)
    preferred = previous["base_interpreter"] if previous else None
    facts = find_interpreter(spec.python.requires or ">=0", preferred=preferred)
    base = facts["base"]
    digest = python_inputs_digest(spec, base, facts["version"])
    up_to_date = (
        previous is not None
        and previous["inputs_sha256"] == digest
        and os.path.exists(python)
        and previous["interpreter"] == python
    )
    drift: list[str] = []
    if up_to_date and previous is not None:
        # A package installed or removed by hand is drift too; only a fresh venv undoes it.
        current = installed_packages(python)
        if current == previous["installed"]:
            return previous, False
        drift = sorted(set(current) ^ set(previous["installed"]))
    if frozen:
        if drift:
            reason = f"packages changed by hand: {', '.join(drift)}"
        elif not os.path.exists(python):
            reason = "there is no venv yet"
        else:
            reason = "[python] changed since the last sync"
        raise StaleError(f"--frozen: {venv} is out of date ({reason}); run `devenv sync` without --frozen")

    if drift:
        progress(f"packages changed by hand since the last sync ({', '.join(drift)}); recreating the venv")
        recreate = True
    elif previous is None:
        # An existing venv made from the same interpreter is adopted, not wiped.
        existing = probe_interpreter(python) if os.path.exists(python) else None
        recreate = existing is None or os.path.realpath(existing["base"]) != os.path.realpath(base)
    else:
        # pip cannot remove what is no longer listed; a fresh venv can.
        recreate = (
            not os.path.exists(python)
            or previous["base_interpreter"] != base
            or not set(previous["packages"]) <= set(spec.python.packages)
        )
    if recreate:
        progress(
            f"creating {os.path.relpath(venv, spec.root)} with "
            f"{facts['implementation']} {facts['version']} ({base})"
        )
        _create_venv(venv, base)
    packages = [word for package in spec.python.packages for word in shlex.split(package)]
    if packages:
        progress(f"installing {len(spec.python.packages)} requirement(s): {', '.join(spec.python.packages)}")
        _pip_install(python, packages, cwd=spec.root)
    installed = installed_packages(python)
    record: PythonRecord = {
        "base_interpreter": base,
        "interpreter": python,
        "version": facts["version"],
        "implementation": facts["implementation"],
        "requires": spec.python.requires,
        "venv": venv,
        "packages": list(spec.python.packages),
        "installed": installed,
        "inputs_sha256": digest,
    }
    return record, True


def _create_venv(venv: str, base: str) -> None:
    from virtualenv import cli_run

    try:
        cli_run([venv, "--python", base, "--clear", "--quiet"], setup_logging=False)
    except (SystemExit, Exception) as exc:  # virtualenv reports bad input with SystemExit
        raise SyncError(f"virtualenv could not create {venv} with {base}: {exc}") from None


def _pip_install(python: str, packages: list[str], *, cwd: str) -> None:
    # pip's own progress goes to our stderr: stdout of devenv carries data only.
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", *packages]
    result = subprocess.run(command, cwd=cwd, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise SyncError(
            f"pip install failed (exit {result.returncode}) for: {' '.join(packages)}; "
            "see pip's output above, fix [python].packages in envspec.toml, then run `devenv sync`"
        )
