"""The `lowest` nox session pins every declared dependency at the floor of its range."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import noxfile  # noqa: E402


def test_every_dependency_is_pinned_at_its_floor() -> None:
    pins = noxfile.lowest_constraints(str(ROOT / "pyproject.toml"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    assert sorted(pin.split("==")[0] for pin in pins) == sorted(Requirement(line).name for line in declared)
    # The floors the README names; psutil 6.0 is the first with Process.net_connections.
    assert {"psutil==6.0", "redis==5.0", "psycopg==3.1.4"} <= set(pins)


def test_a_dependency_without_a_floor_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["psutil"]\n')
    try:
        noxfile.lowest_constraints(str(tmp_path / "pyproject.toml"))
    except ValueError as error:
        assert "'psutil' has no lower bound" in str(error)
    else:
        raise AssertionError("a dependency without a floor cannot be tested at its floor")
