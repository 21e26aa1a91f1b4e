"""The interaction engine: walks a source through a template's flow (no I/O).

Mutating functions change the passed-in :class:`Source` only after every check has
passed, so a refused call leaves it untouched. Time and author are injected; evidence
commits are injected as a callable so that they happen after validation and before the
answer is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qms.errors import InvalidTransition, ValidationError

from .source import PLACEHOLDER, Source, entry_key, split_key, timestamp
from .template import END, Node, Template

_YESNO = ("yes", "no")

Committer = Callable[[str, str], "str | None"]
"""``commit(context, prompt_id) -> hash or None``; raises a QMSError when git fails."""


@dataclass(frozen=True)
class Position:
    """Where the cursor is: the node, its iteration (in a loop) and its entry key."""

    node: Node | None  # None at the end
    iteration: int | None

    @property
    def key(self) -> str:
        return END if self.node is None else entry_key(self.node.id, self.iteration)

    @property
    def context(self) -> str:
        """Evidence-commit context: ``loop.N`` inside a loop, else ``Evidence capture``."""
        if self.node is not None and self.node.loop:
            return f"{self.node.loop}.{self.iteration}"
        return "Evidence capture"


@dataclass(frozen=True)
class Recorded:
    key: str
    value: str
    amended: bool
    commit: str | None
    next: str


@dataclass(frozen=True)
class ProgressItem:
    key: str
    done: bool
    current: bool
    commit: bool
    loop: str | None
    amended: bool


def new_source(doc_id: str, parent_id: str | None, title: str, template: Template) -> Source:
    """A fresh source for a new interactive document, cursor on the template's start."""
    source = Source(doc_id=doc_id, template=template.name,
                    template_version=template.version, cursor=template.start,
                    metadata={"parent_doc_id": parent_id or "", "vr_id": doc_id,
                              "title": title})
    _enter(template, source, template.nodes[template.start])
    return source


def normalize(value: str) -> str:
    """Unify newlines, drop leading blank lines and trailing whitespace."""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def position(template: Template, source: Source) -> Position:
    if source.cursor == END:
        return Position(None, None)
    node = template.node(source.cursor)
    return Position(node, source.cursor_context.get("iteration") if node.loop else None)


def amending(source: Source) -> bool:
    return "goto_return" in source.cursor_context


def interpolate(text: str, source: Source, iteration: int | None) -> str:
    """Replace ``{{x}}`` in guidance; unknown names stay literal."""
    def value(match: re.Match[str]) -> str:
        found = source.lookup(match.group(1), iteration)
        return match.group(0) if found is None else found
    return PLACEHOLDER.sub(value, text)


# -- answering ----------------------------------------------------------------------------

def respond(template: Template, source: Source, value: str, *, author: str, now: datetime,
            reason: str | None = None, commit: Committer | None = None) -> Recorded:
    """Record ``value`` for the cursor prompt (or gate) and advance the cursor."""
    pos = position(template, source)
    if pos.node is None:
        raise InvalidTransition(f"{source.doc_id}: every prompt is answered; check the "
                                "document in to compile it", doc_id=source.doc_id)
    value = normalize(value)
    if not value:
        raise ValidationError("an empty response cannot be recorded; give a value or --file")
    if amending(source):
        reason = reason or source.cursor_context.get("goto_reason")
    reason = normalize(reason or "") or None
    stamp = timestamp(now)
    if pos.node.kind == "gate":
        answer = value.lower()
        if answer not in _YESNO:
            raise ValidationError(f"'{pos.node.id}' is a yes/no question; answer yes or no")
        if reason:
            raise ValidationError("--reason applies only to amendments and reopenings")
        source.gates[pos.key] = {"value": answer, "author": author, "timestamp": stamp}
        _advance(template, source, pos, getattr(pos.node, answer))
        return Recorded(pos.key, answer, False, None, source.cursor)
    amended = bool(source.entries(pos.key))
    if amended and not reason:
        raise ValidationError(f"'{pos.key}' is already answered; an amendment requires "
                              "a reason (--reason)")
    if reason and not amended:
        raise ValidationError("--reason applies only to amendments and reopenings")
    entry: dict[str, Any] = {"value": value, "author": author, "timestamp": stamp}
    if reason:
        entry["reason"] = reason
    if pos.node.commit and commit is not None:
        pinned = commit(pos.context, pos.node.id)
        if pinned:
            entry["commit"] = pinned
    source.responses.setdefault(pos.key, []).append(entry)
    if amending(source):
        _return_from_goto(source)
    else:
        _advance(template, source, pos, pos.node.next)
    return Recorded(pos.key, value, amended, entry.get("commit"), source.cursor)


def _advance(template: Template, source: Source, pos: Position, target: str) -> None:
    """Move the cursor from ``pos`` to ``target``, opening/closing loop iterations."""
    ctx = source.cursor_context
    node = None if target == "end" else template.nodes[target]
    here = pos.node.loop
    if here and (node is None or node.loop != here):
        source.loops[here]["closed"] = True
        if "reopen_return" in ctx:
            source.cursor = ctx.pop("reopen_return")
            saved = ctx.pop("reopen_return_ctx", {})
            _set_loop(ctx, saved.get("loop"), saved.get("iteration"))
            return
    if node is None:
        source.cursor = END
        _set_loop(ctx, None, None)
        return
    _enter(template, source, node)


def _enter(template: Template, source: Source, node: Node) -> None:
    """Put the cursor on ``node``; a loop's entry starts its next iteration."""
    if node.loop and node.id == template.loops[node.loop].entry:
        state = source.loops.setdefault(node.loop, {"iterations": 0, "closed": False,
                                                    "reopenings": []})
        state["iterations"] += 1
        state["closed"] = False
        _set_loop(source.cursor_context, node.loop, state["iterations"])
    elif not node.loop:
        _set_loop(source.cursor_context, None, None)
    source.cursor = node.id


def _set_loop(ctx: dict[str, Any], loop: str | None, iteration: int | None) -> None:
    for name, value in (("loop", loop), ("iteration", iteration)):
        if value is None:
            ctx.pop(name, None)
        else:
            ctx[name] = value


def _loop_ctx(ctx: dict[str, Any]) -> dict[str, Any]:
    return {k: ctx[k] for k in ("loop", "iteration") if k in ctx}


# -- navigation ---------------------------------------------------------------------------

def goto(template: Template, source: Source, target: str, reason: str | None) -> Position:
    """Move to an answered prompt to amend it; the next answer returns the cursor here.

    The reason is required; it is recorded with the amendment unless the answer brings
    its own.
    """
    reason = normalize(reason or "")
    if not reason:
        raise ValidationError("--goto requires a reason (--reason) for the amendment")
    base, iteration = split_key(target)
    node = template.node(base)
    if node.kind != "prompt":
        raise ValidationError(f"'{base}' is a gate; only prompts can be amended")
    if node.loop and iteration is None:
        if source.cursor_context.get("loop") != node.loop:
            raise ValidationError(f"'{base}' is inside loop '{node.loop}'; name the "
                                  f"iteration, e.g. {base}.1")
        iteration = source.cursor_context["iteration"]
    if not node.loop:
        iteration = None
    key = entry_key(base, iteration)
    if not source.entries(key):
        raise ValidationError(f"Prompt {key} has not been answered yet.", prompt=key)
    ctx = source.cursor_context
    if not amending(source):
        ctx["goto_return"] = source.cursor
        ctx["goto_return_ctx"] = _loop_ctx(ctx)
    ctx["goto_reason"] = reason
    source.cursor = base
    _set_loop(ctx, node.loop, iteration)
    return Position(node, iteration)


def _return_from_goto(source: Source) -> None:
    ctx = source.cursor_context
    source.cursor = ctx.pop("goto_return")
    ctx.pop("goto_reason", None)
    saved = ctx.pop("goto_return_ctx", {})
    _set_loop(ctx, saved.get("loop"), saved.get("iteration"))


def cancel_goto(template: Template, source: Source) -> Position:
    """Leave amendment mode without recording anything."""
    if not amending(source):
        raise InvalidTransition(f"{source.doc_id}: no amendment (--goto) is in progress")
    _return_from_goto(source)
    return position(template, source)


def reopen(template: Template, source: Source, loop: str, *, reason: str | None,
           author: str, now: datetime) -> Position:
    """Start a new iteration of a closed loop; its exit returns to the current point."""
    if loop not in template.loops:
        raise ValidationError(f"template {template.name} has no loop '{loop}'",
                              loops=sorted(template.loops))
    reason = normalize(reason or "")
    if not reason:
        raise ValidationError("reopening a loop requires a reason (--reason)")
    state = source.loops.get(loop)
    if not state or not state.get("closed"):
        raise InvalidTransition(f"loop '{loop}' is not closed; it can only be reopened "
                                "after it has been finished")
    if amending(source):
        raise InvalidTransition("finish or cancel the amendment (--cancel-goto) first")
    ctx = source.cursor_context
    if "reopen_return" in ctx:  # one return point only: a second would lose the first
        raise InvalidTransition(f"loop '{ctx.get('loop')}' is reopened; finish it (answer "
                                "through to its exit) before reopening another loop")
    ctx["reopen_return"] = source.cursor
    ctx["reopen_return_ctx"] = _loop_ctx(ctx)
    state.setdefault("reopenings", []).append(
        {"reason": reason, "author": author, "timestamp": timestamp(now)})
    state["iterations"] += 1
    state["closed"] = False
    source.cursor = template.loops[loop].entry
    _set_loop(ctx, loop, state["iterations"])
    return position(template, source)


# -- reporting ----------------------------------------------------------------------------

def progress(template: Template, source: Source) -> list[ProgressItem]:
    """Every prompt and gate in template order; a loop's members once per iteration,
    iteration by iteration (all of iteration 1, then all of iteration 2, ...)."""
    current = position(template, source).key
    items: list[ProgressItem] = []

    def add(node: Node, n: int | None) -> None:
        key = entry_key(node.id, n)
        store = source.gates if node.kind == "gate" else source.responses
        items.append(ProgressItem(
            key=key, done=key in store, current=key == current, commit=node.commit,
            loop=f"{node.loop}.{n}" if node.loop else None,
            amended=len(source.entries(key)) > 1))

    for node in template.nodes.values():
        if not node.loop:
            add(node, None)
        elif node.id == template.loops[node.loop].entry:  # the whole loop, at its first node
            count = source.loops.get(node.loop, {}).get("iterations", 0)
            for n in range(1, max(count, 1) + 1):
                for member in template.loops[node.loop].nodes:
                    add(template.nodes[member], n)
    return items


def progress_text(template: Template, source: Source) -> str:
    lines = [f"Progress of {source.doc_id}:"]
    for item in progress(template, source):
        text = f"  [{'x' if item.done else ' '}] {item.key}"
        text += " (commit)" * item.commit + f" [{item.loop}]" * bool(item.loop)
        text += " (amended)" * item.amended + "  <- current" * item.current
        lines.append(text)
    if source.cursor == END:
        lines.append("  (complete)")
    return "\n".join(lines)


def status_text(template: Template, source: Source, user: str) -> str:
    """What the performer sees without flags: the current prompt and how to answer it."""
    command = f"qms --user {user}"
    head = f"{source.doc_id} (template {template.name} v{template.version})"
    pos = position(template, source)
    if pos.node is None:
        return (f"{head}\nAll prompts are answered. Preview with `{command} interact "
                f"{source.doc_id} --compile`, then run `{command} checkin {source.doc_id}`.")
    lines = [head, f"Prompt: {pos.key}"]
    ctx = source.cursor_context
    if amending(source):
        back = entry_key(ctx["goto_return"], ctx.get("goto_return_ctx", {}).get("iteration"))
        lines.append(f"AMENDMENT MODE (reason: {ctx.get('goto_reason', '')}): the current "
                     f"value is {source.active(pos.key)!r}. Your answer is appended, then the "
                     f"cursor returns to {back} (--cancel-goto returns without a change).")
    if pos.node.loop:
        lines.append(f"Loop {pos.node.loop}, iteration {pos.iteration}.")
    if "reopen_return" in ctx:
        back = ctx["reopen_return"]
        back = "the end (all prompts answered)" if back == END else back
        lines.append(f"Loop reopened; leaving it returns to {back}.")
    if pos.node.guidance:
        lines += ["", interpolate(pos.node.guidance, source, pos.iteration), ""]
    if pos.node.commit:
        lines.append("Answering records a git evidence commit (what you staged plus this "
                     "document's files).")
    if pos.node.default is not None:
        lines.append(f"Suggested answer: {pos.node.default}")
    if pos.node.kind == "gate":
        lines.append(f"Respond: {command} interact {source.doc_id} --respond yes|no")
    else:
        lines.append(f'Respond: {command} interact {source.doc_id} --respond "..."'
                     "  (or --respond --file PATH)")
    return "\n".join(lines)
