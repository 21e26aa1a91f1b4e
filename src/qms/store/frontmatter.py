"""Document frontmatter: documents keep only ``title`` and ``revision_summary``."""

from __future__ import annotations

from typing import Any

from qms.errors import ValidationError

KEPT_KEYS = ("title", "revision_summary")


def split(text: str) -> tuple[dict[str, Any], str]:
    """Return ``(frontmatter, body)``. A file without frontmatter has ``{}``.

    The frontmatter ends at the first line that is exactly ``---``; horizontal rules in
    the body are never mistaken for it.
    """
    if not text.startswith("---"):
        return {}, text
    first_nl = text.find("\n")
    if first_nl == -1 or text[:first_nl].strip() != "---":
        return {}, text
    pos = first_nl + 1
    while True:
        nl = text.find("\n", pos)
        line = text[pos: nl if nl != -1 else len(text)]
        if line.rstrip("\r") == "---":
            raw, body = text[first_nl + 1: pos], text[(nl + 1) if nl != -1 else len(text):]
            break
        if nl == -1:
            raise ValidationError("Malformed frontmatter: the opening '---' is never closed.")
        pos = nl + 1
    import yaml  # deferred: only documents with frontmatter need it

    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        raise ValidationError(f"Malformed frontmatter{where}: {getattr(exc, 'problem', exc)}.")
    if not isinstance(data, dict):
        raise ValidationError("Malformed frontmatter: expected 'key: value' lines.")
    return data, body


def dump(meta: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def minimal(text: str, default_title: str = "") -> str:
    """Rewrite a document so its frontmatter holds only the kept keys (title first)."""
    fm, body = split(text)
    kept = {"title": _text(fm.get("title", default_title))}
    kept["revision_summary"] = _text(fm.get("revision_summary", "Initial draft"))
    return dump(kept) + ("" if body.startswith("\n") else "\n") + body


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def title_of(text: str | None) -> str:
    if not text:
        return ""
    try:
        return _text(split(text)[0].get("title", ""))
    except ValidationError:
        return ""
