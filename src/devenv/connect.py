"""Reaching a service: its address, one attempt with one deadline, and why it failed.

Both the service checks (`services.py`) and the readiness probes (`readiness.py`) talk to a
broker, a database, a web server, a port or a check command; this module is the one place
that knows how, so neither reaches into the other. Each protocol is spoken by its own
well-kept client (pika, redis-py, psycopg, the standard library's http.client), imported
inside the function that needs it: none is ever on the `print-env` / `run` path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from devenv.exits import exit_status
from devenv.masking import mask_url
from devenv.records import dataclass

Cause: TypeAlias = Literal[
    "refused",
    "dns",
    "auth",
    "vhost",
    "database",
    "role",
    "starting",
    "status",
    "failed",
    "timeout",
    "protocol",
    "bad-url",
    "no-driver",
]

#: The port a URL without one means, by scheme (what each scheme's own clients assume).
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6380,
    "amqp": 5672,
    "amqps": 5671,
    "mysql": 3306,
    "http": 80,
    "https": 443,
}

#: How many bytes of a refused HTTP answer's body a message quotes.
BODY_PREVIEW = 120


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """One probe's result: reachable, or why not (`cause`) with a short `detail`."""

    reachable: bool
    cause: Cause | None = None
    detail: str = ""


def tcp_address(url: str) -> tuple[str, int]:
    """(host, port) from `host:port`, `[v6]:port` or any `scheme://[user:password@]host[:port]/...`.

    A URL without a port gets its scheme's default (DEFAULT_PORTS), and one without a host
    (`postgres:///shop`, which libpq takes to mean the local server) means localhost.
    ValueError says which part is missing or wrong, never quoting the password.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    parts = urlsplit(url if scheme else f"tcp://{url}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"the port in {mask_url(url)!r} is not a number; a password holding / ? # @ or : "
            "must be percent-encoded (/ as %2F, @ as %40)"
        ) from None
    if port is None:
        if not scheme:
            raise ValueError(f"no port in {mask_url(url)!r}; the form is host:port or a URL")
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"no port in {mask_url(url)!r}, and {scheme}:// has no default port; add :PORT")
        port = DEFAULT_PORTS[scheme]
    if parts.hostname is None and not scheme:
        raise ValueError(f"no host in {mask_url(url)!r}; the form is host:port")
    return parts.hostname or "localhost", port


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
    parameters.virtual_host = amqp_vhost(url)
    # Defaults changed across pika releases (pika#1007); set them all explicitly and do the
    # retrying ourselves, so one overall deadline bounds the wait.
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    parameters.connection_attempts = 1
    parameters.retry_delay = 0
    return parameters


def amqp_vhost(url: str) -> str:
    """The virtual host of an AMQP URL, read as kombu (and so Celery) reads it.

    The path after the host's `/` is the vhost, percent-decoded, and an empty one means `/`:
    Celery's default `amqp://guest:guest@localhost:5672//` and a bare trailing `/` both mean
    `/`. pika reads `//` as the empty vhost '' (everything after a second slash is dropped),
    which RabbitMQ refuses with 530 NOT_ALLOWED.
    """
    path = urlsplit(url).path
    return unquote(path[1:] if path.startswith("/") else path) or "/"


def classify_amqp_error(error: BaseException, url: str = "") -> ServiceStatus:
    """Map a pika connect failure to a cause: each cause has its own fix, and only refused,
    dns and timeout can go away by waiting. With `url`, a refused vhost is named."""
    import pika.exceptions as pe
    from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout

    if isinstance(error, pe.ProbableAuthenticationError):
        return ServiceStatus(reachable=False, cause="auth", detail="403 ACCESS_REFUSED")
    if isinstance(error, pe.ProbableAccessDeniedError):
        return ServiceStatus(reachable=False, cause="vhost", detail=_vhost_refused(url))
    if isinstance(error, pe.ConnectionClosedByBroker):
        # pika 1.0.x raised this for a bad login (pika#1204): fall back to the reply code.
        if error.reply_code == 530:
            return ServiceStatus(reachable=False, cause="vhost", detail=_vhost_refused(url))
        cause: Cause = "auth" if error.reply_code == 403 else "protocol"
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


def _vhost_refused(url: str) -> str:
    if not url:
        return "530 NOT_ALLOWED"
    user = unquote(urlsplit(url).username or "guest")
    return f"530 NOT_ALLOWED: vhost {amqp_vhost(url)!r} does not exist or {user} may not use it"


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
        return classify_amqp_error(exc, url)
    with quiet_pika(), contextlib.suppress(Exception):
        connection.close()  # type: ignore[attr-defined]
    return ServiceStatus(reachable=True)


def probe_redis(url: str, timeout: float) -> ServiceStatus:
    """One Redis PING with the URL's password and database (redis-py), closed again at once.

    redis-py sends AUTH and SELECT on connect, so a refused password and a database the
    server does not have fail here, each named as such, where a TCP connect would pass.
    """
    import redis
    import redis.exceptions as re_

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError as exc:
        return ServiceStatus(reachable=False, cause="bad-url", detail=_first_line(str(exc)))
    try:
        client.ping()
    except re_.AuthenticationError as exc:
        return ServiceStatus(
            reachable=False, cause="auth", detail=f"Redis refused the login ({_first_line(str(exc))})"
        )
    except re_.BusyLoadingError:
        return ServiceStatus(reachable=False, cause="starting", detail="Redis is loading its data set")
    except re_.ResponseError as exc:
        text = str(exc)
        if "DB index" in text:
            database = client.connection_pool.connection_kwargs.get("db", 0)
            return ServiceStatus(
                reachable=False,
                cause="database",
                detail=f"Redis has no database {database} (the number after the last / in the URL; "
                "its `databases` setting caps it)",
            )
        if "NOAUTH" in text or "WRONGPASS" in text or "AUTH" in text:
            return ServiceStatus(
                reachable=False, cause="auth", detail=f"Redis refused the login ({_first_line(text)})"
            )
        return ServiceStatus(reachable=False, cause="protocol", detail=_first_line(text))
    except re_.TimeoutError:
        return ServiceStatus(reachable=False, cause="timeout", detail="no Redis answer in time")
    except re_.ConnectionError as exc:
        return _socket_cause(exc.__context__ or exc, str(exc))
    except re_.RedisError as exc:
        return ServiceStatus(reachable=False, cause="protocol", detail=_first_line(str(exc)))
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return ServiceStatus(reachable=True)


def probe_postgres(url: str, timeout: float) -> ServiceStatus:
    """One PostgreSQL connection with the URL's user, password and database (psycopg).

    libpq reports why the server refused in its own words; each cause gets its name, since
    "database X does not exist" and "password authentication failed" have different fixes.
    psycopg is an optional extra (`devenv[postgres]`): it carries libpq.
    """
    try:
        import psycopg
    except ImportError:
        return ServiceStatus(
            reachable=False,
            cause="no-driver",
            detail="the postgres check needs psycopg, which this devenv lacks",
        )
    # At least 2 s: libpq rounds connect_timeout down to whole seconds and refuses 1 (libpq docs).
    try:
        connection = psycopg.connect(url, connect_timeout=max(2, round(timeout)), autocommit=True)
    except psycopg.ProgrammingError as exc:
        return ServiceStatus(reachable=False, cause="bad-url", detail=_libpq_reason(str(exc)))
    except psycopg.OperationalError as exc:
        return _postgres_cause(_libpq_reason(str(exc)))
    with contextlib.suppress(Exception):
        connection.close()
    return ServiceStatus(reachable=True)


def _libpq_reason(text: str) -> str:
    """libpq's reason without its preamble ('connection failed: connection to server at ... failed:')."""
    reason = text.strip().splitlines()[0] if text.strip() else text
    reason = reason.rpartition(" failed: ")[2] if " failed: " in reason else reason
    return reason.replace("FATAL:  ", "").strip()


def _postgres_cause(reason: str) -> ServiceStatus:
    import re

    if match := re.search(r'database "(.*)" does not exist', reason):
        return ServiceStatus(
            reachable=False, cause="database", detail=f"database {match.group(1)!r} does not exist"
        )
    if match := re.search(r'role "(.*)" does not exist', reason):
        return ServiceStatus(reachable=False, cause="role", detail=f"no such role {match.group(1)!r}")
    if "password authentication failed" in reason or "no password supplied" in reason:
        return ServiceStatus(reachable=False, cause="auth", detail=reason)
    if "starting up" in reason or "shutting down" in reason or "recovery" in reason:
        return ServiceStatus(reachable=False, cause="starting", detail=reason)
    if "Connection refused" in reason or "No such file or directory" in reason:
        return ServiceStatus(reachable=False, cause="refused", detail=reason)
    if "could not translate host name" in reason:
        return ServiceStatus(reachable=False, cause="dns", detail=reason)
    if "timeout" in reason:
        return ServiceStatus(reachable=False, cause="timeout", detail=reason)
    if "invalid" in reason and ("URI" in reason or "connection option" in reason):
        return ServiceStatus(reachable=False, cause="bad-url", detail=reason)
    return ServiceStatus(reachable=False, cause="protocol", detail=reason)


def accepted_status(code: int, status: Sequence[int]) -> bool:
    """Whether an HTTP status code means "up": one of `status`, or any 2xx/3xx when none is given."""
    return code in status if status else 200 <= code < 400


def probe_http(url: str, timeout: float, status: Sequence[int] = ()) -> ServiceStatus:
    """One HTTP GET of `url` (redirects are not followed: a 3xx is an answer of the server
    itself); reachable when the status is accepted (`accepted_status`).

    When it is not, the detail says what came back: the status line and the first bytes of
    the body, which usually name the reason ("database unavailable").
    """
    import http.client

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ServiceStatus(reachable=False, cause="bad-url", detail="the form is http://host[:port]/path")
    try:
        port = parts.port
    except ValueError:
        return ServiceStatus(reachable=False, cause="bad-url", detail="the port is not a number")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={"User-Agent": "devenv-readiness", "Connection": "close"})
        response = connection.getresponse()
        body = response.read(BODY_PREVIEW + 1)
    except TimeoutError:
        return ServiceStatus(reachable=False, cause="timeout", detail="no HTTP answer in time")
    except socket.gaierror as exc:
        return ServiceStatus(reachable=False, cause="dns", detail=exc.strerror or str(exc))
    except ConnectionRefusedError:
        return ServiceStatus(reachable=False, cause="refused")
    except (http.client.HTTPException, ConnectionError) as exc:
        return ServiceStatus(
            reachable=False, cause="protocol", detail=f"no HTTP answer ({type(exc).__name__})"
        )
    except OSError as exc:
        return ServiceStatus(reachable=False, cause="refused", detail=exc.strerror or str(exc))
    finally:
        connection.close()
    if accepted_status(response.status, status):
        return ServiceStatus(reachable=True, detail=f"HTTP {response.status}")
    want = " or ".join(str(code) for code in status) if status else "2xx or 3xx"
    text = body[:BODY_PREVIEW].decode("utf-8", "replace")
    preview = " ".join(text.split())
    more = "..." if len(body) > BODY_PREVIEW else ""
    shown = f": {preview!r}{more}" if preview else " (empty body)"
    return ServiceStatus(
        reachable=False,
        cause="status",
        detail=f"HTTP {response.status} {response.reason} (want {want}){shown}",
    )


def probe_command(
    command: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout: float
) -> ServiceStatus:
    """Run a check command once; reachable when it exits 0 within `timeout` seconds.

    It runs in its own session so a timeout kills everything it started, and its output is
    kept only to quote its last line when it fails.
    """
    from devenv.daemons import forget, spawning

    try:
        # Noted as this process's own child: inside `devenv up` it is no orphan to adopt.
        with spawning() as note:
            child = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            note(child.pid)
    except OSError as exc:
        return ServiceStatus(
            reachable=False, cause="failed", detail=f"cannot run {command[0]!r}: {exc.strerror}"
        )
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return ServiceStatus(
            reachable=False, cause="timeout", detail=f"the command ran longer than {timeout:g} s"
        )
    finally:
        forget(child.pid)
    if child.returncode == 0:
        return ServiceStatus(reachable=True)
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    said = f": {lines[-1].strip()[:200]}" if lines else " (no output)"
    return ServiceStatus(reachable=False, cause="failed", detail=f"{exit_status(child.returncode)}{said}")


def _socket_cause(error: BaseException, text: str) -> ServiceStatus:
    if isinstance(error, socket.gaierror):
        return ServiceStatus(reachable=False, cause="dns", detail=error.strerror or str(error))
    if isinstance(error, TimeoutError):
        return ServiceStatus(reachable=False, cause="timeout", detail="connect timed out")
    if isinstance(error, ConnectionRefusedError) or "refused" in text:
        return ServiceStatus(reachable=False, cause="refused")
    return ServiceStatus(reachable=False, cause="refused", detail=_first_line(text))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""
