"""scripts/bootstrap with a real interpreter change: a venv made by a Python older than the
project allows is made again instead of failing until it is removed by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = '[project]\nname = "tiny"\nversion = "0"\n[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'


def test_a_bootstrap_venv_made_by_a_too_old_python_is_made_again(tmp_path: Path) -> None:
    pyenv = Path(os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")))
    old = next(iter(sorted(pyenv.glob("versions/3.10.*/bin/python3"))), None)
    new = next(iter(sorted(pyenv.glob("versions/3.11.*/bin/python3"))), None)
    if old is None or new is None:
        if os.environ.get("CI"):
            pytest.fail("pyenv's 3.10 and 3.11 are needed")
        pytest.skip("pyenv's 3.10 and 3.11 are not installed here")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text(TINY)
    (tmp_path / "tiny.py").write_text("")
    env = {key: os.environ[key] for key in ("PATH", "HOME", "PIP_CERT", "SSL_CERT_FILE") if key in os.environ}
    python = tmp_path / ".devenv" / "bootstrap" / "bin" / "python"
    for interpreter in (old, new):
        result = subprocess.run(
            ["scripts/bootstrap", "python", "-c", "import sys; print(sys.version_info[:2])"],
            cwd=tmp_path,
            env=env | {"PYTHON": str(interpreter)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
    assert "older than 3.11; making it again" in result.stderr
    assert result.stdout == "(3, 11)\n"
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    assert version.stdout == "(3, 11)\n"


def test_the_bootstrap_venv_has_bytecode_for_what_it_installs_under_no_bytecode_writes(
    tmp_path: Path,
) -> None:
    # uv writes no bytecode by default; with PYTHONDONTWRITEBYTECODE=1 (CI, containers) Python
    # then compiles every dependency again on each devenv command.
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap", tmp_path / "scripts" / "bootstrap")
    (tmp_path / "pyproject.toml").write_text(
        TINY.replace('version = "0"\n', 'version = "0"\ndependencies = ["python-dotenv"]\n')
    )
    (tmp_path / "tiny.py").write_text("")
    env = {key: os.environ[key] for key in ("PATH", "HOME", "PIP_CERT", "SSL_CERT_FILE") if key in os.environ}
    result = subprocess.run(
        ["scripts/bootstrap", "python", "-c", "import dotenv; print(dotenv.__file__)"],
        cwd=tmp_path,
        env=env | {"PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    package = Path(result.stdout.strip()).parent
    assert str(package).startswith(str(tmp_path / ".devenv" / "bootstrap"))
    assert list((package / "__pycache__").glob("main.cpython-*.pyc")), "no bytecode for python-dotenv"
