"""Declared services (RabbitMQ, Redis, PostgreSQL, a web server, a port, a check command):
check them with a classified cause, start them.

A check says *why* a service is unreachable (refused, DNS, auth, vhost, missing database or
role, timeout, protocol), because each has a different fix; retrying an auth failure for 30 s
only hides it. Passwords never appear in a message: URLs and the output quoted are masked.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from devenv.connect import (
    Cause,
    ServiceStatus,
    probe_amqp,
    probe_command,
    probe_http,
    probe_postgres,
    probe_redis,
    probe_tcp,
)
from devenv.environment import FINGERPRINT_KEY, LAUNCHER_KEY, ROOT_KEY, SERVICE_KEY, CanonicalEnv, apply_env
from devenv.errors import ServiceError
from devenv.exits import ended
from devenv.masking import mask_url
from devenv.records import dataclass
from devenv.resolver import interpolate
from devenv.spec import ServiceSpec

#: Causes worth retrying until the deadline: the service may still be starting (a web server
#: answers 503 and a check command fails until it is up).
RETRYABLE: frozenset[Cause] = frozenset({"refused", "dns", "timeout", "starting", "status", "failed"})

#: Per-try limit of a `check = "command"` service (a `celery inspect ping` takes seconds).
COMMAND_TIMEOUT = 10.0

#: Lines of a failed start command's output quoted in the error.
START_TAIL_LINES = 8

#: Per-attempt network timeout; the overall deadline bounds the retries.
ATTEMPT_TIMEOUT = 2.0
RETRY_INTERVAL = 0.2

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Started:
    """A start command devenv ran: the process and the log its output goes to."""

    popen: subprocess.Popen[bytes]
    log_path: str
    #: Where this start's output begins in the log (after devenv's header).
    offset: int
    #: Masks the secrets of the environment the command was given.
    mask: Callable[[str], str]


def service_url(service: ServiceSpec, variables: Mapping[str, str]) -> str:
    """The service URL with `${VAR}` taken from the canonical variables (a command check's
    command line when it has no URL: that is what messages show)."""
    if service.check == "command" and not service.url:
        return " ".join(service.command)
    return interpolate(service.url, variables.get, where=f"[services.{service.name}].url")


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandContext:
    """What a `check = "command"` service runs in: the launch environment and the project root."""

    env: Mapping[str, str]
    root: str


def probe_service(
    service: ServiceSpec,
    url: str,
    *,
    timeout: float = ATTEMPT_TIMEOUT,
    context: CommandContext | None = None,
    variables: Mapping[str, str] | None = None,
) -> ServiceStatus:
    """One attempt to reach `url` the way `service.check` says, within about `timeout` seconds."""
    if service.check == "amqp":
        return probe_amqp(url, timeout)
    if service.check == "redis":
        return probe_redis(url, timeout)
    if service.check == "postgres":
        return probe_postgres(url, timeout)
    if service.check == "http":
        return _masked(probe_http(url, timeout, service.status), variables or {})
    if service.check == "command":
        return _masked(_probe_command(service, context, variables or {}), variables or {})
    return probe_tcp(url, timeout)


def _masked(status: ServiceStatus, variables: Mapping[str, str]) -> ServiceStatus:
    """`status` with every secret among `variables` masked in what it quotes (a body, output)."""
    if not status.detail:
        return status
    from devenv.masking import Masker

    detail = Masker.for_logs(variables).mask(status.detail)
    return ServiceStatus(reachable=status.reachable, cause=status.cause, detail=detail)


def _probe_command(
    service: ServiceSpec, context: CommandContext | None, variables: Mapping[str, str]
) -> ServiceStatus:
    from devenv.commands import find_command
    from devenv.errors import CommandNotFoundError

    if context is None:
        context = _context_of(variables)
    env, root = context.env, context.root
    where = f"[services.{service.name}].command"
    words = [interpolate(word, variables.get, where=where) for word in service.command]
    try:
        words[0] = find_command(
            words[0], path=env.get("PATH", os.defpath), root=root, venv=env.get("VIRTUAL_ENV")
        )
    except CommandNotFoundError as error:
        return ServiceStatus(reachable=False, cause="failed", detail=str(error))
    return probe_command(words, env=env, cwd=root, timeout=COMMAND_TIMEOUT)


def _context_of(variables: Mapping[str, str]) -> CommandContext:
    """What a command check runs in when the caller gave only the canonical `variables`:
    them applied to this process's environment by `apply_env`, as every launch is, so an
    undeclared key of the caller's shell never reaches the check command either."""
    root = variables.get(ROOT_KEY, os.getcwd())
    venv = variables.get("VIRTUAL_ENV")
    env = CanonicalEnv(
        root=root,
        fingerprint=variables.get(FINGERPRINT_KEY, ""),
        variables=variables,
        path_prefix=(os.path.join(venv, "bin"),) if venv else (),
    )
    return CommandContext(env=apply_env(env, os.environ), root=root)


def check_service(
    service: ServiceSpec,
    variables: Mapping[str, str],
    *,
    deadline: float,
    context: CommandContext | None = None,
) -> None:
    """Return once `service` is reachable; retry transient causes until `deadline` (monotonic).

    At least one attempt is made even if `deadline` has passed. Auth, vhost, database and
    protocol failures raise at once: waiting does not fix a wrong password.
    """
    url = service_url(service, variables)
    status, _ = _wait_reachable(service, url, deadline=deadline, context=context, variables=variables)
    if not status.reachable:
        raise ServiceError(_unreachable_message(service, url, status), cause=status.cause or "")


def ensure_service(
    service: ServiceSpec,
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None = None,
    log_dir: str | None = None,
) -> str | None:
    """Make `service` reachable: check it, and if it is down run its `start` command once.

    Returns None if it was already reachable, else the log of the start command it ran.
    """
    url = service_url(service, env.variables)
    context = CommandContext(env=apply_env(env, os.environ if base is None else base), root=env.root)
    status, _ = _wait_reachable(
        service, url, deadline=time.monotonic(), context=context, variables=env.variables
    )
    if status.reachable:
        return None
    if not service.start or status.cause not in RETRYABLE:
        raise ServiceError(_unreachable_message(service, url, status), cause=status.cause or "")
    started = _start_service(service, env, base=base, log_dir=log_dir)
    began = time.monotonic()
    status, code = _wait_reachable(
        service,
        url,
        deadline=began + service.timeout,
        start=started.popen,
        context=context,
        variables=env.variables,
    )
    _leave_running(started.popen)
    if status.reachable:
        return started.log_path
    if code is not None:
        raise ServiceError(
            f"service {service.name!r}: its start command {' '.join(service.start)!r} "
            f"{ended(code)}\n{_start_output(started)}\n" + _unreachable_message(service, url, status),
            cause=status.cause or "",
        )
    raise ServiceError(
        f"service {service.name!r} was started with {' '.join(service.start)!r} but is "
        f"still unreachable after {time.monotonic() - began:.1f} s "
        f"([services.{service.name}].timeout = {service.timeout:g})\n{_start_output(started)}\n"
        + _unreachable_message(service, url, status),
        cause=status.cause or "",
    )


def _start_output(started: _Started) -> str:
    """The last lines the start command printed (masked), framed, and where the rest is."""
    from devenv.logs import log_tail

    tail = started.mask(log_tail(started.log_path, started.offset, lines=START_TAIL_LINES)).rstrip()
    if not tail:
        return f"(the start command printed nothing; log: {started.log_path})"
    return f"--- last lines of its output ({started.log_path}) ---\n{tail}\n--- end of output ---"


def _leave_running(popen: subprocess.Popen[bytes]) -> None:
    """Let a started service outlive devenv: a daemon thread waits for it, so it is reaped
    (not left a zombie) if it exits while devenv runs, and Popen never warns at exit about
    a child still running, as it does for one it was dropped with."""
    import threading

    from devenv.daemons import forget

    def wait() -> None:
        popen.wait()
        forget(popen.pid)

    threading.Thread(target=wait, name=f"devenv-service-{popen.pid}", daemon=True).start()


def _wait_reachable(
    service: ServiceSpec,
    url: str,
    *,
    deadline: float,
    start: subprocess.Popen[bytes] | None = None,
    context: CommandContext | None = None,
    variables: Mapping[str, str] | None = None,
) -> tuple[ServiceStatus, int | None]:
    """Probe until reachable, a cause waiting cannot fix, or `deadline` (one attempt at least).

    With `start`, also stop when that start command exits non-zero, and return its code. A
    start command may daemonise (rabbitmq-server -detached exits 0) or stay in the
    foreground, so only a non-zero exit is a failure by itself.
    """
    while True:
        status = probe_service(
            service, url, timeout=_attempt_timeout(deadline), context=context, variables=variables
        )
        if status.reachable:
            return status, None
        code = start.poll() if start is not None else None
        if code:
            return status, code
        if status.cause not in RETRYABLE or time.monotonic() + RETRY_INTERVAL >= deadline:
            return status, None
        time.sleep(RETRY_INTERVAL)


def _attempt_timeout(deadline: float) -> float:
    # At least one second per attempt, even past the deadline: a slow handshake is not "down".
    return min(ATTEMPT_TIMEOUT, max(1.0, deadline - time.monotonic()))


def _scrub(text: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        password = user = None
    # A password equal to the user name (guest:guest) is shown by the masked URL already.
    return text.replace(password, "***") if password and password != user else text


def _variables_in(service: ServiceSpec) -> tuple[str, str]:
    """What holds the URL (its variables, or the spec key) and a pointer to where it is set."""
    names = _REFERENCE.findall(service.url)
    if not names:
        return f"[services.{service.name}].url", ""
    # Where a variable is set is the project's business (envspec.toml, a dotenv file, the
    # outer environment): `devenv explain` says which, so no file is named here.
    return " or ".join(names), f" (`devenv explain {names[0]}` shows where it is set)"


_EXPLAIN: dict[Cause, str] = {
    "refused": "connection refused: nothing listens there",
    "dns": "the host name does not resolve",
    "auth": "authentication failed: the user or password is wrong",
    "vhost": "the broker refused the virtual host",
    "database": "the database does not exist",
    "role": "the user (role) does not exist",
    "starting": "the server is still starting",
    "status": "the server answered, but not with a status that means up",
    "failed": "the check command failed",
    "timeout": "timed out: something accepted the connection but did not answer in time",
    "protocol": "the server there does not speak the expected protocol",
    "bad-url": "the URL cannot be parsed",
    "no-driver": "devenv cannot speak this protocol here",
}


def _hint(service: ServiceSpec, cause: Cause, url: str) -> str:
    """The fix for `cause`, naming only what the project has."""
    where, pointer = _variables_in(service)
    return _fix(service, cause, where, url) + pointer


def _fix(service: ServiceSpec, cause: Cause, where: str, url: str) -> str:
    if cause == "auth":
        return f"check the user and password in {where}"
    if cause == "vhost":
        from devenv.connect import amqp_vhost

        vhost, user = shlex.quote(amqp_vhost(url)), shlex.quote(unquote(urlsplit(url).username or "guest"))
        return (
            f"check the vhost (the path after the host) in {where}: `//` and `/%2F` both mean "
            f"the default vhost `/`; or create it and let the user in (rabbitmqctl add_vhost {vhost}; "
            f"rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*')"
        )
    if cause == "database":
        if service.check == "redis":
            return f"use a database number the server has (0 to its `databases` setting - 1) in {where}"
        parts = urlsplit(url)
        database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "") or "NAME"
        return (
            f"create it (createdb {shlex.quote(database)}, or your framework's create-database step), "
            f"or name an existing one in {where}"
        )
    if cause == "role":
        role = unquote(urlsplit(url).username or "") or "NAME"
        return f"create the role (createuser {shlex.quote(role)}), or name an existing user in {where}"
    if cause == "no-driver":
        return (
            f"install devenv with its postgres extra, which brings psycopg ({install_extra('postgres')}), "
            f'or use check = "tcp" or check = "command" in [services.{service.name}]'
        )
    if cause == "bad-url":
        return f"check {where}"
    if cause in ("dns", "protocol"):
        return f"check the host and port in {where}"
    if cause == "failed" and service.check == "command" and not service.start:
        return f"start it, or fix [services.{service.name}].command"
    if service.start:
        return f"its start command {' '.join(service.start)!r} did not bring it up"
    return (
        f"start it (or declare [services.{service.name}].start so `devenv up` starts it), "
        f"or point {where} at a running one"
    )


def install_extra(extra: str) -> str:
    """The command that adds `extra` to the devenv running now, as it was installed: from a
    folder (`pip install /path/to/devenv`, the README's way) the PyPI name would not do, so
    the folder is named, as pip recorded it (PEP 610 direct_url.json)."""
    import json
    import sys
    from importlib import metadata
    from urllib.request import url2pathname

    try:
        direct = json.loads(metadata.distribution("devenv").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        direct = {}
    url = direct.get("url", "") if isinstance(direct, dict) else ""
    if not url.startswith("file://"):
        return f"pip install 'devenv[{extra}]', or '/path/to/devenv[{extra}]' for a checkout"
    editable = "-e " if (direct.get("dir_info") or {}).get("editable") else ""
    target = shlex.quote(f"{url2pathname(urlsplit(url).path)}[{extra}]")
    return f"{shlex.quote(sys.executable)} -m pip install {editable}{target}"


def _unreachable_message(service: ServiceSpec, url: str, status: ServiceStatus) -> str:
    cause = status.cause or "refused"
    detail = f" ({_scrub(status.detail, url)})" if status.detail else ""
    shown = f"`{url}`" if service.check == "command" and not service.url else mask_url(url)
    return (
        f"service {service.name!r} at {shown} is unreachable: {_EXPLAIN[cause]}{detail}; "
        f"{_hint(service, cause, url)}"
    )


def _start_service(
    service: ServiceSpec,
    env: CanonicalEnv,
    *,
    base: Mapping[str, str] | None,
    log_dir: str | None,
) -> _Started:
    import json

    from devenv.commands import find_command
    from devenv.errors import CommandNotFoundError

    child_env = apply_env(env, os.environ if base is None else base)
    # `devenv ps` finds the service by these, as long as it keeps its environment.
    child_env[LAUNCHER_KEY] = "service"
    child_env[SERVICE_KEY] = service.name
    command = list(service.start)
    try:
        command[0] = find_command(
            command[0],
            path=child_env.get("PATH", os.defpath),
            root=env.root,
            venv=child_env.get("VIRTUAL_ENV"),
        )
    except CommandNotFoundError as error:
        raise ServiceError(
            f"service {service.name!r}: start command {error} ([services.{service.name}].start)"
        ) from None
    from devenv.layout import LOGS, SERVICES
    from devenv.logs import open_log, spawn_logged
    from devenv.store import state_folder

    if log_dir:
        folder = log_dir
        os.makedirs(folder, mode=0o700, exist_ok=True)
    else:
        folder = state_folder(env.root, LOGS)
    # Checked before anything starts: a service must not run on when its record cannot be kept.
    records = state_folder(env.root, SERVICES)
    log_path = os.path.join(folder, f"service-{service.name}.log")
    # 0600 like every log devenv writes: a start command may print credentials.
    with os.fdopen(open_log(log_path), "ab") as log:
        log.write(
            f"==== devenv: starting service {service.name} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
            f"command: {' '.join(command)}\n".encode()
        )
        log.flush()
        offset = log.tell()
        from devenv.daemons import spawning

        # Its own session: Ctrl-C on `devenv up` must stop the worker, not the broker. Noted
        # as this process's own child until it is waited for: inside `devenv up` it is no
        # orphan of a declared process, even if it clears its environment.
        with spawning() as note:
            popen = spawn_logged(command, log, env=child_env, cwd=env.root)
            note(popen.pid)
    # The record says who started the service and where its output went (`devenv ps`).
    record = {
        "name": service.name,
        "pid": popen.pid,
        "command": command,
        "log_path": log_path,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    from devenv.store import write_atomic

    write_atomic(os.path.join(records, f"{service.name}.json"), json.dumps(record, sort_keys=True).encode())
    from devenv.masking import Masker

    masker = Masker.for_logs(child_env, env.secret)
    return _Started(popen=popen, log_path=log_path, offset=offset, mask=masker.mask)
