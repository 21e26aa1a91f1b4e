"""Project settings in ``qms.config.json`` (``"settings": {"auth.cli": "required"}``).

The file is a cache of the signed project trail: a setting is in force only as the last
``CONFIG_SET`` of ``QMS/.audit/project.jsonl`` left it (its default when there is none). A
file that disagrees was edited outside qms and is refused. A ``CONFIG_SET`` is believed at
face value only when it sets the fail-safe value (``auth.cli required``: a forged one can only
lock people out); any other value must be vouched for by the signed chain
(:mod:`qms.store.vouched`). Reading costs the config file and the project trail (read once
per change of the trail, shared with the user registry), both small; ``cryptography`` is
loaded only to check such a signature.
"""

from __future__ import annotations

import json
import re

from qms.errors import ProjectError, ValidationError
from qms.store.project import CONFIG_FILE, Project

_NAMES = re.compile(r"^([a-z0-9][a-z0-9_-]*)(,[a-z0-9][a-z0-9_-]*)*\Z")
_AAGUIDS = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12},?)+\Z")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\Z")
_ORIGIN = re.compile(r"^https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?\Z")

# setting -> (allowed values, or a check of a free value, and the default)
KNOWN = {"auth.cli": (("off", "required"), "off"),
         # users and groups who sign review/approve/reject/close only with a passkey
         "signatures.passkey": (lambda v: v == "" or bool(_NAMES.match(v)), ""),
         # authenticator models (AAGUIDs) allowed to enroll; empty: any
         "signatures.passkey_aaguids": (lambda v: v == "" or bool(_AAGUIDS.match(v)), ""),
         "signatures.rp_id": (lambda v: bool(_HOST.match(v)), "localhost"),
         # the dashboard's address in enrollment links and error messages; empty: the
         # running server's port on signatures.rp_id
         "signatures.origin": (lambda v: v == "" or bool(_ORIGIN.match(v)), "")}
FAIL_SAFE = {"auth.cli": "required"}  # what an unsigned claim may impose without harm


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
    """The value of a known setting: the file's, which must be what the signed trail says."""
    value = file_value(project, key)
    recorded = in_force(project, key)
    if value != recorded:
        raise ProjectError(
            f"{CONFIG_FILE}: setting {key!r} is {value!r} but the last signed CONFIG_SET "
            f"says {recorded!r}: the file was edited outside qms. Nothing was changed. Run "
            "'qms verify' to see it, and restore the file from version control (or set "
            f"{key} to {recorded!r} in it).", key=key)
    return value


def file_value(project: Project, key: str) -> str:
    """What ``qms.config.json`` says (the default when unset)."""
    values, default = known(key)
    settings = load_config(project).get("settings") or {}
    value = settings.get(key, default) if isinstance(settings, dict) else None
    if not valid(key, value):
        raise ProjectError(f"{CONFIG_FILE}: setting {key!r} is {value!r}, not {describe(key)}; "
                           "it was edited outside qms.")
    return value


def valid(key: str, value: object) -> bool:
    values, _ = known(key)
    if callable(values):
        return isinstance(value, str) and values(value)
    return value in values


def describe(key: str) -> str:
    """What a setting accepts, for error messages."""
    values, _ = known(key)
    if not callable(values):
        return f"one of {', '.join(values)}"
    return {"signatures.passkey": "a comma-separated list of users or groups (or empty)",
            "signatures.passkey_aaguids": "a comma-separated list of AAGUIDs (or empty)",
            "signatures.rp_id": "a host name such as localhost",
            "signatures.origin": "an origin such as http://localhost:8000 (or empty)"}[key]


def in_force(project: Project, key: str) -> str:
    """The value the last CONFIG_SET of ``key`` left (the default when none did)."""
    from qms.store import vouched

    _, default = known(key)
    last = [(line, e) for line, e in vouched.events(project, "CONFIG_SET")
            if e.get("key") == key]
    if not last:
        return default
    line, event = last[-1]
    value = event.get("value")
    if value != FAIL_SAFE.get(key) and not vouched.signed(project, line, event):
        raise ProjectError(
            f"The last CONFIG_SET of {key!r} (seq {event.get('seq')}, "
            "QMS/.audit/project.jsonl) is not vouched for by the signed audit chain: it was "
            "written outside qms. Nothing was changed. Run 'qms verify' to see it.", key=key)
    return value


def known(key: str) -> tuple[tuple[str, ...], str]:
    if key not in KNOWN:
        raise ValidationError(f"Unknown setting {key!r}; known: {', '.join(KNOWN)}.")
    return KNOWN[key]
