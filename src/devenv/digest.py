"""sha256 for the refresh path without loading OpenSSL.

`import hashlib` loads `_hashlib` (OpenSSL's libcrypto): ~2 ms, a fifth of T0, on every
re-resolve, `explain` and `doctor` (benchmarks/diagnostics.py), for digests of a few
kilobytes. CPython's own `_sha256` (`_sha2` from 3.12) computes the same digest; `hashlib`
is the fallback where neither is built in. Imports nothing else: environment.py uses it.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import sha256 as sha256
else:
    try:
        from _sha256 import sha256 as sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256 as sha256  # CPython 3.12 and later
        except ImportError:
            from hashlib import sha256 as sha256
