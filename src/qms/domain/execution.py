"""The mechanical part of a CR's post-review checklist (pure): what ``route --review`` of a
scoped CR out of execution checks in its text (docs/code-control.md, *Post-review*).

* the sections frozen at pre-approval (everything before the ``## N. Execution`` heading)
  are unchanged;
* every execution item (a table row ``| EI-N | ...``) has the outcome ``Pass`` or ``Fail``;
* no ``[...]`` execution placeholder of the template remains (``[SUMMARY]``,
  ``[Pass/Fail]``, ``[PERFORMER]``, ``[EXECUTION_SUMMARY: ...]``), outside HTML comments;
* a ``Fail`` names an existing VAR or ER (``CR-001-VAR-001``).

Judgement stays with the reviewers: this only finds what a machine can.
"""

from __future__ import annotations

import re

from qms.domain.qualification import table_cells

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Callable

_HEADING = re.compile(r"^##\s+(?:\d+\.\s*)?Execution\s*$", re.IGNORECASE | re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_PLACEHOLDER = re.compile(r"\[(?:Pass/Fail|[A-Z][A-Z_]*[A-Z](?::[^\]\n]*)?)\]")
_ITEM = re.compile(r"^\s*\|\s*(EI-\d+)\s*\|")
_CHILD = re.compile(r"\b[A-Z]{2,}-\d{3,}(?:-[A-Z]{2,}-\d{3,})*-(?:VAR|ER)-\d{3,}\b")
_SHOWN = 5


def split(body: str) -> tuple[str, str]:
    """``(frozen part, execution part)`` of a CR's body (frontmatter removed)."""
    m = _HEADING.search(body)
    return (body, "") if m is None else (body[:m.start()], body[m.start():])


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def problems(approved: str, body: str, exists: Callable[[str], bool]) -> list[str]:
    """What stops post-review: ``approved`` is the body the pre-approval signed, ``body``
    today's; ``exists(doc_id)`` says whether a document exists."""
    found: list[str] = []
    frozen, execution = split(body)
    before, now = _lines(split(approved)[0]), _lines(frozen)
    if before != now:
        n = next((i for i, (a, b) in enumerate(zip(before, now)) if a != b),
                 min(len(before), len(now)))
        shown = now[n] if n < len(now) else "(removed)"
        found.append(f"the sections frozen at pre-approval changed (from line {n + 1} of the "
                     f"text before the Execution section: {shown[:80]!r}); restore them.")
    execution = _COMMENT.sub("", execution)
    if not execution:
        return found + ["the text has no Execution section (## N. Execution)."]
    outcome_at = -2
    items = 0
    for line in execution.splitlines():
        cells = table_cells(line) if line.lstrip().startswith("|") else []
        if cells and cells[0] == "EI":  # the header row says where the outcome is
            outcome_at = next((i for i, c in enumerate(cells) if "outcome" in c.lower()), -2)
            continue
        m = _ITEM.match(line)
        if m is None:
            continue
        items += 1
        outcome = cells[outcome_at].strip("*` ") if len(cells) > abs(outcome_at) else ""
        if outcome.lower() not in ("pass", "fail"):
            found.append(f"{m.group(1)} has no outcome Pass or Fail ({outcome[:40]!r}).")
        elif outcome.lower() == "fail" and not any(exists(d) for d in _CHILD.findall(line)):
            found.append(f"{m.group(1)} failed without naming an existing VAR or ER.")
    if not items:
        found.append("the Execution section lists no execution item (| EI-1 | ...).")
    left = _PLACEHOLDER.findall(execution)
    if left:
        found.append(f"{len(left)} execution placeholder(s) remain: "
                     f"{', '.join(list(dict.fromkeys(left))[:_SHOWN])}.")
    return found
