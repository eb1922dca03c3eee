"""What a sync records as installed: an interpreter of the venv started before the installer
ran lists what one started after it would, .pth files the install added included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from devenv.installers.uv import uv_binary
from devenv.venv import _listing_ready, installed_distributions


def _venv(tmp_path: Path) -> tuple[str, Path]:
    venv = tmp_path / "venv"
    subprocess.run([uv_binary(), "venv", "--no-config", "--quiet", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    return str(venv / "bin" / "python"), site


def _install(site: Path, tmp_path: Path) -> None:
    """What an installer leaves: a dist-info, an editable project's .pth and its egg-info."""
    info = site / "Foo_Bar-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n\nbody\n")
    project = tmp_path / "project"
    (info / "direct_url.json").write_text(
        json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
    )
    source = tmp_path / "project" / "src"
    (source / "baz.egg-info").mkdir(parents=True)
    (source / "baz.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: baz\nVersion: 2.0\n")
    (site / "baz.pth").write_text(f"{source}\n")


def test_an_interpreter_started_before_the_install_lists_what_a_later_one_lists(tmp_path: Path) -> None:
    python, site = _venv(tmp_path)
    with _listing_ready(python, early=True) as list_now:
        _install(site, tmp_path)
        early = list_now()
    assert early == installed_distributions(python)
    assert early["foo-bar"] == ("1.0", str(tmp_path / "project"))
    assert early["baz"] == ("2.0", "")  # found through the .pth file the install added


def test_an_unused_listing_interpreter_is_ended_with_the_block(tmp_path: Path) -> None:
    python, _ = _venv(tmp_path)
    with _listing_ready(python, early=True):
        pass
    found = subprocess.run(["pgrep", "-f", f"{python} -I -S"], capture_output=True, text=True)
    assert found.stdout == ""
