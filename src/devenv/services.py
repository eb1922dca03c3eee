"""Declared services (RabbitMQ, a TCP port): check them with a classified cause, start them.

A probe says *why* a service is unreachable (refused, DNS, auth, vhost, timeout, protocol),
because each has a different fix; retrying an auth failure for 30 s only hides it
(reliability catalogue PROC-08). Passwords never appear in a message: URLs are masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

from devenv.environment import CanonicalEnv, apply_env
from devenv.errors import ServiceError
from devenv.resolver import interpolate
from devenv.secrets import mask_url
from devenv.spec import ServiceSpec

Cause: TypeAlias = Literal["refused", "dns", "auth", "vhost", "timeout", "protocol", "bad-url"]

#: Causes worth retrying until the deadline: the service may still be starting.
RETRYABLE: frozenset[Cause] = frozenset({"refused", "dns", "timeout"})

#: Per-attempt network timeout; the overall deadline bounds the retries.
ATTEMPT_TIMEOUT = 2.0
RETRY_INTERVAL = 0.2

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")

# Start commands left running (the service itself); kept referenced so Popen.__del__ does not
# warn about a child still running, and so nothing reaps them behind our back.
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """One probe's result: reachable, or why not (`cause`) with a short `detail`."""

    reachable: bool
    cause: Cause | None = None
    detail: str = ""


def service_url(service: ServiceSpec, variables: Mapping[str, str]) -> str:
    """The service URL with `${VAR}` taken from the canonical variables."""
    return interpolate(service.url, variables.get, where=f"[services.{service.name}].url")


def probe_service(service: ServiceSpec, url: str, *, timeout: float = ATTEMPT_TIMEOUT) -> ServiceStatus:
    """One attempt to reach `url` the way `service.check` says, within about `timeout` seconds."""
    if service.check == "amqp":
        return _probe_amqp(url, timeout)
    return _probe_tcp(url, timeout)


def check_service(service: ServiceSpec, variables: Mapping[str, str], *, deadline: float) -> None:
    """Return once `service` is reachable; retry transient causes until `deadline` (monotonic).

    At least one attempt is made even if `deadline` has passed. Auth, vhost and protocol
    failures raise at once: waiting does not fix a wrong password.
    """
    url = service_url(service, variables)
    status = _wait_reachable(service, url, deadline=deadline)
    if not status.reachable:
        raise ServiceError(_unreachable_message(service, url, status))


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
    status = _wait_reachable(service, url, deadline=time.monotonic())
    if status.reachable:
        return None
    if not service.start or status.cause not in RETRYABLE:
        raise ServiceError(_unreachable_message(service, url, status))
    log_path = _start_service(service, env, base=base, log_dir=log_dir)
    started = time.monotonic()
    deadline = started + service.timeout
    popen = _STARTED[-1]
    while True:
        status = probe_service(service, url, timeout=_attempt_timeout(deadline))
        if status.reachable:
            return log_path
        code = popen.poll()
        # A start command may daemonise (rabbitmq-server -detached exits 0) or stay in the
        # foreground; only a non-zero exit is a failure by itself.
        if code is not None and code != 0:
            raise ServiceError(
                f"service {service.name!r}: its start command {' '.join(service.start)!r} "
                f"exited with code {code}; see {log_path}\n" + _unreachable_message(service, url, status)
            )
        if status.cause not in RETRYABLE or time.monotonic() >= deadline:
            raise ServiceError(
                f"service {service.name!r} was started with {' '.join(service.start)!r} but is "
                f"still unreachable after {time.monotonic() - started:.1f} s "
                f"([services.{service.name}].timeout = {service.timeout:g}); "
                f"start command output: {log_path}\n" + _unreachable_message(service, url, status)
            )
        time.sleep(RETRY_INTERVAL)


def _wait_reachable(service: ServiceSpec, url: str, *, deadline: float) -> ServiceStatus:
    while True:
        status = probe_service(service, url, timeout=_attempt_timeout(deadline))
        if status.reachable or status.cause not in RETRYABLE:
            return status
        if time.monotonic() + RETRY_INTERVAL >= deadline:
            return status
        time.sleep(RETRY_INTERVAL)


def _attempt_timeout(deadline: float) -> float:
    # At least one second per attempt, even past the deadline: a slow handshake is not "down".
    return min(ATTEMPT_TIMEOUT, max(1.0, deadline - time.monotonic()))


@contextlib.contextmanager
def quiet_pika() -> Iterator[None]:
    """Silence pika's loggers: a failed probe is reported once, by us, not as a log stack.

    Raising the level of "pika" silences its children (pika.channel logs the 404 of a passive
    declare as a WARNING) because they inherit it; `disabled` would not reach them, and their
    records would land in pytest's captured log of every failing test.
    """
    logger = logging.getLogger("pika")
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def amqp_parameters(url: str, timeout: float) -> object:
    """pika URLParameters with every timeout set and a single attempt (PROC-08)."""
    import pika

    parameters = pika.URLParameters(url)
    # Defaults changed across pika releases (pika#1007); set them all explicitly and do the
    # retrying ourselves, so one overall deadline bounds the wait.
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    parameters.connection_attempts = 1
    parameters.retry_delay = 0
    return parameters


def classify_amqp_error(error: BaseException) -> ServiceStatus:
    """Map a pika connect failure to a cause (the table in reliability catalogue PROC-08)."""
    import pika.exceptions as pe
    from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout

    if isinstance(error, pe.ProbableAuthenticationError):
        return ServiceStatus(reachable=False, cause="auth", detail="403 ACCESS_REFUSED")
    if isinstance(error, pe.ProbableAccessDeniedError):
        return ServiceStatus(reachable=False, cause="vhost", detail="530 NOT_ALLOWED")
    if isinstance(error, pe.ConnectionClosedByBroker):
        # pika 1.0.x raised this for a bad login (pika#1204): fall back to the reply code.
        codes: dict[int, Cause] = {403: "auth", 530: "vhost"}
        cause = codes.get(error.reply_code, "protocol")
        return ServiceStatus(reachable=False, cause=cause, detail=f"{error.reply_code} {error.reply_text}")
    # AMQPConnectorStackTimeout is not an AMQPConnectionError subclass (PROC-08).
    if isinstance(error, AMQPConnectorStackTimeout | TimeoutError):
        return ServiceStatus(reachable=False, cause="timeout", detail="no AMQP handshake in time")
    if isinstance(error, socket.gaierror):
        return ServiceStatus(reachable=False, cause="dns", detail=error.strerror or str(error))
    if isinstance(error, pe.IncompatibleProtocolError):
        return ServiceStatus(reachable=False, cause="protocol", detail="the server did not speak AMQP")
    if isinstance(error, pe.AMQPConnectionError):
        inner = error.args[0] if error.args else None
        nested = getattr(inner, "exception", None)
        if isinstance(nested, ConnectionRefusedError):
            return ServiceStatus(reachable=False, cause="refused")
        if isinstance(nested, socket.gaierror):
            return ServiceStatus(reachable=False, cause="dns", detail=nested.strerror or "")
        if isinstance(nested, TimeoutError):
            return ServiceStatus(reachable=False, cause="timeout", detail="connect timed out")
        if isinstance(inner, AMQPConnectorStackTimeout):
            return ServiceStatus(reachable=False, cause="timeout", detail="no AMQP handshake in time")
        if isinstance(nested, OSError):
            return ServiceStatus(reachable=False, cause="refused", detail=nested.strerror or "")
        return ServiceStatus(reachable=False, cause="protocol", detail=type(inner).__name__)
    if isinstance(error, ConnectionRefusedError):
        return ServiceStatus(reachable=False, cause="refused")
    if isinstance(error, OSError):
        return ServiceStatus(reachable=False, cause="refused", detail=error.strerror or str(error))
    return ServiceStatus(reachable=False, cause="protocol", detail=type(error).__name__)


def open_amqp(url: str, timeout: float) -> object:
    """A pika BlockingConnection to `url` (raises pika/socket errors; see classify_amqp_error)."""
    import pika

    with quiet_pika():
        return pika.BlockingConnection(amqp_parameters(url, timeout))


def _probe_amqp(url: str, timeout: float) -> ServiceStatus:
    from pika.adapters.utils.connection_workflow import AMQPConnectorException
    from pika.exceptions import AMQPError

    try:
        connection = open_amqp(url, timeout)
    except ValueError as exc:
        return ServiceStatus(reachable=False, cause="bad-url", detail=_scrub(str(exc), url))
    except (AMQPError, AMQPConnectorException, OSError) as exc:
        return classify_amqp_error(exc)
    with quiet_pika(), contextlib.suppress(Exception):
        connection.close()  # type: ignore[attr-defined]
    return ServiceStatus(reachable=True)


def tcp_address(url: str) -> tuple[str, int]:
    """(host, port) from `host:port`, `[v6]:port` or `scheme://host:port/...`."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"no host:port in {mask_url(url)!r}")
    return parts.hostname, parts.port


def _probe_tcp(url: str, timeout: float) -> ServiceStatus:
    try:
        host, port = tcp_address(url)
    except ValueError as exc:
        return ServiceStatus(reachable=False, cause="bad-url", detail=str(exc))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ServiceStatus(reachable=True)
    except socket.gaierror as exc:
        return ServiceStatus(reachable=False, cause="dns", detail=exc.strerror or str(exc))
    except TimeoutError:
        return ServiceStatus(reachable=False, cause="timeout", detail="connect timed out")
    except ConnectionRefusedError:
        return ServiceStatus(reachable=False, cause="refused")
    except OSError as exc:
        return ServiceStatus(reachable=False, cause="refused", detail=exc.strerror or str(exc))


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
    elif cause in ("dns", "bad-url", "protocol"):
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
) -> str:
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
    folder = log_dir or os.path.join(env.root, ".devenv", "logs")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    log_path = os.path.join(folder, f"service-{service.name}.log")
    from devenv.logs import open_log

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
    _STARTED.append(popen)
    # The record says who started the service and where its output went (`devenv ps`).
    records = os.path.join(env.root, ".devenv", "services")
    os.makedirs(records, mode=0o700, exist_ok=True)
    record = {
        "name": service.name,
        "pid": popen.pid,
        "command": command,
        "log_path": log_path,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    fd = os.open(os.path.join(records, f"{service.name}.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, sort_keys=True)
    return log_path
