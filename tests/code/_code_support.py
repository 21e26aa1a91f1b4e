"""A governed project in a real git repository, a scoped CR in execution, and git helpers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from _web_support import _load

from qms import operations as ops
from qms.store.project import Project


ROOT = _load("_qms_tests_root_conftest", Path(__file__).parents[1] / "conftest.py")
QMS_BIN = ROOT.QMS_BIN

SCOPE = """```qms-scope
system: APP
paths: [src/app/auth/**, tests/test_auth*.py]
exclude: [src/app/auth/keys.py]
expect: [src/app/auth/login.py]
requirements: revise
exploratory: false
```"""

GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1"}


def env(**extra: str) -> dict[str, str]:
    """The test's environment for git, without qms identity variables unless given."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("QMS_USER", "QMS_TOKEN", "QMS_TOKEN_FILE", "QMS_PROJECT_ROOT",
                         "REMOTE_USER", "QMS_PUSH_TICKET")}
    return {**base, **GIT_ENV, **extra}


def git(cwd: Path, *args: str, check: bool = True, extra_env: dict | None = None,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input,
                          env=env(**(extra_env or {})), timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc


def rev(cwd: Path, ref: str) -> str | None:
    proc = git(cwd, "rev-parse", "--verify", "-q", ref, check=False)
    return proc.stdout.decode().strip() or None


def write(root: Path, rel: str | bytes, text: str = "x\n") -> None:
    path = Path(os.fsdecode(rel)) if isinstance(rel, bytes) else Path(rel)
    full = root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)


def commit(area: Path, message: str = "change", *paths: str, no_verify: bool = False) -> str:
    git(area, "add", "-A", "--", *paths) if paths else git(area, "add", "-A")
    git(area, "commit", "-q", *(["--no-verify"] if no_verify else []), "-m", message)
    return rev(area, "HEAD")


def push(area: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return git(area, "push", *args, check=False, extra_env=extra_env)


def repository_project(base: Path) -> Path:
    """A qms project at the top of a git repository (one commit on main), no system yet."""
    root = base / "proj"
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    ROOT.make_project(root)
    for rel in ("src/app/auth/login.py", "src/app/auth/keys.py", "src/app/other.py",
                "tests/test_auth.py", "docker/Dockerfile", "README.md"):
        write(root, rel)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def governed_project(base: Path) -> Path:
    """A qms project at the top of a git repository with system APP (src/app, tests)."""
    root = repository_project(base)
    p = Project.open(root)
    ops.user_add(p, "lead", name="ini", group="initiator")
    ops.system_add(p, "lead", name="APP", paths=["src/app", "tests"])
    return root


def cr_text(title: str, block: str = SCOPE) -> str:
    return (f"---\ntitle: {title}\nrevision_summary: Initial draft\n---\n\n# {title}\n\n"
            f"## 1. Purpose\n\nChange the login.\n\n## 2. Scope\n\n{block}\n")


def scoped_cr(root: Path, user: str = "claude", block: str = SCOPE, release: bool = True,
              title: str = "Fix login") -> str:
    """A CR with ``block`` taken through pre-approval (and released)."""
    p = Project.open(root)
    doc_id = ops.create(p, user, doc_type="CR", title=title).doc_id
    ops.checkin(p, user, doc_id=doc_id, content=cr_text(title, block))
    ops.route(p, user, doc_id=doc_id, route_type="review")
    ops.review(p, "qa", doc_id=doc_id, outcome="recommend", comment="ok")
    ops.route(p, user, doc_id=doc_id, route_type="approval")
    ops.approve(p, "qa", doc_id=doc_id)
    if release:
        ops.release(p, user, doc_id=doc_id)
    return doc_id


def area(root: Path, doc_id: str, user: str = "claude") -> Path:
    return Path(ops.code_checkout(Project.open(root), user, doc_id=doc_id).path)


def events(root: Path, doc_id: str, kind: str) -> list[dict]:
    path = root / "QMS" / ".audit" / "CR" / f"{doc_id}.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [e for e in lines if e.get("event") == kind]


def verify_clean(root: Path) -> None:
    result = ops.verify(Project.open(root), "qa")
    assert result.clean, result.findings
