"""Shared fixtures: a leak guard for os.environ and throw-away devenv projects."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.projects import Project, make_shared_venv


@pytest.fixture(autouse=True)
def _environ_guard() -> Iterator[None]:
    """Fail any test that leaves a change to os.environ behind (and undo it)."""
    before = dict(os.environ)
    yield
    after = dict(os.environ)
    # pytest itself sets PYTEST_CURRENT_TEST for the running phase.
    for name in ("PYTEST_CURRENT_TEST",):
        before.pop(name, None)
        after.pop(name, None)
    if after != before:
        for key in set(after) - set(before):
            del os.environ[key]
        os.environ.update(before)
        changed = sorted(set(before) ^ set(after) | {k for k in before if before.get(k) != after.get(k)})
        pytest.fail(f"test leaked changes to os.environ: {changed}")


@pytest.fixture(scope="session")
def shared_venv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One virtualenv for every throw-away project (creating one per test costs ~1.5 s)."""
    return make_shared_venv(tmp_path_factory.mktemp("venv") / "venv")


@pytest.fixture
def project(tmp_path: Path, shared_venv: str) -> Project:
    """A minimal project in tmp_path using the shared venv; not synced yet."""
    return Project.create(tmp_path / "proj", venv=shared_venv)


def require_tool(name: str) -> str:
    """The path of `name`; a skip locally, a failure under CI where everything must exist."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must install it: see .ci/run)")
        pytest.skip(message)
    return path
