"""The sdist setuptools builds from this checkout: license, metadata, tests and docs inside."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tarfile.TarFile:
    """The sdist of a copy of the checkout's tracked files, built by the declared backend."""
    folder = tmp_path_factory.mktemp("sdist")
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    copy = folder / "devenv"
    for name in filter(None, tracked):
        source = REPO / name.decode()
        if source.is_file():
            target = copy / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "setuptools>=77"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    script = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    out = folder / "dist"
    built = subprocess.run(
        [python, "-c", script, str(out)], cwd=copy, capture_output=True, text=True, timeout=300, check=True
    )
    return tarfile.open(out / built.stdout.strip().splitlines()[-1])


def test_sdist_carries_license_tests_and_docs(sdist: tarfile.TarFile) -> None:
    names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for expected in (
        "LICENSE",
        "README.md",
        "docs/architecture.md",
        "tests/conftest.py",
        "tests/data/hostile_values.py",
        "tests/unit/test_renderers.py",
        "tests/support/vscode_envfile.py",
        "noxfile.py",
    ):
        assert expected in names, expected
    assert not [name for name in names if "__pycache__" in name or name.startswith(".devenv/")]


def test_sdist_metadata_says_license_python_and_classifiers(sdist: tarfile.TarFile) -> None:
    member = next(name for name in sdist.getnames() if name.count("/") == 1 and name.endswith("/PKG-INFO"))
    handle = sdist.extractfile(member)
    assert handle is not None
    metadata = handle.read().decode()
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "Classifier: Framework :: Pytest" in metadata
    assert "MIT License" in (REPO / "LICENSE").read_text()
