"""Fuzzed envspec.toml and dotenv files: never a traceback, and every exit-2 message names
the file and a line in it (tests/support/fuzz.py makes the cases)."""

from __future__ import annotations

import os
import time
from collections import Counter

from tests.support.fuzz import Outcome, cases, classify
from tests.support.projects import Project

#: Cases per run: enough to reach every check (the harness, benchmarks/fuzz_inputs.py,
#: runs more through the real CLI).
COUNT = 400


def run_in_process(project: Project, which: str, text: str) -> Outcome:
    """What `devenv sync` checks before it touches anything, called as the CLI calls it."""
    from devenv.errors import DevenvError
    from devenv.project import resolve_env
    from devenv.requirements import parse_packages
    from devenv.venv import check_venv_location

    path = project.root / which
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    past = time.time() - 5  # written a while ago, as a user edits (not mid-write)
    os.utime(path, (past, past))
    try:
        state = resolve_env(str(project.root), {"PATH": os.defpath})
        check_venv_location(state.spec, {})
        parse_packages(state.spec)
    except DevenvError as error:
        return classify(error.exit_code, f"devenv: error: {error}\n", which)  # type: ignore[arg-type]
    except RecursionError as error:  # what the fuzzing found first: no other kind is expected
        return Outcome("traceback", repr(error))
    except Exception as error:
        return Outcome("traceback", f"{type(error).__name__}: {error}")
    return Outcome("ok", "")


def test_fuzzed_inputs_never_trace_back_and_every_error_names_file_and_line(project: Project) -> None:
    pristine = {name: (project.root / name).read_bytes() for name in ("envspec.toml", ".env.defaults")}
    outcomes: Counter[str] = Counter()
    findings = []
    for case in cases(project.venv, COUNT, seed=18):
        for name, data in pristine.items():
            (project.root / name).write_bytes(data)
        outcome = run_in_process(project, case.which, case.text)
        outcomes[outcome.kind] += 1
        if outcome.kind not in ("ok", "clean"):
            findings.append(f"{outcome.kind} ({case.which}): {outcome.message}")
    assert outcomes["clean"] > COUNT // 4, outcomes  # the mutations do reach the checks
    assert not findings, f"{len(findings)} of {COUNT}:\n" + "\n".join(findings[:25])
