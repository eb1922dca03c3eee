"""A port of the GitHub Actions runner's `$GITHUB_ENV` file parser, for round-trip tests."""

from __future__ import annotations

# Ported from actions/runner src/Runner.Worker/FileCommandManager.cs, class SetEnvFileCommand
# (ProcessCommand and ReadLine), as stored at commit 03182cf8614e959123a3c29dc3719f0afb944254.
# `windows=True` follows the `#if OS_WINDOWS` branch of ReadLine, which also ends lines at CRLF.
# The block list is SetEnvFileCommand's `_setEnvBlockList` and the loop in its ProcessCommand
# as of commit 258d6c857db3519913f7deb6004b60172f8043ae: a blocked name (compared with
# OrdinalIgnoreCase) is not set, and the step gets an error issue.

BLOCKED = ("NODE_OPTIONS",)


def _read_line(text: str, index: int, windows: bool) -> tuple[str | None, int, str | None]:
    """ReadLine: (line, next index, newline that ended it)."""
    if index >= len(text):
        return None, index, None
    lf = text.find("\n", index)
    if lf < 0:
        return text[index:], len(text), None
    if windows:
        crlf = text.find("\r\n", index)
        if 0 <= crlf < lf:
            return text[index:crlf], crlf + 2, "\r\n"
    return text[index:lf], lf + 1, "\n"


def parse(text: str, *, windows: bool = False, issues: list[str] | None = None) -> dict[str, str]:
    """What the runner sets from a `$GITHUB_ENV` file's `text`; raises ValueError like it throws.
    The error issues a blocked name raises are appended to `issues`."""
    result: dict[str, str] = {}
    pairs = _pairs(text, windows)
    for name, value in pairs.items():
        blocked = [word for word in BLOCKED if word.upper() == name.upper()]
        if blocked:
            if issues is not None:
                issues.append(f"Can't store {blocked[0]} output parameter using '$GITHUB_ENV' command.")
            continue
        result[name] = value
    return result


def _pairs(text: str, windows: bool) -> dict[str, str]:
    """EnvFileKeyValuePairs: every NAME=VALUE and heredoc entry, in order."""
    result: dict[str, str] = {}
    line, index, _ = _read_line(text, 0, windows)
    while line is not None:
        if line:
            equals = line.find("=")
            heredoc = line.find("<<")
            if equals >= 0 and (heredoc < 0 or equals < heredoc):
                name, value = line.split("=", 1)
                result[name] = value
            elif heredoc >= 0 and (equals < 0 or heredoc < equals):
                name, delimiter = line.split("<<", 1)
                if not name or not delimiter:
                    raise ValueError(f"Invalid environment variable format '{line}'")
                start = end = index
                temp, index, newline = _read_line(text, index, windows)
                while temp != delimiter:
                    if temp is None:
                        raise ValueError(f"Matching delimiter not found '{delimiter}'")
                    end = index - len(newline or "")
                    temp, index, newline = _read_line(text, index, windows)
                result[name] = text[start:end] if end > start else ""
            else:
                raise ValueError(f"Invalid environment variable format '{line}'")
        line, index, _ = _read_line(text, index, windows)
    return result
