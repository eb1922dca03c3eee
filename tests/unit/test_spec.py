"""envspec.toml parsing: a full example parses; every mistake names file:line and table.key."""

from __future__ import annotations

import hypothesis
import pytest

from devenv.errors import SpecError
from devenv.spec import (
    READY_KINDS,
    AmqpQueueReady,
    CommandReady,
    HttpReady,
    LogReady,
    TcpReady,
    parse_spec,
    plain_specifier,
)

FULL_EXAMPLE = """\
[project]
name = "ops-platform"

[python]
requires = ">=3.11"
venv = ".devenv/venv"
packages = ["dramatiq[rabbitmq]==2.2.1", "pytest==9.2.0", "-e ."]

[paths]
pythonpath = ["ops-core/src", "agentkit/src"]

[dotenv]
files = [".env.defaults", ".env"]
optional = [".env"]
required = ["DATABASE_URL", "RABBITMQ_URL"]

[vars]
PYTHONUNBUFFERED = "1"

[env]
inherit = ["LLM_API_KEY"]
unset = ["PYTHONHOME", "PYTHONSTARTUP"]
secret = ["LLM_API_KEY"]

[services.rabbitmq]
check = "amqp"
url = "${RABBITMQ_URL}"
start = ["rabbitmq-server", "-detached"]
timeout = 30

[processes.worker]
command = ["python", "-m", "dramatiq", "ops_core.tasks.worker"]
needs = ["rabbitmq"]
ready = { amqp_queue = "ops_core", consumers = 1 }
start_timeout = 30
stop_timeout = 10
"""


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_spec(text.encode(), path="/p/envspec.toml", root="/p")


def test_the_design_example_parses_completely() -> None:
    spec = parse(FULL_EXAMPLE)
    assert spec.project_name == "ops-platform"
    assert spec.python.packages == ("dramatiq[rabbitmq]==2.2.1", "pytest==9.2.0", "-e .")
    assert spec.pythonpath == ("ops-core/src", "agentkit/src")
    assert spec.dotenv.optional == (".env",)
    assert spec.vars == (("PYTHONUNBUFFERED", "1"),)
    assert spec.env.unset == ("PYTHONHOME", "PYTHONSTARTUP")
    service = spec.service("rabbitmq")
    assert (service.check, service.url, service.start, service.timeout) == (
        "amqp",
        "${RABBITMQ_URL}",
        ("rabbitmq-server", "-detached"),
        30.0,
    )
    worker = spec.process("worker")
    assert worker.ready == AmqpQueueReady(queue="ops_core", consumers=1)
    assert worker.needs == ("rabbitmq",)


def test_an_empty_spec_has_defaults() -> None:
    spec = parse("")
    assert spec.project_name == "p"
    assert spec.python.venv == ".devenv/venv"
    assert spec.processes == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[pyton]\n", "/p/envspec.toml:1: [pyton] is not a known table", id="unknown-table"),
        pytest.param(
            "[python]\nrequire = '>=3'\n",
            "/p/envspec.toml:2: [python].require is not a known key",
            id="unknown-key",
        ),
        pytest.param(
            "[python]\nrequires = 3\n",
            "/p/envspec.toml:2: [python].requires must be a string, not an integer",
            id="wrong-type",
        ),
        pytest.param(
            "[python]\nrequires = 'three'\n",
            "[python].requires = 'three' is not a PEP 440 specifier",
            id="bad-specifier",
        ),
        pytest.param(
            "[vars]\nPORT = 5432\n",
            '/p/envspec.toml:2: [vars].PORT must be a string, not an integer; quote it: PORT = "..."',
            id="vars-int",
        ),
        pytest.param("[vars]\n'A-B' = 'x'\n", "[vars].A-B is not a variable name", id="vars-bad-key"),
        pytest.param(
            "[dotenv]\nfiles = ['.env']\noptional = ['.env.local']\n",
            "[dotenv].optional names '.env.local', which is not in [dotenv].files",
            id="optional-not-listed",
        ),
        pytest.param(
            "[env]\ninherit = ['bad key']\n",
            "[env].inherit names 'bad '..., which is not a variable name",
            id="bad-inherit",
        ),
        pytest.param(
            "[services.mq]\ncheck = 'mongo'\nurl = 'x'\n",
            '/p/envspec.toml:2: [services.mq].check must be one of "amqp", "redis", "postgres", "http", "command", "tcp"',
            id="bad-check",
        ),
        pytest.param(
            "[services.db]\ncheck = 'command'\n",
            '[services.db].command is required with check = "command"',
            id="command-check-without-command",
        ),
        pytest.param(
            "[services.db]\ncheck = 'postgres'\nurl = 'postgres:///x'\nstatus = [200]\n",
            '/p/envspec.toml:4: [services.db].status is only read with check = "http"',
            id="status-on-a-postgres-check",
        ),
        pytest.param(
            "[services.web]\ncheck = 'http'\nurl = 'http://h/'\nstatus = ['ok']\n",
            "[services.web].status must list HTTP status codes as whole numbers",
            id="status-not-numbers",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { http = 'localhost:8000' }\n",
            'must be a URL like "http://127.0.0.1:8000/health"',
            id="http-probe-without-scheme",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { command = 'pg_isready' }\n",
            "command must be a non-empty list of strings",
            id="command-probe-as-a-string",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { command = ['true'], timeout = 0 }\n",
            "timeout (seconds per try of the command) must be a positive number",
            id="command-probe-zero-timeout",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { http = 'http://h/', consumers = 1 }\n",
            "/p/envspec.toml:3: [processes.w].ready.consumers is not a known key (with http: http, status)",
            id="http-probe-unknown-key",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nneeds = ['mq']\n",
            "/p/envspec.toml:3: [processes.w].needs names 'mq', which is not declared in [services], [processes] or [tasks]",
            id="undeclared-need",
        ),
        pytest.param(
            "[processes.a]\ncommand = ['x']\nneeds = ['b']\n[processes.b]\ncommand = ['x']\nneeds = ['a']\n",
            "[processes.a].needs forms a cycle: a -> b -> a",
            id="needs-cycle",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nrestart = 'always'\n",
            '[processes.w].restart must be "no" or "on-failure"',
            id="bad-restart",
        ),
        pytest.param(
            "[processes.w]\ncommand = []\n", "[processes.w].command is required", id="empty-command"
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { comand = ['true'] }\n",
            "/p/envspec.toml:3: [processes.w].ready.comand is not a known key "
            f"(expected one of: {', '.join(READY_KINDS)})",
            id="probe-kind-typo",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { timeout = 3 }\n",
            f"must have exactly one of {', '.join(READY_KINDS)}",
            id="no-probe",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { log = 'a', tcp = 'h:1' }\n",
            f"must have exactly one of {', '.join(READY_KINDS)}",
            id="two-probes",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nready = { log = '(' }\n",
            "log pattern is not a valid regex",
            id="bad-regex",
        ),
        pytest.param(
            "[processes.w]\ncommand = ['x']\nstop_timeout = -1\n",
            "[processes.w].stop_timeout must be a positive number of seconds",
            id="negative-timeout",
        ),
        pytest.param("[paths]\npythonpath = ['a:b']\n", "[paths].pythonpath entry 'a:b'", id="colon-in-path"),
        pytest.param(
            "[python]\nrequires = '>=3'\n[python]\n", "/p/envspec.toml:3: invalid TOML", id="duplicate-table"
        ),
        pytest.param("schema = 2\n", "schema = 2 is not supported", id="future-schema"),
    ],
)
def test_mistakes_name_the_place(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(text)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_processes_start_after_the_processes_they_need() -> None:
    spec = parse(
        "[services.mq]\ncheck = 'tcp'\nurl = 'h:1'\n"
        "[processes.web]\ncommand = ['x']\nneeds = ['api', 'mq']\n"
        "[processes.api]\ncommand = ['x']\nneeds = ['db', 'mq']\nrestart = 'on-failure'\n"
        "[processes.db]\ncommand = ['x']\n"
    )
    assert [p.name for p in spec.process_order(["web"])] == ["db", "api", "web"]
    assert [p.name for p in spec.process_order(["db", "web"])] == ["db", "api", "web"]
    assert spec.process("api").restart == "on-failure" and spec.process("db").restart == "no"


def test_probes_of_each_kind() -> None:
    spec = parse(
        "[processes.a]\ncommand=['x']\nready={ log = 'ready' }\n"
        "[processes.b]\ncommand=['x']\nready={ tcp = '127.0.0.1:80' }\n"
        "[processes.c]\ncommand=['x']\nready={ http = 'http://127.0.0.1:8000/health', status = [200] }\n"
        "[processes.d]\ncommand=['x']\nready={ command = ['pg_isready', '-q'], timeout = 3 }\n"
        "[processes.e]\ncommand=['x']\nready={ tcp = 'redis://127.0.0.1' }\n"
        "[processes.f]\ncommand=['x']\nready={ http = 'http://127.0.0.1:8000/' }\n"
    )
    assert spec.process("a").ready == LogReady(pattern="ready")
    assert spec.process("b").ready == TcpReady(address="127.0.0.1:80")
    assert spec.process("c").ready == HttpReady(url="http://127.0.0.1:8000/health", status=(200,))
    assert spec.process("d").ready == CommandReady(command=("pg_isready", "-q"), timeout=3.0)
    assert spec.process("e").ready == TcpReady(address="redis://127.0.0.1")
    assert spec.process("f").ready == HttpReady(url="http://127.0.0.1:8000/", status=())
    with pytest.raises(SpecError, match=r"no process named 'z'.*declared: a, b, c, d, e, f"):
        spec.process("z")


def test_service_checks_of_each_kind() -> None:
    spec = parse(
        "[services.cache]\ncheck = 'redis'\nurl = 'redis://127.0.0.1/9'\n"
        "[services.db]\ncheck = 'postgres'\nurl = 'postgres:///shop'\n"
        "[services.api]\ncheck = 'http'\nurl = 'http://127.0.0.1:8000/health'\nstatus = [200, 204]\n"
        "[services.probe]\ncheck = 'command'\ncommand = ['pg_isready']\n"
    )
    assert spec.service("cache").check == "redis"
    assert spec.service("db").url == "postgres:///shop"
    assert spec.service("api").status == (200, 204)
    assert (spec.service("probe").command, spec.service("probe").url) == (("pg_isready",), "")


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("STRIPE_API_KEY = 4242424242424242", id="integer"),
        pytest.param("STRIPE_API_KEY = 4242.424242424242", id="float"),
        pytest.param("STRIPE_API_KEY = [4242424242424242]", id="array"),
    ],
)
def test_a_secret_of_the_wrong_type_is_not_echoed(line: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(f"[vars]\n{line}\n")
    assert "[vars].STRIPE_API_KEY must be a string" in str(error.value)
    assert "424242" not in str(error.value)


def test_errors_carry_the_file_and_line_as_fields() -> None:
    # doctor's fix opens error.place.path; the line is a field, not something to parse back.
    with pytest.raises(SpecError) as invalid_toml:
        parse_spec(b'[project]\nname = "x"\nbroken = \n', path="/w/envspec.toml", root="/w")
    assert invalid_toml.value.place is not None
    assert (invalid_toml.value.place.path, invalid_toml.value.place.line) == ("/w/envspec.toml", 3)
    with pytest.raises(SpecError) as unknown_key:
        parse_spec(b'[project]\nname = "x"\n\n[python]\nbogus = 1\n', path="/w/envspec.toml", root="/w")
    place = unknown_key.value.place
    assert place is not None and (place.line, place.item) == (5, "[python].bogus")
    assert str(unknown_key.value).startswith("/w/envspec.toml:5: [python].bogus is not a known key")


def test_env_pass_takes_names_and_globs() -> None:
    spec = parse("[env]\npass = ['CI', 'AWS_*', 'GITHUB_?']\n")
    assert spec.env.pass_through == ("CI", "AWS_*", "GITHUB_?")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "['AWS-*']", "envspec.toml:2: [env].pass names 'AWS-'..., which is neither", id="bad-glob"
        ),
        pytest.param("['DEVENV_RUN_ID']", "[env].pass names DEVENV_RUN_ID, which devenv manages", id="label"),
        pytest.param("['PATH']", "[env].pass names PATH, which devenv manages", id="managed"),
        pytest.param("'CI'", "[env].pass", id="not-a-list"),
    ],
)
def test_env_pass_mistakes_name_the_key(value: str, expected: str) -> None:
    with pytest.raises(SpecError) as error:
        parse(f"[env]\npass = {value}\n")
    assert expected in str(error.value)
    assert error.value.exit_code == 2


def test_env_pass_and_inherit_cannot_name_one_key() -> None:
    with pytest.raises(SpecError, match=r"\[env\].pass names CI, which \[env\].inherit also names"):
        parse("[env]\ninherit = ['CI']\npass = ['CI']\n")


@hypothesis.given(
    hypothesis.strategies.lists(
        hypothesis.strategies.tuples(
            hypothesis.strategies.sampled_from(
                ["", "=", "==", "===", "~=", "!=", "<=", ">=", "<", ">", "=>"]
            ),
            hypothesis.strategies.text(alphabet="0123456789.*ab ٣", max_size=8),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_a_plain_specifier_is_one_packaging_accepts(clauses: list[tuple[str, str]]) -> None:
    """[python].requires skips packaging only for specifiers packaging itself accepts."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    text = ",".join(operator + version for operator, version in clauses)
    if plain_specifier(text):
        try:
            SpecifierSet(text)
        except InvalidSpecifier:
            raise AssertionError(f"{text!r} passed as plain, but packaging refuses it") from None


@pytest.mark.parametrize("requires", [">=3.11", ">=3.11,<3.14", "==3.12.*", "~=3.11", "!=3.12.0, >=3.10"])
def test_common_specifiers_are_plain(requires: str) -> None:
    assert plain_specifier(requires)


@pytest.mark.parametrize("requires", [">=3.11.*", "~=3", ">=3.11,", "3.11", ">=3.11rc1", "===3.11"])
def test_other_specifiers_go_to_packaging(requires: str) -> None:
    assert not plain_specifier(requires)
