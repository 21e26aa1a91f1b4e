"""What a long-running reader keeps (atomic.cached): a file is opened and fstat-ed on every
read, read and parsed again only when its identity changed. The attacks: an edit in place
with the size and the mtime put back, a swap for a link or a FIFO, a write inside the racy
window, a caller changing what it was given. In-process, as the server reads."""

from __future__ import annotations

import json
import os
import time

import pytest

from qms import operations as ops
from qms.errors import ProjectError
from qms.operations.init import init
from qms.store import atomic, meta as meta_store
from qms.store.project import Project

pytestmark = pytest.mark.req("REQ-INTEG-009", "REQ-HARD-001")


@pytest.fixture
def counted():
    calls = []

    def reader(fd, info):
        calls.append(1)
        return atomic.read_all(fd, info)

    return calls, reader


@pytest.fixture
def kept(monkeypatch):
    """No racy window: a file is kept as soon as it was read (the tests change files at
    once; the window has its own test)."""
    monkeypatch.setattr(atomic, "RACY_NS", -10**12)


def test_a_file_is_read_again_only_when_it_changed(tmp_path, counted, kept):
    calls, reader = counted
    f = tmp_path / "f.json"
    f.write_text("one\n")
    cache: dict = {}
    assert atomic.cached(f, tmp_path, cache, reader) == b"one\n"
    assert atomic.cached(f, tmp_path, cache, reader) == b"one\n"
    assert len(calls) == 1
    f.write_text("two\n")
    assert atomic.cached(f, tmp_path, cache, reader) == b"two\n"
    assert len(calls) == 2


def test_an_edit_in_place_with_size_and_mtime_put_back_is_seen(tmp_path, counted, kept):
    calls, reader = counted
    f = tmp_path / "f.json"
    f.write_text("real\n")
    before = f.stat()
    cache: dict = {}
    assert atomic.cached(f, tmp_path, cache, reader) == b"real\n"
    time.sleep(0.01)  # past the file system clock's tick
    with open(f, "r+b") as handle:  # same inode, same size
        handle.write(b"fake\n")
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime put back
    assert f.stat().st_mtime_ns == before.st_mtime_ns and f.stat().st_size == before.st_size
    assert atomic.cached(f, tmp_path, cache, reader) == b"fake\n"  # the ctime moved


def test_a_file_changed_within_the_racy_window_is_not_kept(tmp_path, counted):
    calls, reader = counted
    f = tmp_path / "f.json"
    f.write_text("new\n")
    cache: dict = {}
    atomic.cached(f, tmp_path, cache, reader)
    atomic.cached(f, tmp_path, cache, reader)
    assert len(calls) == 2 and cache == {}


def test_a_kept_file_swapped_for_a_link_or_a_fifo_is_refused(tmp_path, counted, kept):
    calls, reader = counted
    (tmp_path / "secret").write_text("secret\n")
    f = tmp_path / "f.json"
    f.write_text("real\n")
    cache: dict = {}
    atomic.cached(f, tmp_path, cache, reader)
    f.unlink()
    f.symlink_to(tmp_path / "secret")
    with pytest.raises(ProjectError, match="symbolic link"):
        atomic.cached(f, tmp_path, cache, reader)
    f.unlink()
    os.mkfifo(f)
    with pytest.raises(ProjectError, match="FIFO"):
        atomic.cached(f, tmp_path, cache, reader)
    f.unlink()
    assert atomic.cached(f, tmp_path, cache, reader) is None


def test_a_cache_is_bounded(tmp_path, counted, kept, monkeypatch):
    calls, reader = counted
    monkeypatch.setattr(atomic, "CACHED_MAX", 3)
    cache: dict = {}
    for n in range(10):
        (tmp_path / f"{n}").write_text(str(n))
        atomic.cached(tmp_path / f"{n}", tmp_path, cache, reader)
        assert len(cache) <= 3


# -- the meta and the trail, read as the server reads them -----------------------------------
@pytest.fixture
def doc(tmp_path, kept):
    init(tmp_path, yes=True)
    project = Project.open(tmp_path)
    doc_id = ops.create(project, "claude", doc_type="CR", title="Kept").doc_id
    return project, doc_id


def test_a_hand_edited_meta_is_refused_after_it_was_kept(doc):
    project, doc_id = doc
    assert meta_store.load(project, doc_id)["status"] == "DRAFT"
    path = project.meta_path(doc_id)
    before = path.stat()
    text = path.read_text()
    time.sleep(0.01)
    forged = text.replace('"DRAFT"', '"CLOSED"') if '"CLOSED"' not in text else text
    assert len(forged.encode()) != len(text.encode()) or forged != text
    with open(path, "r+") as handle:
        handle.truncate(0)
        handle.write(forged)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ProjectError, match="does not match its signed audit trail"):
        meta_store.load(project, doc_id)
    path.write_text(text)  # put right: read again
    assert meta_store.load(project, doc_id)["status"] == "DRAFT"


def test_a_new_event_is_seen_at_once(doc):
    project, doc_id = doc
    assert ops.status(project, "claude", doc_id=doc_id).status == "DRAFT"
    assert ops.status(project, "claude", doc_id=doc_id).checked_out is True
    ops.checkin(project, "claude", doc_id=doc_id,
                content="---\ntitle: Renamed\nrevision_summary: x\n---\n\n# Renamed\n")
    after = ops.status(project, "claude", doc_id=doc_id)
    assert after.checked_out is False and after.title == "Renamed"


def test_what_a_caller_is_given_is_its_own(doc):
    project, doc_id = doc
    first = meta_store.load(project, doc_id)
    first["status"] = "CLOSED"
    first["pending_assignees"].append("mallory")
    again = meta_store.load(project, doc_id)
    assert again["status"] == "DRAFT" and "mallory" not in again["pending_assignees"]


def test_a_trail_line_appended_by_hand_is_seen(doc, monkeypatch):
    """The kept state of the trail goes with the trail: after a forged last event (vouching
    for an edited meta) a reader decides exactly as one that keeps nothing, and a command
    acting on it refuses."""
    project, doc_id = doc
    meta_store.load(project, doc_id)
    path = project.meta_path(doc_id)
    data = json.loads(path.read_text())
    data["status"] = "CLOSED"
    path.write_text(json.dumps(data, indent=2))
    forged = {"event": "CLOSE", "state_sha256": meta_store.state_sha256(data)}
    with open(project.audit_path(doc_id), "a") as trail:
        trail.write(json.dumps(forged) + "\n")

    def outcome():
        try:
            return meta_store.load(project, doc_id)
        except ProjectError as err:
            return str(err)

    kept = outcome()
    monkeypatch.setattr(meta_store, "_PARSED", {})
    monkeypatch.setattr(meta_store, "_RECORDED", {})
    assert kept == outcome()
    with pytest.raises(ProjectError, match="not in the signed audit chain"):
        ops.route(project, "claude", doc_id=doc_id, route_type="review")
