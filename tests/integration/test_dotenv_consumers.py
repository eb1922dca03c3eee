"""`--format dotenv` and `.devenv/env.dotenv`, read back by the programs that read them:
python-dotenv (as `load_dotenv` reads a file), npm `dotenv` (installed from the npm registry),
VS Code's envFile parser (a port: it runs inside the editor) and direnv's `dotenv`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import dotenv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.errors import RenderError
from devenv.renderers import render
from devenv.renderers.dotenv_file import DIRENV, NPM_DOTENV, PYTHON_DOTENV, VSCODE
from tests.conftest import require_tool
from tests.data.hostile_values import HOSTILE
from tests.support.canonical import make_env
from tests.support.projects import Project
from tests.support.vscode_envfile import parse as parse_vscode

NPM_DOTENV_VERSION = "17.4.2"

Reader = Callable[[str], "dict[str, str] | None"]


@pytest.fixture(scope="session")
def npm_dotenv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder holding npm's `dotenv` package, installed from the registry for this session."""
    npm = require_tool("npm")
    require_tool("node")
    folder = tmp_path_factory.mktemp("npm-dotenv")
    result = subprocess.run(
        [npm, "install", "--no-save", "--no-audit", "--no-fund", f"dotenv@{NPM_DOTENV_VERSION}"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        message = f"npm could not install dotenv: {result.stderr[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(folder)


@pytest.fixture
def readers(npm_dotenv: str, tmp_path: Path) -> dict[str, Reader]:
    """Each consumer, as a function from a file's text to what it reads (None: it refuses)."""
    direnv = require_tool("direnv")
    node = require_tool("node")
    path = tmp_path / "env.dotenv"
    script = (
        "const fs = require('fs');"
        "process.stdout.write(JSON.stringify(require('dotenv').parse(fs.readFileSync(process.argv[1]))));"
    )

    def write(text: str) -> None:
        path.write_bytes(text.encode("utf-8", "surrogateescape"))

    def python_dotenv(text: str) -> dict[str, str] | None:
        write(text)
        # As load_dotenv and `dotenv run` read it: from the file, with interpolation.
        return {k: v or "" for k, v in dotenv.dotenv_values(path).items()}

    def npm(text: str) -> dict[str, str] | None:
        write(text)
        result = subprocess.run(
            [node, "-e", script, str(path)],
            cwd=npm_dotenv,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "NODE_PATH": os.path.join(npm_dotenv, "node_modules")},
            timeout=30,
            check=True,
        )
        return dict(json.loads(result.stdout))

    def vscode(text: str) -> dict[str, str] | None:
        write(text)
        # VS Code reads the file as a Buffer and decodes it as UTF-8.
        return parse_vscode(path.read_bytes().decode("utf-8", "replace"))

    def direnv_dotenv(text: str) -> dict[str, str] | None:
        write(text)
        result = subprocess.run(
            [direnv, "dotenv", "json", str(path)],
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            return None  # direnv aborts the whole file
        return {k: v for k, v in json.loads(result.stdout or b"{}").items() if k in _keys(text)}

    return {PYTHON_DOTENV: python_dotenv, NPM_DOTENV: npm, VSCODE: vscode, DIRENV: direnv_dotenv}


def _keys(text: str) -> set[str]:
    # direnv's json output is the whole resulting environment diff: keep the file's keys.
    return {line.split("=", 1)[0] for line in text.split("\n") if "=" in line and not line.startswith("#")}


def _candidate_forms(value: str) -> list[str]:
    """The ways a writer could quote `value` (python-dotenv's own quoting among them)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return [f"'{escaped}'", f"'{value}'", '"' + value.replace("\n", "\\n") + '"', value]


@pytest.mark.parametrize("value", [value for _, value in HOSTILE], ids=[name for name, _ in HOSTILE])
def test_hostile_value_reads_the_same_everywhere_or_is_refused(
    value: str, readers: dict[str, Reader]
) -> None:
    env = make_env({"HOSTILE": value, "AFTER": "x"})
    try:
        text = render("dotenv", env)
    except RenderError as error:
        message = str(error)
        assert message.startswith("devenv cannot write HOSTILE in dotenv format:")
        named = [name for name in readers if name in message]
        assert named, message
        # The refusal is honest: however the value is quoted, a reader it names misreads it.
        for form in _candidate_forms(value):
            line = f"HOSTILE={form}\nAFTER=x\n"
            assert any(readers[name](line) != {"HOSTILE": value, "AFTER": "x"} for name in named), form
        return
    for name, read in readers.items():
        assert read(text) == {"AFTER": "x", "HOSTILE": value}, name


def test_the_whole_table_in_one_prerendered_file_reads_the_same_everywhere(
    project: Project, readers: dict[str, Reader]
) -> None:
    # The pre-rendered env.dotenv leaves out (with a comment) what it cannot carry, so no
    # reader aborts on it and every one reads the same values.
    lines = []
    for index, (_, value) in enumerate(HOSTILE):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        lines.append(f"H_{index}='{escaped}'\n")
    (project.root / ".env").write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    project.sync()
    text = (project.root / ".devenv" / "env.dotenv").read_text(encoding="utf-8", errors="surrogateescape")
    reads = {name: read(text) for name, read in readers.items()}
    first = reads[PYTHON_DOTENV]
    assert first is not None
    for name, got in reads.items():
        assert got == first, name
    # Every key is either read exactly as devenv resolved it or left out with a comment.
    canonical = json.loads(project.devenv("print-env", "--format", "json").stdout)
    left_out = {line.split(" ", 2)[1] for line in text.split("\n") if line.endswith("or --format json")}
    for key, value in canonical.items():
        if key != "PATH":
            assert (key in left_out) != (first.get(key) == value), key
    assert len(left_out) < len(HOSTILE) // 4


def test_print_env_refuses_a_value_a_reader_would_change(project: Project) -> None:
    spec = (project.root / "envspec.toml").read_text()
    project.write("envspec.toml", spec.replace("[vars]\n", '[vars]\nDEMO_TOKEN_X = "a\\rsecret-value"\n'))
    project.sync()  # the pre-rendered env.dotenv leaves it out instead
    assert (
        "# DEMO_TOKEN_X is left out: its value contains a carriage return"
        in (project.root / ".devenv" / "env.dotenv").read_text()
    )
    result = project.devenv("print-env", "--format", "dotenv")
    assert result.returncode == 2
    assert result.stderr == (
        "devenv: error: devenv cannot write DEMO_TOKEN_X in dotenv format: its value contains a carriage"
        f" return, which {PYTHON_DOTENV} and {NPM_DOTENV} read as a line feed; use --format json or devenv run\n"
    )
    assert "secret-value" not in result.stderr


def test_a_key_vscode_skips_is_refused(readers: dict[str, Reader]) -> None:
    with pytest.raises(RenderError, match=f"_9 in dotenv format: its name .*{VSCODE}"):
        render("dotenv", make_env({"_9": "x"}))
    assert readers[VSCODE]("_9='x'\n") == {}


SAFE = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
FRAGMENTS = st.sampled_from(["'", '"', "\\", "\n", "$", "${A}", "#", " ", "\\n", "`", "=", "\t", "é"])
VALUES = st.lists(st.one_of(SAFE, FRAGMENTS), max_size=5).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=VALUES)
def test_any_value_reads_the_same_everywhere_or_is_refused(value: str, readers: dict[str, Reader]) -> None:
    try:
        text = render("dotenv", make_env({"K": value}))
    except RenderError:
        return
    for name, read in readers.items():
        assert read(text) == {"K": value}, name
