"""The source model of an interactive document (the ``.interact`` / ``.source.json`` JSON).

Only source data lives here: which template, where the cursor is, the metadata, the
append-only response entries, loops and gates. Workflow fields (status, owner, ...) belong
to ``.meta`` and are dropped when a legacy source that leaked them is loaded.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from qms.errors import ValidationError


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
"""A ``{{name}}`` placeholder (names may carry an iteration: ``step_actual.2``)."""

_FIELDS = ("doc_id", "template", "template_version", "cursor", "cursor_context",
           "metadata", "responses", "loops", "gates")


def timestamp(moment: datetime) -> str:
    """The source's timestamp form: UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_key(prompt_id: str, iteration: int | None) -> str:
    """Response/gate key: ``id`` outside loops, ``id.N`` in iteration N."""
    return prompt_id if iteration is None else f"{prompt_id}.{iteration}"


def split_key(key: str) -> tuple[str, int | None]:
    base, _, n = key.partition(".")
    return (base, int(n)) if n.isdigit() else (key, None)


@dataclass
class Source:
    doc_id: str
    template: str
    template_version: int | str
    cursor: str
    cursor_context: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {name: copy.deepcopy(getattr(self, name)) for name in _FIELDS}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def copy(self) -> Source:
        return Source(**self.to_dict())

    def entries(self, key: str) -> list[dict[str, Any]]:
        return self.responses.get(key, [])

    def active(self, key: str) -> str | None:
        """The value of the latest entry for ``key`` (None if unanswered)."""
        entries = self.responses.get(key)
        return entries[-1]["value"] if entries else None

    def auto_metadata(self) -> dict[str, str]:
        """``date``/``performed_date`` (earliest/latest answer) and ``performer``
        (most frequent author, earliest first on ties), unless already in metadata."""
        all_entries = [e for entries in self.responses.values() for e in entries]
        if not all_entries:
            return {}
        stamps = sorted(e["timestamp"] for e in all_entries)
        by_time = sorted(all_entries, key=lambda e: e["timestamp"])
        counts = Counter(e["author"] for e in by_time)
        derived = {"date": stamps[0][:10], "performer": counts.most_common(1)[0][0],
                   "performed_date": stamps[-1][:10]}
        return {k: v for k, v in derived.items() if k not in self.metadata}

    def lookup(self, name: str, iteration: int | None) -> str | None:
        """Value of ``{{name}}``: ``_n``, metadata, answer, or answer of this iteration."""
        if name == "_n":
            return None if iteration is None else str(iteration)
        if name in self.metadata:
            return str(self.metadata[name])
        value = self.active(name)
        if value is None and iteration is not None:
            value = self.active(entry_key(name, iteration))
        return value


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ValidationError(f"interactive source is malformed: {what}")


def source_from_dict(data: Any) -> Source:
    """Validate and load a source; unknown top-level keys (leaked meta fields) are dropped."""
    _require(isinstance(data, dict), "not a JSON object")
    for name in ("doc_id", "template", "cursor"):
        _require(isinstance(data.get(name), str) and data[name] != "", f"'{name}' missing")
    for name in ("cursor_context", "metadata", "responses", "loops", "gates"):
        _require(isinstance(data.get(name, {}), dict), f"'{name}' is not an object")
    for key, entries in data.get("responses", {}).items():
        _require(isinstance(entries, list) and entries, f"responses '{key}' is not a list")
        for entry in entries:
            _require(isinstance(entry, dict) and all(
                isinstance(entry.get(k), str) for k in ("value", "author", "timestamp")),
                f"an entry of '{key}' lacks value/author/timestamp")
    values = {name: copy.deepcopy(data[name]) for name in _FIELDS if name in data}
    values.setdefault("template_version", "")
    return Source(**values)


def load_source(text: str) -> Source:
    """Parse ``.interact`` / ``.source.json`` text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"interactive source is not valid JSON: {exc}") from None
    return source_from_dict(data)
