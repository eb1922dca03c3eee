"""The task table in SQLite: one short transaction per call, safe for several worker processes."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast

from ops_core import config
from ops_core.errors import StoreError, UnknownTaskError

TaskStatus = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED"]
FINAL_STATUSES: frozenset[TaskStatus] = frozenset({"COMPLETED", "FAILED"})

# How long a writer waits for another process's transaction before giving up. Transactions
# here last milliseconds, so hitting this means something is holding the database open.
BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id         TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    prompt     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
    result     TEXT,
    error      TEXT,
    runs       INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""
_COLUMNS = "id, provider, prompt, status, result, error, runs, created_at, updated_at"


@dataclass(frozen=True, kw_only=True, slots=True)
class Task:
    """One row of the task table."""

    id: str
    provider: str
    prompt: str
    status: TaskStatus
    result: str | None
    error: str | None
    runs: int
    created_at: datetime
    updated_at: datetime

    @property
    def finished(self) -> bool:
        """True once the task is COMPLETED or FAILED; neither ever changes again."""
        return self.status in FINAL_STATUSES


class TaskStore:
    """Create, read and update tasks in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        """Open (creating if needed) the database at `path` and its parent folder."""
        # Absolute from here on: messages then name the file whatever the cwd (a relative
        # DATABASE_URL read from another directory is a classic cause of "task not found").
        self.path = Path(path).absolute()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._create()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open task database {self.path}: {exc}") from None

    def _create(self) -> None:
        """Set WAL mode and the schema, retrying while another process creates the same file."""
        # SQLite does not call the busy handler when two connections switch a fresh file to
        # WAL at the same moment: one gets "database is locked" at once, whatever the
        # timeout. So retry that case here, within the same busy timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                with self._connect() as conn:
                    # WAL lets the CLI read while a worker writes; the mode is stored in the
                    # file, so setting it on every open is a no-op after the first.
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TaskStore:
        """Open the store named by DATABASE_URL in `environ`."""
        return cls(config.database_path(environ))

    def create(self, *, prompt: str, provider: str) -> Task:
        """Insert a PENDING task and return it."""
        now = _now()
        task_id = uuid.uuid4().hex
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, 'PENDING', NULL, NULL, 0, ?, ?)",
                (task_id, provider, prompt, now, now),
            )
        return self.get(task_id)

    def get(self, task_id: str) -> Task:
        """Return the task with `task_id` or raise `UnknownTaskError`."""
        with self._read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise UnknownTaskError(f"no task {task_id!r} in {self.path}")
        return _task(row)

    def list(self, limit: int | None = None) -> list[Task]:
        """Return tasks, newest first, at most `limit` of them."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [_task(row) for row in rows]

    def start_run(self, task_id: str) -> Task:
        """Count one more run and mark the task RUNNING unless it has already finished."""
        # One statement, so concurrent runs never lose an increment. A finished task keeps
        # its status: the caller sees that and does not run it again.
        with self._write() as conn:
            row = conn.execute(
                "UPDATE tasks SET runs = runs + 1, updated_at = ?, status = CASE "
                "WHEN status IN ('COMPLETED', 'FAILED') THEN status ELSE 'RUNNING' END "
                f"WHERE id = ? RETURNING {_COLUMNS}",
                (_now(), task_id),
            ).fetchone()
        if row is None:
            raise UnknownTaskError(f"no task {task_id!r} in {self.path}")
        return _task(row)

    def complete(self, task_id: str, result: str) -> Task:
        """Mark the task COMPLETED with `result`."""
        return self._finish(task_id, "COMPLETED", result=result, error=None)

    def fail(self, task_id: str, error: str) -> Task:
        """Mark the task FAILED with `error`, the reason a user reads."""
        return self._finish(task_id, "FAILED", result=None, error=error)

    def _finish(self, task_id: str, status: TaskStatus, *, result: str | None, error: str | None) -> Task:
        with self._write() as conn:
            row = conn.execute(
                "UPDATE tasks SET status = ?, result = ?, error = ?, updated_at = ? "
                f"WHERE id = ? RETURNING {_COLUMNS}",
                (status, result, error, _now(), task_id),
            ).fetchone()
        if row is None:
            raise UnknownTaskError(f"no task {task_id!r} in {self.path}")
        return _task(row)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; _write opens them explicitly.
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open task database {self.path}: {exc}") from None
        try:
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"task database {self.path}: {exc}") from None
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as conn:
            # IMMEDIATE takes the write lock up front, so the busy timeout applies here rather
            # than failing on a lock upgrade halfway through the transaction.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _now() -> str:
    # ISO 8601 in UTC with microseconds sorts as text in creation order.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _task(row: tuple[object, ...]) -> Task:
    task_id, provider, prompt, status, result, error, runs, created_at, updated_at = row
    return Task(
        id=str(task_id),
        provider=str(provider),
        prompt=str(prompt),
        status=cast(TaskStatus, status),
        result=None if result is None else str(result),
        error=None if error is None else str(error),
        runs=int(cast(int, runs)),
        created_at=datetime.fromisoformat(str(created_at)),
        updated_at=datetime.fromisoformat(str(updated_at)),
    )
