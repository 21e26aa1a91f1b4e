"""Code areas: ``qms code checkout CR-NNN`` / ``code status`` / ``code remove CR-NNN``.

A code area is a clone of ``cr/CR-NNN`` in ``.qms-work/<user>/CR-NNN/`` (git-ignored,
outside ``QMS/``), given only to the CR's responsible user while the CR is IN_EXECUTION. Its
sparse checkout leaves out ``QMS/``, ``.qms/``, ``.claude/`` and ``qms.config.json``, so it
never looks like a second project: qms commands run inside it find the authority's project
above it. Its configuration names the user (``qms.user``, git's identity, the push option
``qms-user=`` that the gate reads), and its hooks add the ``QMS-CR`` trailer
(``commit-msg``) and warn about paths outside the scope (``pre-commit``; the gate decides).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from qms.errors import Conflict, InvalidTransition, NotFound, ValidationError
from qms.operations._shared import Result, authorize, load, require_owner
from qms.operations.code import branch as branches
from qms.store import audit, users
from qms.store.project import Project
from qms.store.git import Repo, clone

AREAS = ".qms-work"
LEFT_OUT = ("/QMS/", "/.qms/", "/.claude/", "/qms.config.json")
SCOPE_FILE = "qms-scope.json"


class AreaResult(Result):
    doc_id: str
    path: str
    branch: str
    message: str


class AreaList(Result):
    areas: list[dict]

    def render(self) -> str:
        rows = [f"{a['doc_id']:<10} {a['branch']:<14} {a['head'][:12]:<12} "
                f"{'changes' if a['dirty'] else 'clean':<8} {a['path']}" for a in self.areas]
        return "\n".join(rows) or "No code areas."


def area_path(project: Project, user: str, doc_id: str) -> Path:
    return project.root / AREAS / users.validate_name(user) / doc_id


def code_checkout(project: Project, user: str, *, doc_id: str) -> AreaResult:
    from qms.operations.code.systems import governed
    from qms.store.git import repository

    authorize(project, user, "code_checkout")
    doc_id, meta = load(project, doc_id)
    require_owner("code checkout", user, meta)
    if meta["status"] != "IN_EXECUTION":
        raise InvalidTransition(f"{doc_id} is {meta['status']}: a code area is given only while "
                                "its CR is IN_EXECUTION (after release).", doc_id=doc_id)
    events = audit.read(project, doc_id)
    opened, _ = branches.record(events)
    if opened is None:
        raise NotFound(f"{doc_id} has no execution branch: its pre-approved text has no "
                       "qms-scope block (docs/code-control.md).", doc_id=doc_id)
    repo, prefix = repository(project)
    scope = branches.in_force(project, doc_id, governed(project), events=events, prefix=prefix)
    branches.ensure(repo, doc_id, opened)
    path = area_path(project, user, doc_id)
    name = str(opened.get("branch"))
    _safe_parent(project, path)
    if (path / ".git").is_dir():
        _write_scope(path, scope)
        return AreaResult(doc_id, str(path), name, f"Code area of {doc_id} already at {path} "
                          f"(branch {name}); git pull to update it.")
    if path.exists():
        raise Conflict(f"{path} exists but is not a code area; move it away.", path=str(path))
    _clone(repo, path, name)
    area = Repo(path / ".git", path)
    for key, value in (("user.name", users.display_name(project, user)),
                       ("user.email", f"{user}@qms.invalid"), ("qms.user", user),
                       ("qms.cr", doc_id), ("push.pushOption", f"qms-user={user}"),
                       ("remote.origin.push", f"refs/heads/{name}:refs/heads/{name}")):
        area.config(key, value)
    _hooks(path, doc_id)
    _write_scope(path, scope)
    return AreaResult(doc_id, str(path), name,
                      f"Code area of {doc_id} at {path} (branch {name}). Commit there (the "
                      f"trailer QMS-CR: {doc_id} is added) and git push; the gate checks "
                      "every path against the approved scope.")


def _safe_parent(project: Project, path: Path) -> None:
    """The areas folder and the user's folder are real folders (not links planted to make a
    clone or a removal land elsewhere); the areas folder ignores itself in git."""
    from qms.store import atomic

    atomic.check_dir(project.root, path.parent)
    top = project.root / AREAS
    top.mkdir(exist_ok=True)
    if not (top / ".gitignore").exists():
        atomic.write_bytes(top / ".gitignore", b"*\n", project.root)
    path.parent.mkdir(exist_ok=True)
    atomic.check_dir(project.root, path.parent)


def _clone(repo: Repo, path: Path, name: str) -> None:
    try:
        area = clone(repo.git_dir, path, name)
        area.git("sparse-checkout", "set", "--no-cone", "/*", *(f"!{p}" for p in LEFT_OUT))
        area.git("checkout", "--quiet", name)
    except Exception:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _hooks(path: Path, doc_id: str) -> None:
    hooks = path / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    trailer = shlex.quote(f"QMS-CR: {doc_id}")
    files = {
        "commit-msg": "#!/bin/sh\n# qms: every commit names its CR\n"
                      "[ -n \"$(tail -c1 \"$1\")\" ] && echo >> \"$1\"  # git merge: no final newline\n"
                      f"exec git interpret-trailers --in-place --if-exists doNothing "
                      f"--trailer {trailer} \"$1\"\n",
        "pre-commit": "#!/bin/sh\n# qms: warn about paths outside the scope (the push gate "
                      f"decides)\nexec {shlex.quote(sys.executable)} -I -m qms.cli.main hook "
                      "pre-commit\n",
    }
    for name, text in files.items():
        target = hooks / name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o755)


def _write_scope(path: Path, scope) -> None:
    data = {"scopes": [s.to_dict() for s in scope.scopes], "prefixes": scope.prefixes,
            "project_prefix": scope.project_prefix}
    (path / ".git" / SCOPE_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def code_status(project: Project, user: str) -> AreaList:
    authorize(project, user, "code_status")
    folder = project.root / AREAS / users.validate_name(user)
    areas = []
    if folder.is_dir() and not folder.is_symlink():
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not (path / ".git").is_dir():
                continue
            area = Repo(path / ".git", path)
            head = area.git("rev-parse", "HEAD", check=False).decode().strip()
            branch = area.git("rev-parse", "--abbrev-ref", "HEAD", check=False).decode().strip()
            dirty = bool(area.git("status", "--porcelain", check=False).strip())
            areas.append({"doc_id": path.name, "path": str(path), "branch": branch,
                          "head": head, "dirty": dirty})
    return AreaList(areas)


def code_remove(project: Project, user: str, *, doc_id: str, force: bool = False) -> AreaResult:
    authorize(project, user, "code_remove")
    from qms.domain import doctypes

    doc_id = doctypes.normalize_id(doc_id)
    path = area_path(project, user, doc_id)
    from qms.store import atomic

    atomic.check_dir(project.root, path.parent)
    if path.is_symlink() or not (path / ".git").is_dir():
        raise NotFound(f"{user} has no code area for {doc_id} ({path}).", doc_id=doc_id)
    area = Repo(path / ".git", path)
    if not force:
        if area.git("status", "--porcelain", check=False).strip():
            raise ValidationError(f"The code area of {doc_id} has uncommitted changes; commit "
                                  "and push them, or pass --force to drop them.")
        ahead = area.git("rev-list", "HEAD", "--not", "--remotes", check=False).strip()
        if ahead:
            raise ValidationError(f"The code area of {doc_id} has commits not pushed; git push, "
                                  "or pass --force to drop them.")
    shutil.rmtree(path)
    return AreaResult(doc_id, str(path), "", f"Removed the code area of {doc_id} ({path}).")
