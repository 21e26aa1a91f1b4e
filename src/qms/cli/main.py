"""``qms``: the command-line adapter. Parses arguments, calls one operation, renders it.

Errors become output in exactly one place (:func:`main`): ``Error: ...`` on stderr with exit
1 (refused) or 2 (usage), or with ``--json`` one ``{"ok": false, "error": {...}}`` object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from qms.cli.argv import command_word
from qms.errors import QMSError, UsageError, from_os_error

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Sequence

# commands that do not act as a user
_NO_USER = {"init", "mcp-config", "hook"}
# commands whose only argument is the document ID -> their operation (looked up when run, so
# only the command being run is imported; an editor can follow each one)
_DOC_ONLY = {
    "checkout": lambda ops: ops.checkout, "checkin": lambda ops: ops.checkin,
    "status": lambda ops: ops.status, "approve": lambda ops: ops.approve,
    "withdraw": lambda ops: ops.withdraw, "release": lambda ops: ops.release,
    "close": lambda ops: ops.close, "fix": lambda ops: ops.fix,
    "history": lambda ops: ops.history,
}


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, minus the ``shutil`` import and terminal query it makes per
    instance (argparse builds one for every argument added)."""

    def __init__(self, prog: str, **kw) -> None:
        kw.setdefault("width", _help_width())
        super().__init__(prog, **kw)


_WIDTH: list[int] = []


def _help_width() -> int:
    if not _WIDTH:
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 80
        _WIDTH.append(max(columns, 40) - 2)
    return _WIDTH[0]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw) -> None:
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str):  # usage errors: one line, exit 2
        raise UsageError(f"{message} (see: {self.prog} --help)")


class _OnlyCommand:
    """Stands in for the subparsers action so that only the parser of the command being run
    is built: building all of them is most of the CLI's argument-parsing start-up time."""

    def __init__(self, sub, wanted: str) -> None:
        self._sub, self._wanted, self.found = sub, wanted, False

    def add_parser(self, name: str, **kw):
        if name != self._wanted:
            return _IGNORED
        self.found = True
        return self._sub.add_parser(name, **kw)


class _Ignored:
    """The parser of a command that is not being run: accepts and drops every definition."""

    def __getattr__(self, name: str):
        return lambda *args, **kw: self


_IGNORED = _Ignored()


def _doc(sub, name: str, help_: str, **kw) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_, **kw)
    p.add_argument("doc_id", metavar="ID", help="document ID, e.g. CR-001")
    return p


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; given ``command``, only that command's subparser is built."""
    parser = _Parser(prog="qms", description="Git-native GMP document control.")
    parser.add_argument("-u", "--user", help="act as this QMS user (required except for init, "
                        "mcp-config and hook)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--token-file", metavar="FILE", help="file holding your token (else "
                        "$QMS_TOKEN_FILE, $QMS_TOKEN); needed when the project sets auth.cli")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if command is not None:
        sub = _OnlyCommand(sub, command)

    p = sub.add_parser("init", help="create a QMS project", description="Create a QMS project "
                       "(folders, seed templates and SOPs, agents, write-guard hook).")
    p.add_argument("--root", help="project folder (default: current directory)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = sub.add_parser("user", help="add, change, remove or list users (administrator)",
                       description="Users and their groups are signed state: each change is "
                       "a signed project event, and qms keeps each user's "
                       ".claude/agents/NAME.md group: and display_name: lines in step "
                       "(administrator).")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--add", metavar="NAME", help="add a user (with --group GROUP)")
    g.add_argument("--remove", metavar="NAME", help="remove a user (their signatures stay)")
    g.add_argument("--list", action="store_true", help="list users, groups and display "
                   "names, and any agent file that disagrees with them")
    p.add_argument("--group", nargs="+", metavar="ARG", help="with --add: the new user's "
                   "GROUP; alone: NAME GROUP moves NAME to GROUP (administrator, initiator, "
                   "quality, reviewer)")
    p.add_argument("--display-name", nargs="+", metavar="ARG", help="with --add: the "
                   "printed name the user's signatures show; alone: NAME TEXT sets it ('' "
                   "for the user ID)")

    p = sub.add_parser("token", help="issue, list or revoke tokens (administrator)",
                       description="Per-user bearer tokens for the MCP server and the CLI "
                       "(administrator).")
    t = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True,
                         help="issue, list or revoke")
    q = t.add_parser("issue", help="issue a token to USER (shown once)")
    q.add_argument("name", metavar="USER", help="the token's user")
    q.add_argument("--label", help="what the token is for, e.g. 'container qa'")
    q.add_argument("--expires-days", type=int, metavar="N", help="expire after N days")
    t.add_parser("list", help="list tokens (never secrets)")
    q = t.add_parser("revoke", help="revoke a token (refused from the next call on)")
    q.add_argument("token_id", metavar="TOKEN_ID", help="from qms token list")

    p = sub.add_parser("passkey", help="enroll, list or revoke passkeys (docs/passkeys.md)",
                       description="Passkeys (WebAuthn) for signing in the browser: enroll "
                       "and revoke (administrator), list.")
    t = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True,
                         help="enroll, list or revoke")
    q = t.add_parser("enroll", help="print a one-time enrollment link for USER")
    q.add_argument("name", metavar="USER", help="whose passkey")
    q.add_argument("--url", help="the dashboard's origin (default: signatures.origin, else "
                   "http://localhost:8000)")
    q.add_argument("--minutes", type=int, default=15, metavar="N",
                   help="the link expires after N minutes (default 15)")
    t.add_parser("list", help="list enrolled passkeys (with their AAGUID)")
    q = t.add_parser("revoke", help="revoke a passkey")
    q.add_argument("name", metavar="USER", help="whose passkey")
    q.add_argument("cred", metavar="CRED_ID", help="from qms passkey list")

    p = sub.add_parser("config", help="show or change project settings",
                       description="Project settings (set: administrator). auth.cli = off | "
                       "required: every command needs a token for its --user.")
    t = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True,
                         help="get or set")
    q = t.add_parser("get", help="show a setting (default: all)")
    q.add_argument("key", nargs="?", metavar="KEY", help="e.g. auth.cli")
    q = t.add_parser("set", help="change a setting (audited)")
    q.add_argument("key", metavar="KEY", help="e.g. auth.cli")
    q.add_argument("value", metavar="VALUE", help="e.g. required")

    p = sub.add_parser("namespace", help="list or add SDLC namespaces",
                       description="List or add SDLC namespaces for {NS}-RS/{NS}-RTM documents.")
    p.add_argument("action", choices=["list", "add"], help="list namespaces, or add one")
    p.add_argument("name", nargs="?", help="namespace to add, e.g. WEB")

    p = sub.add_parser("system", help="list or add systems (code under change control)",
                       description="Systems: parts of the project's repository (path "
                       "prefixes) whose requirements live in SDLC-{NS}-RS/-RTM; adding the "
                       "first one installs the push gate (add: administrator; "
                       "docs/code-control.md).")
    t = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True,
                         help="list or add")
    t.add_parser("list", help="list systems")
    q = t.add_parser("add", help="add a system (audited)")
    q.add_argument("name", metavar="NAME", help="system name, e.g. APP")
    q.add_argument("--path", dest="paths", action="append", required=True, metavar="PREFIX",
                   help="repository-relative folder of the system (repeatable)")
    q.add_argument("--namespace", metavar="NS", help="SDLC namespace of its RS/RTM "
                   "(default: NAME; added when missing)")
    q.add_argument("--genesis", action="append", metavar="USER", help="a new system grown on "
                   "genesis/NAME: USER may push there until an adoption CR lands it "
                   "(repeatable)")

    p = sub.add_parser("code", help="code areas of a CR in execution",
                       description="Code areas: a clone of a CR's execution branch for its "
                       "executor (docs/code-control.md).")
    t = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True,
                         help="checkout, status, remove or install-hook")
    q = t.add_parser("checkout", help="a writable clone of cr/CR-NNN for you (--json: path)")
    q.add_argument("doc_id", metavar="ID", help="the CR, e.g. CR-001")
    t.add_parser("status", help="list your code areas")
    q = t.add_parser("remove", help="drop one of your code areas")
    q.add_argument("doc_id", metavar="ID", help="the CR, e.g. CR-001")
    q.add_argument("--force", action="store_true", help="even with uncommitted or unpushed "
                   "work")
    q = t.add_parser("install-hook", help="install the push gate (administrator)")
    q.add_argument("--repo", metavar="PATH", help="a (bare) repository that receives this "
                   "project's pushes (default: the project's own)")

    p = _doc(sub, "gate", "may a CR's branch land on main? (read-only; exit 0 pass, 1 "
             "fail, 2 could not check)")
    p.add_argument("--head", metavar="SHA", help="the commit to judge (default: the tip of "
                   "cr/CR-NNN)")
    p.add_argument("--qms-ref", metavar="REF", help="read the QMS state committed at this git "
                   "revision and take it as main, e.g. origin/main (a CI job)")

    _doc(sub, "merge", "land a CR's branch on main through the gate, with a release tag (the "
         "CR's responsible user)")

    p = sub.add_parser("create", help="create a document (checked out to you)",
                       description="Create a document from its template, checked out to you.")
    p.add_argument("doc_type", metavar="TYPE", help="SOP, CR, INV, TP, ER, VAR, ADD, VR, "
                   "TEMPLATE or {NS}-RS/{NS}-RTM")
    p.add_argument("--title", required=True, help="document title")
    p.add_argument("--parent", help="parent document (child types)")
    p.add_argument("--name", help="template name (TEMPLATE only)")

    p = _doc(sub, "read", "print a document (effective, draft or an archived version)")
    p.add_argument("--draft", action="store_true", help="read the draft")
    p.add_argument("-v", "--version", help="read version N.X")

    _doc(sub, "checkout", "check a document out into your workspace")
    _doc(sub, "checkin", "check your workspace copy back in")
    _doc(sub, "status", "show a document's status")

    p = _doc(sub, "route", "route a document for review or approval")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--review", dest="route_type", action="store_const", const="review",
                   help="route for review (from DRAFT, or IN_EXECUTION once executed)")
    g.add_argument("--approval", dest="route_type", action="store_const", const="approval",
                   help="route for approval (after a completed review round)")
    p.add_argument("--retire", action="store_true", help="approval retires the document")
    p.add_argument("--assign", dest="assignees", nargs="+", metavar="USER",
                   help="assignees (default: qa; never the author)")

    p = _doc(sub, "assign", "add reviewers/approvers (quality)")
    p.add_argument("--assignees", nargs="+", required=True, metavar="USER",
                   help="users to add to the current review or approval")

    p = _doc(sub, "review", "submit your review")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--recommend", dest="outcome", action="store_const", const="recommend",
                   help="recommend the document for approval")
    g.add_argument("--request-updates", dest="outcome", action="store_const",
                   const="request-updates", help="ask the owner to revise it")
    p.add_argument("--comment", required=True, help="your review comment")

    _doc(sub, "approve", "approve a document assigned to you")
    p = _doc(sub, "reject", "reject a document in approval")
    p.add_argument("--comment", required=True, help="why it is rejected")
    _doc(sub, "withdraw", "withdraw your document from review/approval")
    _doc(sub, "release", "release a pre-approved document for execution")
    p = _doc(sub, "revert", "deprecated: POST_REVIEWED back to IN_EXECUTION")
    p.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    _doc(sub, "close", "close a post-approved document (cascades to its VRs)")
    p = _doc(sub, "cancel", "cancel a never-approved, checked-in document")
    p.add_argument("--confirm", action="store_true", help="really delete it")
    _doc(sub, "fix", "repair legacy frontmatter (administrator)")
    _doc(sub, "history", "show the audit trail")
    p = _doc(sub, "comments", "show review and rejection comments")
    p.add_argument("-v", "--version", help="only comments on version N.X")
    sub.add_parser("inbox", help="list your tasks", description="List your pending tasks.")
    sub.add_parser("workspace", help="list your checked-out documents",
                   description="List the documents in your workspace.")
    p = _doc(sub, "unlock", "release a stale checkout (administrator)")
    p.add_argument("--reason", required=True, help="why (recorded in the audit trail)")

    p = _doc(sub, "interact", "author a Verification Record interactively")
    p.add_argument("--respond", nargs="?", const="", default=None, metavar="VALUE",
                   help="answer the current prompt (with --file: take the answer from a file)")
    p.add_argument("--file", help="file whose text is the answer")
    p.add_argument("--reason", help="reason for an amendment or reopening")
    p.add_argument("--goto", metavar="PROMPT", help="amend an earlier answer")
    p.add_argument("--cancel-goto", action="store_true", help="abandon an amendment")
    p.add_argument("--reopen", metavar="LOOP", help="reopen a closed loop")
    p.add_argument("--progress", action="store_true", help="show progress")
    p.add_argument("--compile", action="store_true", help="preview the compiled document")

    p = sub.add_parser("qualify", help="traceability matrix from JUnit XML test results",
                       description="Trace test results (JUnit XML) to the requirements of "
                       "the effective SDLC-{NS}-RS; write SDLC-{NS}-RTM with the evidence, or "
                       "with --check only report the gaps (exit 1 if any).")
    p.add_argument("namespace", metavar="NS", help="SDLC namespace, e.g. QMS")
    p.add_argument("--junit", action="append", required=True, metavar="FILE",
                   help="JUnit XML file inside the project (repeatable)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 on any "
                   "failing or untested requirement or unknown ID")
    p.add_argument("--commit", metavar="SHA", help="the commit the tests ran on (default: "
                   "the files' qms.commit property, else HEAD of the repository you are in, "
                   "which must have no uncommitted changes outside QMS/)")

    p = sub.add_parser("verify", help="check the audit chain, signatures and content hashes",
                       description="Check the audit chain, its signatures, content hashes and "
                       "meta against the audit trail. Exit 0 when clean, 1 when anything is "
                       "found.")
    p.add_argument("doc_ids", nargs="*", metavar="ID", help="only these documents "
                   "(default: all; the chain is always checked)")
    p.add_argument("--all-signatures", action="store_true", help="verify every signature, "
                   "not only the last one of each key (slower)")
    p.add_argument("--since", metavar="REF", help="also check that the chain committed at "
                   "this git revision is a prefix of today's (HEAD is always checked)")
    p.add_argument("--code", action="store_true", help="only the chain and the project's "
                   "repository against it: every commit on main a qms merge or qms data, "
                   "release tags and branches as recorded (run by default when the project "
                   "has a system)")

    p = sub.add_parser("export", help="write an archival PDF/A-3 of a record",
                       description="Write the PDF/A-3 dossier of a record: cover, controlled "
                       "text, signatures, audit trail, integrity statement, with the Markdown "
                       "source, trail and verify result attached (docs/export.md). Refused when "
                       "the record does not verify, unless --allow-findings.")
    p.add_argument("doc_id", nargs="?", metavar="ID", help="the document (or --all)")
    p.add_argument("--all", action="store_true", help="every document into the folder "
                   "--output DIR, plus index.pdf and index.json")
    p.add_argument("-v", "--version", help="export version N.X (default: the one qms read "
                   "shows)")
    p.add_argument("-o", "--output", metavar="PATH", help="the PDF to write (default: "
                   "ID-vN.X.pdf here); with --all the folder (required)")
    p.add_argument("--allow-findings", action="store_true", help="export even when verify "
                   "finds something (printed in red on the cover)")
    p.add_argument("--force", action="store_true", help="replace an existing file")

    p = sub.add_parser("key", help="the project's signing keys",
                       description="List the signing keys, start a new one, or import an "
                       "existing private key as the next one (administrator).")
    p.add_argument("action", choices=["list", "rotate", "import"], help="list keys, rotate, "
                   "or import FILE")
    p.add_argument("file", nargs="?", metavar="FILE", help="with import: the private key "
                   "(64 hex digits, the .qms/keys/ID.key format; mode 0600, outside the "
                   "project's records)")
    p.add_argument("--without-previous-key", action="store_true", help="rotate on a copy "
                   "that lacks the current private key (verify reports it)")

    p = sub.add_parser("mcp-config", help="print .mcp.json for Claude Code",
                       description="Print a valid .mcp.json on stdout (the HTTP single "
                       "authority; --stdio: a private stdio server) and how to use it on "
                       "stderr: qms mcp-config > .mcp.json")
    p.add_argument("--url", help="the server's endpoint (default: the project's running "
                   "background server, else http://127.0.0.1:8000/mcp)")
    p.add_argument("--stdio", action="store_true", help="a private stdio server instead")

    p = sub.add_parser("hook", help="Claude Code and git hooks",
                       description="Claude Code and git hooks.")
    p.add_argument("name", choices=["write-guard", "pre-receive", "pre-commit"],
                   help="the hook to run: write-guard (reads the PreToolUse event on stdin), "
                   "pre-receive (the push gate git runs), pre-commit (a code area's warning)")
    p.add_argument("--project", metavar="DIR", help="pre-receive: the governed project "
                   "(written into the installed hook)")
    if command is not None and not sub.found:  # not a command: argparse explains, with all
        return build_parser()
    return parser


def _call(args: argparse.Namespace) -> Any:
    """Dispatch parsed arguments to the operation (imports only what the command needs)."""
    from qms import operations as ops

    cmd = args.command
    if cmd == "init":
        return ops.init(args.root, yes=args.yes, confirm=_ask)
    from qms.store.project import Project

    from qms.cli import auth

    project = Project.discover()
    user = args.user
    if cmd == "gate" and not user:  # read-only, of committed data: a CI job has no identity
        return ops.gate(project, None, doc_id=args.doc_id, head=args.head,
                        qms_ref=args.qms_ref)
    auth.check(project, user, args.token_file)
    if cmd in _DOC_ONLY:
        return _DOC_ONLY[cmd](ops)(project, user, doc_id=args.doc_id)
    if cmd == "user":
        return _user(ops, project, user, args)
    if cmd == "namespace":
        if args.action == "list":
            return ops.namespace_list(project, user)
        if not args.name:
            raise UsageError("namespace add needs a NAME.")
        return ops.namespace_add(project, user, name=args.name)
    if cmd == "token":
        if args.action == "issue":
            return ops.token_issue(project, user, name=args.name, label=args.label,
                                   expires_days=args.expires_days)
        if args.action == "list":
            return ops.token_list(project, user)
        return ops.token_revoke(project, user, token_id=args.token_id)
    if cmd == "passkey":
        if args.action == "enroll":
            return ops.passkey_enroll(project, user, name=args.name, url=args.url,
                                      minutes=args.minutes)
        if args.action == "list":
            return ops.passkey_list(project, user)
        return ops.passkey_revoke(project, user, name=args.name, cred=args.cred)
    if cmd == "config":
        if args.action == "get":
            return ops.config_get(project, user, key=args.key)
        return ops.config_set(project, user, key=args.key, value=args.value)
    if cmd == "system":
        if args.action == "list":
            return ops.system_list(project, user)
        return ops.system_add(project, user, name=args.name, paths=args.paths,
                              namespace=args.namespace, genesis=args.genesis)
    if cmd == "code":
        return _code(ops, project, user, args)
    if cmd == "gate":
        return ops.gate(project, user, doc_id=args.doc_id, head=args.head, qms_ref=args.qms_ref)
    if cmd == "merge":
        return ops.merge(project, user, doc_id=args.doc_id)
    if cmd == "create":
        return ops.create(project, user, doc_type=args.doc_type, title=args.title,
                          parent=args.parent, name=args.name)
    if cmd == "read":
        return ops.read(project, user, doc_id=args.doc_id, version=args.version, draft=args.draft)
    if cmd == "route":
        return ops.route(project, user, doc_id=args.doc_id, route_type=args.route_type,
                         retire=args.retire, assignees=args.assignees)
    if cmd == "assign":
        return ops.assign(project, user, doc_id=args.doc_id, assignees=args.assignees)
    if cmd == "review":
        return ops.review(project, user, doc_id=args.doc_id, outcome=args.outcome,
                          comment=args.comment)
    if cmd == "reject":
        return ops.reject(project, user, doc_id=args.doc_id, comment=args.comment)
    if cmd == "revert":
        return ops.revert(project, user, doc_id=args.doc_id, reason=args.reason)
    if cmd == "cancel":
        return ops.cancel(project, user, doc_id=args.doc_id, confirm=args.confirm)
    if cmd == "comments":
        return ops.comments(project, user, doc_id=args.doc_id, version=args.version)
    if cmd == "inbox":
        return ops.inbox(project, user)
    if cmd == "workspace":
        return ops.workspace(project, user)
    if cmd == "unlock":
        return ops.unlock(project, user, doc_id=args.doc_id, reason=args.reason)
    if cmd == "verify":
        return ops.verify(project, user, doc_ids=args.doc_ids or None,
                          all_signatures=args.all_signatures, since=args.since,
                          code=args.code)
    if cmd == "key":
        if (args.action == "import") != bool(args.file) or \
                (args.without_previous_key and args.action != "rotate"):
            raise UsageError("key import needs FILE (endorsed by the current key when this "
                             "copy has it); list and rotate take none; "
                             "--without-previous-key is for rotate.")
        if args.action == "list":
            return ops.key_list(project, user)
        if args.action == "import":
            return ops.key_import(project, user, file=os.path.abspath(args.file))
        return ops.key_rotate(project, user, without_previous_key=args.without_previous_key)
    if cmd == "export":
        return _export(ops, project, user, args)
    if cmd == "interact":
        return ops.interact(project, user, doc_id=args.doc_id, respond=args.respond,
                            file=os.path.abspath(args.file) if args.file else None, reason=args.reason, goto=args.goto,
                            cancel_goto=args.cancel_goto, reopen=args.reopen,
                            progress=args.progress, compile=args.compile)
    if cmd == "qualify":
        return ops.qualify(project, user, namespace=args.namespace,
                           junit=[os.path.abspath(f) for f in args.junit], check=args.check,
                           commit=args.commit, workdir=os.getcwd())
    raise UsageError(f"Unknown command {cmd!r}.")  # pragma: no cover - argparse prevents it


def _user(ops, project, user: str, args: argparse.Namespace) -> Any:
    from qms.domain.permissions import GROUPS

    group, shown = args.group or [], args.display_name or []
    if group and group[-1] not in GROUPS:
        raise UsageError(f"argument --group: invalid choice: {group[-1]!r} (choose from "
                         f"{', '.join(GROUPS)})")
    if args.list or args.remove:
        if group or shown:
            raise UsageError("user --list and --remove take no --group or --display-name.")
        return ops.user_list(project, user) if args.list else \
            ops.user_remove(project, user, name=args.remove)
    if args.add:
        if len(group) != 1 or len(shown) > 1:
            raise UsageError("user --add NAME needs --group GROUP (and at most one "
                             "--display-name TEXT).")
        return ops.user_add(project, user, name=args.add, group=group[0],
                            display_name=shown[0] if shown else None)
    if len(group) == 2 and not shown:
        return ops.user_group(project, user, name=group[0], group=group[1])
    if len(shown) == 2 and not group:
        return ops.user_name(project, user, name=shown[0], display_name=shown[1])
    raise UsageError("user needs --add NAME --group GROUP, --group NAME GROUP, --remove NAME, "
                     "--display-name NAME TEXT or --list.")


def _code(ops, project, user: str, args: argparse.Namespace) -> Any:
    if args.action == "checkout":
        return ops.code_checkout(project, user, doc_id=args.doc_id)
    if args.action == "status":
        return ops.code_status(project, user)
    if args.action == "remove":
        return ops.code_remove(project, user, doc_id=args.doc_id, force=args.force)
    return ops.code_install_hook(project, user, repository=args.repo)


def _export(ops, project, user: str, args: argparse.Namespace) -> Any:
    if args.all:
        if args.doc_id or args.version:
            raise UsageError("export --all takes no ID and no --version.")
        if not args.output:
            raise UsageError("export --all needs --output FOLDER.")
        return ops.export_all(project, user, output=args.output,
                              allow_findings=args.allow_findings, force=args.force)
    if not args.doc_id:
        raise UsageError("export needs a document ID (or --all --output FOLDER).")
    output = args.output
    if not output:  # ID-vN.X.pdf in the current folder; the version is known once read
        from qms.operations.read import read

        doc = read(project, user, doc_id=args.doc_id, version=args.version)
        output = f"{doc.doc_id}-v{doc.version}.pdf"
    return ops.export(project, user, doc_id=args.doc_id, version=args.version, output=output,
                      allow_findings=args.allow_findings, force=args.force)


def _ask(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        try:
            sys.stderr.write(question)
            answer = sys.stdin.readline() if sys.stdin else ""
        except (OSError, ValueError):
            return False
    else:
        try:
            answer = input(question)
        except EOFError:
            return False
    return answer.strip().lower() in ("y", "yes")


def _special(args: argparse.Namespace) -> int | None:
    """Commands that are not operations: hooks and config snippets."""
    if args.command == "hook":
        if args.name == "pre-receive":
            from qms.cli import githooks

            if not args.project:
                raise UsageError("hook pre-receive needs --project DIR.")
            return githooks.pre_receive(args.project)
        if args.name == "pre-commit":
            from qms.cli import githooks

            return githooks.pre_commit()
        from qms.cli import write_guard

        return write_guard.cli_main()
    if args.command == "mcp-config":
        from qms.operations.mcp_config import mcp_config
        from qms.store.project import Project

        text, notes = mcp_config(Project.discover().root, args.url, args.stdio)
        print(text)
        print(notes, file=sys.stderr)
        return 0
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # e.g. `qms read X | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    if want_json:  # accepted anywhere: `qms --json read X` and `qms read X --json`
        argv = ["--json", *(a for a in argv if a != "--json")]
    try:
        parser = build_parser(command_word(argv))
        if not argv:
            parser.print_help()
            return 2
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("A command is required (see: qms --help).")
        special = _special(args)
        if special is not None:
            return special
        if args.command not in _NO_USER and args.command != "gate" and not args.user:
            raise UsageError("--user is required (e.g. qms --user claude status CR-001).")
        result = _call(args)
    except (QMSError, OSError) as exc:
        err = exc if isinstance(exc, QMSError) else from_os_error(exc)
        if want_json:
            print(json.dumps({"ok": False, "error": err.to_dict()}, ensure_ascii=False))
        else:
            print(f"Error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    if want_json:
        print(json.dumps({"ok": True, "result": result.to_dict()}, ensure_ascii=False))
    else:
        text = result.render()
        if text:
            print(text)
        for warning in getattr(result, "warnings", ()):
            print(warning, file=sys.stderr)
    return getattr(result, "exit_code", 0)  # qualify --check, verify: 1 when they found something


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
