"""The one error hierarchy: every failure a user can cause, each with its exit code.

`str(error)` is the whole user-facing message: what failed, where (file:line or table.key)
and what to do next. `cli.main` is the only place that prints it (as `devenv: error: ...`).

Code that acts on an error (doctor's fixes, drift's "the process has gone") reads its
structured fields (`place`, `keys`, `cause`), set where it is raised, never its wording:
a message can then be reworded without changing what a program does with it.
"""

#: The exit codes devenv gives of its own (a launched command's code is passed through);
#: each DevenvError subclass carries its own (`exit_code`, 2 unless it says otherwise).
EXIT_PROBLEMS = 1  # a check found problems (doctor, lock --check, diff); the instance is taken
EXIT_USAGE = 2  # bad usage, spec or input
EXIT_TIMEOUT = 124  # a task did not finish, or a process was not ready, within its timeout (as timeout(1))
EXIT_CANNOT_RUN = 126  # the command exists but cannot be executed (as the shells)
EXIT_NOT_FOUND = 127  # the command does not exist (as the shells)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as the shells)

#: How many characters of a refused key, line or reference a message may show: enough to
#: find it, too few to give away a secret pasted in the wrong place.
PREVIEW_LENGTH = 4


def preview(text: str) -> str:
    """`text` quoted for a message, cut to its first few characters (it may be a secret)."""
    return repr(text) if len(text) <= PREVIEW_LENGTH else repr(text[:PREVIEW_LENGTH]) + "..."


class Place:
    """Where the user wrote what failed: a file, and the line or the table.key in it.

    A plain class, not a dataclass: this module is on the `print-env` / `run` path and
    `dataclasses` costs more to import than the whole of that path.
    """

    __slots__ = ("item", "line", "path")

    def __init__(self, path: str, line: int | None = None, item: str = "") -> None:
        self.path = path
        self.line = line
        #: The table.key or option inside `path` (`[vars].KEY`), when there is no line.
        self.item = item

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Place):
            return NotImplemented
        return (self.path, self.line, self.item) == (other.path, other.line, other.item)

    def __hash__(self) -> int:
        return hash((self.path, self.line, self.item))

    def __repr__(self) -> str:
        return f"Place({self.path!r}, {self.line!r}, {self.item!r})"

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        return f"{self.path} {self.item}" if self.item else self.path


#: `DevenvError.cause` values that code acts on. Required keys are unset or empty
#: (`keys` names them; `place` is envspec.toml [dotenv].required).
REQUIRED_MISSING = "required-missing"
#: The process whose environment was asked for does not exist (any more).
PROCESS_GONE = "process-gone"
#: An input that must be a file is a folder (`place` names it).
NOT_A_FILE = "not-a-file"
#: --profile / DEVENV_PROFILE names no [profiles.NAME] (`place` is envspec.toml [profiles]).
UNKNOWN_PROFILE = "unknown-profile"


class DevenvError(Exception):
    """Base class; `exit_code` is what `devenv` exits with.

    `place` is where the cause was written (the file to edit), `keys` the variables it is
    about, `cause` a short stable name for the kind of failure, for code that must tell
    kinds apart (e.g. `"required-missing"`); all three are optional.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, *, place: Place | None = None, keys: tuple[str, ...] = (), cause: str = ""
    ) -> None:
        super().__init__(message)
        self.place = place
        self.keys = keys
        self.cause = cause


class SpecError(DevenvError):
    """envspec.toml is missing, unparseable or invalid."""


class DotenvError(DevenvError):
    """A dotenv file cannot be read or has a line devenv will not guess about."""


class ResolveError(DevenvError):
    """Variables cannot be resolved: undefined references, managed keys, missing required keys."""


class RenderError(DevenvError):
    """A value cannot be carried by the requested output format."""


class StaleError(DevenvError):
    """`.devenv/` is missing or out of date and cannot (or, with --frozen, may not) be refreshed."""


class StateError(DevenvError):
    """`.devenv/` cannot be used safely: a symlink, not a folder, or not readable/writable."""


class SyncError(DevenvError):
    """Creating the virtual environment or installing packages failed."""


class LockError(DevenvError):
    """pylock.toml is missing, stale, for another platform, or cannot be made."""


class UsageError(DevenvError):
    """The command line itself is wrong."""


class OutputError(DevenvError):
    """devenv's output cannot be written: stdout is a full disk (`> /dev/full`) or a file
    that refuses it. Exit 2, not 1: 1 says that a check found problems."""


class CommandNotFoundError(DevenvError):
    """`devenv run` was asked to run a command that does not exist (exit 127, like the shells)."""

    exit_code = EXIT_NOT_FOUND


class ServiceError(DevenvError):
    """A declared service is unreachable or could not be started."""


class AlreadyRunningError(DevenvError):
    """`devenv up` of an instance another `devenv up` already runs."""

    exit_code = EXIT_PROBLEMS


class ProcessError(DevenvError):
    """A declared process failed to start, died, or did not become ready."""
