"""env.nul: the cheap snapshot print-env and run read; round trip and freshness."""

from __future__ import annotations

import os
from pathlib import Path

from devenv.environment import CanonicalEnv
from devenv.renderers import render
from devenv.snapshot import TEXT_FORMAT, encode_snapshot, read_snapshot, stat_record


def write(root: Path, text: str) -> None:
    (root / ".devenv").mkdir(exist_ok=True)
    (root / ".devenv" / "env.nul").write_text(text, encoding="utf-8", errors="surrogateescape")


def test_round_trip_keeps_hostile_values(tmp_path: Path) -> None:
    values = {"A": "line1\nline2", "B": "", "C": "it's $(x) `y` \\ \r\t é☃", "D": "caf\udce9"}
    env = CanonicalEnv(
        root=str(tmp_path),
        fingerprint="abc",
        variables=values,
        path_prefix=["/v/bin"],
        unset=["X"],
        secret=["C"],
    )
    write(tmp_path, encode_snapshot(env, [], [("TOKEN", None), ("OTHER", "v")]))
    snapshot = read_snapshot(str(tmp_path))
    assert snapshot is not None
    assert snapshot.env.variables == dict(sorted(values.items()))
    assert (snapshot.env.path_prefix, snapshot.env.unset, snapshot.env.secret) == (
        ("/v/bin",),
        ("X",),
        ("C",),
    )
    assert snapshot.inherited == [("TOKEN", None), ("OTHER", "v")]


def test_a_truncated_or_foreign_file_is_no_snapshot(tmp_path: Path) -> None:
    env = CanonicalEnv(root=str(tmp_path), fingerprint="abc", variables={"A": "1"})
    text = encode_snapshot(env, [], [])
    write(tmp_path, text[:-3])
    assert read_snapshot(str(tmp_path)) is None
    write(tmp_path, "something else")
    assert read_snapshot(str(tmp_path)) is None
    assert read_snapshot(str(tmp_path / "missing")) is None


def test_freshness_follows_stat_and_inherited_values(tmp_path: Path) -> None:
    watched = tmp_path / ".env"
    watched.write_text("A=1\n")
    absent = tmp_path / ".env.local"
    env = CanonicalEnv(root=str(tmp_path), fingerprint="abc", variables={})
    write(
        tmp_path,
        encode_snapshot(env, [stat_record(str(watched)), stat_record(str(absent))], [("TOKEN", "t")]),
    )
    snapshot = read_snapshot(str(tmp_path))
    assert snapshot is not None
    assert snapshot.is_fresh({"TOKEN": "t"})
    assert not snapshot.is_fresh({})  # the inherited key is gone
    assert not snapshot.is_fresh({"TOKEN": "other"})
    absent.write_text("B=2\n")  # an optional file appeared
    assert not snapshot.is_fresh({"TOKEN": "t"})
    absent.unlink()
    assert snapshot.is_fresh({"TOKEN": "t"})  # every input as recorded again
    recorded = watched.stat().st_mtime_ns
    watched.write_text("A=2\n")  # the same size: only the mtime can tell
    os.utime(watched, ns=(recorded + 1_000_000_000, recorded + 1_000_000_000))
    assert not snapshot.is_fresh({"TOKEN": "t"})
    watched.write_text("A=22\n")  # another size, even with the recorded mtime
    os.utime(watched, ns=(recorded, recorded))
    assert not snapshot.is_fresh({"TOKEN": "t"})


def test_a_snapshot_written_for_another_checkout_or_user_is_never_read(tmp_path: Path) -> None:
    env = CanonicalEnv(root=str(tmp_path), fingerprint="abc", variables={"A": "1"})
    text = encode_snapshot(env, [], [])
    write(tmp_path, text)
    assert read_snapshot(str(tmp_path)) is not None
    root, device, inode, uid = text.split("\0")[2:6]
    for field, forged in ((root, "/elsewhere"), (inode, str(int(inode) + 1)), (uid, str(int(uid) + 1))):
        write(tmp_path, text.replace(f"\0{field}\0", f"\0{forged}\0", 1))
        assert read_snapshot(str(tmp_path)) is None, f"{field} -> {forged} was trusted"
    assert device


def test_the_default_format_text_is_kept_for_the_renderer_that_wrote_it(tmp_path: Path) -> None:
    """print-env's default output comes from env.nul only while the renderer's files are the
    ones that rendered it: an edited or another devenv renders again (None)."""
    env = CanonicalEnv(
        root=str(tmp_path), fingerprint="abc", variables={"A": "it's", "B": "x\ny"}, path_prefix=["/v/bin"]
    )
    text = encode_snapshot(env, [], [])
    write(tmp_path, text)
    snapshot = read_snapshot(str(tmp_path))
    assert snapshot is not None
    assert snapshot.text_of(TEXT_FORMAT) == render(TEXT_FORMAT, env)
    assert snapshot.text_of("fish") is None and snapshot.text_of("bash") is None
    fields = text.split("\0")
    size = fields.index("renderers/posix.py") + 1
    fields[size] = str(int(fields[size]) + 1)  # posix.py as another devenv has it
    write(tmp_path, "\0".join(fields))
    other = read_snapshot(str(tmp_path))
    assert other is not None and other.env.variables == env.variables
    assert other.text_of(TEXT_FORMAT) is None


def test_an_env_the_default_format_cannot_carry_still_has_a_snapshot(tmp_path: Path) -> None:
    env = CanonicalEnv(root=str(tmp_path), fingerprint="abc", variables={"not-a-name": "1"})
    write(tmp_path, encode_snapshot(env, [], []))
    snapshot = read_snapshot(str(tmp_path))
    assert snapshot is not None and snapshot.env.variables == {"not-a-name": "1"}
    assert snapshot.text_of(TEXT_FORMAT) is None  # print-env renders, and says what is wrong
