"""Turning a controlled template into a new document (pure).

A template file holds: its own frontmatter -> a ``TEMPLATE DOCUMENT NOTICE`` comment ->
the example frontmatter for new documents -> optional usage guide comment -> body.
"""

from __future__ import annotations

import re

_NOTICE_RE = re.compile(r"<!--(?:(?!-->).)*?TEMPLATE DOCUMENT NOTICE.*?-->\s*", re.S)
_FM_BLOCK_RE = re.compile(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", re.S)


def _strip_frontmatter(text: str) -> str:
    m = _FM_BLOCK_RE.match(text)
    return text[m.end():] if m else text


def body_of(template_text: str) -> str | None:
    """The body a new document starts from, or None if the template is not usable."""
    rest = _strip_frontmatter(template_text.lstrip("\ufeff"))
    rest = _NOTICE_RE.sub("", rest, count=1).lstrip()
    m = _FM_BLOCK_RE.match(rest)
    if not m:
        return None
    body = rest[m.end():]
    return body if body.strip() else None


def instantiate(template_text: str | None, doc_id: str, type_name: str, title: str) -> str:
    """Body for a new document (without frontmatter); falls back to a minimal skeleton."""
    body = body_of(template_text) if template_text else None
    if body is None:
        return fallback(doc_id, title)
    body = body.replace("{{TITLE}}", title)
    return body.replace(f"{type_name}-XXX", doc_id)


def fallback(doc_id: str, title: str) -> str:
    return (f"\n# {doc_id}: {title}\n\n## 1. Purpose\n\n## 2. Scope\n\n## 3. Content\n\n"
            "---\n\n**END OF DOCUMENT**\n")


_PLACEHOLDER_RE = re.compile(r"\{\{[^{}\n]*\}\}")
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")


def placeholders(text: str) -> list[tuple[int, str]]:
    """The template's unfilled ``{{...}}`` placeholders as (line number, placeholder).

    Text that shows such a placeholder rather than leaving one unfilled does not count:
    HTML comments (the templates' guidance), fenced code blocks and inline code.
    """
    text = _COMMENT_RE.sub(lambda m: "\n" * m.group().count("\n"), text)
    found, fence = [], None
    for number, line in enumerate(text.split("\n"), 1):
        match = _FENCE_RE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        line = _CODE_SPAN_RE.sub("", line)
        found += [(number, m.group()) for m in _PLACEHOLDER_RE.finditer(line)]
    return found
