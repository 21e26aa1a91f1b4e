"""``qms create TYPE --title T [--parent ID] [--name NAME]``."""

from __future__ import annotations

from qms.domain import doctypes, templates, workflow
from qms.errors import Conflict, InvalidTransition, NotFound, UsageError, ValidationError
from qms.operations import _interactive
from qms.operations._shared import Result, authorize, check_text
from qms.store import audit, frontmatter, namespaces, sequence
from qms.store import meta as meta_store
from qms.store.project import Project

MAX_TITLE = 200


class CreateResult(Result):
    doc_id: str
    doc_type: str
    version: str
    status: str
    title: str
    path: str
    workspace_path: str
    responsible_user: str

    def render(self) -> str:
        head = (f"Created {self.doc_id} (v{self.version}, {self.status})\n"
                f"Document: {self.path}\nWorkspace: {self.workspace_path}\n")
        who = f"qms --user {self.responsible_user}"
        if self.doc_type == "VR":
            return head + (f"Checked out to {self.responsible_user}. Author it interactively: "
                           f"{who} interact {self.doc_id}")
        return head + (f"Checked out to {self.responsible_user}, ready to edit. "
                       f"Check in with: {who} checkin {self.doc_id}")


def create(project: Project, user: str, *, doc_type: str, title: str,
           parent: str | None = None, name: str | None = None) -> CreateResult:
    authorize(project, user, "create")
    type_name = _type_name(project, doc_type)
    if name is not None and type_name != "TEMPLATE":
        raise UsageError(f"--name applies to TEMPLATE documents only; a {type_name} is "
                         "numbered automatically. Leave out --name.")
    dt = doctypes.doctype(type_name)
    title = _valid_title(title)
    with project.transaction() as tx:
        parent_id = _check_parent(project, dt, parent, tx)
        if dt.singleton:
            ns, kind = type_name.rsplit("-", 1)
            doc_id = f"SDLC-{ns}-{kind}"
        elif type_name == "TEMPLATE":
            doc_id = _template_id(name)
        else:
            doc_id = sequence.next_id(tx, project, type_name, parent_id)
        if meta_store.exists(project, doc_id, tx) or tx.exists(project.effective_path(doc_id)) \
                or tx.exists(project.draft_path(doc_id)):
            raise Conflict(f"{doc_id} already exists.", doc_id=doc_id)

        # {NS}-RS / {NS}-RTM use TEMPLATE-RS / TEMPLATE-RTM ("TEMPLATE-WEB-RS" is no valid ID)
        template_name = type_name.rsplit("-", 1)[1] if dt.singleton else type_name
        template = project.read_text(project.effective_path(f"TEMPLATE-{template_name}"))
        body = templates.instantiate(template, doc_id, type_name, title)
        draft = frontmatter.dump({"title": title, "revision_summary": "Initial draft"}) + body

        today = audit.today()
        if type_name == "VR":
            meta = meta_store.new(doc_id, type_name, executable=True, user=user, today=today,
                                  version="1.0", status=workflow.IN_EXECUTION,
                                  phase=workflow.POST_RELEASE)
        else:
            meta = meta_store.new(doc_id, type_name, executable=dt.executable, user=user,
                                  today=today,
                                  phase=workflow.PRE_RELEASE if dt.executable else None)
        workspace = draft
        if _interactive.is_interactive(doc_id):
            draft, workspace = _interactive.on_create(tx, project, user, doc_id, parent_id,
                                                      title)
        tx.write_text(project.draft_path(doc_id), draft)
        tx.write_text(project.workspace_path(user, doc_id), workspace)
        meta_store.save(tx, project, meta)
        audit.append(tx, project, doc_id, "CREATE", user, meta["version"], content=draft,
                     title=title)
        audit.append(tx, project, doc_id, "CHECKOUT", user, meta["version"])
    return CreateResult(doc_id, type_name, meta["version"], meta["status"], title,
                        project.rel(project.draft_path(doc_id)),
                        project.rel(project.workspace_path(user, doc_id)), user)


def _type_name(project: Project, doc_type: str) -> str:
    raw = (doc_type or "").strip().upper()
    if raw in doctypes.base_types():
        return raw
    ns, _, kind = raw.rpartition("-")
    if kind in ("RS", "RTM") and doctypes.NAMESPACE_RE.match(ns):
        if not namespaces.known(project, ns):
            raise NotFound(f"Unknown SDLC namespace {ns}. An administrator can add it: "
                           f"qms --user lead namespace add {ns}")
        return raw
    valid = doctypes.base_types() + [f"{n}-{k}" for n in namespaces.names(project)
                                     for k in ("RS", "RTM")]
    raise ValidationError(f"Unknown document type {doc_type!r}. Valid types: {', '.join(valid)}.")


def _valid_title(title: str) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("A title is required (--title TEXT).")
    title = title.strip()
    if len(title) > MAX_TITLE:
        raise ValidationError(f"The title is too long ({len(title)} characters, limit {MAX_TITLE}).")
    if any(ord(c) < 32 or ord(c) == 127 for c in title):
        raise ValidationError("The title must be a single line without control characters.")
    return check_text(title, "title")


def _template_id(name: str | None) -> str:
    if not name or not name.strip():
        raise ValidationError("Creating a TEMPLATE needs --name NAME (e.g. --name CR).")
    value = name.strip().upper()
    if not doctypes.TEMPLATE_NAME_RE.match(value):
        raise ValidationError(f"Invalid template name {name[:40]!r}: use letters, digits and '_'.")
    return f"TEMPLATE-{value}"


def _check_parent(project: Project, dt: doctypes.DocType, parent: str | None, tx) -> str | None:
    if not dt.is_child:
        if parent:
            raise ValidationError(f"{dt.name} documents are top-level; --parent is not allowed.")
        return None
    if not parent:
        raise ValidationError(f"{dt.name} needs --parent (a {' or '.join(dt.parents)}).")
    parent_id = doctypes.normalize_id(parent)
    if doctypes.is_orphan(parent_id):
        raise ValidationError(f"{parent_id} is a legacy document without a parent in its ID; "
                              "it cannot take child documents.")
    parent_type = doctypes.type_of(parent_id)
    if parent_type not in dt.parents:
        raise ValidationError(
            f"A {dt.name} cannot have a {parent_type} parent; allowed: {', '.join(dt.parents)}.")
    try:
        parent_meta = meta_store.load(project, parent_id, tx)
    except NotFound:
        raise NotFound(f"Parent document {parent_id} not found.") from None
    if dt.parent_status and parent_meta["status"] != dt.parent_status:
        raise InvalidTransition(
            f"{dt.name} documents need their parent {dt.parent_status}; {parent_id} is "
            f"{parent_meta['status']}.")
    if parent_meta["status"] in workflow.TERMINAL and dt.parent_status != workflow.CLOSED:
        raise InvalidTransition(f"Parent {parent_id} is {parent_meta['status']}.")
    return parent_id
