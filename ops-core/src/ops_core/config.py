"""Read ops_core's settings from an environment mapping; never reads `.env` files itself."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from ops_core.errors import ConfigError

DEFAULT_QUEUE = "ops_core"

# Dramatiq's own rule for queue names (dramatiq.actor's _queue_name_re); checked here so a bad
# OPS_CORE_QUEUE is a one-line config error instead of a ValueError deep inside actor creation.
_QUEUE_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")

_HOW_TO_FIX = "run through devenv (`devenv run -- ...`, `devenv up worker`) or set it in .env"


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. a non-numeric port: still never echo what might be a secret
        return "<unparseable URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def required(environ: Mapping[str, str], name: str) -> str:
    """Return the non-empty value of `name` or fail saying how to provide it."""
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {_HOW_TO_FIX}")
    return value


def database_path(environ: Mapping[str, str]) -> Path:
    """Turn DATABASE_URL (`sqlite:///relative` or `sqlite:////absolute`) into a file path."""
    return sqlite_path(required(environ, "DATABASE_URL"))


def sqlite_path(url: str) -> Path:
    """Parse a `sqlite:///path` URL; a relative path is relative to the working directory."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        raise ConfigError(
            f"unsupported DATABASE_URL {mask_url(url)!r}: ops_core stores tasks in SQLite, "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    # `sqlite:///x` leaves "/x" here: the first slash ends the (empty) host part.
    if not rest.startswith("/") or len(rest) == 1:
        raise ConfigError(
            f"DATABASE_URL {mask_url(url)!r} has no file path: "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = rest[1:]
    if path == ":memory:":
        # Each process would get its own empty database: the worker would never see a task.
        raise ConfigError(
            "DATABASE_URL 'sqlite:///:memory:' cannot be shared between the submitter and "
            "the worker: use a file, e.g. sqlite:///.devenv/tasks.db"
        )
    return Path(urllib.parse.unquote(path))


def rabbitmq_url(environ: Mapping[str, str]) -> str:
    """Return RABBITMQ_URL, which the worker and `submit` need."""
    return required(environ, "RABBITMQ_URL")


def queue_name(environ: Mapping[str, str]) -> str:
    """Return OPS_CORE_QUEUE (default `ops_core`), the queue the actor consumes."""
    name = environ.get("OPS_CORE_QUEUE", "").strip() or DEFAULT_QUEUE
    if not _QUEUE_NAME.fullmatch(name):
        raise ConfigError(
            f"OPS_CORE_QUEUE {name!r} is not a valid queue name: "
            "use letters, digits, '.', '_' or '-', not starting with a digit"
        )
    return name
