"""`interact --respond --file` never follows a link and never blocks on a FIFO (issue 8)."""

from __future__ import annotations

import os

import pytest

from qms.store.transaction import pending

from .conftest import VR


@pytest.mark.req("REQ-HARD-002")
@pytest.mark.req("REQ-HARD-003")
def test_interact_respond_file_fifo_and_links_are_refused(vr, qms_proc, tmp_path):
    project, vr = vr, VR
    fifo = project / "evidence.fifo"
    os.mkfifo(fifo)
    run = qms_proc(project, "--user", "claude", "interact", vr, "--respond", "--file",
                   str(fifo), timeout=20)
    assert run.code == 1 and "FIFO" in run.err and "evidence.fifo" in run.err, run.err
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP SECRET\n")
    (project / "evidence.txt").symlink_to(secret)
    run = qms_proc(project, "--user", "claude", "interact", vr, "--respond", "--file",
                   "evidence.txt", timeout=20)
    assert run.code == 1 and "symbolic link" in run.err, run.err
    (project / "linked").symlink_to(secret.parent, target_is_directory=True)
    run = qms_proc(project, "--user", "claude", "interact", vr, "--respond", "--file",
                   "linked/secret.txt", timeout=20)
    assert run.code == 1 and "symbolic link" in run.err, run.err
    assert not pending(project / ".qms" / "journal")
    (project / "real.txt").write_text("EI-3\n")
    run = qms_proc(project, "--user", "claude", "interact", vr, "--respond", "--file",
                   "real.txt", timeout=30)
    assert run.code == 0, run.err
