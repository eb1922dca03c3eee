"""The `python -m ops_core` command line: submit a task, show one task's status, list tasks."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from agentkit import DEFAULT_PROVIDER, PROVIDERS, AgentError
from ops_core.errors import OpsCoreError
from ops_core.store import Task, TaskStore

PROG = "python -m ops_core"

# Exit codes of `status`, so scripts can wait on a task: `status ID --wait 60 && ...`.
EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_NOT_FINISHED = 2  # also: unknown task id

# How often `status --wait` re-reads the row; one indexed SELECT, so polling is cheap.
POLL_INTERVAL_SECONDS = 0.1

_EPILOG = """\
environment:
  DATABASE_URL    task database, sqlite:///relative/path.db or sqlite:////abs/path.db
  RABBITMQ_URL    broker for `submit`, e.g. amqp://guest:guest@127.0.0.1:5672/%2F
  OPS_CORE_QUEUE  queue the worker consumes (default: ops_core)
  LLM_API_KEY     needed by the llm provider (read by the worker, not here)

exit codes: 0 ok / COMPLETED, 1 FAILED, 2 unknown task, still running or bad usage,
            3 configuration, database or broker error
"""


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Submit agent tasks to the ops_core worker and inspect them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser(
        "submit",
        help="store a task, enqueue it and print its id",
        description=("Store a PENDING task, enqueue it for the worker and print its id on stdout."),
    )
    submit.add_argument(
        "--provider",
        choices=sorted(PROVIDERS),
        default=DEFAULT_PROVIDER,
        help=f"agent provider (default: {DEFAULT_PROVIDER}; echo needs no key)",
    )
    submit.add_argument("prompt", metavar="PROMPT", help="what to ask the agent")

    status = commands.add_parser(
        "status",
        help="print a task's status and its result or error",
        description=(
            "Print the task's status on the first line, then its result (COMPLETED) or error "
            "(FAILED). Exit 0 for COMPLETED, 1 for FAILED, 2 for an unknown id or a task "
            "that has not finished (by the --wait deadline)."
        ),
    )
    status.add_argument("task_id", metavar="TASK_ID")
    status.add_argument(
        "--wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="poll until the task finishes or SECONDS pass (default: do not wait)",
    )

    listing = commands.add_parser(
        "list", help="list tasks, newest first", description="List tasks, newest first."
    )
    listing.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show at most N tasks (default: 20)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "submit":
            return _submit(args.prompt, args.provider)
        if args.command == "status":
            return _status(args.task_id, args.wait)
        return _list(args.limit)
    except (OpsCoreError, AgentError) as exc:
        code = exc.exit_code if isinstance(exc, OpsCoreError) else EXIT_NOT_FINISHED
        _error(str(exc))
        return code
    except KeyboardInterrupt:
        return 130


def _submit(prompt: str, provider: str) -> int:
    from ops_core import submit

    task_id = submit(prompt, provider=provider)
    print(task_id)
    return 0


def _status(task_id: str, wait: float) -> int:
    store = TaskStore.from_environ(os.environ)
    deadline = time.monotonic() + wait
    task = store.get(task_id)
    while not task.finished and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_SECONDS)
        task = store.get(task_id)
    print(task.status)
    if task.status == "COMPLETED":
        print(task.result)
        return EXIT_COMPLETED
    if task.status == "FAILED":
        print(task.error)
        return EXIT_FAILED
    if wait > 0:
        _error(
            f"task {task_id} is still {task.status} after {wait:g} s: "
            "is a worker running and consuming the same queue and DATABASE_URL?"
        )
    return EXIT_NOT_FINISHED


def _list(limit: int) -> int:
    store = TaskStore.from_environ(os.environ)
    for task in store.list(limit=limit):
        print(_row(task))
    return 0


def _row(task: Task) -> str:
    prompt = " ".join(task.prompt.split())
    if len(prompt) > 50:
        prompt = prompt[:47] + "..."
    created = task.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return f"{task.id}  {task.status:<9}  {task.provider:<5}  runs={task.runs}  {created}  {prompt}"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _error(message: str) -> None:
    # One line on stderr, whatever the exception text held.
    print(f"ops_core: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
