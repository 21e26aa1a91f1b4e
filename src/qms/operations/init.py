"""``qms init [--root DIR] [--yes]``: create a new QMS project with seed content."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Callable

from qms.domain.permissions import BUILTIN_ADMINS
from qms.errors import Conflict, ValidationError
from qms.operations._shared import Result
from qms.store import agents, audit, frontmatter, users
from qms.store import meta as meta_store
from qms.store.project import CONFIG_FILE, Project

SEED_USERS = (*BUILTIN_ADMINS, "qa", "tu")
WRITE_GUARD_MATCHER = "Edit|Write|MultiEdit|NotebookEdit"


class InitResult(Result):
    root: str
    created: list[str]
    git: bool  # the folder is inside a git repository

    def render(self) -> str:
        git = "" if self.git else (
            f"\nNot a git repository: run `git init` in {self.root} (git keeps the history that proves "
            "no whole-project rollback happened, and evidence commits need it).")
        return (f"Initialised QMS project in {self.root}\n"
                + "\n".join(f"  {c}" for c in self.created) + git
                + "\nNext: qms --user claude create CR --title \"...\"")


def _resource(*parts: str):
    return resources.files("qms").joinpath("resources", *parts)


def init(root: str | Path | None = None, *, yes: bool = False,
         confirm: Callable[[str], bool] | None = None) -> InitResult:
    base = Path(root or ".").expanduser().resolve()
    if base.exists() and not base.is_dir():
        raise ValidationError(f"--root {base} is not a directory.")
    if not base.is_dir():
        raise ValidationError(f"--root {base} does not exist; create it first "
                              f"(mkdir -p {base}).")
    for parent in base.parents:
        if (parent / CONFIG_FILE).is_file():
            raise Conflict(f"{base} is inside the QMS project at {parent}; refusing to nest.")
    clashes = [p for p in ("QMS", ".claude/users", ".claude/agents/qa.md", "CLAUDE.md",
                           CONFIG_FILE) if (base / p).exists()]
    if clashes:
        raise Conflict(f"Refusing to initialise {base}: already present: {', '.join(clashes)}. "
                       "Nothing was changed.")
    if not yes:
        question = f"Initialise a QMS project in {base}? [y/N] "
        if confirm is None or not confirm(question):
            raise ValidationError("Not initialised (answer 'y' or pass --yes). Nothing was changed.")
    project = Project(base)
    created: list[str] = []
    with project.transaction() as tx:
        tx.write_json(base / CONFIG_FILE, {"version": "1.0", "created": audit.now_ts(),
                                           "sdlc_namespaces": []})
        for folder in ("CR", "INV", "SOP", "TEMPLATE", ".archive"):
            tx.write_text(project.qms / folder / ".keep", "")
        for user in SEED_USERS:
            for sub in ("workspace", "inbox"):
                tx.write_text(project.user_dir(user) / sub / ".keep", "")
        for kind in ("templates", "sops"):
            for item in sorted(_resource(kind).iterdir(), key=lambda p: p.name):
                if item.name.endswith(".md"):
                    _seed_document(tx, project, item.name[:-3], item.read_text(encoding="utf-8"))
                    created.append(f"QMS/{'TEMPLATE' if kind == 'templates' else 'SOP'}/{item.name}")
        seeded: dict[str, str] = {}
        for item in sorted(_resource("agents").iterdir(), key=lambda p: p.name):
            text = item.read_text(encoding="utf-8")
            tx.write_text(project.agents_dir / item.name, text)
            seeded[item.name[:-3]] = str(agents.declared(text, "group"))
            created.append(f".claude/agents/{item.name}")
        tx.write_text(base / "CLAUDE.md", _resource("claude", "CLAUDE.md").read_text(encoding="utf-8"))
        tx.write_text(base / ".claude" / "settings.json", json.dumps(_settings(), indent=2) + "\n")
        tx.write_text(project.state_dir / ".gitignore", "*\n")
        created += ["CLAUDE.md", ".claude/settings.json (write-guard hook)", CONFIG_FILE]
        # the seed users (and any agent file with a group already here) are the signed
        # registry's first state; the agent files are its cache from now on
        groups, names = agents.from_files(project)
        audit.append_project(tx, project, "USER_ADOPT", "system", **users.adopt(
            tx, users.Registry({**groups, **seeded}, names), "qms init"))
        audit.append_project(tx, project, "INIT", "system", seeded=len(created))
    return InitResult(str(base), created,
                      any((folder / ".git").exists() for folder in (base, *base.parents)))


def _seed_document(tx, project: Project, doc_id: str, text: str) -> None:
    title = frontmatter.title_of(text) or doc_id
    doc_type = "TEMPLATE" if doc_id.startswith("TEMPLATE-") else "SOP"
    meta = meta_store.new(doc_id, doc_type, executable=False, user="system", today=audit.today(),
                          version="1.0", status="EFFECTIVE")
    meta.update(responsible_user=None, checked_out=False, checked_out_date=None,
                effective_version="1.0")
    tx.write_text(project.effective_path(doc_id), text)
    meta_store.save(tx, project, meta)
    audit.append(tx, project, doc_id, "CREATE", "system", "1.0", content=text, title=title,
                 comment="Seeded by qms init")
    audit.append(tx, project, doc_id, "STATUS_CHANGE", "system", "1.0",
                 from_status="DRAFT", to_status="EFFECTIVE")


def _settings() -> dict:
    hook = {"type": "command", "command": "qms hook write-guard"}
    return {"hooks": {"PreToolUse": [{"matcher": WRITE_GUARD_MATCHER, "hooks": [hook]}]}}
