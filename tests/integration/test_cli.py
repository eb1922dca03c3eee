"""The real `devenv` CLI on throw-away projects: sync, print-env, run, staleness, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devenv.environment import default_instance
from devenv.spec import READY_KINDS
from tests.support.projects import DEVENV, Project, hermetic_env


def read_env_json(project: Project) -> dict:  # type: ignore[type-arg]
    return json.loads((project.root / ".devenv" / "env.json").read_text())


# -- sync ------------------------------------------------------------------------------------


def test_sync_writes_private_files_that_git_ignores(project: Project) -> None:
    project.sync()
    folder = project.root / ".devenv"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("env.json", "env.sh", "env.fish", "env.ps1", "env.dotenv", "env.nul"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_second_sync_installs_nothing_and_says_so(project: Project) -> None:
    project.sync()
    first = (project.root / ".devenv" / "env.json").read_bytes()
    second = project.sync()
    assert "nothing to install" in second.stderr
    assert (project.root / ".devenv" / "env.json").read_bytes() == first  # deterministic bytes


def test_env_json_records_values_provenance_and_interpreter(project: Project) -> None:
    project.write(".env", "GREETING=from dot env\n")
    project.sync()
    document = read_env_json(project)
    variables = document["variables"]
    assert variables["GREETING"]["value"] == "from dot env"
    assert variables["GREETING"]["source"] == ".env:1"
    assert variables["GREETING"]["overrode"] == [".env.defaults:3"]
    assert variables["SERVICE"]["source"] == "envspec.toml [vars]"
    assert variables["PYTHONPATH"] == {
        "value": f"{project.root}/lib-a/src:{project.root}/lib-b/src",
        "source": "managed",
        "overrode": [],
    }
    assert variables["LITERAL"]["value"] == "${NOT_EXPANDED}"
    assert document["python"]["interpreter"] == os.path.join(project.venv, "bin", "python")
    assert document["python"]["version"].count(".") == 2


# -- print-env and run -----------------------------------------------------------------------


def test_eval_print_env_in_bash_from_a_subfolder(project: Project) -> None:
    project.sync()
    subfolder = project.root / "lib-a" / "src"
    script = (
        'eval "$(devenv print-env)" && printf "%s\\n" "$GREETING" "$PYTHONPATH" "$VIRTUAL_ENV" "${PATH%%:*}"'
    )
    env = hermetic_env(PATH=f"{os.path.dirname(DEVENV)}:/usr/bin:/bin")
    result = subprocess.run(
        ["bash", "-c", script], cwd=subfolder, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        "hello demo",
        f"{project.root}/lib-a/src:{project.root}/lib-b/src",
        project.venv,
        f"{project.venv}/bin",
    ]


def test_run_gives_the_canonical_env_and_the_pass_through_keys_only(project: Project) -> None:
    project.sync()
    env = hermetic_env(PYTHONPATH="/stale/path", DEMO_UNSET_ME="gone", OTHER="kept")
    result = project.devenv(
        "run",
        "--",
        "python",
        "-c",
        "import json, os, sys; print(json.dumps({'exe': sys.executable, **os.environ}))",
        cwd=project.root / "lib-b",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    child = json.loads(result.stdout)
    assert child["exe"] == os.path.join(project.venv, "bin", "python")
    assert child["PYTHONPATH"] == f"{project.root}/lib-a/src:{project.root}/lib-b/src"
    assert "DEMO_UNSET_ME" not in child
    # Hermetic: the person's keys pass through, an undeclared one does not.
    assert "OTHER" not in child and child["HOME"] == env["HOME"] and child["LANG"] == env["LANG"]
    assert child["DEVENV_FINGERPRINT"] == read_env_json(project)["fingerprint"]


def test_run_returns_the_commands_exit_code(project: Project) -> None:
    project.sync()
    assert project.devenv("run", "--", "sh", "-c", "exit 7").returncode == 7
    assert (
        project.devenv("run", "sh", "-c", "kill -TERM $$").returncode == -15
    )  # died of SIGTERM, like a shell sees


def test_run_unknown_command_is_127_with_a_clear_message(project: Project) -> None:
    project.sync()
    result = project.devenv("run", "--", "no-such-command-xyz")
    assert result.returncode == 127
    assert result.stderr.startswith("devenv: error: command not found: no-such-command-xyz")
    assert "Traceback" not in result.stderr


def test_run_set_overrides_one_variable(project: Project) -> None:
    project.sync()
    result = project.devenv("run", "--set", "GREETING=overridden", "--", "sh", "-c", 'printf %s "$GREETING"')
    assert result.stdout == "overridden"
    refused = project.devenv("run", "--set", "PYTHONPATH=/x", "--", "true")
    assert refused.returncode == 2 and "PYTHONPATH is managed by devenv" in refused.stderr


def test_run_set_expands_references_like_a_dotenv_line(project: Project) -> None:
    project.sync()
    # Single quotes: the shell passes ${...} through, so devenv must expand it (README, --set).
    result = project.devenv("run", "--set", "X=${GREETING}_x/${DEVENV_INSTANCE}", "--", "printenv", "X")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hello demo_x/{default_instance(str(project.root))}\n"
    undefined = project.devenv("run", "--set", "X=${NOPE}", "--", "true")
    assert undefined.returncode == 2
    assert undefined.stderr == (
        "devenv: error: --set X references ${NOPE}, which is not defined; add NOPE to "
        "[env].inherit to take it from the outer environment, or define it earlier\n"
    )


def test_every_command_reports_the_fingerprint_a_launch_with_the_same_layers_gets(project: Project) -> None:
    """One door into resolution: run --set, explain and print-env agree on DEVENV_FINGERPRINT."""
    project.sync()
    plain = project.devenv("run", "--", "printenv", "DEVENV_FINGERPRINT").stdout.strip()
    explained = json.loads(project.devenv("explain", "DEVENV_FINGERPRINT", "--json").stdout)
    assert explained["variables"][0]["value"] == plain == read_env_json(project)["fingerprint"]
    changed = project.devenv("run", "--set", "GREETING=x", "--", "printenv", "DEVENV_FINGERPRINT")
    assert changed.stdout.strip() not in ("", plain)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        pytest.param(
            "sk-live-9f8e7d6c5b4a", "devenv: error: --set 'sk-l'...: write --set KEY=VALUE\n", id="no-equals"
        ),
        pytest.param(
            "sk-live-9f8e7d6c5b4a=1",
            "devenv: error: --set: 'sk-l'... is not a valid variable name\n",
            id="bad-key",
        ),
    ],
)
def test_a_bad_set_never_echoes_what_may_be_a_secret(project: Project, word: str, expected: str) -> None:
    project.sync()
    result = project.devenv("run", "--set", word, "--", "true")
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expected)


def test_inherit_takes_only_declared_keys_from_the_outer_environment(project: Project) -> None:
    project.sync()
    env = hermetic_env(DEMO_TOKEN="t0k3n", UNDECLARED="nope")
    result = project.devenv("print-env", "--format", "json", env=env)
    values = json.loads(result.stdout)
    assert values["DEMO_TOKEN"] == "t0k3n"
    assert "UNDECLARED" not in values
    # a different outer value is picked up without a sync
    values = json.loads(
        project.devenv("print-env", "--format", "json", env=hermetic_env(DEMO_TOKEN="other")).stdout
    )
    assert values["DEMO_TOKEN"] == "other"


# -- staleness -------------------------------------------------------------------------------


def test_dotenv_edit_is_picked_up_without_sync(project: Project) -> None:
    project.sync()
    project.write(".env", "GREETING=edited\n")
    result = project.devenv("run", "--", "sh", "-c", 'printf %s "$GREETING"')
    assert result.stdout == "edited"
    assert read_env_json(project)["variables"]["GREETING"]["source"] == ".env:1"


def test_python_change_demands_sync(project: Project) -> None:
    project.sync()
    spec = (project.root / "envspec.toml").read_text().replace('requires = ">=3.11"', 'requires = ">=3.10"')
    project.write("envspec.toml", spec)
    result = project.devenv("print-env")
    assert result.returncode == 2
    assert "[python] changed since the last `devenv sync`; run `devenv sync`" in result.stderr
    project.sync()
    assert project.devenv("print-env").returncode == 0


def test_frozen_refuses_any_staleness(project: Project) -> None:
    project.sync()
    project.write(".env", "GREETING=edited\n")
    result = project.devenv("print-env", "--frozen")
    assert result.returncode == 2
    assert result.stderr == (
        "devenv: error: --frozen: .devenv/ is out of date (.env changed since the last sync); "
        "run `devenv sync` without --frozen to update it\n"
    )
    assert project.devenv("sync", "--frozen").returncode == 2
    assert project.devenv("run", "--frozen", "--", "true").returncode == 2


def test_print_env_before_sync_says_what_to_do(project: Project) -> None:
    result = project.devenv("print-env")
    assert result.returncode == 2
    assert "run `devenv sync` first" in result.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["print-env"], ["print-env", "--format", "json"], ["explain"]])
def test_output_to_a_full_disk_is_one_line_and_exit_2(project: Project, args: list[str]) -> None:
    """`> /dev/full` (every write fails with ENOSPC): a one-line error, not a traceback, and not
    exit 1, which says a check found problems."""
    project.sync()
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [DEVENV, *args],
            cwd=project.root,
            env=hermetic_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert result.returncode == 2
    assert result.stderr == "devenv: error: cannot write the output: No space left on device\n"


def test_print_env_with_stdout_closed_is_one_line_and_exit_2(project: Project) -> None:
    project.sync()
    result = subprocess.run(
        ["sh", "-c", 'exec "$0" print-env >&-', DEVENV],
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "devenv: error: cannot write the output: stdout is closed\n",
    )


def test_concurrent_print_env_after_an_edit_all_agree(project: Project) -> None:
    project.sync()
    project.write(".env", "GREETING=concurrent\n" + "".join(f"K{i}=value {i}\n" for i in range(50)))
    env = hermetic_env()

    def call(_: int) -> tuple[int, str]:
        result = project.devenv("print-env", env=env)
        return result.returncode, result.stdout

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    assert {code for code, _ in results} == {0}
    outputs = {out for _, out in results}
    assert len(outputs) == 1
    output = outputs.pop()
    assert "export GREETING='concurrent'" in output and "export K49='value 49'" in output
    document = read_env_json(project)  # valid JSON, complete
    assert document["variables"]["K49"]["value"] == "value 49"
    assert not [p.name for p in (project.root / ".devenv").iterdir() if p.name.startswith(".tmp-")]


# -- bad input: exit 2, one line naming the place, nothing modified ---------------------------

BAD_INPUTS = [
    pytest.param("envspec.toml", "[python\nrequires = 1\n", "envspec.toml:1: invalid TOML", id="bad-toml"),
    pytest.param(
        "envspec.toml",
        None,
        "envspec.toml:5: [python].pakages is not a known key",
        id="unknown-key",
    ),
    pytest.param(".env", 'A=1\nB="unclosed\nC=2\nD="x"y\n', ".env:2:", id="unparseable-line"),
    pytest.param(
        ".env", "A=1\nB=${UNDEFINED_THING}\n", ".env:2 references ${UNDEFINED_THING}", id="undefined-ref"
    ),
    pytest.param(
        ".env", "PYTHONPATH=/somewhere\n", ".env:1: PYTHONPATH is managed by devenv", id="managed-key"
    ),
    pytest.param(
        ".env.defaults", "OTHER=1\n", "required variable(s) not set: DATABASE_URL", id="missing-required"
    ),
    pytest.param(
        ".env", "JUST_A_KEY\n", ".env:1: the line starting 'JUST'... has no '='", id="key-without-equals"
    ),
    pytest.param(".env", "MY-KEY=1\n", ".env:1: 'MY-K'... is not a valid variable name", id="bad-key"),
]


@pytest.mark.parametrize(("filename", "content", "expected"), BAD_INPUTS)
def test_bad_input_is_exit_2_with_one_line_naming_the_place(
    project: Project, filename: str, content: str | None, expected: str
) -> None:
    if content is None:  # the unknown-key case edits the default spec
        content = (
            (project.root / "envspec.toml").read_text().replace("requires =", "pakages = []\nrequires =")
        )
    project.write(filename, content)
    before = project.user_files_digest()
    result = project.devenv("sync")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devenv: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert project.user_files_digest() == before


@pytest.mark.parametrize("template", [".env.example", ".env.sample", ".env.template", None])
@pytest.mark.parametrize("optional", [False, True], ids=["listed", "optional"])
def test_a_fresh_clone_without_dotenv_is_told_to_copy_the_template_beside_it(
    project: Project, template: str | None, optional: bool
) -> None:
    # DATABASE_URL is required and only .env would set it; a clone has the template only.
    project.write(".env.defaults", "GREETING=hi\n")
    if not optional:
        spec = (project.root / "envspec.toml").read_text()
        project.write("envspec.toml", spec.replace('optional = [".env"]\n', ""))
    if template is not None:
        project.write(template, "DATABASE_URL=\n")
    result = project.devenv("sync")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    hint = f"copy {template} to .env and fill it in"
    if template is None:
        assert "copy" not in line
    elif optional:
        assert "required variable(s) not set: DATABASE_URL" in line and line.endswith(f"; {hint}")
    else:
        assert line.startswith("devenv: error: .env: not found") and f"; {hint}, or add it to" in line


def test_a_typo_in_a_readiness_probe_names_the_key_and_the_valid_ones(project: Project) -> None:
    project.sync()
    spec = (project.root / "envspec.toml").read_text()
    project.write(
        "envspec.toml", spec + '\n[processes.worker]\ncommand = ["true"]\nready = { comand = ["true"] }\n'
    )
    line = len(spec.splitlines()) + 4
    for command in ("sync", "up"):
        result = project.devenv(command)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            f"devenv: error: {project.root}/envspec.toml:{line}: [processes.worker].ready.comand is not a "
            f"known key (expected one of: {', '.join(READY_KINDS)})\n"
        )


def test_missing_pythonpath_folder_names_the_entry(project: Project) -> None:
    (project.root / "lib-b" / "src").rmdir()
    result = project.devenv("sync")
    assert result.returncode == 2
    assert "[paths].pythonpath entry 'lib-b/src' is not a folder" in result.stderr


def test_secret_value_never_appears_in_a_parse_error(project: Project) -> None:
    project.write(".env", 'DEMO_PASSWORD="s3cr3t-value\nNEXT=1\nOTHER="x"y\n')
    result = project.devenv("sync")
    assert result.returncode == 2
    assert "s3cr3t" not in result.stderr


def test_no_project_is_a_clear_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [DEVENV, "print-env"], cwd=tmp_path, capture_output=True, text=True, env=hermetic_env()
    )
    assert result.returncode == 2
    assert "no envspec.toml in" in result.stderr


def test_docker_format_refuses_a_newline_naming_the_key(project: Project) -> None:
    project.write(".env", 'MULTI="line one\\nline two"\n')
    project.sync()
    result = project.devenv("print-env", "--format", "docker")
    assert result.returncode == 2
    assert "MULTI" in result.stderr and "line one" not in result.stderr


def test_help_explains_commands() -> None:
    result = subprocess.run([DEVENV, "--help"], capture_output=True, text=True, check=True)
    for command in ("sync", "print-env", "run"):
        assert command in result.stdout
    # The global options the README's Commands section lists, --profile among them.
    assert result.stdout.startswith(
        "usage: devenv [-h] [--version] [--root DIR] [--profile NAME] [--traceback]"
    )
    result = subprocess.run([DEVENV, "print-env", "--help"], capture_output=True, text=True, check=True)
    assert "dotenv" in result.stdout and "docker" in result.stdout


def test_reference_workspace_imports_from_any_subfolder(tmp_path: Path, shared_venv: str) -> None:
    """The repository's own envspec.toml resolves ops-core and agentkit from any folder."""
    repo = Path(__file__).resolve().parents[2]
    spec = (repo / "envspec.toml").read_text()
    spec = spec.replace('venv = ".devenv/venv"', f'venv = "{shared_venv}"')
    # Installing the repository's packages is `devenv sync`'s job in the real checkout;
    # here only the environment part of its spec is under test.
    spec = re.sub(r"packages = \[\n.*?\n\]", "packages = []", spec, count=1, flags=re.S)
    project = Project.create(
        tmp_path / "ws", venv=shared_venv, spec=spec, dotenv=(repo / ".env.defaults").read_text()
    )
    for package in ("ops-core/src/ops_core", "agentkit/src/agentkit"):
        shutil.copytree(repo / package, project.root / package, ignore=shutil.ignore_patterns("__pycache__"))
    project.sync()
    for folder in (project.root, project.root / "ops-core" / "src" / "ops_core", project.root / "agentkit"):
        result = project.devenv(
            "run", "--", "python", "-c", "import ops_core, agentkit; print(ops_core.__file__)", cwd=folder
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(str(project.root / "ops-core" / "src"))


def test_run_passes_hostile_values_byte_for_byte(project: Project) -> None:
    project.write(".env", 'CR="a\\rb"\nNL="x\\ny"\nQ=\'it\\\'s $(no) `no`\'\nU=é☃\n')
    project.sync()
    script = "import json, os; print(json.dumps([os.environ[k] for k in ('CR', 'NL', 'Q', 'U')]))"
    result = project.devenv("run", "--", "python", "-c", script)
    assert json.loads(result.stdout) == ["a\rb", "x\ny", "it's $(no) `no`", "é☃"]


def test_instance_option_joins_a_named_instance_everywhere(project: Project) -> None:
    project.sync()
    joined = project.devenv(
        "run", "--instance", "t1", "--", "printenv", "DEVENV_INSTANCE", "DEVENV_FINGERPRINT"
    )
    assert joined.returncode == 0, joined.stderr
    instance, fingerprint = joined.stdout.split()
    assert instance == "t1"
    printed = json.loads(project.devenv("print-env", "--instance", "t1", "--format", "json").stdout)
    assert printed["DEVENV_INSTANCE"] == "t1" and printed["DEVENV_FINGERPRINT"] == fingerprint
    explained = json.loads(
        project.devenv("explain", "DEVENV_FINGERPRINT", "--instance", "t1", "--json").stdout
    )
    assert explained["variables"][0]["value"] == fingerprint != read_env_json(project)["fingerprint"]
    refused = project.devenv("run", "--instance", "no/such", "--", "true")
    assert refused.returncode == 2 and "instance name 'no/such' is not usable" in refused.stderr
