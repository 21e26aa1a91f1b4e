"""Document frontmatter: documents keep only ``title`` and ``revision_summary``."""

from __future__ import annotations

import re

from qms.errors import ValidationError

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

KEPT_KEYS = ("title", "revision_summary")


def split(text: str) -> tuple[dict[str, Any], str]:
    """Return ``(frontmatter, body)``. A file without frontmatter has ``{}``.

    The frontmatter ends at the first line that is exactly ``---``; horizontal rules in
    the body are never mistaken for it.
    """
    parts = _parts(text)
    if parts is None:
        return {}, text
    raw, rest = parts
    import yaml  # deferred: only documents with frontmatter need it

    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        raise ValidationError(f"Malformed frontmatter{where}: {getattr(exc, 'problem', exc)}.")
    if not isinstance(data, dict):
        raise ValidationError("Malformed frontmatter: expected 'key: value' lines.")
    return data, rest


def body(text: str) -> str:
    """The text after the frontmatter (as :func:`split`, without parsing the YAML)."""
    parts = _parts(text)
    return text if parts is None else parts[1]


def _parts(text: str) -> tuple[str, str] | None:
    """``(raw frontmatter, body)``, or None without frontmatter."""
    if not text.startswith("---"):
        return None
    first_nl = text.find("\n")
    if first_nl == -1 or text[:first_nl].strip() != "---":
        return None
    pos = first_nl + 1
    while True:
        nl = text.find("\n", pos)
        line = text[pos: nl if nl != -1 else len(text)]
        if line.rstrip("\r") == "---":
            return text[first_nl + 1: pos], text[(nl + 1) if nl != -1 else len(text):]
        if nl == -1:
            raise ValidationError("Malformed frontmatter: the opening '---' is never closed.")
        pos = nl + 1


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


_YAML_SPECIAL = tuple("'\"|>&*!%@`{[#?-:,]}")


def title_of(text: str | None) -> str:
    if not text:
        return ""
    try:
        return _text(field(text, "title"))
    except ValidationError:
        return ""


def field(text: str, key: str) -> Any:
    """One frontmatter value. Simple one-line scalars are read without loading a YAML
    parser (this keeps ``qms status`` fast); anything else goes through YAML."""
    fast = _fast_scalar(text, key)
    return fast if fast is not None else split(text)[0].get(key)


def _fast_scalar(text: str, key: str) -> str | None:
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 3)
    if end == -1:
        return None
    block = text[4:end + 1]
    m = re.search(rf"^{key}:[ \t]*(.*?)[ \t]*$", block, re.M)
    if not m:
        return None
    value, after = m.group(1), block[m.end() + 1:]
    if after[:1] in (" ", "\t"):  # folded continuation line
        return None
    if len(value) >= 2 and value[0] == value[-1] == "'" and "'" not in value[1:-1].replace("''", ""):
        return value[1:-1].replace("''", "'")
    if not value or value.startswith(_YAML_SPECIAL) or ": " in value or " #" in value \
            or value.endswith(":") or value in ("~", "null", "Null", "NULL"):
        return None
    return value
