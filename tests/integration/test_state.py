""".devenv/ you can trust: never followed through a link, never stale, never half-written.

Real `devenv` CLI, real files, real shells, concurrent writers.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.support.projects import DEVENV, Project, hermetic_env
from tests.support.storm import KEY, SPEC, ReadCommand, WriteMode, storm, write_dotenv


def assert_clean_error(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("devenv: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


def print_env_json(project: Project, env: dict[str, str] | None = None) -> dict[str, str]:
    result = project.devenv("print-env", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, str] = json.loads(result.stdout)
    return document


# -- a .devenv that is a symlink -------------------------------------------------------------


def test_a_symlinked_devenv_is_refused_and_nothing_is_written_through_it(
    project: Project, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    (target / "venv").mkdir()
    (target / "venv" / "keep.txt").write_text("not devenv's")
    (project.root / ".devenv").symlink_to(target)
    before = sorted(p.name for p in target.rglob("*"))
    for args in (("sync",), ("print-env",), ("run", "--", "true")):
        result = project.devenv(*args)
        assert_clean_error(result, ".devenv is a symlink", "remove the link")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755, "the link's target was chmod-ed"
    assert sorted(p.name for p in target.rglob("*")) == before, "something was written through the link"


@pytest.mark.parametrize("name", ["env.sh", "env.json", "env.nul", "lock"])
def test_a_symlinked_file_inside_devenv_is_refused_and_its_target_untouched(
    project: Project, tmp_path: Path, name: str
) -> None:
    project.sync()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    link = project.root / ".devenv" / name
    link.unlink()
    link.symlink_to(victim)
    project.write(".env", "GREETING=changed\n")  # force a refresh, which writes .devenv/
    for args in (("sync",), ("print-env",)):
        result = project.devenv(*args)
        assert_clean_error(result, f"{name} is a symlink")
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


# -- freshness that cannot lie ---------------------------------------------------------------


def storm_project(project: Project) -> Project:
    project.write("envspec.toml", SPEC.format(venv=project.venv, key=KEY))
    write_dotenv(str(project.root / ".env"), 0, "rename")
    project.sync()
    return project


@pytest.mark.parametrize(("mode", "command"), [("rename", "print-env"), ("in-place", "run")])
def test_after_storms_of_edits_every_reader_and_doctor_see_the_last_write(
    project: Project, mode: WriteMode, command: ReadCommand
) -> None:
    """Short storms, each ending at a random moment: before the fix about one in five left
    the value of an earlier write in place, with the snapshot claiming to be fresh."""
    storm_project(project)
    wrong: list[str] = []
    reads = 0
    for round_number in range(15):
        result = storm(
            DEVENV, str(project.root), env=hermetic_env(), readers=4, writes=30, mode=mode, command=command,
            pause=0.002, seed=round_number,
        )  # fmt: skip
        reads += len(result.reads)
        assert not result.empty_ok(), f"round {round_number}: runs exited 0 without {KEY}"
        bad = result.wrong_after()
        if bad:
            wrong.append(f"round {round_number}: {len(bad)} of {len(result.after)} reads saw {bad[0]}")
    assert reads > 30, "the readers hardly ran; the storms prove nothing"
    assert not wrong, "\n".join(wrong)
    # And the snapshot on disk, env.sh and doctor agree with the last write.
    assert print_env_json(project)[KEY] == result.final
    sourced = subprocess.run(
        ["sh", "-c", f'. ./.devenv/env.sh && printf %s "${KEY}"'],
        cwd=project.root,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert sourced.stdout == result.final, sourced.stderr
    doctor = json.loads(project.devenv("doctor", "--json").stdout)
    state = next(check for check in doctor["checks"] if check["name"] == "state")
    assert state["status"] == "ok", state


def test_an_edit_made_while_sync_runs_pip_is_not_lost(project: Project) -> None:
    storm_project(project)
    for number in range(1, 4):
        sync = subprocess.Popen(
            [DEVENV, "sync"], cwd=project.root, env=hermetic_env(), stderr=subprocess.PIPE, text=True
        )
        # Land the edit while sync is busy (it probes the venv with pip, which takes a while).
        time.sleep(0.05 * number)
        write_dotenv(str(project.root / ".env"), number, "in-place")
        _, stderr = sync.communicate(timeout=120)
        assert sync.returncode == 0, stderr
        assert print_env_json(project)[KEY] == f"v{number:06d}", f"edit {number} was lost"


def test_a_same_size_rewrite_within_one_clock_tick_is_not_mistaken_for_fresh(project: Project) -> None:
    """Two writes in one tick of the file-system clock keep size and mtime; the second must
    still be seen. The test pins the mtime to stand in for the coarse clock."""
    storm_project(project)
    dotenv = project.root / ".env"
    tick = time.time_ns() + 5_000_000_000  # "now", as far as the file system can tell
    write_dotenv(str(dotenv), 1, "in-place")
    os.utime(dotenv, ns=(tick, tick))
    assert print_env_json(project)[KEY] == "v000001"
    write_dotenv(str(dotenv), 2, "in-place")
    os.utime(dotenv, ns=(tick, tick))  # same size, same mtime, different bytes
    assert print_env_json(project)[KEY] == "v000002"


def test_a_fresh_reader_does_not_wait_for_a_writer_holding_the_lock(project: Project) -> None:
    import fcntl

    storm_project(project)
    print_env_json(project)  # settle: the snapshot is fresh
    descriptor = os.open(project.root / ".devenv" / "lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # a writer (e.g. a long sync) holds the lock
        assert print_env_json(project)[KEY] == "v000000"
        write_dotenv(str(project.root / ".env"), 7, "rename")
        # Stale now: the reader resolves for itself instead of queueing behind the writer.
        assert print_env_json(project)[KEY] == "v000007"
    finally:
        os.close(descriptor)


# -- pre-rendered files that notice they are stale -------------------------------------------

SOURCE = {
    "dash": ["dash", "-c", '. ./.devenv/env.sh && printf %s "$GREETING"'],
    "bash": ["bash", "-c", 'source ./.devenv/env.sh && printf %s "$GREETING"'],
    "zsh": ["zsh", "-c", 'source ./.devenv/env.sh && printf %s "$GREETING"'],
    "fish": ["fish", "--no-config", "-c", 'source ./.devenv/env.fish; and printf %s "$GREETING"'],
}


def source_in(shell: str, project: Project, path: str) -> subprocess.CompletedProcess[str]:
    require_tool(shell)
    return subprocess.run(
        SOURCE[shell],
        cwd=project.root,
        env=hermetic_env(PATH=path),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("shell", list(SOURCE))
def test_sourcing_the_env_file_after_an_edit_gives_the_new_value(project: Project, shell: str) -> None:
    project.sync()
    assert source_in(shell, project, "/usr/bin:/bin").stdout == "hello demo"
    project.write(".env", "GREETING=edited\n")
    result = source_in(shell, project, "/usr/bin:/bin")  # devenv is not on PATH: the recorded one
    assert result.stdout == "edited", result.stderr
    assert result.stderr == ""
    # ... and it refreshed .devenv/ on the way: the next source needs no devenv at all.
    assert "GREETING='edited'" in (project.root / ".devenv" / "env.dotenv").read_text()


@pytest.mark.parametrize("shell", list(SOURCE))
def test_a_stale_env_file_without_devenv_says_so_on_stderr(
    project: Project, tmp_path: Path, shell: str
) -> None:
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    devenv_copy = bin_folder / "devenv"
    shutil.copy2(DEVENV, devenv_copy)
    synced = subprocess.run(
        [str(devenv_copy), "sync"], cwd=project.root, env=hermetic_env(), capture_output=True, text=True
    )
    assert synced.returncode == 0, synced.stderr
    devenv_copy.unlink()  # the devenv that wrote env.sh is gone, and none is on PATH
    project.write(".env", "GREETING=edited\n")
    result = source_in(shell, project, "/usr/bin:/bin")
    assert (
        "is older than its inputs and devenv is not on PATH; loading the values devenv last wrote"
        in result.stderr
    )
    assert result.stdout == "hello demo"


def after_source(shell: str, project: Project, then: str, *, errexit: bool = False) -> tuple[int, str]:
    """Source the env file in `shell` (under `set -e` with `errexit`), then run `then`."""
    name, status = ("env.fish", "$status") if shell == "fish" else ("env.sh", "$?")
    argv = ["fish", "--no-config"] if shell == "fish" else [shell, *(["-e"] if errexit else [])]
    command = f". ./.devenv/{name}; {then.replace('STATUS', status)}"
    run = subprocess.run(
        [*argv, "-c", command],
        cwd=project.root,
        env=hermetic_env(PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        check=False,
    )
    return run.returncode, run.stdout


@pytest.mark.parametrize("shell", list(SOURCE))
def test_a_stale_env_file_whose_refresh_fails_loads_nothing_and_fails(project: Project, shell: str) -> None:
    project.sync()
    project.write(".env", "GREETING='never closed\n")
    result = source_in(shell, project, "/usr/bin:/bin")
    assert "devenv: error: .env:1" in result.stderr
    assert "refreshing it failed (see above); nothing was loaded" in result.stderr
    assert result.stdout == ""  # `. .devenv/env.sh && cmd` does not run cmd
    assert after_source(shell, project, "echo STATUS") == (0, "1\n")
    if shell != "fish":  # a `set -e` script stops at the failed `.`
        assert after_source(shell, project, "echo on", errexit=True) == (1, "")


@pytest.mark.parametrize("kind", ["bash", "zsh", "fish"])
def test_a_failed_load_leaves_an_interactive_shell_running(project: Project, kind: str) -> None:
    from tests.support.interactive import InteractiveShell

    project.sync()
    project.write(".env", "GREETING='never closed\n")
    shell = InteractiveShell(
        kind, require_tool(kind), cwd=project.root, env=hermetic_env(PATH="/usr/bin:/bin")
    )
    try:
        name = "env.fish" if kind == "fish" else "env.sh"
        shown = shell.type(f"source ./.devenv/{name}; echo status=$" + ("status" if kind == "fish" else "?"))
        assert "nothing was loaded" in shown and "status=1" in shown
        assert "still here" in shell.type("echo still here")
    finally:
        shell.close()


# -- [env].unset and keys that run code ------------------------------------------------------


def test_a_key_both_unset_and_set_in_dotenv_is_an_error_naming_both(project: Project) -> None:
    project.sync()
    project.write(".env", "DEMO_UNSET_ME=/tmp/evil.py\n")
    for args in (("sync",), ("print-env",), ("run", "--", "true")):
        assert_clean_error(project.devenv(*args), ".env:1 sets DEMO_UNSET_ME", "[env].unset removes")
    project.write(".env", "")
    project.sync()
    assert_clean_error(
        project.devenv("run", "--set", "DEMO_UNSET_ME=x", "--", "true"),
        "--set DEMO_UNSET_ME sets DEMO_UNSET_ME",
    )
    spec = (project.root / "envspec.toml").read_text()
    project.write(
        "envspec.toml", spec.replace('inherit = ["DEMO_TOKEN"]', 'inherit = ["DEMO_TOKEN", "DEMO_UNSET_ME"]')
    )
    assert_clean_error(project.devenv("print-env"), "[env].inherit sets DEMO_UNSET_ME", "[env].unset removes")


EVIL = "echo evil ran >&2; touch {marker}\n"


def test_bash_env_from_dotenv_is_refused_and_never_runs(project: Project, tmp_path: Path) -> None:
    marker = tmp_path / "evil-ran"
    project.write("evil.sh", EVIL.format(marker=marker))
    project.sync()
    project.write(".env", "OK=1\nBASH_ENV=${DEVENV_ROOT}/evil.sh\n")
    result = project.devenv("run", "--", "bash", "-c", "true")
    assert_clean_error(result, ".env:2: BASH_ENV makes programs run code", "[env].trusted")
    assert "evil" not in result.stdout + result.stderr.replace("evil.sh", "")
    assert not marker.exists(), "evil.sh ran"
    assert_clean_error(project.devenv("sync"), ".env:2: BASH_ENV")
    doctor = project.devenv("doctor")
    assert doctor.returncode == 1
    assert "BASH_ENV makes programs run code" in doctor.stdout
    # --set is no way around it.
    project.write(".env", "")
    project.sync()
    result = project.devenv("run", "--set", "LD_PRELOAD=/tmp/x.so", "--", "true")
    assert_clean_error(result, "--set LD_PRELOAD: LD_PRELOAD makes programs run code")
    assert not marker.exists()


def test_a_trusted_code_key_is_taken_and_doctor_lists_it(project: Project, tmp_path: Path) -> None:
    marker = tmp_path / "evil-ran"
    project.write("evil.sh", EVIL.format(marker=marker))
    spec = (project.root / "envspec.toml").read_text()
    project.write("envspec.toml", spec.replace("[env]\n", '[env]\ntrusted = ["BASH_ENV"]\n'))
    project.write(".env", "BASH_ENV=${DEVENV_ROOT}/evil.sh\n")
    project.sync()
    assert project.devenv("run", "--", "bash", "-c", "true").returncode == 0
    assert marker.exists(), "the positive control: a trusted BASH_ENV does reach bash"
    doctor = project.devenv("doctor")
    assert "warn  code keys" in doctor.stdout
    assert "BASH_ENV (.env:1)" in doctor.stdout


@pytest.mark.parametrize(
    "key", ["ENV", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "PYTHONSTARTUP", "PYTHONHOME",
            "PYTHONINSPECT", "PROMPT_COMMAND", "PS4", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT", "GIT_SSH_COMMAND"]
)  # fmt: skip
def test_every_code_key_from_dotenv_is_refused(project: Project, key: str) -> None:
    project.sync()
    project.write(".env", f"{key}=x\n")
    assert_clean_error(project.devenv("print-env"), f".env:1: {key} makes programs run code")


# -- every failure a clean error; sync repairs .devenv/ --------------------------------------


@pytest.mark.parametrize(
    "content",
    ['{"schema": 1}', '{"schema": 1, "python": 3}', '{"schema": 1, "root": "x"', "", "[]"],
    ids=["wrong shape", "wrong type", "truncated", "empty", "a list"],
)
def test_a_damaged_env_json_is_a_clean_error_and_sync_repairs_it(project: Project, content: str) -> None:
    project.sync()
    (project.root / ".devenv" / "env.json").write_text(content)
    project.write(".env", "GREETING=changed\n")  # make print-env refresh, which reads env.json
    for args in (("print-env",), ("run", "--", "true")):
        assert_clean_error(project.devenv(*args), "env.json", "run `devenv sync`")
    doctor = project.devenv("doctor")
    assert "Traceback" not in doctor.stderr
    synced = project.devenv("sync")
    assert synced.returncode == 0, synced.stderr
    assert "run `devenv sync`" not in synced.stderr
    assert print_env_json(project)["GREETING"] == "changed"
    assert project.devenv("doctor").returncode == 0


def test_every_edit_is_read_afresh_whatever_the_kept_parse_holds(project: Project) -> None:
    """A re-resolve reuses the last parse of each dotenv file (.devenv/dotenv.nul) where the
    text is unchanged; the values are those of the file as it is now, edit after edit, and a
    damaged or foreign kept parse is a full parse, never a value."""
    from dotenv import dotenv_values

    project.sync()
    dotenv = project.root / ".env"
    lines = [f"KEY_{n}=value-{n}\n" for n in range(300)]
    versions = []
    lines[150] = "KEY_150=changed\n"
    versions.append("".join(lines))
    lines.insert(100, "INSERTED='one\ntwo'\n# comment\n\n")
    versions.append("".join(lines))
    del lines[10:20]
    versions.append("".join(lines))
    versions.append("".join(lines).replace("\n", "\r\n"))
    versions.append("".join(lines).rstrip("\n"))
    versions.append("export " + "".join(lines[:50]) + 'OPEN="a\nb"\n' + "".join(lines[50:]))
    kept = project.root / ".devenv" / "dotenv.nul"
    for number, text in enumerate([*versions, "damaged", versions[0], "foreign", versions[2]]):
        if text == "damaged":
            kept.write_bytes(kept.read_bytes()[:-40] + b"KEY_299=not-what-the-file-says\n" + b"x" * 8)
            continue
        if text == "foreign":
            data = kept.read_bytes().split(b"\0", 2)
            kept.write_bytes(data[0] + b"\0" + b"0" * len(data[1]) + b"\0" + data[2])
            continue
        dotenv.write_text(text, encoding="utf-8", newline="")
        past = time.time_ns() - 2_000_000_000 + number  # no wait for a file written just now
        os.utime(dotenv, ns=(past, past))
        expected = {key: value for key, value in dotenv_values(dotenv, interpolate=False).items()}
        resolved = print_env_json(project)
        assert {key: resolved.get(key) for key in expected} == expected, f"version {number}"
        assert kept.exists()
    # What the re-resolve wrote is byte for byte what a resolution from a full parse writes.
    written = ("env.sh", "env.fish", "env.ps1", "env.dotenv", "env.json", "env.nul")
    reused = {name: (project.root / ".devenv" / name).read_bytes() for name in written}
    kept.unlink()
    project.sync()
    assert {name: (project.root / ".devenv" / name).read_bytes() for name in written} == reused


def test_a_dotenv_that_is_a_folder_is_a_clean_error(project: Project) -> None:
    project.sync()
    (project.root / ".env").mkdir()
    for args in (("print-env",), ("run", "--", "true"), ("sync",), ("explain",)):
        assert_clean_error(project.devenv(*args), ".env: is a folder")
    assert "Traceback" not in project.devenv("doctor").stderr


def test_a_devenv_that_is_a_file_or_unwritable_is_a_clean_error(project: Project) -> None:
    (project.root / ".devenv").write_text("not a folder")
    assert_clean_error(project.devenv("sync"), ".devenv is not a folder")
    (project.root / ".devenv").unlink()
    project.sync()
    (project.root / ".devenv" / "env.sh").unlink()
    (project.root / ".devenv" / "env.sh").mkdir()  # the rename onto it fails
    project.write(".env", "GREETING=changed\n")
    assert_clean_error(project.devenv("print-env"), "env.sh: cannot write it")


def test_a_huge_dotenv_is_refused_quickly_with_a_clear_message(project: Project) -> None:
    project.sync()
    line = "PADDING_%07d=" + "x" * 1000 + "\n"
    with open(project.root / ".env", "w", encoding="utf-8") as handle:
        for number in range(50_000):  # 50 MB
            handle.write(line % number)
    began = time.monotonic()
    result = project.devenv("print-env")
    assert_clean_error(result, ".env: 50.", "MB is more than devenv reads")
    assert time.monotonic() - began < 20, "refusing must not parse the whole file first"


def test_run_with_an_environment_too_big_for_exec_is_a_clean_error(project: Project) -> None:
    # Under the per-file limit, but ~2.5 MB together: more than Linux passes to a program.
    for name in ("a", "b", "c"):
        lines = "".join(f"BIG_{name.upper()}_{n}={'y' * 100_000}\n" for n in range(9))
        project.write(f".env.{name}", lines)
    spec = (project.root / "envspec.toml").read_text()
    project.write(
        "envspec.toml", spec.replace('files = [".env.defaults", ".env"]', 'files = [".env.defaults", ".env.a", ".env.b", ".env.c", ".env"]')
    )  # fmt: skip
    project.sync()
    result = project.devenv("run", "--", "true")
    assert_clean_error(result, "E2BIG", "the largest variables are BIG_")


# -- file modes and temporary files ----------------------------------------------------------


def test_everything_under_devenv_is_private(project: Project) -> None:
    project.sync()
    project.write(".env", "GREETING=changed\n")
    print_env_json(project)
    for path in [project.root / ".devenv", *(project.root / ".devenv").rglob("*")]:
        if path.is_relative_to(project.root / ".devenv" / "logs"):
            continue  # service logs belong to the process launcher
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path.relative_to(project.root)} is {oct(mode)}"


def test_a_temporary_file_left_by_a_killed_writer_is_removed_by_the_next_write(project: Project) -> None:
    project.sync()
    folder = project.root / ".devenv"
    # What a writer killed between mkstemp and rename leaves: a pid that no longer runs.
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = folder / f".tmp-{dead.pid}-abc123-env.dotenv"
    orphan.write_text("SECRET=leftover\n")
    live = folder / f".tmp-{os.getpid()}-abc123-env.dotenv"  # a writer still at work
    live.write_text("in progress\n")
    project.write(".env", "GREETING=changed\n")
    print_env_json(project)
    assert not orphan.exists(), "the orphaned temporary file (with the environment in it) survived"
    assert live.exists(), "a live writer's temporary file was removed under it"
    live.unlink()


def test_kill_9_during_refreshes_leaves_no_temporary_file_for_good(project: Project) -> None:
    project.sync()
    folder = project.root / ".devenv"
    stop = threading.Event()

    def kill_readers() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            project.write(".env", f"GREETING=g{number}\n")
            child = subprocess.Popen(
                [DEVENV, "print-env"], cwd=project.root, env=hermetic_env(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.02 + (number % 7) * 0.01)
            child.kill()
            child.wait()

    worker = threading.Thread(target=kill_readers)
    worker.start()
    time.sleep(3)
    stop.set()
    worker.join()
    project.write(".env", "GREETING=final\n")
    assert print_env_json(project)["GREETING"] == "final"
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert not leftovers, leftovers
