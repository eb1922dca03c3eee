"""`devenv up`, `ps` and `stop` through the real CLI: services found from any folder,
announced and listed; every process of the project listed by name and launcher; stop ends them."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_cli_diagnostics import Up
from tests.support.leftovers import Spawn, spawner
from tests.support.processes import gone, wait_for
from tests.support.projects import DEFAULT_DOTENV, DEFAULT_SPEC, DEVENV, Project, hermetic_env

FAKE_SERVICE = """
[services.fake]
check = "tcp"
url = "127.0.0.1:${FAKE_PORT}"
start = ["scripts/start-fake"]
timeout = 10

[processes.worker]
command = ["python", "worker.py"]
needs = ["fake"]
ready = { log = "^ready" }
stop_timeout = 5
"""

START_FAKE = """\
#!/bin/sh
# Start the fake service in the background, as `rabbitmq-server -detached` does.
nohup python server.py >/dev/null 2>&1 &
"""

SERVER = """\
import os, socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(os.environ["FAKE_PORT"])))
server.listen()
while True:
    server.accept()[0].close()
"""

WORKER = "import sys, time\nprint('ready', sys.argv[1:], flush=True)\ntime.sleep(60)\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fake_project(project: Project) -> int:
    port = free_port()
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv) + FAKE_SERVICE)
    project.write(".env.defaults", DEFAULT_DOTENV + f"FAKE_PORT={port}\n")
    script = project.write("scripts/start-fake", START_FAKE)
    script.chmod(0o755)
    project.write("server.py", SERVER)
    project.write("worker.py", WORKER)
    project.sync()
    return port


def listed(project: Project) -> list[dict[str, object]]:
    result = project.devenv("ps", "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start children; afterwards each one's tree and anything launched for a project under
    tmp_path (a service up started) is killed, and none may survive."""
    with spawner(tmp_path) as start:
        yield start


def up_in_background(spawn: Spawn, tmp_path: Path, *args: str, cwd: Path, label: str = "up") -> Up:
    """`devenv up ARGS` running in the background, its stdout and stderr going to files."""
    out, err = tmp_path / f"{label}.out", tmp_path / f"{label}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        popen = spawn([DEVENV, "up", *args], cwd=cwd, env=hermetic_env(), stdout=stdout, stderr=stderr)
    return Up(popen=popen, out=out, err=err)


def test_up_from_a_subfolder_starts_a_service_by_its_relative_script_announces_and_lists_it(
    project: Project,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    port = fake_project(project)
    # From a subfolder: the script is found from the root.
    up = up_in_background(spawn, tmp_path, "worker", "--", "--flag", cwd=project.root / "lib-a" / "src")
    wait_for(
        lambda: "worker ready after" in up.stderr() or up.popen.poll() is not None, timeout=30, what="up"
    )
    assert up.popen.poll() is None, up.stderr()
    assert (
        f"devenv: service fake at 127.0.0.1:{port} was down; started it with scripts/start-fake"
        in up.stderr()
    )
    wait_for(lambda: up.stdout() == "worker | ready ['--flag']\n", timeout=10, what="the worker's line")

    log = project.root / ".devenv" / "logs" / "service-fake.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    record_path = project.root / ".devenv" / "services" / "fake.json"
    record = json.loads(record_path.read_text())
    assert record["command"] == [str(project.root / "scripts" / "start-fake")]
    assert record["log_path"] == str(log)
    assert stat.S_IMODE(record_path.stat().st_mode) == 0o600
    rows = {(row["name"], row["launcher"]) for row in listed(project)}
    assert ("worker", "up") in rows
    assert ("fake", "service") in rows, rows
    assert up.interrupt() == 130
    # Ctrl-C stops the worker, not the service up started (the spawn fixture ends it).
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_ps_lists_workers_from_devenv_run_and_a_shell_by_name_and_stop_ends_them(
    project: Project,
    spawn: Spawn,
) -> None:
    fake_project(project)
    by_run = spawn([DEVENV, "run", "--", "python", "worker.py"], cwd=project.root, env=hermetic_env())
    by_shell = spawn(
        ["sh", "-c", ". .devenv/env.sh && exec python worker.py"],
        cwd=project.root,
        env=hermetic_env(),
        stdout=subprocess.DEVNULL,
    )
    # What a nox session runs goes through `devenv run` too; nox marks its sessions.
    by_nox = spawn(
        [DEVENV, "run", "--", "python", "worker.py"],
        cwd=project.root,
        env=hermetic_env(NOX_CURRENT_SESSION="worker"),
        stdout=subprocess.DEVNULL,
    )

    def all_listed() -> bool:
        pids = {row["pid"] for row in listed(project)}
        return {by_run.pid, by_shell.pid, by_nox.pid} <= pids

    wait_for(all_listed, timeout=15, what="the workers in ps")
    rows = {row["pid"]: (row["name"], row["launcher"], row["leftover"]) for row in listed(project)}
    assert rows[by_run.pid] == ("worker", "run", False)
    assert rows[by_shell.pid] == ("worker", "shell", False)
    assert rows[by_nox.pid] == ("worker", "nox", False)

    result = project.devenv("stop", "worker")
    assert result.returncode == 0, result.stderr
    assert f"stopped worker (pid {by_run.pid}, started by run)" in result.stderr
    # A shell's process only carries DEVENV_ROOT: devenv did not start it, so it never stops it.
    assert f"pid {by_shell.pid}" not in result.stderr
    assert by_run.wait(timeout=5) == -15 and by_nox.wait(timeout=5) == -15
    assert by_shell.poll() is None
    assert project.devenv("stop", "--all").stderr == "devenv: nothing to stop\n"
    assert by_shell.poll() is None


def test_stop_all_leaves_devenv_run_and_other_users_alone(project: Project, spawn: Spawn) -> None:
    fake_project(project)
    shell = spawn([DEVENV, "run", "--", "python", "worker.py"], cwd=project.root, env=hermetic_env())
    imposter_env = {**hermetic_env(), "DEVENV_ROOT": str(project.root), "DEVENV_LAUNCHER": "up"}
    other_user = None
    if os.geteuid() == 0:  # only root can start a process as another user
        other_user = spawn(["/bin/sleep", "60"], env=imposter_env, user=4242, group=4242)
    wait_for(lambda: shell.pid in {row["pid"] for row in listed(project)}, timeout=15, what="the run in ps")
    assert project.devenv("stop", "--all").stderr == "devenv: nothing to stop\n"
    assert shell.poll() is None, "stop --all ended an interactive `devenv run`"
    if other_user is not None:
        assert other_user.poll() is None, "stop --all ended another user's process"
    result = project.devenv("stop", "--all", "--include-run")
    assert f"stopped worker (pid {shell.pid}, started by run)" in result.stderr, result.stderr
    assert shell.wait(timeout=5) == -15
    if other_user is not None:
        assert other_user.poll() is None


def test_stop_refuses_what_it_may_not_stop_instead_of_saying_nothing_is_there(
    project: Project, spawn: Spawn
) -> None:
    fake_project(project)
    # A shell's own helper (not a declared process): ps lists it, stop leaves it to its owner.
    helper = spawn(["sh", "-c", ". .devenv/env.sh && exec sleep 60"], cwd=project.root, env=hermetic_env())
    wait_for(lambda: helper.pid in {row["pid"] for row in listed(project)}, timeout=15, what="sleep in ps")
    refused = project.devenv("stop", "sleep")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"sleep (pid {helper.pid}) was started from a shell" in refused.stderr
    assert f"kill {helper.pid}" in refused.stderr
    assert helper.poll() is None, "devenv stop must not end a process a shell started"
    unknown = project.devenv("stop", "nothere")
    assert unknown.returncode == 2 and "no process named 'nothere': declared are worker" in unknown.stderr


def test_a_process_left_by_a_script_that_forgot_stop_is_stopped_at_exit(project: Project) -> None:
    fake_project(project)
    project.write(
        "envspec.toml",
        DEFAULT_SPEC.format(venv=project.venv) + '[processes.worker]\ncommand = ["python", "worker.py"]\n'
        'ready = { log = "^ready" }\n',
    )
    script = (
        "import sys, devenv\n"
        "assert 'psutil' not in sys.modules and 'pika' not in sys.modules, 'import devenv must be cheap'\n"
        "handle = devenv.start('worker')\n"
        "print(handle.pid, flush=True)\n"
    )
    result = subprocess.run(
        [os.path.join(os.path.dirname(DEVENV), "python"), "-c", script],
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout)
    assert gone(pid), "the forgotten worker outlived the script"


def test_run_takes_a_relative_path_from_the_project_root_in_any_subfolder(project: Project) -> None:
    project.write("envspec.toml", DEFAULT_SPEC.format(venv=project.venv))
    script = project.write("scripts/hello", '#!/bin/sh\necho hello from "$PWD"\n')
    script.chmod(0o755)
    project.sync()
    result = project.devenv("run", "--", "scripts/hello", cwd=project.root / "lib-a" / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hello from {project.root / 'lib-a' / 'src'}\n"
    missing = project.devenv("run", "--", "scripts/nope", cwd=project.root / "lib-a")
    assert missing.returncode == 127
    assert (
        f"scripts/nope: no such executable file (relative paths are taken from the project root {project.root})"
        in missing.stderr
    )


def test_up_instance_gives_the_run_its_own_resources(
    project: Project,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    fake_project(project)
    project.write(
        "worker.py", "import os, time\nprint('ready', os.environ['QUEUE'], flush=True)\ntime.sleep(60)\n"
    )
    with open(project.root / ".env.defaults", "a", encoding="utf-8") as handle:
        handle.write("QUEUE=q_${DEVENV_INSTANCE}\n")
    up = up_in_background(spawn, tmp_path, "--instance", "blue", "worker", cwd=project.root)
    wait_for(
        lambda: "worker | ready q_blue" in up.stdout() or up.popen.poll() is not None, timeout=30, what="up"
    )
    assert up.popen.poll() is None, up.stderr()
    (row,) = [row for row in listed(project) if row["name"] == "worker"]
    assert (row["instance"], row["status"]) == ("blue", "current")
    assert up.interrupt() == 130


def test_diff_compares_a_process_with_its_own_instance(project: Project, spawn: Spawn) -> None:
    fake_project(project)
    with open(project.root / ".env.defaults", "a", encoding="utf-8") as handle:
        handle.write("QUEUE=q_${DEVENV_INSTANCE}\n")
    import devenv

    env = devenv.load(str(project.root), instance="blue")
    child = spawn(
        [os.path.join(project.venv, "bin", "python"), "worker.py"],
        cwd=project.root,
        env=devenv.apply(env, hermetic_env()),
        stdout=subprocess.DEVNULL,
    )
    wait_for(lambda: child.pid in {row["pid"] for row in listed(project)}, timeout=10, what="the child")
    result = project.devenv("diff", str(child.pid))
    assert result.returncode == 0, result.stdout + result.stderr


def test_up_instance_new_is_unique_per_up(
    project: Project,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    fake_project(project)
    project.write(
        "worker.py",
        "import os, time\nprint('ready', os.environ['DEVENV_INSTANCE'], flush=True)\ntime.sleep(60)\n",
    )
    seen = []
    for run in ("one", "two"):
        up = up_in_background(spawn, tmp_path, "--instance", "new", "worker", cwd=project.root, label=run)
        wait_for(
            lambda up=up: "worker | ready up_" in up.stdout() or up.popen.poll() is not None,
            timeout=30,
            what="up",
        )
        instance = up.stdout().split()[-1]
        assert f"devenv: instance {instance} (DEVENV_INSTANCE)" in up.stderr()
        seen.append(instance)
        assert up.interrupt() == 130
    assert seen[0] != seen[1]
