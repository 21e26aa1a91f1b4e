"""SDLC namespaces: ``{NS}-RS`` / ``{NS}-RTM`` documents live in ``QMS/SDLC-{NS}/``."""

from __future__ import annotations

import json

from qms.errors import ProjectError
from qms.store.project import Project


def registry_path(project: Project):
    return project.qms / ".meta" / "sdlc_namespaces.json"


def load(project: Project) -> dict[str, dict]:
    path = registry_path(project)
    text = project.read_text(path)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        data = exc
    if not isinstance(data, dict):
        why = f"not valid JSON ({data})" if isinstance(data, ValueError) else \
            f"expected a JSON object, found {type(data).__name__}"
        raise ProjectError(f"The SDLC namespace registry {project.rel(path)} is damaged: {why}. "
                           "Restore it from version control, or repair it by hand.",
                           path=project.rel(path))
    return data


def known(project: Project, ns: str) -> bool:
    """Registered, or already in use by an existing project (``QMS/SDLC-{NS}/``)."""
    return ns in load(project) or (project.qms / f"SDLC-{ns}").is_dir()


def names(project: Project) -> list[str]:
    found = set(load(project))
    if project.qms.is_dir():
        found |= {p.name[5:] for p in project.qms.glob("SDLC-*") if p.is_dir()}
    return sorted(found)
