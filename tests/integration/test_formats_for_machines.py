"""Formats for another machine: docker and `--for-container` leave out the host's paths and map
the project folder; github leaves out what the Actions runner refuses. Read back through the
real docker CLI (against a fake engine) and a port of the runner's parser."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from devenv.renderers import REGISTRY
from tests.integration.test_shell_roundtrip import docker_env_file
from tests.support.github_env import parse as parse_github_env
from tests.support.projects import Project

__all__ = ["docker_env_file"]  # the fixture, shared with test_shell_roundtrip

HOST_ONLY = {"PATH", "VIRTUAL_ENV", "DEVENV_ROOT", "PYTHONPATH"}


def printed(project: Project, *args: str) -> tuple[str, str]:
    result = project.devenv("print-env", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_docker_leaves_out_the_host_paths(
    project: Project, docker_env_file: Callable[[str], dict[str, str]]
) -> None:
    project.sync()
    text, notes = printed(project, "--format", "docker")
    got = docker_env_file(text)
    assert not HOST_ONLY & set(got), sorted(HOST_ONLY & set(got))
    assert got["SERVICE"] == "demo"
    assert "DEVENV_FINGERPRINT" in got
    assert "devenv: left out PATH, VIRTUAL_ENV: host paths (the container keeps its own)\n" in notes
    assert "left out DEVENV_ROOT, PYTHONPATH: paths under" in notes
    # DATABASE_URL=sqlite:///${DEVENV_ROOT}/demo.db names the host's folder: said, not hidden.
    assert "DATABASE_URL names a path under" in notes


def test_root_in_container_maps_every_path_under_the_project(
    project: Project, docker_env_file: Callable[[str], dict[str, str]]
) -> None:
    project.sync()
    text, notes = printed(project, "--format", "docker", "--root-in-container", "/app")
    got = docker_env_file(text)
    assert got["DEVENV_ROOT"] == "/app"
    assert got["PYTHONPATH"] == "/app/lib-a/src:/app/lib-b/src"
    assert got["DATABASE_URL"] == "sqlite:////app/demo.db"
    assert "PATH" not in got and "VIRTUAL_ENV" not in got
    assert str(project.root) not in text
    assert "left out PATH, VIRTUAL_ENV" in notes


@pytest.mark.parametrize(
    "fmt", [entry.name for entry in REGISTRY if entry.container and not entry.other_machine]
)
def test_dotenv_and_json_for_a_container_when_asked(project: Project, fmt: str) -> None:
    # Without LITERAL='${NOT_EXPANDED}', which python-dotenv and VS Code would expand.
    project.write(".env.defaults", "DATABASE_URL=sqlite:///${DEVENV_ROOT}/demo.db\n")
    project.sync()
    here, _ = printed(project, "--format", fmt)
    assert str(project.root) in here  # for this machine: the host's paths, PATH included
    there, _ = printed(project, "--format", fmt, "--root-in-container", "/srv/app")
    assert str(project.root) not in there
    assert "/srv/app/lib-a/src:/srv/app/lib-b/src" in there
    assert "VIRTUAL_ENV" not in there
    assert "\nPATH=" not in there and '"PATH"' not in there
    bare, _ = printed(project, "--format", fmt, "--for-container")
    assert "PYTHONPATH" not in bare and "VIRTUAL_ENV" not in bare
    if fmt == "json":
        assert "PATH" not in json.loads(bare)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "sh", "--for-container"], "go with --format dotenv, json or docker, not sh"),
        (
            ["--format", "docker", "--root-in-container", "app"],
            "--root-in-container 'app': give the absolute",
        ),
    ],
)
def test_container_options_are_checked(project: Project, args: list[str], message: str) -> None:
    project.sync()
    result = project.devenv("print-env", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_github_leaves_out_what_the_runner_refuses(project: Project) -> None:
    spec = (project.root / "envspec.toml").read_text()
    project.write(
        "envspec.toml", spec.replace("[env]\n", '[env]\ntrusted = ["NODE_OPTIONS", "node_options"]\n')
    )
    project.write(".env", "NODE_OPTIONS=--max-old-space-size=4096\nnode_options=x\nKEPT=1\n")
    project.sync()
    text, notes = printed(project, "--format", "github")
    issues: list[str] = []
    got = parse_github_env(text, issues=issues)
    assert issues == []  # the runner would fail the step with "Can't store NODE_OPTIONS ..."
    assert got["KEPT"] == "1"
    assert "NODE_OPTIONS" not in got and "node_options" not in got
    assert "devenv: left out NODE_OPTIONS: the GitHub Actions runner refuses it from $GITHUB_ENV\n" in notes
    assert "devenv: left out node_options:" in notes


def test_the_runner_port_refuses_node_options_as_the_runner_does() -> None:
    issues: list[str] = []
    assert parse_github_env("NODE_OPTIONS=--require x\nA=1\n", issues=issues) == {"A": "1"}
    assert issues == ["Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command."]
