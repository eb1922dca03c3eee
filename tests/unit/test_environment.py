"""apply_env: the one function every launcher uses to build a child's environment."""

from __future__ import annotations

from devenv.environment import CanonicalEnv, apply_env, exported, join_path

ENV = CanonicalEnv(
    root="/w",
    fingerprint="f" * 16,
    variables={"PYTHONPATH": "/w/a/src:/w/b/src", "DATABASE_URL": "sqlite:///x", "SECRET_TOKEN": "hunter2"},
    path_prefix=("/w/.venv/bin",),
    unset=("PYTHONHOME",),
)


def test_apply_keeps_the_base_and_replaces_what_devenv_owns() -> None:
    base = {
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "PYTHONPATH": "/stale",
        "PYTHONHOME": "/bad",
        "PATH": "/usr/bin:/bin",
    }
    child = apply_env(ENV, base)
    assert child["HOME"] == "/home/me" and child["LANG"] == "C.UTF-8"
    assert child["PYTHONPATH"] == "/w/a/src:/w/b/src"  # replaced, never appended to
    assert "PYTHONHOME" not in child
    assert child["PATH"] == "/w/.venv/bin:/usr/bin:/bin"
    assert base["PYTHONPATH"] == "/stale"  # the base is not modified


def test_path_gets_the_prefix_first_without_duplicates_or_empty_entries() -> None:
    assert join_path(["/v/bin"], "/usr/bin::/v/bin:/bin:") == "/v/bin:/usr/bin:/bin"
    assert join_path(["/v/bin"], "") == "/v/bin"


def test_applying_twice_is_the_same_as_once() -> None:
    once = apply_env(ENV, {"PATH": "/usr/bin"})
    assert apply_env(ENV, once) == once


def test_exported_is_what_print_env_shows() -> None:
    assert exported(ENV, "/usr/bin")["PATH"] == "/w/.venv/bin:/usr/bin"
    assert list(exported(ENV, "/usr/bin")) == sorted(exported(ENV, "/usr/bin"))


def test_repr_never_shows_values() -> None:
    assert "hunter2" not in repr(ENV)
    assert "SECRET_TOKEN" in repr(ENV)
