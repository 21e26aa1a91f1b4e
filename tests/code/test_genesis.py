"""Genesis and adoption: a new system grows on genesis/<SYSTEM>, pushable by the users an
administrator named, and enters main only through an adoption CR as release {SYSTEM}-1.0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _code_support import (approve_doc, area, commit, effective_rs, git, push, qms,
                           qualify_at, rev, scoped_cr, verify_clean, write)
from qms import operations as ops
from qms.errors import ValidationError
from qms.store.project import Project

pytestmark = pytest.mark.slow

ADOPT = """```qms-scope
system: NEW
paths: [src/new/**]
requirements: revise
adopt: true
```"""


def genesis_pushes(root: Path) -> list[dict]:
    lines = (root / "QMS" / ".audit" / "project.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == "GENESIS_PUSH"]


@pytest.fixture
def grown(gov: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """System NEW added for genesis (claude), and a clone of genesis/NEW with one push."""
    result = ops.system_add(Project.open(gov), "lead", name="NEW", paths=["src/new"],
                            genesis=["claude"])
    assert "Opened genesis/NEW" in result.message
    assert rev(gov, "refs/heads/genesis/NEW") == rev(gov, "main")
    clone = tmp_path / "grow"
    git(tmp_path, "clone", "-q", "-b", "genesis/NEW", str(gov), str(clone))
    git(clone, "config", "push.pushOption", "qms-user=claude")
    write(clone, "src/new/core.py", "def core(): return 1\n")
    write(clone, "src/new/test_core.py", "def test_core(): pass\n")
    sha = commit(clone, "the new system, without a CR")  # no trailer asked
    result = push(clone, "origin", "genesis/NEW")
    assert result.returncode == 0, result.stderr.decode()
    [event] = genesis_pushes(gov)
    assert event["system"] == "NEW" and event["user"] == "claude" and event["new"] == sha
    assert event["paths"] == ["src/new/core.py", "src/new/test_core.py"]
    return gov, clone, sha


@pytest.mark.req("REQ-CODE-020")
def test_genesis_pushes_are_the_named_users_inside_the_system(grown):
    gov, clone, sha = grown
    write(clone, "src/app/auth/login.py", "not the new system's\n")
    commit(clone, "outside")
    result = push(clone, "origin", "genesis/NEW")
    assert result.returncode != 0 and b"[scope]" in result.stderr
    git(clone, "reset", "-q", "--hard", sha)
    write(clone, "src/new/more.py", "x\n")
    commit(clone, "more")
    result = push(clone, "-o", "qms-user=lead", "origin", "genesis/NEW")
    assert result.returncode != 0 and b"[executor]" in result.stderr  # not named
    result = push(clone, "--force", "origin", f"{sha}~1:refs/heads/genesis/NEW")
    assert result.returncode != 0 and b"[fast-forward]" in result.stderr
    result = push(clone, "origin", "HEAD:refs/heads/genesis/OTHER")
    assert result.returncode != 0 and b"[branch]" in result.stderr
    assert len(genesis_pushes(gov)) == 1 and rev(gov, "refs/heads/genesis/NEW") == sha
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-020")
def test_adoption_lands_the_genesis_code_as_release_1_0(grown):
    gov, clone, sha = grown
    effective_rs(gov, ns="NEW")
    doc_id = scoped_cr(gov, block=ADOPT, title="Adopt NEW")
    assert rev(gov, f"refs/heads/cr/{doc_id}") == sha  # the branch starts at genesis' tip
    qualify_at(gov, sha, ns="NEW")
    code, out = qms(gov, "gate", doc_id)
    assert code == 0, out
    assert out["result"]["paths"] == ["src/new/core.py", "src/new/test_core.py"]
    result = ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    assert result.release == "NEW-1.0" and (gov / "src/new/core.py").exists()
    verify_clean(gov)
    # adopted: the genesis branch takes no more pushes; a second adoption is refused
    write(clone, "src/new/late.py", "x\n")
    commit(clone, "late")
    result = push(clone, "origin", "genesis/NEW")
    assert result.returncode != 0 and b"was adopted by" in result.stderr
    with pytest.raises(ValidationError, match="was adopted by"):
        scoped_cr(gov, block=ADOPT, title="Adopt NEW again")
    # a later change of the system: the refusal still names the adoption, not the latest merge
    grow = ADOPT.replace("adopt: true\n", "").replace("revise", "unchanged")
    later = scoped_cr(gov, block=grow, title="Grow NEW")
    a = area(gov, later)
    write(a, "src/new/core.py", "def core(): return 2\n")
    head = commit(a, "core v2")
    assert push(a).returncode == 0
    qualify_at(gov, head, ns="NEW")
    assert ops.merge(Project.open(gov), "claude", doc_id=later).release == "NEW-1.1"
    result = push(clone, "origin", "genesis/NEW")
    assert f"was adopted by {doc_id} (NEW-1.0)".encode() in result.stderr, result.stderr
    with pytest.raises(ValidationError, match=f"was adopted by {doc_id} \\(NEW-1.0\\)"):
        scoped_cr(gov, block=ADOPT, title="Adopt NEW once more")


@pytest.mark.req("REQ-CODE-020")
def test_adopt_needs_a_genesis_system(gov):
    block = ADOPT.replace("system: NEW", "system: APP").replace("src/new/**", "src/app/**")
    with pytest.raises(ValidationError, match="was not added for genesis"):
        scoped_cr(gov, block=block)


@pytest.mark.req("REQ-CODE-020")
def test_a_genesis_branch_moved_or_made_by_hand_is_named(grown):
    gov, _, sha = grown
    tree = rev(gov, f"{sha}^{{tree}}")
    extra = git(gov, "commit-tree", tree, "-p", sha, "-m", "by hand").stdout.decode().strip()
    git(gov, "update-ref", "refs/heads/genesis/NEW", extra)
    git(gov, "branch", "genesis/ROGUE", "main")
    messages = sorted(f["message"] for f in ops.verify(Project.open(gov), "qa", code=True)
                      .findings)
    assert len(messages) == 2, messages
    assert "genesis/NEW is at" in messages[0] and "no system was added for genesis" in messages[1]
    git(gov, "update-ref", "-d", "refs/heads/genesis/NEW")
    messages = [f["message"] for f in ops.verify(Project.open(gov), "qa", code=True).findings
                if "genesis/NEW" in f["message"]]
    assert len(messages) == 1 and "genesis/NEW is gone" in messages[0], messages
