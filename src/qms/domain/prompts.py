"""Review and approval task files, rendered from the packaged prompt YAML files.

Prompt configurations live in ``qms/resources/prompts/`` (package data, not the project).
The first file that exists wins, all segments lower-cased:

    {task}/{workflow}/{doctype}.yaml  ->  {task}/{workflow}/default.yaml  ->  {task}/default.yaml

with ``task`` in ``review | approval``. A configuration has this schema (every key optional)::

    checklist:            [{category: str, items: [str | {text: str, evidence_prompt: str}]}]
    critical_reminders:   [str]
    additional_sections:  [{title: str, content: str}]
    custom_header:        str      # rendered first, followed by ---
    custom_footer:        str      # rendered last, after ---
    response_format:      str      # the reply the assignee must give

In any rendered text, ``{doc_id}``, ``{version}``, ``{workflow}`` and ``{assignee}`` are
replaced by the task's values (single pass; nothing else is interpreted).

This module reads packaged resources only; it never touches a project.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
from importlib import resources
from typing import Any

import yaml

from qms.errors import NotFound, ProjectError, ValidationError

__all__ = [
    "TASK_TYPES",
    "REVIEW_WORKFLOWS",
    "APPROVAL_WORKFLOWS",
    "prompt_lookup_paths",
    "resolve_prompt",
    "load_prompt",
    "prompt_files",
    "schema_errors",
    "task_id",
    "task_filename",
    "render_task",
]

TASK_TYPES = ("review", "approval")
REVIEW_WORKFLOWS = ("REVIEW", "PRE_REVIEW", "POST_REVIEW")
APPROVAL_WORKFLOWS = ("APPROVAL", "PRE_APPROVAL", "POST_APPROVAL")
_WORKFLOWS = {"review": REVIEW_WORKFLOWS, "approval": APPROVAL_WORKFLOWS}

_PROMPTS_DIR = ("resources", "prompts")
_SEGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DOC_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,159}$")
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION_RE = re.compile(r"^\d{1,6}\.\d{1,6}$")
_TOKEN_RE = re.compile(r"\{(doc_id|version|workflow|assignee)\}")
_ANYONE = "<you>"  # command placeholder when the assignee is not known
_CONFIG_KEYS = ("checklist", "critical_reminders", "additional_sections",
                "custom_header", "custom_footer", "response_format")

_DEFAULT_RESPONSE = {
    "review": (
        "## Review: {doc_id} v{version} ({workflow})\n\n"
        "**Reviewer:** {assignee}\n\n"
        "### Checklist\n"
        "Copy every checklist table above with Status (PASS or FAIL) and Evidence filled in.\n\n"
        "### Findings\n"
        "1. Section, finding, required correction (or \"None\").\n\n"
        "### Recommendation\n"
        "RECOMMEND or UPDATES_REQUIRED, with a one-line reason.\n"),
    "approval": (
        "## Approval: {doc_id} v{version} ({workflow})\n\n"
        "**Approver:** {assignee}\n\n"
        "### Checklist\n"
        "Copy the checklist table above with Status (PASS or FAIL) and Evidence filled in.\n\n"
        "### Decision\n"
        "APPROVE, or REJECT with every reason listed.\n"),
}


# --------------------------------------------------------------------------- lookup


def _task_key(task_type: str) -> str:
    key = str(task_type or "").strip().lower()
    if key not in TASK_TYPES:
        raise ValidationError(f"Unknown task type: {task_type!r} (expected review or approval).",
                              task_type=task_type)
    return key


def _workflow_key(task: str, workflow_type: str) -> str:
    value = str(workflow_type or "").strip().upper()
    if value not in _WORKFLOWS[task]:
        raise ValidationError(
            f"Workflow {workflow_type!r} does not belong to a {task} task "
            f"(expected one of {', '.join(_WORKFLOWS[task])}).", workflow_type=workflow_type)
    return value.lower()


def _doctype_key(doc_type: str | None) -> str | None:
    if not doc_type:
        return None
    value = str(doc_type).strip().lower()
    return value if _SEGMENT_RE.match(value) and value != "default" else None


def _infer_doc_type(doc_id: str) -> str | None:
    """Best-effort type of an ID, only to pick a type-specific prompt file."""
    try:
        from qms.domain import doctypes
        return doctypes.type_of(doc_id.upper())
    except Exception:  # unknown shape or domain module unavailable: no type-specific file
        return None


def prompt_lookup_paths(task_type: str, workflow_type: str, doc_type: str | None = None
                        ) -> list[str]:
    """Candidate prompt files (relative to the prompts folder), most specific first."""
    task = _task_key(task_type)
    workflow = _workflow_key(task, workflow_type)
    candidates = []
    dtype = _doctype_key(doc_type)
    if dtype:
        candidates.append(f"{task}/{workflow}/{dtype}.yaml")
    candidates.append(f"{task}/{workflow}/default.yaml")
    candidates.append(f"{task}/default.yaml")
    return candidates


def _resource(relpath: str):
    node = resources.files("qms")
    for part in (*_PROMPTS_DIR, *relpath.split("/")):
        node = node.joinpath(part)
    return node


@functools.lru_cache(maxsize=None)
def _exists(relpath: str) -> bool:
    return _resource(relpath).is_file()


@functools.lru_cache(maxsize=None)
def _load(relpath: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_resource(relpath).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProjectError(f"Prompt file {relpath} cannot be read: {exc}", path=relpath) from None
    if data is None:
        data = {}
    problems = schema_errors(data)
    if problems:
        raise ProjectError(f"Prompt file {relpath} is invalid: {problems[0]}",
                           path=relpath, problems=problems)
    return data


def resolve_prompt(task_type: str, workflow_type: str, doc_type: str | None = None) -> str:
    """The prompt file that applies (first existing candidate); NotFound if none does."""
    candidates = prompt_lookup_paths(task_type, workflow_type, doc_type)
    for relpath in candidates:
        if _exists(relpath):
            return relpath
    raise NotFound(f"No prompt configuration for {task_type.lower()}/{workflow_type.lower()} "
                   f"(looked for {', '.join(candidates)}).", candidates=candidates)


def load_prompt(task_type: str, workflow_type: str, doc_type: str | None = None
                ) -> dict[str, Any]:
    """The validated configuration that applies (a copy; safe to modify)."""
    return copy.deepcopy(_load(resolve_prompt(task_type, workflow_type, doc_type)))


def prompt_files() -> list[str]:
    """Every packaged prompt YAML file, relative to the prompts folder, sorted."""
    found: list[str] = []

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            name = child.name
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
            elif name.endswith(".yaml"):
                found.append(prefix + name)

    root = _resource("")
    if root.is_dir():
        walk(root, "")
    return sorted(found)


# --------------------------------------------------------------------------- schema


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def schema_errors(data: Any) -> list[str]:
    """Every way ``data`` departs from the prompt schema (empty list = valid)."""
    if not isinstance(data, dict):
        return ["top level must be a mapping"]
    errors = [f"unknown key {key!r}" for key in data if key not in _CONFIG_KEYS]
    checklist = data.get("checklist", [])
    if not isinstance(checklist, list):
        errors.append("checklist must be a list")
        checklist = []
    for i, cat in enumerate(checklist):
        where = f"checklist[{i}]"
        if not isinstance(cat, dict):
            errors.append(f"{where} must be a mapping")
            continue
        extra = set(cat) - {"category", "items"}
        if extra:
            errors.append(f"{where} has unknown keys {sorted(extra)}")
        if not _is_text(cat.get("category")) or not cat.get("category", "").strip():
            errors.append(f"{where}.category must be a non-empty string")
        items = cat.get("items")
        if not isinstance(items, list) or not items:
            errors.append(f"{where}.items must be a non-empty list")
            continue
        for j, item in enumerate(items):
            iw = f"{where}.items[{j}]"
            if _is_text(item):
                if not item.strip():
                    errors.append(f"{iw} is empty")
            elif isinstance(item, dict):
                extra = set(item) - {"text", "evidence_prompt"}
                if extra:
                    errors.append(f"{iw} has unknown keys {sorted(extra)}")
                if not _is_text(item.get("text")) or not item.get("text", "").strip():
                    errors.append(f"{iw}.text must be a non-empty string")
                if "evidence_prompt" in item and not _is_text(item["evidence_prompt"]):
                    errors.append(f"{iw}.evidence_prompt must be a string")
            else:
                errors.append(f"{iw} must be a string or a mapping")
    reminders = data.get("critical_reminders", [])
    if not isinstance(reminders, list) or not all(_is_text(r) for r in reminders):
        errors.append("critical_reminders must be a list of strings")
    sections = data.get("additional_sections", [])
    if not isinstance(sections, list):
        errors.append("additional_sections must be a list")
        sections = []
    for i, sec in enumerate(sections):
        if (not isinstance(sec, dict) or set(sec) - {"title", "content"}
                or not _is_text(sec.get("title")) or not _is_text(sec.get("content", ""))):
            errors.append(f"additional_sections[{i}] must be {{title: str, content: str}}")
    for key in ("custom_header", "custom_footer", "response_format"):
        if data.get(key) is not None and not _is_text(data[key]):
            errors.append(f"{key} must be a string")
    return errors


# --------------------------------------------------------------------------- task files


def _check_doc_id(doc_id: str) -> str:
    if not isinstance(doc_id, str) or not _DOC_ID_RE.match(doc_id):
        raise ValidationError(f"Invalid document ID for a task file: {str(doc_id)[:60]!r}.")
    return doc_id


def _version_slug(version: str) -> str:
    value = str(version)
    if not _VERSION_RE.match(value):
        raise ValidationError(f"Invalid version for a task file: {value[:20]!r} (expected N.X).")
    return value.replace(".", "-")


def task_id(doc_id: str, workflow_type: str, version: str) -> str:
    """``task-{doc_id}-{workflow}-v{N-X}``, e.g. ``task-CR-097-post_review-v1-1``."""
    workflow = str(workflow_type or "").strip().upper()
    if workflow not in REVIEW_WORKFLOWS + APPROVAL_WORKFLOWS:
        raise ValidationError(f"Unknown workflow type: {workflow_type!r}.")
    return f"task-{_check_doc_id(doc_id)}-{workflow.lower()}-v{_version_slug(version)}"


def task_filename(doc_id: str, workflow_type: str, version: str) -> str:
    """The inbox file name of a task: its task id plus ``.md``."""
    return task_id(doc_id, workflow_type, version) + ".md"


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _cell(value: Any) -> str:
    """Text safe inside one Markdown table cell."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("|", "\\|")
    return "<br>".join(part.strip() for part in text.split("\n")).strip()


def _fenced(text: str, info: str = "") -> list[str]:
    """A code block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text.rstrip("\n"), fence]


def _substitute(text: str, values: dict[str, str]) -> str:
    return _TOKEN_RE.sub(lambda m: values[m.group(1)], text)


def _shell(value: str) -> str:
    if value == _ANYONE or _USER_RE.match(value) or _DOC_ID_RE.match(value):
        return value
    return shlex.quote(value)


def _frontmatter(fields: dict[str, Any]) -> str:
    dumped = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True,
                            default_flow_style=False, width=10**6)
    return f"---\n{dumped}---\n"


def _commands(task: str, doc_id: str, assignee: str) -> list[str]:
    user, doc = _shell(assignee), _shell(doc_id)
    u, d = json.dumps(assignee), json.dumps(doc_id)
    if task == "review":
        cli = [f'qms --user {user} review {doc} --recommend --comment "..."',
               f'qms --user {user} review {doc} --request-updates --comment "..."']
        mcp = [f'qms_review(user={u}, doc_id={d}, outcome="recommend", comment="...")',
               f'qms_review(user={u}, doc_id={d}, outcome="request-updates", comment="...")']
        intro = "Record exactly one outcome. The comment is mandatory and lists every finding."
    else:
        cli = [f"qms --user {user} approve {doc}",
               f'qms --user {user} reject {doc} --comment "..."']
        mcp = [f"qms_approve(user={u}, doc_id={d})",
               f'qms_reject(user={u}, doc_id={d}, comment="...")']
        intro = "Approve only a fully compliant document; a rejection states every reason."
    read = [f"qms --user {user} read {doc} --draft",
            f"qms --user {user} comments {doc}"]
    return ["## Commands", "", intro, "", "CLI:", "", *_fenced("\n".join(read + [""] + cli)),
            "", "MCP tools:", "", *_fenced("\n".join(mcp)), ""]


def render_task(*, task_type: str, workflow_type: str, doc_id: str, title: str, status: str,
                responsible_user: str | None, assigned_by: str, assigned_date: str,
                version: str, doc_type: str | None = None, assignee: str | None = None) -> str:
    """The full text of one inbox task file (YAML frontmatter + Markdown body).

    ``assignee`` is the inbox owner; it appears in the ready-to-run commands (when omitted,
    the commands show a ``<you>`` placeholder). ``doc_type`` selects a type-specific prompt; when omitted it is
    derived from ``doc_id``.
    """
    task = _task_key(task_type)
    workflow = _workflow_key(task, workflow_type).upper()
    tid = task_id(doc_id, workflow, version)
    if doc_type is None:
        doc_type = _infer_doc_type(doc_id)
    config = load_prompt(task, workflow, doc_type)

    who = str(assignee) if assignee else _ANYONE
    values = {"doc_id": doc_id, "version": str(version), "workflow": workflow, "assignee": who}

    def sub(text: Any) -> str:
        return _substitute(str(text), values)

    fields = {
        "task_id": tid,
        "task_type": task.upper(),
        "workflow_type": workflow,
        "doc_id": doc_id,
        "title": "" if title is None else str(title),
        "status": str(status),
        "responsible_user": None if responsible_user is None else str(responsible_user),
        "assigned_by": str(assigned_by),
        "assigned_date": str(assigned_date),
        "version": str(version),
    }
    out: list[str] = [_frontmatter(fields)]

    header = config.get("custom_header")
    if header and header.strip():
        out += [sub(header).strip(), "", "---", ""]

    noun = "Review" if task == "review" else "Approval"
    out += [f"# {noun} Request: {doc_id}", ""]
    out += [f"- **Document:** {doc_id}: {_one_line(fields['title'])}",
            f"- **Workflow:** {workflow}",
            f"- **Version:** {version}",
            f"- **Status:** {_one_line(status)}",
            f"- **Assigned by:** {_one_line(assigned_by)}",
            f"- **Date:** {_one_line(assigned_date)}", ""]
    if task == "review":
        out += ["Review the document against every checklist item below and record evidence "
                "for each. Then record your outcome with one of the commands at the end.", ""]
    else:
        out += ["Confirm every checklist item below with evidence before you decide. Then "
                "approve or reject with one of the commands at the end.", ""]

    checklist = config.get("checklist") or []
    if checklist:
        out += ["## Mandatory Checklist", ""]
        for category in checklist:
            out += [f"### {_one_line(sub(category['category']))}", "",
                    "| Item | Status | Evidence |", "|------|--------|----------|"]
            for item in category["items"]:
                if isinstance(item, str):
                    text, prompt = item, ""
                else:
                    text, prompt = item["text"], item.get("evidence_prompt") or ""
                evidence = f"({_cell(sub(prompt))})" if prompt.strip() else ""
                out.append(f"| {_cell(sub(text))} | PASS / FAIL | {evidence} |")
            out.append("")

    response = config.get("response_format") or _DEFAULT_RESPONSE[task]
    out += ["## Required Response Format", "", *_fenced(sub(response), "markdown"), ""]

    reminders = config.get("critical_reminders") or []
    if reminders:
        out += ["## Critical Reminders", ""]
        out += [f"- {_one_line(sub(r))}" for r in reminders]
        out.append("")

    for section in config.get("additional_sections") or []:
        out += [f"## {_one_line(sub(section['title']))}", "",
                sub(section.get("content") or "").strip(), ""]

    out += _commands(task, doc_id, who)

    footer = config.get("custom_footer")
    if footer and footer.strip():
        out += ["---", "", sub(footer).strip(), ""]

    return "\n".join(out).rstrip("\n") + "\n"
