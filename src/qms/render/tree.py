"""A document's Markdown as a tree of plain data for the Typst templates (``templates/``).

The text is parsed by the same markdown-it parser as the web pages (``render.markdown``:
CommonMark, tables, strikethrough, raw HTML as text, frontmatter and comments left out);
its tokens become lists and dicts of strings. The templates lay those out as text only, so
nothing a document says (``#``, ``[``, ``$``, ``<``, ``@``, a backslash, ...) is ever read
as Typst markup or code.

Blocks: ``{"k": "p" | "h" (with "l", the level) , "c": inlines}``, ``{"k": "code", "v":
lines}``, ``{"k": "quote", "c": blocks}``, ``{"k": "ul" | "ol", "tight", "start", "c":
[blocks per item]}``, ``{"k": "table", "align", "head": [inlines], "rows": [[inlines]]}``,
``{"k": "hr"}``. Inlines: text, ``{"k": "em" | "strong" | "del", "c"}``, ``{"k": "code",
"v"}``, ``{"k": "link", "c", "url"}`` (printed as text and address, never followed),
``{"k": "img", "alt", "url"}`` (its alt text; never fetched), ``{"k": "br"}``.
A text is a string, or a list of pieces of one when a run of it without spaces is long:
the template may break the line between pieces (:func:`breakable`).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LONG = re.compile(r"\S{25,}")
STEP = 16  # a long run may break after every this many characters
_MARKS = {"em_open": "em", "strong_open": "strong", "s_open": "del"}
_ALIGN = re.compile(r"text-align:(left|right|center)")


def breakable(text: str) -> str | list[str]:
    """``text``, or its pieces when a run without spaces is long enough to overflow a line
    or a table cell (a hash, a path, a very long word): joined again without anything in
    between, with a possible line break at each joint."""
    if len(text) < 25 or not LONG.search(text):
        return text
    pieces, start = [], 0
    for match in LONG.finditer(text):
        for cut in range(match.start() + STEP, match.end(), STEP):
            pieces.append(text[start:cut])
            start = cut
    pieces.append(text[start:])
    return pieces


def document(text: str) -> list[dict]:
    """A document file (frontmatter and all) as the block tree of its body."""
    from qms.render import markdown

    tokens = markdown.parser().parse(markdown.source(text))
    return _blocks(tokens, 0, len(tokens))[0]


def _blocks(tokens: list, i: int, end: int) -> tuple[list[dict], int]:
    """The blocks from ``tokens[i]`` up to the close at this level (or ``end``)."""
    out: list[dict] = []
    while i < end:
        t = tokens[i]
        kind = t.type
        if t.nesting == -1:
            return out, i + 1
        if kind in ("paragraph_open", "heading_open"):
            inline = tokens[i + 1]
            block = {"k": "p", "c": _inlines(inline.children or [])}
            if kind == "heading_open":
                block.update(k="h", l=int(t.tag[1:]))
            out.append(block)
            i += 3
        elif kind in ("fence", "code_block"):
            out.append({"k": "code", "v": [breakable(line) for line in
                                           t.content.rstrip("\n").split("\n")]})
            i += 1
        elif kind == "hr":
            out.append({"k": "hr"})
            i += 1
        elif kind == "blockquote_open":
            inner, i = _blocks(tokens, i + 1, end)
            out.append({"k": "quote", "c": inner})
        elif kind in ("bullet_list_open", "ordered_list_open"):
            block, i = _list(tokens, i, end)
            out.append(block)
        elif kind == "table_open":
            block, i = _table(tokens, i, end)
            out.append(block)
        else:  # anything else (html_block is off): its text, never markup
            if t.content:
                out.append({"k": "p", "c": [breakable(t.content)]})
            i += 1
    return out, i


def _list(tokens: list, i: int, end: int) -> tuple[dict, int]:
    opener = tokens[i]
    block: dict[str, Any] = {"k": "ul" if opener.type == "bullet_list_open" else "ol",
                             "tight": True, "c": []}
    if block["k"] == "ol":
        block["start"] = int(opener.attrs.get("start", 1) or 1)
    i += 1
    while i < end and tokens[i].type == "list_item_open":
        if any(t.type == "paragraph_open" and not t.hidden for t in
               tokens[i + 1:i + 2]):
            block["tight"] = False
        item, i = _blocks(tokens, i + 1, end)
        block["c"].append(item)
    return block, i + 1  # past the list's close


def _table(tokens: list, i: int, end: int) -> tuple[dict, int]:
    head: list = []
    rows: list[list] = []
    align: list[str] = []
    row: list | None = None
    while i < end and tokens[i].type != "table_close":
        t = tokens[i]
        if t.type == "tr_open":
            row = []
        elif t.type == "tr_close":
            (rows if head else head).append(row)
        elif t.type in ("th_open", "td_open"):
            if t.type == "th_open":
                found = _ALIGN.search(str(t.attrs.get("style") or ""))
                align.append(found.group(1) if found else "left")
            row.append(_inlines(tokens[i + 1].children or []))
            i += 2
        i += 1
    return {"k": "table", "align": align, "head": head[0] if head else [], "rows": rows}, i + 1


def _inlines(tokens: list) -> list:
    """Inline tokens as a list of texts and marks (nested by their open/close pairs)."""
    stack: list[list] = [[]]
    opened: list[dict] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            stack[-1].append(breakable("".join(text)))
            text.clear()

    for t in tokens:
        kind = t.type
        if kind == "text":
            text.append(t.content)
        elif kind == "softbreak":
            text.append(" ")
        elif kind in ("html_inline", "html_block"):
            text.append(t.content)
        else:
            flush()
            if kind == "hardbreak":
                stack[-1].append({"k": "br"})
            elif kind == "code_inline":
                stack[-1].append({"k": "code", "v": breakable(t.content)})
            elif kind == "image":
                stack[-1].append({"k": "img", "alt": breakable(t.content),
                                  "url": breakable(str(t.attrs.get("src") or ""))})
            elif kind in _MARKS or kind == "link_open":
                node: dict[str, Any] = {"k": _MARKS.get(kind, "link"), "c": []}
                if kind == "link_open":
                    node["url"] = breakable(str(t.attrs.get("href") or ""))
                stack[-1].append(node)
                stack.append(node["c"])
                opened.append(node)
            elif kind.endswith("_close") and opened:
                stack.pop()
                opened.pop()
    flush()
    return stack[0]
