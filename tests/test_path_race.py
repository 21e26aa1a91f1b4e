"""A folder swapped for a symbolic link mid-command never redirects a read or a write
(issue 15, Why 8).

A swapper process exchanges ``.claude/users/claude/workspace`` with a symbolic link, over
and over (``renameat2(RENAME_EXCHANGE)``: the two names trade places atomically), while the
real CLI creates and checks in documents. The link points outside the project, then at
``QMS/SOP``. The store resolves every path from the project root with folder descriptors,
one component at a time, never following a link: a command either works on the real
folder or is refused; nothing is written, read or deleted through the link, and the
project still verifies.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import tree_digest

pytestmark = [pytest.mark.slow, pytest.mark.req("REQ-HARD-001", "REQ-HARD-010")]

RENAME_EXCHANGE = 2
BUDGET_S = 2.0  # per target; the CLI loop stops after this

SWAPPER = textwrap.dedent(r'''
    import ctypes, os, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    a, b, seconds = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), float(sys.argv[3])
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    end = time.monotonic() + seconds
    print("ready", flush=True)
    swaps = 0
    while time.monotonic() < end:
        for _ in range(200):
            if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
                swaps += 1
    if swaps % 2:  # leave the real folder where it belongs
        libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
    print(swaps, flush=True)
''')


def _has_renameat2() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return hasattr(libc, "renameat2")


@pytest.mark.skipif(sys.platform != "linux" or not _has_renameat2(),
                    reason="needs Linux renameat2(RENAME_EXCHANGE)")
def test_swapped_workspace_never_redirects_the_store(project, cli_raw, tmp_path):
    cli = cli_raw  # no test-side write into the (swapped) workspace
    outside = tmp_path / "outside"
    outside.mkdir()
    for n in range(1, 200):  # a planted "workspace copy" for every ID the loop may use
        (outside / f"CR-{n:03d}.md").write_text("---\ntitle: EVIL\n---\n\nEVIL planted text\n")
    user_dir = project / ".claude" / "users" / "claude"
    workspace, link = user_dir / "workspace", user_dir / "swap"
    sop = project / "QMS" / "SOP"
    before = {outside: tree_digest(outside), sop: tree_digest(sop)}
    made = 0
    for target in (outside, sop):
        link.symlink_to(target, target_is_directory=True)
        swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(workspace), str(link),
                                    str(BUDGET_S + 1)], stdout=subprocess.PIPE, text=True)
        try:
            assert swapper.stdout.readline().strip() == "ready"
            end = time.monotonic() + BUDGET_S
            while time.monotonic() < end:
                run = cli(project, "--user", "claude", "--json", "create", "CR",
                          "--title", "Race")
                if run.code == 0:
                    made += 1
                    doc = run.json["result"]["doc_id"]
                    cli(project, "--user", "claude", "checkin", doc)
                else:  # refused, never followed
                    assert "symbolic link" in run.out or "not a folder" in run.out, run.out
            swaps = int(swapper.stdout.readline())
        finally:
            swapper.kill()
            swapper.wait()
        assert swaps > 100, swaps
        assert workspace.is_dir() and not workspace.is_symlink()
        link.unlink()
        assert tree_digest(target) == before[target], f"{target} written through the link"
    assert made, "no command got through: the test proves nothing"
    for path in (project / "QMS").rglob("*.md"):
        assert "EVIL" not in path.read_text(), f"{path} was read through the link"
    verify = cli(project, "--user", "qa", "verify")
    assert verify.code == 0, verify.out + verify.err
