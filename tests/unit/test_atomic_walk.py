"""The store opens every folder below the project root from the one above it, never by path:
a link where a folder belongs is refused, and a folder swapped for a link after it was opened
is still the real folder (issue 15, Why 8). Deterministic counterparts of tests/test_path_race.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qms.errors import ProjectError
from qms.store import atomic, transaction

pytestmark = pytest.mark.req("REQ-HARD-001", "REQ-HARD-010")


@pytest.fixture(autouse=True, params=["walk", "openat2"])
def resolution(request, monkeypatch):
    """Every test twice: reads resolved one folder at a time (the CLI), and in one
    ``openat2`` (what the server turns on: atomic.resolve_in_kernel)."""
    if request.param == "openat2":
        from qms.store import beneath

        opener = beneath.opener(atomic._READ_FLAGS)
        if opener is None:
            pytest.skip("this kernel has no openat2 (or a filter forbids it)")
        monkeypatch.setattr(atomic, "_BENEATH", opener)
    return request.param


@pytest.fixture
def tree(tmp_path):
    """(root, the real folder root/a/ws, an outside folder)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "ws").mkdir(parents=True)
    outside.mkdir()
    (outside / "f.txt").write_text("outside\n")
    return root, root / "a" / "ws", outside


CALLS = {
    "read_bytes": lambda p, r: atomic.read_bytes(p, r),
    "open_regular": lambda p, r: atomic.open_regular(p, r),
    "write_bytes": lambda p, r: atomic.write_bytes(p, b"new\n", r),
    "write_durable": lambda p, r: atomic.write_durable(p, b"new\n", 0o600, r),
    "overwrite": lambda p, r: atomic.overwrite(p, b"new\n", r),
    "append_at": lambda p, r: atomic.append_at(p, 0, b"new\n", r),
    "unlink": lambda p, r: atomic.unlink(p, r),
    "tail": lambda p, r: atomic.tail(p, r),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("at", ["a", "a/ws"])
def test_a_folder_that_is_a_link_is_refused(tree, call, at):
    root, ws, outside = tree
    real = root / at
    real.rename(root / "moved")
    real.symlink_to(outside, target_is_directory=True)
    path = root / "a" / "ws" / "f.txt" if at == "a/ws" else root / "a" / "f.txt"
    with pytest.raises(ProjectError, match=f"{at} is a symbolic link"):
        CALLS[call](path, root)
    assert sorted(os.listdir(outside)) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "outside\n"


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_file_where_a_folder_belongs_is_refused(tree, call):
    root, ws, _ = tree
    (root / "plain").write_text("x")
    with pytest.raises(ProjectError, match="plain is not a folder"):
        CALLS[call](root / "plain" / "f.txt", root)


@pytest.mark.parametrize("call", ["write_bytes", "write_durable", "overwrite", "append_at",
                                  "unlink", "read_bytes"])
def test_a_folder_swapped_after_it_was_opened_is_still_the_real_one(tree, monkeypatch, call,
                                                                   resolution):
    """The swap happens at the worst moment: after the walk opened ``ws``, right before the
    file inside it is opened, renamed or removed by name."""
    if resolution == "openat2" and call == "read_bytes":
        pytest.skip("a read resolved in one system call has no moment between its folders")
    root, ws, outside = tree
    (ws / "f.txt").write_text("real\n")
    moved = root / "a" / "moved"
    real_open, real_unlink, real_replace = os.open, os.unlink, os.replace

    def swap_first(real):
        def call_(*args, **kw):
            if kw.get("dir_fd") is not None or kw.get("src_dir_fd") is not None:
                if not moved.exists() and args and not str(args[0]).startswith("/") \
                        and args[0] not in ("a", "ws"):
                    ws.rename(moved)
                    ws.symlink_to(outside, target_is_directory=True)
            return real(*args, **kw)
        return call_

    monkeypatch.setattr(atomic.os, "open", swap_first(real_open))
    monkeypatch.setattr(atomic.os, "unlink", swap_first(real_unlink))
    monkeypatch.setattr(atomic.os, "replace", swap_first(real_replace))
    result = CALLS[call](ws / "f.txt", root)
    monkeypatch.undo()
    assert moved.is_dir() and ws.is_symlink()  # the swap did happen mid-operation
    went_to_the_real_folder(call, result, moved, outside)
    assert [p.name for p in moved.iterdir() if p.name.endswith(atomic.TMP_SUFFIX)] == []


def went_to_the_real_folder(call: str, result, moved: Path, outside: Path) -> None:
    """The call read, wrote or removed ``f.txt`` in the real (moved) folder, never outside."""
    assert sorted(os.listdir(outside)) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "outside\n"
    if call == "read_bytes":
        assert result == b"real\n"
    elif call == "unlink":
        assert not (moved / "f.txt").exists()
    else:
        assert (moved / "f.txt").read_text() == "new\n"


def test_missing_folders_are_created_from_the_root(tree):
    root, _, _ = tree
    atomic.write_bytes(root / "x" / "y" / "z.txt", b"z", root)
    atomic.append_at(root / "p" / "q.jsonl", 0, b"{}\n", root)
    assert (root / "x" / "y" / "z.txt").read_bytes() == b"z"
    assert (root / "p" / "q.jsonl").read_bytes() == b"{}\n"
    assert atomic.read_bytes(root / "nope" / "f", root) is None
    assert atomic.tail(root / "nope" / "f", root) == (0, True)
    atomic.unlink(root / "nope" / "f", root)  # nothing to remove: fine


def test_journal_replay_never_follows_a_swapped_folder(tree):
    """apply_op (commit and recovery) writes through the opened folders only."""
    root, ws, outside = tree
    ws.rename(root / "a" / "moved")
    ws.symlink_to(outside, target_is_directory=True)
    for op in ({"op": "write", "path": "a/ws/g.txt", "text": "x"},
               {"op": "append", "path": "a/ws/g.txt", "offset": 0, "text": "x"},
               {"op": "delete", "path": "a/ws/f.txt"},
               {"op": "write", "path": "a/ws/f.txt", "text": "x", "in_place": True}):
        with pytest.raises(ProjectError, match="symbolic link"):
            transaction.apply_op(root, op)
    assert sorted(os.listdir(outside)) == ["f.txt"]
    assert Path(outside / "f.txt").read_text() == "outside\n"


# -- the same guarantees with kept folders: a transaction's (kept_folders) and verify's
# reader (Folders), which open each folder once and keep it -------------------------------
def in_kept_folders(call):
    def run(p, r):
        with atomic.kept_folders(r):
            atomic.read_bytes(r / "a" / "ws" / "warm", r)   # the walk opened a and a/ws
            return CALLS[call](p, r)
    return run


@pytest.mark.parametrize("call", sorted(CALLS))
def test_kept_folders_refuse_a_link_or_a_file_where_a_folder_belongs(tree, call):
    root, _, outside = tree
    (root / "plain").write_text("x")
    with pytest.raises(ProjectError, match="plain is not a folder"):
        in_kept_folders(call)(root / "plain" / "f.txt", root)
    (root / "a").rename(root / "moved")
    (root / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ProjectError, match="a is a symbolic link"):
        in_kept_folders(call)(root / "a" / "ws" / "f.txt", root)
    assert sorted(os.listdir(outside)) == ["f.txt"]


@pytest.mark.parametrize("call", ["write_bytes", "overwrite", "append_at", "unlink",
                                  "read_bytes"])
def test_a_kept_folder_swapped_for_a_link_is_still_the_real_one(tree, call):
    """Opened once in the transaction, then swapped for a link by someone else: every later
    read and write of the transaction still goes to the real folder, never through the link."""
    root, ws, outside = tree
    (ws / "f.txt").write_text("real\n")
    moved = root / "a" / "moved"
    with atomic.kept_folders(root):
        assert atomic.read_bytes(ws / "f.txt", root) == b"real\n"     # ws opened and kept
        ws.rename(moved)
        ws.symlink_to(outside, target_is_directory=True)
        result = CALLS[call](ws / "f.txt", root)
    went_to_the_real_folder(call, result, moved, outside)
    with pytest.raises(ProjectError, match="ws is a symbolic link"):  # a new block walks again
        with atomic.kept_folders(root):
            atomic.read_bytes(ws / "f.txt", root)


def test_verify_reader_never_follows_a_link_and_keeps_what_it_opened(tree):
    root, ws, outside = tree
    (ws / "f.txt").write_text("real\n")
    folders = atomic.Folders(root, keep=2)
    try:
        assert folders.read(f"{ws}/f.txt") == b"real\n"
        assert folders.read(f"{root}/a/none/f.txt") is None and folders.read(f"{ws}/x") is None
        (root / "b").symlink_to(outside, target_is_directory=True)
        with pytest.raises(ProjectError, match="b is a symbolic link"):
            folders.read(f"{root}/b/f.txt")
        (ws / "link.txt").symlink_to(outside / "f.txt")
        with pytest.raises(ProjectError, match="link.txt is a symbolic link"):
            folders.read(f"{ws}/link.txt")
        os.mkfifo(ws / "fifo")
        with pytest.raises(ProjectError, match="FIFO"):
            folders.read(f"{ws}/fifo")
        for bad in (f"{outside}/f.txt", f"{root}/a/../../outside/f.txt"):
            with pytest.raises(ProjectError):
                folders.read(bad)
        assert folders.read(f"{ws}/f.txt") == b"real\n"    # ws kept (or opened again)
        ws.rename(root / "a" / "moved")
        ws.symlink_to(outside, target_is_directory=True)
        assert folders.read(f"{ws}/f.txt") in (b"real\n", None)  # never the outside file
    finally:
        folders.close()
