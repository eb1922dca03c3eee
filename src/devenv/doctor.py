"""`devenv doctor`: every way a project's environment can be broken, checked in order.

Read-only: it never writes `.devenv/` or the venv. Checks run in the order a user would fix
them (spec, interpreter, packages, paths, variables, state, services, the commands of tasks
and processes, shell); one that
depends on an earlier failure says it was skipped and why, rather than failing again.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict

from devenv.environment import FINGERPRINT_KEY, PROFILE_KEY, ROOT_KEY
from devenv.errors import NOT_A_FILE, REQUIRED_MISSING, UNKNOWN_PROFILE, DevenvError, Place
from devenv.layout import state_dir
from devenv.masking import Masker
from devenv.records import dataclass

if TYPE_CHECKING:
    # Types only: each check imports what it runs, so a failing early check (an invalid
    # spec) never pays for, or trips over, the modules of later ones.
    from devenv.environment import CanonicalEnv
    from devenv.resolver import Resolution
    from devenv.spec import Spec, Unit
    from devenv.store import EnvDocument


CheckStatus: TypeAlias = Literal["ok", "warn", "fail"]

SYNC = "devenv sync"
LOAD_ENV = 'eval "$(devenv print-env)"'


class CheckJson(TypedDict):
    name: str
    status: CheckStatus
    detail: str
    fix: str


class DoctorJson(TypedDict):
    """The `devenv doctor --json` shape."""

    root: str
    ok: bool
    checks: list[CheckJson]


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """One check's result; `fix` is a command the user can paste (empty when ok)."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class DoctorReport:
    """Every check in order; exit 1 when any failed (warnings do not fail)."""

    root: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        """True when any check failed."""
        return any(check.status == "fail" for check in self.checks)

    @property
    def exit_code(self) -> int:
        """What `devenv doctor` exits with: 1 when any check failed, else 0."""
        return 1 if self.failed else 0

    def check(self, name: str) -> Check:
        """The check called `name`."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_json(self) -> DoctorJson:
        """The JSON form (`devenv doctor --json`)."""
        return {
            "root": self.root,
            "ok": not self.failed,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix} for c in self.checks
            ],
        }


def _ok(name: str, detail: str) -> Check:
    return Check(name=name, status="ok", detail=detail)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name=name, status="fail", detail=detail, fix=fix)


def _skip(name: str, reason: str) -> Check:
    # Not a failure of its own (the earlier one already fails the run, and its fix comes
    # first), but not "ok" either: nothing was checked.
    return Check(name=name, status="warn", detail=f"skipped: {reason}")


def _sync_fix(root: str) -> str:
    """`devenv sync`, unless .devenv is a symlink, which sync refuses to write through."""
    folder = state_dir(root)
    if os.path.islink(folder):
        return f"rm {shlex.quote(folder)} && {SYNC}  # removes the link, not its target"
    return SYNC


def _edit(path: str, line: int | None = None) -> str:
    # The line as a comment, not `+N`: not every $EDITOR takes that.
    return f"${{EDITOR:-vi}} {shlex.quote(path)}" + (f"  # line {line}" if line is not None else "")


def _then_sync(fix: str) -> str:
    """`fix`, then `devenv sync` (before its comment): what a stale .devenv/ needs when the
    variables do not resolve, since sync alone fails with the same error."""
    command, hash_mark, comment = fix.partition("  # ")
    return f"{command} && {SYNC}" + (f"  # {comment}" if hash_mark else "")


class _Doctor:
    """Runs the checks, carrying what each one learned to the next."""

    def __init__(self, root: str, outer: Mapping[str, str]) -> None:
        self.root = root
        self.outer = outer
        self.checks: list[Check] = []
        self.spec: Spec | None = None
        self.document: EnvDocument | None = None
        self.interpreter_ok = False
        self.resolution: Resolution | None = None
        #: The variables check's fix when they do not resolve (sync would fail the same way).
        self.variables_fix = ""

    def add(self, check: Check) -> None:
        self.checks.append(check)

    def report(self) -> DoctorReport:
        # Mask last, with the newest values known: any message may quote a URL or a value.
        env = self.resolution.canonical() if self.resolution is not None else _snapshot_env(self.root)
        masker = Masker.from_env(env) if env is not None else Masker()
        checks = tuple(
            Check(name=c.name, status=c.status, detail=masker.mask(c.detail), fix=masker.mask(c.fix))
            for c in self.checks
        )
        return DoctorReport(root=self.root, checks=checks)

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root) if path.startswith(self.root + os.sep) else path

    def run(self) -> DoctorReport:
        self.check_spec()
        if self.spec is None:
            for name in ("interpreter", "packages", "pythonpath", "variables", "state", "shell"):
                self.add(_skip(name, "spec invalid"))
            return self.report()
        spec = self.spec
        self.check_interpreter(spec)
        self.check_packages(spec)
        self.check_pythonpath(spec)
        self.check_variables(spec)
        self.check_code_keys()
        self.check_state(spec)
        for service in spec.services:
            self.check_service(spec, service.name)
        for task in spec.tasks:  # in the order up runs them: tasks first
            self.check_unit(spec, task)
        for process in spec.processes:
            self.check_unit(spec, process)
        self.check_shell()
        return self.report()

    # -- the checks, in order -----------------------------------------------------------------

    def check_spec(self) -> None:
        from devenv.root import SPEC_FILENAME
        from devenv.spec import load_spec

        try:
            self.spec = load_spec(self.root)
        except DevenvError as error:
            place = error.place or Place(os.path.join(self.root, SPEC_FILENAME))
            self.add(_fail("spec", str(error), _edit(place.path, place.line)))
            return
        counts = f"{len(self.spec.services)} service(s), {len(self.spec.processes)} process(es)"
        self.add(_ok("spec", f"{SPEC_FILENAME} is valid (schema 1; {counts})"))

    def check_interpreter(self, spec: Spec) -> None:
        from devenv.interpreters import probe_interpreter
        from devenv.resolver import venv_python
        from devenv.store import read_document

        try:
            self.document = read_document(self.root)
        except DevenvError as error:
            self.add(_fail("interpreter", str(error), _sync_fix(self.root)))
            return
        python = venv_python(spec)
        if self.document is None:
            self.add(_fail("interpreter", "no .devenv/ environment yet (never synced)", SYNC))
            return
        # Read-only: the cache sync keeps answers while the interpreter is unchanged.
        facts = probe_interpreter(python, root=self.root) if os.path.exists(python) else None
        if facts is None:
            self.add(_fail("interpreter", f"{python}: the venv interpreter is missing or broken", SYNC))
            return
        recorded = self.document["python"]["interpreter"]
        if recorded != python:
            self.add(
                _fail(
                    "interpreter",
                    f"the venv moved: .devenv/ records {recorded}, [python].venv gives {python}",
                    SYNC,
                )
            )
            return
        if spec.python.requires:
            from devenv import packaging_cache  # the answer sync recorded: no packaging import

            if not packaging_cache.contains(self.root, spec.python.requires, facts.version):
                self.add(
                    _fail(
                        "interpreter",
                        f"{facts.implementation} {facts.version} ({python}) does not satisfy "
                        f"[python].requires = {spec.python.requires!r}",
                        SYNC,
                    )
                )
                return
        self.interpreter_ok = True
        requires = f", satisfies {spec.python.requires!r}" if spec.python.requires else ""
        self.add(_ok("interpreter", f"{facts.implementation} {facts.version} ({self.rel(python)}{requires})"))

    def check_packages(self, spec: Spec) -> None:
        from devenv.resolver import venv_python
        from devenv.stamp import unchanged

        if not self.interpreter_ok or self.document is None:
            self.add(_skip("packages", "no usable interpreter"))
            return
        record = self.document["python"]
        if record["packages"] != list(spec.python.packages):
            self.add(
                _fail(
                    "packages",
                    f"[python].packages changed since the last sync (synced: {record['packages']}, "
                    f"now: {list(spec.python.packages)})",
                    SYNC,
                )
            )
            return
        from devenv.package_inputs import changed_parts, stale_detail

        try:
            changes, _ = changed_parts(spec, record)
        except DevenvError as error:  # a file they read that cannot be read or parsed
            self.add(_fail("packages", str(error), _edit(error.place.path) if error.place else SYNC))
            return
        if changes:
            self.add(_fail("packages", stale_detail(changes), SYNC))
            return
        recorded = set(record["installed"])
        if unchanged(self.root, frozen=False):
            # sync.nul: the venv's site-packages (and interpreter, lock, spec) are as the last
            # sync left them, which is what a no-op `devenv sync` trusts too; no need to start
            # the interpreter to list them again.
            self.add(
                _ok("packages", f"{len(recorded)} installed, as recorded by the last sync (unchanged since)")
            )
            return
        from devenv.venv import installed_packages

        try:
            current = set(installed_packages(venv_python(spec)))
        except DevenvError as error:
            self.add(_fail("packages", str(error), SYNC))
            return
        added = sorted(current - recorded)
        removed = sorted(recorded - current)
        if not added and not removed:
            self.add(_ok("packages", f"{len(current)} installed, as recorded by the last sync"))
            return
        parts = []
        if added:
            parts.append(f"installed by hand: {', '.join(added)}")
        if removed:
            parts.append(f"removed or changed by hand: {', '.join(removed)}")
        # `devenv sync` notices the difference and rebuilds the venv from [python].packages.
        self.add(_fail("packages", "the venv drifted from the last sync: " + "; ".join(parts), SYNC))

    def check_pythonpath(self, spec: Spec) -> None:
        from devenv.resolver import check_separable, pythonpath_entries

        try:
            check_separable(spec)
        except DevenvError as error:
            self.add(_fail("pythonpath", str(error), "move or rename that folder to a path without ':'"))
            return
        missing = [
            entry
            for entry, absolute in zip(spec.pythonpath, pythonpath_entries(spec), strict=False)
            if not os.path.isdir(absolute)
        ]
        if missing:
            self.add(
                _fail(
                    "pythonpath",
                    f"[paths].pythonpath folder(s) missing: {', '.join(missing)}",
                    "mkdir -p " + " ".join(shlex.quote(entry) for entry in missing),
                )
            )
            return
        self.add(_ok("pythonpath", f"{len(spec.pythonpath)} folder(s) present"))

    def check_variables(self, spec: Spec) -> None:
        from devenv.project import resolve_env

        try:
            # A missing pythonpath folder is its own check above.
            python = self.document["python"] if self.document is not None else None
            state = resolve_env(spec.root, self.outer, python=python, check_paths=False)
            self.resolution = state.resolution
        except DevenvError as error:
            self.variables_fix = _variables_fix(spec, error, self.outer)
            self.add(_fail("variables", str(error), self.variables_fix))
            return
        count = len(self.resolution.variables)
        required = f", all {len(spec.dotenv.required)} required set" if spec.dotenv.required else ""
        self.add(_ok("variables", f"{count} resolved{required}"))

    def check_code_keys(self) -> None:
        """List every variable that makes programs run code, and where it comes from."""
        from devenv.trust import runs_code

        if self.resolution is None:
            return  # the variables check already failed and says why
        found = [f"{v.key} ({v.source})" for v in self.resolution.variables if runs_code(v.key)]
        if not found:
            self.add(_ok("code keys", "no variable makes programs run code (BASH_ENV, LD_PRELOAD, ...)"))
            return
        self.add(
            Check(
                name="code keys",
                status="warn",
                detail=f"these make programs run code, check they are meant: {', '.join(found)}",
            )
        )

    def check_state(self, spec: Spec) -> None:
        from devenv.snapshot import read_snapshot, stat_fields

        folder = state_dir(self.root)
        if os.path.islink(folder):
            target = os.readlink(folder)
            detail = f".devenv is a symlink (to {target}); devenv keeps its state only in a real folder"
            self.add(_fail("state", detail, _sync_fix(self.root)))
            return
        snapshot = read_snapshot(self.root)
        if snapshot is None or self.document is None:
            self.add(_fail("state", ".devenv/ is missing or unreadable", SYNC))
            return
        if os.path.normpath(snapshot.env.root) != os.path.normpath(self.root):
            self.add(_fail("state", f".devenv/ was made for {snapshot.env.root} (the project moved)", SYNC))
            return
        if snapshot.is_fresh(self.outer):
            self.add(_ok("state", f".devenv/ is current (fingerprint {snapshot.env.fingerprint})"))
            return
        if self.resolution is not None and self.resolution.fingerprint == snapshot.env.fingerprint:
            # Inputs were touched (or re-saved) without changing any value: nothing to do.
            self.add(_ok("state", f".devenv/ is current (fingerprint {snapshot.env.fingerprint})"))
            return
        changed = [
            self.rel(path) for path, size, mtime in snapshot.inputs if stat_fields(path) != (size, mtime)
        ]
        changed += [f"outer {key}" for key, value in snapshot.inherited if self.outer.get(key) != value]
        self.add(
            _fail(
                "state",
                f".devenv/ is stale: {', '.join(changed) or 'inputs'} changed since the last sync; "
                "a sourced shell or running process still has the old values",
                _then_sync(self.variables_fix) if self.variables_fix else SYNC,
            )
        )

    def check_service(self, spec: Spec, name: str) -> None:
        check_name = f"service {name}"
        if self.resolution is None:
            self.add(_skip(check_name, "variables do not resolve"))
            return
        from devenv.environment import apply_env
        from devenv.masking import mask_url
        from devenv.services import CommandContext, check_service, service_url

        service = spec.service(name)
        # A check command runs in the environment a launched process gets.
        context = CommandContext(env=apply_env(self.resolution.canonical(), self.outer), root=self.root)
        try:
            # A deadline already reached means one attempt: doctor reports the state now, it
            # does not wait [services].timeout for a service that may never come up.
            check_service(service, self.resolution.values(), deadline=time.monotonic(), context=context)
        except DevenvError as error:
            self.add(_fail(check_name, str(error), _service_fix(spec, name, error)))
            return
        url = mask_url(service_url(service, self.resolution.values()))
        self.add(_ok(check_name, f"{service.check} {url} reachable"))

    def check_unit(self, spec: Spec, unit: Unit) -> None:
        """A task's or process's command as its launch resolves it in the canonical
        environment (`processes.check_launch`, the launchers' own check): every `${...}` of
        its command, env and ready check defined, its command word an executable."""
        kind = "task" if unit.table.startswith("tasks.") else "process"
        check_name = f"{kind} {unit.name}"
        if self.resolution is None:
            self.add(_skip(check_name, "variables do not resolve"))
            return
        from devenv.processes import check_launch

        try:
            handle = check_launch(spec, unit, self.resolution.canonical(), base=self.outer)
        except DevenvError as error:
            place = error.place or Place(spec.path)
            self.add(_fail(check_name, str(error), _edit(place.path, place.line)))
            return
        fields = ["command", *(["env"] if unit.env else []), *(["ready"] if unit.ready else [])]
        self.add(
            _ok(
                check_name,
                f"runs {self.rel(handle.command[0])} ({', '.join(fields)} resolved as a launch would)",
            )
        )

    def check_shell(self) -> None:
        env = self.resolution.canonical() if self.resolution is not None else _snapshot_env(self.root)
        if env is None:
            self.add(_skip("shell", "no resolved environment to compare with"))
            return
        self.add(shell_drift(env, self.outer))


def shell_drift(env: CanonicalEnv, outer: Mapping[str, str]) -> Check:
    """Compare the calling shell (`outer`) with what `eval "$(devenv print-env)"` would set,
    by the same rules as `devenv diff PID` (`drift.compare`), and name the shell's keys that
    launched processes will not get (a shell is where such keys live, so they are no failure;
    named, "works in my shell, not in the fixture" shows before it bites)."""
    from devenv.drift import compare, few, problems_of

    diff = compare(0, "shell", outer, env)
    loaded = outer.get(ROOT_KEY) == env.root and FINGERPRINT_KEY in outer
    problems = problems_of(diff, env)
    undeclared = diff.undeclared  # without what the shell sets for itself (drift.SHELL_STATE_KEYS)
    note = (
        f"; launched processes will not get this shell's {few(undeclared, 10)} (not declared: "
        "add a key to [env].inherit or [env].pass if a process needs it)"
        if undeclared
        else ""
    )
    if not problems:
        return _ok("shell", f"this shell has the canonical environment (fingerprint {env.fingerprint}){note}")
    if not loaded:
        return Check(
            name="shell",
            status="warn",
            detail="this shell has not loaded the project environment (" + "; ".join(problems) + ")" + note,
            fix=LOAD_ENV,
        )
    return _fail(
        "shell", "this shell drifted from the canonical environment: " + "; ".join(problems) + note, LOAD_ENV
    )


def _snapshot_env(root: str) -> CanonicalEnv | None:
    from devenv.snapshot import read_snapshot

    snapshot = read_snapshot(root)
    return snapshot.env if snapshot is not None else None


def _variables_fix(spec: Spec, error: DevenvError, outer: Mapping[str, str]) -> str:
    """The fix for a failed resolution, from the error's fields (never from its wording)."""
    # Missing keys go where the user keeps values: the last dotenv file (it wins).
    target = spec.dotenv.files[-1] if spec.dotenv.files else spec.path
    if error.cause == REQUIRED_MISSING:
        return " && ".join(f"echo '{key}=...' >> {shlex.quote(target)}" for key in error.keys)
    if error.cause == NOT_A_FILE and error.place is not None:
        path = shlex.quote(error.place.path)
        return f"mv {path} {path}.folder  # it must be a file"
    if error.cause == UNKNOWN_PROFILE:
        return _profile_fix(spec, outer.get(PROFILE_KEY, ""))
    place = error.place or Place(target)
    return _edit(place.path, place.line)


def _profile_fix(spec: Spec, name: str) -> str:
    """Choose a declared profile (the closest to `name`), or none, or declare `name`."""
    import difflib

    declared = [profile.name for profile in spec.profiles]
    declare = f"or declare it in {os.path.basename(spec.path)} [profiles]"
    if not declared:
        return f"unset {PROFILE_KEY}  # or drop --profile; {declare}"
    pick = shlex.quote((difflib.get_close_matches(name, declared, n=1) or declared)[0])
    return f"export {PROFILE_KEY}={pick}  # or --profile {pick}; {declare}"


#: The causes of services.ServiceStatus that waiting or starting cannot fix: the URL is wrong.
_URL_CAUSES = frozenset({"auth", "vhost", "database", "role", "dns", "protocol", "bad-url"})


def _wrong_url(error: DevenvError) -> bool:
    return error.cause in _URL_CAUSES


def _service_fix(spec: Spec, name: str, error: DevenvError) -> str:
    service = spec.service(name)
    # A URL written in envspec.toml is fixed there; one taken from a variable, in a dotenv file.
    literal = "${" not in service.url or not spec.dotenv.files
    dotenv = os.path.basename(spec.path) if literal else spec.dotenv.files[-1]
    if _wrong_url(error):
        return _edit(dotenv)
    if error.cause == "no-driver":  # no start or edit helps: this devenv lacks psycopg
        from devenv.services import install_extra

        return install_extra("postgres")
    if service.start:
        return shlex.join(service.start)
    script = os.path.join("scripts", f"start-{name}")
    if os.path.isfile(os.path.join(spec.root, script)):
        return script
    return _edit(dotenv)


def run_checks(root: str, outer_environ: Mapping[str, str]) -> DoctorReport:
    """Run every doctor check for the project at `root`, seen from a shell with `outer_environ`."""
    return _Doctor(root, outer_environ).run()


_MARK: dict[CheckStatus, str] = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def format_doctor(report: DoctorReport) -> str:
    """Human text: one line per check (`fix:` appended to warnings and failures), then a total."""
    width = max((len(check.name) for check in report.checks), default=0)
    lines = []
    for check in report.checks:
        line = f"{_MARK[check.status]}  {check.name.ljust(width)}  {check.detail}"
        if check.fix:
            line += f"  (fix: {check.fix})"
        lines.append(line)
    failed = sum(check.status == "fail" for check in report.checks)
    warned = sum(check.status == "warn" for check in report.checks)
    lines.append(f"{failed} failed, {warned} warning(s), {len(report.checks) - failed - warned} ok")
    return "\n".join(lines) + "\n"
