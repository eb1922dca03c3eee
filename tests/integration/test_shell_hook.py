"""`devenv hook bash|zsh|fish`, driven through a real interactive shell on a pseudo-terminal:
`cd` into a project, an edit, `cd` to a second project, `cd` out, with every value checked at
every step against what `devenv print-env` gives and the exact environment from before."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.support.interactive import InteractiveShell
from tests.support.projects import DEVENV, Project

#: Variables a shell sets or changes by itself (not the hook's doing).
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "PS1", "PS2", "PROMPT", "RPROMPT", "TERM"}
#: variant: (shell, how the rc file loads the hook)
VARIANTS = {
    "bash": ("bash", f'eval "$({DEVENV} hook bash)"'),
    "bash-set-u": ("bash", f'set -u; eval "$({DEVENV} hook bash)"'),
    "bash-posix": ("bash-posix", f'eval "$({DEVENV} hook bash)"'),
    "zsh": ("zsh", f'eval "$({DEVENV} hook zsh)"'),
    "zsh-emulate-sh": ("zsh", f'emulate sh; eval "$({DEVENV} hook zsh)"'),
    "fish": ("fish", f"{DEVENV} hook fish | source"),
}
EXECUTABLE = {"bash": "bash", "bash-posix": "bash", "zsh": "zsh", "fish": "fish"}

SPEC = """\
[project]
name = "{name}"

[python]
venv = "{venv}"

[paths]
pythonpath = ["src"]

[dotenv]
files = [".env"]

[vars]
PROJECT = "{name}"

[env]
unset = ["DROPPED"]
"""


def make_project(root: Path, name: str, venv: str, dotenv: str) -> Project:
    project = Project(root=root, venv=venv)
    (root / "src").mkdir(parents=True)
    project.write("envspec.toml", SPEC.format(name=name, venv=venv))
    project.write(".env", dotenv)
    return project


@pytest.fixture
def world(tmp_path: Path, shared_venv: str) -> dict[str, object]:
    """Two projects side by side, a folder outside both, and a state home of their own."""
    home = tmp_path / "home"
    home.mkdir()
    a = make_project(tmp_path / "a", "alpha", shared_venv, "SHARED='from a'\nONLY_A=\"it's a\\nline\"\n")
    b = make_project(tmp_path / "b", "beta", shared_venv, "SHARED='from b'\n")
    (tmp_path / "a" / "deep" / "er").mkdir(parents=True)
    outer = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(home / "state"),
        "SHARED": "outer value",  # set before: must come back exactly
        "DROPPED": "outer, unset inside",  # [env].unset: gone inside, back outside
        "PYTHONPATH": "/outer/lib",
    }
    for project in (a, b):
        assert project.devenv("sync", env=outer).returncode == 0
    return {"a": a, "b": b, "outside": tmp_path, "outer": outer}


def canonical(project: Project, outer: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    """What a shell inside `project` must export: what it exported before (`base`), with
    print-env's values (run with the same outer environment) applied."""
    result = project.devenv("print-env", "--format", "json", env=outer)
    assert result.returncode == 0, result.stderr
    expected = {**base, **json.loads(result.stdout)}
    expected.pop("DROPPED")
    return expected


def allow(project: Project, outer: dict[str, str]) -> None:
    result = project.devenv("allow", env=outer)
    assert result.returncode == 0, result.stderr


def exported(shell: InteractiveShell, folder: Path) -> dict[str, str]:
    return {k: v for k, v in shell.environment(folder).items() if k not in SHELL_OWN}


@pytest.fixture
def start(world: dict[str, object], tmp_path: Path) -> Iterator[object]:
    shells: list[InteractiveShell] = []

    def launch(variant: str, *, before: str = "") -> InteractiveShell:
        kind, rc_line = VARIANTS[variant]
        executable = require_tool(EXECUTABLE[kind])
        outer = dict(world["outer"])  # type: ignore[call-overload]
        shell = InteractiveShell(kind, executable, cwd=world["outside"], env=outer)  # type: ignore[arg-type]
        shells.append(shell)
        if before:
            shell.type(before)
        answer = shell.type(rc_line)
        assert "error" not in answer.lower() and "unbound" not in answer, answer
        return shell

    yield launch
    for shell in shells:
        shell.close()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_cd_in_edit_cd_across_cd_out(world: dict[str, object], start, variant: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    outer: dict[str, str] = world["outer"]  # type: ignore[assignment]
    assert isinstance(a, Project) and isinstance(b, Project)
    shell: InteractiveShell = start(variant)
    before = exported(shell, tmp_path)
    assert {key: before.get(key) for key in outer} == outer

    # A project never allowed is not loaded, and says how to allow it.
    answer = shell.type(f"cd '{a.root}'")
    assert "is not allowed to load" in answer and "devenv allow" in answer
    assert exported(shell, tmp_path) == before
    allow(a, outer)
    answer = shell.type("true")
    assert f"devenv: loaded {a.root}" in answer
    inside_a = canonical(a, outer, before)
    assert exported(shell, tmp_path) == inside_a
    assert inside_a["ONLY_A"] == "it's a\nline" and "DROPPED" not in inside_a

    # A subfolder is the same project: nothing is reloaded.
    answer = shell.type("cd deep/er")
    assert "loaded" not in answer
    assert exported(shell, tmp_path) == inside_a

    # An edit to a dotenv file: refused until allowed again (it is someone's input), then
    # picked up at the next prompt.
    time.sleep(0.01)
    a.write(".env", "SHARED='edited in a'\n")
    answer = shell.type("true")
    assert "is not allowed to load" in answer
    assert exported(shell, tmp_path) == before
    allow(a, outer)
    answer = shell.type("true")
    assert f"devenv: loaded {a.root}" in answer
    edited = canonical(a, outer, before)
    assert edited["SHARED"] == "edited in a" and "ONLY_A" not in edited
    assert exported(shell, tmp_path) == edited

    # To the second project: a's values out (restored, not just overwritten), b's in.
    allow(b, outer)
    answer = shell.type(f"cd '{b.root}'")
    assert f"devenv: unloaded {a.root}" in answer and f"devenv: loaded {b.root}" in answer
    assert exported(shell, tmp_path) == canonical(b, outer, before)

    # Out of every project: exactly the environment from before, unset keys included.
    answer = shell.type(f"cd '{world['outside']}'")
    assert f"devenv: unloaded {b.root}" in answer
    assert exported(shell, tmp_path) == before


@pytest.mark.parametrize("variant", ["bash", "zsh", "fish"])
def test_deny_and_unload(world: dict[str, object], start, variant: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    outer: dict[str, str] = world["outer"]  # type: ignore[assignment]
    assert isinstance(a, Project)
    allow(a, outer)
    shell: InteractiveShell = start(variant)
    before = exported(shell, tmp_path)
    shell.type(f"cd '{a.root}'")
    assert exported(shell, tmp_path) == canonical(a, outer, before)
    result = a.devenv("deny", env=outer)
    assert result.returncode == 0 and "denied" in result.stderr
    assert f"devenv: unloaded {a.root}" in shell.type("true")
    assert exported(shell, tmp_path) == before
    allow(a, outer)
    shell.type("true")
    assert exported(shell, tmp_path) == canonical(a, outer, before)
    # --unload: the values from before, and no hook left behind.
    unload = (
        f"{DEVENV} hook fish --unload | source"
        if variant == "fish"
        else f'eval "$({DEVENV} hook {variant} --unload)"'
    )
    shell.type(unload)
    assert exported(shell, tmp_path) == before
    probe = (
        # HOOK-''LEFT: the echo of the typed line must not match what the probe prints.
        "functions -q _devenv_hook; and echo HOOK-''LEFT"
        if variant == "fish"
        else "type _devenv_hook >/dev/null 2>&1 && echo HOOK-''LEFT"
    )
    assert "HOOK-LEFT\n" not in shell.type(probe)
    assert "loaded" not in shell.type(f"cd '{world['outside']}'; cd '{a.root}'")
    assert exported(shell, tmp_path) == before


COMPOSE = {
    "bash": ("PROMPT_COMMAND='echo pc-ran >> \"$HOME/log\"'", ""),
    "zsh": ('log_prompt() { echo pc-ran >> "$HOME/log"; }; precmd_functions=(log_prompt)', ""),
    "fish": ("function log_prompt --on-event fish_prompt; echo pc-ran >> $HOME/log; end", ""),
}


@pytest.mark.parametrize("variant", list(COMPOSE))
def test_an_existing_prompt_hook_keeps_running_and_sees_the_exit_status(
    world: dict[str, object], start, variant: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    outer: dict[str, str] = world["outer"]  # type: ignore[assignment]
    assert isinstance(a, Project)
    allow(a, outer)
    shell: InteractiveShell = start(variant, before=COMPOSE[variant][0])
    before = exported(shell, tmp_path)
    shell.type(f"cd '{a.root}'")
    assert exported(shell, tmp_path) == canonical(a, outer, before)
    log = Path(outer["HOME"]) / "log"
    count = log.read_text().count("pc-ran")
    shell.type("true")
    assert log.read_text().count("pc-ran") > count
    # The exit status of the last command survives the hook: `$?` / `$status` at the prompt.
    status = "echo status=$status" if variant == "fish" else "echo status=$?"
    assert "status=3" in shell.type(f"sh -c 'exit 3'\n{status}")


@pytest.mark.parametrize("variant", ["bash", "zsh", "fish"])
def test_a_failure_shows_devenv_s_message_and_keeps_the_prompt(
    world: dict[str, object], start, variant: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    outer: dict[str, str] = world["outer"]  # type: ignore[assignment]
    assert isinstance(a, Project)
    a.write(".env", "BROKEN='never closed\n")
    allow(a, outer)
    shell: InteractiveShell = start(variant)
    before = exported(shell, tmp_path)
    answer = shell.type(f"cd '{a.root}'")
    assert "devenv: error: " in answer and ".env:1" in answer
    assert exported(shell, tmp_path) == before
    assert "still-here" in shell.type("echo still-here")
    # Fixed (and allowed again): loaded at the next prompt, without leaving the folder.
    time.sleep(0.01)
    a.write(".env", "BROKEN='closed'\n")
    allow(a, outer)
    assert f"devenv: loaded {a.root}" in shell.type("true")
    assert exported(shell, tmp_path)["BROKEN"] == "closed"


@pytest.mark.parametrize("variant", ["bash", "zsh", "fish"])
def test_a_prompt_with_nothing_changed_starts_no_process(
    world: dict[str, object], start, variant: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    a = world["a"]
    outer: dict[str, str] = world["outer"]  # type: ignore[assignment]
    assert isinstance(a, Project)
    allow(a, outer)
    shell: InteractiveShell = start(variant)
    shell.type(f"cd '{a.root}'")
    shell.type("true")
    log = tmp_path / "strace.log"
    tracer = subprocess.Popen(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=fork,vfork,clone,clone3,execve",
            "-o",
            str(log),
            "-p",
            str(shell.process.pid),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # strace attaches
        for _ in range(5):
            shell.type(":")  # a builtin: any process now would be the hook's
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)
    # A new thread (fish runs some) is no process: only forks and execs count.
    calls = [
        line
        for line in log.read_text().splitlines()
        if "(" in line and "resumed" not in line and "CLONE_THREAD" not in line
    ]
    assert calls == [], calls
