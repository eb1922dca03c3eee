"""`[python].packages` lines: pip requirement lines, checked with `packaging`, handed to pip whole.

A line is never split on spaces: `six >= 1.16`, `iniconfig ; python_version >= '3.8'` and
`mypkg @ file:///a path with spaces/mypkg` are single requirements, as in a requirements file.
Each line is checked before pip runs, so a typo is an error naming its envspec.toml line
instead of pip's "Invalid requirement: '@'" after a venv was built.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any, Literal, TypeAlias

from devenv import digest
from devenv.errors import Place, SpecError
from devenv.records import dataclass
from devenv.spec import Spec

LineKind: TypeAlias = Literal[
    "requirement", "editable", "local", "requirements", "constraints", "project", "group"
]

#: Files whose content decides a local project's dependencies (and so the lock).
PROJECT_METADATA = ("pyproject.toml", "setup.cfg", "setup.py")

_OPTION = re.compile(r"(-e|--editable|-r|--requirement|-c|--constraint|--group)(?:\s+|=)(\S.*)\Z")
#: `-r path/pyproject.toml[extra,...]`: a project's [project].dependencies, read, not built.
_PROJECT = re.compile(r"(?P<path>(?:.*/)?pyproject\.toml)(?:\[(?P<extras>[^\]]*)\])?\Z")


@dataclass(frozen=True, kw_only=True, slots=True)
class PackageLine:
    """One `[python].packages` entry: its text, what kind of line it is, and for a local
    project (`-e PATH`, `./path`, `name @ file:///path`) the absolute folder."""

    index: int
    text: str
    kind: LineKind
    #: The line as pip gets it: `text`, with the spaces of a file:// URL percent-encoded
    #: (PEP 508 URLs cannot hold spaces; pip and packaging refuse them).
    pip_text: str = ""
    #: The project name for a named requirement (normalised), else "".
    name: str = ""
    #: For a local project: its absolute folder; for -r / -c / --group: the absolute file.
    path: str = ""
    #: `-r pyproject.toml[a,b]`: the extras; `--group NAME`: the group.
    extras: tuple[str, ...] = ()
    group: str = ""

    @property
    def is_local_project(self) -> bool:
        """True for a project on disk: installed with --no-deps after the lock."""
        return bool(self.path) and self.kind in ("editable", "local", "requirement")


def parse_packages(spec: Spec) -> tuple[PackageLine, ...]:
    """Check every `[python].packages` line; a bad one is a SpecError naming its line."""
    return tuple(_parse_line(spec, index, text) for index, text in enumerate(spec.python.packages))


def _parse_line(spec: Spec, index: int, raw: str) -> PackageLine:
    text = raw.strip()
    where = f"{_line_of(spec, index)} [python].packages[{index}]"
    if not text:
        raise SpecError(f"{where}: is empty; remove it")
    if "\n" in text or "\r" in text:
        raise SpecError(f"{where}: spans several lines; write one requirement per list entry")
    if text.startswith("#"):
        raise SpecError(f"{where}: is a comment; use a TOML comment (# after the entry) instead")
    option = _OPTION.match(text)
    if option:
        flag, value = option.group(1), option.group(2).strip()
        if flag in ("-e", "--editable"):
            folder = _local_folder(spec.root, value)
            if folder is None:
                raise SpecError(
                    f"{where}: -e needs a project folder (e.g. -e . or -e ./libs/x); "
                    "version-control URLs cannot be locked with hashes"
                )
            _require_project(where, folder)
            from shlex import quote

            return PackageLine(
                index=index, text=text, pip_text=f"-e {quote(folder)}", kind="editable", path=folder
            )
        if flag == "--group":
            return _group_line(spec, where, index, text, value)
        project = _PROJECT.match(value) if flag in ("-r", "--requirement") else None
        if project:
            return _project_line(spec, where, index, text, project)
        path = os.path.normpath(os.path.join(spec.root, value))
        if not os.path.isfile(path):
            raise SpecError(f"{where}: {flag} names {value}, which is not a file under {spec.root}")
        kind: LineKind = "requirements" if flag in ("-r", "--requirement") else "constraints"
        pip_flag = "-r" if kind == "requirements" else "-c"
        from shlex import quote

        return PackageLine(index=index, text=text, pip_text=f"{pip_flag} {quote(path)}", kind=kind, path=path)
    if text.startswith("-"):
        raise SpecError(
            f"{where}: only -e PATH, -r FILE, -c FILE and --group [PATH:]NAME are accepted as options here; "
            "put pip options such as index URLs in pip's own configuration"
        )
    if text.startswith((".", "/")):
        folder = os.path.normpath(os.path.join(spec.root, text))
        _require_project(where, folder)
        return PackageLine(index=index, text=text, pip_text=folder, kind="local", path=folder)
    from devenv import packaging_cache

    pip_text = _quote_file_url(text)
    try:
        name, url = packaging_cache.requirement(spec.root, pip_text)
    except packaging_cache.Refused as exc:
        # packaging's message quotes the offending part of the line, which is the user's own
        # spec text (never a secret); keep only its first line.
        reason = str(exc).splitlines()[0]
        raise SpecError(f'{where}: is not a valid requirement ({reason}); write e.g. "name>=1.0"') from None
    folder = ""
    if url:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme == "file":
            folder = os.path.normpath(unquote(parts.path))
            if not os.path.exists(folder):
                raise SpecError(f"{where}: the file URL points at {folder}, which does not exist")
            if not os.path.isdir(folder):
                folder = ""  # a local wheel or sdist: pip locks it with its hash like any file
        elif parts.scheme not in ("https", "http") and not parts.scheme.startswith(
            ("git+", "hg+", "svn+", "bzr+")
        ):
            raise SpecError(
                f"{where}: {parts.scheme or 'a bare'} URL is not supported; use https:// or file://"
            )
    return PackageLine(
        index=index,
        text=text,
        pip_text=pip_text,
        kind="requirement",
        name=name,
        path=folder,
    )


def _read_pyproject(where: str, path: str) -> dict[str, Any]:
    import tomllib

    data = _read_local(path, where)
    if data is None:
        raise SpecError(f"{where}: {path} does not exist", place=Place(path))
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SpecError(f"{where}: cannot read {path} ({exc})", place=Place(path)) from None
    return document


def _read_local(path: str, where: str) -> bytes | None:
    """The bytes of a file of the project's packages (None when absent), read as every input
    is (project.read_input): a FIFO or a device there is exit 2 naming it, never a hang."""
    from devenv.project import read_input

    return read_input(path, path, SpecError, fix=f"fix {where}")


def _project_line(spec: Spec, where: str, index: int, text: str, match: re.Match[str]) -> PackageLine:
    """`-r pyproject.toml[extra]`: checked now, read again when the lock is made."""
    path = os.path.normpath(os.path.join(spec.root, match.group("path")))
    extras = tuple(part.strip() for part in (match.group("extras") or "").split(",") if part.strip())
    line = PackageLine(index=index, text=text, kind="project", path=path, extras=extras)
    expand_line(line, where=where)
    return line


def _group_line(spec: Spec, where: str, index: int, text: str, value: str) -> PackageLine:
    """`--group NAME` (the root's pyproject.toml) or `--group path/pyproject.toml:NAME` (PEP 735)."""
    file, colon, name = value.rpartition(":")
    path = os.path.normpath(os.path.join(spec.root, file if colon else "pyproject.toml"))
    line = PackageLine(index=index, text=text, kind="group", path=path, group=name.strip())
    expand_line(line, where=where)
    return line


def expand_line(line: PackageLine, *, where: str = "") -> list[str]:
    """The requirements a `-r pyproject.toml[...]` or `--group` line stands for, read from the
    file without building the project (so a flat app without a build backend works)."""
    return [requirement for part in declared_parts(line, where=where).values() for requirement in part]


def declared_parts(line: PackageLine, *, where: str = "") -> dict[str, list[str]]:
    """What a `-r pyproject.toml[...]` or `--group` line reads, by the table it comes from:
    `[project].dependencies` and `[project.optional-dependencies].EXTRA` for each extra, or
    `[dependency-groups].NAME` with its include-groups expanded. Exactly these are handed to
    the resolver, so exactly these are the line's inputs (`inputs_digest`)."""
    where = where or line.text
    document = _read_pyproject(where, line.path)
    name = os.path.basename(os.path.dirname(line.path)) + "/pyproject.toml"
    if line.kind == "group":
        groups = document.get("dependency-groups", {})
        if not isinstance(groups, dict) or line.group not in groups:
            known = ", ".join(sorted(groups)) if isinstance(groups, dict) and groups else "none"
            raise SpecError(
                f"{where}: {name} has no [dependency-groups].{line.group} (groups there: {known})"
            )
        return {f"[dependency-groups].{line.group}": _resolve_group(where, groups, line.group, ())}
    project = document.get("project")
    if not isinstance(project, dict):
        raise SpecError(f"{where}: {name} has no [project] table; list the requirements instead")
    if "dependencies" in project.get("dynamic", []):
        raise SpecError(
            f"{where}: {name} declares its dependencies dynamic, so they cannot be read without "
            "building it; use -e PATH instead"
        )
    parts = {"[project].dependencies": [str(item) for item in project.get("dependencies", [])]}
    optional = project.get("optional-dependencies", {})
    for extra in line.extras:
        if not isinstance(optional, dict) or extra not in optional:
            raise SpecError(f"{where}: {name} has no [project.optional-dependencies].{extra}")
        parts[f"[project.optional-dependencies].{extra}"] = [str(item) for item in optional[extra]]
    return parts


def _resolve_group(where: str, groups: dict[str, Any], name: str, seen: tuple[str, ...]) -> list[str]:
    """PEP 735: a group lists requirement strings and `{include-group = "other"}` tables."""
    if name in seen:
        raise SpecError(f"{where}: [dependency-groups] includes itself: {' -> '.join((*seen, name))}")
    found: list[str] = []
    for item in groups.get(name, []):
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            found += _resolve_group(where, groups, item["include-group"], (*seen, name))
        else:
            raise SpecError(
                f"{where}: [dependency-groups].{name} holds {item!r}, which PEP 735 does not allow"
            )
    return found


def _quote_file_url(text: str) -> str:
    """`name @ file:///a b/x ; marker` -> `name @ file:///a%20b/x ; marker`."""
    head, at, rest = text.partition("@")
    if not at or not rest.strip().startswith("file:"):
        return text
    url, semicolon, marker = rest.strip().partition(" ;")
    url = url.strip().replace(" ", "%20")
    return f"{head.strip()} @ {url}" + (f" ;{marker}" if semicolon else "")


def _local_folder(root: str, value: str) -> str | None:
    if value.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        return os.path.normpath(unquote(urlsplit(value).path))
    if "://" in value or value.startswith(("git+", "hg+", "svn+", "bzr+")):
        return None
    return os.path.normpath(os.path.join(root, value))


def _require_project(where: str, folder: str) -> None:
    import stat

    for name in PROJECT_METADATA:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(os.stat(path).st_mode):
                # pip and uv would hang on a FIFO there, or read a device forever: refused
                # before either runs, as every input devenv reads is (project.read_input).
                _read_local(path, where)
    if not any(os.path.isfile(os.path.join(folder, name)) for name in PROJECT_METADATA):
        raise SpecError(
            f"{where}: {folder} is not a Python project (no pyproject.toml, setup.cfg or setup.py)"
        )


def _line_of(spec: Spec, index: int) -> str:
    """`envspec.toml:LINE` of the `index`-th packages entry, found by its quoted text."""
    try:
        with open(spec.path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return os.path.basename(spec.path)
    name = os.path.basename(spec.path)
    start = None
    for number, line in enumerate(lines, 1):
        if re.match(r"\s*packages\s*=", line):
            start = number
            break
    if start is None:
        return name
    wanted = spec.python.packages[index]
    for number in range(start, len(lines) + 1):
        if f'"{wanted}"' in lines[number - 1] or f"'{wanted}'" in lines[number - 1]:
            return f"{name}:{number}"
    return f"{name}:{start}"


def requirements_text(lines: tuple[PackageLine, ...], *, local: bool = True) -> str:
    """A requirements file holding `lines` verbatim (relative paths are resolved by pip against
    the working directory, which is the project root)."""
    out = []
    for line in lines:
        if line.kind in ("project", "group"):
            out += expand_line(line)
        elif local or not line.is_local_project:
            out.append(line.pip_text or line.text)
    return "".join(text + "\n" for text in out)


def inputs_digest(spec: Spec, lines: tuple[PackageLine, ...]) -> dict[str, str]:
    """sha256 of each thing a lock is made from; keys name the input (shown by `lock --check`).

    The inputs: `requires`; every line; each -r/-c file whole, and the files it names with
    `-r`/`-c` in turn (`requirement_files`); for `-r pyproject.toml[...]`
    and `--group`, the tables the line reads (`declared_parts`); for a local project, the
    parts of its pyproject.toml and setup.cfg a build can read (`build_inputs`,
    `setup_cfg_inputs`), its setup.py whole and the files setuptools reads its dependencies
    from (`dynamic_files`). Each part is hashed as canonical JSON (sorted keys, no spaces),
    so an edit elsewhere in the file, or to its comments or layout, leaves the lock current:
    editing `[tool.ruff]` never makes pylock.toml stale."""
    parts: dict[str, str] = {"requires": _sha(spec.python.requires.encode())}
    for line in lines:
        parts[f"line: {line.text}"] = _sha(line.text.encode())
        where = f"[python].packages entry {line.text!r}"
        if line.kind in ("requirements", "constraints"):
            for path in requirement_files(line.path, where):
                parts[f"file: {os.path.relpath(path, spec.root)}"] = _file_sha(path, where)
        elif line.kind in ("project", "group"):
            label = os.path.relpath(line.path, spec.root)
            for table, requirements in declared_parts(line, where=where).items():
                parts[f"{label} {table}"] = _json_sha(requirements)
        elif line.is_local_project:
            parts.update(_local_project_inputs(spec, line, where))
    return parts


def _local_project_inputs(spec: Spec, line: PackageLine, where: str) -> dict[str, str]:
    """`inputs_digest` of one local project: its metadata files, each by its parts."""
    parts: dict[str, str] = {}
    for filename in PROJECT_METADATA:
        path = os.path.join(line.path, filename)
        label = os.path.relpath(path, spec.root)
        # lexists, not isfile: a FIFO there is refused here, before pip would hang on it.
        if not os.path.lexists(path):
            continue
        if filename == "pyproject.toml":
            document = _read_pyproject(where, path)
            tables = build_inputs(document)
            for read in dynamic_files(line.path, document):
                parts[f"file: {os.path.relpath(read, spec.root)}"] = _file_sha(read, where)
        else:
            data = _read_local(path, where)
            sections = setup_cfg_inputs(data) if filename == "setup.cfg" and data is not None else None
            if sections is None:  # setup.py, or a setup.cfg configparser cannot read
                parts[f"file: {label}"] = "absent" if data is None else _sha(data)
                continue
            tables = sections
        parts.update({f"{label} {name}": _json_sha(value) for name, value in tables.items()})
    return parts


#: `[tool.X]` tables of tools that are not build backends or their plugins (linters, type
#: checkers, formatters, test runners, release tools): no build reads them, so they cannot
#: change a project's metadata or what is locked. Every other `[tool.X]` counts, since it
#: may be a backend's ([tool.setuptools], [tool.hatch], [tool.poetry], [tool.pdm],
#: [tool.flit], [tool.setuptools_scm], [tool.scikit-build], [tool.maturin]) or uv's
#: ([tool.uv].sources, which `uv pip` reads for a local project).
NOT_BUILD_TOOLS = frozenset(
    {
        "bandit",
        "basedpyright",
        "black",
        "bumpversion",
        "codespell",
        "commitizen",
        "coverage",
        "deptry",
        "django-stubs",
        "docformatter",
        "flake8",
        "interrogate",
        "isort",
        "mypy",
        "pep8",
        "pycodestyle",
        "pydocstyle",
        "pylint",
        "pyright",
        "pytest",
        "ruff",
        "semantic_release",
        "towncrier",
        "tox",
        "typos",
        "vulture",
        "yapf",
    }
)


def build_inputs(document: dict[str, Any]) -> dict[str, Any]:
    """The parts of a local project's pyproject.toml that a build (and so the resolver, and
    the installed project) can depend on, by name: each `[project].KEY`, `[build-system]`,
    each `[tool.X]` but those of NOT_BUILD_TOOLS, and any other top-level table. Left out:
    `[dependency-groups]` (PEP 735: never part of a build's metadata; a `--group` line hashes
    the group it reads) and the NOT_BUILD_TOOLS tables."""
    parts: dict[str, Any] = {}
    for table, value in document.items():
        if table == "dependency-groups":
            continue
        if table == "project" and isinstance(value, dict):
            parts.update({f"[project].{key}": item for key, item in value.items()})
        elif table == "tool" and isinstance(value, dict):
            parts.update(
                {f"[tool.{name}]": item for name, item in value.items() if name not in NOT_BUILD_TOOLS}
            )
        else:
            parts[f"[{table}]"] = value
    return parts


def setup_cfg_inputs(data: bytes) -> dict[str, Any] | None:
    """The sections of a local project's setup.cfg that a build can read, by name (`[metadata]`,
    `[options]`, `[options.extras_require]`, `[egg_info]`...): every one but those of
    NOT_BUILD_TOOLS (`[flake8]`, `[tool:pytest]`, `[mypy-foo.*]`, `[coverage:run]`). None when
    configparser cannot read it: then the whole file is the input."""
    import configparser

    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(data.decode("utf-8"))
    except (UnicodeDecodeError, configparser.Error):
        return None
    sections: dict[str, Any] = {}
    for name in parser.sections():
        tool = re.split(r"[:.\-]", name.removeprefix("tool:"), maxsplit=1)[0]
        if tool not in NOT_BUILD_TOOLS:
            sections[f"[{name}]"] = dict(parser.items(name))
    return sections


def dynamic_files(folder: str, document: dict[str, Any]) -> list[str]:
    """The files setuptools reads a local project's dependencies, extras or version from
    (`[tool.setuptools.dynamic] dependencies = {file = ["requirements.in"]}`): inputs of the
    lock as much as pyproject.toml. A readme or description file cannot change what is
    locked, and an `attr` names code, which is not hashed."""
    tool = document.get("tool")
    setuptools = tool.get("setuptools") if isinstance(tool, dict) else None
    dynamic = setuptools.get("dynamic") if isinstance(setuptools, dict) else None
    if not isinstance(dynamic, dict):
        return []
    extras = dynamic.get("optional-dependencies")
    entries = [dynamic.get("dependencies"), dynamic.get("version")]
    entries += list(extras.values()) if isinstance(extras, dict) else []
    found = []
    for entry in entries:
        names = entry.get("file", []) if isinstance(entry, dict) else []
        for name in [names] if isinstance(names, str) else names if isinstance(names, list) else []:
            if isinstance(name, str):
                found.append(os.path.normpath(os.path.join(folder, name)))
    return found


def read_elsewhere(lines: tuple[PackageLine, ...]) -> list[str]:
    """The names of the local projects whose dependencies are read from files besides
    pyproject.toml, setup.py and setup.cfg (`dynamic_files`). uv serves a directory's metadata
    from its cache until one of those three changes (its default `cache-keys`), so a lock
    made after an edit of requirements.in alone would keep the old dependencies: uv is told
    to refresh these (`--refresh-package`)."""
    names = []
    for line in lines:
        pyproject = os.path.join(line.path, "pyproject.toml")
        if not line.is_local_project or not os.path.isfile(pyproject):
            continue
        document = _read_pyproject(line.text, pyproject)
        project = document.get("project")
        name = project.get("name") if isinstance(project, dict) else None
        if isinstance(name, str) and dynamic_files(line.path, document):
            names.append(name)
    return names


def metadata_files(spec: Spec, lines: tuple[PackageLine, ...]) -> list[str]:
    """Absolute paths of the files `inputs_digest` hashes (for the no-op sync's stat check)."""
    files = []
    for line in lines:
        if line.kind in ("requirements", "constraints"):
            try:
                files += requirement_files(line.path, line.text)
            except SpecError:  # one it names is not a regular file: the sync reports it
                files.append(line.path)
        elif line.kind in ("project", "group"):
            files.append(line.path)
        elif line.is_local_project:
            files += [os.path.join(line.path, filename) for filename in PROJECT_METADATA]
            pyproject = os.path.join(line.path, "pyproject.toml")
            if os.path.isfile(pyproject):
                with contextlib.suppress(SpecError):  # the sync that calls this has read it
                    files += dynamic_files(line.path, _read_pyproject(line.text, pyproject))
    return files


#: A `-r FILE` / `-c FILE` line inside a requirements file (pip's and uv's syntax: the short
#: option may touch its value, the long one takes a space or `=`).
_NESTED = re.compile(r"(?:-r|-c|--requirement(?=[\s=])|--constraint(?=[\s=]))\s*=?\s*(\S+)")


def nested_references(text: str) -> list[str]:
    """The files a requirements file's text names with `-r`/`-c`, as written. pip's reading:
    a line ending in a backslash continues on the next, and `#` at the start or after a
    space begins a comment. A URL (`-r https://...`) names no file of the project."""
    joined = re.sub(r"\\\r?\n", "", text)
    found = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*", "", raw).strip()
        match = _NESTED.fullmatch(line)
        if match and "://" not in match.group(1):
            found.append(match.group(1))
    return found


def requirement_files(path: str, where: str) -> list[str]:
    """`path` and every file it names with `-r`/`-c`, and those they name (relative to the
    file naming them, as pip and uv read them), each once: a change to any of them changes
    what is installed. A file that is absent is listed (the installer will fail on it)."""
    found = [path]
    for current in found:
        data = _read_local(current, where)
        text = data.decode("utf-8", "replace") if data is not None else ""
        for name in nested_references(text):
            nested = os.path.normpath(os.path.join(os.path.dirname(current), name))
            if nested not in found:
                found.append(nested)
    return found


def _sha(data: bytes) -> str:
    return digest.sha256(data).hexdigest()


def _json_sha(value: Any) -> str:
    """sha256 of a TOML value's canonical JSON (a TOML date or time as its ISO text)."""
    return _sha(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    )


def _file_sha(path: str, where: str) -> str:
    data = _read_local(path, where)
    return "absent" if data is None else _sha(data)
