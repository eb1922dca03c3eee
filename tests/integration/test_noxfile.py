"""The repository's noxfile as `nox` itself lists it: tags select sessions, descriptions are whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOX = os.path.join(os.path.dirname(sys.executable), "nox")
SESSIONS = ["env", "tests", "e2e", "worker", "lowest", "lint", "bench"]


def nox_list(*args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [NOX, "--list", "--json", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


@pytest.mark.parametrize(
    ("tag", "selected"), [("lint", ["lint"]), ("e2e", ["e2e"]), ("tests", ["tests", "e2e"])]
)
def test_a_tag_selects_its_sessions(tag: str, selected: list[str]) -> None:
    # `env` is listed too: every session requires it.
    names = [str(item["name"]) for item in nox_list("-t", tag)]
    assert names == ["env", *selected]


def test_every_description_is_a_whole_sentence() -> None:
    # `nox -l` shows a docstring's first line only; e2e's used to stop mid-sentence.
    listed = nox_list("-s", *SESSIONS)
    assert [item["name"] for item in listed] == SESSIONS
    for item in listed:
        description = str(item["description"])
        assert description.endswith("."), (item["name"], description)
    e2e = next(item for item in listed if item["name"] == "e2e")
    assert "fails if a process outlives them" in str(e2e["description"])


def test_nox_unsets_a_variable_given_as_none(tmp_path: Path) -> None:
    # The README's example noxfile says so: session.run(env={"K": None}) removes K.
    (tmp_path / "noxfile.py").write_text(
        "import nox\n\n\n@nox.session(venv_backend='none')\n"
        "def probe(session):\n"
        "    session.run('sh', '-c', 'echo \"K=${K-unset}\" > out', env={'K': None}, external=True)\n"
    )
    env = {**os.environ, "K": "from outside"}
    subprocess.run([NOX, "-s", "probe"], cwd=tmp_path, env=env, capture_output=True, timeout=60, check=True)
    assert (tmp_path / "out").read_text() == "K=unset\n"
