"""Per-prompt cost of `devenv hook bash` against direnv's hook, side by side, when nothing changed.

Both hooks are loaded into one bash each, inside a project both have loaded (an allowed
`.envrc` for direnv, an allowed envspec.toml for devenv); then each bash calls its hook
function the way PROMPT_COMMAND does, ROUNDS x CALLS times, timing each batch with bash's own
$EPOCHREALTIME. Rounds alternate between the two, so load on the machine hits both alike.
The budget (docs/architecture.md, "Start-up budget"): at most 1 ms per prompt.

    devenv run -- python benchmarks/shell_hook.py --rounds 20 --calls 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEVENV = os.path.join(os.path.dirname(sys.executable), "devenv")

SPEC = '[project]\nname = "bench"\n\n[python]\nvenv = "{venv}"\n\n[dotenv]\nfiles = [".env"]\n'

# One batch: CALLS prompts, then the microseconds they took in all.
BATCH = r"""
_bench() {
    local start=$EPOCHREALTIME i
    for ((i = 0; i < $1; i++)); do "$2"; done
    local end=$EPOCHREALTIME
    echo $(( (${end/./} - ${start/./}) ))
}
"""


def _bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"bash failed: {result.stderr[-2000:]}")
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="prompts per timed batch")
    options = parser.parse_args()
    direnv = shutil.which("direnv")
    if direnv is None:
        raise SystemExit("direnv is not installed (apt-get install direnv)")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        project = base / "project"
        project.mkdir()
        (base / "home").mkdir()
        env = {
            "PATH": f"{os.path.dirname(DEVENV)}:/usr/bin:/bin",
            "HOME": str(base / "home"),
            "XDG_STATE_HOME": str(base / "home" / "state"),
            "XDG_CONFIG_HOME": str(base / "home" / "config"),
            "XDG_DATA_HOME": str(base / "home" / "data"),
            "LANG": "C.UTF-8",
        }
        # A venv of its own (empty): `devenv sync` makes a venv hold exactly the lock.
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "virtualenv", "-q", "--no-seed", str(venv)], check=True)
        (project / "envspec.toml").write_text(SPEC.format(venv=venv))
        (project / ".env").write_text("GREETING=hello\n")
        (project / ".envrc").write_text("export GREETING=hello\n")
        for command in ([DEVENV, "sync"], [DEVENV, "allow"], [direnv, "allow"]):
            subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
        calls = options.calls
        scripts = {
            "devenv hook": f'eval "$({DEVENV} hook bash)"; _devenv_hook 2>/dev/null; {BATCH}',
            "direnv hook": f'eval "$({direnv} hook bash)"; _direnv_hook 2>/dev/null; {BATCH}',
            "empty function (floor)": f"_nothing() {{ :; }}; {BATCH}",
        }
        hooks = {
            "devenv hook": "_devenv_hook",
            "direnv hook": "_direnv_hook",
            "empty function (floor)": "_nothing",
        }
        per_prompt: dict[str, list[float]] = {name: [] for name in scripts}
        for _ in range(options.rounds):
            for name, script in scripts.items():
                body = script + "\n" + "\n".join(f"_bench {calls} {hooks[name]}" for _ in range(3))
                micros = [int(line) for line in _bash(body, project, env).split()]
                per_prompt[name] += [m / calls / 1000 for m in micros]
        check = _bash(f'eval "$({DEVENV} hook bash)"; _devenv_hook; printf %s "$GREETING"', project, env)
        if check != "hello":
            raise SystemExit(f"the devenv hook did not load the project (GREETING={check!r})")
    load = os.getloadavg()[0]
    print(f"{options.rounds} rounds x 3 batches x {calls} prompts, load average {load:.1f}\n")
    print("| hook (bash, nothing changed) | median ms per prompt | p90 ms |")
    print("|---|---:|---:|")
    for name, values in per_prompt.items():
        values.sort()
        p90 = values[int(len(values) * 0.9)]
        print(f"| {name} | {statistics.median(values):.3f} | {p90:.3f} |")
    devenv_ms = statistics.median(per_prompt["devenv hook"])
    print(f"\ndevenv hook: {devenv_ms:.3f} ms per prompt, budget 1 ms: {'ok' if devenv_ms <= 1 else 'OVER'}")
    return 0 if devenv_ms <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
