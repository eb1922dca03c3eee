"""The README's shell recipes, run as written, in the shells they are written for."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from devenv.environment import join_path
from tests.conftest import require_tool
from tests.support.projects import DEVENV, Project, hermetic_env

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)


def _table_row(first_cell: str) -> str:
    (row,) = [line for line in README.splitlines() if line.startswith(f"| {first_cell} |")]
    return row


def test_no_sh_recipe_uses_source_which_dash_lacks() -> None:
    lines = [line.strip() for block in _sh_blocks() for line in block.splitlines()]
    assert lines, "the README has sh code blocks"
    assert [line for line in lines if line.startswith("source ")] == []
    assert "source " not in _table_row("sh, bash, zsh").split("|")[2].split(" (keep")[0]


@pytest.mark.parametrize("shell", ["dash", "bash", "zsh"])
def test_the_sh_recipes_load_the_environment_in_each_shell(shell: str, project: Project) -> None:
    path = require_tool(shell)
    project.sync()
    recipes = re.findall(r"`([^`]+)`", _table_row("sh, bash, zsh").split("|")[2].split(" (keep")[0])
    assert len(recipes) >= 2, recipes
    env = hermetic_env(PATH=os.path.dirname(DEVENV) + ":/usr/bin:/bin")
    for recipe in recipes:
        script = f'{recipe} || exit 97\nprintf "%s\\n%s" "$SERVICE" "$PATH"'
        result = subprocess.run(
            [path, "-c", script], cwd=project.root, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{shell}: {recipe}: {result.stderr}"
        service, shell_path = result.stdout.split("\n")
        assert service == "demo", recipe
        assert shell_path == join_path([f"{project.venv}/bin"], env["PATH"]), recipe


def test_the_install_step_works_on_an_account_without_local_bin(tmp_path: Path) -> None:
    """The README's install block, after pip: linking devenv into ~/.local/bin, run twice."""
    sh = require_tool("dash")
    (block,) = re.findall(r"```sh\n(.*?)```", _section("Install in your own project"), flags=re.DOTALL)
    link = [line for line in block.splitlines() if "~/.local/bin" in line]
    assert link, block
    home = tmp_path / "home"
    installed = home / ".local" / "devenv" / "bin"
    installed.mkdir(parents=True)  # what `python3 -m venv ~/.local/devenv && pip install` leaves
    (installed / "devenv").symlink_to(DEVENV)
    assert not (home / ".local" / "bin").exists()
    for attempt in ("first", "again"):  # following the README a second time must not fail either
        result = subprocess.run(
            [sh, "-ec", "\n".join(link)], env=hermetic_env(HOME=str(home)), capture_output=True, text=True
        )
        assert result.returncode == 0, f"{attempt}: {result.stderr}"
    version = subprocess.run(
        [str(home / ".local" / "bin" / "devenv"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("devenv ")


def test_path_keeps_the_callers_other_entries_as_the_readme_says() -> None:
    # "the caller's PATH without that folder and without empty entries ... repeated ones
    # included, keep their order": every launcher and shell file follows join_path, which the
    # shell round-trip tests check against real shells.
    assert "the caller's other entries, repeated ones included, keep their order" in " ".join(README.split())
    assert join_path(["/v/bin"], "/usr/bin::/v/bin:/bin:/usr/bin:") == "/v/bin:/usr/bin:/bin:/usr/bin"


def test_the_readiness_and_service_check_tables_cover_every_kind() -> None:
    from devenv.spec import READY_KINDS, SERVICE_CHECKS

    readiness = _section("Processes and services").split("### Readiness", 1)[1].split("\n### ", 1)[0]
    checks = _section("Processes and services").split("### Service checks", 1)[1].split("\n### ", 1)[0]
    assert [kind for kind in READY_KINDS if f"| `{{ {kind} = " not in readiness] == []
    assert [check for check in SERVICE_CHECKS if f"| `{check}` |" not in checks] == []
    for row in [line for line in readiness.splitlines() if line.startswith("| `{")]:
        assert len([cell for cell in row.split(" | ") if cell.strip()]) == 5, row  # each has its lie


def test_the_commands_table_has_a_row_for_every_command_and_for_no_other() -> None:
    from devenv.cli_commands import commands

    table = _section("Commands").split("\n### ", 1)[0]
    first_cells = [line.split(" | ", 1)[0] for line in table.splitlines() if line.startswith("| `devenv ")]
    shown = {name for cell in first_cells for name in re.findall(r"`devenv ([a-z][a-z-]*)", cell)}
    declared = {command.name for command in commands()}
    assert sorted(declared - shown) == [], 'commands without a row in the README\'s "Commands" table'
    assert sorted(shown - declared) == [], 'rows of the README\'s "Commands" table for no command'


def test_the_print_env_row_names_every_format_and_alias() -> None:
    from devenv.renderers import FORMATS

    (row,) = [line for line in README.splitlines() if line.startswith("| `devenv print-env ")]
    assert [fmt for fmt in FORMATS if f"`{fmt}`" not in row] == []


def test_every_module_has_a_unit_test_or_says_where_it_is_tested() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "devenv"
    unit = Path(__file__).resolve().parents[1] / "unit"
    section = _section("Development")
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", section))
    for module in sorted(source.glob("*.py")) + sorted(source.glob("*/")):
        if module.name == "__pycache__":
            continue
        shown = module.name if module.suffix == ".py" else f"{module.name}/"
        mirrored = (unit / f"test_{module.stem}.py").exists()
        assert mirrored or shown in named, (
            f"src/devenv/{shown}: no tests/unit/test_{module.stem}.py and not in the README"
        )


def test_the_architecture_module_map_names_exactly_the_modules_there_are() -> None:
    # README "Development" sends readers to this map for the layout; a module missing from it
    # (or a row for one that was renamed) is found here, not by a reader.
    repository = Path(__file__).resolve().parents[2]
    source = repository / "src" / "devenv"
    text = (repository / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index("## Module map") :]
    rows = set(re.findall(r"^\| `([\w/]+(?:\.py|/))`", section, flags=re.MULTILINE))
    modules = {path.name for path in source.glob("*.py")}
    modules |= {f"{path.name}/" for path in source.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert sorted(modules - rows) == [], "modules without a row in docs/architecture.md's Module map"
    assert sorted(rows - modules) == [], "rows of docs/architecture.md's Module map for no module"
