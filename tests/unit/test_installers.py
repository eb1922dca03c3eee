"""devenv.installers: the name in [python].installer picks exactly that installer."""

import pytest

from devenv.installers import installer_for
from devenv.spec import INSTALLERS


@pytest.mark.parametrize("name", INSTALLERS)
def test_every_declarable_installer_is_the_one_named(name: str) -> None:
    installer = installer_for(name)
    assert installer.name == name
    # Whether `universal` is true of the lock each one writes: tests/integration/test_lock.py
    # (the lock's requires-python and environments, and what a frozen sync checks).


def test_a_name_without_an_installer_is_a_bug_not_a_fall_back_to_uv() -> None:
    with pytest.raises(ValueError, match="no installer named 'conda'"):
        installer_for("conda")
