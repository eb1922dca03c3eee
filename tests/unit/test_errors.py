"""The error hierarchy (devenv/errors.py): the message is the whole story, the exit code is
the class's, and a refused value is never echoed whole."""

from __future__ import annotations

import pytest

import devenv
from devenv.errors import EXIT_NOT_FOUND, EXIT_USAGE, Place, preview


def test_a_preview_shows_enough_to_find_a_value_and_too_little_to_leak_it() -> None:
    assert preview("sk-live-0123456789") == "'sk-l'..."
    assert preview("abc") == "'abc'"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (devenv.SpecError, EXIT_USAGE),
        (devenv.UsageError, EXIT_USAGE),
        (devenv.ProcessError, EXIT_USAGE),
        (devenv.CommandNotFoundError, EXIT_NOT_FOUND),
        (devenv.AlreadyRunningError, 1),
    ],
)
def test_each_error_has_the_exit_code_the_readme_documents(
    error: type[devenv.DevenvError], code: int
) -> None:
    assert error("x").exit_code == code
    assert issubclass(error, devenv.DevenvError)


def test_the_message_is_the_string_and_the_place_is_where_the_user_wrote_it() -> None:
    error = devenv.SpecError("envspec.toml:3: [vars].X must be a string", place=Place("envspec.toml", 3))
    assert str(error) == "envspec.toml:3: [vars].X must be a string"
    assert str(error.place) == "envspec.toml:3"
    assert str(Place(".env", item="[dotenv].files")) == ".env [dotenv].files"
