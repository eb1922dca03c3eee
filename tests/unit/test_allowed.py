"""What the shell hook may load (devenv/allowed.py): the exact bytes a user allowed, kept
outside every project."""

from __future__ import annotations

import os
from pathlib import Path

from devenv.allowed import allow, allowed_path, deny


def _project(tmp_path: Path) -> tuple[str, list[str], dict[str, str]]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "envspec.toml").write_text('[project]\nname = "p"\n')
    (root / ".env").write_text("A=1\n")
    return (
        str(root),
        [str(root / "envspec.toml"), str(root / ".env")],
        {"XDG_STATE_HOME": str(tmp_path / "state")},
    )


def test_allow_covers_the_declaration_as_it_is_now_and_is_kept_outside_the_project(tmp_path: Path) -> None:
    root, paths, environ = _project(tmp_path)
    written = allow(root, paths, environ)
    assert written.startswith(str(tmp_path / "state" / "devenv" / "allowed"))
    assert os.path.exists(allowed_path(root, paths, environ))


def test_an_edit_of_a_dotenv_file_needs_a_new_allow(tmp_path: Path) -> None:
    root, paths, environ = _project(tmp_path)
    allow(root, paths, environ)
    Path(paths[1]).write_text("A=2\n")
    assert not os.path.exists(allowed_path(root, paths, environ))
    allow(root, paths, environ)
    assert os.path.exists(allowed_path(root, paths, environ))
    assert len(os.listdir(tmp_path / "state" / "devenv" / "allowed")) == 1, "the old permission is forgotten"


def test_deny_revokes_and_says_whether_there_was_anything(tmp_path: Path) -> None:
    root, paths, environ = _project(tmp_path)
    assert deny(root, environ) is False
    allow(root, paths, environ)
    assert deny(root, environ) is True
    assert not os.path.exists(allowed_path(root, paths, environ))
