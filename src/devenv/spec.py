"""envspec.toml (schema 1): parse and validate the one declaration into frozen values.

Every problem is a `SpecError` naming `envspec.toml:LINE` and the `table.key`, so a user
never has to guess which of their lines devenv did not understand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

from devenv.errors import UNKNOWN_PROFILE, DevenvError, Place, SpecError, preview
from devenv.layout import DEFAULT_VENV
from devenv.records import dataclass, field
from devenv.root import SPEC_FILENAME

SCHEMA_VERSION = 1
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: A profile name is chosen on the command line and shown in messages: keep it plain.
PROFILE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
#: How long a task may run when `[tasks.NAME].timeout` is not given.
DEFAULT_TASK_TIMEOUT = 600.0
#: Seconds a stopped task gets between SIGTERM and SIGKILL.
TASK_STOP_TIMEOUT = 10.0
_PASS_PATTERN = re.compile(r"[A-Za-z0-9_*?]+\Z")

ServiceCheck: TypeAlias = Literal["amqp", "redis", "postgres", "http", "command", "tcp"]
SERVICE_CHECKS: tuple[ServiceCheck, ...] = ("amqp", "redis", "postgres", "http", "command", "tcp")
READY_KINDS = ("amqp_queue", "http", "command", "log", "tcp")
InstallerName: TypeAlias = Literal["uv", "pip"]
#: `[python].installer` values: each has a class in devenv/installers/ (`installer_for`).
INSTALLERS: tuple[InstallerName, ...] = ("uv", "pip")
#: What `[python].platforms` may name: the operating systems and machines a universal lock covers.
PLATFORMS = ("linux-x86_64", "linux-arm64", "macos-x86_64", "macos-arm64", "windows-x86_64", "windows-arm64")


@dataclass(frozen=True, kw_only=True, slots=True)
class PythonSpec:
    """`[python]`: which interpreter, where the venv lives, what goes into it."""

    requires: str = ""
    venv: str = DEFAULT_VENV
    packages: tuple[str, ...] = ()
    #: A path or a version ("3.12") that picks the interpreter; "" searches (interpreters.py).
    interpreter: str = ""
    installer: InstallerName = "uv"
    #: The platforms a lock covers ("linux-x86_64", ...); () means all of PLATFORMS.
    platforms: tuple[str, ...] = ()
    #: The index a lock resolves against ("" is PyPI) and extra indexes; `${NAME}` in them is
    #: taken from the environment when the installer runs, never written into the lock.
    index: str = ""
    extra_indexes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class DotenvSpec:
    """`[dotenv]`: files read in order (later wins), which may be absent, which keys must be set."""

    files: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvPolicy:
    """`[env]`: what may come from the outer environment, what is removed, what is secret."""

    inherit: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()
    #: Keys that make programs run code (trust.py) which a dotenv file or --set may set.
    trusted: tuple[str, ...] = ()
    #: `pass`: names and globs (`AWS_*`) a launched process gets from its launcher's
    #: environment as they are, unresolved and outside the fingerprint.
    pass_through: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceSpec:
    """`[services.NAME]`: something a process needs, how to check it and how to start it."""

    name: str
    check: ServiceCheck
    #: Required for every check but `command`.
    url: str = ""
    start: tuple[str, ...] = ()
    timeout: float = 30.0
    #: `check = "command"`: the command whose exit 0 means the service is up.
    command: tuple[str, ...] = ()
    #: `check = "http"`: the status codes that mean up (empty: any 2xx or 3xx).
    status: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AmqpQueueReady:
    """Ready when the broker reports at least `consumers` consumers on `queue`."""

    queue: str
    consumers: int = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class LogReady:
    """Ready when the process log matches `pattern` (a Python regex)."""

    pattern: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TcpReady:
    """Ready when a process of the launched tree listens on `host:port` (or a URL's port)."""

    address: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpReady:
    """Ready when `url` answers with one of `status` (empty: any 2xx or 3xx) from a socket of
    the launched tree."""

    url: str
    status: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandReady:
    """Ready when `command` exits 0 within `timeout` seconds, run in the process's environment."""

    command: tuple[str, ...]
    timeout: float = 10.0


ReadyProbe: TypeAlias = AmqpQueueReady | HttpReady | CommandReady | LogReady | TcpReady
RestartPolicy: TypeAlias = Literal["no", "on-failure"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessSpec:
    """`[processes.NAME]`: a long-running command every launcher starts the same way."""

    name: str
    command: tuple[str, ...]
    #: Services to make reachable and processes to start first (in this order).
    needs: tuple[str, ...] = ()
    ready: ReadyProbe | None = None
    start_timeout: float = 30.0
    stop_timeout: float = 10.0
    #: What `devenv up` does when the process dies after it was ready.
    restart: RestartPolicy = "no"
    #: `[processes.NAME].env`: variables of this process only, as written (`${...}` is
    #: expanded by the resolver, on top of every other layer but overrides).
    env: tuple[tuple[str, str], ...] = ()
    #: Working folder relative to the root ("" is the root itself).
    cwd: str = ""

    @property
    def table(self) -> str:
        """The spec table that declares it, for messages and provenance."""
        return f"processes.{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskSpec:
    """`[tasks.NAME]`: a one-shot step (migrate, create a database) run to completion (exit 0)
    before the processes that need it."""

    name: str
    command: tuple[str, ...]
    #: Services to make reachable and tasks to run first.
    needs: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    timeout: float = DEFAULT_TASK_TIMEOUT

    @property
    def table(self) -> str:
        """The spec table that declares it, for messages and provenance."""
        return f"tasks.{self.name}"

    # What the launcher asks of every unit it starts (processes.ProcessHandle): a task has no
    # readiness (it is done when it exits 0) and is never restarted.
    @property
    def ready(self) -> None:
        """A task has no readiness probe."""
        return None

    @property
    def start_timeout(self) -> float:
        """A task is never waited for as "ready"; its `timeout` bounds the whole run."""
        return self.timeout

    @property
    def stop_timeout(self) -> float:
        """Grace between SIGTERM and SIGKILL when a task is stopped (its timeout, Ctrl-C)."""
        return TASK_STOP_TIMEOUT

    @property
    def restart(self) -> RestartPolicy:
        """A task is never restarted."""
        return "no"


#: A launched unit: a long-running process or a one-shot task.
Unit: TypeAlias = "ProcessSpec | TaskSpec"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileSpec:
    """`[profiles.NAME]`: dotenv files and variables stacked on top of the base declaration
    (for example `.envs/.local/*` against `.envs/.production/*`)."""

    name: str
    #: Dotenv files read after every [dotenv].files entry, in order.
    dotenv: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Spec:
    """The whole declaration, with `root` the folder that holds envspec.toml."""

    path: str
    root: str
    project_name: str
    python: PythonSpec
    pythonpath: tuple[str, ...] = ()
    dotenv: DotenvSpec = field(default_factory=DotenvSpec)
    vars: tuple[tuple[str, str], ...] = ()
    env: EnvPolicy = field(default_factory=EnvPolicy)
    services: tuple[ServiceSpec, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    profiles: tuple[ProfileSpec, ...] = ()
    #: The profile this Spec was selected for (`with_profile`), None for the base declaration.
    profile: ProfileSpec | None = None

    def with_profile(self, name: str | None) -> Spec:
        """This declaration with profile `name` on top (its dotenv files after the base ones);
        None or "" is the base declaration. An unknown name is a SpecError listing the
        declared ones."""
        if not name:
            return self
        for profile in self.profiles:
            if profile.name == name:
                from devenv.records import replace

                dotenv = DotenvSpec(
                    files=(*self.dotenv.files, *profile.dotenv),
                    optional=(*self.dotenv.optional, *profile.optional),
                    required=self.dotenv.required,
                )
                return replace(self, dotenv=dotenv, profile=profile)
        known = ", ".join(p.name for p in self.profiles) or "none"
        raise SpecError(
            f"{self.path}: no profile named {name[:40]!r} in [profiles] (declared: {known}); "
            "check --profile or DEVENV_PROFILE",
            place=Place(self.path, item="[profiles]"),
            cause=UNKNOWN_PROFILE,
        )

    def task(self, name: str) -> TaskSpec:
        """The declared task `name`, or a SpecError listing the declared ones."""
        for task in self.tasks:
            if task.name == name:
                return task
        known = ", ".join(t.name for t in self.tasks) or "none"
        raise SpecError(f"{self.path}: no task named {name!r} in [tasks] (declared: {known})")

    def task_names(self) -> tuple[str, ...]:
        """Names of the declared tasks."""
        return tuple(task.name for task in self.tasks)

    def task_order(self, names: Sequence[str]) -> list[TaskSpec]:
        """The tasks `names` need, directly or through the processes and tasks they need, each
        after the tasks it needs (a task named in `names` is included itself)."""
        ordered: list[TaskSpec] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name in self.service_names():
                return
            seen.add(name)
            unit: ProcessSpec | TaskSpec = (
                self.task(name) if name in self.task_names() else self.process(name)
            )
            for need in unit.needs:
                visit(need)
            if isinstance(unit, TaskSpec):
                ordered.append(unit)

        for name in names:
            visit(name)
        return ordered

    def process(self, name: str) -> ProcessSpec:
        """The declared process `name`, or a SpecError listing the declared ones."""
        for process in self.processes:
            if process.name == name:
                return process
        known = ", ".join(p.name for p in self.processes) or "none"
        raise SpecError(f"{self.path}: no process named {name!r} in [processes] (declared: {known})")

    def service_names(self) -> tuple[str, ...]:
        """Names of the declared services."""
        return tuple(service.name for service in self.services)

    def process_order(self, names: tuple[str, ...] | list[str]) -> list[ProcessSpec]:
        """`names` and every process they need, each after what it needs (no cycles: the
        spec refuses them)."""
        ordered: list[ProcessSpec] = []

        def visit(name: str) -> None:
            process = self.process(name)
            if process in ordered:
                return
            for need in process.needs:
                if need not in self.service_names() and need not in self.task_names():
                    visit(need)
            ordered.append(process)

        for name in names:
            visit(name)
        return ordered

    def service(self, name: str) -> ServiceSpec:
        """The declared service `name`."""
        for service in self.services:
            if service.name == name:
                return service
        raise SpecError(f"{self.path}: no service named {name!r} in [services]")


def load_spec(root: str) -> Spec:
    """Read and validate `root/envspec.toml`."""
    from devenv.project import read_input  # the one reader of inputs (regular files only)

    path = os.path.join(root, SPEC_FILENAME)
    data = read_input(path, path, SpecError)
    if data is None:
        raise SpecError(
            f"{path}: not found; create it (see the README's envspec reference)", place=Place(path)
        )
    return parse_spec(data, path=path, root=root)


def parse_spec(data: bytes, *, path: str, root: str) -> Spec:
    """Parse envspec.toml bytes; `path` is only used in messages."""
    import tomllib

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path}: not UTF-8 (byte {exc.start}); save it as UTF-8", place=Place(path)
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, str(exc), text) from None
    except RecursionError:
        raise too_deep(SpecError, path, text) from None
    return _SpecReader(document, path=path, root=root, text=text).read()


#: How deep arrays and tables may nest in a file devenv reads before it says so plainly
#: (the parsers recurse: past ~450 levels Python's own limit ends them with a traceback).
MAX_NESTING = 100


def too_deep(error: type[DevenvError], path: str, text: str) -> DevenvError:
    """The error for TOML or JSON nested too deep to parse, at the line where it gets too deep."""
    depth, line, quote = 0, 1, ""
    where = 1
    for char in text:
        if char == "\n":
            line += 1
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth == MAX_NESTING:
                where = line
        elif char in "]}":
            depth -= 1
    place = Place(path, where)
    return error(
        f"{place}: arrays or tables nested more than {MAX_NESTING} levels deep; flatten it",
        place=place,
    )


def line_of(path: str, table: str, key: str | None = None) -> Place:
    """Where `[table]` (or `key` in it) is written in the spec at `path`, for messages about
    a spec already parsed (a missing required key, a pythonpath entry that is no folder)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(1024 * 1024).decode("utf-8", "replace")
    except OSError:
        return Place(path)
    return _SpecReader({}, path=path, root="", text=text).where(table, key)


_OPERATORS = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")


def plain_specifier(text: str) -> bool:
    """True for the specifiers [python].requires usually holds (">=3.11", ">=3.11,<3.14",
    "==3.12.*"), which are valid PEP 440 without a parser: every clause an operator and a
    release made of digits. Anything else (False) goes to `packaging`, whose import alone
    costs more than a re-resolve after a `.env` edit may take (benchmarks/diagnostics.py)."""
    for clause in text.split(","):
        clause = clause.strip()
        operator = next((op for op in _OPERATORS if clause.startswith(op)), "===")
        if operator == "===":
            return False
        version = clause[len(operator) :].strip()
        if operator in ("==", "!=") and version.endswith(".*"):
            version = version[:-2]
        parts = version.split(".")
        if not all(part.isascii() and part.isdigit() for part in parts) or (
            operator == "~=" and len(parts) < 2
        ):
            return False
    return True


def _toml_error(path: str, message: str, text: str) -> SpecError:
    # tomllib (3.11) has no line attribute: its messages end with "(at line L, column C)".
    # Lead with file:line instead, and keep the line as a field.
    match = re.search(r"\(at line (\d+), column \d+\)$", message)
    if match is None and message.endswith("(at end of document)"):
        where = Place(path, len(text.splitlines()) or 1)
        return SpecError(
            f"{where}: invalid TOML: {message.removesuffix('(at end of document)').strip()} "
            "(at the end of the file)",
            place=where,
        )
    if match is None:
        return SpecError(f"{path}: invalid TOML: {message}", place=Place(path))
    where = Place(path, int(match.group(1)))
    return SpecError(f"{where}: invalid TOML: {message[: match.start()].strip()}", place=where)


_TOP_LEVEL = (
    "schema",
    "project",
    "python",
    "paths",
    "dotenv",
    "vars",
    "env",
    "services",
    "processes",
    "tasks",
    "profiles",
)


class _SpecReader:
    """Walks the parsed TOML, checking every key and type, and builds a `Spec`."""

    def __init__(self, document: dict[str, Any], *, path: str, root: str, text: str) -> None:
        self.document = document
        self.path = path
        self.root = root
        self.lines = text.splitlines()

    # -- locating and reporting ------------------------------------------------------------

    def where(self, table: str, key: str | None = None) -> Place:
        """The line of `[table]` (or of `key` inside it) when it can be found, else the file."""
        header = re.compile(r"\s*\[+\s*" + re.escape(table) + r"\s*\]+\s*(#.*)?$")
        start = None
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                start = number
                break
        if start is None:
            # Inline or dotted forms (`python.requires = ...`, `[processes.worker]` for the
            # table `processes`): the first line that opens or names it.
            dotted = f"{table}.{key}" if key else table
            opening = re.compile(
                r"\s*("
                + re.escape(dotted)
                + r"\s*=|\[+\s*"
                + re.escape(table)
                + r"\s*[.\]]|"
                + re.escape(table)
                + r"\s*[.=])"
            )
            for number, line in enumerate(self.lines, 1):
                if opening.match(line):
                    return Place(self.path, number)
            return Place(self.path)
        if key is None:
            return Place(self.path, start)
        key_line = re.compile(r"\s*" + re.escape(key) + r"\s*=")
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if re.match(r"\s*\[", line):
                break
            if key_line.match(line):
                return Place(self.path, number)
        return Place(self.path, start)

    def fail(self, table: str, key: str | None, message: str) -> SpecError:
        name = f"[{table}].{key}" if key else f"[{table}]"
        where = self.where(table, key)
        return SpecError(f"{where}: {name} {message}", place=Place(where.path, where.line, name))

    # -- typed getters ----------------------------------------------------------------------

    def table(self, name: str, value: Any, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(name, None, "must be a table")
        for key in value:
            if key not in known:
                raise self.fail(name, key, f"is not a known key (expected one of: {', '.join(known)})")
        return value

    def string(self, table: str, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(table, key, f"must be a string, not {_toml_type(value)}")
        return value

    def strings(self, table: str, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(table, key, "must be a list of strings")
        return tuple(value)

    def keys(self, table: str, key: str, value: Any) -> tuple[str, ...]:
        names = self.strings(table, key, value)
        for name in names:
            if not KEY_PATTERN.match(name):
                raise self.fail(
                    table,
                    key,
                    f"names {preview(name)}, which is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                )
        return names

    def status_codes(self, table: str, key: str, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(
            isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in value
        ):
            raise self.fail(
                table, key, "must list HTTP status codes as whole numbers (e.g. status = [200, 204])"
            )
        return tuple(value)

    def seconds(self, table: str, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(table, key, "must be a positive number of seconds")
        return float(value)

    # -- tables -----------------------------------------------------------------------------

    def read(self) -> Spec:
        doc = self.document
        for key in doc:
            if key not in _TOP_LEVEL:
                raise self.fail(
                    key, None, f"is not a known table (expected one of: {', '.join(_TOP_LEVEL[1:])})"
                )
        schema = doc.get("schema", SCHEMA_VERSION)
        if schema != SCHEMA_VERSION:
            raise SpecError(f"{self.path}: schema = {schema!r} is not supported; this devenv reads schema 1")
        project = self.table("project", doc.get("project", {}), ("name",))
        name = self.string("project", "name", project.get("name", os.path.basename(self.root)))
        return Spec(
            path=self.path,
            root=self.root,
            project_name=name,
            python=self.read_python(doc.get("python", {})),
            pythonpath=self.read_paths(doc.get("paths", {})),
            dotenv=self.read_dotenv(doc.get("dotenv", {})),
            vars=self.read_vars(doc.get("vars", {})),
            env=self.read_env(doc.get("env", {})),
            services=self.read_services(doc.get("services", {})),
            processes=self.read_processes(doc.get("processes", {})),
            tasks=self.read_tasks(doc.get("tasks", {})),
            profiles=self.read_profiles(doc.get("profiles", {})),
        )

    def read_python(self, value: Any) -> PythonSpec:
        table = self.table(
            "python",
            value,
            ("requires", "venv", "packages", "interpreter", "installer", "platforms", "index"),
        )
        requires = self.string("python", "requires", table.get("requires", ""))
        if requires and not plain_specifier(requires):
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                SpecifierSet(requires)
            except InvalidSpecifier:
                raise self.fail(
                    "python", "requires", f'= {requires!r} is not a PEP 440 specifier (e.g. ">=3.11")'
                ) from None
        venv = self.string("python", "venv", table.get("venv", DEFAULT_VENV))
        if not venv:
            raise self.fail("python", "venv", "must not be empty")
        packages = self.strings("python", "packages", table.get("packages", []))
        interpreter = self.string("python", "interpreter", table.get("interpreter", ""))
        installer = self.string("python", "installer", table.get("installer", "uv"))
        if installer not in INSTALLERS:
            names = " or ".join(f'"{name}"' for name in INSTALLERS)
            raise self.fail("python", "installer", f"= {installer!r} is not an installer; use {names}")
        platforms = self.strings("python", "platforms", table.get("platforms", []))
        for name in platforms:
            if name not in PLATFORMS:
                raise self.fail(
                    "python", "platforms", f"names {name!r}, which is not one of: {', '.join(PLATFORMS)}"
                )
        index, extra = self.read_index(table.get("index", ""))
        return PythonSpec(
            requires=requires,
            venv=venv,
            packages=packages,
            interpreter=interpreter,
            installer=installer,
            platforms=platforms,
            index=index,
            extra_indexes=extra,
        )

    def read_index(self, value: Any) -> tuple[str, tuple[str, ...]]:
        """`index = "URL"` or `index = { url = "URL", extra = ["URL", ...] }`."""
        extra: tuple[str, ...] = ()
        if isinstance(value, str):
            url = value
        elif isinstance(value, dict):
            table = self.table("python.index", value, ("url", "extra"))
            url = self.string("python.index", "url", table.get("url", ""))
            extra = self.strings("python.index", "extra", table.get("extra", []))
        else:
            raise self.fail("python", "index", "must be a URL or a table { url = ..., extra = [...] }")
        for entry in (url, *extra):
            if entry and not entry.startswith(("https://", "http://", "file://")):
                raise self.fail("python", "index", "URLs must start with https://, http:// or file://")
        return url, tuple(extra)

    def read_paths(self, value: Any) -> tuple[str, ...]:
        table = self.table("paths", value, ("pythonpath",))
        entries = self.strings("paths", "pythonpath", table.get("pythonpath", []))
        for entry in entries:
            if not entry or ":" in entry:
                raise self.fail(
                    "paths", "pythonpath", f"entry {entry!r} must be a non-empty folder path without ':'"
                )
        return entries

    def read_dotenv(self, value: Any) -> DotenvSpec:
        table = self.table("dotenv", value, ("files", "optional", "required"))
        files = self.strings("dotenv", "files", table.get("files", []))
        optional = self.strings("dotenv", "optional", table.get("optional", []))
        for name in optional:
            if name not in files:
                raise self.fail(
                    "dotenv", "optional", f"names {name!r}, which is not in [dotenv].files; add it there"
                )
        required = self.keys("dotenv", "required", table.get("required", []))
        return DotenvSpec(files=files, optional=optional, required=required)

    def read_vars(self, value: Any, table: str = "vars") -> tuple[tuple[str, str], ...]:
        """A table of variables (`[vars]`, `[processes.NAME].env`, ...): names and string values."""
        if not isinstance(value, dict):
            raise self.fail(table, None, 'must be a table like { KEY = "value" }')
        pairs = []
        for key, item in value.items():
            if not KEY_PATTERN.match(key):
                raise self.fail(table, key, "is not a variable name ([A-Za-z_][A-Za-z0-9_]*)")
            if not isinstance(item, str):
                # Never echo the value: a secret typed as a number is still a secret.
                raise self.fail(
                    table, key, f'must be a string, not {_toml_type(item)}; quote it: {key} = "..."'
                )
            pairs.append((key, item))
        return tuple(pairs)

    def read_cwd(self, where: str, value: Any) -> str:
        """A working folder relative to the root; it must exist now (a typo fails at once,
        not when the process cannot start)."""
        cwd = self.string(where, "cwd", value)
        if not cwd or cwd == ".":
            return ""
        if os.path.isabs(cwd):
            raise self.fail(
                where, "cwd", "must be a folder relative to the project root, not an absolute path"
            )
        if not os.path.isdir(os.path.join(self.root, cwd)):
            raise self.fail(
                where, "cwd", f"= {cwd!r} is not a folder under the project root; create it or fix the path"
            )
        return os.path.normpath(cwd)

    def read_env(self, value: Any) -> EnvPolicy:
        table = self.table("env", value, ("inherit", "unset", "secret", "trusted", "pass"))
        inherit = self.keys("env", "inherit", table.get("inherit", []))
        return EnvPolicy(
            inherit=inherit,
            unset=self.keys("env", "unset", table.get("unset", [])),
            secret=self.keys("env", "secret", table.get("secret", [])),
            trusted=self.keys("env", "trusted", table.get("trusted", [])),
            pass_through=self.pass_patterns(table.get("pass", []), inherit),
        )

    def pass_patterns(self, value: Any, inherit: tuple[str, ...]) -> tuple[str, ...]:
        """[env].pass: variable names, or globs of them with `*` and `?`."""
        from devenv.environment import MANAGED_BY

        patterns = self.strings("env", "pass", value)
        for pattern in patterns:
            if not _PASS_PATTERN.match(pattern):
                raise self.fail(
                    "env",
                    "pass",
                    f"names {preview(pattern)}, which is neither a variable name nor a glob of "
                    "them (letters, digits, '_', and '*' or '?': AWS_*)",
                )
            if pattern in MANAGED_BY:
                raise self.fail(
                    "env", "pass", f"names {pattern}, which devenv manages ({MANAGED_BY[pattern]}); remove it"
                )
            if pattern in inherit:
                raise self.fail(
                    "env",
                    "pass",
                    f"names {pattern}, which [env].inherit also names; keep it in one: inherit "
                    "resolves it (and the fingerprint covers it), pass hands it on as it is",
                )
        return patterns

    def read_services(self, value: Any) -> tuple[ServiceSpec, ...]:
        if not isinstance(value, dict):
            raise self.fail("services", None, "must be a table of [services.NAME] tables")
        services = []
        for name, item in value.items():
            where = f"services.{name}"
            table = self.table(where, item, ("check", "url", "start", "timeout", "command", "status"))
            check = table.get("check")
            if check not in SERVICE_CHECKS:
                choices = ", ".join(f'"{c}"' for c in SERVICE_CHECKS)
                raise self.fail(where, "check", f"must be one of {choices}, not {check!r}")
            if check == "command":
                if "command" not in table:
                    raise self.fail(
                        where, "command", 'is required with check = "command" (e.g. ["pg_isready"])'
                    )
                if "url" in table:
                    self.string(where, "url", table["url"])
            elif "url" not in table:
                raise self.fail(where, "url", 'is required (e.g. url = "${RABBITMQ_URL}")')
            for key, only in (("command", "command"), ("status", "http")):
                if key in table and check != only:
                    raise self.fail(where, key, f'is only read with check = "{only}"')
            command = self.strings(where, "command", table.get("command", []))
            if check == "command" and not command:
                raise self.fail(where, "command", "must not be empty")
            services.append(
                ServiceSpec(
                    name=name,
                    check=check,
                    url=self.string(where, "url", table.get("url", "")),
                    start=self.strings(where, "start", table.get("start", [])),
                    timeout=self.seconds(where, "timeout", table.get("timeout", 30)),
                    command=command,
                    status=self.status_codes(where, "status", table.get("status", [])),
                )
            )
        return tuple(services)

    def read_processes(self, value: Any) -> tuple[ProcessSpec, ...]:
        if not isinstance(value, dict):
            raise self.fail("processes", None, "must be a table of [processes.NAME] tables")
        service_names = set(self.document.get("services", {}) or {})
        task_names = set(self.document.get("tasks", {}) or {})
        processes = []
        keys = ("command", "needs", "ready", "start_timeout", "stop_timeout", "restart", "env", "cwd")
        for name, item in value.items():
            where = f"processes.{name}"
            table = self.table(where, item, keys)
            command = self.strings(where, "command", table.get("command", []))
            if not command:
                raise self.fail(where, "command", "is required and must not be empty")
            if name in task_names:
                raise self.fail(where, None, f"has the name of [tasks.{name}]; a need must name one thing")
            needs = self.strings(where, "needs", table.get("needs", []))
            for need in needs:
                if need not in service_names and need not in value and need not in task_names:
                    raise self.fail(
                        where,
                        "needs",
                        f"names {need!r}, which is not declared in [services], [processes] or [tasks]",
                    )
            restart = table.get("restart", "no")
            if restart not in ("no", "on-failure"):
                raise self.fail(where, "restart", f'must be "no" or "on-failure", not {restart!r}')
            processes.append(
                ProcessSpec(
                    name=name,
                    command=command,
                    needs=needs,
                    ready=self.read_ready(where, table.get("ready")),
                    start_timeout=self.seconds(where, "start_timeout", table.get("start_timeout", 30)),
                    stop_timeout=self.seconds(where, "stop_timeout", table.get("stop_timeout", 10)),
                    restart=restart,
                    env=self.read_vars(table.get("env", {}), f"{where}.env"),
                    cwd=self.read_cwd(where, table.get("cwd", "")),
                )
            )
        self.check_cycles(value, "processes")
        return tuple(processes)

    def read_tasks(self, value: Any) -> tuple[TaskSpec, ...]:
        if not isinstance(value, dict):
            raise self.fail("tasks", None, "must be a table of [tasks.NAME] tables")
        service_names = set(self.document.get("services", {}) or {})
        processes = set(self.document.get("processes", {}) or {})
        tasks = []
        for name, item in value.items():
            where = f"tasks.{name}"
            table = self.table(where, item, ("command", "needs", "cwd", "env", "timeout"))
            command = self.strings(where, "command", table.get("command", []))
            if not command:
                raise self.fail(where, "command", "is required and must not be empty")
            needs = self.strings(where, "needs", table.get("needs", []))
            for need in needs:
                if need in processes:
                    raise self.fail(
                        where,
                        "needs",
                        f"names the process {need!r}; a task runs before processes, so it may "
                        "need services and other tasks only",
                    )
                if need not in service_names and need not in value:
                    raise self.fail(
                        where, "needs", f"names {need!r}, which is not declared in [services] or [tasks]"
                    )
            tasks.append(
                TaskSpec(
                    name=name,
                    command=command,
                    needs=needs,
                    env=self.read_vars(table.get("env", {}), f"{where}.env"),
                    cwd=self.read_cwd(where, table.get("cwd", "")),
                    timeout=self.seconds(where, "timeout", table.get("timeout", DEFAULT_TASK_TIMEOUT)),
                )
            )
        self.check_cycles(value, "tasks")
        return tuple(tasks)

    def check_cycles(self, units: dict[str, Any], kind: str) -> None:
        """Refuse `needs` that loop through processes and tasks."""
        graph: dict[str, tuple[str, ...]] = {}
        for table in ("processes", "tasks"):
            for name, item in (self.document.get(table, {}) or {}).items():
                if isinstance(item, dict) and isinstance(item.get("needs", []), list):
                    graph[name] = tuple(n for n in item.get("needs", []) if isinstance(n, str))
        services = set(self.document.get("services", {}) or {})
        graph = {name: tuple(n for n in needs if n not in services) for name, needs in graph.items()}
        for name in units:
            cycle = _cycle_from(name, graph, ())
            if cycle:
                raise self.fail(f"{kind}.{name}", "needs", f"forms a cycle: {' -> '.join(cycle)}")

    def read_profiles(self, value: Any) -> tuple[ProfileSpec, ...]:
        if not isinstance(value, dict):
            raise self.fail("profiles", None, "must be a table of [profiles.NAME] tables")
        base_files = set(self.document.get("dotenv", {}).get("files", []) or [])
        profiles = []
        for name, item in value.items():
            where = f"profiles.{name}"
            if not PROFILE_PATTERN.match(name):
                raise self.fail(where, None, "needs a plain name (letters, digits, '_', '-', '.')")
            table = self.table(where, item, ("dotenv", "optional", "vars"))
            files = self.strings(where, "dotenv", table.get("dotenv", []))
            for file in files:
                if file in base_files:
                    raise self.fail(where, "dotenv", f"names {file!r}, which [dotenv].files reads already")
            optional = self.strings(where, "optional", table.get("optional", []))
            for file in optional:
                if file not in files:
                    raise self.fail(
                        where, "optional", f"names {file!r}, which is not in [{where}].dotenv; add it there"
                    )
            profiles.append(
                ProfileSpec(
                    name=name,
                    dotenv=files,
                    optional=optional,
                    vars=self.read_vars(table.get("vars", {}), f"{where}.vars"),
                )
            )
        return tuple(profiles)

    def read_ready(self, where: str, value: Any) -> ReadyProbe | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, "ready", 'must be a table like { log = "regex" }')
        kinds = [kind for kind in READY_KINDS if kind in value]
        if len(kinds) > 1:
            raise self.fail(where, "ready", f"must have exactly one of {', '.join(READY_KINDS)}")
        options = {"amqp_queue": ("consumers",), "http": ("status",), "command": ("timeout",)}
        if kinds:
            allowed = (kinds[0], *options.get(kinds[0], ()))
            expected = f"with {kinds[0]}: {', '.join(allowed)}"
        else:
            allowed = (*READY_KINDS, *(option for more in options.values() for option in more))
            expected = f"expected one of: {', '.join(READY_KINDS)}"
        for key in value:
            if key not in allowed:
                # A typo (`comand`) is named like any unknown key, not as a missing probe.
                place, name = self.where(where, "ready"), f"[{where}].ready.{key}"
                raise SpecError(
                    f"{place}: {name} is not a known key ({expected})",
                    place=Place(place.path, place.line, name),
                )
        if not kinds:
            raise self.fail(where, "ready", f"must have exactly one of {', '.join(READY_KINDS)}")
        kind = kinds[0]
        if kind == "command":
            words = value["command"]
            if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
                raise self.fail(
                    where, "ready", 'command must be a non-empty list of strings, like ["pg_isready"]'
                )
            timeout = value.get("timeout", 10)
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                raise self.fail(
                    where, "ready", "timeout (seconds per try of the command) must be a positive number"
                )
            return CommandReady(command=tuple(words), timeout=float(timeout))
        probe_value = self.string(where, "ready", value[kind])
        if kind == "http":
            if not re.match(r"https?://[^/]", probe_value) and not probe_value.startswith("${"):
                raise self.fail(
                    where,
                    "ready",
                    f'http = {probe_value!r} must be a URL like "http://127.0.0.1:8000/health"',
                )
            return HttpReady(
                url=probe_value, status=self.status_codes(where, "ready", value.get("status", []))
            )
        if kind == "amqp_queue":
            consumers = value.get("consumers", 1)
            if isinstance(consumers, bool) or not isinstance(consumers, int) or consumers < 1:
                raise self.fail(where, "ready", "consumers must be a whole number >= 1")
            return AmqpQueueReady(queue=probe_value, consumers=consumers)
        if kind == "log":
            try:
                re.compile(probe_value)
            except re.error as exc:
                raise self.fail(where, "ready", f"log pattern is not a valid regex: {exc}") from None
            return LogReady(pattern=probe_value)
        if "://" not in probe_value:
            host, _, port = probe_value.rpartition(":")
            if not host or not (port.isdigit() or port.startswith("${")):
                raise self.fail(where, "ready", f'tcp = {probe_value!r} must be "host:port" or a URL')
        return TcpReady(address=probe_value)


def _cycle_from(name: str, graph: dict[str, tuple[str, ...]], path: tuple[str, ...]) -> tuple[str, ...]:
    """The first cycle of process `needs` reachable from `name`, or () if there is none."""
    if name in path:
        return (*path[path.index(name) :], name)
    for need in graph.get(name, ()):
        cycle = _cycle_from(need, graph, (*path, name))
        if cycle:
            return cycle
    return ()


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)
