"""`.devenv/env.nul`: the resolved environment in a form `print-env` and `run` read cheaply.

`print-env` and `run` must cost about as much as a bare interpreter start (at most 1.1 and
1.05 times `python -c pass`, measured by benchmarks/cli_startup.py), so this module imports only `os`:
the file is NUL-separated fields (values cannot contain NUL), and freshness is one `stat`
per input plus a lookup per inherited key, never a hash.
"""

import os

from devenv.binding import FIELDS, binding_fields, bound_here, foreign_owner
from devenv.environment import CanonicalEnv
from devenv.layout import SNAPSHOT, SYNC_INCOMPLETE, state_dir, state_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


MAGIC = "devenv-snapshot"
#: 3: DEVENV_INSTANCE defaults to the checkout's own (environment.default_instance); a
#: version-2 file still says `main`, and reading it as stale resolves it again.
#: 4: carries TEXT_FORMAT's text; a version-3 file is resolved again once to get it.
VERSION = "4"
ABSENT = "-"
#: Written instead of size and mtime when an input changed too recently for them to be trusted
#: (a second write in the same clock tick keeps both); such a snapshot is never fresh.
RACY = "racy"
#: Size and mtime of an input that exists but cannot be stat-ed (a folder on its way this
#: user may not search): never fresh.
UNREADABLE = "?"
#: The format whose text env.nul carries (print-env's default): a fresh print-env prints it
#: without importing a renderer, a quarter of its cost beyond T0 (docs/architecture.md,
#: "Start-up budget"). Kept with the stat of the renderer's files, relative to the devenv
#: package, so that another or an edited renderer renders again.
TEXT_FORMAT = "sh"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


class Snapshot:
    """A read snapshot: the environment plus what it was resolved from."""

    __slots__ = ("env", "inherited", "inputs", "text", "text_sources")

    def __init__(
        self,
        env: CanonicalEnv,
        inputs: list[tuple[str, str, str]],
        inherited: list[tuple[str, str | None]],
        text: str | None = None,
        text_sources: "list[tuple[str, str, str]] | None" = None,
    ) -> None:
        self.env = env
        self.inputs = inputs
        self.inherited = inherited
        self.text = text
        self.text_sources = text_sources or []

    def text_of(self, fmt: str) -> str | None:
        """What `render(fmt, env)` gives, as written with the snapshot, while the renderer's
        files are the ones that wrote it; None for another format or another renderer."""
        if fmt != TEXT_FORMAT or self.text is None:
            return None
        for relative, size, mtime in self.text_sources:
            if stat_fields(os.path.join(_PACKAGE, relative)) != (size, mtime):
                return None
        return self.text

    def is_fresh(self, outer: "Mapping[str, str]") -> bool:
        """True when every input still has its recorded size and mtime and every inherited
        key still has the recorded value in `outer`."""
        for path, size, mtime in self.inputs:
            current = stat_fields(path)
            if current != (size, mtime) or current[0] == UNREADABLE:
                return False
        return all(outer.get(key) == value for key, value in self.inherited)


def check_sync_finished(root: str) -> None:
    """Refuse to launch from a half-synced venv (one stat: this is on the print-env path)."""
    if os.path.exists(state_path(root, SYNC_INCOMPLETE)):
        from devenv.errors import StaleError

        raise StaleError("the last sync did not finish; run devenv sync")


def stat_fields(path: str) -> tuple[str, str]:
    """(size, mtime_ns) of `path` as env.nul and sync.nul record an input and doctor compares
    it: ABSENT for both when it does not exist, UNREADABLE when it cannot be stat-ed (which
    is never fresh)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (ABSENT, ABSENT)
    except OSError:
        return (UNREADABLE, UNREADABLE)
    return (str(info.st_size), str(info.st_mtime_ns))


def stat_record(path: str) -> tuple[str, str, str]:
    """(path, size, mtime_ns): one input of env.nul (`stat_fields`)."""
    return (path, *stat_fields(path))


def read_snapshot(root: str) -> "Snapshot | None":
    """The snapshot of `root`, or None when there is none or it is unreadable."""
    folder = state_dir(root)
    if os.path.islink(folder):
        return None  # refused: the slow path explains why (store.ensure_state_dir)
    try:
        # O_NOFOLLOW: a linked env.nul is no snapshot of ours.
        descriptor = os.open(os.path.join(folder, SNAPSHOT), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if foreign_owner(info):
            return None  # another user's: never trusted (the slow path refuses it)
        # os.read, not open(): no buffered text reader to build on the print-env path, and
        # no newline translation (a value may hold a CR). Read to the end of the file.
        chunks = [os.read(descriptor, info.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(descriptor, 65536))
    except OSError:
        return None
    finally:
        os.close(descriptor)
    fields = b"".join(chunks).decode("utf-8", "surrogateescape").split("\0")
    if len(fields) < 4 + FIELDS or fields[0] != MAGIC or fields[1] != VERSION or fields[-1] != "end":
        return None  # an older format, or a partial file from a crashed writer
    if not bound_here(fields[2 : 2 + FIELDS], root):
        return None  # written for another checkout (a copy, a clone of a committed .devenv/)
    fingerprint = fields[2 + FIELDS]
    variables: dict[str, str] = {}
    prefix: list[str] = []
    unset: list[str] = []
    secret: list[str] = []
    passed: list[str] = []
    inputs: list[tuple[str, str, str]] = []
    inherited: list[tuple[str, str | None]] = []
    text: str | None = None
    text_sources: list[tuple[str, str, str]] = []
    index = 3 + FIELDS
    end = len(fields) - 1
    try:
        while index < end:
            tag = fields[index]
            if tag == "V":
                rest = fields[index:end:3]
                if (end - index) % 3 == 0 and rest.count("V") == len(rest):
                    # Only variables from here on (encode_snapshot writes them last): all of
                    # them at once, not 10 000 turns of this loop.
                    variables.update(
                        zip(fields[index + 1 : end : 3], fields[index + 2 : end : 3], strict=True)
                    )
                    break
                variables[fields[index + 1]] = fields[index + 2]
                index += 3
            elif tag == "I":
                inputs.append((fields[index + 1], fields[index + 2], fields[index + 3]))
                index += 4
            elif tag == "O":
                inherited.append((fields[index + 1], fields[index + 3] if fields[index + 2] == "1" else None))
                index += 4
            elif tag == "P":
                prefix.append(fields[index + 1])
                index += 2
            elif tag == "U":
                unset.append(fields[index + 1])
                index += 2
            elif tag == "S":
                secret.append(fields[index + 1])
                index += 2
            elif tag == "A":
                passed.append(fields[index + 1])
                index += 2
            elif tag == "T":
                text_sources.append((fields[index + 1], fields[index + 2], fields[index + 3]))
                index += 4
            elif tag == "R":
                text = fields[index + 1]
                index += 2
            else:
                return None
    except IndexError:
        return None  # a damaged file: the slow path rewrites it
    env = CanonicalEnv(
        root=fields[2],
        fingerprint=fingerprint,
        variables=variables,
        path_prefix=prefix,
        unset=unset,
        secret=secret,
        pass_through=passed,
    )
    return Snapshot(env, inputs, inherited, text, text_sources)


def encode_snapshot(
    env: CanonicalEnv,
    inputs: "Iterable[tuple[str, str, str]]",
    inherited: "Iterable[tuple[str, str | None]]",
) -> str:
    """The text of env.nul for `env` (see `read_snapshot` for the layout)."""
    fields = [MAGIC, VERSION, *binding_fields(env.root), env.fingerprint]
    for path, size, mtime in inputs:
        fields += ["I", path, size, mtime]
    for key, value in inherited:
        fields += ["O", key, "0" if value is None else "1", value or ""]
    for entry in env.path_prefix:
        fields += ["P", entry]
    for key in env.unset:
        fields += ["U", key]
    for key in env.secret:
        fields += ["S", key]
    for pattern in env.pass_through:
        fields += ["A", pattern]
    rendered = _rendered(env)
    if rendered is not None:
        text, sources = rendered
        for relative, size, mtime in sources:
            fields += ["T", relative, size, mtime]
        fields += ["R", text]
    for key, value in env.variables.items():  # last: read_snapshot takes them all at once
        fields += ["V", key, value]
    fields.append("end")
    return "\0".join(fields)


def _rendered(env: CanonicalEnv) -> "tuple[str, list[tuple[str, str, str]]] | None":
    """TEXT_FORMAT's text of `env` and the stat records of the renderer's files it came from
    (the registry and the format's module), or None when the text depends on more than `env`
    (the caller's PATH, notes for stderr) or the format cannot carry `env`."""
    import importlib

    from devenv import renderers
    from devenv.errors import RenderError

    entry = renderers.lookup(TEXT_FORMAT)
    module = importlib.import_module(f"devenv.renderers.{entry.module}")
    if entry.whole_path or getattr(module, "notes", None) is not None:
        return None
    try:
        text = renderers.render(TEXT_FORMAT, env)  # the text env.sh was given: no second rendering
    except RenderError:
        return None
    sources = []
    for path in (renderers.__file__, module.__file__):
        size, mtime = stat_fields(path) if path is not None else (ABSENT, ABSENT)
        if path is None or size in (ABSENT, UNREADABLE):
            return None  # not files (a zip, a frozen build): nothing to tell another renderer by
        sources.append((os.path.relpath(path, _PACKAGE), size, mtime))
    return text, sources
