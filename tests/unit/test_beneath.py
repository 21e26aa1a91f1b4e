"""Reads resolved by the kernel in one ``openat2`` (store/beneath, turned on by the server):
the same refusals as the walk, the same results, and the fast way really taken."""

from __future__ import annotations

import errno
import os

import pytest

from qms.errors import ProjectError
from qms.store import atomic, beneath

pytestmark = pytest.mark.req("REQ-HARD-001", "REQ-HARD-010")


@pytest.fixture
def calls(monkeypatch):
    """The openat2 opener in use, counting what it is asked and what the kernel said."""
    opener = beneath.opener(atomic._READ_FLAGS)
    if opener is None:
        pytest.skip("this kernel has no openat2 (or a filter forbids it)")
    seen: list[tuple[str, int]] = []

    def counted(folder: int, path: str) -> int:
        fd = opener(folder, path)
        seen.append((path, fd if fd < 0 else 0))
        return fd

    monkeypatch.setattr(atomic, "_BENEATH", counted)
    return seen


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside\n")
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    return root, outside


def test_a_read_takes_one_system_call(tree, calls):
    root, _ = tree
    assert atomic.read_bytes(root / "a" / "b" / "f.txt", root) == b"inside\n"
    assert calls == [("a/b/f.txt", 0)]


def test_missing_files_and_folders_are_none(tree, calls):
    root, _ = tree
    assert atomic.read_bytes(root / "a" / "b" / "none.txt", root) is None
    assert atomic.read_bytes(root / "none" / "f.txt", root) is None
    assert [fd for _, fd in calls] == [-errno.ENOENT] * 2  # no walk needed


@pytest.mark.parametrize("where, message", [
    ("a", "a is a symbolic link"),
    ("a/b", "a/b is a symbolic link"),
])
def test_a_linked_folder_is_refused_by_name(tree, calls, where, message):
    root, outside = tree
    (root / where).rename(root / "moved")
    (root / where).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ProjectError, match=message):
        atomic.read_bytes(root / "a" / "b" / "secret", root)
    assert calls and calls[0][1] == -errno.ELOOP  # from the kernel; then the walk names it


def test_a_linked_file_a_fifo_a_hard_link_and_a_folder_are_refused(tree, calls):
    root, outside = tree
    b = root / "a" / "b"
    (b / "link").symlink_to(outside / "secret")
    os.mkfifo(b / "fifo")
    os.link(outside / "secret", b / "hard")
    for name, what in (("link", "is a symbolic link"), ("fifo", "FIFO"),
                       ("hard", "other hard link"), ("", "is a directory")):
        with pytest.raises(ProjectError, match=what):
            atomic.read_bytes(b / name if name else root / "a" / "b", root)


def test_a_file_where_a_folder_belongs_is_refused(tree, calls):
    root, _ = tree
    (root / "plain").write_text("x")
    with pytest.raises(ProjectError, match="plain is not a folder"):
        atomic.read_bytes(root / "plain" / "f.txt", root)


@pytest.mark.parametrize("path", ["a/../../outside/secret", "/outside/secret"])
def test_a_path_out_of_the_root_is_refused_before_the_kernel_is_asked(tree, calls, path):
    root, outside = tree
    target = root / path if not path.startswith("/") else outside / "secret"
    with pytest.raises(ProjectError, match="outside the project|not a plain path"):
        atomic.read_bytes(target, root)
    assert calls == []


def test_the_server_turns_it_on(tree, monkeypatch):
    monkeypatch.setattr(atomic, "_BENEATH", None)
    if beneath.opener(atomic._READ_FLAGS) is None:
        pytest.skip("this kernel has no openat2")
    assert atomic.resolve_in_kernel() is True
    assert atomic._BENEATH is not None
    root, _ = tree
    assert atomic.read_bytes(root / "a" / "b" / "f.txt", root) == b"inside\n"
