"""Write-ahead journal and project lock: all-or-nothing operations, crash roll-forward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qms.errors import Conflict, ProjectError
from qms.store import transaction
from qms.store.project import Project


class Crash(BaseException):
    """Stands in for the process dying (kill -9) at a chosen point."""


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    (tmp_path / "QMS").mkdir()
    return Project.open(tmp_path)


def _stage(tx, proj: Project) -> None:
    tx.write_text(proj.qms / "a" / "one.md", "one\n")
    tx.write_json(proj.qms / "a" / "two.json", {"k": "ü"})
    tx.append_line(proj.qms / "log.jsonl", '{"n": 1}')
    tx.append_line(proj.qms / "log.jsonl", '{"n": 2}')


def test_commit_applies_everything_and_removes_the_journal(proj):
    (proj.qms / "gone.md").write_text("x")
    with proj.transaction() as tx:
        _stage(tx, proj)
        tx.delete(proj.qms / "gone.md")
        # reads inside the transaction see staged state
        assert tx.read_text(proj.qms / "a" / "one.md") == "one\n"
        assert tx.read_text(proj.qms / "log.jsonl") == '{"n": 1}\n{"n": 2}\n'
        assert not tx.exists(proj.qms / "gone.md")
        assert tx.read_text(proj.qms / "gone.md") is None
        assert not (proj.qms / "a" / "one.md").exists()  # nothing written before commit
    assert (proj.qms / "a" / "one.md").read_text() == "one\n"
    assert json.loads((proj.qms / "a" / "two.json").read_text()) == {"k": "ü"}
    assert (proj.qms / "log.jsonl").read_text() == '{"n": 1}\n{"n": 2}\n'
    assert not (proj.qms / "gone.md").exists()
    assert not transaction.pending(proj.journal)


def test_exception_inside_a_transaction_writes_nothing(proj):
    before = sorted(p.relative_to(proj.root) for p in proj.root.rglob("*") if p.is_file() and p.name != "lock")
    with pytest.raises(RuntimeError):
        with proj.transaction() as tx:
            _stage(tx, proj)
            raise RuntimeError("operation refused half-way")
    after = sorted(p.relative_to(proj.root) for p in proj.root.rglob("*") if p.is_file() and p.name != "lock")
    assert after == before
    assert not transaction.pending(proj.journal)
    with proj.transaction() as tx:  # the lock was released
        tx.write_text(proj.qms / "ok.md", "ok")
    assert (proj.qms / "ok.md").read_text() == "ok"


def test_qms_error_inside_a_transaction_writes_nothing(proj):
    from qms.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        with proj.transaction() as tx:
            tx.append_line(proj.qms / "audit.jsonl", "{}")
            raise InvalidTransition("no")
    assert not (proj.qms / "audit.jsonl").exists()


def test_after_commit_callbacks_run_only_on_success(proj):
    calls = []
    with proj.transaction() as tx:
        tx.after_commit.append(lambda: calls.append("ok"))
    with pytest.raises(ValueError):
        with proj.transaction() as tx:
            tx.after_commit.append(lambda: calls.append("bad"))
            raise ValueError
    assert calls == ["ok"]


def test_crash_between_journal_and_apply_is_rolled_forward(proj, monkeypatch):
    (proj.qms / "log.jsonl").write_text('{"n": 0}\n')
    real_apply = transaction.apply_ops

    def crash(root, ops):
        raise Crash

    monkeypatch.setattr(transaction, "apply_ops", crash)
    with pytest.raises(Crash):
        with proj.transaction() as tx:
            _stage(tx, proj)
    # the journal is complete; nothing has been applied yet
    assert transaction.pending(proj.journal)
    assert not (proj.qms / "a" / "one.md").exists()
    assert (proj.qms / "log.jsonl").read_text() == '{"n": 0}\n'

    monkeypatch.setattr(transaction, "apply_ops", real_apply)
    Project.open(proj.root)  # the next process to open the project rolls forward
    assert not transaction.pending(proj.journal)
    assert (proj.qms / "a" / "one.md").read_text() == "one\n"
    assert (proj.qms / "log.jsonl").read_text() == '{"n": 0}\n{"n": 1}\n{"n": 2}\n'


def test_crash_in_the_middle_of_apply_replays_appends_once(proj, monkeypatch):
    (proj.qms / "log.jsonl").write_text('{"n": 0}\n')
    real_apply = transaction.apply_ops

    def partial(root, ops):
        # apply every op (appends included), then die before the journal is removed
        real_apply(root, ops)
        raise Crash

    monkeypatch.setattr(transaction, "apply_ops", partial)
    with pytest.raises(Crash):
        with proj.transaction() as tx:
            _stage(tx, proj)
    assert transaction.pending(proj.journal)
    monkeypatch.setattr(transaction, "apply_ops", real_apply)
    # recovery happens inside the next transaction too (not only in Project.open)
    with proj.transaction() as tx:
        assert tx.read_text(proj.qms / "log.jsonl") == '{"n": 0}\n{"n": 1}\n{"n": 2}\n'
    assert (proj.qms / "log.jsonl").read_text() == '{"n": 0}\n{"n": 1}\n{"n": 2}\n'
    assert not transaction.pending(proj.journal)


def test_append_replay_is_idempotent(tmp_path):
    target = tmp_path / "f.jsonl"
    target.write_text("first\n")
    ops = [{"op": "append", "path": "f.jsonl", "offset": 6, "text": "second\n"}]
    for _ in range(3):
        transaction.apply_ops(tmp_path, ops)
    assert target.read_text() == "first\nsecond\n"


def test_append_replay_trims_a_torn_tail(tmp_path):
    target = tmp_path / "f.jsonl"
    target.write_text("first\nsec")  # a half-written append before the crash
    transaction.apply_ops(tmp_path, [{"op": "append", "path": "f.jsonl", "offset": 6,
                                      "text": "second\n"}])
    assert target.read_text() == "first\nsecond\n"


def test_write_then_append_in_one_transaction(proj):
    path = proj.qms / "x.jsonl"
    path.write_text("old\n")
    with proj.transaction() as tx:
        tx.write_text(path, "new\n")
        tx.append_line(path, "more")
    assert path.read_text() == "new\nmore\n"


def test_delete_and_replay(proj):
    path = proj.qms / "d.md"
    path.write_text("x")
    ops = [{"op": "delete", "path": "QMS/d.md"}]
    transaction.apply_ops(proj.root, ops)
    transaction.apply_ops(proj.root, ops)  # deleting twice is fine
    assert not path.exists()


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/qms-test", "QMS/../../x"])
def test_journal_cannot_write_outside_the_project(proj, bad):
    with pytest.raises(ProjectError):
        transaction.apply_ops(proj.root, [{"op": "write", "path": bad, "text": "x"}])
    assert not (proj.root.parent / "outside.txt").exists()


@pytest.mark.req("REQ-HARD-004")
def test_unreadable_journal_is_set_aside_not_retried(proj, capsys):
    proj.state_dir.mkdir(exist_ok=True)
    proj.journal.write_text("{not json")
    Project.open(proj.root)  # no error: the project stays usable
    kept = list(proj.state_dir.glob("journal.failed-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert not transaction.pending(proj.journal)
    err = capsys.readouterr().err
    assert "journal" in err and "inspection" in err
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "ok.md", "ok")
    assert (proj.qms / "ok.md").read_text() == "ok"


def test_empty_transaction_writes_no_journal(proj, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("journal written for an empty transaction")

    monkeypatch.setattr(transaction, "write_journal", boom)
    monkeypatch.setattr(transaction.atomic, "write_bytes", boom)
    with proj.transaction():
        pass


def test_lock_excludes_a_second_holder(proj):
    lock = proj.state_dir / "lock"
    with transaction.project_lock(lock):
        with pytest.raises(Conflict, match="busy"):
            with transaction.project_lock(lock, timeout=0.05):
                pass
    with transaction.project_lock(lock, timeout=0.05):  # released
        pass


def test_atomic_write_leaves_no_temp_files(proj):
    from qms.store import atomic

    target = proj.qms / "big.md"
    atomic.write_bytes(target, b"x" * (3 << 20))  # > 1 MiB takes the chunked path
    assert target.stat().st_size == 3 << 20
    atomic.write_bytes(target, b"y" * (3 << 20))  # replacing goes through a temporary file
    assert target.read_bytes() == b"y" * (3 << 20)
    assert [p.name for p in proj.qms.iterdir() if "tmp" in p.name] == []


@pytest.mark.req("REQ-HARD-020")
def test_one_fsync_per_commit_and_a_checkpoint_syncs_in_one_batch(proj, monkeypatch):
    calls = []
    monkeypatch.setattr(transaction.os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(transaction, "_datasync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(transaction.atomic.os, "sync", lambda: calls.append("sync"))
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "a.md", "a")
    assert calls.count("fsync") <= 3 and "sync" not in calls  # + a new journal and its folder
    calls.clear()
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "b.md", "b")
        tx.append_line(proj.qms / "log.jsonl", "{}")
    assert calls == ["fsync"]
    monkeypatch.setattr(transaction, "CHECKPOINT_BYTES", 0)
    calls.clear()
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "c.md", "c")
    assert calls == ["fsync", "sync"]  # past the checkpoint size: one sync, journal emptied
    assert transaction._log(proj.journal).frames == []


@pytest.mark.req("REQ-HARD-020")
def test_after_a_reboot_every_frame_since_the_checkpoint_is_replayed(proj, monkeypatch):
    """Power failure: applied files may be lost, the fsynced journal frames are not; a new
    boot replays them all, in order (writes whole, appends at their offsets)."""
    log = proj.qms / "log.jsonl"
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "a.md", "one")
        tx.append_line(log, '{"n": 1}')
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "a.md", "two")
        tx.append_line(log, '{"n": 2}')
    (proj.qms / "a.md").unlink()  # what the disk may hold after the power failure
    log.write_text('{"n": 1}\n{"n"')
    monkeypatch.setattr(transaction, "_BOOT", [b"another-boot"])
    Project.open(proj.root)
    assert (proj.qms / "a.md").read_text() == "two"
    assert log.read_text() == '{"n": 1}\n{"n": 2}\n'
    assert transaction._log(proj.journal).frames == []


@pytest.mark.req("REQ-HARD-020")
def test_a_process_crash_replays_only_the_interrupted_frame(proj, monkeypatch):
    """Same boot: applied frames are never replayed, so a file edited since (a workspace
    copy) is not overwritten by an old frame."""
    ws = proj.root / ".claude" / "users" / "u" / "workspace" / "X.md"
    with proj.transaction() as tx:
        tx.write_text(ws, "as created")
    ws.write_text("edited by the user")
    monkeypatch.setattr(transaction, "apply_ops", lambda root, ops: (_ for _ in ()).throw(Crash))
    with pytest.raises(Crash):
        with proj.transaction() as tx:
            tx.write_text(proj.qms / "b.md", "b")
    monkeypatch.undo()
    Project.open(proj.root)
    assert ws.read_text() == "edited by the user"
    assert (proj.qms / "b.md").read_text() == "b"
    assert not transaction.pending(proj.journal)


@pytest.mark.req("REQ-HARD-020")
def test_frames_before_a_checkpoint_are_never_replayed(proj, monkeypatch):
    """A checkpoint reuses the journal's space: the next frame opens a new epoch at offset
    0, and the older frames left behind it never count again, not even after a reboot."""
    monkeypatch.setattr(transaction, "CHECKPOINT_BYTES", 200)
    for n in range(4):
        with proj.transaction() as tx:
            tx.write_text(proj.qms / "a.md", f"old {n} " + "x" * 300)
    assert transaction._log(proj.journal).frames == []  # checkpointed
    (proj.qms / "a.md").write_text("changed since")
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "b.md", "b")
    log = transaction._log(proj.journal)
    assert [f[0] for f in log.frames] == [0] and log.epoch >= 1
    monkeypatch.setattr(transaction, "_BOOT", [b"another-boot"])
    Project.open(proj.root)
    assert (proj.qms / "a.md").read_text() == "changed since"
    assert (proj.qms / "b.md").read_text() == "b"


@pytest.mark.req("REQ-HARD-020")
def test_a_journal_of_the_earlier_version_is_completed(proj):
    proj.state_dir.mkdir(exist_ok=True)
    (proj.qms / "log.jsonl").write_text('{"n": 0}\n')
    (proj.state_dir / "journal.json").write_text(json.dumps({"ops": [
        {"op": "write", "path": "QMS/a.md", "text": "a"},
        {"op": "append", "path": "QMS/log.jsonl", "offset": 9, "text": '{"n": 1}\n'}]}))
    Project.open(proj.root)
    assert (proj.qms / "a.md").read_text() == "a"
    assert (proj.qms / "log.jsonl").read_text() == '{"n": 0}\n{"n": 1}\n'
    assert not (proj.state_dir / "journal.json").exists()
    assert not transaction.pending(proj.journal)


@pytest.mark.req("REQ-HARD-020")
def test_without_a_boot_id_every_commit_is_made_durable(proj, monkeypatch):
    """Not Linux: no boot id and no waiting sync(); each commit fsyncs its files and
    folders before it returns."""
    synced = []
    monkeypatch.setattr(transaction, "_BOOT", [b"-"])
    monkeypatch.setattr(transaction.atomic, "SYNC_ALL", False)
    monkeypatch.setattr(transaction.atomic, "fsync_file", synced.append)
    with proj.transaction() as tx:
        tx.write_text(proj.qms / "d" / "a.md", "a")
    assert proj.qms / "d" / "a.md" in synced and proj.qms / "d" in synced
    assert transaction._log(proj.journal).frames == []


@pytest.mark.req("REQ-QUAL-006")
def test_a_nested_transaction_joins_the_outer_one(proj: Project):
    import threading

    with proj.transaction() as outer:
        with proj.transaction() as inner:  # would wait for the lock if it did not join
            assert inner is outer
            inner.write_text(proj.qms / "inner.md", "x")
        assert not (proj.qms / "inner.md").exists()  # the outermost transaction commits
        seen = []
        other = threading.Thread(target=lambda: seen.append(proj._open_tx.get(
            threading.get_ident())))
        other.start()
        other.join()
        assert seen == [None]  # other threads never join (they wait for the lock)
    assert (proj.qms / "inner.md").read_text() == "x"

    with pytest.raises(Conflict):
        with proj.transaction():
            with proj.transaction() as inner:
                inner.write_text(proj.qms / "lost.md", "x")
            raise Conflict("refused after the inner operation")
    assert not (proj.qms / "lost.md").exists() and not proj._open_tx
