"""How soon the launcher calls the reference worker ready, and whether stop leaves anything.

Each run starts `[processes.worker]` through `devenv.processes.start`, the call behind the
pytest fixture, on a queue of its own, while a separate thread watches that queue through its
own broker connection (a passive declare every ~5 ms) and notes when a consumer first appears.
The budget: `start` returns within 50 ms of that moment (median), and `stop` leaves no process
carrying the run's DEVENV_RUN_ID. Run it in the canonical environment, from the project root:

    devenv run -- python benchmarks/worker_readiness.py [--runs 10] [--warmup 1] [--root DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

import devenv
from devenv.environment import CanonicalEnv
from devenv.processes import start
from devenv.runs import marked_processes
from devenv.spec import Spec, load_spec

#: The median of (launcher returned ready − consumer registered) may not exceed this.
BUDGET_MS = 50.0
POLL_SECONDS = 0.005
PROCESS = "worker"


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """One start/stop of the worker, in milliseconds from its spawn."""

    registered_ms: float
    ready_ms: float
    stop_ms: float
    left: int

    @property
    def late_ms(self) -> float:
        """How long after the consumer registered the launcher returned ready."""
        # Slightly negative is possible: the watcher polls every 5 ms and shares the GIL with
        # the launcher, so it can see the consumer a few ms after the launcher's own probe did.
        return self.ready_ms - self.registered_ms


class ConsumerWatch(threading.Thread):
    """Poll a queue from a connection of our own; note when consumer_count first reaches 1."""

    def __init__(self, url: str, queue: str) -> None:
        super().__init__(name=f"watch-{queue}", daemon=True)
        self.url = url
        self.queue = queue
        #: time.monotonic() of the reply that first showed a consumer.
        self.registered: float | None = None
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.connected = threading.Event()

    def run(self) -> None:
        """Poll until a consumer shows up or `stopping` is set."""
        import pika
        from pika.exceptions import ChannelClosedByBroker

        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
        except BaseException as exc:
            self.error = exc
            self.connected.set()
            return
        self.connected.set()
        try:
            channel = connection.channel()
            while not self.stopping.is_set():
                try:
                    frame = channel.queue_declare(queue=self.queue, passive=True)
                except ChannelClosedByBroker:
                    # 404 until the worker declares its queue; a 404 closes the channel.
                    channel = connection.channel()
                    count = 0
                else:
                    count = frame.method.consumer_count
                if count >= 1:
                    self.registered = time.monotonic()
                    return
                time.sleep(POLL_SECONDS)
        except BaseException as exc:
            self.error = exc
        finally:
            with contextlib.suppress(Exception):
                connection.close()


def delete_queues(url: str, queue: str) -> None:
    """Delete the run's queue and Dramatiq's delay (.DQ) and dead-letter (.XQ) queues."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel = connection.channel()
            with contextlib.suppress(Exception):
                channel.queue_delete(queue=name)
            with contextlib.suppress(Exception):
                channel.close()
    finally:
        connection.close()


def measure_once(spec: Spec, env: CanonicalEnv, log_dir: str, index: int) -> Run:
    """Start the worker on a fresh queue, time readiness against the broker, stop it, count leftovers."""
    url = env.variables["RABBITMQ_URL"]
    queue = f"devenv_bench_{uuid.uuid4().hex[:12]}"
    watch = ConsumerWatch(url, queue)
    watch.start()
    watch.connected.wait(10)
    if watch.error is not None:
        raise SystemExit(f"cannot watch the broker at RABBITMQ_URL: {watch.error!r}")
    # handle.started_at is time.time() of the spawn; map it onto the monotonic clock.
    wall_minus_mono = time.time() - time.monotonic()
    log_path = os.path.join(log_dir, f"{PROCESS}-{index}.log")
    try:
        handle = start(spec, PROCESS, env, log_path=log_path, overrides={"OPS_CORE_QUEUE": queue})
        returned = time.monotonic()
        try:
            watch.join(5)
        finally:
            began = time.monotonic()
            handle.stop()
            stopped = time.monotonic()
        left = len(marked_processes(handle.run_id))
    finally:
        watch.stopping.set()
        watch.join(5)
        delete_queues(url, queue)
    if watch.registered is None:
        raise SystemExit(f"run {index}: the launcher said ready but no consumer was seen on {queue}")
    spawned = handle.started_at - wall_minus_mono
    return Run(
        registered_ms=(watch.registered - spawned) * 1000,
        ready_ms=(returned - spawned) * 1000,
        stop_ms=(stopped - began) * 1000,
        left=left,
    )


def summary_row(name: str, values: list[float]) -> str:
    """One Markdown row: median, min and max of `values`."""
    return f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"


def main() -> int:
    """Print per-run and summary Markdown tables; exit 1 over budget or if anything was left."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="runs first, not counted (cold imports)")
    parser.add_argument("--root", default=os.getcwd(), help="project with [processes.worker]")
    options = parser.parse_args()
    root = os.path.abspath(options.root)
    env = devenv.load(root)
    spec = load_spec(root)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="devenv-bench-") as log_dir:
        for index in range(options.warmup + options.runs):
            run = measure_once(spec, env, log_dir, index)
            if index >= options.warmup:
                runs.append(run)
    print(
        f"{options.runs} runs of [processes.{PROCESS}] (+{options.warmup} warm-up), "
        f"{os.cpu_count()} cores, broker polled every {POLL_SECONDS * 1000:g} ms\n"
    )
    print("| run | spawn → registered ms | spawn → ready ms | ready − registered ms | stop ms | left |")
    print("|---:|---:|---:|---:|---:|---:|")
    for number, run in enumerate(runs, 1):
        print(
            f"| {number} | {run.registered_ms:.1f} | {run.ready_ms:.1f} | {run.late_ms:.1f} "
            f"| {run.stop_ms:.1f} | {run.left} |"
        )
    late = statistics.median(run.late_ms for run in runs)
    left = sum(run.left for run in runs)
    print("\n| measure | median ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    print(summary_row("spawn → consumer registered", [run.registered_ms for run in runs]))
    print(summary_row("spawn → launcher returned ready", [run.ready_ms for run in runs]))
    print(summary_row("ready − registered (budget ≤ 50)", [run.late_ms for run in runs]))
    print(summary_row("stop", [run.stop_ms for run in runs]))
    within = late <= BUDGET_MS
    print(
        f"\nready − registered: median {late:.1f} ms, budget {BUDGET_MS:g} ms: "
        f"{'ok' if within else 'EXCEEDED'}; processes left after stop: {left} "
        f"({'ok' if left == 0 else 'FAILED'})"
    )
    return 0 if within and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
