"""The one RabbitMQ gate of the test suite: a skip locally, a failure under CI.

Like `require_tool` in tests/conftest.py: a developer without a broker still runs the rest,
while CI, which must start RabbitMQ, cannot pass by skipping every test that needs it.
"""

from __future__ import annotations

from tests.support.servers import require_server

__all__ = ["BROKER_ADDRESS", "require_broker"]

#: Where the tests find RabbitMQ (loopback only: tests never send traffic anywhere else).
BROKER_ADDRESS = ("127.0.0.1", 5672)


def require_broker() -> None:
    """Return when RabbitMQ accepts connections; else skip, or fail when CI is set."""
    require_server("RabbitMQ", BROKER_ADDRESS)
