"""The public Python API (`import devenv`): what the README documents is exactly what it
exports, each name documented, and every function works on its second call too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import devenv
from tests.support.projects import DEFAULT_SPEC, Project

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_api_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n### Python API\n")
    return text[start : text.index("\n### ", start + 1)]


def test_the_public_surface_is_what_the_readme_documents() -> None:
    first_cells = [
        line.split("|")[1] for line in _python_api_section().splitlines() if line.startswith("| `devenv.")
    ]
    documented = {name for cell in first_cells for name in re.findall(r"`devenv\.(\w+)", cell)}
    assert documented == set(devenv.__all__)


def test_every_public_name_is_documented_and_importable() -> None:
    for name in devenv.__all__:
        value = getattr(devenv, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"devenv.{name} has no docstring"
    assert issubclass(devenv.TaskError, devenv.ProcessError)
    assert issubclass(devenv.ProcessError, devenv.DevenvError)


def test_import_devenv_is_cheap() -> None:
    script = "import sys, devenv; print(sorted(m for m in sys.modules if m.startswith('devenv')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['devenv']", "every public name is imported on first use"


#: Each public function twice, in a fresh interpreter (as a script or noxfile runs it): the
#: first call must not replace a function on the package (the `devenv.ps` module once did).
TWICE = """\
import os, devenv
for _ in range(2):
    root = devenv.find_root()
    env = devenv.load()
    assert isinstance(env, devenv.CanonicalEnv) and env.root == root
    child = devenv.apply(env)
    assert child["DEVENV_ROOT"] == root
    instance = devenv.new_instance("twice")
    with devenv.start("worker", instance=instance) as worker:
        assert isinstance(worker, devenv.ProcessHandle)
        assert [p.pid for p in devenv.ps() if p.instance == instance] == [worker.pid]
    assert all(isinstance(p, devenv.ProcessInfo) for p in devenv.ps())
try:
    devenv.start("nothere")
except devenv.DevenvError as error:
    print("refused:", error)
print("ok")
"""


def test_every_public_function_works_twice(project: Project) -> None:
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + '[processes.worker]\ncommand = ["python", "-u", "worker.py"]\nready = { log = "^ready" }\n',
    )
    project.write("worker.py", "import time\nprint('ready')\ntime.sleep(60)\n")
    project.sync()
    result = project.python(TWICE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("ok\n"), result.stdout
    assert "refused: " in result.stdout
