"""Where document commands hand Verification Records to the interactive engine.

VRs are authored with ``qms interact``; these hooks keep their source (``.interact`` in the
workspace, ``.source.json`` in ``.meta``) and compiled draft in step with the lifecycle.
"""

from __future__ import annotations

from qms.domain import doctypes
from qms.store.project import Project
from qms.store.transaction import Transaction


def is_interactive(doc_id: str) -> bool:
    return doctypes.type_of(doc_id) == "VR"


def on_create(tx: Transaction, project: Project, user: str, doc_id: str, parent_id: str,
              title: str, draft: str) -> str:
    """Start the authoring session; return the workspace placeholder text."""
    return draft


def on_checkout(tx: Transaction, project: Project, user: str, doc_id: str, draft: str) -> str:
    """Seed the session from the saved source; return the workspace placeholder text."""
    return draft


def on_checkin(tx: Transaction, project: Project, user: str, doc_id: str, text: str) -> str:
    """Compile the session into the draft; save the source; return the draft text."""
    return text


def on_close(tx: Transaction, project: Project, doc_id: str, owner: str | None,
             text: str) -> str:
    """Final compile when a VR closes (also by cascade); return the closed text."""
    return text
