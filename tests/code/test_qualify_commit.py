"""Qualification binds to a commit: `--commit`, the JUnit file's `qms.commit` property (the
pytest plugin writes it), else HEAD of the repository qualify runs in (a code area), clean
outside qms's own data and present in the project's repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from _code_support import (QMS_BIN, area, commit, effective_rs, env, evidence_file, git,
                           junit, push, rev, scoped_cr, write)
from qms import operations as ops
from qms.errors import ValidationError
from qms.store.project import Project

pytestmark = pytest.mark.slow


def qualify(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(QMS_BIN), "--json", "--user", "claude", "qualify", "APP", *args],
                          cwd=cwd or root, env=env(), capture_output=True, text=True, timeout=120)


def quals(root: Path) -> list[dict]:
    path = root / "QMS" / ".audit" / "APP-RTM" / "SDLC-APP-RTM.jsonl"
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["event"] == "QUALIFY"]


@pytest.fixture
def rs(gov: Path) -> Path:
    effective_rs(gov)
    return gov


@pytest.mark.req("REQ-CODE-013")
def test_a_code_area_qualifies_its_pushed_head(rs):
    doc_id = scoped_cr(rs)
    a = area(rs, doc_id)
    write(a, "src/app/auth/login.py", "v2\n")
    sha = commit(a, "login v2")
    results = a / "results" / "junit.xml"  # untracked: the evidence itself is no change
    results.parent.mkdir()
    results.write_text(junit())
    out = qualify(rs, "--junit", str(results), cwd=a)
    assert out.returncode == 1 and "git push it first" in out.stdout, out.stdout
    assert quals(rs) == []
    assert push(a).returncode == 0
    write(a, "src/app/auth/login.py", "edited after the run\n")
    out = qualify(rs, "--junit", str(results), cwd=a)
    assert out.returncode == 1 and "src/app/auth/login.py" in out.stdout, out.stdout
    git(a, "checkout", "--", "src/app/auth/login.py")
    out = qualify(rs, "--junit", str(results), cwd=a)
    assert out.returncode == 0, out.stdout + out.stderr
    [event] = quals(rs)
    assert event["commit"] == sha and event["tree"] == rev(rs, f"{sha}^{{tree}}")
    assert event["dirty"] is False and len(event["generated_sha256"]) == 64


@pytest.mark.req("REQ-CODE-013")
def test_the_files_commit_property_decides_and_must_agree(rs):
    p = Project.open(rs)
    head = rev(rs, "main")
    first = evidence_file(rs, junit(head, False), "a.xml")
    ops.qualify(p, "claude", namespace="APP", junit=[str(first)])
    assert quals(rs)[-1]["commit"] == head
    write(rs, "src/app/other.py", "y\n")
    git(rs, "commit", "-qam", "another")
    other = rev(rs, "main")
    second = evidence_file(rs, junit(other, False), "b.xml")
    with pytest.raises(ValidationError, match="names different commits"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(first), str(second)])
    with pytest.raises(ValidationError, match="names different commits"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(first)], commit=other)
    ops.qualify(p, "claude", namespace="APP", junit=[str(second)], commit=other[:10])
    assert quals(rs)[-1]["commit"] == other  # an abbreviation resolves to the full hash
    dirty = evidence_file(rs, junit(other, True), "c.xml")
    with pytest.raises(ValidationError, match="qms.dirty=true"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(dirty)])
    missing = evidence_file(rs, junit("ab" * 20, False), "d.xml")
    with pytest.raises(ValidationError, match="holds commit abababab"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(missing)])
    # objects fetched in by hand, on no branch: not a commit the project has
    tree = rev(rs, "main^{tree}")
    stray = git(rs, "commit-tree", tree, "-p", other, "-m", "stray").stdout.decode().strip()
    with pytest.raises(ValidationError, match=f"holds commit {stray}"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(second)], commit=stray)
    bogus = evidence_file(rs, junit("TBD", False), "e.xml")
    with pytest.raises(ValidationError, match="not a commit hash"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(bogus)])
    with pytest.raises(ValidationError, match="not a commit hash"):
        ops.qualify(p, "claude", namespace="APP", junit=[str(second)], commit="--all")
    assert len(quals(rs)) == 2  # every refusal wrote nothing


def _pytest(folder: Path, xml: Path) -> dict[str, str]:
    if not (folder / "test_x.py").exists():
        (folder / "test_x.py").write_text("def test_x():\n    pass\n")
        (folder / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"--junitxml={xml}"], cwd=folder, capture_output=True, text=True,
                         timeout=120, env=env())
    assert run.returncode == 0, run.stdout + run.stderr
    root = ET.parse(xml).getroot()
    return {p.get("name"): p.get("value") for s in root.iter("testsuite")
            for p in s.findall("properties/property")}


@pytest.mark.req("REQ-CODE-013", "REQ-QUAL-007")
def test_the_pytest_plugin_records_the_commit_and_a_dirty_tree(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    assert "qms.commit" not in _pytest(folder, tmp_path / "none.xml")  # not in git
    git(folder, "init", "-q", "-b", "main")
    (folder / ".gitignore").write_text("__pycache__/\nresults/\n")
    _pytest(folder, tmp_path / "warm.xml")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "tests")
    props = _pytest(folder, folder / "results" / "junit.xml")
    assert props == {"qms.commit": rev(folder, "HEAD"), "qms.dirty": "false"}
    (folder / "test_x.py").write_text("def test_x():\n    assert True\n")
    assert _pytest(folder, folder / "results" / "junit.xml")["qms.dirty"] == "true"
