"""`devenv doctor`: each check broken in its own throw-away project, plus a clean one."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from devenv.doctor import DoctorReport, format_doctor, run_checks
from devenv.environment import exported
from devenv.snapshot import read_snapshot
from tests.support.broker import require_broker
from tests.support.projects import DEFAULT_SPEC, DOCTOR_CHECKS, Project, hermetic_env
from tests.support.secrets import assert_no_secret


def doctor(project: Project, outer: dict[str, str] | None = None) -> DoctorReport:
    return run_checks(str(project.root), hermetic_env() if outer is None else outer)


def assert_fails(report: DoctorReport, name: str, *, detail: str, fix: str) -> None:
    check = report.check(name)
    text = format_doctor(report)
    assert check.status == "fail", text
    assert detail in check.detail, text
    assert fix in check.fix, text
    assert report.exit_code == 1
    line = next(line for line in text.splitlines() if line.startswith("FAIL") and f" {name} " in line)
    assert detail in line and f"fix: {check.fix}" in line


def test_clean_project_is_all_ok_except_an_unloaded_shell(project: Project) -> None:
    project.sync()
    report = doctor(project)
    statuses = {check.name: check.status for check in report.checks}
    assert [c.name for c in report.checks] == DOCTOR_CHECKS
    assert statuses.pop("shell") == "warn"
    assert set(statuses.values()) == {"ok"}, format_doctor(report)
    assert report.check("shell").fix == 'eval "$(devenv print-env)"'
    assert report.exit_code == 0
    assert len(format_doctor(report).splitlines()) == len(report.checks) + 1
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_a_shell_that_loaded_the_env_is_ok(project: Project) -> None:
    project.sync()
    snapshot = read_snapshot(str(project.root))
    assert snapshot is not None
    outer = hermetic_env()
    outer.update(exported(snapshot.env, outer["PATH"]))
    report = doctor(project, outer)
    assert report.check("shell").status == "ok", format_doctor(report)
    assert report.exit_code == 0


def test_a_loaded_shell_that_lost_pythonpath_fails(project: Project) -> None:
    project.sync()
    snapshot = read_snapshot(str(project.root))
    assert snapshot is not None
    outer = hermetic_env()
    outer.update(exported(snapshot.env, outer["PATH"]))
    del outer["PYTHONPATH"]
    outer["PATH"] = "/usr/bin:" + outer["PATH"]
    report = doctor(project, outer)
    assert_fails(report, "shell", detail="PYTHONPATH missing", fix='eval "$(devenv print-env)"')
    assert "PATH does not start with" in report.check("shell").detail


def test_invalid_spec_fails_and_skips_the_rest(project: Project) -> None:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + "\n[bogus]\nx = 1\n")
    report = doctor(project)
    assert_fails(report, "spec", detail="[bogus] is not a known table", fix="envspec.toml")
    rest = report.checks[1:]
    assert rest and all(c.status == "warn" and c.detail == "skipped: spec invalid" for c in rest)


def test_never_synced_project_fails_with_devenv_sync(project: Project) -> None:
    report = doctor(project)
    assert_fails(report, "interpreter", detail="never synced", fix="devenv sync")
    assert report.check("packages").detail.startswith("skipped:")
    assert_fails(report, "state", detail="missing", fix="devenv sync")


def test_interpreter_not_satisfying_requires(project: Project) -> None:
    project.sync()
    spec = DEFAULT_SPEC.format(venv=project.venv).replace('requires = ">=3.11"', 'requires = ">=3.99"')
    project.write("envspec.toml", spec)
    report = doctor(project)
    assert_fails(
        report, "interpreter", detail="does not satisfy [python].requires = '>=3.99'", fix="devenv sync"
    )


def test_packages_changed_in_spec_since_sync(project: Project) -> None:
    project.sync()
    spec = DEFAULT_SPEC.format(venv=project.venv).replace('venv = "', 'packages = ["six==1.16.0"]\nvenv = "')
    project.write("envspec.toml", spec)
    report = doctor(project)
    assert_fails(
        report, "packages", detail="[python].packages changed since the last sync", fix="devenv sync"
    )


def test_packages_unchanged_since_the_sync_are_not_listed_again(tmp_path: Path) -> None:
    """sync.nul says the venv's site-packages are as the sync left them: doctor trusts that, as
    a no-op sync does, instead of starting the interpreter to list them; once they change
    (even by a folder that is no distribution), it lists them again."""
    project = Project.create(tmp_path / "proj", venv=".devenv/venv")
    project.sync()
    check = doctor(project).check("packages")
    assert check.status == "ok" and "(unchanged since)" in check.detail, check
    site = next((project.root / ".devenv" / "venv" / "lib").glob("python3*/site-packages"))
    (site / "not-a-distribution").mkdir()
    check = doctor(project).check("packages")
    assert check.status == "ok" and "as recorded by the last sync" in check.detail
    assert "(unchanged since)" not in check.detail


def test_packages_installed_and_removed_by_hand(tmp_path: Path) -> None:
    # Its own venv, made by devenv: "installing by hand" must not touch the venv other tests share.
    project = Project.create(tmp_path / "proj", venv=".devenv/venv")
    project.sync()
    venv = project.root / ".devenv" / "venv"
    site = next((venv / "lib").glob("python3*/site-packages"))
    info = site / "handmade-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: handmade\nVersion: 1.0\n")
    (info / "RECORD").write_text("handmade-1.0.dist-info/METADATA,,\nhandmade-1.0.dist-info/RECORD,,\n")
    report = doctor(project)
    assert_fails(report, "packages", detail="installed by hand: handmade==1.0", fix="devenv sync")

    # The fix works, in place: sync removes what the (empty) package list does not hold and
    # keeps the venv itself.
    inode = (venv / "bin").stat().st_ino
    result = project.sync()
    assert "removing 1 package the lock does not list: handmade" in result.stderr
    assert not info.exists()
    assert (venv / "bin").stat().st_ino == inode
    assert doctor(project).check("packages").status == "ok"

    # pip removed by hand, where the pip installer needs it: devenv made this venv, so it may
    # build it again (uv, the default, needs nothing inside the venv).
    spec = (project.root / "envspec.toml").read_text()
    project.write("envspec.toml", spec.replace("[python]\n", '[python]\ninstaller = "pip"\n', 1))
    project.sync()
    site = next((venv / "lib").glob("python3*/site-packages"))
    pip_info = next(site.glob("pip-*.dist-info"))
    shutil.rmtree(pip_info)
    report = doctor(project)
    assert_fails(report, "packages", detail="removed or changed by hand: pip==", fix="devenv sync")
    assert "has no pip (removed by hand?); creating it again" in project.sync().stderr
    assert doctor(project).check("packages").status == "ok"


def test_missing_pythonpath_folder(project: Project) -> None:
    project.sync()
    (project.root / "lib-b" / "src").rmdir()
    report = doctor(project)
    assert_fails(report, "pythonpath", detail="lib-b/src", fix="mkdir -p lib-b/src")
    assert report.check("variables").status == "ok"  # its own check, not a cascade


def test_a_project_path_with_a_colon_fails_pythonpath_and_every_command(
    tmp_path: Path, shared_venv: str
) -> None:
    project = Project.create(tmp_path / "client:acme", venv=shared_venv)
    report = doctor(project)
    assert_fails(report, "pythonpath", detail="has ':' in its path, which PYTHONPATH uses", fix="without ':'")
    result = project.devenv("sync")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"devenv: error: the project folder {project.root} has ':' in its path, which PYTHONPATH "
        "uses to separate folders, so PYTHONPATH would split it in two; move or rename the project "
        "folder to a path without ':'\n"
    )
    assert not (project.root / ".devenv").exists()  # refused before anything was written


def test_required_key_missing(project: Project) -> None:
    project.sync()
    project.write(".env.defaults", "GREETING=hi\n")
    report = doctor(project)
    assert_fails(report, "variables", detail="DATABASE_URL", fix="echo 'DATABASE_URL=...' >> .env")
    assert_fails(report, "state", detail=".env.defaults changed", fix="devenv sync")


def test_stale_state_after_an_env_edit(project: Project) -> None:
    project.sync()
    with open(project.root / ".env.defaults", "a", encoding="utf-8") as handle:
        handle.write("EXTRA=1\n")
    report = doctor(project)
    assert_fails(report, "state", detail="stale: .env.defaults changed", fix="devenv sync")
    assert report.check("variables").status == "ok"


def test_touched_input_without_change_is_not_stale(project: Project) -> None:
    project.sync()
    path = project.root / ".env.defaults"
    path.write_text(path.read_text())
    os.utime(path, ns=(1, 1))
    assert doctor(project).check("state").status == "ok"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_project(project: Project, url: str) -> Project:
    spec = DEFAULT_SPEC.format(venv=project.venv) + f'\n[services.rabbitmq]\ncheck = "amqp"\nurl = "{url}"\n'
    project.write("envspec.toml", spec)
    project.sync()
    return project


def test_service_down_is_refused_with_a_fix(project: Project) -> None:
    _service_project(project, f"amqp://guest:closedpw@127.0.0.1:{_closed_port()}/")
    report = doctor(project)
    assert_fails(report, "service rabbitmq", detail="connection refused", fix="envspec.toml")
    assert_no_secret(format_doctor(report), "closedpw")


def test_service_bad_password_is_classified_and_masked(project: Project) -> None:
    require_broker()
    _service_project(project, "amqp://guest:wrong-password-1@127.0.0.1:5672/")
    report = doctor(project)
    assert_fails(report, "service rabbitmq", detail="authentication failed", fix="envspec.toml")
    assert "amqp://guest:***@127.0.0.1:5672/" in report.check("service rabbitmq").detail
    assert_no_secret(format_doctor(report), "wrong-password-1")
    assert_no_secret(json.dumps(report.to_json()), "wrong-password-1")


def test_service_reachable_is_ok(project: Project) -> None:
    require_broker()
    _service_project(project, "amqp://guest:guest@127.0.0.1:5672/")
    check = doctor(project).check("service rabbitmq")
    assert check.status == "ok", check.detail
    assert "guest:***@" in check.detail


def test_secrets_never_reach_doctor_output(project: Project) -> None:
    project.sync(env=hermetic_env(DEMO_TOKEN="s3nt1nel-doctor-token"))
    # The shell drifted on the secret key itself: its name may show, its value never.
    report = doctor(project, hermetic_env(DEMO_TOKEN="s3nt1nel-other-value"))
    text = format_doctor(report) + json.dumps(report.to_json())
    assert_no_secret(text, "s3nt1nel-doctor-token")
    assert_no_secret(text, "s3nt1nel-other-value")


@pytest.mark.parametrize(
    ("breakage", "check", "fix"),
    [
        pytest.param(
            ("envspec.toml", "\n[bogus]\nx = 1\n"), "spec", "envspec.toml  # line ", id="unknown-spec-table"
        ),
        # In the first of two files: a fix guessed from the last file would be wrong.
        pytest.param(
            (".env.defaults", 'BROKEN="no end\n'),
            "variables",
            "vi} .env.defaults  # line 1",
            id="unparseable-env-line",
        ),
        pytest.param(
            (".env.defaults", "SAFE=${UNDEFINED}\n"),
            "variables",
            "vi} .env.defaults  # line 1",
            id="undefined-reference",
        ),
        pytest.param(
            (".env.defaults", "GREETING=hi\n"), "variables", "echo 'DATABASE_URL=...' >> .env", id="required"
        ),
    ],
)
def test_a_reworded_message_leaves_the_fix_unchanged(
    project: Project, monkeypatch: pytest.MonkeyPatch, breakage: tuple[str, str], check: str, fix: str
) -> None:
    # Doctor builds its fix from the error's fields (place, keys, cause): rewording every
    # message (here: all of them at once) must not change a single fix.
    from devenv.errors import DevenvError

    project.sync()
    name, text = breakage
    if name == "envspec.toml":
        text = DEFAULT_SPEC.format(venv=project.venv) + text
    project.write(name, text)
    before = doctor(project)
    assert fix in before.check(check).fix, format_doctor(before)
    monkeypatch.setattr(DevenvError, "__str__", lambda self: "reworded, naming no file, key or cause")
    after = doctor(project)
    assert after.check(check).detail == "reworded, naming no file, key or cause"
    assert [(c.name, c.fix) for c in after.checks] == [(c.name, c.fix) for c in before.checks]


@pytest.mark.parametrize(
    ("cause", "fix"),
    [
        ("auth", "${EDITOR:-vi} envspec.toml"),
        ("bad-url", "${EDITOR:-vi} envspec.toml"),
        ("refused", "start-it"),
    ],
)
def test_a_service_fix_follows_the_cause_field_not_the_message(cause: str, fix: str) -> None:
    # A wrong URL is fixed by editing it; an unreachable service by starting it. The message
    # here says neither: only `cause` (services.py's classification) can tell.
    from devenv.doctor import _service_fix
    from devenv.errors import ServiceError
    from devenv.spec import parse_spec

    text = '[services.rabbitmq]\ncheck = "amqp"\nurl = "amqp://127.0.0.1/"\nstart = ["start-it"]\n'
    spec = parse_spec(text.encode(), path="/w/envspec.toml", root="/w")
    assert _service_fix(spec, "rabbitmq", ServiceError("reworded", cause=cause)) == fix


@pytest.mark.parametrize(
    "drift",
    ["none", "value", "missing-key", "pythonpath-order", "unset-key-present", "path-first", "fingerprint"],
)
def test_doctor_shell_check_and_devenv_diff_use_one_rule(project: Project, drift: str) -> None:
    # `devenv doctor` (this shell) and `devenv diff PID` (a process) must never disagree
    # about the same environment: both are drift.compare.
    from devenv.doctor import shell_drift
    from devenv.drift import compare

    project.sync()
    snapshot = read_snapshot(str(project.root))
    assert snapshot is not None
    env = snapshot.env
    outer = hermetic_env()
    # Under CI, hermetic_env() carries CI, which this project does not pass: the shell check
    # only notes such a key, while a process that has it differs (devenv diff's extra keys).
    outer.pop("CI", None)
    outer.update(exported(env, outer["PATH"]))
    if drift == "value":
        outer["SERVICE"] = "changed"
    elif drift == "missing-key":
        del outer["SERVICE"]
    elif drift == "pythonpath-order":
        outer["PYTHONPATH"] = os.pathsep.join(reversed(outer["PYTHONPATH"].split(os.pathsep)))
    elif drift == "unset-key-present":
        outer["DEMO_UNSET_ME"] = "left over"
    elif drift == "path-first":
        outer["PATH"] = "/usr/bin" + os.pathsep + outer["PATH"]
    elif drift == "fingerprint":
        outer["DEVENV_FINGERPRINT"] = "0" * 16
    check = shell_drift(env, outer)
    assert (check.status == "ok") == (not compare(0, "shell", outer, env).differs), check.detail
    assert (check.status == "ok") == (drift == "none"), check.detail


# -- the commands of tasks and processes --------------------------------------------------------

UNITS_SPEC = """\
[python]
venv = "{venv}"

[vars]
CELERY_QUEUE = "jobs_${{DEVENV_INSTANCE}}"
PORT = "18733"

[tasks.migrate]
command = ["python", "-c", "print('migrated')"]

[processes.worker]
command = ["python", "-c", "import time; time.sleep(600)", "-Q", "${{CELERY_QUEUE}}"]
needs = ["migrate"]

[processes.web]
command = ["python", "-m", "http.server", "${{PORT}}"]
ready = {{ http = "http://127.0.0.1:${{PORT}}/" }}
"""


def units_project(tmp_path: Path, venv: str, *, old: str = "", new: str = "") -> tuple[Project, int]:
    """A synced project with one task and two processes, `old` replaced by `new` in its spec;
    and the line of the spec that holds `new` (0 if none)."""
    spec = UNITS_SPEC.format(venv=venv).replace(old, new) if old else UNITS_SPEC.format(venv=venv)
    project = Project.create(tmp_path / "proj", venv=venv, spec=spec, dotenv="")
    project.sync()
    line = next((n for n, text in enumerate(spec.splitlines(), 1) if new and new in text), 0)
    return project, line


def doctor_cli(project: Project) -> tuple[int, dict[str, str]]:
    """`devenv doctor` (the real CLI): its exit code and, by check name, each check's line
    without the name's padding (`FAIL  process web  detail  (fix: ...)`)."""
    result = project.devenv("doctor")
    names = ["task migrate", "process worker", "process web", *DOCTOR_CHECKS]
    lines = {}
    for line in result.stdout.splitlines()[:-1]:
        mark, rest = line[:4].strip(), line[6:]
        name = next(name for name in names if rest.startswith(name + " "))
        lines[name] = f"{mark}  {name}  {rest[len(name) :].lstrip()}"
    return result.returncode, lines


def test_every_task_and_process_command_is_checked_as_a_launch_resolves_it(
    tmp_path: Path, shared_venv: str
) -> None:
    project, _ = units_project(tmp_path, shared_venv)
    code, lines = doctor_cli(project)
    assert code == 0, lines
    # In the order up runs them, after the services and before the shell.
    names = list(lines)
    assert names[names.index("state") + 1 :] == ["task migrate", "process worker", "process web", "shell"]
    python = os.path.join(shared_venv, "bin", "python")
    assert (
        lines["task migrate"].startswith("ok") and f"runs {python} (command resolved" in lines["task migrate"]
    )
    assert "(command, ready resolved as a launch would)" in lines["process web"]


@pytest.mark.parametrize(
    ("old", "new", "detail"),
    [
        pytest.param(
            '"-Q", "${CELERY_QUEUE}"',
            '"-Q", "${CELERY_QUEU}"',
            "[processes.worker].command references ${CELERY_QUEU}, which is not defined",
            id="undefined-reference",
        ),
        pytest.param(
            '["python", "-c", "import time',
            '["celry", "-c", "import time',
            "process 'worker': command not found: celry",
            id="misspelt-command-word",
        ),
        pytest.param(
            'http = "http://127.0.0.1:${PORT}/"',
            'http = "http://127.0.0.1:${PROT}/"',
            "[processes.web].ready references ${PROT}, which is not defined",
            id="undefined-in-ready",
        ),
    ],
)
def test_a_typo_in_a_process_command_fails_doctor_naming_the_line_and_the_fix(
    tmp_path: Path, shared_venv: str, old: str, new: str, detail: str
) -> None:
    project, line = units_project(tmp_path, shared_venv, old=old, new=new)
    assert line
    code, lines = doctor_cli(project)
    assert code == 1, lines
    name = "process web" if "web" in detail else "process worker"
    spec = project.root / "envspec.toml"
    assert lines[name].startswith(f"FAIL  {name}  {spec}:{line}: {detail}"), lines[name]
    assert lines[name].endswith(f"(fix: ${{EDITOR:-vi}} {spec}  # line {line})"), lines[name]
    others = [check for check, text in lines.items() if check != name and not text.startswith(("ok", "warn"))]
    assert others == []


def test_a_misspelt_task_command_fails_doctor(tmp_path: Path, shared_venv: str) -> None:
    project, line = units_project(
        tmp_path, shared_venv, old='["python", "-c", "print', new='["pyhton", "-c", "print'
    )
    code, lines = doctor_cli(project)
    assert code == 1
    assert f"envspec.toml:{line}: task 'migrate': command not found: pyhton" in lines["task migrate"]
    assert "([tasks.migrate].command)" in lines["task migrate"]
