"""Project settings in ``qms.config.json`` (``"settings": {"auth.cli": "required"}``).

Reading is one small JSON file and nothing else, so the CLI can check its auth setting on
every call without slowing down.
"""

from __future__ import annotations

import json

from qms.errors import ProjectError, ValidationError
from qms.store.project import CONFIG_FILE, Project

# setting -> (allowed values, default)
KNOWN = {"auth.cli": (("off", "required"), "off")}


def config_path(project: Project):
    return project.root / CONFIG_FILE


def load_config(project: Project, text: str | None = None) -> dict:
    """The whole ``qms.config.json`` (empty if absent)."""
    if text is None:
        text = project.read_text(config_path(project))  # no link, no FIFO (atomic)
        if text is None:
            return {}
    try:
        config = json.loads(text)
        if not isinstance(config, dict):
            raise ValueError
    except ValueError:
        raise ProjectError(f"{CONFIG_FILE} is damaged (not a JSON object); it was edited "
                           "outside qms.") from None
    return config


def get(project: Project, key: str) -> str:
    """The value of a known setting (its default when unset)."""
    values, default = known(key)
    settings = load_config(project).get("settings") or {}
    value = settings.get(key, default) if isinstance(settings, dict) else None
    if value not in values:
        raise ProjectError(f"{CONFIG_FILE}: setting {key!r} is {value!r}, not one of "
                           f"{', '.join(values)}; it was edited outside qms.")
    return value


def known(key: str) -> tuple[tuple[str, ...], str]:
    if key not in KNOWN:
        raise ValidationError(f"Unknown setting {key!r}; known: {', '.join(KNOWN)}.")
    return KNOWN[key]
