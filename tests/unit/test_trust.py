"""Which variables make programs run code (devenv/trust.py): what a cloned `.env` may not set
unless `[env].trusted` lists it."""

from __future__ import annotations

import pytest

from devenv.trust import runs_code


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("PYTHONSTARTUP", "interactive Python runs this file"),
        ("LD_PRELOAD", "the dynamic loader loads these libraries into every program"),
        ("BASH_ENV", "bash sources this file before running any script or `bash -c`"),
        ("DYLD_INSERT_LIBRARIES", "the macOS dynamic loader loads or looks for libraries as it says"),
        ("GIT_CONFIG_KEY_0", "git reads a configuration key (some run commands) from it"),
    ],
)
def test_a_key_that_runs_code_says_what_it_makes_happen(key: str, why: str) -> None:
    assert runs_code(key) == why


@pytest.mark.parametrize(
    "key", ["DATABASE_URL", "GREETING", "PYTHONUNBUFFERED", "ENVIRONMENT", "GIT_AUTHOR_NAME"]
)
def test_ordinary_keys_run_no_code(key: str) -> None:
    assert runs_code(key) is None
