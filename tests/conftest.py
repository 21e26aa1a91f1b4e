"""Shared fixtures: fresh and legacy projects, and two ways to run the CLI.

``cli`` runs ``qms`` in-process (fast; same code path as the console script's ``main``);
``qms_proc`` runs the real installed console script in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
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
def cli(monkeypatch, capsys):
    """Run ``qms ARGS`` in-process inside ``root``: ``cli(root, "--user", "claude", ...)``."""
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
def qms_proc():
    """Run the installed ``qms`` console script as a real process."""

    def run(root: Path, *args: str, input: str | None = None, timeout: float = 60) -> Run:
        env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
        proc = subprocess.run([str(QMS_BIN), *map(str, args)], cwd=root, input=input,
                              capture_output=True, text=True, timeout=timeout, env=env)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> sha256 of every file under root (to prove a refusal changed nothing)."""
    digest = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "lock":
            digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest
