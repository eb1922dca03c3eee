"""What one try of each service check and readiness probe costs, against the real servers.

Every check is tried in interleaved rounds (one try of each per round, in turn), so a load
spike on the shared machine hits them all alike; the figure is the median of one try in
milliseconds. Services: RabbitMQ 127.0.0.1:5672 (guest), Redis 127.0.0.1:6379 db 9,
PostgreSQL 127.0.0.1:5432 (needs psycopg: devenv's postgres extra); an HTTP server and a
listening socket are started here, on loopback. Run it in the canonical environment:

    devenv run -- python benchmarks/check_cost.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable

import psutil

from devenv.connect import probe_amqp, probe_command, probe_http, probe_postgres, probe_redis, probe_tcp
from devenv.readiness import HttpProbe, TcpProbe

TIMEOUT = 2.0


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    web_url = f"http://127.0.0.1:{web.server_address[1]}/health"
    # The probes' "launched tree" is this process, which owns the web server's socket.
    me = psutil.Process()
    true = shutil.which("true") or "/bin/true"

    tries: dict[str, Callable[[], bool]] = {
        "service amqp (pika login, vhost /)": lambda: (
            probe_amqp("amqp://guest:guest@127.0.0.1:5672//", TIMEOUT).reachable
        ),
        "service redis (redis-py PING, db 9)": lambda: (
            probe_redis("redis://127.0.0.1:6379/9", TIMEOUT).reachable
        ),
        "service postgres (psycopg connect)": lambda: (
            probe_postgres("postgresql://postgres@127.0.0.1:5432/postgres", TIMEOUT).reachable
        ),
        "service http (GET, 200)": lambda: probe_http(web_url, TIMEOUT).reachable,
        "service command (`true`)": lambda: (
            probe_command([true], env=os.environ, cwd=os.getcwd(), timeout=TIMEOUT).reachable
        ),
        "service tcp (connect)": lambda: probe_tcp("postgres://127.0.0.1/x", TIMEOUT).reachable,
    }
    # Readiness polls: each call is one poll of a probe built once, as the launcher does.
    tcp_probe = TcpProbe(f"127.0.0.1:{web.server_address[1]}", owners=lambda: [me])
    http_probe = HttpProbe(web_url, owners=lambda: [me])
    tries["ready tcp (listening socket of the tree)"] = lambda: tcp_probe.poll().ready
    tries["ready http (tree listens + GET)"] = lambda: http_probe.poll().ready

    times: dict[str, list[float]] = {name: [] for name in tries}
    for name, attempt in tries.items():  # one warm-up try each: imports, first connections
        if not attempt():
            print(f"{name}: the service is not there; start it first", file=sys.stderr)
            return 1
    for _ in range(args.rounds):
        for name, attempt in tries.items():
            began = time.perf_counter()
            attempt()
            times[name].append((time.perf_counter() - began) * 1000)
    load = os.getloadavg()
    print(
        f"median of {args.rounds} interleaved tries, ms "
        f"(load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    width = max(map(len, times))
    for name, values in times.items():
        print(
            f"{name.ljust(width)}  {statistics.median(values):7.2f}  "
            f"(p90 {sorted(values)[int(len(values) * 0.9)]:.2f})"
        )
    web.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
