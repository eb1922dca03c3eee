"""dotenv renderer: one dialect that python-dotenv, npm dotenv, VS Code and direnv read alike.

Four programs read `.devenv/env.dotenv`, each with its own parser, and no single quoting is
read the same way by all of them (tests/integration/test_dotenv_consumers.py runs or ports
each one):

- python-dotenv (`load_dotenv`, `dotenv run`) reads files with universal newlines (a CR
  becomes a LF), decodes `\\\\` and `\\'` inside single quotes and every C escape inside double
  quotes, cuts an unquoted value at ` #`, and expands `${NAME}` in every value.
- npm `dotenv` turns every CR into LF before parsing, decodes nothing inside single quotes
  and only `\\n` and `\\r` inside double quotes, and cuts an unquoted value at `#`.
- VS Code's envFile parser (vscode-python `src/client/common/variables/environment.ts`)
  splits lines at LF and drops a line whose value holds a CR, U+2028 or U+2029, turns `\\n`
  into a line feed inside either quote, expands `${NAME}` and turns `\\$` into `$`; a name
  must start with a letter after any underscores.
- direnv's `dotenv` expands `$NAME` in unquoted and double-quoted values and drops the
  backslash of every escape inside double quotes; an unquoted value stops at whitespace or
  `#`.

So each value is written in the first of three forms that all four read back unchanged,
`'value'`, `"value"` (only a line feed escaped, as `\\n`) or bare, and a value none of them
can carry is an error naming the key and the program that would misread it: the README
promises that a value a format cannot carry is refused, never changed.
"""

from __future__ import annotations

import os

from devenv.environment import exported
from devenv.errors import RenderError
from devenv.renderers import HEADER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.environment import CanonicalEnv


PYTHON_DOTENV = "python-dotenv"
NPM_DOTENV = "npm dotenv"
VSCODE = "VS Code's envFile parser"
DIRENV = "direnv's dotenv"

# JavaScript's `.` stops at these (and `\s` trims them), so VS Code drops such a line.
_JS_LINE_BREAKS = ("\u2028", "\u2029")
# JavaScript's `\s` beyond Python's str.isspace(): npm dotenv and VS Code trim them.
_JS_SPACE = "\ufeff"
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
#: A value without any of these is written `'value'` (`render`).
_NEEDS_CARE = ("'", "\\", "$", "\n", "\r", "\u2028", "\u2029")


def python_dotenv_quote(value: str) -> str:
    """`value` single-quoted as python-dotenv alone reads it (`\\\\` and `\\'` decoded)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _expands(value: str) -> bool:
    """True when python-dotenv or VS Code would expand a `${...}` in `value`."""
    start = value.find("${")
    return start >= 0 and "}" in value[start:]


def _single(value: str) -> str | None:
    """`'value'`, if every reader keeps it as it is."""
    if "'" in value or "\n" in value or value.endswith("\\"):
        return None
    # python-dotenv decodes \\ and \' inside single quotes, VS Code \n and \$; npm and direnv
    # decode nothing: a backslash before any of those would be read two ways.
    for pair in ("\\\\", "\\'", "\\n", "\\$"):
        if pair in value:
            return None
    return "'" + value + "'"


def _double(value: str) -> str | None:
    """`"value"` with line feeds as `\\n`, if every reader decodes exactly that."""
    if '"' in value or "\\" in value or "$" in value:
        return None
    return '"' + value.replace("\n", "\\n") + '"'


def _bare(value: str) -> str | None:
    """The value unquoted, if no reader cuts, trims or expands it."""
    if not value or value[0] in "'\"`" or "#" in value or "$" in value or "\n" in value:
        return None
    if any(char.isspace() or char == _JS_SPACE for char in value):
        return None
    return value


def refusal(key: str, value: str) -> str | None:
    """Why `key=value` cannot be written so that all four readers agree, naming the reader
    that would misread it; None when it can."""
    if key[0] == "_" and not _ASCII_LETTERS.intersection(key.lstrip("_")[:1]):
        return f"its name starts with _ and no letter follows, which {VSCODE} skips"
    if "\r" in value:
        return (
            f"its value contains a carriage return, which {PYTHON_DOTENV} and {NPM_DOTENV}"
            " read as a line feed"
        )
    if any(mark in value for mark in _JS_LINE_BREAKS):
        return f"its value contains U+2028 or U+2029, which {VSCODE} drops the line for"
    if _expands(value):
        return f"its value contains ${{...}}, which {PYTHON_DOTENV} and {VSCODE} expand"
    if encode(value) is not None:
        return None
    if "\n" in value:
        if "$" in value:
            return (
                f"its value has a line feed and a $, which {DIRENV} expands in the only quoting"
                " that carries both"
            )
        return (
            f"its value has a line feed and a backslash or double quote, which {NPM_DOTENV} reads"
            " differently from the others in the only quoting that carries a line feed"
        )
    return (
        f"its value mixes quotes, backslashes, $, # or spaces in a way {NPM_DOTENV} reads differently from"
        f" {PYTHON_DOTENV} in every quoting"
    )


def encode(value: str) -> str | None:
    """`value` in the first form all four readers read back unchanged, or None."""
    if "\r" in value or any(mark in value for mark in _JS_LINE_BREAKS) or _expands(value):
        return None
    return _single(value) or _double(value) or _bare(value)


def _needs_care(text: str) -> bool:
    return any(mark in text for mark in _NEEDS_CARE)  # seven scans in C, no regex to compile


def render(env: CanonicalEnv, base_path: str | None, *, leave_out: bool = False) -> str:
    """One line per key; PATH only when `base_path` is known (unset keys cannot be written).

    A value no form carries is an error naming the key, or with `leave_out` (the pre-rendered
    env.dotenv, which `devenv sync` must still write) a comment saying it was left out.
    """
    lines = [HEADER]
    if base_path is None:
        variables = env.variables
        if env.path_prefix:
            folders = os.pathsep.join(env.path_prefix)
            if "\n" in folders or "\r" in folders:  # would end the comment line early
                folders = f"{len(env.path_prefix)} folder(s), see env.json"
            lines.append(f"# PATH is not set here: devenv puts these folders first: {folders}")
    else:
        variables = exported(env, base_path)
    if not _needs_care("".join(variables.values())) and "_" not in {key[0] for key in variables}:
        # No value needing care and no name VS Code skips (the common case): each is
        # written 'value', as below, without a check of each one.
        lines += [f"{key}='{value}'" for key, value in variables.items()]
        return "\n".join(lines) + "\n"
    for key, value in variables.items():
        if not _needs_care(value) and key[0] != "_":
            # No quote, backslash, $, line break or U+2028/9: every reader keeps it
            # single-quoted (what `encode` would say, without its ten checks).
            lines.append(f"{key}='{value}'")
            continue
        encoded = encode(value)
        problem = None if encoded is not None and key[0] != "_" else refusal(key, value)
        if problem is None:
            lines.append(f"{key}={encoded}")
        elif leave_out:
            lines.append(f"# {key} is left out: {problem}; use devenv run or --format json")
        else:
            raise RenderError(
                f"devenv cannot write {key} in dotenv format: {problem}; use --format json or devenv run"
            )
    return "\n".join(lines) + "\n"
