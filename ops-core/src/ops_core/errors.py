"""ops_core's errors; `str(error)` is the whole one-line message and `exit_code` the CLI's code."""

from __future__ import annotations


class OpsCoreError(Exception):
    """Base class: configuration, database or broker trouble (CLI exit code 3)."""

    exit_code = 3


class ConfigError(OpsCoreError):
    """A required variable is missing or malformed (DATABASE_URL, RABBITMQ_URL, OPS_CORE_QUEUE)."""


class StoreError(OpsCoreError):
    """The task database cannot be opened or written."""


class BrokerError(OpsCoreError):
    """The task could not be handed to RabbitMQ."""


class UnknownTaskError(OpsCoreError):
    """No task has the given id (CLI exit code 2)."""

    exit_code = 2
