"""Declared services (RabbitMQ, a TCP port): check them with a classified cause, start them.

A probe says *why* a service is unreachable (refused, DNS, auth, vhost, timeout, protocol),
because each has a different fix; retrying an auth failure for 30 s only hides it.
Passwords never appear in a message: URLs are masked.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from devenv.connect import Cause, ServiceStatus, probe_amqp, probe_tcp
from devenv.environment import CanonicalEnv, apply_env
from devenv.errors import ServiceError
from devenv.masking import mask_url
from devenv.resolver import interpolate
from devenv.spec import ServiceSpec

__all__ = ["check_service", "ensure_service", "probe_service", "service_url"]

#: Causes worth retrying until the deadline: the service may still be starting.
RETRYABLE: frozenset[Cause] = frozenset({"refused", "dns", "timeout"})

#: Per-attempt network timeout; the overall deadline bounds the retries.
ATTEMPT_TIMEOUT = 2.0
RETRY_INTERVAL = 0.2

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Started:
    """A start command devenv ran: the process and the log its output goes to."""

    popen: subprocess.Popen[bytes]
    log_path: str


def service_url(service: ServiceSpec, variables: Mapping[str, str]) -> str:
    """The service URL with `${VAR}` taken from the canonical variables."""
    return interpolate(service.url, variables.get, where=f"[services.{service.name}].url")


def probe_service(service: ServiceSpec, url: str, *, timeout: float = ATTEMPT_TIMEOUT) -> ServiceStatus:
    """One attempt to reach `url` the way `service.check` says, within about `timeout` seconds."""
    if service.check == "amqp":
        return probe_amqp(url, timeout)
    return probe_tcp(url, timeout)


def check_service(service: ServiceSpec, variables: Mapping[str, str], *, deadline: float) -> None:
    """Return once `service` is reachable; retry transient causes until `deadline` (monotonic).

    At least one attempt is made even if `deadline` has passed. Auth, vhost and protocol
    failures raise at once: waiting does not fix a wrong password.
    """
    url = service_url(service, variables)
    status, _ = _wait_reachable(service, url, deadline=deadline)
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
    status, _ = _wait_reachable(service, url, deadline=time.monotonic())
    if status.reachable:
        return None
    if not service.start or status.cause not in RETRYABLE:
        raise ServiceError(_unreachable_message(service, url, status), cause=status.cause or "")
    started = _start_service(service, env, base=base, log_dir=log_dir)
    began = time.monotonic()
    status, code = _wait_reachable(service, url, deadline=began + service.timeout, start=started.popen)
    _leave_running(started.popen)
    if status.reachable:
        return started.log_path
    if code is not None:
        raise ServiceError(
            f"service {service.name!r}: its start command {' '.join(service.start)!r} "
            f"exited with code {code}; see {started.log_path}\n" + _unreachable_message(service, url, status),
            cause=status.cause or "",
        )
    raise ServiceError(
        f"service {service.name!r} was started with {' '.join(service.start)!r} but is "
        f"still unreachable after {time.monotonic() - began:.1f} s "
        f"([services.{service.name}].timeout = {service.timeout:g}); "
        f"start command output: {started.log_path}\n" + _unreachable_message(service, url, status),
        cause=status.cause or "",
    )


def _leave_running(popen: subprocess.Popen[bytes]) -> None:
    """Let a started service outlive devenv: a daemon thread waits for it, so it is reaped
    (not left a zombie) if it exits while devenv runs, and Popen never warns at exit about
    a child still running, as it does for one it was dropped with."""
    import threading

    threading.Thread(target=popen.wait, name=f"devenv-service-{popen.pid}", daemon=True).start()


def _wait_reachable(
    service: ServiceSpec, url: str, *, deadline: float, start: subprocess.Popen[bytes] | None = None
) -> tuple[ServiceStatus, int | None]:
    """Probe until reachable, a cause waiting cannot fix, or `deadline` (one attempt at least).

    With `start`, also stop when that start command exits non-zero, and return its code. A
    start command may daemonise (rabbitmq-server -detached exits 0) or stay in the
    foreground, so only a non-zero exit is a failure by itself.
    """
    while True:
        status = probe_service(service, url, timeout=_attempt_timeout(deadline))
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
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


def _variables_in(service: ServiceSpec) -> str:
    names = _REFERENCE.findall(service.url)
    return " or ".join(names) if names else f"[services.{service.name}].url"


_EXPLAIN: dict[Cause, str] = {
    "refused": "connection refused: nothing listens there",
    "dns": "the host name does not resolve",
    "auth": "authentication failed: the user or password is wrong",
    "vhost": "the virtual host does not exist or the user may not use it",
    "timeout": "timed out: something accepted the connection but did not answer in time",
    "protocol": "the server there does not speak the expected protocol",
    "bad-url": "the URL cannot be parsed",
}


def _unreachable_message(service: ServiceSpec, url: str, status: ServiceStatus) -> str:
    cause = status.cause or "refused"
    where = _variables_in(service)
    if cause in ("auth", "vhost"):
        hint = f"check the user, password and vhost in {where} (.env or .env.defaults)"
    elif cause == "bad-url":
        hint = (
            f"check {where}: the form is scheme://user:password@host:port/vhost, and a password "
            "holding / ? # @ or : must be percent-encoded (/ as %2F, @ as %40)"
        )
    elif cause in ("dns", "protocol"):
        hint = f"check the host and port in {where}"
    elif service.start:
        hint = f"its start command {' '.join(service.start)!r} did not bring it up; see its log"
    else:
        hint = (
            f"start it (or declare [services.{service.name}].start so `devenv up` starts it), "
            f"or point {where} at a running one"
        )
    detail = f" ({_scrub(status.detail, url)})" if status.detail else ""
    return f"service {service.name!r} at {mask_url(url)} is unreachable: {_EXPLAIN[cause]}{detail}; {hint}"


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
    child_env["DEVENV_LAUNCHER"] = "service"
    child_env["DEVENV_SERVICE"] = service.name
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
    from devenv.logs import open_log
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
        # Its own session: Ctrl-C on `devenv up` must stop the worker, not the broker.
        popen = subprocess.Popen(
            command,
            cwd=env.root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
    return _Started(popen=popen, log_path=log_path)
