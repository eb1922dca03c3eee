"""Comparing with another machine (devenv/drift.py, `devenv export` and `devenv diff FILE`):
what differs is shown side by side, a secret never is, and paths under each root compare equal."""

from __future__ import annotations

import json

from devenv.drift import compare_documents, export_document, format_machine_diff


def _document(root: str, *, token: str, packages: list[str], version: str = "3.11.7") -> dict[str, object]:
    return {
        "root": root,
        "fingerprint": "f-" + root,
        "python": {
            "implementation": "cpython",
            "version": version,
            "installed": packages,
            "lock_sha256": "ab",
        },
        "secret": ["API_TOKEN"],
        "variables": {
            "API_TOKEN": {"value": token, "source": ".env:1"},
            "DATA_DIR": {"value": f"{root}/data", "source": "envspec.toml [vars]"},
            "LOG_LEVEL": {"value": "info", "source": "envspec.toml [vars]"},
        },
        "inherited": {"HOME": "/home/me"},
    }


def test_an_exported_document_carries_no_secret_and_no_outer_value() -> None:
    exported = export_document(_document("/a", token="tok-123456789", packages=[]))
    text = json.dumps(exported)
    assert "tok-123456789" not in text and "/home/me" not in text
    assert json.loads(text)["variables"]["LOG_LEVEL"]["value"] == "info"


def test_the_same_environment_in_another_folder_is_the_same() -> None:
    ours = _document("/a", token="t0k-same-value", packages=["redis==5.0.1"])
    theirs = export_document(_document("/ci/build", token="t0k-same-value", packages=["redis==5.0.1"]))
    diff = compare_documents(ours, theirs, other="ci/env.json")
    assert not diff.differs
    assert format_machine_diff(diff).startswith("same environment as ci/env.json")


def test_differences_are_shown_side_by_side_and_a_secret_only_as_differing() -> None:
    ours = _document("/a", token="t0k-ours-value", packages=["redis==5.0.1", "rq==2.0"])
    theirs = export_document(
        _document("/b", token="t0k-theirs-value", packages=["redis==5.2.0"], version="3.12.1")
    )
    diff = compare_documents(ours, theirs, other="ci/env.json")
    rows = {(row.section, row.name): (row.ours, row.theirs) for row in diff.rows}
    assert rows[("interpreter", "version")] == ("3.11.7", "3.12.1")
    assert rows[("packages", "redis")] == ("5.0.1", "5.2.0")
    assert rows[("packages", "rq")] == ("2.0", "-")
    assert rows[("variables", "API_TOKEN")] == ("(secret)", "(secret, differs by hash)")
    shown = format_machine_diff(diff)
    assert "t0k-" not in shown and "redis" in shown and diff.to_json()["differs"] is True
