"""The qms MCP tools: thin wrappers that resolve the caller's identity and call one operation
in-process. Success -> structured ``{"ok": true, "result": ...}`` plus the rendered text;
a refusal (any ``QMSError``) -> a tool error (``isError``) carrying the operation's message
and ``{"ok": false, "error": err.to_dict()}``.

Read-only tools are ``async``: their operations only read a few small files and take no lock,
so they run on the event loop without a thread hop. Mutating tools are plain functions, which
the SDK runs on worker threads, because they may wait for the project lock.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from qms import operations as ops
from qms.errors import QMSError, from_os_error
from qms.mcp import hints
from qms.mcp.auth import request_credential, stdio_credential
from qms.mcp.identity import Credential, IdentityRegistry
from qms.store.project import Project


@dataclass(frozen=True)
class Backend:
    """Shared by every call (handed to tools as the server's lifespan context)."""

    project: Project
    registry: IdentityRegistry
    stdio_secret: str | None = field(default=None, repr=False)  # stdio: the server's own token

    def credential(self, request: object) -> Credential | None:
        """The caller's verified token: the HTTP request's, or on stdio the server's own."""
        if request is None:
            return stdio_credential(self.project, self.stdio_secret)
        return request_credential(request)


class ToolOutput(BaseModel):
    """Structured content of every qms tool."""

    ok: bool
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


Out = Annotated[CallToolResult, ToolOutput]
User = Annotated[str, Field(description="Your own QMS identity, e.g. 'claude' (never another's).")]
DocId = Annotated[str, Field(description="Document ID, e.g. 'CR-001' or 'CR-001-VAR-001'.")]
Version = Annotated[str | None, Field(description="A version 'N.X', e.g. '1.0' or '0.1' (no 'v').")]
Comment = Annotated[str, Field(description="Your comment (required, not empty).")]
Reason = Annotated[str, Field(description="Why (required; recorded in the audit trail).")]


def _ok(text: str, result: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content={"ok": True, "result": result})


def _refused(err: QMSError) -> CallToolResult:
    error = hints.for_mcp(err.to_dict(), TOOL_NAMES)
    return CallToolResult(content=[TextContent(type="text", text=error["message"])],
                          structured_content={"ok": False, "error": error}, is_error=True)


def _identity(ctx: Context, user: str) -> tuple[Backend, str]:
    backend: Backend = ctx.request_context.lifespan_context
    credential = backend.credential(ctx.request_context.request)
    return backend, backend.registry.resolve(user, ctx.headers, credential)


def _call(ctx: Context, user: str, operation: Callable[..., Any], **kwargs: Any) -> CallToolResult:
    """Resolve the caller's identity, then run `operation` (a `qms.operations` function)."""
    try:
        backend, identity = _identity(ctx, user)
        result = operation(backend.project, identity, **kwargs)
    except QMSError as err:
        return _refused(err)
    except OSError as exc:  # the file system refused: a structured error, like the CLI's
        return _refused(from_os_error(exc))
    text, data = result.render(), result.to_dict()
    if operation not in _RECORDS:  # next-step hints name tools; records are shown as they are
        text = hints.for_mcp(text, TOOL_NAMES)
        data.update(hints.for_mcp({k: data[k] for k in ("message", "notices") if k in data},
                                  TOOL_NAMES))
    return _ok(text, data)


async def qms_inbox(user: User, ctx: Context) -> Out:
    """List the review/approval tasks waiting for `user`."""
    return _call(ctx, user, ops.inbox)


async def qms_workspace(user: User, ctx: Context) -> Out:
    """List the documents `user` has checked out."""
    return _call(ctx, user, ops.workspace)


async def qms_status(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Show a document's status, version, owner and pending assignees."""
    return _call(ctx, user, ops.status, doc_id=doc_id)


async def qms_read(
    user: User, doc_id: DocId, ctx: Context, version: Version = None,
    draft: Annotated[bool, Field(description="Read the current draft instead.")] = False,
) -> Out:
    """Read a document: by default its effective version (the draft if it was never
    effective), or an archived `version`, or the current `draft`."""
    return _call(ctx, user, ops.read, doc_id=doc_id, version=version, draft=draft)


async def qms_history(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Show a document's audit trail (other reviewers' reviews of an open round are sealed)."""
    return _call(ctx, user, ops.history, doc_id=doc_id)


async def qms_comments(user: User, doc_id: DocId, ctx: Context, version: Version = None) -> Out:
    """Show the review/approval comments on a document (optionally for one `version`); other
    reviewers' comments of an open review round stay hidden until it completes."""
    return _call(ctx, user, ops.comments, doc_id=doc_id, version=version)


def qms_create(
    user: User,
    doc_type: Annotated[str, Field(description="CR, INV, SOP, TP, ER, VAR, ADD, VR, TEMPLATE or "
                                               "{NS}-RS / {NS}-RTM (case-insensitive).")],
    title: Annotated[str, Field(description="The document's title.")],
    ctx: Context,
    parent: Annotated[str | None, Field(description="Parent document ID; required for the "
                                                    "child types TP, ER, VAR, ADD, VR.")] = None,
    name: Annotated[str | None, Field(description="Template name, TEMPLATE only (e.g. 'CR' "
                                                  "gives TEMPLATE-CR).")] = None,
) -> Out:
    """Create a document of `doc_type` (CR, INV, SOP, TP, ER, VAR, ADD, VR, TEMPLATE with `name`,
    {NS}-RS/{NS}-RTM; child types need `parent`), checked out to `user`."""
    return _call(ctx, user, ops.create, doc_type=doc_type, title=title, parent=parent, name=name)


def qms_checkout(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Check a document out into `user`'s workspace for editing."""
    return _call(ctx, user, ops.checkout, doc_id=doc_id)


def qms_checkin(
    user: User, doc_id: DocId, ctx: Context,
    content: Annotated[str | None, Field(
        description="The complete new text of the document, starting with a '---' frontmatter "
                    "block holding 'title:' and 'revision_summary:'. Omit to check in the "
                    "workspace copy as it is.")] = None,
) -> Out:
    """Check a document in. When `content` is given it first replaces the workspace copy,
    so an agent without write access to the tree can still check in. VRs are authored with
    `qms_interact` instead; their `content` is ignored."""
    return _call(ctx, user, ops.checkin, doc_id=doc_id, content=content)


def qms_cancel(
    user: User, doc_id: DocId, ctx: Context,
    confirm: Annotated[bool, Field(description="true cancels; false only lists what would "
                                               "be deleted (and is refused).")] = False,
) -> Out:
    """Cancel a never-approved, checked-in document, version 0.x (requires `confirm=true`; the
    audit trail is kept and the ID is never reused). Check a checked-out document in first."""
    return _call(ctx, user, ops.cancel, doc_id=doc_id, confirm=confirm)


def qms_route(
    user: User, doc_id: DocId,
    route_type: Annotated[Literal["review", "approval"], Field(
        description="'review' (from DRAFT, or IN_EXECUTION once executed) or 'approval' "
                    "(after a completed review round without update requests).")],
    ctx: Context,
    retire: Annotated[bool, Field(description="With route_type='approval': the approval "
                                              "retires the document.")] = False,
    assignees: Annotated[list[str] | None, Field(
        description="Who gets the task (default ['qa']; never the document's author); "
                    "approval: quality or reviewer users only.")] = None,
) -> Out:
    """Route your document for review or approval (`retire=true`: the approval retires it).
    The task goes to `assignees` (default `qa`); a quality user adds others with
    `qms_assign`."""
    return _call(ctx, user, ops.route, doc_id=doc_id, route_type=route_type, retire=retire,
                 assignees=assignees)


def qms_assign(
    user: User, doc_id: DocId,
    assignees: Annotated[list[str], Field(description="QMS users to add, e.g. ['tu'] (approval: "
                                                      "quality or reviewer users only).")],
    ctx: Context,
) -> Out:
    """Add assignees to a document's current review or approval."""
    return _call(ctx, user, ops.assign, doc_id=doc_id, assignees=assignees)


def qms_review(
    user: User, doc_id: DocId,
    outcome: Annotated[Literal["recommend", "request-updates"], Field(
        description="'recommend' or 'request-updates' (the owner must revise).")],
    comment: Comment, ctx: Context,
) -> Out:
    """Submit a review: `recommend` or `request-updates`, with a comment."""
    return _call(ctx, user, ops.review, doc_id=doc_id, outcome=outcome, comment=comment)


def qms_approve(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Approve a document assigned to you for approval."""
    return _call(ctx, user, ops.approve, doc_id=doc_id)


def qms_reject(user: User, doc_id: DocId, comment: Comment, ctx: Context) -> Out:
    """Reject a document assigned to you for approval, with a comment."""
    return _call(ctx, user, ops.reject, doc_id=doc_id, comment=comment)


def qms_withdraw(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Withdraw a document from review or approval (owner only)."""
    return _call(ctx, user, ops.withdraw, doc_id=doc_id)


def qms_release(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Release your pre-approved executable document for execution."""
    return _call(ctx, user, ops.release, doc_id=doc_id)


def qms_revert(user: User, doc_id: DocId, reason: Reason, ctx: Context) -> Out:
    """Deprecated (prefer checkout): move a POST_REVIEWED document back to execution."""
    return _call(ctx, user, ops.revert, doc_id=doc_id, reason=reason)


def qms_close(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Close your post-approved executable document (cascades to its VRs)."""
    return _call(ctx, user, ops.close, doc_id=doc_id)


def qms_fix(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Administrator: repair legacy frontmatter of an effective or closed document."""
    return _call(ctx, user, ops.fix, doc_id=doc_id)


def qms_unlock(user: User, doc_id: DocId, reason: Reason, ctx: Context) -> Out:
    """Administrator: release a stale checkout, with a reason (audited)."""
    return _call(ctx, user, ops.unlock, doc_id=doc_id, reason=reason)


def qms_interact(
    user: User,
    doc_id: DocId,
    ctx: Context,
    respond: Annotated[str | None, Field(
        description="Your answer to the current prompt (gates: 'yes' or 'no').")] = None,
    file: Annotated[str | None, Field(
        description="Instead of `respond`: a UTF-8 text file inside the project (relative "
                    "to the project root) whose text is the answer.")] = None,
    reason: Annotated[str | None, Field(
        description="Why: required with `goto` and `reopen`; with `respond` only during an "
                    "amendment (it then replaces the goto reason).")] = None,
    goto: Annotated[str | None, Field(
        description="Amend an answered prompt, e.g. 'objective' or 'step_actual.2'; the next "
                    "`respond` is appended to it.")] = None,
    cancel_goto: Annotated[bool, Field(description="Abandon the amendment in progress.")] = False,
    reopen: Annotated[str | None, Field(
        description="Reopen a closed loop by name, e.g. 'steps'.")] = None,
    progress: Annotated[bool, Field(description="Only list every prompt and whether it is "
                                                "answered.")] = False,
    compile: Annotated[bool, Field(description="Only preview the compiled document.")] = False,
) -> Out:
    """Author a Verification Record interactively: with no options, show the current prompt;
    `respond` (or answer from `file`), `goto`/`cancel_goto`/`reopen` a prompt (with a
    `reason`), show `progress`, or preview the `compile`d document. When every prompt is
    answered, `qms_checkin` the VR."""
    return _call(
        ctx, user, ops.interact, doc_id=doc_id, respond=respond, file=file, reason=reason,
        goto=goto, cancel_goto=cancel_goto, reopen=reopen, progress=progress, compile=compile,
    )


def qms_qualify(
    user: User,
    namespace: Annotated[str, Field(description="SDLC namespace whose SDLC-{NS}-RS states the "
                                                "requirements, e.g. 'QMS'.")],
    junit: Annotated[list[str], Field(description="JUnit XML files inside the project "
                                                  "(relative to the project root).")],
    ctx: Context,
    check: Annotated[bool, Field(description="true: write nothing, only report the gaps "
                                             "(result.passed is false when there are any).")]
    = False,
) -> Out:
    """Trace JUnit XML test results to the requirements of the effective SDLC-{NS}-RS:
    per requirement `verified`, `failing` or `untested`, plus unknown IDs. Unless `check`,
    write SDLC-{NS}-RTM (created or checked out, then checked in) with the stored, hashed
    evidence, ready to route for review."""
    return _call(ctx, user, ops.qualify, namespace=namespace, junit=junit, check=check)


def qms_verify(
    user: User, ctx: Context,
    doc_ids: Annotated[list[str] | None, Field(
        description="Only these documents (default: all; the project chain is always "
                    "checked).")] = None,
    all_signatures: Annotated[bool, Field(
        description="Verify every signature, not only the last one of each key.")] = False,
) -> Out:
    """Check the tamper-evident audit trail: the hash chain and its signatures, content
    hashes of approved texts, and meta against the trail. `result.clean` is false and
    `result.findings` names each document when anything was changed outside qms.
    (Runs on a worker thread: a large project takes seconds.)"""
    return _call(ctx, user, ops.verify, doc_ids=doc_ids, all_signatures=all_signatures)


def qms_code_checkout(user: User, doc_id: DocId, ctx: Context) -> Out:
    """Give `user`, the responsible user of CR `doc_id` while it is IN_EXECUTION, a writable
    clone of its execution branch cr/CR-NNN (a code area; result `path`). Commit there and
    `git push`: the push gate checks every path against the CR's approved scope."""
    return _call(ctx, user, ops.code_checkout, doc_id=doc_id)


async def qms_noop(user: User, ctx: Context) -> Out:
    """Benchmark probe: resolves the identity like every tool, then does nothing."""
    try:
        _identity(ctx, user)
    except QMSError as err:
        return _refused(err)
    return _ok("ok", {})


TOOLS = (
    qms_inbox, qms_workspace, qms_status, qms_read, qms_history, qms_comments, qms_create,
    qms_checkout, qms_checkin, qms_cancel, qms_route, qms_assign, qms_review, qms_approve,
    qms_reject, qms_withdraw, qms_release, qms_revert, qms_close, qms_fix, qms_unlock, qms_interact,
    qms_qualify, qms_verify, qms_code_checkout,
)


TOOL_NAMES = frozenset(fn.__name__ for fn in TOOLS)
_RECORDS = (ops.read, ops.history, ops.comments)  # their text is the record itself


def register(server: MCPServer, noop: bool = False) -> None:
    """Add every qms tool to `server` (plus the benchmark `qms_noop` when asked)."""
    for fn in (*TOOLS, qms_noop) if noop else TOOLS:
        read_only = inspect.iscoroutinefunction(fn)
        server.add_tool(fn, annotations=ToolAnnotations(read_only_hint=read_only))
