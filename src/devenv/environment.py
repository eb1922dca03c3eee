"""The canonical environment and `apply_env`, the one function every launcher uses.

This module is on the `print-env` / `run` start-up path, whose budget is a few milliseconds
(benchmarks/cli_startup.py), so it imports nothing
beyond `os`: no dataclasses (which pull in `inspect`), no typing, no re. Values here are
plain slotted classes for that reason.
"""

import os
from _collections_abc import Mapping  # already loaded by `os`: free on the start-up path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

#: How many characters of the folder's name `default_instance` keeps, and of the path's hash.
_NAME_CHARS = 24
_HASH_CHARS = 4


def _slug(name: str) -> str:
    """The readable half of `default_instance`: a folder's `name` lowercased, every run of
    characters outside [a-z0-9] written `_`, trimmed, at most 24 characters ("checkout"
    when nothing is left)."""
    slug = ""
    for char in name.lower():
        plain = "a" <= char <= "z" or "0" <= char <= "9"
        if plain:
            slug += char
        elif not slug.endswith("_"):
            slug += "_"
    return slug.strip("_")[:_NAME_CHARS].rstrip("_") or "checkout"


def default_instance(root: str) -> str:
    """DEVENV_INSTANCE of the canonical environment of the checkout at `root` (shells,
    `devenv run`, `devenv up` without --instance): the folder's name (`_slug`) + "_" + the
    first hex digits of a sha256 of its real path, e.g. `main_f2af` for /work/main.

    Two checkouts of one project on one machine thus never share a queue or a database
    file by default (`ops_core_${DEVENV_INSTANCE}`), even when their folders have the same
    name, and the name still says which checkout it is (docker compose names its default
    project after the folder too). Letters, digits and `_` only: usable unquoted in queue
    names, file names and PostgreSQL identifiers. Not on the `print-env` path: the value is
    resolved into `.devenv/env.nul`, which a fresh launch reads as it is.
    """
    from devenv.digest import sha256

    real = os.path.realpath(root)
    digest = sha256(real.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{_slug(os.path.basename(real))}_{digest[:_HASH_CHARS]}"


#: The keys devenv sets in every environment it resolves: the project folder, the hash of the
#: resolved environment (what `ps` and `diff` compare), the run's instance, and the
#: variable naming the chosen `[profiles.NAME]` (read from the caller: `--profile NAME` is
#: the same as `DEVENV_PROFILE=NAME`; set in every environment of that profile, removed
#: from the base one, so a shell or a process always says which profile it runs).
ROOT_KEY = "DEVENV_ROOT"
FINGERPRINT_KEY = "DEVENV_FINGERPRINT"
INSTANCE_KEY = "DEVENV_INSTANCE"
PROFILE_KEY = "DEVENV_PROFILE"

#: The keys a launcher sets on its own child to label it for `devenv ps`, `stop` and
#: leftovers (the run record it belongs to, the service a start command runs for, who
#: launched it, the keys an override set); never taken from a caller (a launch inside a
#: launch gets its own) nor from any layer.
RUN_ID_KEY = "DEVENV_RUN_ID"
SERVICE_KEY = "DEVENV_SERVICE"
LAUNCHER_KEY = "DEVENV_LAUNCHER"
OVERRIDES_KEY = "DEVENV_OVERRIDES"
LABEL_KEYS = (RUN_ID_KEY, SERVICE_KEY, LAUNCHER_KEY, OVERRIDES_KEY)

#: Keys devenv computes; a dotenv file or [vars] setting one of them is an error.
MANAGED_KEYS = (
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "PATH",
    ROOT_KEY,
    FINGERPRINT_KEY,
    INSTANCE_KEY,
    PROFILE_KEY,
    *LABEL_KEYS,
)

#: What a launched process gets from its launcher's environment besides the canonical keys
#: (and PATH, which keeps the caller's folders after the venv's): keys that describe the
#: person, the terminal, the locale, the network and the desktop session, never the program.
#: The README ("What a launched process gets") says why each is here; tox's default
#: pass_env is the precedent. Anything else reaches a process only through [env].pass.
DEFAULT_PASS = (
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "SSH_AUTH_SOCK",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "EDITOR",
    "VISUAL",
    "PAGER",
)

#: Which envspec.toml key controls each managed key (used in error messages).
MANAGED_BY = {
    "PYTHONPATH": "[paths].pythonpath",
    "VIRTUAL_ENV": "[python].venv",
    "PATH": "[python].venv (its bin folder is put first on PATH)",
    ROOT_KEY: "the folder holding envspec.toml",
    FINGERPRINT_KEY: "devenv itself (a hash of the resolved environment)",
    INSTANCE_KEY: (
        "the launcher (this checkout's default instance, its folder name + a hash of its path, for shells, "
        "run and up; --instance NAME; one per pytest session and xdist worker)"
    ),
    PROFILE_KEY: "--profile NAME or DEVENV_PROFILE of the caller ([profiles.NAME])",
    RUN_ID_KEY: "the launcher (one per process devenv starts, for `devenv ps` and `stop`)",
    SERVICE_KEY: "the launcher (the [services] name a start command runs for)",
    LAUNCHER_KEY: "the launcher (run, nox, up, fixture, api: what `devenv ps` shows)",
    OVERRIDES_KEY: "the launcher (the keys --set or a process's overrides set, for `ps` and `diff`)",
}


class CanonicalEnv(Mapping[str, str]):
    """What every launched process gets on top of its base environment.

    `variables` holds resolved and managed keys except PATH, sorted by key; `path_prefix`
    are the folders put first on PATH; `unset` are removed from the base; `pass_through`
    are the [env].pass names and globs taken from the base besides DEFAULT_PASS. The object
    is a read-only mapping of those variables (`env["DATABASE_URL"]`); `apply_env` gives
    the whole environment of a child, PATH included.
    """

    __slots__ = (
        "fingerprint",
        "overridden",
        "pass_through",
        "path_prefix",
        "root",
        "secret",
        "unset",
        "variables",
    )

    def __init__(
        self,
        *,
        root: str,
        fingerprint: str,
        variables: "Mapping[str, str]",
        path_prefix: "Iterable[str]" = (),
        unset: "Iterable[str]" = (),
        secret: "Iterable[str]" = (),
        pass_through: "Iterable[str]" = (),
        overridden: "Iterable[str]" = (),
    ) -> None:
        self.root = root
        self.fingerprint = fingerprint
        self.variables = dict(sorted(variables.items()))
        self.path_prefix = tuple(path_prefix)
        self.unset = tuple(unset)
        self.secret = tuple(secret)
        self.pass_through = tuple(pass_through)
        #: Keys the top layer (--set, a process's overrides) set: a launch records them in
        #: DEVENV_OVERRIDES so `ps` and `diff` compare with them instead of calling it stale.
        self.overridden = tuple(overridden)

    def __getitem__(self, key: str) -> str:
        return self.variables[key]

    @property
    def instance(self) -> str:
        """Its DEVENV_INSTANCE (the checkout's default one for an env that names none)."""
        return self.variables.get(INSTANCE_KEY) or default_instance(self.root)

    def __iter__(self) -> "Iterator[str]":
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        # Never show values: they may be secrets, and pytest prints reprs on failure.
        keys = list(self.variables)
        return f"CanonicalEnv(root={self.root!r}, fingerprint={self.fingerprint!r}, keys={keys!r})"


def join_path(prefix: "Iterable[str]", base_path: str) -> str:
    """PATH for a child: `prefix` first, then `base_path` without those folders or empty entries.

    Empty entries mean "the current folder" to every shell and exec; dropping them keeps
    a launch from depending on where it was started. The shell renderers emit the same rule.
    """
    first = list(prefix)
    rest = [entry for entry in base_path.split(os.pathsep) if entry and entry not in first]
    return os.pathsep.join(first + rest)


def _glob(name: str, pattern: str) -> bool:
    """`pattern` with `*` (any run) and `?` (one character) matches all of `name`.

    By hand: fnmatch imports re, which the `run` start-up budget cannot afford."""
    n = p = 0
    star, mark = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":  # first: a `*` is never a literal, even
            star, mark = p, n  # facing a `*` of the name
            p += 1
        elif p < len(pattern) and pattern[p] in ("?", name[n]):
            n += 1
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            n = mark
        else:
            return False
    return all(char == "*" for char in pattern[p:])


def _is_glob(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


class _PassSet:
    """DEFAULT_PASS and [env].pass sorted for matching: names, the globs that are only a
    prefix and `*` (LC_*, PIP_*: one `startswith` for all of them), and the other globs.
    `apply_env` asks it of every key of the caller's environment on the `run` path."""

    __slots__ = ("globs", "names", "prefixes")

    def __init__(self, pass_through: "Iterable[str]") -> None:
        self.names: set[str] = set()
        self.globs: list[str] = []
        prefixes = []
        for pattern in (*DEFAULT_PASS, *pass_through):
            if not _is_glob(pattern):
                self.names.add(pattern)
            elif pattern[-1] == "*" and not _is_glob(pattern[:-1]):
                prefixes.append(pattern[:-1])
            else:
                self.globs.append(pattern)
        self.prefixes = tuple(prefixes)

    def passes(self, key: str) -> bool:
        if key in LABEL_KEYS:
            return False
        return key in self.names or key.startswith(self.prefixes) or any(_glob(key, p) for p in self.globs)


def passes(key: str, pass_through: "Iterable[str]" = ()) -> bool:
    """True when a launched process gets `key` from its launcher's environment: DEFAULT_PASS
    or an [env].pass name or glob, and never a label key (a launch labels its own child)."""
    return _PassSet(pass_through).passes(key)


def apply_env(env: CanonicalEnv, base: "Mapping[str, str]") -> dict[str, str]:
    """The environment a child gets: the keys of `base` that pass (`passes`), minus `unset`,
    plus every canonical key, and PATH: the venv's folders first, then `base`'s.

    Nothing else of `base` reaches the child, so a process started from a developer's shell,
    from nox, from the fixture or from CI gets the same environment. An inherited PYTHONPATH
    is replaced, never appended to, which is what keeps launchers equal.
    """
    passing = _PassSet(env.pass_through).passes
    result = {key: value for key, value in base.items() if passing(key)}
    for key in env.unset:
        result.pop(key, None)
    result.update(env.variables)
    result["PATH"] = join_path(env.path_prefix, base.get("PATH", os.defpath))
    if env.overridden:
        result[OVERRIDES_KEY] = ",".join(env.overridden)
    return result


def exported(env: CanonicalEnv, base_path: str) -> dict[str, str]:
    """Every key devenv sets for a caller whose PATH is `base_path` (what print-env shows)."""
    result = dict(env.variables)
    if env.path_prefix:
        result["PATH"] = join_path(env.path_prefix, base_path)
    return dict(sorted(result.items()))
