"""`qms key import FILE` (issue 22, point 7): an existing private key becomes the next
active key, endorsed by the current key when this copy has it, audited either way; bad
files are refused and change nothing; the private key never enters the project's records.
And the chain decides which key signs: an entry signed by a key after its successor was
introduced (`.qms/keys/active` pointed back at an old key) is a verify finding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qms.store import tokens
from qms.store.project import Project

req = pytest.mark.req


def project_events(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "QMS/.audit/project.jsonl").read_text().splitlines()]


def verify(q) -> dict:
    return q.json("qa", "verify")["result"]


def no_secret_in(root: Path, seed: str) -> None:
    for path in root.rglob("*"):
        if path.is_file() and ".qms" not in path.parts:
            assert seed.encode() not in path.read_bytes(), path


@req("REQ-KEY-001")
def test_import_with_the_current_key_is_endorsed_and_signs_from_then_on(q, tmp_path, new_key):
    path, key_id, seed = new_key(tmp_path)
    run = q.ok("lead", "key", "import", str(path))
    assert f"Imported signing key {key_id}" in run.out and "vouched for by" in run.out
    rotate = project_events(q.root)[-1]
    assert (rotate["event"], rotate["key_id"], rotate["imported"], rotate["endorsed"]) == (
        "KEY_ROTATE", key_id, True, True)
    private = q.root / ".qms" / "keys" / f"{key_id}.key"
    assert private.read_text().strip() == seed and oct(private.stat().st_mode & 0o777) == "0o600"
    assert (q.root / ".qms/keys/active").read_text().strip() == key_id
    doc = q.create("CR")
    head = json.loads((q.root / "QMS/.audit/chain.jsonl").read_text().splitlines()[-1])
    assert head["key_id"] == key_id and doc
    result = verify(q)
    assert result["clean"], result["findings"]
    no_secret_in(q.root, seed)


@req("REQ-KEY-001")
def test_import_without_the_current_key_is_one_reported_start(q, tmp_path, make_q, new_key):
    """A copy without the private key (a fresh clone) imports the team's key: recorded as an
    unendorsed start, which verify names once; the copy then works, the user registry and
    tokens included (a key this copy holds is trusted)."""
    q.create("CR")
    clone = tmp_path / "clone"
    shutil.copytree(q.root, clone, ignore=shutil.ignore_patterns("keys"))
    c = make_q(clone)
    c.fail("claude", "create", "CR", "--title", "x", match="no signing key")
    path, key_id, seed = new_key(tmp_path)
    run = c.ok("lead", "key", "import", str(path))
    assert "without the previous key" in run.out
    rotate, adopt = project_events(clone)[-2:]  # the registry, recorded under the new key
    assert rotate["imported"] and not rotate["endorsed"] and rotate["previous_key_id"] is None
    assert adopt["event"] == "USER_ADOPT" and adopt["users"] == {"qa": "quality",
                                                                 "tu": "reviewer"}
    c.ok("lead", "user", "--add", "ini", "--group", "initiator")
    c.ok("ini", "create", "CR", "--title", "After the import")
    secret = c.json("lead", "token", "issue", "ini")["result"]["token"]
    assert tokens.authenticate(Project.open(clone), secret) == "ini"
    result = verify(c)
    assert [f["kind"] for f in result["findings"]] == ["key_unendorsed"]
    assert key_id in result["findings"][0]["message"]
    no_secret_in(clone, seed)


@req("REQ-KEY-001")
@pytest.mark.parametrize("case, match", [
    ("malformed", "not a private key"),
    ("short", "not a private key"),
    ("readable", "can be read or written by others"),
    ("link", "link is never followed"),
    ("missing", "Cannot read the key file"),
    ("in the keyring", "already in this project's keyring"),
    ("in the records", "lies inside the project"),
    ("in a workspace", "lies inside the project"),
    ("not an administrator", "requires group administrator"),
])
def test_bad_imports_are_refused_and_change_nothing(q, tmp_path, digest, new_key, case,
                                                   match):
    path, _, _ = new_key(tmp_path)
    user = "lead"
    if case == "malformed":
        path.write_text("not a key at all, but 64 characters long......................\n")
    elif case == "short":
        path.write_text("ab" * 16 + "\n")
    elif case == "readable":
        path.chmod(0o644)
    elif case == "link":
        link = tmp_path / "link.key"
        link.symlink_to(path)
        path = link
    elif case == "missing":
        path = tmp_path / "nothing.key"
    elif case == "in the keyring":
        active = (q.root / ".qms/keys/active").read_text().strip()
        path.write_text((q.root / ".qms/keys" / f"{active}.key").read_text())
    elif case in ("in the records", "in a workspace"):
        where = q.root / ("QMS" if case == "in the records" else ".claude/users/lead/workspace")
        path = Path(shutil.move(str(path), where / path.name))
    else:
        user = "qa"
    before = digest(q.root)
    q.fail(user, "key", "import", str(path), match=match)
    assert digest(q.root) == before


@req("REQ-KEY-001")
def test_import_needs_exactly_one_file(q):
    q.fail("lead", "key", "import", code=2, match="key import needs FILE")
    q.fail("lead", "key", "list", "x.key", code=2)
    q.fail("lead", "key", "import", "x.key", "--without-previous-key", code=2,
           match="--without-previous-key is for rotate")


@req("REQ-INTEG-004")
def test_an_entry_signed_by_a_replaced_key_is_a_finding(q):
    old = (q.root / ".qms/keys/active").read_text()
    q.ok("lead", "key", "rotate")
    q.create("CR")
    assert verify(q)["clean"]
    (q.root / ".qms/keys/active").write_text(old)  # pointed back at the replaced key
    q.create("CR")
    result = verify(q)
    (finding,) = result["findings"]
    assert finding["kind"] == "signature" and "which key" in finding["message"]
    assert "replaced at seq" in finding["message"]


@req("REQ-KEY-001", "REQ-USER-006")
def test_a_second_copy_without_any_key_can_start_again(q, tmp_path, make_q, new_key):
    """A's key started without the previous one signs the registry; B (a copy of A without
    A's key) imports another key: the registry is recorded again under it, so B can act."""
    a = tmp_path / "a"
    shutil.copytree(q.root, a, ignore=shutil.ignore_patterns("keys"))
    qa = make_q(a)
    qa.ok("lead", "key", "rotate", "--without-previous-key")
    qa.ok("lead", "user", "--add", "ini", "--group", "initiator")  # signed by A's new key
    b = tmp_path / "b"
    shutil.copytree(a, b, ignore=shutil.ignore_patterns("keys"))
    qb = make_q(b)
    path, key_id, _ = new_key(tmp_path)
    qb.ok("lead", "key", "import", str(path))
    adopt = project_events(b)[-1]
    assert adopt["event"] == "USER_ADOPT" and adopt["users"]["ini"] == "initiator"
    assert adopt["source"] == f"key {key_id} started without the previous key"
    qb.ok("ini", "create", "CR", "--title", "On the second copy")
    qb.ok("lead", "user", "--group", "ini", "quality")
    result = verify(qb)
    assert [f["kind"] for f in result["findings"]] == ["key_unendorsed", "key_unendorsed"]
    assert any("user registry was recorded again" in n for n in result["notes"])
