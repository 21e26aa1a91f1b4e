"""Parser for interactive templates (tag grammar: docs/interact.md).

Tags live in HTML comments whose first non-blank line starts with ``@``:
``@template``, ``@prompt``, ``@gate``, ``@loop``, ``@end-loop``, ``@end-prompt``, ``@end``.
The parser returns a :class:`Template`: the flow graph (nodes, loops) and the document body
with tag comments and guidance removed, ready for the compiler. Malformed templates raise
:class:`qms.errors.ValidationError` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from qms.errors import ValidationError

END = "__end__"
"""Cursor value once the flow has reached its terminal state."""

_TAG_RE = re.compile(r"^@([A-Za-z][\w-]*)(?=$|[\s:|])\s*:?\s*(.*)$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_STRUCTURAL_RE = re.compile(r"^\s*(#{1,6}\s|#{1,6}$|\||-{3,}\s*$|\*{3,}\s*$|`{3,}|~{3,})")

_ALLOWED = {
    "template": {"version", "start"},
    "prompt": {"next", "commit", "default"},
    "gate": {"type", "yes", "no"},
    "loop": set(),
    "end-loop": set(),
    "end-prompt": set(),
    "end": set(),
}
_NEEDS_NAME = {"template", "prompt", "gate", "loop", "end-loop"}


@dataclass(frozen=True)
class Node:
    """A prompt (answer stored under its id) or a yes/no gate (routes only)."""

    id: str
    kind: str  # "prompt" | "gate"
    line: int
    next: str | None = None
    yes: str | None = None
    no: str | None = None
    commit: bool = False
    default: str | None = None
    loop: str | None = None
    guidance: str = ""

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.next,) if self.kind == "prompt" else (self.yes, self.no)


@dataclass(frozen=True)
class Loop:
    name: str
    line: int
    nodes: tuple[str, ...]

    @property
    def entry(self) -> str:
        return self.nodes[0]


@dataclass(frozen=True)
class Line:
    """A document line of the template body (1-based template line number)."""

    no: int
    text: str


@dataclass(frozen=True)
class LoopBody:
    """Document lines between ``@loop`` and ``@end-loop``, repeated per iteration."""

    name: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Template:
    name: str
    version: int | str
    start: str
    nodes: dict[str, Node]
    loops: dict[str, Loop]
    frontmatter: dict[str, object] | None
    body: tuple[Line | LoopBody, ...]
    prompt_ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        ids = frozenset(n.id for n in self.nodes.values() if n.kind == "prompt")
        object.__setattr__(self, "prompt_ids", ids)

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise ValidationError(
                f"'{node_id}' is not a prompt of template {self.name}", prompt=node_id
            ) from None


@dataclass
class _Comment:
    line: int  # 1-based line of the tag (or of the opening)
    end: int  # index of the comment's last line
    tag: str | None
    args: str


def closes_fence(fence: str, text: str) -> bool:
    """Whether ``text`` closes a code block opened by ``fence`` (CommonMark rule)."""
    match = FENCE_RE.match(text)
    return bool(match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
                and not match.group(2).strip())


def _fail(line: int, message: str) -> ValidationError:
    return ValidationError(f"template line {line}: {message}", line=line)


def _coerce(value: str) -> bool | int | str:
    if value in ("true", "false"):
        return value == "true"
    return int(value) if value.isdigit() else value


def _attributes(tag: str, args: str, line: int) -> dict[str, object]:
    attrs: dict[str, object] = {}
    for index, token in enumerate(t.strip() for t in args.split("|")):
        if not token:
            if args.strip():
                raise _fail(line, f"empty attribute in @{tag}")
            continue
        key, sep, value = token.partition(":")
        if not sep:
            if index:
                raise _fail(line, f"attribute '{token}' of @{tag} needs 'key: value'")
            key, value = "id", token
        key, value = key.strip(), value.strip()
        if key != "id" and key not in _ALLOWED[tag]:
            raise _fail(line, f"unknown attribute '{key}' for @{tag}")
        if key in attrs:
            raise _fail(line, f"attribute '{key}' given twice in @{tag}")
        if not value:
            raise _fail(line, f"attribute '{key}' of @{tag} has no value")
        attrs[key] = _coerce(value) if key != "id" else value
    if tag in _NEEDS_NAME and "id" not in attrs:
        raise _fail(line, f"@{tag} needs a name, e.g. '@{tag}: name'")
    if tag not in _NEEDS_NAME and attrs:
        raise _fail(line, f"@{tag} takes no arguments")
    if "id" in attrs and not _ID_RE.match(str(attrs["id"])):
        raise _fail(line, f"invalid name '{attrs['id']}' (letters, digits, '_')")
    return attrs


def _scan_comment(lines: list[str], i: int) -> _Comment:
    """Read the HTML comment opening on line index ``i``."""
    first = lines[i].strip()[4:]
    body, end = [first], i
    while "-->" not in body[-1]:
        end += 1
        if end == len(lines):
            raise _fail(i + 1, "HTML comment is never closed ('-->' missing)")
        body.append(lines[end])
    closing, _, after = body[-1].partition("-->")
    body[-1] = closing
    content = [b.strip() for b in body]
    head = next((k for k, text in enumerate(content) if text), None)
    match = _TAG_RE.match(content[head]) if head is not None else None
    if not match:
        return _Comment(i + 1, end, None, "")
    tag = match.group(1).lower()
    line_no = i + 1 + head
    if tag not in _ALLOWED:
        raise _fail(line_no, f"unknown tag '@{match.group(1)}'")
    if after.strip():
        raise _fail(end + 1, f"text after the @{tag} comment on the same line")
    if tag != "template" and any(content[head + 1 :]):
        raise _fail(line_no, f"@{tag} must be the only content of its comment")
    return _Comment(line_no, end, tag, match.group(2))


def _skip_frontmatter(lines: list[str], i: int) -> int | None:
    """Index after the frontmatter block opening at ``i`` (None if not one)."""
    if i >= len(lines) or lines[i].strip() != "---":
        return None
    for j in range(i + 1, len(lines)):
        if lines[j].strip() == "---":
            return j + 1
    return None


def _example_frontmatter(lines: list[str], first: int) -> dict[str, object]:
    """The document frontmatter the template prescribes (a YAML mapping)."""
    try:
        data = yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _fail(first + (mark.line if mark else 0),
                    f"example frontmatter is not valid YAML ({getattr(exc, 'problem', exc)})"
                    ) from None
    if not isinstance(data, dict):
        raise _fail(first, "example frontmatter must be 'key: value' lines")
    return data


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.header: dict[str, object] | None = None
        self.header_line = 0
        self.nodes: dict[str, Node] = {}
        self.loops: dict[str, Loop] = {}
        self.body: list[Line | LoopBody] = []
        self.loop: tuple[str, int, list[str], list[Line]] | None = None
        self.open_node: dict | None = None  # node under construction (guidance pending)
        self.end_seen = 0

    # -- body output ------------------------------------------------------------------
    def _emit(self, i: int) -> None:
        line = Line(i + 1, self.lines[i])
        (self.loop[3] if self.loop else self.body).append(line)

    # -- guidance ---------------------------------------------------------------------
    def _close_guidance(self, pending: list[int], explicit: bool) -> None:
        """Finish the open node: pending lines are guidance (all, or up to structure)."""
        node = self.open_node
        self.open_node = None
        if node is None:
            for i in pending:
                self._emit(i)
            return
        cut = len(pending)
        if not explicit:
            for k, i in enumerate(pending):
                text = self.lines[i]
                if _STRUCTURAL_RE.match(text) or "{{" in text:
                    cut = k
                    break
        node["guidance"] = "\n".join(self.lines[i] for i in pending[:cut]).strip()
        self._add_node(node)
        for i in pending[cut:]:
            self._emit(i)

    def _add_node(self, spec: dict) -> None:
        node_id = spec["id"]
        if node_id in self.nodes:
            raise _fail(spec["line"], f"'{node_id}' is already defined on line "
                        f"{self.nodes[node_id].line}")
        self.nodes[node_id] = Node(**spec)
        if self.loop:
            self.loop[2].append(node_id)

    # -- tags -------------------------------------------------------------------------
    def _tag(self, comment: _Comment) -> None:
        line = comment.line
        attrs = _attributes(comment.tag, comment.args, line)
        tag = comment.tag
        if tag == "template":
            if self.header is not None:
                raise _fail(line, f"second @template (first on line {self.header_line})")
            for key in ("version", "start"):
                if key not in attrs:
                    raise _fail(line, f"@template needs '{key}: ...'")
            self.header, self.header_line = attrs, line
        elif tag in ("prompt", "gate"):
            self._node(tag, attrs, line)
        elif tag == "loop":
            if self.loop:
                raise _fail(line, f"nested @loop inside '{self.loop[0]}' (opened on line "
                            f"{self.loop[1]}) is not supported")
            if attrs["id"] in self.loops:
                raise _fail(line, f"loop '{attrs['id']}' is already defined")
            self.loop = (str(attrs["id"]), line, [], [])
        elif tag == "end-loop":
            if not self.loop:
                raise _fail(line, f"@end-loop: {attrs['id']} without an open @loop")
            name, start, ids, lines = self.loop
            if attrs["id"] != name:
                raise _fail(line, f"@end-loop: {attrs['id']} does not match "
                            f"@loop: {name} (line {start})")
            if not ids:
                raise _fail(start, f"loop '{name}' contains no @prompt or @gate")
            self.loops[name] = Loop(name, start, tuple(ids))
            self.body.append(LoopBody(name, tuple(lines)))
            self.loop = None
        else:  # end
            self.end_seen += 1
            if self.end_seen > 1:
                raise _fail(line, "second @end")

    def _node(self, kind: str, attrs: dict, line: int) -> None:
        spec: dict[str, object] = {"id": attrs["id"], "kind": kind, "line": line,
                                   "loop": self.loop[0] if self.loop else None}
        if kind == "prompt":
            if "next" not in attrs:
                raise _fail(line, f"@prompt {attrs['id']} needs 'next: ...'")
            if not isinstance(attrs.get("commit", False), bool):
                raise _fail(line, "commit must be true or false")
            spec.update(next=str(attrs["next"]), commit=attrs.get("commit", False),
                        default=None if "default" not in attrs else str(attrs["default"]))
        else:
            if attrs.get("type", "yesno") != "yesno":
                raise _fail(line, f"@gate type '{attrs['type']}' is not supported (yesno)")
            for key in ("yes", "no"):
                if key not in attrs:
                    raise _fail(line, f"@gate {attrs['id']} needs '{key}: ...'")
            spec.update(yes=str(attrs["yes"]), no=str(attrs["no"]))
        self.open_node = spec

    # -- main loop --------------------------------------------------------------------
    def parse(self) -> Template:
        lines = self.lines
        i = self._preamble()
        frontmatter = None
        while i < len(lines) and not lines[i].strip():
            i += 1
        end = _skip_frontmatter(lines, i)
        if end is not None:
            frontmatter = _example_frontmatter(lines[i + 1 : end - 1], i + 2)
            i = end
        pending: list[int] = []
        fence: str | None = None
        while i < len(lines):
            text = lines[i]
            fence_match = FENCE_RE.match(text)
            if fence:
                if closes_fence(fence, text):
                    fence = None
                pending.append(i)
                i += 1
                continue
            if fence_match:
                fence = fence_match.group(1)
            elif text.strip().startswith("<!--"):
                comment = _scan_comment(lines, i)
                if comment.tag:
                    if comment.tag == "end-prompt" and self.open_node is None:
                        raise _fail(i + 1, "@end-prompt without a preceding @prompt or @gate")
                    self._close_guidance(pending, explicit=comment.tag == "end-prompt")
                    pending = []
                    if comment.tag != "end-prompt":
                        self._tag(comment)
                    i = comment.end + 1
                    continue
                pending.extend(range(i, comment.end + 1))
                i = comment.end + 1
                continue
            pending.append(i)
            i += 1
        if fence:
            raise _fail(len(lines), f"code fence '{fence}' is never closed")
        self._close_guidance(pending, explicit=False)
        if self.loop:
            raise _fail(self.loop[1], f"@loop: {self.loop[0]} is never closed (@end-loop)")
        return self._build(frontmatter)

    def _preamble(self) -> int:
        """Skip the template's own frontmatter and the comments before the document."""
        lines, i = self.lines, 0
        end = _skip_frontmatter(lines, 0)
        if end is not None and "{{" not in "\n".join(lines[:end]):
            i = end
        while i < len(lines):
            if not lines[i].strip():
                i += 1
            elif lines[i].strip().startswith("<!--"):
                comment = _scan_comment(lines, i)
                if comment.tag == "template":
                    self._tag(comment)
                elif comment.tag:
                    break
                i = comment.end + 1
            else:
                break
        return i

    def _build(self, frontmatter: dict[str, object] | None) -> Template:
        if self.header is None:
            raise ValidationError("template has no '@template: NAME | version: N | start: ID' tag")
        start = str(self.header["start"])
        if start not in self.nodes:
            raise _fail(self.header_line, f"start '{start}' is not a @prompt or @gate")
        entries = {loop.entry: loop.name for loop in self.loops.values()}
        if self.nodes[start].loop and start not in entries:
            raise _fail(self.header_line, f"start '{start}' is inside loop "
                        f"'{self.nodes[start].loop}' but is not its first prompt")
        for node in self.nodes.values():
            for target in node.targets:
                if target == "end":
                    continue
                if target not in self.nodes:
                    raise _fail(node.line, f"'{node.id}' goes to '{target}', which is not defined")
                target_loop = self.nodes[target].loop
                if target_loop and target_loop != node.loop and target not in entries:
                    raise _fail(node.line, f"'{node.id}' jumps into loop '{target_loop}' at "
                                f"'{target}'; only '{self.loops[target_loop].entry}' may be entered")
        return Template(
            name=str(self.header["id"]), version=self.header["version"], start=start,
            nodes=self.nodes, loops=self.loops, frontmatter=frontmatter, body=tuple(self.body),
        )


def parse_template(text: str) -> Template:
    """Parse template text; raise ValidationError (with the line) if it is malformed."""
    return _Parser(text).parse()
