"""Assertions that a secret value does not appear in text, in any form it could leak in."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus


def leaked_forms(secret: str) -> dict[str, str]:
    """The forms a secret takes in logs and output: raw, URL-encoded, JSON-escaped, base64."""
    forms = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "url-encoded-plus": quote_plus(secret, safe=""),
        "json-escaped": json.dumps(secret)[1:-1],
        "json-escaped-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "base64": base64.b64encode(secret.encode("utf-8", "surrogateescape")).decode("ascii").rstrip("="),
    }
    for number, line in enumerate(secret.splitlines()):
        if len(line.strip()) >= 4:
            forms[f"line {number + 1}"] = line
    return forms


def assert_no_secret(text: str, secret: str) -> None:
    """Fail, naming the form (never the value), if `secret` appears in `text` in any form."""
    found = [name for name, form in leaked_forms(secret).items() if form and form in text]
    assert not found, f"a secret leaked into the output ({', '.join(found)} form)"
