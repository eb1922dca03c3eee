"""The environment for another machine (a container): host-only keys out, project paths mapped.

`--format docker` (and `--for-container` with dotenv or json) must not hand a container the
host's paths: `docker run --env-file` would replace the image's PATH with the host's, and
VIRTUAL_ENV, DEVENV_ROOT and PYTHONPATH name folders of this checkout. With
`--root-in-container DIR` the project folder is taken to be mounted at DIR, so DEVENV_ROOT,
PYTHONPATH and every other value naming a path under the root are rewritten to DIR.
"""

from __future__ import annotations

from devenv.environment import ROOT_KEY, CanonicalEnv

#: Always left out: the image has its own PATH and interpreter.
HOST_ONLY = ("PATH", "VIRTUAL_ENV")
#: Left out unless the root is mapped: they name folders of this checkout.
ROOT_RELATIVE = (ROOT_KEY, "PYTHONPATH")


def _map_root(value: str, root: str, target: str) -> str:
    """`value` with each `root` that ends at a path boundary (end, `/`, `:`, `;`) as `target`."""
    parts = []
    start = 0
    while (found := value.find(root, start)) >= 0:
        end = found + len(root)
        if end == len(value) or value[end] in "/:;":
            parts += [value[start:found], target]
        else:
            parts.append(value[start:end])
        start = end
    parts.append(value[start:])
    return "".join(parts)


def for_container(env: CanonicalEnv, root_in_container: str | None) -> tuple[CanonicalEnv, list[str]]:
    """`env` as a container should get it, and the notes to show on stderr."""
    root = env.root.rstrip("/") or "/"
    dropped = [key for key in HOST_ONLY if key in env.variables or (key == "PATH" and env.path_prefix)]
    variables = {key: value for key, value in env.variables.items() if key not in HOST_ONLY}
    notes = []
    if dropped:
        notes.append(f"left out {', '.join(dropped)}: host paths (the container keeps its own)")
    if root_in_container is None:
        gone = [key for key in ROOT_RELATIVE if key in variables]
        for key in gone:
            del variables[key]
        if gone:
            notes.append(
                f"left out {', '.join(gone)}: paths under {root}; "
                "pass --root-in-container DIR to map them to where the project is mounted"
            )
        for key, value in variables.items():
            if _map_root(value, root, "\0") != value:
                notes.append(f"{key} names a path under {root}; --root-in-container DIR maps it")
    else:
        target = root_in_container.rstrip("/") or "/"
        variables = {key: _map_root(value, root, target) for key, value in variables.items()}
    mapped = CanonicalEnv(
        root=root_in_container or env.root,
        fingerprint=env.fingerprint,
        variables=variables,
        secret=env.secret,
    )
    return mapped, notes
