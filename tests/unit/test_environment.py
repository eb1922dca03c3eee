"""apply_env: the one function every launcher uses to build a child's environment."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devenv.environment import (
    DEFAULT_PASS,
    LABEL_KEYS,
    CanonicalEnv,
    apply_env,
    default_instance,
    exported,
    join_path,
    passes,
)

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


# -- hermetic launches: the canonical env plus the pass-through set, nothing else ------------

PASSING = CanonicalEnv(
    root="/w",
    fingerprint="f" * 16,
    variables={"DATABASE_URL": "sqlite:///x"},
    path_prefix=("/w/.venv/bin",),
    unset=("PYTHONHOME",),
    pass_through=("AWS_*", "CI", "SSH_AGENT_P?D"),
)


def test_a_child_gets_nothing_of_the_caller_but_the_pass_through_set() -> None:
    base = {
        "HOME": "/home/me",
        "TERM": "xterm",
        "LC_ALL": "C.UTF-8",
        "https_proxy": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "FOO_LEAK": "x",
        "PATH": "/usr/bin",
    }
    child = apply_env(ENV, base)
    assert "DJANGO_SETTINGS_MODULE" not in child and "FOO_LEAK" not in child
    assert {key: child[key] for key in ("HOME", "TERM", "LC_ALL", "https_proxy", "SSL_CERT_FILE")} == {
        key: base[key] for key in ("HOME", "TERM", "LC_ALL", "https_proxy", "SSL_CERT_FILE")
    }
    assert set(child) == {"HOME", "TERM", "LC_ALL", "https_proxy", "SSL_CERT_FILE", "PATH", *ENV.variables}


def test_env_pass_names_and_globs_reach_the_child_unresolved() -> None:
    base = {
        "AWS_PROFILE": "dev",
        "AWS_": "edge",
        "CI": "true",
        "SSH_AGENT_PID": "7",
        "CIX": "no",
        "XAWS_A": "no",
    }
    child = apply_env(PASSING, base)
    assert {key: child.get(key) for key in base} == {
        "AWS_PROFILE": "dev",
        "AWS_": "edge",
        "CI": "true",
        "SSH_AGENT_PID": "7",
        "CIX": None,
        "XAWS_A": None,
    }
    assert passes("AWS_REGION", PASSING.pass_through) and not passes("AWS", PASSING.pass_through)


@given(
    key=st.text(alphabet="AB_*?", max_size=5),
    pattern=st.text(alphabet="AB_*?", min_size=1, max_size=5),
)
@example(key="", pattern="*")
@example(key="AB", pattern="A*")
@example(key="A_B", pattern="A*B*")
@example(key="?*", pattern="?*?")  # a `*` facing a `*` of the name is still a wildcard
def test_a_pass_glob_matches_what_fnmatchcase_matches(key: str, pattern: str) -> None:
    """`*` any run, `?` one character, nothing else special: the rule of fnmatch without its
    `[...]` classes, which [env].pass names never need (and `re` is too slow to import on the
    `run` path)."""
    if key in DEFAULT_PASS or any(fnmatch.fnmatchcase(key, default) for default in DEFAULT_PASS):
        return  # passes whatever the pattern says
    assert passes(key, (pattern,)) == fnmatch.fnmatchcase(key, pattern)


def test_label_keys_never_come_from_the_caller_even_through_a_glob() -> None:
    env = CanonicalEnv(root="/w", fingerprint="f" * 16, variables={}, pass_through=("DEVENV_*",))
    base = {key: "outer" for key in LABEL_KEYS} | {"DEVENV_EXTRA": "x"}
    child = apply_env(env, base)
    assert not set(LABEL_KEYS) & set(child)
    assert child["DEVENV_EXTRA"] == "x"


def test_unset_wins_over_the_pass_through_set() -> None:
    env = CanonicalEnv(root="/w", fingerprint="f" * 16, variables={}, unset=("TZ",))
    assert "TZ" not in apply_env(env, {"TZ": "UTC"})


def test_every_default_pass_entry_is_documented_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What a launched process gets", 1)[1].split("\n### ", 1)[0]
    for entry in DEFAULT_PASS:
        assert f"`{entry}`" in section, entry


@pytest.mark.parametrize(
    ("folder", "readable"),
    [
        ("main", "main"),
        ("My Project (copy) 2", "my_project_copy_2"),
        ("__ops--core__", "ops_core"),
        ("Été-Café", "t_caf"),
        ("x" * 23 + "-yz", "x" * 23),  # 24 characters would end in "_": trimmed
        ("a" * 40, "a" * 24),
        ("!!!", "checkout"),
    ],
    ids=["plain", "spaces-and-case", "edges", "non-ascii", "cut-at-a-separator", "long", "nothing-left"],
)
def test_the_default_instance_is_the_folder_name_and_a_hash_of_its_real_path(
    tmp_path: Path, folder: str, readable: str
) -> None:
    root = tmp_path / folder
    root.mkdir()
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:4]
    name = default_instance(str(root))
    assert name == f"{readable}_{digest}"
    # Plain enough for a queue name, a file name and an unquoted PostgreSQL identifier.
    assert re.fullmatch(r"[a-z0-9][a-z0-9_]*", name) and len(name) <= 29


def test_two_checkouts_with_the_same_folder_name_get_different_default_instances(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "shop", tmp_path / "b" / "shop"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    assert default_instance(str(first)).startswith("shop_") and default_instance(str(second)).startswith(
        "shop_"
    )
    assert default_instance(str(first)) != default_instance(str(second))
    # A symlink to a checkout is that checkout: the real path is what is hashed.
    (tmp_path / "link").symlink_to(first)
    assert default_instance(str(tmp_path / "link")) == default_instance(str(first))
