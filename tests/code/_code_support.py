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


EXECUTION = """## 3. Execution

| EI | Task Description | Execution Summary | Task Outcome | Performed By - Date |
|----|------------------|-------------------|--------------|---------------------|
| EI-1 | Change the login and its tests | [SUMMARY] | [Pass/Fail] | [PERFORMER] - [DATE] |
| EI-2 | Qualify and merge | [SUMMARY] | [Pass/Fail] | [PERFORMER] - [DATE] |
"""


def cr_text(title: str, block: str = SCOPE) -> str:
    return (f"---\ntitle: {title}\nrevision_summary: Initial draft\n---\n\n# {title}\n\n"
            f"## 1. Purpose\n\nChange the login.\n\n## 2. Scope\n\n{block}\n\n{EXECUTION}")


def executed(root: Path, doc_id: str, rows: tuple[str, ...] = (
        "| Done in the branch | Pass | claude - 2026-12-01 |",
        "| Merged as APP-1.0 | Pass | claude - 2026-12-01 |"), edit=None) -> None:
    """Fill the CR's execution rows (checked out, edited, checked in), as its executor does."""
    p = Project.open(root)
    ops.checkout(p, "claude", doc_id=doc_id)
    ws = root / ".claude" / "users" / "claude" / "workspace" / f"{doc_id}.md"
    text = ws.read_text()
    for n, cells in enumerate(rows, 1):
        start = text.index(f"| EI-{n} |")
        end = text.index("\n", start)
        row = text[start:end].split(" | ")
        text = text[:start] + " | ".join(row[:2]) + " " + cells + text[end:]
    ws.write_text(edit(text) if edit else text)
    ops.checkin(p, "claude", doc_id=doc_id)


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


RS_TEXT = """---
title: APP requirements
revision_summary: Initial draft
---

# SDLC-APP-RS: APP requirements

| REQ ID | Requirement |
|--------|-------------|
| REQ-APP-001 | **Login.** A user signs in with a password. |
| REQ-APP-002 | **Lockout.** Five failed sign-ins lock the account. |
"""


def approve_doc(root: Path, doc_id: str, owner: str = "claude") -> None:
    """A review round and an approval round by qa."""
    p = Project.open(root)
    ops.route(p, owner, doc_id=doc_id, route_type="review")
    ops.review(p, "qa", doc_id=doc_id, outcome="recommend", comment="ok")
    ops.route(p, owner, doc_id=doc_id, route_type="approval")
    ops.approve(p, "qa", doc_id=doc_id)


def effective_rs(root: Path, text: str = RS_TEXT, ns: str = "APP") -> None:
    """SDLC-{ns}-RS EFFECTIVE (a new version when it already exists)."""
    p = Project.open(root)
    text = text.replace("APP", ns)
    if (root / "QMS" / ".meta" / f"{ns}-RS" / f"SDLC-{ns}-RS.json").exists():
        ops.checkout(p, "claude", doc_id=f"SDLC-{ns}-RS")
    else:
        ops.create(p, "claude", doc_type=f"{ns}-RS", title=f"{ns} requirements")
    ops.checkin(p, "claude", doc_id=f"SDLC-{ns}-RS", content=text)
    approve_doc(root, f"SDLC-{ns}-RS")


def junit(commit: str | None = None, dirty: bool | None = None,
          outcomes: dict[str, str] | None = None, ns: str = "APP") -> str:
    """A JUnit report: one passing test per requirement (``outcomes``: REQ -> failure/skipped),
    with the run properties the pytest plugin writes."""
    props = ""
    if commit is not None or dirty is not None:
        props = "<properties>" + (f'<property name="qms.commit" value="{commit}"/>'
                                  if commit else "") + \
            (f'<property name="qms.dirty" value="{str(dirty).lower()}"/>'
             if dirty is not None else "") + "</properties>"
    outcomes = {f"REQ-{ns}-001": "", f"REQ-{ns}-002": "", **(outcomes or {})}
    cases = "".join(
        f'<testcase classname="t" name="test_{r[-3:]}"><properties><property name="req" '
        f'value="{r}"/></properties>{f"<{o}/>" if o else ""}</testcase>'
        for r, o in outcomes.items())
    return f'<testsuites><testsuite name="s">{props}{cases}</testsuite></testsuites>\n'


def evidence_file(root: Path, text: str, name: str = "junit.xml") -> Path:
    """A JUnit file in claude's own folder (qms's data: never a change of the code)."""
    path = root / ".claude" / "users" / "claude" / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def qualify_at(root: Path, commit: str, approve: bool = True, ns: str = "APP",
               **outcomes: str):
    """SDLC-{ns}-RTM qualified from a run at ``commit`` (and EFFECTIVE when ``approve``)."""
    path = evidence_file(root, junit(commit, False, {k.replace("_", "-"): v
                                                    for k, v in outcomes.items()}, ns))
    result = ops.qualify(Project.open(root), "claude", namespace=ns, junit=[str(path)])
    if approve:
        approve_doc(root, f"SDLC-{ns}-RTM")
    return result


def ready(root: Path, change: str = "src/app/auth/login.py", **outcomes: str
          ) -> tuple[str, Path, str]:
    """A CR whose branch may land: SDLC-APP-RS in force, one push changing ``change``, the
    RTM qualified at that head and EFFECTIVE. Returns (CR, its code area, head)."""
    effective_rs(root)
    doc_id = scoped_cr(root)
    a = area(root, doc_id)
    write(a, change, "v2\n")
    sha = commit(a, "login v2")
    result = push(a)
    assert result.returncode == 0, result.stderr.decode()
    qualify_at(root, sha, **outcomes)
    return doc_id, a, sha


def qms(root: Path, *args: str, user: str | None = "qa", cwd: Path | None = None
        ) -> tuple[int, dict]:
    """The real CLI with --json: (exit status, the JSON printed)."""
    cmd = [str(QMS_BIN), "--json", *(["--user", user] if user else []), *args]
    proc = subprocess.run(cmd, cwd=cwd or root, env=env(), capture_output=True, text=True,
                          timeout=120)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(proc.stdout + proc.stderr) from None


def data_commit(root: Path, message: str = "qms data") -> str:
    """Commit qms's own data in the project's checkout (what a team does to keep it in git)."""
    git(root, "add", "-A", "--", "QMS", ".claude", "qms.config.json")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return rev(root, "HEAD")
