"""Resolution: layers, provenance, hermetic interpolation, managed and required keys."""

from __future__ import annotations

import re

import pytest

from devenv.dotenvfile import parse_dotenv
from devenv.environment import apply_env, default_instance
from devenv.errors import ResolveError, SpecError
from devenv.resolver import DotenvSource, Resolution, resolve
from devenv.spec import parse_spec

SPEC = """\
[paths]
pythonpath = ["b/src", "a/src", "b/src"]
[dotenv]
files = [".env.defaults", ".env"]
optional = [".env"]
required = ["DATABASE_URL"]
[vars]
SERVICE = "svc"
[env]
inherit = ["TOKEN", "HOME"]
unset = ["PYTHONHOME"]
"""


def run(
    dotenv: dict[str, str | None],
    *,
    spec: str = SPEC,
    outer: dict[str, str] | None = None,
    overrides: tuple[tuple[str, str], ...] = (),
) -> Resolution:
    parsed = parse_spec(spec.encode(), path="/w/envspec.toml", root="/w")
    sources = [
        DotenvSource(name=name, entries=None if text is None else parse_dotenv(text, name=name))
        for name, text in dotenv.items()
    ]
    return resolve(parsed, dotenv=sources, outer=outer or {}, overrides=overrides)


def by_key(resolution: Resolution) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    return {v.key: (v.value, v.source, v.overrode) for v in resolution.variables}


def test_layers_keep_provenance_and_what_they_overrode() -> None:
    result = by_key(
        run(
            {
                ".env.defaults": "DATABASE_URL=sqlite:///d\nSERVICE=from-defaults\n",
                ".env": "SERVICE=from-env\n",
            },
            outer={"TOKEN": "t"},
            overrides=(("SERVICE", "from-set"),),
        )
    )
    assert result["SERVICE"] == ("from-set", "--set", ("envspec.toml [vars]", ".env.defaults:2", ".env:1"))
    assert result["DATABASE_URL"] == ("sqlite:///d", ".env.defaults:1", ())
    assert result["TOKEN"] == ("t", "outer environment", ())


def test_nothing_leaks_from_the_outer_environment_unless_inherited() -> None:
    result = run({".env.defaults": "DATABASE_URL=x\n", ".env": None}, outer={"USER": "me", "TOKEN": "t"})
    assert "USER" not in result.values()
    assert result.values()["TOKEN"] == "t"


def test_interpolation_sees_lower_layers_earlier_lines_inherited_and_root() -> None:
    values = run(
        {
            ".env.defaults": 'DATABASE_URL=sqlite:///${DEVENV_ROOT}/db\nA="${SERVICE}-a"\nB=${A}/${HOME}\n'
            "C=${MISSING:-fallback}\nD='${SERVICE}'\n",
            ".env": None,
        },
        outer={"HOME": "/home/me"},
    ).values()
    assert values["DATABASE_URL"] == "sqlite:////w/db"
    assert (values["A"], values["B"], values["C"], values["D"]) == (
        "svc-a",
        "svc-a//home/me",
        "fallback",
        "${SERVICE}",
    )


def test_an_inherited_key_wins_everywhere_including_references() -> None:
    values = run(
        {".env.defaults": "DATABASE_URL=x\nTOKEN=from-file\nCOPY=${TOKEN}\n", ".env": None},
        outer={"TOKEN": "from-shell"},
    ).values()
    assert values["TOKEN"] == values["COPY"] == "from-shell"


@pytest.mark.parametrize(
    ("dotenv", "expected"),
    [
        pytest.param(
            "DATABASE_URL=x\nA=${NOPE}\n",
            ".env.defaults:2 references ${NOPE}, which is not defined; add NOPE to [env].inherit",
            id="undefined",
        ),
        pytest.param(
            "DATABASE_URL=x\nA=${LATER}\nLATER=1\n",
            "references ${LATER}, which is not defined",
            id="forward-reference",
        ),
        pytest.param(
            "DATABASE_URL=x\nA=${1BAD}\n",
            ".env.defaults:2: the ${...} starting '1BAD' is not a reference devenv understands",
            id="bad-name",
        ),
        pytest.param(
            "DATABASE_URL=x\nA=${X-dflt}\n",
            "the ${...} starting 'X-df'... is not a reference devenv understands",
            id="dash-without-colon",
        ),
        pytest.param(
            "DATABASE_URL=x\nPYTHONPATH=/x\n",
            ".env.defaults:2: PYTHONPATH is managed by devenv and cannot be set here; it comes from [paths].pythonpath",
            id="managed",
        ),
        pytest.param("DATABASE_URL=x\nPATH=/x\n", "PATH is managed by devenv", id="managed-path"),
        pytest.param(
            "DATABASE_URL=x\n\n\nA=${NOPE}\n",
            ".env.defaults:4 references ${NOPE}",
            id="undefined-after-blank-lines",
        ),
        pytest.param(
            "\nDATABASE_URL=x\n \n\nVIRTUAL_ENV=/x\n",
            ".env.defaults:5: VIRTUAL_ENV is managed by devenv",
            id="managed-after-blank-lines",
        ),
        pytest.param("A=1\n", "required variable(s) not set: DATABASE_URL", id="missing-required"),
        pytest.param("DATABASE_URL=\n", "required variable(s) not set: DATABASE_URL", id="empty-required"),
        pytest.param(
            "DATABASE_URL=x\nBIG=" + "x" * (128 * 1024) + "\n",
            "the value of BIG is longer than 128 KiB",
            id="too-long",
        ),
    ],
)
def test_bad_resolutions_name_the_place(dotenv: str, expected: str) -> None:
    with pytest.raises(ResolveError) as error:
        run({".env.defaults": dotenv, ".env": None})
    assert expected in str(error.value)


@pytest.mark.parametrize(
    ("dotenv", "secret"),
    [
        pytest.param("DB_PASSWORD=pa55${word-9x7Q}z\n", "word-9x7Q", id="not-a-reference"),
        pytest.param("DB_PASSWORD=pa55${Word9x7Q}z\n", "Word9x7Q", id="undefined-in-a-secret-key"),
        pytest.param("PLAIN=ghp_a1b2c3${d4e5f6g7}\n", "d4e5f6g7", id="undefined-in-a-token-value"),
    ],
)
def test_an_interpolation_error_does_not_echo_the_secret(dotenv: str, secret: str) -> None:
    with pytest.raises(ResolveError) as error:
        run({".env.defaults": "DATABASE_URL=x\n" + dotenv, ".env": None})
    message = str(error.value)
    assert message.startswith(".env.defaults:2"), message
    assert secret[:5] not in message, message
    assert repr(secret[:4]) + "..." in message


def test_missing_required_keys_are_all_listed_at_once() -> None:
    spec = SPEC.replace(
        'required = ["DATABASE_URL"]', 'required = ["DATABASE_URL", "RABBITMQ_URL", "SERVICE"]'
    )
    with pytest.raises(ResolveError, match=r"not set: DATABASE_URL, RABBITMQ_URL \(\[dotenv\].required\)"):
        run({".env.defaults": "A=1\n", ".env": None}, spec=spec)


def test_nul_from_the_outer_environment_or_set_is_refused() -> None:
    with pytest.raises(ResolveError, match="--set A: the value of A contains a NUL byte"):
        run({".env.defaults": "DATABASE_URL=x\n", ".env": None}, overrides=(("A", "a\0b"),))


def test_managed_key_in_inherit_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"\[env\].inherit names PYTHONPATH"):
        run(
            {".env.defaults": "DATABASE_URL=x\n", ".env": None},
            spec=SPEC.replace('"TOKEN", "HOME"', '"PYTHONPATH"'),
        )


def test_managed_keys_are_absolute_ordered_and_fingerprinted() -> None:
    result = run({".env.defaults": "DATABASE_URL=x\n", ".env": None})
    values = result.values()
    assert values["PYTHONPATH"] == "/w/b/src:/w/a/src"
    assert values["VIRTUAL_ENV"] == "/w/.devenv/venv"
    assert values["DEVENV_ROOT"] == "/w"
    assert values["DEVENV_FINGERPRINT"] == result.fingerprint
    assert result.path_prefix == ("/w/.devenv/venv/bin",)
    other = run({".env.defaults": "DATABASE_URL=y\n", ".env": None})
    assert other.fingerprint != result.fingerprint
    assert run({".env.defaults": "DATABASE_URL=x\n", ".env": None}).fingerprint == result.fingerprint


def test_no_pythonpath_entries_means_an_inherited_one_is_removed() -> None:
    result = run(
        {".env.defaults": "DATABASE_URL=x\n", ".env": None},
        spec=SPEC.replace('"b/src", "a/src", "b/src"', ""),
    )
    child = apply_env(result.canonical(), {"PYTHONPATH": "/stale", "PATH": "/usr/bin"})
    assert "PYTHONPATH" not in child


@pytest.mark.parametrize(
    ("root", "spec", "expected"),
    [
        pytest.param(
            "/w/a:b",
            '[paths]\npythonpath = ["src"]\n[python]\nvenv = "/opt/venv"\n',
            "the project folder /w/a:b has ':' in its path, which PYTHONPATH uses to separate folders",
            id="root-in-pythonpath",
        ),
        pytest.param(
            "/w/a:b",
            "",
            "the project folder /w/a:b has ':' in its path, which PATH uses",
            id="root-venv-on-path",
        ),
        pytest.param(
            "/w",
            '[python]\nvenv = "/opt/v:1"\n',
            "the venv folder /opt/v:1 ([python].venv) has ':' in its path, which PATH uses",
            id="venv",
        ),
    ],
)
def test_a_folder_path_or_pythonpath_would_split_is_refused(root: str, spec: str, expected: str) -> None:
    parsed = parse_spec(spec.encode(), path=f"{root}/envspec.toml", root=root)
    with pytest.raises(ResolveError) as error:
        resolve(parsed, dotenv=[], outer={})
    assert expected in str(error.value)
    assert error.value.exit_code == 2


@pytest.mark.parametrize(
    ("line", "python_dotenv", "devenv", "devenv_error"),
    [
        pytest.param("X='${A}'", "a", "${A}", None, id="single-quotes-are-literal"),
        pytest.param("X=${EMPTY:-d}", "", "d", None, id="default-also-when-empty"),
        pytest.param("X=${NOPE}", "", None, "references ${NOPE}, which is not defined", id="undefined"),
        pytest.param(
            "X=${OUTER}", "from-shell", None, "references ${OUTER}, which is not defined", id="outer"
        ),
        pytest.param("X=${A-b}", "", None, "is not a reference devenv understands", id="not-a-reference"),
    ],
)
def test_interpolation_differs_from_python_dotenv_only_as_documented(
    line: str, python_dotenv: str, devenv: str | None, devenv_error: str | None
) -> None:
    """The README's list of differences, each shown against python-dotenv itself."""
    import io
    import os
    from unittest import mock

    from dotenv import dotenv_values

    text = f"DATABASE_URL=x\nA=a\nEMPTY=\n{line}\n"
    with mock.patch.dict(os.environ, {"OUTER": "from-shell"}, clear=True):
        assert dotenv_values(stream=io.StringIO(text))["X"] == python_dotenv
    if devenv_error is None:
        assert (
            run({".env.defaults": text, ".env": None}, outer={"OUTER": "from-shell"}).values()["X"] == devenv
        )
        return
    with pytest.raises(ResolveError) as error:
        run({".env.defaults": text, ".env": None}, outer={"OUTER": "from-shell"})
    assert devenv_error in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("1BAD", "x", "'1BAD' is not a valid variable name", id="name"),
        pytest.param("DEVENV_ROOT", "/x", "DEVENV_ROOT is managed by devenv", id="managed"),
        pytest.param(
            "LD_PRELOAD", "/tmp/x.so", "LD_PRELOAD makes programs run code", id="untrusted-code-key"
        ),
        pytest.param("GONE", "x", "sets GONE, which envspec.toml [env].unset removes", id="unset"),
        pytest.param("A", "a\0b", "contains a NUL byte", id="nul"),
    ],
)
def test_overrides_pass_the_same_checks_whoever_sets_them(key: str, value: str, expected: str) -> None:
    # `--set` (through resolve) and a process's overrides (check_override alone) share one
    # function: neither may skip a check the other makes.
    from devenv.resolver import check_override

    spec = SPEC.replace('unset = ["PYTHONHOME"]', 'unset = ["PYTHONHOME", "GONE"]')
    parsed = parse_spec(spec.encode(), path="/w/envspec.toml", root="/w")
    with pytest.raises(ResolveError, match="--set.*" + re.escape(expected)):
        run({".env.defaults": "DATABASE_URL=x\n", ".env": None}, spec=spec, overrides=((key, value),))
    with pytest.raises(ResolveError, match="overrides for worker.*" + re.escape(expected)):
        check_override(parsed, key, value, where="overrides for worker")
    trusted = spec.replace('"GONE"]', '"GONE"]\ntrusted = ["LD_PRELOAD"]')
    if key == "LD_PRELOAD":
        check_override(parse_spec(trusted.encode(), path="/w/envspec.toml", root="/w"), key, value, where="x")


def test_devenv_instance_is_the_checkouts_own_by_default_and_usable_in_vars_and_dotenv() -> None:
    spec = SPEC.replace('SERVICE = "svc"\n', 'SERVICE = "svc"\nQUEUE = "q_${DEVENV_INSTANCE}"\n')
    dotenv = {
        ".env.defaults": "DATABASE_URL=sqlite:///${DEVENV_ROOT}/ops-${DEVENV_INSTANCE}.db\n",
        ".env": None,
    }
    own = default_instance("/w")
    assert re.fullmatch(r"w_[0-9a-f]{4}", own)
    main = by_key(run(dotenv, spec=spec))
    assert main["QUEUE"][0] == f"q_{own}" and main["DEVENV_INSTANCE"] == (own, "managed", ())
    assert main["DATABASE_URL"][0] == f"sqlite:////w/ops-{own}.db"
    parsed = parse_spec(spec.encode(), path="/w/envspec.toml", root="/w")
    sources = [
        DotenvSource(name=".env.defaults", entries=parse_dotenv(dotenv[".env.defaults"] or "", name="x"))
    ]
    gw0 = resolve(parsed, dotenv=sources, outer={}, instance="gw0_1a2b")
    values = gw0.values()
    assert (values["QUEUE"], values["DATABASE_URL"]) == ("q_gw0_1a2b", "sqlite:////w/ops-gw0_1a2b.db")
    assert gw0.fingerprint != run(dotenv, spec=spec).fingerprint


def test_explain_can_tell_which_values_were_built_from_the_instance() -> None:
    spec = SPEC.replace('SERVICE = "svc"\n', 'SERVICE = "svc"\nQUEUE = "q_${DEVENV_INSTANCE}"\n')
    dotenv = {".env.defaults": "DATABASE_URL=x\nDLQ=${QUEUE}.dead\nPLAIN=${SERVICE}\n", ".env": None}
    variables = {v.key: v for v in run(dotenv, spec=spec).variables}
    assert variables["QUEUE"].uses_instance and variables["DLQ"].uses_instance  # through QUEUE
    assert not variables["PLAIN"].uses_instance and not variables["DATABASE_URL"].uses_instance


@pytest.mark.parametrize("instance", ["", "a/b", "a b", "-x", "x" * 65, "q;rm"])
def test_an_instance_name_unfit_for_queue_and_file_names_is_refused(instance: str) -> None:
    parsed = parse_spec(SPEC.encode(), path="/w/envspec.toml", root="/w")
    with pytest.raises(ResolveError, match="is not usable in queue and file names"):
        resolve(parsed, dotenv=[], outer={}, instance=instance)


def test_devenv_instance_is_managed() -> None:
    with pytest.raises(ResolveError, match="DEVENV_INSTANCE is managed by devenv"):
        run({".env.defaults": "DATABASE_URL=x\nDEVENV_INSTANCE=mine\n", ".env": None})


@pytest.mark.parametrize("key", ["DEVENV_RUN_ID", "DEVENV_SERVICE", "DEVENV_LAUNCHER"])
def test_label_keys_are_managed_so_no_file_or_set_can_mislabel_a_process(key: str) -> None:
    with pytest.raises(ResolveError, match=f".env.defaults:2: {key} is managed by devenv"):
        run({".env.defaults": f"DATABASE_URL=x\n{key}=mine\n", ".env": None})
    with pytest.raises(ResolveError, match=f"--set.*{key} is managed by devenv"):
        run({".env.defaults": "DATABASE_URL=x\n", ".env": None}, overrides=((key, "mine"),))


def test_env_pass_is_outside_the_fingerprint() -> None:
    plain = run({".env.defaults": "DATABASE_URL=x\n", ".env": None})
    spec = SPEC.replace('unset = ["PYTHONHOME"]', 'unset = ["PYTHONHOME"]\npass = ["AWS_*"]')
    passing = run(
        {".env.defaults": "DATABASE_URL=x\n", ".env": None}, spec=spec, outer={"AWS_PROFILE": "dev"}
    )
    assert passing.fingerprint == plain.fingerprint
    assert passing.pass_through == ("AWS_*",) and "AWS_PROFILE" not in passing.values()
