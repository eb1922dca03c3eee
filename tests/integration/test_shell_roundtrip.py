"""Render, then read back through the real consumers: dash, bash, zsh, fish, json, docker's own
--env-file parser and a port of the GitHub runner's parser (dotenv's four readers:
test_dotenv_consumers.py)."""

from __future__ import annotations

import contextlib
import json
import queue
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.environment import CanonicalEnv, join_path
from devenv.errors import RenderError
from devenv.renderers import render
from tests.conftest import require_tool
from tests.data.hostile_values import HOSTILE
from tests.support.canonical import make_env
from tests.support.github_env import parse as parse_github_env

BASE_PATH = "/usr/bin:/bin"
PREFIX = ("/opt/dev env/bin", "/opt/it's/*")

# Each variant sources the rendered file ($1 / $argv[1]) and dumps the environment with
# /usr/bin/env by absolute path, since PATH is one of the keys being set. The POSIX ones
# also fail (exit 99) if a `_devenv_` helper variable survives.
_CLEAN_SH = '[ -z "${_devenv_path+x}${_devenv_rest+x}${_devenv_entry+x}" ] || exit 99'
_DUMP_SH = f"{_CLEAN_SH}; exec /usr/bin/env -0"
_DUMP_FISH = (
    "set -q _devenv_path; or set -q _devenv_prefix; or set -q _devenv_entry; and exit 99; /usr/bin/env -0"
)
VARIANTS: dict[str, tuple[str, list[str], str]] = {
    # id: (executable, arguments before the script, script)
    "dash": ("dash", ["-c"], f'. "$1"; {_DUMP_SH}'),
    "bash": ("bash", ["--norc", "--noprofile", "-c"], f'. "$1"; {_DUMP_SH}'),
    "bash-posix-extglob": ("bash", ["--posix", "-O", "extglob", "-c"], f'. "$1"; {_DUMP_SH}'),
    "bash-interactive-histexpand": (
        "bash",
        ["--norc", "--noprofile", "-i", "-c"],
        f'set -H; . "$1"; {_DUMP_SH}',
    ),
    # The README documents `eval "$(devenv print-env)"`; this is that line with cat as devenv.
    "bash-eval": ("bash", ["--norc", "--noprofile", "-c"], f'eval "$(cat "$1")"; {_DUMP_SH}'),
    "zsh": ("zsh", ["-f", "-c"], f'. "$1"; {_DUMP_SH}'),
    "zsh-rc-quotes": ("zsh", ["-f", "-c"], f'setopt rc_quotes; . "$1"; {_DUMP_SH}'),
    "zsh-emulate-sh": ("zsh", ["-f", "-c"], f'emulate sh; . "$1"; {_DUMP_SH}'),
    "fish": ("fish", ["--no-config", "-c"], f"source $argv[1]; {_DUMP_FISH}"),
}
MAIN_VARIANTS = ["dash", "bash", "zsh", "fish"]


def exported(variables: dict[str, str], prefix: tuple[str, ...]) -> dict[str, str]:
    """What a file rendered with `base_path=BASE_PATH` must set: the variables, and PATH when
    there is a prefix to put before the base."""
    return {**variables, "PATH": join_path(prefix, BASE_PATH)} if prefix else dict(variables)


def source(
    variant: str,
    env: CanonicalEnv,
    folder: Path,
    *,
    base: dict[str, str] | None = None,
    times: int = 1,
) -> dict[bytes, bytes]:
    """Source `env`'s rendering in the real shell (`times` times); the environment it exports."""
    executable, options, script = VARIANTS[variant]
    fmt = {"dash": "sh", "bash": "bash", "zsh": "zsh", "fish": "fish"}[executable]
    path = folder / f"env.{variant}"
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        handle.write(render(fmt, env))
    if times > 1:
        load = script.split(";", 1)[0] + ";"
        script = load * (times - 1) + script
    argv = [require_tool(executable), *options, script]
    argv += [str(path)] if executable == "fish" else [executable, str(path)]
    child_env = {"PATH": BASE_PATH, "HOME": str(folder), "LANG": "C.UTF-8", **(base or {})}
    result = subprocess.run(argv, env=child_env, cwd=folder, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, (variant, result.returncode, result.stderr[-2000:])
    assert not (folder / "CANARY").exists(), f"{variant} executed part of a value"
    return dict(item.split(b"=", 1) for item in result.stdout.split(b"\0") if item)


def encoded(value: str) -> bytes:
    """The bytes a process sees for `value` (surrogates stand for undecodable bytes)."""
    return value.encode("utf-8", "surrogateescape")


# --- the hostile table, in every shell variant -----------------------------------------------

HOSTILE_IDS = [name for name, _ in HOSTILE]


@pytest.mark.parametrize("variant", MAIN_VARIANTS)
@pytest.mark.parametrize("value", [value for _, value in HOSTILE], ids=HOSTILE_IDS)
def test_hostile_value_round_trips(variant: str, value: str, tmp_path: Path) -> None:
    got = source(variant, make_env({"HOSTILE": value}), tmp_path)
    assert got[b"HOSTILE"] == encoded(value)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_whole_table_in_one_file(variant: str, tmp_path: Path) -> None:
    # One file with every value catches cross-line damage such as an unterminated quote;
    # the path-suffixed keys are list variables in fish, split and re-joined on ":".
    variables = {f"H_{index}": value for index, (_, value) in enumerate(HOSTILE)}
    variables |= {f"H_{index}_PATH": value for index, (_, value) in enumerate(HOSTILE)}
    got = source(variant, make_env(variables, path_prefix=PREFIX), tmp_path)
    wrong = [key for key, value in variables.items() if got.get(key.encode()) != encoded(value)]
    assert wrong == []
    assert got[b"PATH"].decode() == join_path(PREFIX, BASE_PATH)


# --- PATH and unset ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize(
    "base_path",
    [
        "/usr/bin:/bin",
        "/usr/bin:/opt/dev env/bin:/bin",
        "::/usr/bin::/bin:",
        "/usr/bin:/opt/it's/*:/bin:/opt/dev env/bin",
        "/usr/bin:/x/$(touch CANARY):/bin:/usr/bin",
    ],
    ids=["plain", "prefix-in-middle", "empty-entries", "prefix-twice", "hostile-duplicate"],
)
@pytest.mark.parametrize("times", [1, 2], ids=["once", "twice"])
def test_path_equals_join_path(variant: str, base_path: str, times: int, tmp_path: Path) -> None:
    env = make_env({"A": "1"}, path_prefix=PREFIX)
    got = source(variant, env, tmp_path, base={"PATH": base_path}, times=times)
    assert got[b"PATH"].decode() == join_path(PREFIX, base_path)


@pytest.mark.parametrize("variant", MAIN_VARIANTS)
def test_unset_keys_are_gone(variant: str, tmp_path: Path) -> None:
    env = make_env({"KEPT": "yes"}, unset=("GONE", "NEVER_SET"))
    got = source(variant, env, tmp_path, base={"GONE": "x", "OTHER": "stays"})
    assert b"GONE" not in got
    assert got[b"KEPT"] == b"yes"
    assert got[b"OTHER"] == b"stays"


@pytest.mark.parametrize("variant", MAIN_VARIANTS)
def test_without_prefix_path_is_untouched(variant: str, tmp_path: Path) -> None:
    got = source(variant, make_env({"A": "1"}), tmp_path, base={"PATH": "/usr/bin::/bin"})
    # fish rewrites the inherited empty entry to "." on start-up; devenv did not touch PATH.
    expected = b"/usr/bin:.:/bin" if variant == "fish" else b"/usr/bin::/bin"
    assert got[b"PATH"] == expected


def test_fish_drops_a_literal_dot_entry_too(tmp_path: Path) -> None:
    # fish has already turned empty entries into "." before our code runs, so "." must go
    # to honour join_path's "no empty entries"; a deliberate "." in PATH goes with it.
    env = make_env({}, path_prefix=("/v",))
    got = source("fish", env, tmp_path, base={"PATH": "/usr/bin:.:/bin"})
    assert got[b"PATH"] == b"/v:/usr/bin:/bin"


# --- property tests ----------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    ["$(touch CANARY)", "`touch CANARY`", "'", '"', "\\", "\r\n", "\n", "\r", "${IFS}", "!!",
     "%s", "’", "‘", "''", "\\'", "*", "~", ":", "-e", "#", " ", "=", "ghadelimiter_", "$"]
)  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)
VALUES = st.lists(st.one_of(TEXT, FRAGMENTS), max_size=6).map("".join)
RAW_BYTES = st.binary(max_size=40).map(lambda raw: raw.replace(b"\0", b"").decode("utf-8", "surrogateescape"))
# K_ keeps clear of every name a shell treats specially (PATH, IFS, zsh's path, fish's status).
KEYS = st.from_regex(r"K_[A-Z0-9_]{0,10}", fullmatch=True)
PREFIXES = st.lists(
    st.sampled_from(["/opt/a b", "/x/*", "/it's", "/t/$(touch CANARY)", "/usr/bin", "/é"]),
    unique=True,
    max_size=2,
).map(tuple)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("variant", MAIN_VARIANTS)
@PROPERTY
@given(
    variables=st.dictionaries(KEYS, st.one_of(VALUES, RAW_BYTES), max_size=6),
    prefix=PREFIXES,
)
def test_sourcing_reproduces_values_byte_for_byte(
    variant: str,
    variables: dict[str, str],
    prefix: tuple[str, ...],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp(variant)
    got = source(variant, make_env(variables, path_prefix=prefix), folder)
    for key, value in variables.items():
        assert got[key.encode()] == encoded(value), key
    assert got[b"PATH"].decode() == (join_path(prefix, BASE_PATH) if prefix else BASE_PATH)


@PROPERTY
@given(variables=st.dictionaries(KEYS, st.one_of(VALUES, RAW_BYTES), max_size=6))
def test_json_round_trips(variables: dict[str, str]) -> None:
    text = render("json", make_env(variables))
    assert text.isascii()
    assert json.loads(text) == variables


@PROPERTY
@given(variables=st.dictionaries(KEYS, VALUES, max_size=6), prefix=PREFIXES)
def test_github_env_round_trips_through_the_runner_parser(
    variables: dict[str, str], prefix: tuple[str, ...]
) -> None:
    text = render("github", make_env(variables, path_prefix=prefix), base_path=BASE_PATH)
    assert parse_github_env(text) == exported(variables, prefix)


@pytest.mark.parametrize("value", [value for _, value in HOSTILE], ids=HOSTILE_IDS)
def test_github_hostile_values(value: str) -> None:
    text = render("github", make_env({"HOSTILE": value, "AFTER": "x"}))
    assert parse_github_env(text) == {"AFTER": "x", "HOSTILE": value}


# --- docker: the real CLI's --env-file parser, talking to a fake engine ------------------------


class _FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    bodies: queue.Queue[bytes]


class _EngineHandler(BaseHTTPRequestHandler):
    """Answers the ping, records `POST /containers/create` and refuses it (nothing runs)."""

    server: _FakeEngine

    def log_message(self, format: str, *args: object) -> None:
        pass

    def address_string(self) -> str:
        return "fake-engine"

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("API-Version", "1.47")
        self.send_header("OSType", "linux")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._reply(200, b"")

    def do_GET(self) -> None:
        self._reply(200, b"OK" if self.path.endswith("/_ping") else b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "/containers/create" in self.path:
            self.server.bodies.put(body)
        self._reply(500, b'{"message": "fake engine: nothing runs here"}')


@pytest.fixture(scope="module")
def docker_env_file(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], dict[str, str]]]:
    """Run `docker run --env-file FILE` against a fake engine; the env docker parsed."""
    docker = require_tool("docker")
    folder = tmp_path_factory.mktemp("docker")
    engine = _FakeEngine(str(folder / "engine.sock"), _EngineHandler)
    engine.bodies = queue.Queue()
    thread = threading.Thread(target=engine.serve_forever, daemon=True)
    thread.start()
    child_env = {"PATH": BASE_PATH, "HOME": str(folder), "DOCKER_CONFIG": str(folder / "cfg")}

    def parse(text: str) -> dict[str, str]:
        path = folder / "env.list"
        path.write_text(text, encoding="utf-8", newline="")
        argv = [docker, "--host", f"unix://{folder}/engine.sock", "run", "--env-file", str(path)]
        result = subprocess.run(
            [*argv, "alpine", "true"], env=child_env, capture_output=True, timeout=30, text=True
        )
        with contextlib.suppress(queue.Empty):
            body = json.loads(engine.bodies.get(timeout=5))
            return dict(item.split("=", 1) for item in body["Env"] or [])
        raise AssertionError(f"docker sent no create request: {result.stderr}")

    yield parse
    engine.shutdown()
    engine.server_close()


DOCKER_VALUES = VALUES.map(lambda value: value.replace("\n", "").replace("\r", ""))


def _docker_accepts(value: str) -> bool:
    return not (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    variables=st.dictionaries(KEYS, DOCKER_VALUES.filter(_docker_accepts), max_size=6),
    prefix=PREFIXES,
)
def test_docker_env_file_round_trips(
    docker_env_file: Callable[[str], dict[str, str]],
    variables: dict[str, str],
    prefix: tuple[str, ...],
) -> None:
    text = render("docker", make_env(variables, path_prefix=prefix), base_path=BASE_PATH)
    assert docker_env_file(text) == exported(variables, prefix)


@pytest.mark.parametrize("value", [value for _, value in HOSTILE], ids=HOSTILE_IDS)
def test_docker_hostile_values_round_trip_or_are_refused(
    docker_env_file: Callable[[str], dict[str, str]], value: str
) -> None:
    try:
        text = render("docker", make_env({"HOSTILE": value, "AFTER": "x"}))
    except RenderError as error:
        assert "HOSTILE" in str(error)
        assert "\n" in value or "\r" in value or value[0] == value[-1]
        return
    assert docker_env_file(text) == {"AFTER": "x", "HOSTILE": value}


def test_docker_keeps_matching_outer_quotes_which_is_why_they_are_refused(
    docker_env_file: Callable[[str], dict[str, str]],
) -> None:
    # Some docker versions strip one pair of matching outer quotes (docker/cli kvfile
    # trimQuotes), others keep them; either reading must not be guessed at.
    got = docker_env_file('Q="x"\n')
    assert got["Q"] in ('"x"', "x")
    with pytest.raises(RenderError, match="same quote"):
        render("docker", make_env({"Q": '"x"'}))


def test_docker_longest_line_is_carried_and_one_more_byte_is_refused(
    docker_env_file: Callable[[str], dict[str, str]],
) -> None:
    # bufio.Scanner's 64 KiB token limit: a 65,535-byte line is read, 65,536 bytes fail.
    longest = "x" * (64 * 1024 - 1 - len("K="))
    assert docker_env_file(render("docker", make_env({"K": longest})))["K"] == longest
    with pytest.raises(RenderError, match="64 KiB"):
        render("docker", make_env({"K": longest + "x"}))
