"""A project on disk: read its inputs, resolve them, keep `.devenv/` fresh, run `sync`.

This is the slow path. `print-env` and `run` only come here when `snapshot.py` finds an
input changed; then the variables are re-resolved automatically (like direnv reloading),
while a change to [python] needs an explicit `devenv sync`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from devenv.dotenvfile import Parse, decode_dotenv, parse_text
from devenv.environment import FINGERPRINT_KEY, PROFILE_KEY, CanonicalEnv
from devenv.errors import (
    NOT_A_FILE,
    REQUIRED_MISSING,
    DevenvError,
    DotenvError,
    Place,
    ResolveError,
    SpecError,
    StaleError,
)
from devenv.package_inputs import changed_parts, moved_since, recorded_paths, recording, stale_detail, watch
from devenv.records import dataclass, field
from devenv.resolver import (
    DotenvSource,
    Resolution,
    python_identity,
    pythonpath_entries,
    resolve,
    venv_python,
)
from devenv.root import SPEC_FILENAME
from devenv.snapshot import Snapshot, read_snapshot
from devenv.spec import Spec, line_of, parse_spec
from devenv.store import (
    EnvDocument,
    InputRecord,
    PythonRecord,
    input_record,
    locked,
    read_document,
    refuse_tracked,
    write_state,
)

if TYPE_CHECKING:
    # A refresh (a dotenv or [vars] change) needs none of the venv machinery (subprocess,
    # packaging, the installers): sync imports it when it runs.
    from devenv.installers import Progress


#: The largest envspec.toml or dotenv file devenv reads. Every variable ends up in each
#: launched process's environment, which Linux caps at a few MiB in total, and python-dotenv
#: parses about 1 MB a second: a bigger file is a mistake, not configuration.
MAX_INPUT_BYTES = 1024 * 1024

#: An input modified less than this long ago may be modified again within the same tick of
#: the file-system clock, keeping its size and mtime: its record is then marked racy.
RACY_NS = 100_000_000

#: How often devenv reads the inputs again when one changes under it (or fails to parse
#: while it is being written) before giving up, and the pause between attempts.
MAX_ATTEMPTS = 40
RETRY_PAUSE = 0.005

#: Bytes of an input written less than this long ago are never served: they are read again
#: once it has been quiet that long (an editor or a script rewriting a file in place writes
#: it in pieces); a file still being written after QUIET_WAIT seconds is an error.
QUIET_NS = 100_000_000
QUIET_WAIT = 2.0

#: The dotenv files whose parse is kept for the next resolution (devenv/dotenv_cache.py):
#: those of at least this many characters. A shorter one parses in a millisecond or two,
#: about what keeping its parse costs.
KEEP_PARSES_FROM = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectState:
    """A resolution together with a record of exactly the input bytes it came from."""

    spec: Spec
    resolution: Resolution
    inputs: tuple[InputRecord, ...]
    racy: bool
    #: The parse of each dotenv file (by path), which the next resolution reuses
    #: (devenv/dotenv_cache.py; kept by `refresh` and `sync` with the rest of `.devenv/`).
    parses: dict[str, Parse] = field(default_factory=dict)


def read_input(
    path: str, name: str, error: type[DevenvError], *, fix: str = "fix [dotenv].files"
) -> bytes | None:
    """The bytes of an input file (None when absent), refusing anything that is not a
    regular file (a FIFO would hang every command, a device never ends) and huge files.
    `fix` ends the message for a file that is not regular (what else the user can do)."""
    import errno
    import stat

    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait for one.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise _not_a_file(error, name, "a socket", fix) from None
        raise error(f"{name}: cannot read: {exc.strerror}", place=Place(name)) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise _not_a_file(error, name, _kind(mode), fix)
    with open(descriptor, "rb") as handle:
        try:
            data = handle.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise error(f"{name}: cannot read: {exc.strerror}", place=Place(name)) from None
    if len(data) > MAX_INPUT_BYTES:
        size = os.path.getsize(path)
        raise error(
            f"{name}: {size / 1e6:.1f} MB is more than devenv reads ({MAX_INPUT_BYTES // 1024} KiB); every "
            "variable goes into each process's environment, which Linux caps at a few MiB: "
            "put large data in a file and set its path instead",
            place=Place(name),
        )
    return data


def _kind(mode: int) -> str:
    import stat

    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _not_a_file(error: type[DevenvError], name: str, kind: str, fix: str) -> DevenvError:
    return error(
        f"{name}: is {kind}, not a file; devenv reads only regular files (a FIFO or a device "
        f"would hang or never end): replace it with a file, or {fix}",
        place=Place(name),
        cause=NOT_A_FILE,
    )


def _dotenv_source(
    spec: Spec,
    name: str,
    data: bytes | None,
    kept: Callable[[str], Parse | None],
    parses: dict[str, Parse],
) -> DotenvSource:
    """The entries of dotenv file `name`; its parse goes into `parses` (by path), reusing
    the one `kept` has for its path when it is long enough to be worth it."""
    if data is None:
        if name in spec.dotenv.optional:
            return DotenvSource(name=name, entries=None)
        create = _copy_hint(spec.root, [name]) or "create it"
        raise DotenvError(
            f"{name}: not found (listed in {line_of(spec.path, 'dotenv', 'files')} [dotenv].files); "
            f"{create}, or add it to [dotenv].optional if it may be absent",
            place=Place(name),
        )
    path = os.path.join(spec.root, name)
    text = decode_dotenv(data, name=name)
    parse = parse_text(text, name=name, previous=kept(path) if len(text) >= KEEP_PARSES_FROM else None)
    parses[path] = parse
    return DotenvSource(name=name, entries=parse.entries())


#: What a project names the dotenv file to copy (`.env.example` for `.env`), in that order.
TEMPLATE_SUFFIXES = (".example", ".sample", ".template")


def _copy_hint(root: str, absent: Sequence[str]) -> str:
    """`copy .env.example to .env and fill it in` for each of the `absent` dotenv files that
    has such a file beside it ("" when none has): a fresh clone's first error says the step."""
    hints = []
    for name in absent:
        template = next(
            (
                name + suffix
                for suffix in TEMPLATE_SUFFIXES
                if os.path.isfile(os.path.join(root, name + suffix))
            ),
            None,
        )
        if template is not None:
            hints.append(f"copy {template} to {name} and fill it in")
    return "; ".join(hints)


def check_pythonpath(spec: Spec) -> None:
    """Every [paths].pythonpath entry must be an existing folder."""
    for entry, absolute in zip(spec.pythonpath, pythonpath_entries(spec), strict=False):
        if not os.path.isdir(absolute):
            raise SpecError(
                f"{line_of(spec.path, 'paths', 'pythonpath')}: [paths].pythonpath entry {entry!r} is not a "
                f"folder ({absolute}); "
                "create it or remove it from the list"
            )


def input_paths(spec: Spec, python: PythonRecord | None = None) -> list[str]:
    """Files whose change means the environment must be resolved again, and (from `python`,
    the last sync's record) the files [python].packages reads, whose change means checking
    that the venv is still what they declare (`package_inputs`)."""
    dotenv = [os.path.join(spec.root, name) for name in spec.dotenv.files]
    return list(dict.fromkeys([spec.path, *dotenv, venv_python(spec), *recorded_paths(python)]))


def last_python(root: str) -> PythonRecord | None:
    """What the last sync installed (env.json's python record), or None before a sync."""
    try:
        document = read_document(root)
    except StaleError:
        return None
    return document["python"] if document is not None and "python" in document else None


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino)


def _record(path: str, stamp: tuple[int, int, int] | None, data: bytes | None) -> InputRecord:
    from devenv.digest import sha256

    if stamp is None:
        return {"path": path, "size": None, "mtime_ns": None, "sha256": None}
    digest = sha256(data).hexdigest() if data is not None else input_record(path)["sha256"]
    return {"path": path, "size": stamp[0], "mtime_ns": stamp[1], "sha256": digest}


def _read_once(
    root: str,
    outer: Mapping[str, str],
    overrides: Sequence[tuple[str, str]],
    seen: dict[str, object],
    python: PythonRecord | None,
    instance: str | None,
    check_paths: bool,
    profile: str | None = None,
    unit_name: str | None = None,
    expand_overrides: bool = True,
    kept: Callable[[str], Parse | None] = lambda path: None,
) -> ProjectState | None:
    """One attempt: stat every input, read and resolve, stat again; None if anything moved.

    `seen` collects the stamps taken, so the caller can tell a file being written from a
    file that is simply wrong.
    """
    spec_path = os.path.join(root, SPEC_FILENAME)
    before = {spec_path: _stat(spec_path)}
    seen.update(before)
    spec_data = read_input(spec_path, spec_path, SpecError)
    if spec_data is None:
        raise SpecError(f"{spec_path}: not found; create it (see the README's envspec reference)")
    spec = parse_spec(spec_data, path=spec_path, root=root).with_profile(profile)
    unit = None
    if unit_name:
        unit = spec.task(unit_name) if unit_name in spec.task_names() else spec.process(unit_name)
    paths = input_paths(spec, python)[1:]
    for path in paths:
        before[path] = _stat(path)
    seen.update(before)
    dotenv_data = {}
    for name in spec.dotenv.files:
        path = os.path.join(root, name)
        dotenv_data[path] = read_input(path, name, DotenvError)
    if check_paths:
        check_pythonpath(spec)
    parses: dict[str, Parse] = {}
    sources = []
    for name in spec.dotenv.files:
        path = os.path.join(root, name)
        sources.append(_dotenv_source(spec, name, dotenv_data[path], kept, parses))
    try:
        resolution = resolve(
            spec,
            dotenv=sources,
            outer=outer,
            overrides=overrides,
            python=python_identity(python),
            instance=instance,
            unit=unit,
            expand_overrides=expand_overrides,
        )
    except ResolveError as error:
        absent = [source.name for source in sources if source.entries is None]
        if error.cause != REQUIRED_MISSING or not (hint := _copy_hint(root, absent)):
            raise
        raise ResolveError(
            f"{error}; {hint}", place=error.place, keys=error.keys, cause=error.cause
        ) from None
    after = {path: _stat(path) for path in before}
    if after != before:
        seen.update(after)
        return None
    data = {spec_path: spec_data, **dotenv_data}
    inputs = tuple(_record(path, stamp, data.get(path)) for path, stamp in before.items())
    now = time.time_ns()
    racy = any(record["mtime_ns"] is not None and now - record["mtime_ns"] < RACY_NS for record in inputs)
    return ProjectState(spec=spec, resolution=resolution, inputs=inputs, racy=racy, parses=parses)


def resolve_env(
    root: str,
    outer: Mapping[str, str],
    *,
    overrides: Sequence[tuple[str, str]] = (),
    instance: str | None = None,
    python: PythonRecord | None = None,
    check_paths: bool = True,
    profile: str | None = None,
    unit: str | None = None,
    expand_overrides: bool = True,
) -> ProjectState:
    """The one door into resolution: the project at `root` as a launch from a shell with
    `outer` would get it, with `overrides` (`--set`, a process's overrides) as the top layer
    and `instance` as ${DEVENV_INSTANCE} (None: the checkout's default instance,
    `environment.default_instance`). Everything that needs values, provenance or a
    fingerprint comes here (refresh, sync, run --set, up, the fixture, the API, ps, diff,
    explain, doctor), so a layer added here reaches every one of them.

    Only [env].inherit keys are read from `outer`. The fingerprint covers `python` (default:
    what the last sync installed). `check_paths=False` skips the [paths].pythonpath check
    (doctor reports it on its own).

    `profile` is the `[profiles.NAME]` stacked on top: None takes the one DEVENV_PROFILE in
    `outer` names (`--profile NAME` sets it for the command), "" is the base declaration.
    `unit` names a declared process or task whose own `env` table is one more layer, under
    `overrides`: what that process or task is launched with. `expand_overrides=False`
    applies `overrides` as they are: the values a running process got (`drift.expected_env`).

    Each input is stat-ed before it is read and again after, and the whole read is retried
    (a bounded number of times) when any of them changed in between, so the record that goes
    next to the values describes exactly the bytes they came from. An error raised while an
    input is being rewritten (a half-written `.env`) is retried too before it is reported.
    """
    if python is None:
        python = last_python(root)
    loaded: list[dict[str, Parse]] = []

    def kept(path: str) -> Parse | None:
        if not loaded:  # read once, and only when a dotenv file is long enough to use it
            from devenv import dotenv_cache

            loaded.append(dotenv_cache.load(root))
        return loaded[0].get(path)

    deadline = time.monotonic() + QUIET_WAIT
    for attempt in range(MAX_ATTEMPTS):
        seen: dict[str, object] = {}
        try:
            state = _read_once(
                root,
                outer,
                overrides,
                seen,
                python,
                instance,
                check_paths,
                outer.get(PROFILE_KEY) if profile is None else profile,
                unit,
                expand_overrides,
                kept,
            )
        except DevenvError:
            if attempt + 1 < MAX_ATTEMPTS and _changing(seen):
                time.sleep(RETRY_PAUSE)
                continue
            raise
        if state is None:
            time.sleep(RETRY_PAUSE)
            continue
        # A file rewritten in place (truncated, then written in pieces) can look whole and
        # unchanging for the moment between two pieces. Bytes of an input written within
        # QUIET_NS are not served: they are read again once it has been quiet that long,
        # and a file that is never quiet is an error, never a value.
        pause = _quiet_in(state.inputs)
        if pause <= 0:
            return state
        if time.monotonic() + pause > deadline:
            break
        time.sleep(pause)
    raise StaleError(
        f"{root}: the inputs kept changing while devenv read them ({MAX_ATTEMPTS} attempts); "
        "run the command again once whatever is writing them has finished"
    )


def _quiet_in(inputs: Sequence[InputRecord]) -> float:
    """Seconds until every input has gone QUIET_NS without a write (0 when all have; an
    mtime in the future, a clock set back, is not waited for)."""
    now = time.time_ns()
    recent = [
        record["mtime_ns"]
        for record in inputs
        if record["mtime_ns"] is not None and 0 <= now - record["mtime_ns"] < QUIET_NS
    ]
    return (max(recent) + QUIET_NS - now) / 1e9 if recent else 0.0


def _changing(seen: Mapping[str, object]) -> bool:
    """True when an input was modified just now, or differs from the stamp taken earlier."""
    now = time.time_ns()
    for path, stamp in seen.items():
        current = _stat(path)
        if current != stamp:
            return True
        if current is not None and now - current[1] < RACY_NS:
            return True
    return False


def _inherited(spec: Spec, outer: Mapping[str, str]) -> dict[str, str | None]:
    """The outer keys the environment depends on: [env].inherit, and DEVENV_PROFILE (which
    profile it is), so a snapshot made for one profile is never fresh for another."""
    return {key: outer.get(key) for key in (*spec.env.inherit, PROFILE_KEY)}


def _write(
    state: ProjectState,
    python: PythonRecord,
    outer: Mapping[str, str],
    git_index: list[str] | None,
    env: CanonicalEnv | None = None,
) -> EnvDocument:
    """Write `.devenv/` for `state`, and keep its dotenv parses for the next resolution
    (the caller holds `.devenv/lock`)."""
    worth = {path: parse for path, parse in state.parses.items() if len(parse.text) >= KEEP_PARSES_FROM}
    if worth:
        from devenv import dotenv_cache

        dotenv_cache.save(state.spec.root, worth)
    return write_state(
        state.spec.root,
        state.resolution,
        python=python,
        inputs=state.inputs,
        inherited=_inherited(state.spec, outer),
        racy=state.racy,
        git_index=git_index,
        env=env,
    )


def _refuse_tracked_since_known(root: str) -> tuple[EnvDocument | None, list[str] | None]:
    """The last sync's document (None when unreadable) and `refuse_tracked`'s stamp of the
    git index. The document is bound to this checkout and this user's (read_document), so
    its record of the git index may spare the `git ls-files`; a committed copy is never
    bound here."""
    try:
        known = read_document(root, variables=False)  # both callers rewrite them: not decoded
    except DevenvError:
        known = None
    return known, refuse_tracked(root, untracked_at=known.get("git_index") if known else None)


def refresh(root: str, outer: Mapping[str, str], *, frozen: bool = False) -> Snapshot:
    """Make `.devenv/` current for `outer` and return the fresh snapshot.

    The inputs are resolved without the lock; the result is written only if no other
    process holds it (that one is writing a result of its own), so a reader never queues
    behind a writer. Whichever write lands last, its record names the bytes it resolved,
    and a later reader sees whether they are still current.
    """
    import gc

    # A refresh of 10 000 keys makes some 200 000 objects that all live until it returns,
    # none in a cycle: the cyclic collector would walk them again and again for nothing
    # (~8% of the re-resolve, benchmarks/diagnostics.py). Off for the refresh only.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _refresh(root, outer, frozen=frozen)
    finally:
        if collecting:
            gc.enable()


def _refresh(root: str, outer: Mapping[str, str], *, frozen: bool) -> Snapshot:
    known, git_index = _refuse_tracked_since_known(root)
    document = known if known is not None else read_document(root, variables=False)
    if document is None:
        raise StaleError(f"{root}: no .devenv/ environment yet; run `devenv sync` first")
    if os.path.normpath(document["root"]) != os.path.normpath(root):
        raise StaleError(
            f"{root}: .devenv/ was made for {document['root']} (the project moved); run `devenv sync`"
        )
    state = resolve_env(root, outer, python=document["python"])
    python = _check_python_unchanged(state.spec, document["python"])
    inherited = _inherited(state.spec, outer)
    if frozen:
        changed = _changed_inputs(document, state, inherited)
        if changed:
            raise StaleError(
                f"--frozen: .devenv/ is out of date ({', '.join(changed)} changed since the "
                "last sync); run `devenv sync` without --frozen to update it"
            )
    env = state.resolution.canonical()
    with locked(root, wait=False) as mine:
        if mine:
            _write(state, python, outer, git_index, env)
    return Snapshot(env, _stamps(state.inputs), sorted(inherited.items()))


def _stamps(inputs: Sequence[InputRecord]) -> list[tuple[str, str, str]]:
    """(path, size, mtime_ns) of each input, as env.nul records it."""
    from devenv.snapshot import ABSENT

    return [
        (r["path"], ABSENT, ABSENT) if r["size"] is None else (r["path"], str(r["size"]), str(r["mtime_ns"]))
        for r in inputs
    ]


def _changed_inputs(
    document: EnvDocument, state: ProjectState, inherited: Mapping[str, str | None]
) -> list[str]:
    """The inputs and outer keys whose value differs from what `document` was written from
    (empty when `.devenv/` describes them exactly). The files [python].packages reads count
    by their parts, which `_check_python_unchanged` compared: an edit of `[tool.ruff]` in
    pyproject.toml changes nothing `.devenv/` holds."""
    recorded = {record["path"]: record["sha256"] for record in document["inputs"]}
    by_parts = set(recorded_paths(document["python"]))
    changed = [
        os.path.relpath(record["path"], state.spec.root)
        for record in state.inputs
        if record["path"] not in by_parts and recorded.get(record["path"], "") != record["sha256"]
    ]
    changed += [f"outer {key}" for key, value in inherited.items() if document["inherited"].get(key) != value]
    if not changed and set(document["inherited"]) != set(inherited):
        changed.append("its inputs")
    return changed


def _check_python_unchanged(spec: Spec, python: PythonRecord) -> PythonRecord:
    """Refuse (StaleError) when [python], or a part of a file its packages read, changed
    since the last sync; the record to write (new stats of those files, `package_inputs`)."""
    if not os.path.exists(venv_python(spec)):
        raise StaleError(
            f"{line_of(spec.path, 'python', 'venv')}: {venv_python(spec)}: the venv is missing; "
            "run `devenv sync` to create it"
        )
    if (
        python["requires"] != spec.python.requires
        or python["packages"] != list(spec.python.packages)
        or python["interpreter"] != venv_python(spec)
    ):
        raise StaleError(
            f"{line_of(spec.path, 'python')}: [python] changed since the last `devenv sync`; "
            "run `devenv sync`"
        )
    changes, record = changed_parts(spec, python)
    if changes:
        raise StaleError(f"{stale_detail(changes)}; run `devenv sync`")
    return record


def sync(
    root: str, outer: Mapping[str, str], *, frozen: bool, progress: Progress, check: bool = False
) -> tuple[EnvDocument, bool]:
    """`devenv sync`: venv, packages, resolution, `.devenv/`; returns (document, installed?).
    `check`: change nothing; a StaleError says what a sync would change."""
    # Check first: a venv over user files or a typo in .env or in a requirement line should
    # fail in a second, before .devenv/ or a venv is touched.
    from devenv.requirements import parse_packages
    from devenv.venv import check_venv_location, clear_incomplete, sync_venv

    _, git_index = _refuse_tracked_since_known(root)
    state = resolve_env(root, outer)
    check_venv_location(state.spec, outer)
    parse_packages(state.spec)
    with locked(root):
        previous = read_document(root, repairing=True)
        # Before anything is installed: a failing --frozen or --check changes nothing (no
        # venv left half-synced for `devenv run` to refuse).
        # Only the fingerprint depends on `previous` (resolver.python_identity), and
        # _refuse_changed_variables leaves it out: read again only when an input moved.
        again = state.resolution if _unmoved(state) else resolve_env(root, outer).resolution
        _refuse_changed_variables(previous, again, frozen=frozen, check=check)
        # The files [python].packages reads, stat-ed and read before the installer reads
        # them: an edit made while it runs is looked at again by the next launch.
        watched = None if check else watch(state.spec)
        record, installed = sync_venv(
            state.spec,
            previous["python"] if previous else None,
            frozen=frozen,
            progress=progress,
            check=check,
            meanwhile=() if check else (compile_devenv,),
        )
        if watched is not None:
            record = recording(record, watched, state.spec.root)
        # Read again after pip: an edit made while it ran must not be recorded next to the
        # values from before it.
        state = resolve_env(root, outer, python=record)
        _refuse_changed_variables(previous, state.resolution, frozen=frozen, check=check)
        if check and previous is not None:
            changes, _ = changed_parts(state.spec, previous["python"])
            if changes:
                raise StaleError(f"--check: {stale_detail(changes)}; run `devenv sync`")
            if snapshot_fresh(root, outer, previous["python"]):
                return previous, False
            raise StaleError("--check: .devenv/ is out of date; run `devenv sync`")
        if moved_since(record, _stamps(state.inputs)):
            # Edited after `watch` read it (while the installer ran): env.nul must send the
            # next launch to `changed_parts`, which compares it with what was installed.
            state = ProjectState(
                spec=state.spec,
                resolution=state.resolution,
                inputs=state.inputs,
                racy=True,
                parses=state.parses,
            )
        document = _write(state, record, outer, git_index)
        clear_incomplete(root)
        _write_stamp(state.spec, record)
    return document, installed


def _unmoved(state: ProjectState) -> bool:
    """True when every input of `state` still has the size and mtime it was read with, and
    none was written so recently (racy) that an edit could keep both."""
    return not state.racy and all(
        (stamp[0], stamp[1]) == (record["size"], record["mtime_ns"])
        if (stamp := _stat(record["path"])) is not None
        else record["size"] is None
        for record in state.inputs
    )


def compile_devenv() -> None:
    """Write devenv's own bytecode when it runs from a source checkout (an editable install).

    Python reads __pycache__ even under PYTHONDONTWRITEBYTECODE=1 (common in CI and container
    images), it only never writes it; without it every print-env compiles cli.py and the rest
    again, which alone breaks their start-up budget. A regular install was compiled by pip."""
    import devenv

    folder = os.path.dirname(os.path.abspath(devenv.__file__))
    if "site-packages" not in folder.split(os.sep) and not _bytecode_current(folder):
        import compileall

        compileall.compile_dir(folder, quiet=2)


def _bytecode_current(folder: str) -> bool:
    """True when every module under `folder` has bytecode that Python would use as it is: the
    source's mtime and size recorded in the .pyc header (importlib's own check, which
    compileall repeats). Checking costs ~1 ms; compileall ~18 ms with its imports, in a thread
    beside the installer on a two-core machine (README, "Performance")."""
    import sys
    from importlib.util import MAGIC_NUMBER

    tag = sys.implementation.cache_tag
    for path, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            try:
                source = os.stat(os.path.join(path, name))
                with open(os.path.join(path, "__pycache__", f"{name[:-3]}.{tag}.pyc"), "rb") as handle:
                    header = handle.read(16)
            except OSError:
                return False
            # PEP 552: magic, flags (0: checked by timestamp), source mtime, source size.
            expected = int(source.st_mtime) & 0xFFFFFFFF, source.st_size & 0xFFFFFFFF
            if len(header) < 16 or header[:8] != MAGIC_NUMBER + bytes(4) or _words(header[8:]) != expected:
                return False
    return True


def _words(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[:4], "little"), int.from_bytes(data[4:], "little")


def _write_stamp(spec: Spec, record: PythonRecord) -> None:
    """Record what this sync saw so the next one can decide "nothing changed" from stats."""
    from devenv.layout import ENV_JSON, PRIVATE_LOCK, SYNC_STAMP, state_path
    from devenv.lock import lock_files
    from devenv.requirements import metadata_files, parse_packages
    from devenv.stamp import encode_stamp, site_packages
    from devenv.store import write_atomic

    venv = record["venv"]
    import devenv

    own = os.path.dirname(os.path.abspath(devenv.__file__))  # a checkout or pull re-compiles it
    paths = [spec.path, spec.root, *lock_files(spec.root), state_path(spec.root, ENV_JSON), own]
    if not record["lock"]:
        paths.append(state_path(spec.root, PRIVATE_LOCK))
    paths += metadata_files(spec, parse_packages(spec))
    paths += [*site_packages(venv), os.path.join(venv, "bin", "python"), record["base_interpreter"]]
    text = encode_stamp(spec.root, paths, locked=bool(record["lock"]) or not spec.python.packages)
    write_atomic(state_path(spec.root, SYNC_STAMP), text.encode("utf-8", "surrogateescape"))


def _refuse_changed_variables(
    previous: EnvDocument | None, resolution: Resolution, *, frozen: bool, check: bool
) -> None:
    """--frozen and --check: a StaleError when `resolution` differs from the last sync's."""
    if (frozen or check) and previous is not None and _variables(previous) != _variables_of(resolution):
        raise StaleError(
            f"{'--frozen' if frozen else '--check'}: the resolved variables differ from "
            ".devenv/env.json; run `devenv sync`"
        )


def _variables_of(resolution: Resolution) -> dict[str, str]:
    values = resolution.values()
    values.pop(FINGERPRINT_KEY, None)
    return values


def _variables(document: EnvDocument) -> dict[str, str]:
    values = {key: item["value"] for key, item in document["variables"].items()}
    values.pop(FINGERPRINT_KEY, None)
    return values


def snapshot_fresh(root: str, outer: Mapping[str, str], python: PythonRecord) -> bool:
    """True when env.nul exists and none of its inputs changed; the files [python].packages
    reads (recorded in `python`) count by their parts, which `changed_parts` compares."""
    snapshot = read_snapshot(root)
    if snapshot is None:
        return False
    by_parts = set(recorded_paths(python))
    inputs = [entry for entry in snapshot.inputs if entry[0] not in by_parts]
    return Snapshot(snapshot.env, inputs, snapshot.inherited).is_fresh(outer)
