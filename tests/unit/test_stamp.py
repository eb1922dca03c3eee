"""sync.nul (devenv/stamp.py): a second `devenv sync` with nothing changed decides so from
stats alone, and any change of an input, or a copy of the checkout, makes it sync again."""

from __future__ import annotations

import os
import shutil

from devenv.stamp import nothing_to_sync
from tests.support.projects import Project, hermetic_env


def test_nothing_to_sync_after_a_sync_until_an_input_changes(project: Project) -> None:
    project.sync()
    outer = hermetic_env()
    assert nothing_to_sync(str(project.root), outer, frozen=False)
    spec = project.root / "envspec.toml"
    spec.write_text(spec.read_text() + "\n# a comment\n")
    assert not nothing_to_sync(str(project.root), outer, frozen=False)


def test_an_inherited_key_that_changed_means_a_sync(project: Project) -> None:
    project.sync()
    assert not nothing_to_sync(str(project.root), hermetic_env(DEMO_TOKEN="changed"), frozen=False)


def test_a_frozen_sync_of_a_project_without_packages_has_nothing_to_install_either(project: Project) -> None:
    project.sync()
    assert nothing_to_sync(str(project.root), hermetic_env(), frozen=True)


def test_a_copied_checkout_is_synced_afresh(project: Project) -> None:
    project.sync()
    copy = project.root.parent / "copy"
    shutil.copytree(project.root, copy, symlinks=True, copy_function=shutil.copy2)
    os.utime(copy, ns=(os.stat(project.root).st_atime_ns, os.stat(project.root).st_mtime_ns))
    assert not nothing_to_sync(str(copy), hermetic_env(), frozen=False)
