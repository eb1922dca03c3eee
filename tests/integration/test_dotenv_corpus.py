"""Real projects' dotenv files, read by devenv and by python-dotenv: the same keys, values and lines.

The files live in the team's shared data (`../shared/data/envcorpus/` beside the clone), exactly
as 42 public projects store them; they are not copied into this repository. Without that
folder the test skips, except under CI, which always has it.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from devenv.dotenvfile import DotenvEntry, read_dotenv
from devenv.errors import DotenvError
from devenv.resolver import DotenvSource, resolve
from devenv.spec import parse_spec

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "envcorpus"

#: An assignment at the start of a line, as a person reading the file sees one.
_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")


def _corpus_files() -> list[str]:
    folder = CORPUS / "files"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _require_corpus() -> None:
    if not (CORPUS / "files").is_dir():
        message = f"the dotenv corpus is not at {CORPUS}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI has ../shared beside the clone)")
        pytest.skip(message)


def _python_dotenv(path: Path, *, interpolate: bool) -> dict[str, str | None]:
    from dotenv import dotenv_values

    # python-dotenv interpolates from os.environ too; compare against the file alone.
    with mock.patch.dict(os.environ, clear=True):
        return dict(dotenv_values(path, interpolate=interpolate))


def _unparseable_lines(text: str) -> list[int]:
    """The lines python-dotenv warns it cannot parse, each moved past the blank lines it counts in."""
    from dotenv.parser import parse_stream

    lines = text.splitlines()
    found = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.line
            while not lines[line - 1].strip():
                line += 1
            found.append(line)
    return found


def _assignment_lines(text: str) -> dict[str, int]:
    """Each key and the last line that assigns it, read line by line."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _ASSIGNMENT.match(line)
        if match:
            lines[match.group(1)] = number
    return lines


def _resolved(name: str, entries: tuple[DotenvEntry, ...]) -> dict[str, str]:
    spec = parse_spec(f'[dotenv]\nfiles = ["{name}"]\n'.encode(), path="/p/envspec.toml", root="/p")
    resolution = resolve(spec, dotenv=[DotenvSource(name=name, entries=entries)], outer={})
    return {variable.key: variable.value for variable in resolution.variables if variable.source != "managed"}


def test_the_corpus_is_complete() -> None:
    _require_corpus()
    manifest = (CORPUS / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert sorted(f"{row.split(chr(9))[0]}.env" for row in manifest if row) == _corpus_files()
    assert len(_corpus_files()) >= 40


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, int]]:
    """Figures for the report: printed at the end of the module (`pytest -s`)."""
    counts = {"files": 0, "keys compared": 0, "refused (python-dotenv cannot parse them either)": 0}
    yield counts
    if counts["files"]:
        print("\nenvcorpus:", ", ".join(f"{value} {name}" for name, value in counts.items()))


@pytest.mark.parametrize("name", _corpus_files() or ["(corpus missing)"])
def test_a_real_dotenv_file_reads_as_python_dotenv_reads_it(name: str, tally: dict[str, int]) -> None:
    _require_corpus()
    path = CORPUS / "files" / name
    text = path.read_text(encoding="utf-8")
    tally["files"] += 1

    broken = _unparseable_lines(text)
    if broken:
        # python-dotenv skips such a line with a warning; devenv refuses it, at its real line.
        with pytest.raises(DotenvError) as error:
            read_dotenv(str(path), name=name)
        assert str(error.value).startswith(f"{name}:{broken[0]}: "), str(error.value)
        tally["refused (python-dotenv cannot parse them either)"] += 1
        return

    entries = read_dotenv(str(path), name=name)  # no false rejection
    expected = _python_dotenv(path, interpolate=False)
    assert {entry.key: entry.value for entry in entries} == expected
    assert {entry.key: entry.line for entry in entries} == _assignment_lines(text)
    tally["keys compared"] += len(expected)

    # Interpolation, as the README documents it: like python-dotenv's for ${NAME} defined
    # earlier, but never inside single quotes.
    interpolated = _python_dotenv(path, interpolate=True)
    last = {entry.key: entry for entry in entries}
    for key, entry in last.items():
        if entry.literal:
            interpolated[key] = entry.value
    assert _resolved(name, entries) == interpolated
