"""A document's Markdown as HTML for the web pages; the one parser of the web pages and the
PDF export (which lays out the same token tree with Typst: ``qms.render.tree``).

CommonMark with tables and strikethrough (markdown-it-py); raw HTML is never passed through
(it shows as text, unsafe links stay plain text), so the result is safe to insert
unescaped. HTML comments (authoring notes of the templates) are left out, as any Markdown
renderer does, and so is the frontmatter.
"""

from __future__ import annotations

import re

from qms.errors import QMSError
from qms.store import frontmatter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COMMENT = re.compile(r"<!--.*?-->", re.S)
_PARSER: list[Any] = []


def parser() -> Any:
    """The markdown-it parser (built once per process, on first use)."""
    if not _PARSER:
        from markdown_it import MarkdownIt

        _PARSER.append(MarkdownIt("commonmark", {"html": False})
                       .enable(["table", "strikethrough"]))
    return _PARSER[0]


def source(text: str) -> str:
    """The Markdown of a document file that is shown: frontmatter and HTML comments left
    out."""
    try:
        text = frontmatter.split(text)[1]
    except QMSError:
        pass  # malformed frontmatter: show the file as it is
    return COMMENT.sub("", text)


def body(text: str) -> str:
    """A document file (frontmatter and all) as HTML of its body."""
    return parser().render(source(text))


def inline(text: str | None) -> str:
    """One line of Markdown (a comment, a title) as inline HTML."""
    return parser().renderInline(text or "")
