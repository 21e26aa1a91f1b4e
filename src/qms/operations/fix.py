"""``qms fix ID`` (administrator): repair legacy frontmatter of an EFFECTIVE/CLOSED file."""

from __future__ import annotations

import re

from qms.domain import workflow as wf
from qms.errors import InvalidTransition, NotFound
from qms.operations._shared import DocResult, done, open_doc
from qms.store import audit, frontmatter
from qms.store.project import Project


def fix(project: Project, user: str, *, doc_id: str) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "fix", doc_id, tx)
        if meta["status"] not in (wf.EFFECTIVE, wf.CLOSED):
            raise InvalidTransition(f"{doc_id} is {meta['status']}; fix repairs EFFECTIVE or "
                                    "CLOSED documents only.")
        path = project.effective_path(doc_id)
        text = tx.read_text(path)
        if text is None:
            raise NotFound(f"{doc_id} has no effective file.")
        fixed = frontmatter.minimal(text)
        fixed = re.sub(r"(\*\*Version:\*\*\s*)\S+", rf"\g<1>{meta['version']}", fixed, count=1)
        fixed = fixed.replace("**Effective Date:** TBD",
                              f"**Effective Date:** {audit.today()}", 1)
        changed = fixed != text
        if changed:
            tx.write_text(path, fixed)
            audit.append(tx, project, doc_id, "FIX", user, meta["version"], content=fixed)
    return done(meta, f"Fixed {doc_id}" if changed else f"{doc_id} needed no repair")
