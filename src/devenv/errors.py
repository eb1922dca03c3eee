"""The one error hierarchy: every failure a user can cause, each with its exit code.

`str(error)` is the whole user-facing message: what failed, where (file:line or table.key)
and what to do next. `cli.main` is the only place that prints it (as `devenv: error: ...`).
"""

#: How many characters of a refused key, line or reference a message may show: enough to
#: find it, too few to give away a secret pasted in the wrong place.
PREVIEW_LENGTH = 4


def preview(text: str) -> str:
    """`text` quoted for a message, cut to its first few characters (it may be a secret)."""
    return repr(text) if len(text) <= PREVIEW_LENGTH else repr(text[:PREVIEW_LENGTH]) + "..."


class DevenvError(Exception):
    """Base class; `exit_code` is what `devenv` exits with."""

    exit_code = 2


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


class CommandNotFoundError(DevenvError):
    """`devenv run` was asked to run a command that does not exist (exit 127, like the shells)."""

    exit_code = 127


class ServiceError(DevenvError):
    """A declared service is unreachable or could not be started."""


class ProcessError(DevenvError):
    """A declared process failed to start, died, or did not become ready."""


class CheckFailed(DevenvError):
    """A check command (doctor, diff) found problems; exit 1 as documented."""

    exit_code = 1
