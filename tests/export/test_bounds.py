"""Exports are bounded: a record over the size limits is refused naming the limit; the
typesetting runs in a separate process that is stopped, with a clear error, when it runs
past its time or memory; a repeated export of an unchanged record costs no typesetting
(a cache the signing key vouches for, bounded in size)."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from qms.errors import ValidationError

S = sys.modules["_qms_tests_export_support"]  # loaded by this folder's conftest
ROOT = S.ROOT
pytestmark = [pytest.mark.timeout(180), pytest.mark.req("REQ-EXP-011")]
export_module = importlib.import_module("qms.operations.export")


@pytest.fixture
def project(tmp_path, pdf_tools):
    from qms import operations as ops
    from qms.store.project import Project

    root = ROOT.make_project(tmp_path / "p")
    p = Project.open(root)
    ops.create(p, "claude", doc_type="SOP", title="Bounded")
    ops.checkin(p, "claude", doc_id="SOP-008", content="---\ntitle: Bounded\nrevision_summary:"
                " x\n---\n\n# Bounded\n\n" + "A paragraph of the procedure.\n\n" * 40)
    return p


def _cache(project) -> list[str]:
    folder = project.state_dir / "cache" / "export"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _workers() -> list[int]:
    """Worker processes of ours still alive."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read()
                with open(f"/proc/{pid}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if b"qms.render.typeset" in cmd and parent == os.getpid():
                found.append(int(pid))
    return found


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_EVENTS", 2, "events (limit 2 events)"),
    ("MAX_TRAIL", 100, "bytes (limit 100 bytes)"),
    ("MAX_TEXT", 50, "text has"),
])
def test_a_record_over_a_limit_is_refused_naming_it(project, monkeypatch, limit, value,
                                                    message):
    from qms import operations as ops

    monkeypatch.setattr(export_module, limit, value)
    with pytest.raises(ValidationError) as err:
        ops.export_pdf(project, "qa", doc_id="SOP-008")
    text = err.value.message
    assert "too large to export" in text and "SOP-008" in text and message in text
    assert _cache(project) == [] and _workers() == []


def test_a_render_past_its_time_is_stopped(project, monkeypatch):
    from qms import operations as ops
    from qms.render import worker

    monkeypatch.setattr(worker, "TIMEOUT_S", 0.01)
    with pytest.raises(ValidationError) as err:
        ops.export_pdf(project, "qa", doc_id="SOP-008")
    assert "Typesetting the dossier of SOP-008 v0.1 took longer than the export limit" in \
        err.value.message
    assert err.value.details["limit"] == "time"
    assert _cache(project) == [] and _workers() == []


def test_a_render_past_its_memory_is_stopped(project, monkeypatch):
    from qms import operations as ops
    from qms.render import worker

    monkeypatch.setattr(worker, "MEMORY_MB", 64)  # Typst needs more to start
    with pytest.raises(ValidationError) as err:
        ops.export_pdf(project, "qa", doc_id="SOP-008")
    assert "dossier of SOP-008 v0.1 needed more than the export limit of 64 MB of memory" in \
        err.value.message
    assert err.value.details["limit"] == "memory"
    assert _cache(project) == [] and _workers() == []


def test_a_repeated_export_costs_no_typesetting(project, monkeypatch):
    from qms import operations as ops
    from qms.render import worker

    first = ops.export_pdf(project, "qa", doc_id="SOP-008")
    assert len(_cache(project)) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("typeset again")

    monkeypatch.setattr(worker.Pool, "render", refuse)
    again = ops.export_pdf(project, "qa", doc_id="SOP-008")
    assert again.pdf == first.pdf  # byte for byte, its export time included
    with pytest.raises(AssertionError, match="typeset again"):  # another reader: its own
        ops.export_pdf(project, "tu", doc_id="SOP-008")
    ops.checkout(project, "claude", doc_id="SOP-008")  # a new event: a new dossier
    with pytest.raises(AssertionError, match="typeset again"):
        ops.export_pdf(project, "qa", doc_id="SOP-008")


def test_a_planted_or_edited_cache_entry_is_never_served(project, monkeypatch):
    from qms import operations as ops

    first = ops.export_pdf(project, "qa", doc_id="SOP-008").pdf
    entry = project.state_dir / "cache" / "export" / _cache(project)[0]
    forged = b"%PDF-1.7 forged dossier"
    entry.write_bytes(entry.read_bytes()[:32] + forged)  # a kept tag, another content
    served = ops.export_pdf(project, "qa", doc_id="SOP-008").pdf
    assert served != forged and served.startswith(b"%PDF") and forged not in served
    assert len(served) > 1000 and served[:200] == first[:200]
    entry.unlink()
    entry.symlink_to(project.root / "QMS" / "SOP" / "SOP-008-draft.md")  # a planted link
    assert ops.export_pdf(project, "qa", doc_id="SOP-008").pdf.startswith(b"%PDF")


def test_without_the_signing_key_nothing_is_cached(project):
    from qms import operations as ops

    keys = project.state_dir / "keys"
    keys.rename(project.root / "keys-away")
    ops.export_pdf(project, "qa", doc_id="SOP-008")
    assert _cache(project) == []


def test_the_cache_is_bounded(project, monkeypatch):
    from qms.store import cache

    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    for n in range(4):
        cache.put(project, "export", f"{n:064x}", b"x" * 10)
        os.utime(project.state_dir / "cache" / "export" / f"{n:064x}", (n, n))
    assert _cache(project) == [f"{n:064x}" for n in (2, 3)]
    assert cache.get(project, "export", f"{3:064x}") == b"x" * 10
    assert cache.get(project, "export", "../../x") is None


def test_export_all_refuses_whole_naming_the_record_over_a_limit(project, monkeypatch,
                                                                   tmp_path):
    from qms import operations as ops

    monkeypatch.setattr(export_module, "MAX_EVENTS", 2)  # the seeded documents have 2
    with pytest.raises(ValidationError) as err:
        ops.export_all(project, "qa", output=str(tmp_path / "all"))
    assert "SOP-008 is too large to export" in err.value.message
    assert not (tmp_path / "all").exists() and _workers() == []


def _zombies() -> list[int]:
    """Children of this process that ended and were never collected."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.append(int(pid))
    return found


def test_a_finished_worker_is_not_waited_for_and_is_collected_later(project):
    """The caller goes on as soon as the worker reports its PDF (one line per PDF on its
    standard output), and collects it at the next pool: a server leaves no zombies."""
    import shutil
    import time

    from qms import operations as ops
    from qms.render import worker

    for _ in range(3):  # a cold export each time
        shutil.rmtree(project.state_dir / "cache" / "export", ignore_errors=True)
        assert ops.export_pdf(project, "qa", doc_id="SOP-008").pdf.startswith(b"%PDF-")
        assert len(worker._ENDING) <= 1  # the earlier ones were collected
    deadline = time.monotonic() + 10
    while worker._ENDING and time.monotonic() < deadline:
        time.sleep(0.05)
        worker._reap()
    assert worker._ENDING == [] and _zombies() == [] and _workers() == []


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (started by one CLI run)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("args", [["export"], ["export", "NOPE-1", "-o", "x.pdf"],
                                  ["export", "SOP-008", "-o", "/nonexistent/x.pdf"]])
def test_the_early_worker_of_a_refused_export_ends_with_the_cli(project, args):
    """`qms export` starts its typesetting process before it reads its arguments
    (qms.cli.start); when the export is refused, that process ends with the CLI."""
    import subprocess
    import time
    import uuid

    marker = f"QMS_TEST_MARK={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    run = subprocess.run([str(S.QMS_BIN), "--user", "qa", *args], cwd=project.root, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "Error" in run.stderr
    deadline = time.monotonic() + 10
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(marker) == []


@pytest.mark.parametrize("argv, early", [
    (["--user", "qa", "export", "SOP-008", "-o", "x.pdf"], 1),
    (["-u", "qa", "--json", "export", "--all", "-o", "d"], 1),
    (["--user", "qa", "export", "--help"], 0),
    (["--user", "qa", "status", "SOP-008"], 0),
    (["--user", "qa", "read", "export"], 0),
])
def test_the_console_script_starts_a_worker_first_for_export_only(monkeypatch, argv, early):
    from qms.cli import main as cli_main, start
    from qms.render import worker

    seen = []
    monkeypatch.setattr(sys, "argv", ["qms", *argv])
    monkeypatch.setattr(cli_main, "main", lambda args: seen.append(len(worker._EARLY)) or 0)
    try:
        assert start.main() == 0
        assert seen == [early]
    finally:
        while worker._EARLY:  # end it as a refused export would
            proc = worker._EARLY.pop()
            proc.kill()
            proc.wait()
            proc.close()


FORKED = """
import json, sys
from qms.render import typeset, worker
worker._EARLY.append(typeset.fork(int(sys.argv[2]), 61))  # first thing, as qms.cli.start
from qms import operations as ops
from qms.errors import ValidationError
from qms.store.project import Project
try:
    made = ops.export_pdf(Project.open(sys.argv[1]), "qa", doc_id="SOP-008").pdf[:5].decode()
except ValidationError as err:
    made = err.details
print(json.dumps([made, len(worker._EARLY)]))
"""


@pytest.mark.parametrize("memory, outcome", [(1536, "%PDF-"), (64, {"limit": "memory"})])
def test_a_forked_worker_typesets_and_is_bounded(project, memory, outcome):
    """The CLI forks its early worker at its start (typeset.fork: nothing loaded twice); the
    pool takes it, and it typesets like a spawned one, within the same limits (64 MB:
    Typst needs more to start)."""
    import json
    import subprocess

    run = subprocess.run([sys.executable, "-c", FORKED, str(project.root), str(memory)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    made, early = json.loads(run.stdout)
    assert early == 0  # the pool took it
    if isinstance(outcome, dict):
        assert made.get("limit") == outcome["limit"], made
        assert _cache(project) == []
    else:
        assert made == outcome
