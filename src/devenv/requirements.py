"""`[python].packages` lines: pip requirement lines, checked with `packaging`, handed to pip whole.

A line is never split on spaces: `six >= 1.16`, `iniconfig ; python_version >= '3.8'` and
`mypkg @ file:///a path with spaces/mypkg` are single requirements, as in a requirements file.
Each line is checked before pip runs, so a typo is an error naming its envspec.toml line
instead of pip's "Invalid requirement: '@'" after a venv was built.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from devenv.errors import SpecError
from devenv.spec import Spec

__all__ = [
    "PROJECT_METADATA",
    "LineKind",
    "PackageLine",
    "inputs_digest",
    "metadata_files",
    "parse_packages",
    "requirements_text",
]


LineKind: TypeAlias = Literal["requirement", "editable", "local", "requirements", "constraints"]

#: Files whose content decides a local project's dependencies (and so the lock).
PROJECT_METADATA = ("pyproject.toml", "setup.cfg", "setup.py")

_OPTION = re.compile(r"(-e|--editable|-r|--requirement|-c|--constraint)(?:\s+|=)(\S.*)\Z")


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
    #: For a local project: its absolute folder; for -r / -c: the absolute file.
    path: str = ""

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
            return PackageLine(
                index=index, text=text, pip_text=f"-e {shlex.quote(folder)}", kind="editable", path=folder
            )
        path = os.path.normpath(os.path.join(spec.root, value))
        if not os.path.isfile(path):
            raise SpecError(f"{where}: {flag} names {value}, which is not a file under {spec.root}")
        kind: LineKind = "requirements" if flag in ("-r", "--requirement") else "constraints"
        pip_flag = "-r" if kind == "requirements" else "-c"
        return PackageLine(
            index=index, text=text, pip_text=f"{pip_flag} {shlex.quote(path)}", kind=kind, path=path
        )
    if text.startswith("-"):
        raise SpecError(
            f"{where}: only -e PATH, -r FILE and -c FILE are accepted as options here; "
            "put pip options such as index URLs in pip's own configuration"
        )
    if text.startswith((".", "/")):
        folder = os.path.normpath(os.path.join(spec.root, text))
        _require_project(where, folder)
        return PackageLine(index=index, text=text, pip_text=folder, kind="local", path=folder)
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pip_text = _quote_file_url(text)
    try:
        requirement = Requirement(pip_text)
    except InvalidRequirement as exc:
        # packaging's message quotes the offending part of the line, which is the user's own
        # spec text (never a secret); keep only its first line.
        reason = str(exc).splitlines()[0]
        raise SpecError(f'{where}: is not a valid requirement ({reason}); write e.g. "name>=1.0"') from None
    folder = ""
    if requirement.url:
        parts = urlsplit(requirement.url)
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
        name=canonicalize_name(requirement.name),
        path=folder,
    )


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
        return os.path.normpath(unquote(urlsplit(value).path))
    if "://" in value or value.startswith(("git+", "hg+", "svn+", "bzr+")):
        return None
    return os.path.normpath(os.path.join(root, value))


def _require_project(where: str, folder: str) -> None:
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
    chosen = [line for line in lines if local or not line.is_local_project]
    return "".join((line.pip_text or line.text) + "\n" for line in chosen)


def inputs_digest(spec: Spec, lines: tuple[PackageLine, ...]) -> dict[str, str]:
    """sha256 of each thing a lock is made from: `requires`, every line, the metadata of each
    local project and each -r/-c file. Keys name the input (shown by `lock --check`)."""
    parts: dict[str, str] = {"requires": _sha(spec.python.requires.encode())}
    for line in lines:
        parts[f"line: {line.text}"] = _sha(line.text.encode())
        if line.kind in ("requirements", "constraints"):
            parts[f"file: {os.path.relpath(line.path, spec.root)}"] = _file_sha(line.path)
        elif line.is_local_project:
            for filename in PROJECT_METADATA:
                path = os.path.join(line.path, filename)
                if os.path.isfile(path):
                    parts[f"file: {os.path.relpath(path, spec.root)}"] = _file_sha(path)
    return parts


def metadata_files(spec: Spec, lines: tuple[PackageLine, ...]) -> list[str]:
    """Absolute paths of the files `inputs_digest` hashes (for the no-op sync's stat check)."""
    files = []
    for line in lines:
        if line.kind in ("requirements", "constraints"):
            files.append(line.path)
        elif line.is_local_project:
            files += [os.path.join(line.path, filename) for filename in PROJECT_METADATA]
    return files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return _sha(handle.read())
    except OSError:
        return "absent"
