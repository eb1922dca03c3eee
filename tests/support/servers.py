"""Redis and PostgreSQL for the tests: the shared loopback servers, and private ones.

Like `require_broker`: a server that is not running is a skip locally and a failure under CI
(`.ci/run` starts Redis and PostgreSQL when they are down). The shared servers are used with
isolation (Redis databases 9-12 only; PostgreSQL databases named `devenv_t_<random>`, dropped
afterwards). A refused password cannot be shown on the shared servers (Redis has none, and
PostgreSQL trusts loopback), so those tests start a private server of the real program on a
free loopback port, with a password, and stop it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

__all__ = [
    "POSTGRES_ADDRESS",
    "REDIS_ADDRESS",
    "PrivateServer",
    "free_port",
    "postgres_database",
    "private_postgres",
    "private_redis",
    "require_postgres",
    "require_redis",
    "require_server",
    "unavailable",
]

REDIS_ADDRESS = ("127.0.0.1", 6379)
POSTGRES_ADDRESS = ("127.0.0.1", 5432)
#: The Redis databases this suite may use (shared with other people: issue 16 has 9-12).
REDIS_DB = 9


def unavailable(message: str) -> None:
    """Skip with `message`, or fail under CI, where every server must be there."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must start it: see .ci/run)")
    pytest.skip(message)


def require_server(name: str, address: tuple[str, int]) -> None:
    """Return when `address` accepts connections; else skip, or fail under CI."""
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        unavailable(f"{name} is not running on {address[0]}:{address[1]}")


def require_redis() -> str:
    """The URL of this suite's database on the shared Redis."""
    require_server("Redis", REDIS_ADDRESS)
    return f"redis://{REDIS_ADDRESS[0]}:{REDIS_ADDRESS[1]}/{REDIS_DB}"


def require_postgres() -> None:
    """Return when the shared PostgreSQL accepts connections (and psycopg is there)."""
    require_server("PostgreSQL", POSTGRES_ADDRESS)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (devenv's postgres extra)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new database `devenv_t_<random>` on the shared PostgreSQL (its URL), dropped after."""
    import psycopg

    require_postgres()
    name = f"devenv_t_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@{}:{}/postgres".format(*POSTGRES_ADDRESS)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgresql://postgres@{}:{}/{}".format(*POSTGRES_ADDRESS, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class PrivateServer:
    """A server this suite started: where it listens and the password it demands."""

    port: int
    password: str


def _wait_listening(port: int, process: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"the private {what} did not start on port {port}")


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateServer]:
    """A redis-server of our own on a free loopback port, demanding a password."""
    program = shutil.which("redis-server")
    if program is None:
        unavailable("redis-server is not installed")
        raise AssertionError  # unreachable: unavailable() skips or fails
    port, password = free_port(), f"pw-{uuid.uuid4().hex[:10]}"
    folder = tempfile.mkdtemp(prefix="devenv-redis-")
    server = subprocess.Popen(
        [
            program,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
            "--databases",
            "4",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, server, "redis-server")
        yield PrivateServer(port=port, password=password)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A PostgreSQL cluster of our own (initdb) on a free loopback port with password
    (scram-sha-256) authentication; run as the `postgres` user when we are root."""
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    initdb = found[-1]
    if not initdb:
        unavailable("PostgreSQL's initdb is not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            unavailable("runuser is needed to run initdb as the postgres user")
        as_user = [str(runuser), "-u", "postgres", "--"]
    bindir = os.path.dirname(initdb)
    port, password = free_port(), f"pw-{uuid.uuid4().hex[:10]}"
    # The postgres user must reach the folder: TMPDIR may sit inside a root-only folder (nox
    # points it into .nox/SESSION/tmp of a checkout that mktemp -d made 0700), /tmp never does.
    folder = tempfile.mkdtemp(prefix="devenv-pg-", dir="/tmp" if as_user else None)
    data = os.path.join(folder, "data")
    secret = os.path.join(folder, "pwfile")
    with open(secret, "w") as handle:
        handle.write(password + "\n")
    if as_user:
        shutil.chown(folder, "postgres")
        shutil.chown(secret, "postgres")
    subprocess.run(
        [*as_user, initdb, "-D", data, "-U", "postgres", "--auth=scram-sha-256", f"--pwfile={secret}"],
        check=True,
        capture_output=True,
    )
    ctl = [*as_user, os.path.join(bindir, "pg_ctl"), "-D", data]
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder}"
    subprocess.run(
        [*ctl, "-o", options, "-l", os.path.join(folder, "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        _wait_listening(port, None, "PostgreSQL")
        yield PrivateServer(port=port, password=password)
    finally:
        subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
