"""doctor, explain, diff and ps through the real `devenv` CLI, and no secret in any of them."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from devenv.environment import default_instance
from devenv.renderers import FORMATS
from tests.support.broker import require_broker
from tests.support.leftovers import Spawn, spawner
from tests.support.processes import running, wait_for
from tests.support.projects import DEFAULT_SPEC, DEVENV, DOCTOR_CHECKS, Project, hermetic_env
from tests.support.secrets import assert_no_secret, leaked_forms

SLEEP = "import time; time.sleep(60)"

SLEEPER_TOML = """
[processes.sleeper]
command = ["python", "sleeper.py"]
ready = { log = "^ready$" }
stop_timeout = 5
"""

SLEEPER_PY = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"


def _with_run_id(run_id: str) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["environ", "status"])
        if (process.info["environ"] or {}).get("DEVENV_RUN_ID") == run_id
        and process.info["status"] != psutil.STATUS_ZOMBIE
    ]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Children started in their own session, none of which, nor anything a project under
    tmp_path launched, may outlive the test."""
    with spawner(tmp_path) as start:
        yield start


def assert_clean_error(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout == "", "errors go to stderr; stdout carries data only"
    assert result.stderr.startswith("devenv: error: "), result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# -- devenv doctor ---------------------------------------------------------------------------

_DOCTOR_LINE = re.compile(r"^(ok|warn|FAIL)\s+(\S.*?)  +(\S.*)$")
_STATUS = {"ok": "ok", "warn": "warn", "FAIL": "fail"}


def doctor_lines(stdout: str) -> list[tuple[str, str, str]]:
    """(status, check name, rest of the line) for each check line of `devenv doctor`."""
    lines = stdout.splitlines()
    assert re.fullmatch(r"\d+ failed, \d+ warning\(s\), \d+ ok", lines[-1]), stdout
    parsed = []
    for line in lines[:-1]:
        match = _DOCTOR_LINE.match(line)
        assert match, f"not a check line: {line!r}"
        parsed.append((_STATUS[match.group(1)], match.group(2), match.group(3)))
    return parsed


def doctor_json(project: Project, env: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]]]:
    result = project.devenv("doctor", "--json", env=env)
    document = json.loads(result.stdout)
    assert document["ok"] is (result.returncode == 0)
    return result.returncode, [(check["name"], check["status"]) for check in document["checks"]]


def loaded_shell(project: Project) -> dict[str, str]:
    """The outer environment of a shell that ran `eval "$(devenv print-env)"`."""
    result = project.devenv("print-env", "--format", "json")
    assert result.returncode == 0, result.stderr
    exported: dict[str, str] = json.loads(result.stdout)
    return hermetic_env() | exported


def test_doctor_before_sync_names_what_is_missing_in_order_and_sync_fixes_it(
    tmp_path: Path, shared_venv: str
) -> None:
    venv = tmp_path / "proj" / ".venv"  # not created yet: nothing was ever synced
    project = Project.create(tmp_path / "proj", venv=str(venv), spec=DEFAULT_SPEC.format(venv=venv))
    result = project.devenv("doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    checks = doctor_lines(result.stdout)
    assert [name for _, name, _ in checks] == DOCTOR_CHECKS
    failed = [(name, rest) for status, name, rest in checks if status == "fail"]
    assert [name for name, _ in failed] == ["interpreter", "state"], result.stdout
    for name, rest in failed:
        assert rest.endswith("(fix: devenv sync)"), f"{name}: {rest}"
    assert "never synced" in failed[0][1]
    assert checks[2][0] == "warn" and "skipped" in checks[2][2]  # packages: not failed twice
    assert result.stdout.splitlines()[-1].startswith("2 failed")
    assert not venv.exists() and not (project.root / ".devenv").exists(), "doctor must only read"
    assert doctor_json(project) == (1, [(name, status) for status, name, _ in checks])

    # The fix it names works.
    project.sync()
    result = project.devenv("doctor")
    assert result.returncode == 0, result.stdout


def test_doctor_names_an_unreachable_service_with_its_password_masked(project: Project) -> None:
    url = "amqp://guest:s3cretPw@127.0.0.1:1/%2F"
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv) + f'\n[services.mq]\ncheck = "amqp"\nurl = "{url}"\n',
    )
    project.sync()
    result = project.devenv("doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    checks = doctor_lines(result.stdout)
    (status, _, line) = next(check for check in checks if check[1] == "service mq")
    assert status == "fail", result.stdout
    assert "unreachable" in line
    assert "amqp://guest:***@127.0.0.1:1/%2F" in line
    assert "(fix: " in line and "start it" in line  # what to do, not just what is wrong
    assert [name for status, name, _ in checks if status == "fail"] == ["service mq"]
    as_json = project.devenv("doctor", "--json")
    assert json.loads(as_json.stdout)["ok"] is False and as_json.returncode == 1
    for text in (result.stdout, result.stderr, as_json.stdout, as_json.stderr):
        assert_no_secret(text, "s3cretPw")


def test_doctor_fix_for_a_service_url_written_in_the_spec_opens_the_spec(project: Project) -> None:
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + '\n[services.mq]\ncheck = "amqp"\nurl = "amqp://guest:guest@127.0.0.1:1/%2F"\n',
    )
    project.sync()
    checks = json.loads(project.devenv("doctor", "--json").stdout)["checks"]
    service = next(check for check in checks if check["name"] == "service mq")
    assert "envspec.toml" in service["fix"], service["fix"]


def test_doctor_after_sync_is_ok_and_an_unloaded_shell_only_warns(project: Project) -> None:
    project.sync()
    result = project.devenv("doctor")
    assert result.returncode == 0, result.stdout
    checks = doctor_lines(result.stdout)
    statuses = {name: status for status, name, _ in checks}
    assert statuses.pop("shell") == "warn"
    assert set(statuses.values()) == {"ok"}, result.stdout
    shell_line = next(rest for _, name, rest in checks if name == "shell")
    assert "PYTHONPATH missing" in shell_line and 'fix: eval "$(devenv print-env)"' in shell_line
    assert doctor_json(project) == (0, [(name, status) for status, name, _ in checks])

    # In a shell that loaded the environment, every check is ok.
    loaded = loaded_shell(project)
    result = project.devenv("doctor", env=loaded)
    assert result.returncode == 0, result.stdout
    assert {status for status, _, _ in doctor_lines(result.stdout)} == {"ok"}, result.stdout
    assert result.stdout.splitlines()[-1] == f"0 failed, 0 warning(s), {len(checks)} ok"
    code, statuses_json = doctor_json(project, loaded)
    assert code == 0 and {status for _, status in statuses_json} == {"ok"}


def test_doctor_reaches_a_running_broker(project: Project) -> None:
    require_broker()
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + '\n[services.mq]\ncheck = "amqp"\nurl = "amqp://guest:guest@127.0.0.1:5672/%2F"\n',
    )
    project.sync()
    result = project.devenv("doctor")
    assert result.returncode == 0, result.stdout
    (status, _, line) = next(check for check in doctor_lines(result.stdout) if check[1] == "service mq")
    assert status == "ok" and "amqp://guest:***@127.0.0.1:5672/%2F reachable" in line


# -- devenv explain --------------------------------------------------------------------------

EXPLAIN_DOTENV = "GREETING=from dot env\nDEMO_TOKEN=tok-explain-s3cret\n"


def explained(stdout: str) -> dict[str, tuple[str, str]]:
    """KEY -> (shown value, provenance line) from `devenv explain` text."""
    lines = stdout.splitlines()
    result = {}
    for first, second in itertools.pairwise(lines):
        if "=" in first and not first.startswith(" ") and second.startswith("    "):
            key, _, value = first.partition("=")
            result[key] = (value, second.strip())
    return result


def test_explain_shows_values_with_their_provenance_and_masks_secrets(project: Project) -> None:
    project.write(".env", EXPLAIN_DOTENV)
    result = project.devenv("explain")
    assert result.returncode == 0, result.stderr
    shown = explained(result.stdout)
    assert shown["GREETING"] == ("from dot env", "from .env:1; overrode .env.defaults:3")
    assert shown["SERVICE"] == ("demo", "from envspec.toml [vars]")
    assert shown["DATABASE_URL"] == (f"sqlite:///{project.root}/demo.db", "from .env.defaults:2")
    assert shown["PYTHONPATH"] == (
        f"{project.root}/lib-a/src:{project.root}/lib-b/src",
        "managed by devenv, controlled by [paths].pythonpath",
    )
    assert shown["PATH"][0].startswith(f"{project.venv}/bin:")
    assert shown["PATH"][1].startswith("managed by devenv")
    assert shown["DEMO_TOKEN"] == ("***", "from .env:2")
    assert result.stderr == "devenv: *** = secret, masked; `devenv explain --reveal KEY` shows it\n"
    assert "*** = secret" not in result.stdout  # a message, not data
    assert "PYTHONHOME (not set)\n    removed from every launch ([env].unset)" in result.stdout
    assert_no_secret(result.stdout + result.stderr, "tok-explain-s3cret")

    revealed = project.devenv("explain", "--reveal")
    assert explained(revealed.stdout)["DEMO_TOKEN"] == ("tok-explain-s3cret", "from .env:2")
    assert "*** = secret" not in revealed.stdout + revealed.stderr
    assert not (project.root / ".devenv").exists(), "explain must not write .devenv/"


def test_explain_one_key(project: Project) -> None:
    project.write(".env", EXPLAIN_DOTENV)
    result = project.devenv("explain", "GREETING")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "GREETING=from dot env\n    from .env:1; overrode .env.defaults:3\n"

    secret = project.devenv("explain", "DEMO_TOKEN")
    assert secret.stdout.splitlines()[:2] == ["DEMO_TOKEN=***", "    from .env:2"]
    assert_no_secret(secret.stdout + secret.stderr, "tok-explain-s3cret")
    revealed = project.devenv("explain", "--reveal", "DEMO_TOKEN")
    assert revealed.stdout == "DEMO_TOKEN=tok-explain-s3cret\n    from .env:2\n"

    not_set = project.devenv("explain", "PYTHONHOME")
    assert not_set.returncode == 0
    assert not_set.stdout == "PYTHONHOME (not set)\n    removed from every launch ([env].unset)\n"


def test_explain_unknown_key_is_usage_error_with_a_suggestion(project: Project) -> None:
    result = project.devenv("explain", "GREETNG")
    assert_clean_error(result, 2, "GREETNG is not a variable of this project; did you mean GREETING?")


def test_explain_json(project: Project) -> None:
    project.write(".env", EXPLAIN_DOTENV)
    result = project.devenv("explain", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["revealed"] is False and document["root"] == str(project.root)
    variables = {v["key"]: v for v in document["variables"]}
    assert variables["GREETING"]["source"] == ".env:1"
    assert variables["GREETING"]["overrode"] == [".env.defaults:3"]
    assert variables["SERVICE"]["source"] == "envspec.toml [vars]"
    assert variables["PYTHONPATH"]["source"] == "managed"
    assert variables["PYTHONPATH"]["managed_by"] == "[paths].pythonpath"
    assert (variables["DEMO_TOKEN"]["value"], variables["DEMO_TOKEN"]["masked"]) == ("***", True)
    assert "PYTHONHOME" in document["not_set"]
    assert_no_secret(result.stdout, "tok-explain-s3cret")

    one = json.loads(project.devenv("explain", "--json", "--reveal", "DEMO_TOKEN").stdout)
    assert one["revealed"] is True
    assert [(v["key"], v["value"], v["masked"]) for v in one["variables"]] == [
        ("DEMO_TOKEN", "tok-explain-s3cret", False)
    ]


# -- devenv diff PID -------------------------------------------------------------------------


def hand_built_env(project: Project, **changes: str) -> dict[str, str]:
    """The classic fixture bug: an env dict built by hand from the canonical one, without PYTHONPATH."""
    env = loaded_shell(project) | changes
    del env["PYTHONPATH"]
    # Under CI the test shell carries CI, which this project does not pass: devenv diff would
    # rightly report it as an extra key, on top of the one difference this test is about.
    env.pop("CI", None)
    return env


def venv_python(project: Project) -> str:
    return os.path.join(project.venv, "bin", "python")


def test_diff_names_pythonpath_missing_from_a_hand_built_env(project: Project, spawn: Spawn) -> None:
    project.sync()
    child = spawn([venv_python(project), "-c", SLEEP], env=hand_built_env(project))
    wait_for(running(child.pid, SLEEP), timeout=15, what="the child to start")

    result = project.devenv("diff", str(child.pid))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"PID {child.pid} (") and lines[0].endswith(
        "differs from the canonical environment"
    )
    expected = f"{project.root}/lib-a/src:{project.root}/lib-b/src"
    assert lines[1:] == [f"  missing    PYTHONPATH (expected {expected})"], "only the real difference"

    as_json = project.devenv("diff", "--json", str(child.pid))
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert (document["pid"], document["differs"], document["pythonpath"]) == (child.pid, True, "missing")
    assert document["pythonpath_missing"] == expected.split(":")


def test_diff_of_a_child_started_by_devenv_run_finds_no_difference(project: Project, spawn: Spawn) -> None:
    project.sync()
    child = spawn([DEVENV, "run", "--", "python", "-c", SLEEP], cwd=project.root, env=hermetic_env())
    wait_for(running(child.pid, SLEEP), timeout=15, what="devenv run to exec the child")

    result = project.devenv("diff", str(child.pid))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"PID {child.pid} (python): matches the canonical environment\n"
    as_json = project.devenv("diff", "--json", str(child.pid))
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert (document["differs"], document["pythonpath"], document["fingerprint"]) == (
        False,
        "same",
        "current",
    )


def test_diff_of_a_pid_that_does_not_exist_is_a_clear_error(project: Project, spawn: Spawn) -> None:
    project.sync()
    gone = spawn([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    result = project.devenv("diff", str(gone.pid))
    assert_clean_error(result, 2, f"no process {gone.pid} (it has exited, or the PID is wrong)")
    assert_clean_error(project.devenv("diff", "--json", str(gone.pid)), 2, f"no process {gone.pid}")
    typo = project.devenv("diff", "not-a-pid")
    assert_clean_error(
        typo, 2, "not-a-pid: not a PID and no such file; pass a PID or another machine's env.json"
    )
    assert "Traceback" not in typo.stderr


# -- devenv up and devenv ps -----------------------------------------------------------------


@dataclass
class Up:
    """A running `devenv up NAME` whose stdout/stderr go to files."""

    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    @property
    def child_pid(self) -> int:
        match = re.search(r"ready after [0-9.]+ s \(pid (\d+), log ", self.stderr())
        assert match, self.stderr()
        return int(match.group(1))

    def interrupt(self) -> int:
        """Ctrl-C in the terminal: SIGINT to devenv's process group; its exit code."""
        os.killpg(self.popen.pid, signal.SIGINT)
        return self.popen.wait(timeout=20)


def start_up(project: Project, name: str, spawn: Spawn, tmp_path: Path) -> Up:
    out, err = tmp_path / f"up-{name}.out", tmp_path / f"up-{name}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        popen = spawn(
            [DEVENV, "up", name], cwd=project.root, env=hermetic_env(), stdout=stdout, stderr=stderr
        )
    up = Up(popen=popen, out=out, err=err)
    wait_for(
        lambda: "ready after" in up.stderr() or popen.poll() is not None,
        timeout=15,
        what=f"{name} to be ready",
    )
    assert popen.poll() is None, up.stderr()
    return up


def sleeper_project(project: Project) -> Project:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + SLEEPER_TOML)
    project.write("sleeper.py", SLEEPER_PY)
    project.sync()
    return project


def test_ps_shows_a_process_of_devenv_up_current_then_stale_and_ctrl_c_stops_it(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    sleeper_project(project)
    up = start_up(project, "sleeper", spawn, tmp_path)
    wait_for(lambda: up.stdout() == "sleeper | ready\n", timeout=15, what="devenv up to stream the log")
    pid = up.child_pid

    listed = json.loads(project.devenv("ps", "--json").stdout)
    assert [(p["pid"], p["status"], p["root"]) for p in listed] == [(pid, "current", str(project.root))]
    run_id = listed[0]["run_id"]
    log = (project.root / ".devenv" / "logs" / f"sleeper-{run_id}.log").read_text()
    assert (project.root / ".devenv" / "logs" / "sleeper.log").read_text() == log
    assert f"==== run id: {run_id}  fingerprint: {listed[0]['fingerprint']}" in log
    table = project.devenv("ps")
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith(f"{pid} "))
    # The declared name and who started it, not `python`.
    assert run_id in row and row.split()[3:7] == [
        "sleeper",
        "up",
        default_instance(str(project.root)),
        "current",
    ], table.stdout

    with open(project.root / ".env", "a", encoding="utf-8") as handle:
        handle.write("GREETING=changed\n")
    table = project.devenv("ps")
    row = next(line for line in table.stdout.splitlines() if line.startswith(f"{pid} "))
    assert " stale " in row, table.stdout
    assert (
        table.stderr
        == "devenv: 1 process(es) run with a stale environment; restart them to pick up changes\n"
    )
    assert [p["status"] for p in json.loads(project.devenv("ps", "--json").stdout)] == ["stale"]

    assert up.interrupt() == 130
    assert f"devenv: stopping sleeper (pid {pid})" in up.stderr()
    assert "Traceback" not in up.stderr()
    assert not _with_run_id(run_id), "a process of the interrupted run survived"
    after = project.devenv("ps")
    assert (after.stdout, after.stderr) == ("", "devenv: no processes run in this project's environment\n")


# -- secrets never shown, except where asked for ---------------------------------------------

SECRETS = {
    "DEMO_TOKEN": "tok-s3cr3t-value-123",
    "DATABASE_URL password": "pw-s3cr3t-456",
    "API_PASSWORD": 'api s3cr3t "q" +/ 789',  # changes under URL and JSON encoding
}
#: Secrets that only ever appear in input devenv refuses: an error must not quote them.
IN_ERRORS = {"${...} inside DEMO_TOKEN": "v4lue-s3cr3t-789", "STRIPE_API_KEY as a number": "4242424242424242"}
#: What a process started before the last edit still carries: secrets too.
STALE = {"old DEMO_TOKEN": "tok-old-s3cr3t-000", "old DATABASE_URL password": "pw-old-s3cr3t-000"}

SECRETS_SPEC_TAIL = (
    SLEEPER_TOML
    + """
[services.db]
check = "tcp"
url = "${DATABASE_URL}"
"""
)
SECRETS_DEFAULTS = (
    "DATABASE_URL=postgres://app:pw-s3cr3t-456@127.0.0.1:1/db\n"
    "API_PASSWORD='api s3cr3t \"q\" +/ 789'\n"
    'GREETING="hello ${SERVICE}"\n'
)


def secrets_project(project: Project) -> Project:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + SECRETS_SPEC_TAIL)
    project.write(".env.defaults", SECRETS_DEFAULTS)
    project.write(".env", "DEMO_TOKEN=tok-s3cr3t-value-123\n")
    project.write("sleeper.py", SLEEPER_PY)
    return project


def shows(text: str, secret: str) -> bool:
    return any(form in text for form in leaked_forms(secret).values())


def assert_hidden(outputs: dict[str, str], secrets: dict[str, str]) -> None:
    """No secret in any output; the failure names the command and the secret, never the value."""
    leaks = []
    for label, text in outputs.items():
        for name, secret in secrets.items():
            try:
                assert_no_secret(text, secret)
            except AssertionError as error:
                leaks.append(f"{label}: {name}: {error}")
    assert not leaks, "\n".join(leaks)


def test_no_command_shows_a_secret(project: Project, spawn: Spawn, tmp_path: Path) -> None:
    secrets_project(project)
    outputs: dict[str, str] = {}
    variant = ""

    def record(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        result = project.devenv(*args, env=env)
        label = "devenv " + " ".join(args) + variant
        while f"{label} (stdout)" in outputs:  # the same command again, e.g. in another shell
            label += "'"
        assert result.returncode == code, f"{label}: exit {result.returncode}"
        assert "Traceback" not in result.stderr, label
        outputs[f"{label} (stdout)"] = result.stdout
        outputs[f"{label} (stderr)"] = result.stderr
        return result.stdout + result.stderr

    record("sync")
    assert "service db" in record("doctor", code=1)  # the service check quotes DATABASE_URL
    record("doctor", "--json", code=1)
    # A shell that still has old values of the secret keys: their names may show, values never.
    stale_shell = hermetic_env(DEMO_TOKEN=STALE["old DEMO_TOKEN"])
    record("doctor", code=1, env=stale_shell)
    record("explain")
    record("explain", "DEMO_TOKEN")
    record("explain", "API_PASSWORD")
    record("explain", "--json")
    record("ps")

    # diff: a devenv-run child, and one started by hand with old secrets and no PYTHONPATH.
    good = spawn([DEVENV, "run", "--", "python", "-c", SLEEP], cwd=project.root, env=hermetic_env())
    stale_env = hand_built_env(
        project,
        DEMO_TOKEN=STALE["old DEMO_TOKEN"],
        DATABASE_URL="postgres://app:pw-old-s3cr3t-000@127.0.0.1:1/db",
    )
    stale = spawn([venv_python(project), "-c", SLEEP], env=stale_env)
    wait_for(running(good.pid, SLEEP), timeout=15, what="devenv run to exec the child")
    wait_for(running(stale.pid, SLEEP), timeout=15, what="the hand-started child")
    record("diff", str(good.pid))
    different = record("diff", str(stale.pid), code=1)
    assert "different  DEMO_TOKEN: '***', expected '***'" in different
    assert "different  DATABASE_URL: 'postgres://app:***@127.0.0.1:1/db'" in different
    record("diff", "--json", str(stale.pid), code=1)

    up = start_up(project, "sleeper", spawn, tmp_path)
    record("ps")
    record("ps", "--json")
    assert up.interrupt() == 130
    outputs["devenv up sleeper (stdout)"] = up.stdout()
    outputs["devenv up sleeper (stderr)"] = up.stderr()
    outputs[".devenv/logs/sleeper.log"] = (project.root / ".devenv" / "logs" / "sleeper.log").read_text()

    record("run", "--", "false", code=1)
    record("run", "--", "no-such-command-xyz", code=127)

    # A broken .env line holding the secret itself: the error names file:line and key only.
    broken_lines = {
        "never closed": 'DEMO_TOKEN="tok-s3cr3t-value-123\nNEXT=1\nMORE=2\n',
        "closed by a later quote": 'DEMO_TOKEN="tok-s3cr3t-value-123\nNEXT=1\nOTHER="x"\n',
        "colon": "DEMO_TOKEN: tok-s3cr3t-value-123\n",
        "the secret pasted alone": "tok-s3cr3t-value-123\n",
        "the secret pasted alone, after a blank line": "\n\ntok-s3cr3t-value-123\n",
        "${...} inside the secret": "DEMO_TOKEN=tok${" + IN_ERRORS["${...} inside DEMO_TOKEN"] + "}\n",
    }
    for variant_name, broken in broken_lines.items():
        variant = f" [.env: {variant_name}]"
        project.write(".env", broken)
        line = broken.count("\n", 0, broken.index("tok")) + 1
        for command in (("sync",), ("print-env",), ("explain",), ("run", "--", "true"), ("up", "sleeper")):
            assert record(*command, code=2).startswith(f"devenv: error: .env:{line}: "), variant
        record("doctor", code=1)
        record("doctor", "--json", code=1)

    # A secret written into envspec.toml [vars] as a number: the type error names the key only.
    project.write(".env", "DEMO_TOKEN=tok-s3cr3t-value-123\n")
    spec = (project.root / "envspec.toml").read_text()
    wrong_type = IN_ERRORS["STRIPE_API_KEY as a number"]
    project.write("envspec.toml", spec.replace("[vars]\n", f"[vars]\nSTRIPE_API_KEY = {wrong_type}\n"))
    variant = " [envspec.toml: a secret of the wrong type]"
    for command in (("sync",), ("print-env",), ("explain",), ("run", "--", "true"), ("up", "sleeper")):
        assert "[vars].STRIPE_API_KEY must be a string" in record(*command, code=2), command
    record("doctor", code=1)
    record("doctor", "--json", code=1)

    assert_hidden(outputs, SECRETS | STALE | IN_ERRORS)


def test_print_env_and_explain_reveal_do_show_the_secrets(project: Project) -> None:
    """The positive control: the secrets above are real values that reach a launch."""
    secrets_project(project)
    project.sync()
    for fmt in FORMATS:
        result = project.devenv("print-env", "--format", fmt)
        assert result.returncode == 0, f"{fmt}: {result.stderr}"
        missing = [name for name, secret in SECRETS.items() if not shows(result.stdout, secret)]
        assert not missing, f"print-env --format {fmt} lacks {missing}"
    for args in (("explain", "--reveal"), ("explain", "--reveal", "--json")):
        result = project.devenv(*args)
        missing = [name for name, secret in SECRETS.items() if not shows(result.stdout, secret)]
        assert not missing, f"devenv {' '.join(args)} lacks {missing}"


def test_a_secret_inside_another_variable_is_masked_in_explain_and_diff(
    project: Project, spawn: Spawn
) -> None:
    secrets_project(project)
    project.write(".env", 'DEMO_TOKEN=tok-s3cr3t-value-123\nCURL_OPTS="-H Bearer ${DEMO_TOKEN}"\n')
    project.sync()
    outputs = {
        "explain": project.devenv("explain").stdout,
        "explain --json": project.devenv("explain", "--json").stdout,
        "explain CURL_OPTS": project.devenv("explain", "CURL_OPTS").stdout,
    }
    child = spawn([venv_python(project), "-c", SLEEP], env=hand_built_env(project, CURL_OPTS="-H Bearer old"))
    wait_for(running(child.pid, SLEEP), timeout=15, what="the hand-started child")
    outputs["diff"] = project.devenv("diff", str(child.pid)).stdout
    outputs["diff --json"] = project.devenv("diff", "--json", str(child.pid)).stdout
    assert "CURL_OPTS" in outputs["diff"]
    assert_hidden(outputs, {"DEMO_TOKEN": SECRETS["DEMO_TOKEN"]})


def test_a_secret_in_a_process_command_is_masked_in_its_log_and_errors(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    secrets_project(project)
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv)
        + SLEEPER_TOML.replace('"sleeper.py"]', '"sleeper.py", "${DATABASE_URL}", "${DEMO_TOKEN}"]')
        + '\n[processes.crash]\ncommand = ["python", "-c", "raise SystemExit(3)", "${DEMO_TOKEN}"]\n'
        + 'ready = { log = "^ready$" }\n',
    )
    project.sync()
    up = start_up(project, "sleeper", spawn, tmp_path)
    assert up.interrupt() == 130
    crash = project.devenv("up", "crash")
    assert "exited with code 3 before it was ready" in crash.stderr
    logs = project.root / ".devenv" / "logs"
    outputs = {
        "up sleeper (stderr)": up.stderr(),
        "sleeper.log": (logs / "sleeper.log").read_text(),
        "up crash (stderr)": crash.stderr,
        "crash.log": (logs / "crash.log").read_text(),
    }
    assert_hidden(outputs, {k: SECRETS[k] for k in ("DEMO_TOKEN", "DATABASE_URL password")})


# -- the leak paths found by the reliability pass --------------------------------------------

#: URL passwords people paste unencoded, one reserved character each; and a secret too short
#: to mask everywhere, under a key that says it is a password.
URL_PASSWORDS = {
    "URL_SLASH": "pw/s3cr3t-slash-901",
    "URL_QUERY": "pw?s3cr3t-query-902",
    "URL_HASH": "pw#s3cr3t-hash-903",
    "URL_AT": "pw@s3cr3t-at-904",
}
SHORT_SECRET = "k9z"

TALKER_PY = """\
import os, sys
for key in ("URL_SLASH", "URL_QUERY", "URL_HASH", "URL_AT", "DATABASE_URL"):
    print(key, "is", os.environ[key], flush=True)
print("password", os.environ["DB_PASSWORD"], "rejected", flush=True)
if sys.argv[1:] == ["crash"]:
    sys.exit(3)
print("ready", flush=True)
import time
time.sleep(60)
"""

TALKER_TOML = """
[processes.talker]
command = ["python", "talker.py"]
ready = { log = "^ready$" }
stop_timeout = 5

[processes.crasher]
command = ["python", "talker.py", "crash"]
ready = { log = "^ready$" }

[services.db]
check = "tcp"
url = "${DATABASE_URL}"

[services.mq]
check = "amqp"
url = "${MQ_URL}"
"""

#: The part of a URL password before its "/": URL parsers take it for the port and quote it
#: in their errors ("Port could not be cast to integer value as ...").
URL_PASSWORD_PREFIX = "LongSecretPrefix99"

FAILING_TEST = """\
def test_fails(devenv_process):
    devenv_process("talker")
    assert False, "fail, so that the talker's log is attached"
"""


def talker_project(project: Project) -> Project:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + TALKER_TOML)
    lines = [f"{key}=postgres://app:{password}@127.0.0.1:1/db" for key, password in URL_PASSWORDS.items()]
    lines.append(f"DATABASE_URL=postgres://app:{URL_PASSWORDS['URL_HASH']}@127.0.0.1:1/db")
    lines.append(f"DB_PASSWORD={SHORT_SECRET}")
    lines.append(f"MQ_URL=amqp://guest:{URL_PASSWORD_PREFIX}/rest@127.0.0.1:1/%2F")
    # Single quotes: python-dotenv would otherwise read " #" as the start of a comment.
    project.write(
        ".env.defaults", "".join(f"{line.split('=', 1)[0]}='{line.split('=', 1)[1]}'\n" for line in lines)
    )
    project.write("talker.py", TALKER_PY)
    project.write("test_inner.py", FAILING_TEST)
    project.sync()
    return project


def test_url_passwords_with_reserved_characters_and_short_secrets_are_masked_everywhere(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    talker_project(project)
    outputs: dict[str, str] = {}
    for args in (
        ("explain",),
        ("explain", "--json"),
        ("explain", "URL_AT"),
        ("doctor",),
        ("doctor", "--json"),
    ):
        result = project.devenv(*args)
        assert "Traceback" not in result.stderr
        outputs[" ".join(args)] = result.stdout + result.stderr
    assert "URL_SLASH=postgres://app:***@127.0.0.1:1/db" in outputs["explain"]
    assert "service db" in outputs["doctor"]
    assert "service 'mq' at amqp://guest:***@127.0.0.1:1/%2F is unreachable" in outputs["doctor"]
    assert_hidden({"doctor": outputs["doctor"]}, {"URL_PASSWORD_PREFIX": URL_PASSWORD_PREFIX})
    assert "must be percent-encoded" in outputs["doctor"]

    crash = project.devenv("up", "crasher")
    assert "exited with code 3 before it was ready" in crash.stderr, crash.stderr
    assert "password *** rejected" in crash.stderr, "the log tail is shown, with the short secret masked"
    outputs["up crasher (stderr)"] = crash.stderr

    basetemp = tmp_path / "inner-basetemp"
    inner = project.devenv(
        "run", "--", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}",
        "test_inner.py", timeout=120,
    )  # fmt: skip
    assert "Captured log devenv talker (call)" in inner.stdout, inner.stdout + inner.stderr
    assert "password *** rejected" in inner.stdout
    outputs["pytest report"] = inner.stdout + inner.stderr

    assert_hidden(outputs, {**URL_PASSWORDS, "URL_PASSWORD_PREFIX": URL_PASSWORD_PREFIX})
    leaks = [label for label, text in outputs.items() if re.search(rf"\b{SHORT_SECRET}\b", text)]
    assert not leaks, f"the short secret leaked into: {leaks}"


def test_up_masks_its_live_terminal_stream_like_its_log_files(
    project: Project, spawn: Spawn, tmp_path: Path
) -> None:
    talker_project(project)
    up = start_up(project, "talker", spawn, tmp_path)
    wait_for(lambda: "talker | ready" in up.stdout(), timeout=15, what="devenv up to stream the talker")
    assert up.interrupt() == 130
    streamed = up.stdout()
    assert "talker | URL_SLASH is postgres://app:***@127.0.0.1:1/db" in streamed, streamed
    assert "talker | password *** rejected" in streamed, "a short secret standing as a word is masked"
    assert_hidden({"up talker (stdout)": streamed}, {**URL_PASSWORDS, "DB_PASSWORD": SHORT_SECRET})


def test_diff_never_shows_an_old_rotated_secret_interpolated_into_another_variable(
    project: Project, spawn: Spawn
) -> None:
    secrets_project(project)
    project.write(".env", 'DEMO_TOKEN=tok-s3cr3t-value-123\nCURL_OPTS="-H Bearer ${DEMO_TOKEN}"\n')
    project.sync()
    old = STALE["old DEMO_TOKEN"]
    child = spawn(
        [venv_python(project), "-c", SLEEP],
        env=hand_built_env(project, DEMO_TOKEN=old, CURL_OPTS=f"-H Bearer {old}"),
    )
    wait_for(running(child.pid, SLEEP), timeout=15, what="the hand-started child")
    outputs = {
        "diff": project.devenv("diff", str(child.pid)).stdout,
        "diff --json": project.devenv("diff", "--json", str(child.pid)).stdout,
    }
    assert "different  CURL_OPTS: '-H Bearer ***'" in outputs["diff"], outputs["diff"]
    assert_hidden(outputs, {"old DEMO_TOKEN": old, "DEMO_TOKEN": SECRETS["DEMO_TOKEN"]})
