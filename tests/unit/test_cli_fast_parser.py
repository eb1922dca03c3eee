"""The hand-written parser of `print-env`, `run`, `sync` and the plain diagnostics
(`cli._parse_fast`) agrees with argparse on every command line it accepts, and leaves every
other one to argparse."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from devenv import cli, cli_commands

#: Words a command line is made of: every option of the three commands in each spelling,
#: their values (good and bad), other commands, `--` and command words that look like options.
WORDS = [
    "--root", "--root=/r", "--root=", "/r",
    "print-env", "run", "sync", "doctor",
    "--frozen", "--check", "--traceback", "--format", "-f", "--format=json", "--format=bogus", "-fsh", "--form",
    "sh", "fish", "json", "bogus",
    "--set", "--set=A=1", "A=1", "B=", "=x", "noeq",
    "--", "cmd", "-x", "-", "--frozen=1",
]  # fmt: skip

#: Words that options are made of, so that most generated lines are plausible ones.
OPTIONS = [
    "--frozen", "--check", "--format", "-f", "--format=json", "--format=bogus", "-fsh", "--form",
    "sh", "fish", "bogus", "--set", "A=1", "B=", "=x", "noeq", "--set=A=1",
]  # fmt: skip

#: The words after a command: options, perhaps `--`, then anything (the command to run).
REST = st.tuples(
    st.lists(st.sampled_from(OPTIONS), max_size=4),
    st.sampled_from([[], ["--"]]),
    st.lists(st.sampled_from(WORDS), max_size=3),
).map(lambda parts: [*parts[0], *parts[1], *parts[2]])


@settings(max_examples=1000, deadline=None)
@given(
    root=st.sampled_from([[], ["--root", "/r"], ["--root=/r"], ["--root", "-r"], ["--root=-r"], ["--root"]]),
    command=st.sampled_from(["print-env", "run", "sync"]),
    rest=st.one_of(REST, st.lists(st.sampled_from(WORDS), max_size=6)),
)
@example(root=[], command="run", rest=["--", "--", "cmd"])
@example(root=[], command="run", rest=["--set", "A=1", "--set", "B=", "cmd", "--frozen"])
@example(root=[], command="print-env", rest=["--format", "bogus"])
@example(root=[], command="print-env", rest=["--format", "bogus", "--format=json"])
@example(root=[], command="print-env", rest=["--format", "--root", "--format=json"])
@example(root=[], command="run", rest=["--set", "--format=json", "sh"])
def test_the_fast_parser_agrees_with_argparse(root: list[str], command: str, rest: list[str]) -> None:
    args = [*root, command, *rest]
    fast = cli._parse_fast(args)
    if fast is None:
        return  # argparse decides, by construction of main(): nothing to compare
    # The same function with the same arguments as argparse gives from the declaration
    # (argparse refusing the line fails here, with SystemExit).
    assert fast == cli._parse(args), args


@pytest.mark.parametrize("root", [[], ["--root", "/r"], ["--root=/r"]])
@pytest.mark.parametrize("words", sorted(cli_commands.PLAIN))
def test_plain_diagnostics_get_what_argparse_gives(root: list[str], words: tuple[str, ...]) -> None:
    """doctor, explain, ps, lock and lock --check without options skip argparse (cli_commands.PLAIN)."""
    args = [*root, *words]
    assert cli._parse_fast(args) == cli._parse(args)


def test_the_fast_parser_calls_the_declared_functions_with_every_parameter() -> None:
    declared = {command.name: command.function for command in cli_commands.commands()}
    for args in (["print-env"], ["run", "--", "cmd"], ["sync"]):
        call = cli._parse_fast(args)
        assert call is not None
        function, arguments = call
        assert function is declared[args[0]]
        code = function.__code__
        assert sorted(arguments) == sorted(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


@pytest.mark.parametrize(
    "args",
    [
        ["print-env", "--format", "bogus"],
        ["print-env", "--form", "sh"],
        ["run", "--set", "noeq", "--", "cmd"],
        ["run", "--"],
        ["--traceback", "print-env"],
        ["doctor", "--json"],
        ["lock", "--index-url", "https://example.invalid/simple"],
        ["explain", "KEY"],
    ],
)
def test_what_the_fast_parser_does_not_accept_goes_to_argparse(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli._parse_fast(args) is None
    parsed: list[list[str]] = []

    class Parser:
        def parse_args(self, given: list[str]) -> object:
            parsed.append(given)
            raise SystemExit(2)

    monkeypatch.setattr(cli_commands, "build_parser", Parser)
    with pytest.raises(SystemExit):
        cli.main(args)
    assert parsed == [args]


def test_only_up_hands_the_words_after_dashes_to_its_process() -> None:
    function, arguments = cli._parse(["--root", "up", "up", "worker", "--", "--verbose"])
    assert (
        function is cli_commands.up
        and arguments["names"] == ["worker"]
        and arguments["extra"] == ["--verbose"]
    )
    function, arguments = cli._parse(["run", "--instance", "up", "--", "echo", "hi"])
    assert function is cli.run and arguments["instance"] == "up" and arguments["cmd"] == ["--", "echo", "hi"]
