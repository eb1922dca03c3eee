"""Real project shapes (issue 15): flat layouts, one-shot tasks, per-process env and cwd,
profiles, all through the real `devenv` CLI, real subprocesses and /proc.

The findings each test answers came from adopting flat FastAPI and Django apps: `.` on
PYTHONPATH refused (with a fix that proposed the refused value), no way to run
`manage.py migrate` before a worker, `env`/`cwd` unknown under `[processes.*]`, and no
`.envs/.local` against `.envs/.production`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devenv.environment import default_instance
from tests.conftest import require_tool
from tests.support.leftovers import forbid_leftovers
from tests.support.processes import gone, wait_for
from tests.support.projects import DEVENV, Project, hermetic_env


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    with forbid_leftovers(tmp_path):
        yield


def environ_of(pid: int) -> dict[str, str]:
    """What the process was started with (/proc/PID/environ)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = [item.split(b"=", 1) for item in raw.split(b"\0") if item]
    return {key.decode(): value.decode("utf-8", "surrogateescape") for key, value in pairs}


def explained(project: Project, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """`devenv explain --reveal --json ARGS` as KEY -> value, with the keys it says are not set
    mapped to None."""
    result = project.devenv("explain", "--reveal", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    shown: dict[str, str] = {v["key"]: v["value"] for v in document["variables"]}
    return shown


def not_set(project: Project, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = project.devenv("explain", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout)["not_set"])


# -- flat layouts ------------------------------------------------------------------------------


def test_a_flat_layout_puts_the_root_on_pythonpath_and_imports_from_any_subfolder(tmp_path: Path) -> None:
    spec = '[paths]\npythonpath = ["."]\n'
    project = Project.create(tmp_path / "flat", venv=".devenv/venv", spec=spec, dotenv="")
    project.write("main.py", "celery = 'the app'\n")
    project.write("project/settings.py", "DEBUG = True\n")
    result = project.devenv("sync")
    assert result.returncode == 0, result.stderr
    for where in (project.root, project.root / "project"):
        imported = project.devenv(
            "run", "--", "python", "-c", "import main, project.settings; print(main.celery)", cwd=where
        )
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout == "the app\n"
    assert (project.root / ".devenv" / "venv" / "pyvenv.cfg").is_file()


@pytest.mark.parametrize(
    ("venv", "pythonpath"),
    [
        # The default itself is refused: it must not be proposed (it used to be).
        (".devenv/venv", [".devenv/venv/lib"]),
        ("lib", ["lib/src"]),
        (".", ["."]),
    ],
    ids=["default-holds-a-path", "custom-holds-a-path", "the-root"],
)
def test_a_refused_venv_is_never_proposed_as_the_fix_and_the_proposal_works(
    tmp_path: Path, venv: str, pythonpath: list[str]
) -> None:
    spec = f'[python]\nvenv = "{venv}"\n[paths]\npythonpath = {json.dumps(pythonpath)}\n'
    project = Project.create(tmp_path / "proj", venv=venv, spec=spec, dotenv="")
    for folder in pythonpath:
        (project.root / folder).mkdir(parents=True, exist_ok=True)
    before = sorted(str(p) for p in project.root.rglob("*"))
    result = project.devenv("sync")
    assert result.returncode == 2, result.stderr
    assert "[python].venv" in result.stderr and "Traceback" not in result.stderr
    assert sorted(str(p) for p in project.root.rglob("*")) == before
    proposed = result.stderr.split('use e.g. "')[1].split('"')[0]
    assert proposed != venv
    project.write("envspec.toml", spec.replace(f'venv = "{venv}"', f'venv = "{proposed}"'))
    again = project.devenv("sync")
    assert again.returncode == 0, again.stderr


# -- tasks -------------------------------------------------------------------------------------

TASKS_SPEC = """\
[python]
venv = "{venv}"

[vars]
PYTHONUNBUFFERED = "1"
DB = "${{DEVENV_ROOT}}/db-${{DEVENV_INSTANCE}}.txt"

[tasks.createdb]
command = ["python", "-c", "import os; open(os.environ['DB'], 'a').close(); print('created')"]

[tasks.migrate]
command = {migrate}
needs = ["createdb"]
timeout = {timeout}

[processes.web]
command = ["python", "-c", "import os, time; assert 'migrated' in open(os.environ['DB']).read(); print('web up', flush=True); time.sleep(600)"]
needs = ["migrate"]
ready = {{ log = "^web up" }}
stop_timeout = 2
"""

MIGRATE_OK = [
    "python",
    "-c",
    "import os; open(os.environ['DB'], 'a').write('migrated\\n'); print('migrated')",
]
MIGRATE_FAILS = [
    "python",
    "-c",
    "import sys; print('applying 0002_add_index'); sys.stdout.flush(); raise SystemExit('relation already exists')",
]


def tasks_project(tmp_path: Path, venv: str, migrate: list[str], timeout: float = 60) -> Project:
    spec = TASKS_SPEC.format(venv=venv, migrate=json.dumps(migrate), timeout=timeout)
    project = Project.create(tmp_path / "proj", venv=venv, spec=spec, dotenv="")
    project.sync()
    return project


def start_up(project: Project, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DEVENV, *args, "up"],
        cwd=project.root,
        env=env or hermetic_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(stream: object, pattern: str, timeout: float = 30) -> list[str]:
    """Lines from `stream` up to and including the first holding `pattern`."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.2):
            continue
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        lines.append(line)
        if pattern in line:
            return lines
    pytest.fail(f"no line with {pattern!r} within {timeout} s; saw:\n{''.join(lines)}")


def interrupt(up: subprocess.Popen[str]) -> tuple[int, str]:
    up.send_signal(signal.SIGINT)
    _, err = up.communicate(timeout=30)
    return up.returncode, err


def test_tasks_run_to_completion_first_and_up_keeps_the_process_that_needed_them(
    tmp_path: Path, shared_venv: str
) -> None:
    project = tasks_project(tmp_path, shared_venv, MIGRATE_OK)
    up = start_up(project)
    try:
        lines = read_until(up.stderr, "web ready")
        text = "".join(lines)
        assert (
            text.index("task createdb finished")
            < text.index("task migrate finished")
            < text.index("web ready")
        )
        # A task that exited 0 is done, not a crash: web stays up.
        time.sleep(1.0)
        assert up.poll() is None
        assert (project.root / f"db-{default_instance(str(project.root))}.txt").read_text() == "migrated\n"
    finally:
        code, err = interrupt(up)
    assert code == 130, err
    assert "exited with code 0" not in err
    logs = project.root / ".devenv" / "logs"
    assert len(list(logs.glob("createdb-*.log"))) == 1 and len(list(logs.glob("migrate-*.log"))) == 1


def test_the_api_s_overrides_reach_the_tasks_it_runs_first(tmp_path: Path, shared_venv: str) -> None:
    """A test's own database is the one its migrations run against: `web` asserts that its
    DB holds "migrated", so it could not become ready if the tasks had used another DB."""
    import devenv

    project = tasks_project(tmp_path, shared_venv, MIGRATE_OK)
    done: set[str] = set()
    mine = tmp_path / "test-own-db.txt"
    for _ in range(2):  # the second start finds the tasks done for these overrides
        with devenv.start("web", root=str(project.root), overrides={"DB": str(mine)}, tasks_done=done) as web:
            assert web.ready_after is not None
    assert mine.read_text() == "migrated\n"
    assert not (project.root / f"db-{default_instance(str(project.root))}.txt").exists()
    other = tmp_path / "other-db.txt"
    with devenv.start("web", root=str(project.root), overrides={"DB": str(other)}, tasks_done=done):
        pass
    assert other.read_text() == "migrated\n", "other overrides: the tasks ran again, in their environment"
    assert all(str(mine) not in key for key in done), "the done set never holds an override's value"


def test_a_failing_task_stops_the_start_with_its_code_meaning_and_log_tail(
    tmp_path: Path, shared_venv: str
) -> None:
    project = tasks_project(tmp_path, shared_venv, MIGRATE_FAILS)
    result = project.devenv("up", "web", timeout=60)
    assert result.returncode == 1, result.stderr
    assert "devenv: error: task 'migrate' exited with code 1" in result.stderr
    assert "Python exits 1 on an uncaught exception" in result.stderr
    assert "applying 0002_add_index" in result.stderr and "relation already exists" in result.stderr
    assert "Traceback" not in result.stderr.split("--- last lines")[0]
    assert not list((project.root / ".devenv" / "logs").glob("web-*.log"))  # web never started


def test_devenv_task_runs_what_it_needs_shows_its_output_and_keeps_a_log_per_run(
    tmp_path: Path, shared_venv: str
) -> None:
    project = tasks_project(tmp_path, shared_venv, MIGRATE_OK)
    for _ in range(2):
        result = project.devenv("task", "migrate")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "created\nmigrated\n"
        assert "task migrate finished in" in result.stderr
    db = project.root / f"db-{default_instance(str(project.root))}.txt"
    assert db.read_text() == "migrated\nmigrated\n"
    logs = sorted((project.root / ".devenv" / "logs").glob("migrate-*.log"))
    assert len(logs) == 2
    assert all("migrated" in log.read_text() for log in logs)
    failed = tasks_project(tmp_path / "other", shared_venv, MIGRATE_FAILS).devenv("task", "migrate")
    assert failed.returncode == 1 and "relation already exists" in failed.stderr
    unknown = project.devenv("task", "migrat")
    assert unknown.returncode == 2 and "declared: createdb, migrate" in unknown.stderr


LEAKS = [
    "python",
    "-c",
    "import os, sys; print('key is', os.environ['DJANGO_SECRET_KEY']); print('pw', os.environ['DB_PASSWORD'],"
    " 'rejected'); print('url', os.environ['BROKER_URL'], flush=True); sys.exit(3)",
]


def test_devenv_task_masks_secrets_in_its_output_as_up_does(tmp_path: Path, shared_venv: str) -> None:
    spec = TASKS_SPEC.format(venv=shared_venv, migrate=json.dumps(LEAKS), timeout=60).replace(
        'PYTHONUNBUFFERED = "1"\n',
        'PYTHONUNBUFFERED = "1"\nDJANGO_SECRET_KEY = "k3y-with-$-and-quotes"\nDB_PASSWORD = "k9z"\n'
        'BROKER_URL = "amqp://guest:brokerpass@127.0.0.1:5672//"\n',
    )
    project = Project.create(tmp_path / "proj", venv=shared_venv, spec=spec, dotenv="")
    project.sync()
    result = project.devenv("task", "migrate")
    assert result.returncode == 3, result.stderr
    # What up's terminal (and its combined log) shows of a process, the task's stdout shows:
    # secret values, short secrets standing as a word, and URL passwords as ***.
    assert result.stdout == "created\nkey is ***\npw *** rejected\nurl amqp://guest:***@127.0.0.1:5672//\n"
    assert "key is ***" in result.stderr and "pw *** rejected" in result.stderr
    for secret in ("k3y-with-$-and-quotes", "k9z", "brokerpass"):
        assert secret not in result.stdout + result.stderr
    # The task's own log keeps what it printed, as a process's log under up does; its header
    # (devenv's own lines) is masked.
    (log,) = (project.root / ".devenv" / "logs").glob("migrate-*.log")
    assert "key is k3y-with-$-and-quotes" in log.read_text()


def test_a_task_that_outruns_its_timeout_is_stopped_and_reported(tmp_path: Path, shared_venv: str) -> None:
    slow = ["python", "-c", "import time; print('waiting for a lock', flush=True); time.sleep(600)"]
    project = tasks_project(tmp_path, shared_venv, slow, timeout=1)
    result = project.devenv("task", "migrate", timeout=60)
    assert result.returncode == 124, result.stderr
    assert "did not finish within [tasks.migrate].timeout = 1 s; it was stopped" in result.stderr
    assert "waiting for a lock" in result.stderr


def test_what_a_task_leaves_running_is_killed_when_it_exits(tmp_path: Path, shared_venv: str) -> None:
    # A daemon in its own session: only devenv's stop path (run marker, recorded tree) finds it.
    forks = [
        "python",
        "-c",
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " start_new_session=True); print(p.pid)",
    ]
    project = tasks_project(tmp_path, shared_venv, forks)
    result = project.devenv("task", "migrate")
    assert result.returncode == 0, result.stderr
    daemon = int(result.stdout.splitlines()[-1])
    wait_for(lambda: gone(daemon), timeout=10, what="the task's daemon to be gone")


TYPO_SPEC = """\
[python]
venv = "{venv}"

[vars]
CELERY_QUEUE = "jobs_${{DEVENV_INSTANCE}}"

[tasks.createdb]
command = ["python", "-c", "open('createdb.marker', 'w').write('ran')"]

[tasks.migrate]
command = {migrate}
needs = ["createdb"]

[processes.worker]
command = {worker}
needs = ["migrate"]
ready = {{ log = "^worker up" }}
stop_timeout = 2
"""

WORKER_OK = [
    "python",
    "-c",
    "import sys, time; print('worker up', sys.argv[1:], flush=True); time.sleep(600)",
]
MIGRATE_MARKS = ["python", "-c", "open('migrate.marker', 'w').write('ran')"]


def typo_project(tmp_path: Path, venv: str, *, migrate: list[str], worker: list[str]) -> tuple[Project, int]:
    """A synced project whose worker needs two tasks that leave a marker file each; and the
    line of envspec.toml that holds the first typo (a word with a `U}` or `celry`/`pyhton`)."""
    spec = TYPO_SPEC.format(venv=venv, migrate=json.dumps(migrate), worker=json.dumps(worker))
    project = Project.create(tmp_path / "proj", venv=venv, spec=spec, dotenv="")
    project.sync()
    typos = ("QUEU}", "celry", "pyhton")
    line = next(n for n, text in enumerate(spec.splitlines(), 1) if any(typo in text for typo in typos))
    return project, line


TYPOS = [
    pytest.param(
        MIGRATE_MARKS,
        [*WORKER_OK, "-Q", "${CELERY_QUEU}"],
        "[processes.worker].command references ${CELERY_QUEU}, which is not defined",
        id="undefined-reference",
    ),
    pytest.param(
        MIGRATE_MARKS,
        ["celry", "-A", "proj", "worker", "-Q", "${CELERY_QUEUE}"],
        "process 'worker': command not found: celry",
        id="misspelt-command-word",
    ),
    pytest.param(
        ["pyhton", *MIGRATE_MARKS[1:]],
        WORKER_OK,
        "task 'migrate': command not found: pyhton",
        id="misspelt-task-command",
    ),
]


@pytest.mark.parametrize(("migrate", "worker", "message"), TYPOS)
def test_a_typo_in_a_command_fails_up_at_once_before_any_task_runs(
    tmp_path: Path, shared_venv: str, migrate: list[str], worker: list[str], message: str
) -> None:
    project, line = typo_project(tmp_path, shared_venv, migrate=migrate, worker=worker)
    for command in (("up", "worker"), ("up", "-d", "worker"), ("task", "migrate")):
        if command[0] == "task" and "worker" in message:
            continue  # devenv task runs tasks only: the worker's command is not its business
        result = project.devenv(*command, timeout=60)
        assert result.returncode == 2, (command, result.stderr)
        spec = project.root / "envspec.toml"
        assert result.stderr.startswith(f"devenv: error: {spec}:{line}: {message}"), (command, result.stderr)
        assert not (project.root / "createdb.marker").exists(), command
        assert not (project.root / "migrate.marker").exists(), command
        assert not list((project.root / ".devenv" / "logs").glob("*-*.log")), command


@pytest.mark.parametrize(("migrate", "worker", "message"), TYPOS)
def test_a_typo_in_a_command_fails_the_api_s_start_before_any_task_runs(
    tmp_path: Path, shared_venv: str, migrate: list[str], worker: list[str], message: str
) -> None:
    """devenv.start, and so the pytest fixture (which calls it), checks the whole start first."""
    import devenv
    from devenv.errors import DevenvError

    project, line = typo_project(tmp_path, shared_venv, migrate=migrate, worker=worker)
    with pytest.raises(DevenvError) as raised:
        devenv.start("worker", root=str(project.root))
    assert str(raised.value).startswith(f"{project.root / 'envspec.toml'}:{line}: {message}")
    assert raised.value.exit_code == 2
    assert raised.value.place is not None and raised.value.place.line == line
    assert not (project.root / "createdb.marker").exists()
    assert not (project.root / "migrate.marker").exists()


def test_without_a_typo_the_same_start_runs_its_tasks_and_comes_up(tmp_path: Path, shared_venv: str) -> None:
    import devenv

    spec = TYPO_SPEC.format(venv=shared_venv, migrate=json.dumps(MIGRATE_MARKS), worker=json.dumps(WORKER_OK))
    project = Project.create(tmp_path / "proj", venv=shared_venv, spec=spec, dotenv="")
    project.sync()
    with devenv.start("worker", root=str(project.root)) as worker:
        assert worker.ready_after is not None
    assert (project.root / "createdb.marker").read_text() == "ran"
    assert (project.root / "migrate.marker").read_text() == "ran"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            '[tasks.t]\ncommand = ["true"]\nneeds = ["web"]\n[processes.web]\ncommand = ["x"]\n',
            "names the process 'web'",
        ),
        (
            '[tasks.a]\ncommand = ["true"]\nneeds = ["b"]\n[tasks.b]\ncommand = ["true"]\nneeds = ["a"]\n',
            "forms a cycle",
        ),
        ('[tasks.t]\ncommand = ["true"]\n[processes.t]\ncommand = ["x"]\n', "has the name of [tasks.t]"),
        ('[tasks.t]\ncommand = ["true"]\nretries = 3\n', "[tasks.t].retries is not a known key"),
    ],
    ids=["needs-a-process", "cycle", "same-name", "unknown-key"],
)
def test_bad_task_declarations_are_exit_2_naming_the_line(tmp_path: Path, spec: str, message: str) -> None:
    project = Project.create(tmp_path / "proj", venv=".devenv/venv", spec=spec, dotenv="")
    result = project.devenv("doctor")
    assert result.returncode == 1
    assert message in result.stdout and "envspec.toml:" in result.stdout


# -- per-process env and cwd ---------------------------------------------------------------------

ENV_SPEC = """\
[python]
venv = "{venv}"

[vars]
QUEUE = "jobs_${{DEVENV_INSTANCE}}"

[processes.worker]
command = ["python", "-c", "import os, time; print('ready in', os.getcwd(), flush=True); time.sleep(600)"]
ready = {{ log = "^ready in" }}
cwd = "{cwd}"
stop_timeout = 2

[processes.worker.env]
DJANGO_SETTINGS_MODULE = "{settings}"
WORKER_QUEUE = "${{QUEUE}}_worker"
"""


def env_project(
    tmp_path: Path, venv: str, *, cwd: str = "services/worker", settings: str = "config.settings.local"
) -> Project:
    project = Project.create(
        tmp_path / "proj", venv=venv, spec=ENV_SPEC.format(venv=venv, cwd=cwd, settings=settings), dotenv=""
    )
    (project.root / "services" / "worker").mkdir(parents=True, exist_ok=True)
    project.sync()
    return project


def running(project: Project, name: str) -> dict[str, object]:
    listed = json.loads(project.devenv("ps", "--json").stdout)
    (entry,) = [p for p in listed if p["name"] == name]
    return entry  # type: ignore[no-any-return]


def test_a_process_gets_its_own_env_and_cwd_and_diff_explain_and_ps_know_them(
    tmp_path: Path, shared_venv: str
) -> None:
    project = env_project(tmp_path, shared_venv)
    up = subprocess.Popen(
        [DEVENV, "up", "worker"], cwd=project.root, env=hermetic_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        read_until(up.stderr, "worker ready")
        pid = int(running(project, "worker")["pid"])  # type: ignore[call-overload]
        environ = environ_of(pid)
        assert environ["DJANGO_SETTINGS_MODULE"] == "config.settings.local"
        own = default_instance(str(project.root))
        assert environ["WORKER_QUEUE"] == f"jobs_{own}_worker"
        assert psutil.Process(pid).cwd() == str(project.root / "services" / "worker")

        shown = explained(project, "--process", "worker")
        assert {key: environ[key] for key in shown if key != "PATH"} == {
            k: v for k, v in shown.items() if k != "PATH"
        }
        result = project.devenv("explain", "--process", "worker", "WORKER_QUEUE")
        # Readable: which checkout's default instance the queue is named after, and why.
        assert result.stdout == (
            f"WORKER_QUEUE=jobs_{own}_worker\n    from envspec.toml [processes.worker.env], using "
            f'${{DEVENV_INSTANCE}} (this checkout\'s default instance: its folder name "proj" + a hash of '
            f"{os.path.realpath(project.root)}; --instance NAME joins or starts another)\n"
        )
        # The fingerprint covers the process's own env: not the project's, but explain's.
        project_fingerprint = project.devenv("run", "--", "printenv", "DEVENV_FINGERPRINT").stdout.strip()
        assert environ["DEVENV_FINGERPRINT"] == shown["DEVENV_FINGERPRINT"] != project_fingerprint

        diff = project.devenv("diff", str(pid))
        assert diff.returncode == 0, diff.stdout + diff.stderr
        assert "compared with the environment of process worker" in diff.stderr
        assert running(project, "worker")["status"] == "current"

        # The declaration changes under the running process: diff and ps say so, by key.
        spec = (project.root / "envspec.toml").read_text()
        project.write("envspec.toml", spec.replace("config.settings.local", "config.settings.production"))
        diff = project.devenv("diff", str(pid))
        assert diff.returncode == 1
        assert (
            "DJANGO_SETTINGS_MODULE: 'config.settings.local', expected 'config.settings.production'"
            in diff.stdout
        )
        assert running(project, "worker")["status"] == "stale"
    finally:
        code, err = interrupt(up)  # type: ignore[arg-type]
    assert code == 130, err


@pytest.mark.parametrize(
    ("cwd", "message"),
    [
        (
            "servces/worker",
            "[processes.worker].cwd = 'servces/worker' is not a folder under the project root",
        ),
        ("/srv/worker", "[processes.worker].cwd must be a folder relative to the project root"),
    ],
    ids=["missing", "absolute"],
)
def test_a_bad_cwd_is_exit_2_naming_envspec_line(
    tmp_path: Path, shared_venv: str, cwd: str, message: str
) -> None:
    project = env_project(tmp_path, shared_venv)
    spec = (project.root / "envspec.toml").read_text()
    project.write("envspec.toml", spec.replace('cwd = "services/worker"', f'cwd = "{cwd}"'))
    line = next(n for n, text in enumerate(spec.splitlines(), 1) if text.startswith("cwd ="))
    tail = "; create it or fix the path\n" if "not a folder" in message else ", not an absolute path\n"
    for command in (("up", "worker"), ("task", "x"), ("sync",)):
        result = project.devenv(*command)
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"devenv: error: {project.root}/envspec.toml:{line}: {message}{tail}"


# -- profiles ----------------------------------------------------------------------------------

PROFILES_SPEC = """\
[python]
venv = "{venv}"

[dotenv]
files = [".env"]

[profiles.local]
dotenv = [".envs/.local/.django", ".envs/.local/.postgres"]

[profiles.production]
dotenv = [".envs/.production/.django"]

[profiles.production.vars]
DJANGO_DEBUG = "False"
"""


def profiles_project(tmp_path: Path, venv: str) -> Project:
    project = Project.create(tmp_path / "proj", venv=venv, spec=PROFILES_SPEC.format(venv=venv), dotenv="")
    project.write(".env", "DJANGO_DEBUG=True\nAPP=base\n")
    project.write(".envs/.local/.django", "DJANGO_SETTINGS_MODULE=config.settings.local\n")
    project.write(".envs/.local/.postgres", "POSTGRES_DB=app_local\n")
    project.write(".envs/.production/.django", "DJANGO_SETTINGS_MODULE=config.settings.production\n")
    project.sync()
    return project


def printed(project: Project, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    result = project.devenv(*args, "print-env", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_profiles_resolve_apart_and_switching_never_serves_the_other_profiles_values(
    tmp_path: Path, shared_venv: str
) -> None:
    project = profiles_project(tmp_path, shared_venv)
    seen: dict[str, set[str]] = {"base": set(), "local": set(), "production": set()}
    for _ in range(3):
        base = printed(project)
        local = printed(project, "--profile", "local")
        production = printed(project, env=hermetic_env(DEVENV_PROFILE="production"))
        assert "DJANGO_SETTINGS_MODULE" not in base and "DEVENV_PROFILE" not in base
        assert (local["DJANGO_SETTINGS_MODULE"], local["POSTGRES_DB"], local["DEVENV_PROFILE"]) == (
            "config.settings.local",
            "app_local",
            "local",
        )
        assert "POSTGRES_DB" not in production
        assert (production["DJANGO_SETTINGS_MODULE"], production["DJANGO_DEBUG"]) == (
            "config.settings.production",
            "False",  # the profile's [vars] come after the base dotenv files
        )
        assert local["DJANGO_DEBUG"] == base["DJANGO_DEBUG"] == "True"
        for name, values in (("base", base), ("local", local), ("production", production)):
            seen[name].add(values["DEVENV_FINGERPRINT"])
    assert all(len(fingerprints) == 1 for fingerprints in seen.values())
    assert len(set.union(*seen.values())) == 3

    shown = project.devenv("--profile", "production", "explain", "DJANGO_DEBUG")
    assert shown.stdout == (
        "DJANGO_DEBUG=False\n    from envspec.toml [profiles.production.vars]; overrode .env:1\n"
    )
    assert "profile production" in shown.stderr
    assert "DEVENV_PROFILE" in not_set(project)

    unknown = project.devenv("--profile", "staging", "print-env")
    assert unknown.returncode == 2
    assert "no profile named 'staging' in [profiles] (declared: local, production)" in unknown.stderr


def test_a_sourced_env_file_of_one_profile_is_not_served_to_a_shell_of_another(
    tmp_path: Path, shared_venv: str
) -> None:
    project = profiles_project(tmp_path, shared_venv)
    printed(project, "--profile", "local")  # .devenv/ now holds the local profile
    script = '. .devenv/env.sh && printf "%s|%s" "${DJANGO_SETTINGS_MODULE-}" "${DEVENV_PROFILE-}"'
    env = hermetic_env(DEVENV_PROFILE="production", PATH=f"{os.path.dirname(DEVENV)}:/usr/bin:/bin")
    result = subprocess.run(
        ["sh", "-c", script], cwd=project.root, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout == "config.settings.production|production", result.stderr
    base = subprocess.run(
        ["sh", "-c", script],
        cwd=project.root,
        env=hermetic_env(PATH=env["PATH"]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert base.stdout == "|", base.stderr
    fish = require_tool("fish")
    printed(project, "--profile", "local")
    fish_script = 'source .devenv/env.fish; printf \'%s|%s\' "$DJANGO_SETTINGS_MODULE" "$DEVENV_PROFILE"'
    in_fish = subprocess.run(
        [fish, "--no-config", "-c", fish_script],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert in_fish.stdout == "config.settings.production|production", in_fish.stderr


# -- the flat app: everything together -----------------------------------------------------------

APP_SPEC = """\
[project]
name = "flatapp"

[python]
venv = "{venv}"

[paths]
pythonpath = ["."]

[dotenv]
files = [".env"]

[vars]
PYTHONUNBUFFERED = "1"
DATABASE_PATH = "${{DEVENV_ROOT}}/db-${{DEVENV_INSTANCE}}.sqlite3"

[tasks.createdb]
command = ["python", "manage.py", "createdb"]

[tasks.migrate]
command = ["python", "manage.py", "migrate"]
needs = ["createdb"]

[processes.worker]
command = ["python", "-m", "app.worker"]
needs = ["migrate"]
ready = {{ log = "^worker ready" }}
stop_timeout = 5

[processes.worker.env]
WORKER_QUEUE = "jobs_${{DEVENV_INSTANCE}}"
APP_ROLE = "worker"

[processes.web]
command = ["python", "-m", "app.web"]
needs = ["migrate", "worker"]
cwd = "web"
ready = {{ log = "^web listening" }}
stop_timeout = 5

[profiles.local]
dotenv = [".envs/.local/.app"]

[profiles.production]
dotenv = [".envs/.production/.app"]

[profiles.production.vars]
APP_DEBUG = "0"
"""

MANAGE = """\
import os
import sqlite3
import sys

db = sqlite3.connect(os.environ["DATABASE_PATH"])
if sys.argv[1] == "createdb":
    db.execute("create table if not exists migrations (name text)")
    print("created", os.environ["DATABASE_PATH"])
else:
    db.execute("insert into migrations values ('0001_initial')")
    print("migrated", os.environ["APP_SETTINGS"])
db.commit()
"""

WORKER = """\
import os
import sqlite3
import time

rows = sqlite3.connect(os.environ["DATABASE_PATH"]).execute("select name from migrations").fetchall()
assert rows, "not migrated"
print("worker ready on", os.environ["WORKER_QUEUE"], flush=True)
while True:
    time.sleep(1)
"""

WEB = """\
import http.server
import os
import sqlite3

import app  # the flat layout: importable from web/, the process's own cwd

assert sqlite3.connect(os.environ["DATABASE_PATH"]).execute("select name from migrations").fetchall()
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
print("web listening on", server.server_port, "in", os.getcwd(), flush=True)
server.serve_forever()
"""


def flat_app(tmp_path: Path, venv: str) -> Project:
    """A flat Django/FastAPI-shaped app: manage.py and app/ at the root, web/ for the web
    process, .envs/.local and .envs/.production, one SQLite database per instance."""
    project = Project.create(tmp_path / "flatapp", venv=venv, spec=APP_SPEC.format(venv=venv), dotenv="")
    project.write(".env", "APP_SETTINGS=app.settings.base\nAPP_DEBUG=1\n")
    project.write(".envs/.local/.app", "APP_SETTINGS=app.settings.local\n")
    project.write(".envs/.production/.app", "APP_SETTINGS=app.settings.production\n")
    project.write("manage.py", MANAGE)
    project.write("app/__init__.py", "")
    project.write("app/worker.py", WORKER)
    project.write("app/web.py", WEB)
    project.write("web/index.html", "<p>hello</p>\n")
    project.sync()
    return project


def assert_environ_is_what_explain_shows(
    environ: dict[str, str], shown: dict[str, str], unset: list[str]
) -> None:
    """Every variable explain shows is the process's, value for value (PATH too), and every
    key it says is not set is absent."""
    assert {key: environ.get(key) for key in shown} == shown
    assert [key for key in unset if key in environ] == []


@pytest.mark.parametrize("profile", ["local", "production"])
def test_the_flat_app_comes_up_with_devenv_up(tmp_path: Path, shared_venv: str, profile: str) -> None:
    project = flat_app(tmp_path, shared_venv)
    up = start_up(project, "--profile", profile)
    own = default_instance(str(project.root))  # flatapp_<hash>: this checkout's
    try:
        lines = read_until(up.stderr, "web ready")
        assert any("task migrate finished" in line for line in lines)
        for name in ("worker", "web"):
            entry = running(project, name)
            assert (entry["profile"], entry["status"], entry["instance"]) == (profile, "current", own)
            pid = int(entry["pid"])  # type: ignore[call-overload]
            shown = explained(project, "--profile", profile, "--process", name)
            shown["PATH"] = shown["PATH"]  # explain's PATH is built from the same caller's PATH
            assert_environ_is_what_explain_shows(environ_of(pid), shown, [])
            assert shown["APP_SETTINGS"] == f"app.settings.{profile}"
            diff = project.devenv("--profile", profile, "diff", str(pid))
            assert diff.returncode == 0, diff.stdout
            assert f"process {name}, profile {profile}, instance {own}" in diff.stderr
        web = running(project, "web")
        assert psutil.Process(int(web["pid"])).cwd() == str(project.root / "web")  # type: ignore[call-overload]
        assert environ_of(int(running(project, "worker")["pid"]))["WORKER_QUEUE"] == f"jobs_{own}"  # type: ignore[call-overload]
        assert "WORKER_QUEUE" not in environ_of(int(web["pid"]))  # type: ignore[call-overload]
    finally:
        code, err = interrupt(up)
    assert code == 130, err
    import sqlite3

    rows = sqlite3.connect(project.root / f"db-{own}.sqlite3").execute("select * from migrations").fetchall()
    assert rows == [("0001_initial",)]


def test_the_flat_app_comes_up_detached_with_logs_and_stop(tmp_path: Path, shared_venv: str) -> None:
    project = flat_app(tmp_path, shared_venv)
    started = project.devenv("--profile", "local", "up", "-d", timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        assert "task migrate finished" in started.stderr and "web ready after" in started.stderr
        for name in ("worker", "web"):
            entry = running(project, name)
            assert (entry["profile"], entry["status"]) == ("local", "current")
            shown = explained(project, "--profile", "local", "--process", name)
            assert_environ_is_what_explain_shows(environ_of(int(entry["pid"])), shown, [])  # type: ignore[call-overload]
        logs = project.devenv("logs", "worker")
        assert logs.returncode == 0, logs.stderr
        assert any(
            line.startswith("worker")
            and f"worker ready on jobs_{default_instance(str(project.root))}" in line
            for line in logs.stdout.splitlines()
        )
    finally:
        stopped = project.devenv("stop", "--all", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: not running_any(project), timeout=20, what="every process stopped")


FIXTURE_TESTS = """\
import json
import os

import devenv
from devenv.explain import explain


def note(devenv_process, devenv_env, name):
    handle = devenv_process(name)
    with open(f"/proc/{handle.pid}/environ", "rb") as raw:
        environ = dict(i.decode().split("=", 1) for i in raw.read().split(b"\\0") if i)
    shown = explain(devenv_env.root, os.environ, reveal=True, process=name,
                    instance=devenv_env["DEVENV_INSTANCE"])
    with open(os.path.join(devenv_env.root, "notes.jsonl"), "a") as out:
        out.write(json.dumps({
            "name": name,
            "instance": devenv_env["DEVENV_INSTANCE"],
            "environ": environ,
            "shown": {v.key: v.value for v in shown.variables},
            "not_set": [k for k, _ in shown.not_set],
            "cwd": os.readlink(f"/proc/{handle.pid}/cwd"),
        }) + "\\n")


def test_worker(devenv_process, devenv_env):
    note(devenv_process, devenv_env, "worker")


def test_web(devenv_process, devenv_env):
    note(devenv_process, devenv_env, "web")
    note(devenv_process, devenv_env, "worker")
"""


def test_the_flat_app_comes_up_under_the_fixture_with_two_xdist_workers(
    tmp_path: Path, shared_venv: str
) -> None:
    import sqlite3
    import sys

    project = flat_app(tmp_path, shared_venv)
    project.write("tests/test_app.py", FIXTURE_TESTS)
    basetemp = tmp_path / "basetemp"
    pytest_command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}"]
    result = project.devenv(
        "--profile", "local", "run", "--", *pytest_command, "-n", "2", "tests/test_app.py", timeout=120
    )
    assert "2 passed" in result.stdout, result.stdout + result.stderr
    notes = [json.loads(line) for line in (project.root / "notes.jsonl").read_text().splitlines()]
    instances = {note["instance"] for note in notes}
    assert len(instances) == 2 and all(i.startswith("gw") for i in instances)
    for note in notes:
        assert_environ_is_what_explain_shows(note["environ"], note["shown"], note["not_set"])
        assert note["environ"]["APP_SETTINGS"] == "app.settings.local"
        assert note["environ"]["DEVENV_PROFILE"] == "local"
        if note["name"] == "web":
            assert note["cwd"] == str(project.root / "web")
        else:
            assert note["environ"]["WORKER_QUEUE"] == f"jobs_{note['instance']}"
    for instance in instances:
        # Each xdist worker's own database, created and migrated once by its own tasks.
        db = project.root / f"db-{instance}.sqlite3"
        assert sqlite3.connect(db).execute("select * from migrations").fetchall() == [("0001_initial",)]


API_SCRIPT = """\
import json
import os
import sys

import devenv
from devenv.explain import explain

root, instance = sys.argv[1], devenv.new_instance("api")
done = set()
facts = []
with devenv.start("worker", root=root, instance=instance, profile="production", tasks_done=done) as worker:
    with devenv.start("web", root=root, instance=instance, profile="production", tasks_done=done) as web:
        for name, handle in (("worker", worker), ("web", web)):
            with open(f"/proc/{handle.pid}/environ", "rb") as raw:
                environ = dict(i.decode().split("=", 1) for i in raw.read().split(b"\\0") if i)
            shown = explain(root, {**os.environ, "DEVENV_PROFILE": "production"}, reveal=True,
                            process=name, instance=instance)
            facts.append({"name": name, "environ": environ,
                          "shown": {v.key: v.value for v in shown.variables},
                          "not_set": [k for k, _ in shown.not_set]})
print(json.dumps({"instance": instance, "tasks": sorted(done), "facts": facts}))
"""


def test_the_flat_app_comes_up_through_the_api(tmp_path: Path, shared_venv: str) -> None:
    import sqlite3
    import sys

    project = flat_app(tmp_path, shared_venv)
    script = tmp_path / "start.py"
    script.write_text(textwrap.dedent(API_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), str(project.root)],
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tasks"] == ["createdb", "migrate"]
    for fact in report["facts"]:
        assert_environ_is_what_explain_shows(fact["environ"], fact["shown"], fact["not_set"])
        assert fact["environ"]["APP_SETTINGS"] == "app.settings.production"
        assert fact["environ"]["APP_DEBUG"] == "0"
    db = project.root / f"db-{report['instance']}.sqlite3"
    # Each task ran once for both starts (one tasks_done set).
    assert sqlite3.connect(db).execute("select * from migrations").fetchall() == [("0001_initial",)]
    wait_for(lambda: not running_any(project), timeout=10, what="every process stopped")


def running_any(project: Project) -> bool:
    return bool(json.loads(project.devenv("ps", "--json").stdout or "[]"))
