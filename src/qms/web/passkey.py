"""Passkey pages: enrollment with a one-time link, passkey sign-in, and signing review,
approval, rejection and closure on a document's page (docs/passkeys.md).

Every POST here is JSON from ``static/passkey.js`` and must carry (1) the browser-session
cookie (HttpOnly, SameSite=Strict, made by the pages that show a passkey button), (2) that
session's CSRF token in ``X-QMS-CSRF`` and (3) an ``Origin`` exactly equal to this page's
own origin, whose host is the RP ID (``signatures.rp_id``). A challenge is single use, lives
in this process for ``CHALLENGE_TTL`` seconds and belongs to the browser session that asked
for it. The assertion is verified by ``qms.operations.identity.passkeys`` and the operation is the
same one the CLI calls.

What you see is what you sign: the page that offers a signature shows the text it binds
(``panel``: ``signing``), and both signing requests carry back the version and SHA-256 the
page displayed; the server refuses them (``pk.same_text``) unless the record's text is still
that one, and the operation checks the assertion against its text once more under the lock.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qms import operations as ops
from qms.domain import integrity, workflow
from qms.errors import PermissionDenied, QMSError
from qms.operations.identity import passkeys as pk
from qms.render import markdown
from qms.store.project import Project
from qms.web import auth, sessions
from qms.web.responses import HEADERS, status_code

CSRF_HEADER = "x-qms-csrf"
MAX_BODY = 64_000

# action -> (operation, meaning, outcome for review)
ACTIONS = {"recommend": ("review", "review: recommend", "recommend"),
           "request-updates": ("review", "review: request-updates", "request-updates"),
           "approve": ("approve", "approval", None),
           "reject": ("reject", "rejection", None),
           "close": ("close", "closure", None)}
LABELS = {"recommend": "Recommend", "request-updates": "Request updates",
          "approve": "Approve", "reject": "Reject", "close": "Close"}
NEEDS_COMMENT = {"recommend", "request-updates", "reject"}


def claim(body: dict, kind: str, sid: str) -> dict | None:
    """The challenge a POST names, popped (single use, whatever follows): None unless it is
    of ``kind`` and was issued to this browser session."""
    item = sessions.CHALLENGES.pop(str(body.get("nonce", "")))
    return item if item is not None and item["kind"] == kind and item["session"] == sid else None


def routes(project: Project, web: Any) -> list[Route]:
    pages = Pages(project, web)
    return [Route("/passkey/enroll", pages.enroll_page, methods=["GET"]),
            Route("/passkey/enroll", pages.enroll, methods=["POST"]),
            Route("/passkey/signin", pages.signin_page, methods=["GET"]),
            Route("/passkey/signin/options", pages.signin_options, methods=["POST"]),
            Route("/passkey/signin", pages.signin, methods=["POST"]),
            Route("/passkey/signout", pages.signout, methods=["POST"]),
            Route("/passkey/sign/options", pages.sign_options, methods=["POST"]),
            Route("/passkey/sign", pages.sign, methods=["POST"])]


# -- the browser session -------------------------------------------------------------------
def browser(request: Request) -> tuple[str, dict, bool]:
    """(session id, session, new?): the request's browser session, or a fresh one."""
    sid = request.cookies.get(sessions.BROWSER_COOKIE)
    session = sessions.BROWSERS.get(sid)
    if session is not None:
        return sid, session, False
    session = {"csrf": secrets.token_urlsafe(32), "user": None, "flash": None}
    return sessions.BROWSERS.put(session), session, True


def keep(response: Response, request: Request, sid: str, new: bool) -> Response:
    if new:
        response.set_cookie(sessions.BROWSER_COOKIE, sid, httponly=True, samesite="strict",
                            path="/", max_age=int(sessions.SESSION_TTL),
                            secure=request.url.scheme == "https")
    return response


def signed_in_as(request: Request, project: Project) -> str | None:
    """The person this browser is signed in as: passkey sign-in, else token sign-in."""
    return sessions.passkey_user(request) or auth.signed_in(request, project)


def origin_of(request: Request, project: Project) -> str | None:
    """This page's origin when its host is the RP ID (a passkey works only there)."""
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    if name.lower() != pk.rp_id(project):
        return None
    return f"{request.url.scheme}://{host.lower()}"


# -- what the document page shows ----------------------------------------------------------
def panel(project: Project, request: Request, doc: Any, auth_mode: str) -> dict:
    """The signing panel of a document page: who is signed in, the actions a pending task
    allows (each with its meaning), the CSRF token and, when the page offers a signature,
    ``signing``: the version, text and content SHA-256 it binds (the page shows that text,
    rendered and as its source) and how many comments the rendering leaves out."""
    sid, session, new = browser(request)
    user = signed_in_as(request, project)
    flash, session["flash"] = session.get("flash"), None
    tasks = tasks_for(project, doc, user, auth_mode)
    without_key = [] if tasks else signers(doc, user, auth_mode)[1]
    where = origin_of(request, project)
    signing = None
    if tasks and where is not None:
        version, text = pk.signing_text(project, doc.doc_id, tasks[0]["meaning"])
        signing = {"version": version, "text": text,
                   "content_sha256": integrity.sha256_text(text),
                   "comments": len(markdown.COMMENT.findall(text))}  # not rendered
    return {"sid": sid, "new": new, "csrf": session["csrf"], "user": user, "flash": flash,
            "by_passkey": session.get("user") is not None, "without_key": without_key,
            "tasks": tasks, "origin_ok": where is not None, "signing": signing,
            # shown only while the document awaits a signature (or to report one just made)
            "show": bool(flash) or bool(signers(doc, None, "off")[0]),
            "here": f"{pk.base_url(project)}/documents/{doc.doc_id}",
            "labels": LABELS, "needs_comment": NEEDS_COMMENT}


def signers(doc: Any, user: str | None, auth_mode: str) -> tuple[list[str], list[str]]:
    """(the actions of the document's pending signature, the people who may give it here:
    ``user`` if pending, or, when nobody is signed in and pages are open, every assignee)."""
    status = doc.status
    if status in workflow.REVIEW_STATES:
        actions, people = ["recommend", "request-updates"], list(doc.pending_assignees)
    elif status in workflow.APPROVAL_STATES:
        actions, people = ["approve", "reject"], list(doc.pending_assignees)
    elif status == workflow.POST_APPROVED and doc.executable:
        actions, people = ["close"], [doc.responsible_user] if doc.responsible_user else []
    else:
        return [], []
    if user is not None:
        people = [user] if user in people else []
    elif auth_mode == "required":
        people = []
    return actions, people


def tasks_for(project: Project, doc: Any, user: str | None, auth_mode: str) -> list[dict]:
    """The actions open to ``user`` (or, when nobody is signed in and pages are open, to any
    pending assignee with a passkey: the assertion then names the signer)."""
    actions, people = signers(doc, user, auth_mode)
    with_keys = sorted({e["user"] for e in pk.active(project, people, ACTIONS[actions[0]][0])}) \
        if people else []
    if not with_keys:
        return []
    return [{"action": a, "label": LABELS[a], "meaning": ACTIONS[a][1], "signers": with_keys,
             "comment": a in NEEDS_COMMENT} for a in actions]


# -- JSON endpoints ------------------------------------------------------------------------
class Pages:
    def __init__(self, project: Project, web: Any) -> None:
        self.project, self.web = project, web

    # plumbing
    async def guarded(self, request: Request) -> tuple[dict, str, dict, str] | Response:
        """Body, session id, session and origin of a POST that passed the CSRF checks."""
        origin = origin_of(request, self.project)
        if origin is None:
            return refuse(400, f"Passkeys work only on {pk.base_url(self.project)} "
                               f"(the RP ID is {pk.rp_id(self.project)}).")
        if request.headers.get("origin") != origin:
            return refuse(403, "Cross-site request refused (Origin).")
        sid = request.cookies.get(sessions.BROWSER_COOKIE)
        session = sessions.BROWSERS.get(sid)
        sent = request.headers.get(CSRF_HEADER, "")
        if session is None or not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
            return refuse(403, "Cross-site request refused (CSRF token); reload the page.")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return refuse(413, "Request too large.")
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return refuse(400, "The request is not a JSON object.")
        return body, sid, session, origin

    def page(self, template: str, request: Request, status: int = 200, **context: Any) -> Response:
        sid, session, new = browser(request)
        response = self.web.render(template, status, csrf=session["csrf"],
                                   signed_in=signed_in_as(request, self.project), **context)
        response.headers.update(HEADERS)
        return keep(response, request, sid, new)

    async def gate(self, request: Request) -> Response | None:
        """The server's authentication hook, as on every page."""
        user = await auth.authenticate(request, self.project, self.web.auth_mode)
        return user if isinstance(user, Response) else None

    # enrollment
    async def enroll_page(self, request: Request) -> Response:
        code = request.query_params.get("code", "")
        try:
            invite = await run_in_threadpool(pk.invite_for, self.project, code)
        except QMSError as err:
            return self.page("error.html", request, 403, code=403, heading="Not allowed",
                             message=err.message)
        origin = origin_of(request, self.project)
        if origin is None:
            return self.page("error.html", request, 400, code=400, heading="Wrong address",
                             message=f"Open this link on {pk.base_url(self.project)}: a "
                                     f"passkey is bound to {pk.rp_id(self.project)}.")
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
            ResidentKeyRequirement, UserVerificationRequirement)
        from webauthn.helpers import base64url_to_bytes

        sid, session, new = browser(request)
        existing = await run_in_threadpool(pk.active, self.project, [invite["user"]])
        challenge = secrets.token_bytes(32)
        options = generate_registration_options(
            rp_id=pk.rp_id(self.project), rp_name=f"qms {self.project.root.name}",
            user_name=invite["user"], user_display_name=invite["user"],
            user_id=invite["user"].encode(), challenge=challenge,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED),
            exclude_credentials=[PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(e["credential_id"])) for e in existing])
        nonce = sessions.CHALLENGES.put({"kind": "enroll", "session": sid, "code": code,
                                "challenge": challenge})
        response = self.web.render("passkey_enroll.html", csrf=session["csrf"],
                                   options=options_to_json(options), nonce=nonce,
                                   invite=invite, signed_in=None)
        response.headers.update(HEADERS)
        return keep(response, request, sid, new)

    async def enroll(self, request: Request) -> Response:
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        body, sid, _, origin = checked
        item = claim(body, "enroll", sid)
        if item is None:
            return refuse(400, "This enrollment challenge is unknown, used or expired; "
                               "reload the page.")
        from webauthn import verify_registration_response

        def run() -> Any:
            try:
                verified = verify_registration_response(
                    credential=body.get("credential"), expected_challenge=item["challenge"],
                    expected_rp_id=pk.rp_id(self.project), expected_origin=origin,
                    require_user_verification=True)
            except Exception as exc:  # py_webauthn raises many kinds for a bad answer
                raise_refused(f"The passkey registration was refused: {exc}")
            return pk.passkey_register(self.project, code=item["code"], registration=verified,
                                       origin=origin).to_dict()
        return await answer(run)

    # sign-in
    async def signin_page(self, request: Request) -> Response:
        return self.page("passkey_signin.html", request,
                         next=auth.safe_next(request.query_params.get("next")),
                         origin_ok=origin_of(request, self.project) is not None,
                         here=f"{pk.base_url(self.project)}/passkey/signin")

    async def signin_options(self, request: Request) -> Response:
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        _, sid, _, _ = checked
        nonce = secrets.token_urlsafe(24)
        sessions.CHALLENGES.put({"kind": "signin", "session": sid}, nonce)
        return JSONResponse({"ok": True, "nonce": nonce, "options": self.request_options(
            pk.signin_challenge(nonce), await run_in_threadpool(pk.active, self.project))})

    async def signin(self, request: Request) -> Response:
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        body, sid, session, origin = checked
        nonce = str(body.get("nonce", ""))
        if claim(body, "signin", sid) is None:
            return refuse(400, "This sign-in challenge is unknown, used or expired.")

        def run() -> dict:
            entry, count, _ = pk.check_assertion(self.project, credential(body),
                                                 pk.signin_challenge(nonce), origin)
            session["user"] = entry["user"]
            return {"user": entry["user"], "message": f"Signed in as {entry['user']}."}
        return await answer(run)

    async def signout(self, request: Request) -> Response:
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        checked[2]["user"] = None
        return JSONResponse({"ok": True})

    # signing
    async def sign_options(self, request: Request) -> Response:
        if (refused := await self.gate(request)) is not None:
            return refused
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        body, sid, _, _ = checked
        action, doc_id = str(body.get("action", "")), str(body.get("doc_id", ""))
        comment = str(body.get("comment", ""))
        if action not in ACTIONS:
            return refuse(400, f"Unknown action {action!r}.")
        if action in NEEDS_COMMENT and not comment.strip():
            return refuse(400, "A comment is required.")

        def run() -> dict:
            doc = ops.status(self.project, auth.VIEWER, doc_id=doc_id)
            user = signed_in_as(request, self.project)
            tasks = [t for t in tasks_for(self.project, doc, user, self.web.auth_mode)
                     if t["action"] == action]
            if not tasks:
                raise_refused(f"Nobody signed in here has a task that allows {action} on "
                              f"{doc.doc_id} (any more): reload the page.")
            inputs = {**pk.bound_inputs(self.project, doc.doc_id, ACTIONS[action][1],
                                        body),
                      "nonce": secrets.token_urlsafe(24)}
            sessions.CHALLENGES.put({"kind": "sign", "session": sid, "action": action,
                            "comment": comment, "inputs": inputs,
                            "signers": tasks[0]["signers"]}, inputs["nonce"])
            expected = pk.challenge(inputs["doc_id"], inputs["version"],
                                    inputs["content_sha256"], inputs["meaning"], inputs["nonce"])
            return {"nonce": inputs["nonce"], "signing": inputs, "options": self.request_options(
                expected, pk.active(self.project, tasks[0]["signers"]))}
        return await answer(run)

    async def sign(self, request: Request) -> Response:
        if (refused := await self.gate(request)) is not None:
            return refused
        checked = await self.guarded(request)
        if isinstance(checked, Response):
            return checked
        body, sid, session, origin = checked
        item = claim(body, "sign", sid)
        if item is None:
            return refuse(400, "This signing challenge is unknown, already used or expired; "
                               "reload the page and sign again.")

        def run() -> dict:
            pk.same_text(self.project, body, item["inputs"])  # what this page showed
            assertion = pk.sign_assertion(self.project, credential(body), item["inputs"],
                                          origin, item["signers"])
            op, _, outcome = ACTIONS[item["action"]]
            doc_id, user = item["inputs"]["doc_id"], assertion.user
            if op == "review":
                result = ops.review(self.project, user, doc_id=doc_id, outcome=outcome,
                                    comment=item["comment"], passkey=assertion)
            elif op == "reject":
                result = ops.reject(self.project, user, doc_id=doc_id, comment=item["comment"],
                                    passkey=assertion)
            else:
                result = getattr(ops, op)(self.project, user, doc_id=doc_id, passkey=assertion)
            said = ". ".join(line.rstrip(".") for line in result.render().splitlines())
            message = f"{said}. Signed by {user} with passkey {assertion.cred}."
            session["flash"] = message
            return {"message": message, "doc_id": result.doc_id, "status": result.status}
        return await answer(run)

    def request_options(self, challenge: bytes, entries: list[dict]) -> str:
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.structs import (
            PublicKeyCredentialDescriptor, UserVerificationRequirement)

        return options_to_json(generate_authentication_options(
            rp_id=pk.rp_id(self.project), challenge=challenge,
            allow_credentials=[PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(e["credential_id"])) for e in entries],
            user_verification=UserVerificationRequirement.REQUIRED))


def credential(body: dict) -> dict:
    value = body.get("credential")
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        raise_refused("The passkey answer is missing or malformed.")
    return value


def raise_refused(message: str) -> None:
    raise PermissionDenied(message)


async def answer(run: Any) -> Response:
    """Run ``run`` off the event loop: its dict as JSON, or a QMSError as a JSON error."""
    try:
        return JSONResponse({"ok": True, **await run_in_threadpool(run)})
    except QMSError as err:
        return JSONResponse({"ok": False, "error": err.to_dict()}, status_code(err))


def refuse(status: int, message: str) -> Response:
    return JSONResponse({"ok": False, "error": {"code": "refused", "message": message}}, status)
