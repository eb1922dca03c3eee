"""The `.devenv/` layout: the one place that knows where each file devenv keeps lives.

Every other module asks here instead of joining ".devenv" and a file name itself, so the
layout can change in one place (docs/architecture.md, "The .devenv/ contract").
On the `print-env` / `run` path, so it imports only `os`.
"""

import os

#: The folder, relative to the project root.
STATE_DIR = ".devenv"
#: The default [python].venv, as written in envspec.toml (relative to the project root).
DEFAULT_VENV = STATE_DIR + "/venv"

#: The full resolution with provenance (JSON, for explain, doctor, diff and export).
ENV_JSON = "env.json"
#: The resolved environment in the cheap NUL-separated form `print-env` and `run` read.
SNAPSHOT = "env.nul"
#: The last parse of each dotenv file, which the next one reuses (devenv/dotenv_cache.py).
PARSE_CACHE = "dotenv.nul"
#: What a no-op `devenv sync` compares with (stat records of the venv and the lock).
SYNC_STAMP = "sync.nul"
#: What probing each interpreter found, while it is unchanged (devenv/interpreter_cache.py).
INTERPRETERS = "interpreters.json"
#: What parsing each lock found, while its bytes are unchanged (devenv/lock_cache.py).
LOCKS = "locks.json"
#: What the packaging library answered about the project's lines and markers (devenv/packaging_cache.py).
PACKAGING = "packaging.json"
#: The parse of each [[packages]] table the installer's last lock held (devenv/resolved_cache.py).
RESOLVED = "resolved.json"
#: flock()ed by every writer of `.devenv/`.
LOCK = "lock"
#: Present while a sync changes the venv (or after one was killed): nothing may launch.
SYNC_INCOMPLETE = "sync-incomplete"
#: A lock made without a committed one (`devenv sync` in a project that never ran `devenv lock`).
PRIVATE_LOCK = "pylock.toml"
#: Makes git ignore the whole folder.
GITIGNORE = ".gitignore"
#: Pre-rendered environment files and their formats: sourcing one costs no Python start-up.
RENDERED = (("env.sh", "sh"), ("env.fish", "fish"), ("env.ps1", "powershell"), ("env.dotenv", "dotenv"))
#: Folders: process and service logs, run records of launched processes, service records.
LOGS = "logs"
RUNS = "runs"
SERVICES = "services"
#: The lock and state of the `devenv up` holding each instance.
UP = "up"


def state_dir(root: str) -> str:
    """The `.devenv/` folder of the project at `root`."""
    return os.path.join(root, STATE_DIR)


def state_path(root: str, name: str) -> str:
    """The path of `name` (one of the names above) inside the `.devenv/` of `root`."""
    return os.path.join(root, STATE_DIR, name)
