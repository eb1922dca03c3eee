"""`devenv explain [KEY]`: values (secrets masked), provenance, what each overrode."""

from __future__ import annotations

import json

import pytest

from devenv.errors import UsageError
from devenv.explain import explain, format_explain
from tests.support.projects import Project, hermetic_env
from tests.support.secrets import assert_no_secret

TOKEN = "s3nt1nel-explain-token"


def _project(project: Project) -> Project:
    project.write(".env", "GREETING=from dot env\nDB_PASSWORD=hunter22-secret\n")
    return project


def test_every_variable_with_provenance_and_overrides(project: Project) -> None:
    root = str(_project(project).root)
    result = explain(root, hermetic_env(DEMO_TOKEN=TOKEN))
    by_key = {v.key: v for v in result.variables}
    assert by_key["GREETING"].value == "from dot env"
    assert by_key["GREETING"].source == ".env:1"
    assert by_key["GREETING"].overrode == (".env.defaults:3",)
    assert by_key["SERVICE"].source == "envspec.toml [vars]"
    assert by_key["DEMO_TOKEN"].source == "outer environment"
    assert by_key["PYTHONPATH"].managed_by == "[paths].pythonpath"
    assert by_key["PATH"].value.startswith(project.venv + "/bin:")
    text = format_explain(result)
    assert "GREETING=from dot env\n    from .env:1; overrode .env.defaults:3\n" in text
    assert "PYTHONHOME (not set)" in text


def test_secrets_are_masked_unless_revealed(project: Project) -> None:
    root = str(_project(project).root)
    outer = hermetic_env(DEMO_TOKEN=TOKEN)
    result = explain(root, outer)
    by_key = {v.key: v for v in result.variables}
    assert by_key["DEMO_TOKEN"].value == "***" and by_key["DEMO_TOKEN"].masked  # [env].secret
    assert by_key["DB_PASSWORD"].value == "***"  # name heuristic
    text = format_explain(result) + json.dumps(result.to_json())
    assert_no_secret(text, TOKEN)
    assert_no_secret(text, "hunter22-secret")
    revealed = explain(root, outer, key="DEMO_TOKEN", reveal=True)
    assert [v.value for v in revealed.variables] == [TOKEN]


def test_provenance_names_the_keys_own_line_after_blank_lines(project: Project) -> None:
    # Laravel's .env.example layout: groups of keys separated by blank lines.
    project.write(".env", "\nAPP_NAME=demo\n\n\nAPP_ENV=local\r\n\r\n# mail\n  \nMAIL_HOST=mailpit\n")
    result = explain(str(project.root), hermetic_env())
    sources = {v.key: v.source for v in result.variables}
    assert [sources[key] for key in ("APP_NAME", "APP_ENV", "MAIL_HOST")] == [".env:2", ".env:5", ".env:9"]
    assert "MAIL_HOST=mailpit\n    from .env:9\n" in format_explain(result)


def test_one_key(project: Project) -> None:
    result = explain(str(project.root), hermetic_env(), key="DATABASE_URL")
    assert [v.key for v in result.variables] == ["DATABASE_URL"]
    assert result.variables[0].source == ".env.defaults:2"


def test_declared_but_unset_inherit_key_is_explained(project: Project) -> None:
    result = explain(str(project.root), hermetic_env(), key="DEMO_TOKEN")
    assert result.variables == ()
    assert "not set in the outer environment" in dict(result.not_set)["DEMO_TOKEN"]


def test_unknown_key_lists_close_names(project: Project) -> None:
    with pytest.raises(UsageError, match="GRETING is not a variable of this project; did you mean GREETING"):
        explain(str(project.root), hermetic_env(), key="GRETING")


def test_the_fingerprint_shown_is_the_one_launches_get(project: Project) -> None:
    project.sync()
    explained = {v.key: v.value for v in explain(str(project.root), hermetic_env()).variables}
    launched = project.devenv("run", "--", "sh", "-c", 'printf %s "$DEVENV_FINGERPRINT"')
    assert launched.returncode == 0, launched.stderr
    assert explained["DEVENV_FINGERPRINT"] == launched.stdout
