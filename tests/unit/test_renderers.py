"""Exact output, refusals and start-up cost of `devenv.renderers`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devenv.errors import RenderError
from devenv.renderers import FORMATS, HEADER, REGISTRY, canonical_name, render
from tests.support.canonical import make_env
from tests.support.github_env import parse as parse_github_env

SECRET = "hunter2-do-not-print"


SMALL = make_env(
    {"GREETING": "it's", "APP_HOME": "/proj/a b"},
    path_prefix=("/proj/.venv/bin",),
    unset=("OLD",),
)


def test_sh_exact_text() -> None:
    assert render("sh", SMALL) == (
        f"{HEADER}\n"
        "unset -v OLD\n"
        "export APP_HOME='/proj/a b'\n"
        "export GREETING='it'\\''s'\n"
        "_devenv_path='/proj/.venv/bin'\n"
        '_devenv_rest="${PATH-}:"\n'
        'while [ -n "$_devenv_rest" ]; do\n'
        '    _devenv_entry="${_devenv_rest%%:*}"\n'
        '    _devenv_rest="${_devenv_rest#*:}"\n'
        '    case "$_devenv_entry" in\n'
        "        ''|'/proj/.venv/bin') ;;\n"
        '        *) _devenv_path="$_devenv_path:$_devenv_entry" ;;\n'
        "    esac\n"
        "done\n"
        'export PATH="$_devenv_path"\n'
        "unset -v _devenv_path _devenv_rest _devenv_entry\n"
    )


@pytest.mark.parametrize("fmt", ["bash", "zsh"])
def test_bash_and_zsh_are_the_posix_text(fmt: str) -> None:
    assert render(fmt, SMALL) == render("sh", SMALL)


def test_sh_without_prefix_has_no_path_code() -> None:
    env = make_env({"A": "x\ny", "B": ""})
    assert render("sh", env) == f"{HEADER}\nexport A='x\ny'\nexport B=''\n"


def test_fish_exact_text() -> None:
    env = make_env({"WIN": "C:\\new\\t", "Q": "it's"}, path_prefix=("/v/bin", "/o p"), unset=("OLD",))
    assert render("fish", env) == (
        f"{HEADER}\n"
        "set -e OLD\n"
        "set -gx Q 'it\\'s'\n"
        "set -gx WIN 'C:\\\\new\\\\t'\n"
        "set -l _devenv_prefix '/v/bin' '/o p'\n"
        "set -l _devenv_path $_devenv_prefix\n"
        "for _devenv_entry in $PATH\n"
        "    contains -- $_devenv_entry $_devenv_prefix '' .\n"
        "    or set -a _devenv_path $_devenv_entry\n"
        "end\n"
        "set -gx PATH $_devenv_path\n"
        "set -e _devenv_prefix _devenv_path _devenv_entry\n"
    )


def test_powershell_doubles_every_single_quote_character() -> None:
    env = make_env({"Q": "it's Bob’s ‘a’ ‚b‛", "E": "$env:HOME `n"}, unset=("OLD",))
    assert render("powershell", env) == (
        f"{HEADER}\n"
        "Remove-Item Env:OLD -ErrorAction SilentlyContinue\n"
        "$env:E = '$env:HOME `n'\n"
        "$env:Q = 'it''s Bob’’s ‘‘a’’ ‚‚b‛‛'\n"
    )


def test_powershell_path_code_uses_exact_matching() -> None:
    text = render("powershell", make_env({}, path_prefix=("/v/bin", "/it's")))
    assert "$_devenv_prefix = @('/v/bin', '/it''s')" in text
    assert "-cnotcontains" in text
    assert text.endswith("Remove-Variable _devenv_prefix, _devenv_sep, _devenv_rest\n")


def test_dotenv_with_base_path_includes_joined_path() -> None:
    text = render("dotenv", SMALL, base_path="/usr/bin::/proj/.venv/bin:/bin")
    assert text == (
        f"{HEADER}\nAPP_HOME='/proj/a b'\nGREETING=\"it's\"\nPATH='/proj/.venv/bin:/usr/bin:/bin'\n"
    )


def test_dotenv_without_base_path_explains_path_in_a_comment() -> None:
    env = make_env({"WIN": "C:\\Users"}, path_prefix=("/v/bin", "/w/bin"), unset=("OLD",))
    assert render("dotenv", env) == (
        f"{HEADER}\n# PATH is not set here: devenv puts these folders first: /v/bin:/w/bin\nWIN='C:\\Users'\n"
    )


def test_dotenv_picks_the_first_form_every_reader_agrees_on() -> None:
    # 'single' unless it holds ' or a line feed; "double" (only LF escaped) unless it holds
    # ", \ or $; bare when it has no space, #, $ or leading quote; else refused.
    env = make_env({"A": "x $y", "B": "it's\nok", "C": "C:\\new\\t", "D": ""})
    assert render("dotenv", env) == f"{HEADER}\nA='x $y'\nB=\"it's\\nok\"\nC=C:\\new\\t\nD=''\n"
    with pytest.raises(RenderError, match="E in dotenv format: its value mixes"):
        render("dotenv", make_env({"E": "it's \\n"}))


def test_json_is_one_sorted_ascii_object() -> None:
    text = render("json", SMALL, base_path="/bin")
    assert text == (
        '{\n  "APP_HOME": "/proj/a b",\n  "GREETING": "it\'s",\n  "PATH": "/proj/.venv/bin:/bin"\n}\n'
    )
    assert json.loads(render("json", make_env({"U": "é☃"}))) == {"U": "é☃"}
    assert render("json", make_env({"U": "é"})).isascii()


def test_json_without_base_path_omits_path() -> None:
    assert json.loads(render("json", SMALL)) == {"APP_HOME": "/proj/a b", "GREETING": "it's"}


def test_github_heredoc_shape() -> None:
    text = render("github", SMALL, base_path="/bin")
    lines = text.split("\n")
    assert lines[-1] == ""  # ends with a newline
    assert len(lines) == 3 * 3 + 1
    delimiters = []
    for key, value, (head, body, tail) in zip(
        ["APP_HOME", "GREETING", "PATH"],
        ["/proj/a b", "it's", "/proj/.venv/bin:/bin"],
        [lines[i : i + 3] for i in range(0, 9, 3)],
        strict=True,
    ):
        name, delimiter = head.split("<<")
        assert (name, body, tail) == (key, value, delimiter)
        assert delimiter.startswith("ghadelimiter_")
        assert len(delimiter) == len("ghadelimiter_") + 32
        int(delimiter.removeprefix("ghadelimiter_"), 16)
        delimiters.append(delimiter)
    assert len(set(delimiters)) == 3  # a fresh delimiter per variable


def test_github_regenerates_a_delimiter_found_in_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devenv.renderers import github_env

    colliding = "ghadelimiter_" + "0" * 32
    fresh = iter([colliding, "ghadelimiter_" + "1" * 32])
    monkeypatch.setattr(github_env, "delimiter", lambda: next(fresh))
    value = f"first\n{colliding}\nINJECTED=1"
    text = render("github", make_env({"K": value}))
    assert text == f"K<<ghadelimiter_{'1' * 32}\n{value}\nghadelimiter_{'1' * 32}\n"
    assert parse_github_env(text) == {"K": value}


def test_docker_exact_text() -> None:
    env = make_env({"A": "a b ", "Q": "'x", "E": ""}, path_prefix=("/v",), unset=("OLD",))
    assert render("docker", env, base_path="/bin") == f"{HEADER}\nA=a b \nE=\nPATH=/v:/bin\nQ='x\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"{SECRET}\nx", "newline"),
        (f"{SECRET}\r", "carriage return"),
        (f"{SECRET}\udcff", "UTF-8"),
        (f'"{SECRET}"', "same quote"),
        (f"'{SECRET}'", "same quote"),
        (SECRET * 4000, "64 KiB"),
    ],
    ids=["newline", "cr", "surrogate", "double-quoted", "single-quoted", "too-long"],
)
def test_docker_refuses_what_env_file_cannot_carry(value: str, reason: str) -> None:
    with pytest.raises(RenderError) as caught:
        render("docker", make_env({"API_TOKEN": value}))
    message = str(caught.value)
    assert message.startswith("devenv cannot write API_TOKEN in docker format: its value ")
    assert reason in message
    assert message.endswith("; use --format dotenv or json")
    assert SECRET not in message


def test_docker_newline_message_is_the_documented_one() -> None:
    with pytest.raises(RenderError) as caught:
        render("docker", make_env({"KEY": "a\nb"}))
    assert str(caught.value) == (
        "devenv cannot write KEY in docker format: its value contains a newline,"
        " which --env-file cannot carry; use --format dotenv or json"
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_in_a_value_is_refused_naming_the_key(fmt: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(fmt, make_env({"OK": "fine", "DB_PASSWORD": f"{SECRET}\0tail"}))
    message = str(caught.value)
    assert f"devenv cannot write DB_PASSWORD in {fmt} format" in message
    assert "NUL" in message
    assert SECRET not in message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["1A", "A-B", "A.B", "MY KEY", "CLÉ", "", "A=B", "A\nB"])
def test_invalid_key_is_refused(fmt: str, key: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(fmt, make_env({key: SECRET}))
    message = str(caught.value)
    assert f"devenv cannot write {key!r} in {fmt} format" in message
    assert SECRET not in message


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_unset_key_is_refused(fmt: str) -> None:
    with pytest.raises(RenderError, match="'A-B'"):
        render(fmt, make_env({}, unset=("A-B",)))


@pytest.mark.parametrize("folder", ["", "/a:/b", "/a\0b"], ids=["empty", "pathsep", "nul"])
def test_unusable_path_prefix_is_refused(folder: str) -> None:
    with pytest.raises(RenderError, match="PATH prefix folder"):
        render("sh", make_env({}, path_prefix=("/ok", folder)))


def test_unknown_format_lists_the_formats() -> None:
    with pytest.raises(RenderError) as caught:
        render("tcsh", SMALL)
    assert "'tcsh'" in str(caught.value)
    assert ", ".join(FORMATS) in str(caught.value)


@pytest.mark.parametrize("fmt", ["dotenv", "json", "github", "docker"])
def test_unset_keys_are_left_out_of_file_formats(fmt: str) -> None:
    assert "OLD" not in render(fmt, SMALL, base_path="/bin")


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_deterministic_and_lf_only(fmt: str) -> None:
    multiline = "x y" if fmt == "docker" else "x\ny"
    env = make_env({"B": "2", "A": "1", "C": multiline}, path_prefix=("/v",), unset=("OLD",))
    first, second = render(fmt, env, base_path="/bin"), render(fmt, env, base_path="/bin")
    if fmt == "github":
        assert parse_github_env(first) == parse_github_env(second)
    else:
        assert first == second
    assert "\r" not in first
    assert first.endswith("\n")


@pytest.mark.parametrize("fmt", ["sh", "fish", "powershell", "dotenv", "docker"])
def test_commented_formats_start_with_the_do_not_edit_line(fmt: str) -> None:
    assert render(fmt, SMALL).startswith("# Generated by devenv; do not edit")


@pytest.mark.parametrize("fmt", ["sh", "fish", "powershell"])
def test_shells_ignore_base_path(fmt: str) -> None:
    assert render(fmt, SMALL, base_path="/somewhere") == render(fmt, SMALL)


def test_print_env_path_imports_nothing_slow() -> None:
    # print-env must cost <= 1.5x a bare interpreter start (docs/architecture.md, "Start-up
    # budget"); `re` alone is ~0.6x.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import devenv.renderers.posix"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "devenv.renderers.posix" in imported
    assert not imported & {"re", "json", "typing", "dataclasses", "enum", "string", "inspect"}


def test_pwsh_is_powershell() -> None:
    # The registry names each format once, with its aliases (`--format pwsh` used to be refused).
    env = make_env({"Q": "it's"}, unset=("OLD",))
    assert render("pwsh", env) == render("powershell", env)
    assert {"pwsh", "bash", "zsh"} <= set(FORMATS)
    assert canonical_name("pwsh") == "powershell"


def test_the_registry_says_what_each_format_carries() -> None:
    carries = {
        entry.name: (entry.unsets, entry.newlines, entry.other_machine, entry.container) for entry in REGISTRY
    }
    assert carries["docker"] == (False, False, True, True)
    assert carries["sh"] == (True, True, False, False)
    assert carries["dotenv"] == (False, True, False, True)
    assert [name for name, (*_, container) in carries.items() if container] == ["dotenv", "json", "docker"]
    with pytest.raises(RenderError, match="newline"):
        render("docker", make_env({"K": "a\nb"}))


def _one_by_one(fmt: str, env: object, *, leave_out: bool) -> str:
    """What `render` wrote before it quoted all values at once: each line made on its own
    from the format's per-value quoting (the same functions the tests above check)."""
    from devenv.renderers import dotenv_file, fish, posix, powershell

    assert isinstance(env, type(SMALL))
    lines = {
        "sh": [f"export {key}={posix.quote(value)}" for key, value in env.variables.items()],
        "fish": [f"set -gx {key} {fish.quote(value)}" for key, value in env.variables.items()],
        "powershell": [f"$env:{key} = {powershell.quote(value)}" for key, value in env.variables.items()],
    }.get(fmt)
    if lines is None:  # dotenv
        lines = []
        for key, value in env.variables.items():
            problem = dotenv_file.refusal(key, value)
            if problem is None:
                lines.append(f"{key}={dotenv_file.encode(value)}")
            else:
                assert leave_out
                lines.append(f"# {key} is left out: {problem}; use devenv run or --format json")
    return "\n".join(lines)


@pytest.mark.parametrize("fmt", ["sh", "fish", "powershell", "dotenv"])
def test_quoting_every_value_at_once_writes_what_quoting_each_one_writes(fmt: str) -> None:
    from tests.data.hostile_values import HOSTILE

    values = {f"V_{n}": value for n, (_, value) in enumerate(HOSTILE)}
    values |= {f"_{n}": value for n, (_, value) in enumerate(HOSTILE[:5])}  # names VS Code skips
    values |= {f"PLAIN_{n}": f"value-{n} with spaces/and:colons" for n in range(50)}
    env = make_env(values)
    text = render(fmt, env, leave_out=True)
    assert _one_by_one(fmt, env, leave_out=True) in text
    assert render(fmt, make_env({})) == f"{HEADER}\n"  # no value: no line (not one empty one)
