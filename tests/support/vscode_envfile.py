"""A port of VS Code's envFile parser (the Python extension's `python.envFile`), for tests.

Ported from microsoft/vscode-python src/client/common/variables/environment.ts (parseEnvFile,
parseEnvLine and substituteEnvVars), as stored at commit
757def8f844b2241f041c1d74435740fa621a8c5. JavaScript's regular expressions differ from
Python's, so the classes are spelled out: JS `\\s` includes U+FEFF and the Unicode spaces,
JS `.` stops only at LF, CR, U+2028 and U+2029, JS `\\w` is ASCII, and `$` without the m
flag matches only at the very end.
"""

from __future__ import annotations

import re

_JS_SPACE = "[\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
_JS_DOT = "[^\\n\\r\\u2028\\u2029]"
_JS_WORD = "[A-Za-z0-9_]"

# /^\s*(_*[a-zA-Z]\w*)\s*=\s*(.*?)?\s*$/
_LINE = re.compile(
    f"^{_JS_SPACE}*(_*[a-zA-Z]{_JS_WORD}*){_JS_SPACE}*={_JS_SPACE}*({_JS_DOT}*?)?{_JS_SPACE}*\\Z"
)
# /\${([a-zA-Z]\w*)?([^}\w].*)?}/g
_SUBST = re.compile(f"\\$\\{{([a-zA-Z]{_JS_WORD}*)?([^}}A-Za-z0-9_]{_JS_DOT}*)?\\}}")


def _parse_line(line: str) -> tuple[str, str]:
    match = _LINE.match(line)
    if not match:
        return "", ""
    name = match.group(1)
    value = match.group(2)
    if value:
        # parseEnvLine: the same two branches for ' and ". JavaScript's substring(1, 0) swaps
        # its arguments, so a lone quote stays as it is.
        if value[0] == value[-1] and value[0] in "'\"":
            value = (value[1:-1] if len(value) > 1 else value).replace("\\n", "\n")
    else:
        value = ""
    return name, value


def _substitute(value: str, local: dict[str, str], base: dict[str, str], missing: str = "") -> str:
    invalid = False

    def replace(match: re.Match[str]) -> str:
        nonlocal invalid
        offset = match.start()
        if offset > 0 and value[offset - 1] == "\\":
            return match.group(0)
        name, bogus = match.group(1), match.group(2)
        if bogus or not name:
            invalid = True
            return match.group(0)
        return local.get(name) or base.get(name) or missing

    replacement = _SUBST.sub(replace, value)
    if not invalid and replacement != value:
        value = replacement
    return value.replace("\\$", "$")


def parse(text: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """What VS Code's Python extension reads from an envFile holding `text`."""
    result: dict[str, str] = {}
    for line in text.split("\n"):
        name, value = _parse_line(line)
        if name == "":
            continue
        result[name] = _substitute(value, result, base or {})
    return result
