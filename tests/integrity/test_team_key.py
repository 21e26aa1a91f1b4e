"""`scripts/team-key.sh` (issue 22, point 7): `.ci/run` and `scripts/revise-rs.sh` install
the team's key for `qualification/` as its active key (mode 0600) when the folder holding it
is present and the key is the chain's current one, and never print it. Run on a copy of the
script in a throw-away repository layout (`QMS_TEAM_KEYS` names the key folder)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
pytestmark = pytest.mark.req("REQ-KEY-002")


@pytest.fixture
def layout(tmp_path, make_q, new_key):
    """repo/scripts/team-key.sh and repo/qualification/, whose current key is the team's."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "team-key.sh", repo / "scripts")
    (repo / "qualification").mkdir()
    from qms.operations.init import init

    init(repo / "qualification", yes=True)
    keys = tmp_path / "team-keys"
    keys.mkdir()
    team, key_id, seed = new_key(keys)
    make_q(repo / "qualification").ok("lead", "key", "import", str(team))
    team.chmod(0o444)  # as the team's folder holds it
    shutil.rmtree(repo / "qualification" / ".qms" / "keys")  # a new machine
    return repo, keys, key_id, seed


def install(repo: Path, keys: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "scripts" / "team-key.sh")], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "QMS_TEAM_KEYS": str(keys)})


def test_installs_the_current_team_key_0600_without_printing_it(layout, make_q):
    repo, keys, key_id, seed = layout
    run = install(repo, keys)
    assert run.returncode == 0, run.stderr
    assert f"installed signing key {key_id}" in run.stdout
    assert seed not in run.stdout + run.stderr
    private = repo / "qualification" / ".qms" / "keys" / f"{key_id}.key"
    assert private.read_text().strip() == seed
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (private.parent / "active").read_text().strip() == key_id
    q = make_q(repo / "qualification")
    q.ok("claude", "create", "CR", "--title", "Signed with the team key")
    head = json.loads((repo / "qualification/QMS/.audit/chain.jsonl").read_text()
                      .splitlines()[-1])
    assert head["key_id"] == key_id
    assert q.json("qa", "verify")["result"]["clean"]


def test_a_key_the_chain_does_not_use_is_not_installed(layout, new_key):
    repo, keys, key_id, _ = layout
    for old in keys.iterdir():
        old.unlink()
    other, other_id, seed = new_key(keys)
    run = install(repo, keys)
    assert run.returncode == 0 and f"{other_id} is not qualification/'s current key" in run.stderr
    assert not (repo / "qualification" / ".qms" / "keys").exists()
    assert seed not in run.stdout + run.stderr


def test_nothing_happens_without_the_team_folder(layout, tmp_path):
    repo, _, _, _ = layout
    run = install(repo, tmp_path / "absent")
    assert run.returncode == 0 and run.stdout == ""
    assert not (repo / "qualification" / ".qms" / "keys").exists()
