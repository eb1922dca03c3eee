"""devenv.digest.sha256 is hashlib's sha256, without loading OpenSSL."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from devenv.digest import sha256


def test_the_same_digest_as_hashlib() -> None:
    for data in (b"", b"x", bytes(range(256)) * 1000):
        digest = sha256(data[:10])
        digest.update(data[10:])
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert sha256(data).digest() == hashlib.sha256(data).digest()


def test_it_does_not_load_openssl() -> None:
    code = "import sys, devenv.digest; print('_hashlib' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )
