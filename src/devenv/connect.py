"""Opening a connection to a service: its address, pika with one deadline, why it failed.

Both the service checks (`services.py`) and the readiness probes (`readiness.py`) talk to a
broker or a port; this module is the one place that knows how, so neither reaches into the
other. pika is imported inside the functions: it is never on the `print-env` / `run` path.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

from devenv.masking import mask_url

__all__ = [
    "Cause",
    "ServiceStatus",
    "classify_amqp_error",
    "open_amqp",
    "probe_amqp",
    "probe_tcp",
    "quiet_pika",
    "tcp_address",
]

Cause: TypeAlias = Literal["refused", "dns", "auth", "vhost", "timeout", "protocol", "bad-url"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """One probe's result: reachable, or why not (`cause`) with a short `detail`."""

    reachable: bool
    cause: Cause | None = None
    detail: str = ""


def tcp_address(url: str) -> tuple[str, int]:
    """(host, port) from `host:port`, `[v6]:port` or `scheme://host:port/...`."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"no host:port in {mask_url(url)!r}")
    return parts.hostname, parts.port


def probe_tcp(url: str, timeout: float) -> ServiceStatus:
    """One TCP connect to the host and port of `url`."""
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


def _amqp_parameters(url: str, timeout: float) -> object:
    """pika URLParameters with every timeout set to `timeout` and a single attempt."""
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
    """Map a pika connect failure to a cause: each cause has its own fix, and only refused,
    dns and timeout can go away by waiting."""
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
    # pika raises AMQPConnectorStackTimeout, which is not an AMQPConnectionError subclass, when
    # a socket accepted the connection but no AMQP handshake followed in time.
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
        return pika.BlockingConnection(_amqp_parameters(url, timeout))


def probe_amqp(url: str, timeout: float) -> ServiceStatus:
    """One AMQP connect and handshake to `url`, closed again at once."""
    from pika.adapters.utils.connection_workflow import AMQPConnectorException
    from pika.exceptions import AMQPError

    try:
        connection = open_amqp(url, timeout)
    except ValueError:
        # The parser's own words quote pieces of the URL (a password cut at its first "/"
        # shows up as "the port"), so none of them is repeated.
        return ServiceStatus(reachable=False, cause="bad-url")
    except (AMQPError, AMQPConnectorException, OSError) as exc:
        return classify_amqp_error(exc)
    with quiet_pika(), contextlib.suppress(Exception):
        connection.close()  # type: ignore[attr-defined]
    return ServiceStatus(reachable=True)
