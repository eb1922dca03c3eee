"""A second package index for the tests: real wheels and sdists made here, served as a PEP 503
simple index by `python -m http.server` on loopback.

This file is also the in-tree PEP 517 build backend of every sdist it makes (copied into the
sdist as `tiny_backend.py`), so an installer really builds that package from source, without
setuptools or any download. Standard library only, for that reason.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import TracebackType

#: Fixed timestamps: the same package makes the same bytes (and sha256) on every run.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module(name: str) -> str:
    return _normal(name).replace("-", "_")


def write_wheel(folder: Path, name: str, version: str, requires: list[str], files: dict[str, str]) -> str:
    """A py3-none-any wheel of `files` (path in the wheel -> text) in `folder`; its file name."""
    stem = f"{_module(name)}-{version}"
    info = f"{stem}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    contents = dict(files)
    contents[f"{info}/METADATA"] = metadata
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tiny_index\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}\n")
    contents[f"{info}/RECORD"] = "".join(record) + f"{info}/RECORD,,\n"
    filename = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(folder / filename, "w") as archive:
        for path, text in contents.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=_EPOCH), text)
    return filename


def write_sdist(folder: Path, name: str, version: str, requires: list[str], module_text: str) -> str:
    """An sdist whose build backend is this file; its file name."""
    stem = f"{_module(name)}-{version}"
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "tiny_backend"\nbackend-path = ["."]\n\n'
        f"[project]\nname = {name!r}\nversion = {version!r}\ndependencies = {requires!r}\n"
    )
    files = {
        "pyproject.toml": pyproject,
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "tiny_backend.py": Path(__file__).read_text(),
        f"{_module(name)}/__init__.py": module_text,
    }
    filename = f"{stem}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f"{stem}/{path}")
            member.size, member.mtime = len(data), 315532800
            archive.addfile(member, io.BytesIO(data))
    (folder / filename).write_bytes(buffer.getvalue())
    return filename


# -- the PEP 517 hook of the sdists above (run by the installer in the unpacked sdist) --------


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, object] | None = None,
    metadata_directory: str | None = None,
) -> str:
    import tomllib

    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    module = _module(project["name"])
    files = {f"{module}/__init__.py": Path(module, "__init__.py").read_text()}
    requires = list(project.get("dependencies", []))
    return write_wheel(Path(wheel_directory), project["name"], project["version"], requires, files)


# -- the index -------------------------------------------------------------------------------


class LocalIndex:
    """`root/simple/NAME/index.html` for every package file added (with its sha256), served on
    a free loopback port while the `with` block runs. `requests()` is what was fetched."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.links: dict[str, list[str]] = {}
        self.url = ""
        self._server: subprocess.Popen[str] | None = None
        self._log = root / "server.log"

    def add(self, name: str, filename: str) -> None:
        digest = hashlib.sha256((self.files / filename).read_bytes()).hexdigest()
        self.links.setdefault(_normal(name), []).append(
            f'<a href="../../files/{filename}#sha256={digest}">{filename}</a>'
        )
        for project, links in self.links.items():
            page = self.root / "simple" / project / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text("<!DOCTYPE html><html><body>\n" + "<br>\n".join(links) + "\n</body></html>\n")

    def requests(self) -> str:
        return self._log.read_text() if self._log.exists() else ""

    def __enter__(self) -> LocalIndex:
        log = open(self._log, "w")
        self._server = subprocess.Popen(
            [
                sys.executable,
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.root),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        assert self._server.stdout is not None
        line = self._server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (...)"
        port = re.search(r"port (\d+)", line)
        assert port, f"http.server did not start: {line!r}"
        self.url = f"http://127.0.0.1:{port.group(1)}/simple/"
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=10)
            if self._server.stdout is not None:
                self._server.stdout.close()
