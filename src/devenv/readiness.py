"""Readiness probes: one small class per `ready = {...}` kind, each polled by the launcher.

Every poll returns an `Observation`: ready or not, and what the probe saw, so a timeout can
say "consumer_count on 'ops_core' = 0 (want 1)" instead of "not ready". Polls never raise:
a broker hiccup is an observation, not a crash of the launcher. Before the launch the launcher
calls `prepare()` once, where a probe that could be fooled (a port another program already
holds, consumers already on the queue) refuses or returns a note for the user.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from devenv.errors import ProcessError
from devenv.records import dataclass

if TYPE_CHECKING:
    import psutil

#: How long a probe waits for its broker connection to close before leaving it to a daemon thread.
CLOSE_TIMEOUT = 2.0

#: The launched process tree, asked at each poll (the main process and its descendants).
Owners = Callable[[], "list[psutil.Process]"]

#: Hides secrets in what a probe quotes (a response body, a command's output).
Mask = Callable[[str], str]

#: A check command is run again at most this long after its last try ended: a fast-failing
#: `pg_isready` polled every 25 ms would be 40 processes a second.
COMMAND_INTERVAL = 0.25


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One poll's result: `ready`, and a short description of what was seen."""

    ready: bool
    seen: str


class Probe(Protocol):
    """What the launcher polls until the process is ready."""

    description: str

    def prepare(self, name: str) -> str | None:
        """Look once before process `name` is launched: raise ProcessError when the probe
        would be fooled, return a note for the user (or None)."""
        ...

    def poll(self) -> Observation:
        """Look once; never raise."""
        ...

    def close(self) -> None:
        """Release connections or files held between polls."""
        ...


class AmqpQueueProbe:
    """Ready when `consumers` consumers appeared on `queue` since the launch, and the launched
    tree holds at least that many connections to the broker.

    A log line is no proof for Dramatiq: it prints "ready for action" with the broker down.
    A count alone is no proof either: a consumer another run starts at the same moment would
    count as ours. So consumers already there at launch (the baseline) are not counted, and
    the new ones are counted only as far as the launched tree is connected to the broker.
    One connection per wait and a new channel per poll, because a 404 on the passive
    declare closes the channel.
    """

    def __init__(
        self, url: str, queue: str, consumers: int, *, owners: Owners | None = None, timeout: float = 2.0
    ) -> None:
        self.url = url
        self.queue = queue
        self.consumers = consumers
        self.timeout = timeout
        self.description = f"amqp_queue {queue!r} (consumers >= {consumers})"
        #: Consumers on the queue before the launch: stale, reported, never counted.
        self.baseline = 0
        self._owners = owners
        self._connection: object | None = None

    def take_baseline(self) -> int:
        """Count the consumers already on the queue (before the launch); they are not ours."""
        self.baseline = self.consumer_count() or 0
        return self.baseline

    def prepare(self, name: str) -> str | None:
        """Note consumers already on the queue: they are not counted, and they are reported."""
        baseline = self.take_baseline()
        if not baseline:
            return None
        # Orphaned workers keep consuming and steal the messages a test waits for.
        return (
            f"{baseline} consumer(s) were already on queue {self.queue!r} before {name} started "
            "(an orphaned worker, another `devenv up` or another test session); they will take "
            f"messages meant for {name}; only consumers that appear after the start are counted"
        )

    def consumer_count(self) -> int | None:
        """The broker's consumer count on the queue; None if it does not exist or is unreachable."""
        count, _ = self._count()
        return count

    def poll(self) -> Observation:
        """Look once at the queue's consumer count and the launched tree's broker connections."""
        count, seen = self._count()
        if count is None:
            return Observation(ready=False, seen=seen)
        # A stale consumer that went away (a stopped worker the broker had not yet dropped)
        # no longer needs to be discounted.
        self.baseline = min(self.baseline, count)
        new = count - self.baseline
        stale = f", {self.baseline} already there before the launch" if self.baseline else ""
        if new < self.consumers or self._owners is None:
            return Observation(ready=new >= self.consumers, seen=seen + stale)
        connected = self._tree_connections()
        return Observation(
            ready=min(new, connected) >= self.consumers,
            seen=f"{seen}{stale}; the launched processes hold {connected} broker connection(s)",
        )

    def _tree_connections(self) -> int:
        """Established TCP connections from the launched tree to the broker's port."""
        import psutil
        from pika import URLParameters

        try:
            port = URLParameters(self.url).port
        except ValueError:
            return 0
        count = 0
        for proc in self._owners() if self._owners else []:
            with contextlib.suppress(psutil.Error):
                count += sum(
                    1
                    for c in proc.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port
                )
        return count

    def close(self) -> None:
        """Close the probe's broker connection."""
        from devenv.connect import quiet_pika

        connection, self._connection = self._connection, None
        if connection is None:
            return

        def close() -> None:
            # It may already be closed by the broker, or its socket gone.
            with quiet_pika(), contextlib.suppress(Exception):
                connection.close()  # type: ignore[attr-defined]

        # pika's close waits for the broker's reply without a deadline; after a Ctrl-C that
        # landed inside a poll, the connection may never see it, and a launcher that is
        # stopping must not hang on a probe. A daemon thread does not keep the process alive.
        closer = threading.Thread(target=close, name="devenv-probe-close", daemon=True)
        closer.start()
        closer.join(timeout=CLOSE_TIMEOUT)

    def _count(self) -> tuple[int | None, str]:
        from pika.adapters.utils.connection_workflow import AMQPConnectorException
        from pika.exceptions import AMQPError, ChannelClosedByBroker

        from devenv.connect import classify_amqp_error, open_amqp, quiet_pika
        from devenv.masking import mask_url

        if self._connection is None:
            try:
                self._connection = open_amqp(self.url, self.timeout)
            except (AMQPError, AMQPConnectorException, OSError, ValueError) as exc:
                if isinstance(exc, ValueError):
                    return None, f"cannot parse the broker URL {mask_url(self.url)}"
                status = classify_amqp_error(exc, self.url)
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
        want = self.consumers + self.baseline
        return count, f"consumer_count on {self.queue!r} = {count} (want {want})"


class LogProbe:
    """Ready when `pattern` matches the process's output, read incrementally from `offset`.

    The whole output is searched with no line window (xprocess#20 bit users with a 50-line
    window); `offset` skips devenv's own header, which quotes the command and could match.
    It may be a function, asked at the first poll: the launcher knows where the output starts
    only after it wrote the notes `prepare()` returned.
    """

    def __init__(self, path: str, pattern: str, *, offset: int | Callable[[], int] = 0) -> None:
        self.path = path
        # MULTILINE: `^ready$` means a whole line, which is how people read a log.
        self.pattern = re.compile(pattern, re.MULTILINE)
        self.description = f"log /{pattern}/"
        self._start = offset
        self._offset: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""

    def prepare(self, name: str) -> str | None:
        """A log line cannot be taken over by another program: nothing to look at first."""
        return None

    def poll(self) -> Observation:
        """Read what was appended since the last poll and search the whole output."""
        if self._offset is None:
            self._offset = self._start() if callable(self._start) else self._start
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
    """Ready when a process of the launched tree listens on `host:port`.

    A connection alone is no proof: a program that already holds the port accepts it, while
    the launched server dies with "Address already in use".
    """

    def __init__(self, address: str, *, owners: Owners | None = None, timeout: float = 0.5) -> None:
        from devenv.connect import tcp_address

        self.address = address
        self.description = f"tcp {address} (listened on by the launched process)"
        self.timeout = timeout
        self._target = tcp_address(address)
        self._owners = owners

    def holder(self) -> str | None:
        """Who already accepts connections on the address (before the launch), or None."""
        try:
            with socket.create_connection(self._target, timeout=self.timeout):
                pass
        except OSError:
            return None
        return describe_listener(self._target[1])

    def prepare(self, name: str) -> str | None:
        """Refuse at once when another program already accepts connections on the address."""
        holder = self.holder()
        if holder is not None:
            raise ProcessError(
                f"process {name!r}: {self.address} is already in use by {holder}, "
                f"so {name} could not listen there and the probe would talk to that "
                f"program instead; stop it, or change [processes.{name}].ready and the "
                "address the process listens on"
            )
        return None

    def poll(self) -> Observation:
        """Look once for a listening socket of the launched tree on the port."""
        import psutil

        port = self._target[1]
        for proc in self._owners() if self._owners else []:
            with contextlib.suppress(psutil.Error):
                for conn in proc.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                        return Observation(ready=True, seen=f"pid {proc.pid} listens on {self.address}")
        if self._owners is None:
            try:
                with socket.create_connection(self._target, timeout=self.timeout):
                    return Observation(ready=True, seen=f"{self.address} accepted a connection")
            except OSError as exc:
                return Observation(ready=False, seen=f"{self.address}: {exc.strerror or type(exc).__name__}")
        return Observation(ready=False, seen=f"no launched process listens on port {port} yet")

    def close(self) -> None:
        """Nothing is held open between polls."""


class HttpProbe:
    """Ready when `url` answers with an accepted status (any 2xx/3xx, or one of `status`) and
    a process of the launched tree listens on its port.

    As with `tcp`, an answer alone is no proof: a server another program already runs on the
    port answers 200 while the launched one dies with "Address already in use". On a refused
    status the observation says what came back (status line, first bytes of the body, masked).
    """

    def __init__(
        self,
        url: str,
        *,
        status: Sequence[int] = (),
        owners: Owners | None = None,
        mask: Mask | None = None,
        timeout: float = 2.0,
    ) -> None:
        from devenv.connect import tcp_address
        from devenv.masking import mask_url

        self.url = url
        self.status = tuple(status)
        want = " or ".join(str(code) for code in self.status) if self.status else "2xx/3xx"
        self.description = f"http {mask_url(url)} ({want} from the launched process)"
        self.timeout = timeout
        host, port = tcp_address(url)
        self._listener = TcpProbe(f"[{host}]:{port}" if ":" in host else f"{host}:{port}", owners=owners)
        self._mask = mask or (lambda text: text)

    def prepare(self, name: str) -> str | None:
        """Refuse at once when another program already serves the port."""
        return self._listener.prepare(name)

    def poll(self) -> Observation:
        """Look once: the launched tree listens on the port, then one GET of the URL."""
        from devenv.connect import probe_http
        from devenv.masking import mask_url

        listening = self._listener.poll()
        if not listening.ready:
            return listening
        answer = probe_http(self.url, self.timeout, self.status)
        if answer.reachable:
            return Observation(ready=True, seen=f"{mask_url(self.url)} answered {answer.detail}")
        return Observation(
            ready=False, seen=f"{mask_url(self.url)}: {self._mask(answer.detail or str(answer.cause))}"
        )

    def close(self) -> None:
        """Nothing is held open between polls."""


class CommandProbe:
    """Ready when `command` exits 0, run in the process's own environment and folder, each
    try limited to `timeout` seconds; the escape hatch for everything else (`pg_isready`,
    `celery -A proj inspect ping`, `manage.py check --database default`)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        timeout: float,
        mask: Mask | None = None,
    ) -> None:
        import shlex

        self.command = list(command)
        self.env = env
        self.cwd = cwd
        self.timeout = timeout
        self._mask = mask or (lambda text: text)
        self.description = f"command {self._mask(shlex.join(self.command))} (exit 0)"
        self._last: Observation | None = None
        self._tried = 0.0

    def prepare(self, name: str) -> str | None:
        """A command's exit code belongs to it alone: nothing to look at first."""
        return None

    def poll(self) -> Observation:
        """Run the command once (at most every COMMAND_INTERVAL seconds)."""
        from devenv.connect import probe_command

        if self._last is not None and time.monotonic() - self._tried < COMMAND_INTERVAL:
            return self._last
        result = probe_command(self.command, env=self.env, cwd=self.cwd, timeout=self.timeout)
        # Counted from the end of the try: a slow command is not run back to back either.
        self._tried = time.monotonic()
        seen = "the command exited 0" if result.reachable else self._mask(result.detail)
        self._last = Observation(ready=result.reachable, seen=seen)
        return self._last

    def close(self) -> None:
        """Nothing is held open between polls."""


def describe_listener(port: int) -> str:
    """'pid N (command)' of the process listening on `port`, as far as we may see it."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        connections = []
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                break
            try:
                command = " ".join(psutil.Process(conn.pid).cmdline())[:200]
            except psutil.Error:
                command = "?"
            return f"pid {conn.pid} ({command})"
    return f"another program (a process of another user, not visible to user {os.getuid()})"
