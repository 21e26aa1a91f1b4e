"""ID allocation in O(1): a counter file per type (or per parent and child type).

Counters live in ``QMS/.meta/.seq/{KEY}`` and only ever grow, so a cancelled ID is never
handed out again. A project from the earlier tool has no counters: the first allocation
for a key scans that one folder once, then the counter takes over.
"""

from __future__ import annotations

import re

from qms.domain import doctypes
from qms.store.project import Project
from qms.store.transaction import Transaction


def next_id(tx: Transaction, project: Project, type_name: str, parent: str | None = None) -> str:
    key = f"{parent}-{type_name}" if parent else type_name
    path = project.seq_path(key)
    text = tx.read_text(path)
    last = int(text.strip()) if text and text.strip().isdigit() else _scan(project, type_name, parent)
    while True:
        last += 1
        doc_id = (doctypes.format_child(parent, type_name, last) if parent
                  else doctypes.format_root(type_name, last))
        # never reuse an ID anything already knows about (e.g. written by another tool)
        if not (tx.exists(project.meta_path(doc_id)) or tx.exists(project.audit_path(doc_id))):
            break
    tx.write_text(path, f"{last}\n", in_place=True)  # read only under the project lock
    return doc_id


def _scan(project: Project, type_name: str, parent: str | None) -> int:
    if parent:
        folder = project.doc_dir(parent)
        pattern = re.compile(rf"^{re.escape(parent)}-{type_name}-(\d+)(?:-draft)?\.md$")
    else:
        folder = project.qms / doctypes.doctype(type_name).folder
        pattern = re.compile(rf"^{type_name}-(\d+)(?:-draft)?(?:\.md)?$")
    best = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            m = pattern.match(entry.name)
            if m:
                best = max(best, int(m.group(1)))
    return best
