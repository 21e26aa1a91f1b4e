"""Shared fixtures: fresh and legacy projects, and two ways to run the CLI.

``cli`` runs ``qms`` in-process (fast; same code path as the console script's ``main``);
``qms_proc`` runs the real installed console script in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the repository (absent in a plain clone); QMS_TEST_SHARED overrides it, so CI
# can point it at an empty folder and prove that the suite passes without it.
SHARED = Path(os.environ.get("QMS_TEST_SHARED") or REPO.parent / "shared")
LEGACY = SHARED / "fixtures" / "legacy-project"
QMS_BIN = Path(sys.executable).with_name("qms")


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:
        return json.loads(self.out)


PLACEHOLDER = re.compile(r"\{\{([^{}\n]*)\}\}")


def filled(text: str) -> str:
    """``text`` with the template's ``{{...}}`` placeholders filled, as an author does before
    routing (routing refuses a document that still holds them)."""
    return PLACEHOLDER.sub(lambda m: m.group(1).split(":")[0].strip() or "text", text)


def fill(root: Path, doc_id: str, user: str = "claude") -> None:
    """Fill the placeholders of ``doc_id``'s checked-out copy in ``user``'s workspace."""
    fill_path(root / ".claude" / "users" / user / "workspace" / f"{doc_id}.md")


def fill_path(path: Path) -> None:
    if path.is_file() and "-VR-" not in path.name:  # a VR's compiler fills its own
        path.write_text(filled(path.read_text(encoding="utf-8")), encoding="utf-8")


_NEW_COPY = re.compile(r"\.claude/users/[^/\s\"]+/workspace/[^/\s\"]+\.md")


def fill_created(root: Path, args: tuple, run: Run) -> Run:
    """After a successful ``create``, the test plays the author: it fills the new copy's
    placeholders (``cli`` and ``qms_proc`` do this; a test of the raw template reads the
    draft, which ``create`` wrote before)."""
    if run.code == 0 and "create" in args:
        for rel in _NEW_COPY.findall(run.out):
            fill_path(root / rel)
    return run


def vr_in_execution(root: Path) -> None:
    """CR-001 of the project at ``root`` IN_EXECUTION, with a new VR checked out to claude."""
    from qms import operations as ops
    from qms.store.project import Project

    p = Project.open(root)
    ops.create(p, "claude", doc_type="CR", title="Fix login")
    fill(root, "CR-001")
    ops.checkin(p, "claude", doc_id="CR-001")
    ops.route(p, "claude", doc_id="CR-001", route_type="review")
    ops.review(p, "qa", doc_id="CR-001", outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id="CR-001", route_type="approval")
    ops.approve(p, "qa", doc_id="CR-001")
    ops.release(p, "claude", doc_id="CR-001")
    ops.create(p, "claude", doc_type="VR", title="Login works", parent="CR-001")


def make_project(root: Path) -> Path:
    from qms.operations import init

    root.mkdir(parents=True, exist_ok=True)
    init(root, yes=True)
    return root


def copy_legacy(dest: Path) -> Path:
    if not LEGACY.is_dir():
        pytest.skip(f"legacy fixture not found at {LEGACY}")
    return copy_writable(LEGACY, dest)


def copy_writable(source: Path, dest: Path) -> Path:
    """Copy a tree (e.g. read-only fixture data) so that every file in it is writable."""
    shutil.copytree(source, dest)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | 0o200)
    dest.chmod(dest.stat().st_mode | 0o200)
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A freshly initialised project (returns its root)."""
    return make_project(tmp_path / "proj")


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A writable copy of the earlier tool's real project."""
    return copy_legacy(tmp_path / "legacy")


@pytest.fixture
def cli_raw(monkeypatch, capsys):
    """Run ``qms ARGS`` in-process inside ``root`` and touch nothing else (no author play)."""
    from qms.cli.main import main

    def run(root: Path, *args: str) -> Run:
        monkeypatch.chdir(root)
        monkeypatch.delenv("QMS_PROJECT_ROOT", raising=False)
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(cli_raw):
    """Run ``qms ARGS`` in-process inside ``root``: ``cli(root, "--user", "claude", ...)``;
    a new document's placeholders are filled as its author would (:func:`fill_created`)."""
    def run(root: Path, *args: str) -> Run:
        return fill_created(root, args, cli_raw(root, *args))

    return run


@pytest.fixture
def qms_proc():
    """Run the installed ``qms`` console script as a real process."""

    def run(root: Path, *args: str, input: str | None = None, timeout: float = 60) -> Run:
        env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
        proc = subprocess.run([str(QMS_BIN), *map(str, args)], cwd=root, input=input,
                              capture_output=True, text=True, timeout=timeout, env=env)
        return fill_created(Path(root), args, Run(proc.returncode, proc.stdout, proc.stderr))

    return run


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> sha256 of every file under root (to prove a refusal changed nothing)."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "lock":
            digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest
