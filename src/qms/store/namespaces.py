"""SDLC namespaces: ``{NS}-RS`` / ``{NS}-RTM`` documents live in ``QMS/SDLC-{NS}/``."""

from __future__ import annotations

import json

from qms.store.project import Project


def registry_path(project: Project):
    return project.qms / ".meta" / "sdlc_namespaces.json"


def load(project: Project) -> dict[str, dict]:
    text = project.read_text(registry_path(project))
    data = json.loads(text) if text else {}
    return data if isinstance(data, dict) else {}


def known(project: Project, ns: str) -> bool:
    """Registered, or already in use by an existing project (``QMS/SDLC-{NS}/``)."""
    return ns in load(project) or (project.qms / f"SDLC-{ns}").is_dir()


def names(project: Project) -> list[str]:
    found = set(load(project))
    if project.qms.is_dir():
        found |= {p.name[5:] for p in project.qms.glob("SDLC-*") if p.is_dir()}
    return sorted(found)
