"""Fuzzed envspec.toml and dotenv files: real seeds mutated at random, run, and classified.

Shared by the fuzz test (tests/integration/test_fuzz_inputs.py) and the harness that gives
the figures (benchmarks/fuzz_inputs.py). Every outcome is one of: accepted, a clean error
(exit 2) whose message names the file and a line in it, or a finding: a traceback, an error
naming no file, or one naming the file but no line.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.support.projects import DEFAULT_DOTENV, DEFAULT_SPEC

Which = Literal["envspec.toml", ".env.defaults"]

#: The seed spec: every table devenv reads, so mutations reach every check.
SPEC_TAIL = """
[services.mq]
check = "amqp"
url = "amqp://guest:guest@127.0.0.1:5672/%2F"

[processes.worker]
command = ["python", "-m", "worker", "${SERVICE}"]
needs = ["mq"]
ready = { log = "^ready" }
stop_timeout = 5
"""

#: What mutations insert: the characters and fragments that mean something to TOML, to
#: dotenv files, or to devenv's interpolation.
FRAGMENTS = (
    "[", "]", "{", "}", '"', "'", "=", "$", "${", "${X:-${Y}}", "\n", "#", ":", "-", "\\", ",",
    "\ufeff", "\t", " ", "x", "1", "true", "export ", "[[", "]]", ".", "\r", "PATH=", "BASH_ENV=/x",
)  # fmt: skip

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "envcorpus" / "files"


@dataclass(frozen=True)
class Case:
    """One fuzzed input: which file, and its text."""

    which: Which
    text: str


@dataclass(frozen=True)
class Outcome:
    """What devenv made of a case: `kind` is ok, clean, traceback, no-file or no-line."""

    kind: Literal["ok", "clean", "traceback", "no-file", "no-line"]
    message: str


def seeds(venv: str) -> dict[Which, list[str]]:
    dotenvs = [DEFAULT_DOTENV]
    if CORPUS.is_dir():
        dotenvs += [
            path.read_text(encoding="utf-8", errors="replace") for path in sorted(CORPUS.glob("*.env"))[:12]
        ]
    return {"envspec.toml": [DEFAULT_SPEC.format(venv=venv) + SPEC_TAIL], ".env.defaults": dotenvs}


def mutate(text: str, rng: random.Random) -> str:
    """One to three random edits of `text`: insert, delete, duplicate or swap lines, nest deep."""
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        position = rng.randint(0, len(text))
        if choice < 0.45:
            text = text[:position] + rng.choice(FRAGMENTS) + text[position:]
        elif choice < 0.65 and text:
            end = min(len(text), position + rng.randint(1, 8))
            text = text[:position] + text[end:]
        elif choice < 0.8:
            lines = text.splitlines(keepends=True)
            if lines:
                line = rng.choice(lines)
                text = text + line if rng.random() < 0.5 else line + text
        elif choice < 0.92:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                a, b = rng.sample(range(len(lines)), 2)
                lines[a], lines[b] = lines[b], lines[a]
                text = "".join(lines)
        else:
            depth = rng.choice((5, 120, 600))
            opener = rng.choice(("[", "{a="))
            closer = "]" if opener == "[" else "}"
            text = text[:position] + opener * depth + closer * depth + text[position:]
    return text


def cases(venv: str, count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    sources = seeds(venv)
    found = []
    for _ in range(count):
        which: Which = rng.choice(("envspec.toml", ".env.defaults"))
        found.append(Case(which, mutate(rng.choice(sources[which]), rng)))
    return found


_LINE = re.compile(r"(envspec\.toml|\.env[\w.]*):(\d+)")


def classify(code: int, stderr: str, which: Which) -> Outcome:
    """The outcome of a devenv command given its exit code and stderr."""
    if "Traceback" in stderr or (code not in (0, 1, 2) and code != 127):
        return Outcome("traceback", stderr[-400:])
    if code == 0:
        return Outcome("ok", "")
    message = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if code != 2:
        return Outcome("clean", message)  # exit 1: "out of sync", not an input error
    names = ("envspec.toml", ".env.defaults", ".env")
    if not any(name in message for name in names):
        return Outcome("no-file", message)
    if not _LINE.search(message):
        return Outcome("no-line", message)
    return Outcome("clean", message)
