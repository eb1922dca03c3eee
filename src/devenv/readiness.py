"""Readiness probes: one small class per `ready = {...}` kind, each polled by the launcher.

Every poll returns an `Observation`: ready or not, and what the probe saw, so a timeout can
say "consumer_count on 'ops_core' = 0 (want 1)" instead of "not ready". Probes never raise:
a broker hiccup is an observation, not a crash of the launcher.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import socket
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One poll's result: `ready`, and a short description of what was seen."""

    ready: bool
    seen: str


class Probe(Protocol):
    """What the launcher polls until the process is ready."""

    description: str

    def poll(self) -> Observation:
        """Look once; never raise."""
        ...

    def close(self) -> None:
        """Release connections or files held between polls."""
        ...


class AmqpQueueProbe:
    """Ready when a passive declare of `queue` reports at least `consumers` consumers.

    A log line is no proof for Dramatiq: it prints "ready for action" with the broker down
    (worker_fixture §0). One connection per wait and a new channel per poll, because a 404 on
    the passive declare closes the channel (worker_fixture §2).
    """

    def __init__(self, url: str, queue: str, consumers: int, *, timeout: float = 2.0) -> None:
        self.url = url
        self.queue = queue
        self.consumers = consumers
        self.timeout = timeout
        self.description = f"amqp_queue {queue!r} (consumers >= {consumers})"
        self._connection: object | None = None

    def consumer_count(self) -> int | None:
        """The broker's consumer count on the queue; None if it does not exist or is unreachable."""
        count, _ = self._count()
        return count

    def poll(self) -> Observation:
        """Look once at the queue's consumer count."""
        count, seen = self._count()
        if count is None:
            return Observation(ready=False, seen=seen)
        return Observation(ready=count >= self.consumers, seen=seen)

    def close(self) -> None:
        """Close the probe's broker connection."""
        from devenv.services import quiet_pika

        connection, self._connection = self._connection, None
        if connection is not None:
            # It may already be closed by the broker, or its socket gone.
            with quiet_pika(), contextlib.suppress(Exception):
                connection.close()  # type: ignore[attr-defined]

    def _count(self) -> tuple[int | None, str]:
        from pika.adapters.utils.connection_workflow import AMQPConnectorException
        from pika.exceptions import AMQPError, ChannelClosedByBroker

        from devenv.secrets import mask_url
        from devenv.services import classify_amqp_error, open_amqp, quiet_pika

        if self._connection is None:
            try:
                self._connection = open_amqp(self.url, self.timeout)
            except (AMQPError, AMQPConnectorException, OSError, ValueError) as exc:
                if isinstance(exc, ValueError):
                    return None, f"cannot parse the broker URL {mask_url(self.url)}"
                status = classify_amqp_error(exc)
                return None, f"broker {mask_url(self.url)} unreachable ({status.cause}: {status.detail})"
        with quiet_pika():
            try:
                channel = self._connection.channel()  # type: ignore[attr-defined]
                try:
                    frame = channel.queue_declare(queue=self.queue, passive=True)
                finally:
                    if channel.is_open:
                        channel.close()
            except ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return None, f"queue {self.queue!r} does not exist yet (nobody declared it)"
                return None, f"queue {self.queue!r}: broker said {exc.reply_code} {exc.reply_text}"
            except (AMQPError, AMQPConnectorException, OSError) as exc:
                self.close()  # reconnect on the next poll
                return None, f"lost the broker connection ({type(exc).__name__})"
        count = int(frame.method.consumer_count)
        return count, f"consumer_count on {self.queue!r} = {count} (want {self.consumers})"


class LogProbe:
    """Ready when `pattern` matches the process's output, read incrementally from `offset`.

    The whole output is searched with no line window (xprocess#20 bit users with a 50-line
    window); `offset` skips devenv's own header, which quotes the command and could match.
    """

    def __init__(self, path: str, pattern: str, *, offset: int = 0) -> None:
        self.path = path
        # MULTILINE: `^ready$` means a whole line, which is how people read a log.
        self.pattern = re.compile(pattern, re.MULTILINE)
        self.description = f"log /{pattern}/"
        self._offset = offset
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""

    def skip_to(self, offset: int) -> None:
        """Start reading at `offset` (only before the first poll)."""
        self._offset = offset

    def poll(self) -> Observation:
        """Read what was appended since the last poll and search the whole output."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError as exc:
            return Observation(ready=False, seen=f"cannot read {self.path}: {exc.strerror}")
        self._offset += len(chunk)
        self._text += self._decoder.decode(chunk)
        if self.pattern.search(self._text):
            return Observation(ready=True, seen=f"/{self.pattern.pattern}/ matched")
        lines = self._text.count("\n")
        return Observation(
            ready=False,
            seen=f"no match for /{self.pattern.pattern}/ in {lines} line(s) of output",
        )

    def close(self) -> None:
        """Nothing is held open between polls."""


class TcpProbe:
    """Ready when `host:port` accepts a TCP connection."""

    def __init__(self, address: str, *, timeout: float = 0.5) -> None:
        from devenv.services import tcp_address

        self.address = address
        self.description = f"tcp {address}"
        self.timeout = timeout
        self._target = tcp_address(address)

    def poll(self) -> Observation:
        """Try one connection."""
        try:
            with socket.create_connection(self._target, timeout=self.timeout):
                return Observation(ready=True, seen=f"{self.address} accepted a connection")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Observation(ready=False, seen=f"{self.address}: {reason}")

    def close(self) -> None:
        """Nothing is held open between polls."""
