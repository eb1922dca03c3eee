"""The pre-rendered files under `.devenv/` (env.sh, env.fish, env.ps1), sourced as files by the
real shells, fresh and stale, with every value of the hostile table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import require_tool
from tests.data.hostile_values import HOSTILE
from tests.support.projects import Project, hermetic_env

SPEC = """\
[project]
name = "hostile"

[python]
venv = "{venv}"

[dotenv]
files = [".env"]
"""

#: The shell, how it sources a file and dumps the environment NUL-separated.
SHELLS = {
    "dash": ["dash", "-c", '. "$1"; exec /usr/bin/env -0', "dash"],
    "bash": ["bash", "--norc", "--noprofile", "-c", '. "$1"; exec /usr/bin/env -0', "bash"],
    "zsh": ["zsh", "-f", "-c", '. "$1"; exec /usr/bin/env -0', "zsh"],
    "fish": ["fish", "--no-config", "-c", "source $argv[1]; and /usr/bin/env -0"],
}
FILES = {"dash": "env.sh", "bash": "env.sh", "zsh": "env.sh", "fish": "env.fish"}


def python_dotenv_quote(value: str) -> str:
    """`value` single-quoted as devenv's dotenv reader (python-dotenv's parser) reads it literally."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def canonical(project: Project) -> dict[str, str]:
    """The values devenv resolved (print-env --format json), every H_ key among them."""
    result = project.devenv("print-env", "--format", "json")
    assert result.returncode == 0, result.stderr
    values: dict[str, str] = json.loads(result.stdout)
    assert {key for key in values if key.startswith("H_")} == {f"H_{i}" for i in range(len(HOSTILE))}
    return values


def hostile_project(project: Project) -> Project:
    """A project whose .env sets H_0..H_n to every hostile value (single-quoted: literal)."""
    project.write("envspec.toml", SPEC.format(venv=project.venv))
    text = "".join(f"H_{index}={python_dotenv_quote(value)}\n" for index, (_, value) in enumerate(HOSTILE))
    (project.root / ".env").write_bytes(text.encode("utf-8", "surrogateescape"))
    return project


def sourced(shell: str, project: Project, *, path: str = "/usr/bin:/bin") -> dict[str, str]:
    argv = list(SHELLS[shell])
    argv[0] = require_tool(argv[0])
    target = str(project.root / ".devenv" / FILES[shell])
    result = subprocess.run(
        [*argv, target], cwd=project.root, env=hermetic_env(PATH=path), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert not (project.root / "CANARY").exists(), f"{shell} executed part of a value"
    items = (item.split(b"=", 1) for item in result.stdout.split(b"\0") if item)
    return {key.decode(): value.decode("utf-8", "surrogateescape") for key, value in items}


@pytest.mark.parametrize("shell", list(SHELLS))
def test_fresh_prerendered_file_carries_every_hostile_value(project: Project, shell: str) -> None:
    hostile_project(project).sync()
    expected = canonical(project)
    got = sourced(shell, project)
    wrong = [key for key, value in expected.items() if key != "PATH" and got.get(key) != value]
    assert wrong == []


@pytest.mark.parametrize("shell", list(SHELLS))
def test_stale_prerendered_file_carries_every_hostile_value(project: Project, shell: str) -> None:
    # Stale: the file asks devenv (the one that wrote it) for the current values.
    hostile_project(project).sync()
    time.sleep(0.01)
    with (project.root / ".env").open("a", encoding="utf-8") as handle:
        handle.write("ADDED='after the sync'\n")
    future = time.time() + 2
    os.utime(project.root / ".env", (future, future))
    got = sourced(shell, project)
    expected = canonical(project)
    wrong = [key for key, value in expected.items() if key != "PATH" and got.get(key) != value]
    assert wrong == []
    assert got["ADDED"] == "after the sync"


def test_fish_file_keeps_continuation_lines_of_multi_line_values(project: Project) -> None:
    # The pre-rendered env.fish used to indent every line of its body, continuation lines
    # of a quoted value included: `X = "a\nb"` came back as "a\n    b".
    project.write("envspec.toml", SPEC.format(venv=project.venv))
    project.write(".env", 'X="a\\nb"\nPEM="-----BEGIN KEY-----\\nabc\\n-----END KEY-----"\n')
    project.sync()
    got = sourced("fish", project)
    assert got["X"] == "a\nb"
    assert got["PEM"] == "-----BEGIN KEY-----\nabc\n-----END KEY-----"
    expected = json.loads(project.devenv("print-env", "--format", "json").stdout)
    assert {key: got[key] for key in ("X", "PEM")} == {key: expected[key] for key in ("X", "PEM")}


def test_powershell_file_carries_every_hostile_value(project: Project) -> None:
    # PowerShell cannot run on this machine (there is no pwsh package for it here), so this
    # test skips even under CI; env.ps1 is otherwise checked only against PowerShell's
    # documented quoting rules (tests/unit/test_renderers.py).
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("PowerShell (pwsh) cannot run here: env.ps1 is checked against its documented rules only")
    hostile_project(project).sync()
    expected = canonical(project)
    script = ". ./.devenv/env.ps1; Get-ChildItem Env: | ForEach-Object { $_.Name + '=' + $_.Value + [char]0 }"
    result = subprocess.run(
        [pwsh, "-NoProfile", "-NonInteractive", "-Command", script],
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    items = (item.lstrip(b"\r\n").split(b"=", 1) for item in result.stdout.split(b"\0") if b"=" in item)
    got = {key.decode(): value.decode("utf-8", "surrogateescape") for key, value in items}
    assert {k: got.get(k) for k in expected if k.startswith("H_")} == {
        k: v for k, v in expected.items() if k.startswith("H_")
    }
