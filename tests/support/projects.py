"""Throw-away devenv projects for tests: write files, run the real CLI, read results."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEVENV = os.path.join(os.path.dirname(sys.executable), "devenv")

#: The checks `devenv doctor` runs for DEFAULT_SPEC (no services), in the order it runs them:
#: the order a user fixes problems in.
DOCTOR_CHECKS = ["spec", "interpreter", "packages", "pythonpath", "variables", "code keys", "state", "shell"]

DEFAULT_SPEC = """\
[project]
name = "demo"

[python]
requires = ">=3.11"
venv = "{venv}"

[paths]
pythonpath = ["lib-a/src", "lib-b/src"]

[dotenv]
files = [".env.defaults", ".env"]
optional = [".env"]
required = ["DATABASE_URL"]

[vars]
PYTHONUNBUFFERED = "1"
SERVICE = "demo"

[env]
inherit = ["DEMO_TOKEN"]
unset = ["PYTHONHOME", "DEMO_UNSET_ME"]
secret = ["DEMO_TOKEN"]
"""

DEFAULT_DOTENV = """\
# defaults for the demo project
DATABASE_URL=sqlite:///${DEVENV_ROOT}/demo.db
GREETING="hello ${SERVICE}"
LITERAL='${NOT_EXPANDED}'
"""


def make_shared_venv(path: Path) -> str:
    """Create a virtualenv (without pip: nothing is installed into it) and return its path."""
    from virtualenv import cli_run

    cli_run([str(path), "--python", sys.executable, "--no-seed", "--quiet"], setup_logging=False)
    return str(path)


def hermetic_env(**extra: str) -> dict[str, str]:
    """A small, predictable outer environment for a devenv child."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
    }
    if os.environ.get("CI"):
        env["CI"] = os.environ["CI"]
    env.update(extra)
    return env


def index_env(**extra: str) -> dict[str, str]:
    """`hermetic_env` plus the machine's pip configuration (an extra file:// index) and CA
    bundle: what a user's devenv reaches an index with (none of it may reach a lock)."""
    base = hermetic_env(**extra)
    for key in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_CERT", "SSL_CERT_FILE"):
        if key in os.environ:
            base[key] = os.environ[key]
    return base


def uv_pylock(root: Path, requirements: str = "requirements.in") -> None:
    """pylock.toml as another tool writes it: `uv pip compile --format pylock.toml`."""
    uv = os.path.join(os.path.dirname(sys.executable), "uv")
    made = subprocess.run(
        [uv, "pip", "compile", "--no-config", "--format", "pylock.toml", requirements, "-o", "pylock.toml"],
        cwd=root,
        env=index_env(),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr


@dataclass
class Project:
    """A project folder with an envspec.toml; `devenv()` runs the real CLI inside it."""

    root: Path
    venv: str

    @classmethod
    def create(
        cls, root: Path, *, venv: str, spec: str | None = None, dotenv: str = DEFAULT_DOTENV
    ) -> Project:
        root.mkdir(parents=True)
        for folder in ("lib-a/src", "lib-b/src"):
            (root / folder).mkdir(parents=True)
        project = cls(root=root, venv=venv)
        project.write("envspec.toml", spec if spec is not None else DEFAULT_SPEC.format(venv=venv))
        project.write(".env.defaults", dotenv)
        return project

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def devenv(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DEVENV, *args],
            cwd=cwd or self.root,
            env=env if env is not None else hermetic_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(self, script: str, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `script` with the interpreter devenv is installed in, in the project folder."""
        return subprocess.run(
            [os.path.join(os.path.dirname(DEVENV), "python"), "-c", script],
            cwd=self.root,
            env=hermetic_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def sync(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = self.devenv("sync", *args, env=env)
        assert result.returncode == 0, result.stderr
        return result

    def user_files_digest(self) -> dict[str, str]:
        """sha256 of every file the user wrote (envspec.toml and .env*): devenv must not change them."""
        digests = {}
        for path in sorted(self.root.iterdir()):
            if path.is_file() and (path.name == "envspec.toml" or path.name.startswith(".env")):
                digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        return digests
