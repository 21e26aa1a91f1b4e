"""The read-only web pages, served by `qms-mcp` next to `/mcp` (see docs/web.md).

Every page goes through ``auth.authenticate`` (the one hook), then reads through read-only
operations in a worker thread and renders a Jinja2 template (autoescaped). A QMSError
becomes an error page: NotFound 404, a bad ID/version/name 400, PermissionDenied 403.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
from collections.abc import Awaitable, Callable
from functools import cached_property
from html import escape
from urllib.parse import urlencode
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from qms import __version__, operations as ops
from qms.domain import workflow
from qms.errors import NotFound, QMSError
from qms.operations.browse import PAGE_SIZE
from qms.render import markdown
from qms.store import index
from qms.store.project import Project
from qms.web import auth, passkey, sessions
from qms.web.responses import HEADERS, status_code

HERE = Path(__file__).parent
STATIC = {"web.css": "text/css", "web.js": "text/javascript",  # the only files served
          "passkey.js": "text/javascript", "favicon.svg": "image/svg+xml"}
VERIFY_REUSE_S = 10.0  # /verify shows a result at most this old
WAITING_SHOWN = 25  # rows of the dashboard's "waiting" panel (the count is of all of them)

Page = Callable[[Request, str], Response]


def mount(app: Starlette, project: Project, auth_mode: str = "off") -> None:
    """Add the pages (and an HTML 404 for unknown paths) to the server's Starlette app, and
    read the document index once in the background so the first dashboard is already warm.
    ``auth_mode`` is the server's ``--auth`` (see ``qms.web.auth``)."""
    web = Web(project, auth_mode)
    app.router.routes.extend(web.routes())
    app.add_exception_handler(404, web.not_found)
    threading.Thread(target=index.listing(project).sweep, name="qms-web-index",
                     daemon=True).start()


class Web:
    """The pages of one project. Jinja2 and markdown-it load with the first page, so a
    server that is only used over MCP starts as fast as before."""

    def __init__(self, project: Project, auth_mode: str = "off") -> None:
        self.project = project
        self.auth_mode = str(auth_mode)
        self._verify_lock = threading.Lock()   # one verify at a time (it holds the project lock)
        self._verified: dict[str | None, tuple[float, Any]] = {}
        self._local = threading.local()  # who signed in, for the page a thread renders

    @cached_property
    def env(self) -> Any:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader(HERE / "templates"),
                          autoescape=select_autoescape(default=True),
                          trim_blocks=True, lstrip_blocks=True)
        env.filters.update(badge=badge, when=when, verdict=verdict,
                           inline=lambda text: Markup(markdown.inline(text)))
        env.globals.update(doc_rows=doc_rows, version=__version__,
                           project_name=self.project.root.name, auth_mode=self.auth_mode)
        return env

    def routes(self) -> list[Route]:
        pages: list[tuple[str, Page]] = [
            ("/", self.dashboard),
            ("/documents/{doc_id}", self.document),
            ("/documents/{doc_id}/versions/{version}", self.version),
            ("/documents/{doc_id}/export.pdf", self.export),
            ("/documents/{doc_id}/diff", self.diff_form),
            ("/documents/{doc_id}/diff/{a}/{b}", self.diff),
            ("/inbox/{user}", self.inbox),
            ("/trace", self.trace_index),
            ("/trace/{namespace}", self.trace),
            ("/verify", self.verify),
        ]
        return [Route(path, self.page(handler), methods=["GET"]) for path, handler in pages] + \
            [Route("/static/{name}", self.static, methods=["GET"]),
             Route("/signin", self.signin, methods=["GET", "POST"]),
             Route("/signout", self.signout, methods=["POST"])] + \
            passkey.routes(self.project, self)

    # -- plumbing ---------------------------------------------------------------------------
    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a page: the authentication hook first, then the handler off the event loop,
        a QMSError rendered as an error page, and the security headers on every answer.
        Pages name who signed in (passkey or token sign-in: ``passkey.signed_in_as``) in their header."""
        async def endpoint(request: Request) -> Response:
            user = await auth.authenticate(request, self.project, self.auth_mode)
            if isinstance(user, Response):
                return user
            who = await self.who(request)
            response = await run_in_threadpool(self._call, handler, request, user, who)
            response.headers.update(HEADERS)
            return response
        return endpoint

    async def who(self, request: Request) -> str | None:
        """Who this browser is signed in as (``passkey.signed_in_as``); no thread hop for a
        request that carries neither session cookie."""
        cookies = request.cookies
        if not (cookies.get(sessions.TOKEN_COOKIE) or cookies.get(sessions.BROWSER_COOKIE)):
            return None
        return await run_in_threadpool(passkey.signed_in_as, request, self.project)

    def _call(self, handler: Page, request: Request, user: str, who: str | None) -> Response:
        """Run a page (a QMSError becomes its error page) in this worker thread, which renders
        it knowing who signed in."""
        self._local.who = who
        try:
            return handler(request, user)
        except QMSError as err:
            return self.error(err.message, status_code(err))
        finally:
            self._local.who = None

    def render(self, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("signed_in_as", getattr(self._local, "who", None))
        return HTMLResponse(self.env.get_template(template).render(**context), http_status)

    def error(self, message: str, status: int) -> HTMLResponse:
        titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Refused"}
        return self.render("error.html", status, code=status,
                           heading=titles.get(status, "Error"), message=message)

    async def not_found(self, request: Request, exc: HTTPException) -> Response:
        who = await self.who(request)
        response = await run_in_threadpool(
            self._call, lambda r, u: self.error(f"There is no page at {r.url.path[:200]}.", 404),
            request, "", who)
        response.headers.update(HEADERS)
        return response

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            raise HTTPException(404)
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                        headers={"Cache-Control": "max-age=300",
                                 "X-Content-Type-Options": "nosniff"})

    # -- signing in (only the session in this process changes, never a record) ---------------
    async def signin(self, request: Request) -> Response:
        """GET: the form. POST: exchange a token for an HttpOnly, SameSite=Strict session
        cookie and go on to ``next`` (a path on this server)."""
        target = auth.safe_next(request.query_params.get("next"))
        if request.method == "GET":
            response = self.render("signin.html", next=target, mode=self.auth_mode, failed=False)
        else:
            form = await request.form()
            secret = str(form.get("token") or "").strip()
            target = auth.safe_next(str(form.get("next") or "/"))
            user = await run_in_threadpool(auth.token_user, self.project, secret)
            if user is None:
                response = self.render("signin.html", 401, next=target, mode=self.auth_mode,
                                       failed=True)
            else:
                response = RedirectResponse(target, 303)
                session = sessions.TOKENS.put({"secret": secret})
                response.set_cookie(sessions.TOKEN_COOKIE, session, httponly=True,
                                    samesite="strict", path="/",
                                    max_age=int(sessions.SESSION_TTL),
                                    secure=request.url.scheme == "https")
        response.headers.update(HEADERS)
        return response

    async def signout(self, request: Request) -> Response:
        session = request.cookies.get(sessions.TOKEN_COOKIE)
        if session:
            sessions.TOKENS.pop(session)
        browser = sessions.BROWSERS.get(request.cookies.get(sessions.BROWSER_COOKIE))
        if browser is not None:
            browser["user"] = None   # the header's Sign out ends a passkey sign-in too
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(sessions.TOKEN_COOKIE, path="/")
        response.headers.update(HEADERS)
        return response

    # -- pages ------------------------------------------------------------------------------
    def dashboard(self, request: Request, user: str) -> Response:
        """One page of the documents (filtered by type and status, searched by ID or title);
        the counts and what waits on whom over the whole project."""
        params = request.query_params
        doc_type = params.get("type") or None
        status = params.get("status") or None
        query = (params.get("q") or "").strip()[:200] or None
        page = params.get("page") or "1"
        result = ops.documents(self.project, user, doc_type=doc_type, status=status,
                               query=query, page=int(page) if page.isdigit() else 1)
        groups: dict[str, list[dict]] = {}
        for row in result.documents:
            groups.setdefault(row["doc_type"], []).append(row)
        keep = {k: v for k, v in (("type", doc_type), ("status", status), ("q", query)) if v}
        return self.render("dashboard.html", result=result, groups=groups,
                           waiting_on=index.waiting_on(result.waiting),
                           waiting=result.waiting[:WAITING_SHOWN],
                           doc_type=doc_type, status=status, query=query,
                           first=(result.page - 1) * PAGE_SIZE + 1 if result.documents else 0,
                           pager=pager(result.page, result.pages, keep))

    def document(self, request: Request, user: str) -> Response:
        doc_id = request.path_params["doc_id"]
        try:
            status = ops.status(self.project, user, doc_id=doc_id)
        except NotFound:  # cancelled: no meta, no file, but the trail is kept (else 404)
            events = ops.history(self.project, user, doc_id=doc_id)
            title = next((e.get("title") for e in events.events if e.get("title")), "")
            return self.render("cancelled.html", doc_id=events.doc_id, title=title,
                               timeline=list(reversed(events.events)))
        doc = ops.read(self.project, user, doc_id=status.doc_id)
        versions = ops.document_versions(self.project, user, doc_id=status.doc_id)
        # a shared screen: the open review round is sealed for every viewer
        events = ops.history(self.project, user, doc_id=status.doc_id, public=True).events
        timeline = list(reversed(events))
        signatures = [e for e in events if e.get("meaning")]
        readable = [v["version"] for v in versions.versions if v["readable"]]
        rows = [{**v, "prev": readable[readable.index(v["version"]) - 1]
                 if v["readable"] and readable.index(v["version"]) > 0 else None}
                for v in reversed(versions.versions)]
        sign = passkey.panel(self.project, request, status, self.auth_mode)
        code = ops.code_record(self.project, user, doc_id=status.doc_id) \
            if status.doc_type == "CR" else None
        shown = sign["signing"]["text"] if sign["signing"] else doc.content  # what is signed
        response = self.render("document.html", doc=status, text=doc, body=self.body(shown),
                               code=code,
                               current=standing(status),
                               versions=versions, version_rows=rows, readable=readable,
                               timeline=timeline, signatures=signatures, sign=sign)
        return passkey.keep(response, request, sign["sid"], sign["new"])

    def version(self, request: Request, user: str) -> Response:
        doc_id, version = request.path_params["doc_id"], request.path_params["version"]
        status = ops.status(self.project, user, doc_id=doc_id)
        doc = ops.read(self.project, user, doc_id=status.doc_id, version=version)
        return self.render("version.html", doc=status, text=doc, body=self.body(doc.content))

    def export(self, request: Request, user: str) -> Response:
        """The record's PDF/A-3b dossier as a download (``qms export``; ``?version=N.X``).
        A record that does not verify is refused (409) unless ``?findings=allow``. A dossier
        names who exported it and seals an open round for them: whatever ``--auth`` says, it
        is made for a signed-in person (a session, or a Bearer token's user); anyone else
        is sent to sign in."""
        reader = getattr(self._local, "who", None) or auth.bearer_user(request, self.project)
        if reader is None:
            return auth.to_signin(request)
        result = ops.export_pdf(self.project, reader, doc_id=request.path_params["doc_id"],
                                version=request.query_params.get("version") or None,
                                allow_findings=request.query_params.get("findings") == "allow")
        return Response(result.pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{result.filename}"'})

    def diff_form(self, request: Request, user: str) -> Response:
        """The no-JavaScript form on the document page lands here: redirect to the diff."""
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        doc_id = ops.status(self.project, user, doc_id=request.path_params["doc_id"]).doc_id
        ops.read(self.project, user, doc_id=doc_id, version=a)  # 400/404 for a bad version
        ops.read(self.project, user, doc_id=doc_id, version=b)
        return RedirectResponse(f"/documents/{doc_id}/diff/{a}/{b}", 303)

    def diff(self, request: Request, user: str) -> Response:
        p = request.path_params
        status = ops.status(self.project, user, doc_id=p["doc_id"])
        old = ops.read(self.project, user, doc_id=status.doc_id, version=p["a"])
        new = ops.read(self.project, user, doc_id=status.doc_id, version=p["b"])
        hunks, added, removed = diff_hunks(old.content, new.content)
        return self.render("diff.html", doc=status, old=old, new=new, hunks=hunks,
                           added=added, removed=removed)

    def inbox(self, request: Request, user: str) -> Response:
        """Anyone's inbox (read as its owner: `inbox` lists the caller's own tasks)."""
        return self.render("inbox.html",
                           result=ops.inbox(self.project, request.path_params["user"]))

    def trace_index(self, request: Request, user: str) -> Response:
        return self.render("trace_index.html",
                           namespaces=ops.namespace_list(self.project, user).namespaces)

    def trace(self, request: Request, user: str) -> Response:
        result = ops.trace(self.project, user, namespace=request.path_params["namespace"])
        traced = sum(1 for r in result.requirements if r["rtm"] is not None)
        # every cell of the RTM is shown, also past a missing or short header row; the RTM's
        # own copy of the requirement's wording repeats the RS column: leave it out
        width = max([len(result.columns)] + [len(r["rtm"]) for r in result.requirements
                                             if r["rtm"]])
        names = result.columns + [""] * (width - len(result.columns))
        keep = [i for i, c in enumerate(names) if c.lower() != "requirement"]
        columns = [names[i] or "RTM" for i in keep]
        rows = [{**r, "rtm": None if r["rtm"] is None else
                 [r["rtm"][i] if i < len(r["rtm"]) else "" for i in keep]}
                for r in result.requirements]
        return self.render("trace.html", result=result, traced=traced, columns=columns,
                           rows=rows)

    def verify(self, request: Request, user: str) -> Response:
        """`qms verify` of the whole project (or `?doc=ID`). It holds the project lock for as
        long as it reads, so runs are serialised and a result is reused for VERIFY_REUSE_S:
        reloading the page can never keep writers waiting."""
        doc = request.query_params.get("doc") or None
        with self._verify_lock:
            ran, result = self._verified.get(doc, (0.0, None))
            if result is None or time.monotonic() - ran > VERIFY_REUSE_S:
                ran, result = time.monotonic(), ops.verify(self.project, user,
                                                           doc_ids=[doc] if doc else None)
                self._verified = {**{k: v for k, v in self._verified.items()
                                     if time.monotonic() - v[0] <= VERIFY_REUSE_S},
                                  doc: (ran, result)}
        # the dashboard's count: a cancelled document is verified (its trail is kept) but not
        # listed, so it is named apart
        listed = result.documents if doc else ops.documents(self.project, user).total
        return self.render("verify.html", result=result, doc=doc, listed=listed,
                           age=int(time.monotonic() - ran))

    def body(self, text: str) -> str:
        """A document's Markdown (without its frontmatter) as HTML, safe to insert unescaped
        (``qms.render.markdown``, the renderer the PDF export uses too)."""
        return markdown.body(text)


def standing(doc: Any) -> str:
    """Which version counts now, in one plain sentence (the document page's "Current")."""
    v, st, eff = doc.version, doc.status, doc.effective_version
    if st == workflow.RETIRED:
        return f"Retired at v{v}: no version is in force"
    if st == workflow.CLOSED:
        return f"Closed at v{v}"
    if not doc.executable:
        if eff == v:
            return f"v{v} is in force"
        if eff:
            return f"v{eff} is in force; v{v} is a revision ({st})"
        return f"Not in force yet: v{v} is {st}"
    major = v.split(".")[0]
    if major == "0":
        return f"Not approved yet: v{v} is {st}"
    if st == workflow.PRE_APPROVED:
        return f"v{v} is approved for execution; not released yet"
    if st == workflow.IN_EXECUTION:
        return (f"In execution under the approved v{v}" if v.endswith(".0") else
                f"In execution under the approved v{major}.0; v{v} records the execution")
    if st == workflow.POST_APPROVED:
        return f"v{v} is post-approved; ready to close"
    return f"Executed under the approved v{major}.0; v{v} is {st}"


def badge(status: str | None) -> str:
    """The CSS class of a status badge: one colour per stage of the workflow."""
    s = status or ""
    if s in workflow.REVIEW_STATES:
        return "review"
    if s in workflow.APPROVAL_STATES:
        return "approval"
    if s in workflow.REVIEWED_STATES:
        return "reviewed"
    return {"DRAFT": "draft", "EFFECTIVE": "effective", "IN_EXECUTION": "execution",
            "CLOSED": "closed", "RETIRED": "retired", "APPROVED": "approved",
            "PRE_APPROVED": "approved", "POST_APPROVED": "approved"}.get(s, "other")


def when(ts: str | None) -> str:
    """An ISO timestamp as ``2026-01-31 14:05:09 UTC``."""
    text = str(ts or "")
    return text.replace("T", " ").replace("+00:00", " UTC")


VERDICTS = {"pass": "effective", "passed": "effective", "verified": "effective",
            "fail": "other", "failed": "other", "failing": "other", "error": "other",
            "untested": "review", "skipped": "review"}


def verdict(cell: str) -> str:
    """The badge class for a verdict-like RTM cell ('PASS', 'failing', ...), else ''."""
    return VERDICTS.get(str(cell).strip().strip("*").lower(), "")


def doc_rows(rows: list[dict]) -> Markup:
    """The dashboard's table rows. Built here rather than in the template: a 10,000-document
    project renders ~25x faster (bench/bench_web.py), every value still escaped."""
    out = []
    for d in rows:
        doc_id, owner = escape(d["doc_id"]), escape(d["responsible_user"] or "–")
        checkout = (f'<span class="co">{owner}</span> <span class="muted">'
                    f'{escape(d["checked_out_date"] or "")}</span>' if d["checked_out"]
                    else '<span class="muted">–</span>')
        out.append(
            f'<tr><td><a class="docid" href="/documents/{doc_id}">{doc_id}</a></td>'
            f'<td>{escape(d["title"])}</td><td class="num">{escape(d["version"])}</td>'
            f'<td><span class="badge b-{badge(d["status"])}">{escape(d["status"])}</span></td>'
            f'<td{"" if d["responsible_user"] else " class=none"}>{owner}</td>'
            f'<td{"" if d["checked_out"] else " class=none"}>{checkout}</td></tr>')
    return Markup("\n".join(out))


def pager(page: int, pages: int, keep: dict[str, str]) -> list[dict]:
    """The dashboard's page links: previous, the first, a few around this one, the last,
    next (``{label, href, current, rel}``; no href: not a link), each keeping the filters."""
    if pages <= 1:
        return []

    def link(label: str, n: int, rel: str = "") -> dict:
        query = urlencode({**keep, "page": n}) if n != 1 else urlencode(keep)
        return {"label": label, "href": f"/?{query}" if query else "/", "current": n == page,
                "rel": rel}

    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links = [link("‹ Previous", page - 1, "prev")] if page > 1 else []
    for before, n in zip([0, *shown], shown):
        if n - before > 1:
            links.append({"label": "…", "href": None, "current": False, "rel": ""})
        links.append(link(str(n), n))
    if page < pages:
        links.append(link("Next ›", page + 1, "next"))
    return links


def diff_hunks(old: str, new: str, context: int = 3) -> tuple[list[dict], int, int]:
    """Unified-diff hunks as rows ``{kind: same|add|del, old, new, parts}`` plus counts;
    ``parts`` is ``[(text, changed)]``, so a line edited in place shows what changed in it."""
    a, b = old.splitlines(), new.splitlines()
    hunks, added, removed = [], 0, 0
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        rows = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [{"kind": "same", "old": i + 1, "new": j1 + k + 1, "parts": [(a[i], False)]}
                         for k, i in enumerate(range(i1, i2))]
                continue
            dels = [{"kind": "del", "old": i + 1, "new": None, "parts": [(a[i], False)]}
                    for i in range(i1, i2)]
            adds = [{"kind": "add", "old": None, "new": j + 1, "parts": [(b[j], False)]}
                    for j in range(j1, j2)]
            for d, n in zip(dels, adds):  # a line replaced by a similar one: mark the words
                d["parts"], n["parts"] = _changed_words(d["parts"][0][0], n["parts"][0][0])
            rows += dels + adds
            removed += i2 - i1
            added += j2 - j1
        first = group[0]
        hunks.append({"header": f"@@ -{first[1] + 1} +{first[3] + 1} @@", "rows": rows})
    return hunks, added, removed


_WORD = re.compile(r"\w+|\s+|[^\w\s]")


def _changed_words(old: str, new: str) -> tuple[list, list]:
    a, b = _WORD.findall(old), _WORD.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.5:  # mostly rewritten: marking words would only add noise
        return [(old, False)], [(new, False)]
    left, right = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), tag != "equal"))
    return left, right
