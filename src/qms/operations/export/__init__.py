"""``qms export ID [--version N.X] --output FILE`` and ``qms export --all --output DIR``:
the archival PDF/A-3b dossier of a record (docs/export.md).

One file per document: a cover, the controlled text rendered from its Markdown, the
electronic signatures behind that version, the document's audit trail, and an integrity
statement (``qms verify ID`` at export time, the last event's seq and hash, the chain head,
the git commit), with the Markdown source, the trail (JSONL) and the verify result (JSON)
attached inside the PDF. A record that does not verify is refused unless
``allow_findings``; then the findings are printed on its cover in red.

An export is a read: any known user may export, and it writes nothing into the records and
records no audit event (an event would change the very chain head the dossier states, and a
copy without the signing key could not export at all); a dossier made is kept in a cache
(``store.cache``) so the same download again costs nothing. The PDF itself names who
exported it and when. An open review round is sealed in it exactly as ``history`` seals it
for the exporter. A record too large to typeset within bounds is refused (:data:`MAX_EVENTS`,
:data:`MAX_TRAIL`, the text limit); the typesetting itself runs in a bounded worker process
(``render.worker``).
"""

from __future__ import annotations

import json

from qms import __version__
from qms.domain import integrity, rounds
from qms.errors import Conflict, NotFound, ProjectError, ValidationError
from qms.operations.export import files as export_files
from qms.operations._shared import MAX_TEXT, Result, authorize, load
from qms.store import atomic, audit, cache, chain, git, jsonl, users
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

RETRIES = 3  # a writer appending while we gather: read again, at most this often
MAX_EVENTS = 5_000  # events of one trail a dossier prints (~170 pages of table, ~4 s)
MAX_TRAIL = 4_000_000  # bytes of one trail (its comments are printed in full)


class PdfResult(Result):
    """One dossier in memory (the dashboard's download)."""

    doc_id: str
    version: str
    filename: str
    pdf: bytes
    clean: bool
    findings: list[dict]

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "version": self.version, "filename": self.filename,
                "size": len(self.pdf), "sha256": integrity.sha256_bytes(self.pdf),
                "clean": self.clean, "findings": self.findings}

    def render(self) -> str:
        return f"{self.filename}: {len(self.pdf)} bytes"


class ExportResult(Result):
    doc_id: str
    version: str
    path: str
    size: int
    sha256: str
    clean: bool
    findings: list[dict]
    attachments: list[str]

    def render(self) -> str:
        state = "CLEAN" if self.clean else f"{len(self.findings)} finding(s), shown on the cover"
        return (f"Exported {self.doc_id} v{self.version} to {self.path} ({self.size} bytes, "
                f"PDF/A-3b, sha256:{self.sha256})\nAttached: {', '.join(self.attachments)}\n"
                f"verify {self.doc_id}: {state}")


class ExportAllResult(Result):
    folder: str
    files: list[dict]   # {doc_id, version, file, size, sha256, clean}
    skipped: list[dict]  # {doc_id, reason}
    clean: bool
    findings: list[dict]

    def render(self) -> str:
        lines = [f"{f['file']}  {f['size']} bytes  sha256:{f['sha256']}" for f in self.files]
        lines += [f"skipped {s['doc_id']}: {s['reason']}" for s in self.skipped]
        state = "CLEAN" if self.clean else f"{len(self.findings)} finding(s)"
        lines.append(f"Exported {len(self.files)} document(s) to {self.folder} "
                     f"(index.pdf, index.json); verify: {state}")
        return "\n".join(lines)


# -- operations ------------------------------------------------------------------------------
def export_pdf(project: Project, user: str, *, doc_id: str, version: str | None = None,
               allow_findings: bool = False) -> PdfResult:
    """The dossier of ``doc_id`` (at ``version``, default: what ``read`` shows) as bytes."""
    from qms.render import pdf, worker

    authorize(project, user, "export")
    with worker.Pool() as pool:  # Typst loads while the record is gathered
        context = _Context(project, user)
        d, files = _gather(project, user, doc_id, version, context, None)
        _refuse_findings(d["doc_id"], d["findings"], allow_findings)
        key = _cache_key(d, files)
        data = cache.get(project, "export", key)
        if data is None:
            data = pool.render([pdf.dossier(d, files)])[0]
            cache.put(project, "export", key, data)
    return PdfResult(d["doc_id"], d["version"], f"{d['doc_id']}-v{d['version']}.pdf",
                     data, d["clean"], d["findings"])


def export(project: Project, user: str, *, doc_id: str, output: str,
           version: str | None = None, allow_findings: bool = False,
           force: bool = False) -> ExportResult:
    """Write the dossier to ``output`` (a new file; an existing one only with ``force``)."""
    authorize(project, user, "export")
    target = export_files.target_file(project, output, force)
    result = export_pdf(project, user, doc_id=doc_id, version=version,
                        allow_findings=allow_findings)
    export_files.write(target, result.pdf, force)
    return ExportResult(result.doc_id, result.version, str(target), len(result.pdf),
                        integrity.sha256_bytes(result.pdf), result.clean, result.findings,
                        _attachment_names(result.doc_id, result.version))


def export_all(project: Project, user: str, *, output: str, allow_findings: bool = False,
               force: bool = False) -> ExportAllResult:
    """Every document (at the version ``read`` shows) into the folder ``output``, one PDF
    each plus ``index.pdf`` and ``index.json``. The whole project is verified first: with a
    finding anywhere nothing is written, unless ``allow_findings``."""
    from qms.operations.browse import documents
    from qms.operations.verify import verify
    from qms.render import pdf, worker

    authorize(project, user, "export")
    folder, fresh = export_files.target_folder(project, output, force)
    listing = documents(project, user).documents
    processes = worker.workers_for(len(listing))
    with worker.Pool(processes + 1) as pool:  # Typst loads while the records are gathered
        head = _chain_head(project)
        whole = verify(project, user)
        _refuse_findings("The project", whole.findings, allow_findings)
        context = _Context(project, user)
        batch = pool.batch(processes)  # typeset while the next ones are gathered
        gathered, skipped = [], []
        for row in listing:
            try:
                d, files = _gather(project, user, row["doc_id"], None, context, whole)
            except NotFound as err:
                skipped.append({"doc_id": row["doc_id"], "reason": err.message})
                continue
            gathered.append(d)
            batch.add(pdf.dossier(d, files))
        if _chain_head(project) != head:  # an event since the verify: its verdict is stale
            raise Conflict("The project changed while it was exported (new audit events); "
                           "nothing was written, try again.")
        rows, made = [], []
        for d, data in zip(gathered, batch.finish()):
            name = f"{d['doc_id']}-v{d['version']}.pdf"
            made.append((name, data))
            rows.append({"doc_id": d["doc_id"], "title": d["title"], "version": d["version"],
                         "status": d["status"], "file": name, "size": len(data),
                         "sha256": integrity.sha256_bytes(data), "clean": d["clean"],
                         "signatures": len(d["signatures"]), "events": len(d["events"])})
        manifest = {"project": project.root.name, "exported_at": context.now,
                    "exported_by": user, "qms_version": __version__,
                    "git_commit": context.rev[0], "git_dirty": context.rev[1],
                    "chain_head": head, "verify": whole.to_dict(),
                    "documents": rows, "skipped": skipped}
        index_json = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
        attached = [_attachment("index.json", index_json, "Data", "The index (JSON)")]
        made += [("index.pdf", pool.render([pdf.index(manifest, context.name, whole.findings,
                                                      attached)])[0]),
                 ("index.json", index_json)]
    export_files.write_folder(folder, fresh, made, force)
    return ExportAllResult(str(folder), [{k: r[k] for k in ("doc_id", "version", "file",
                                                             "size", "sha256", "clean")}
                                         for r in rows], skipped, whole.clean, whole.findings)


# -- gathering -------------------------------------------------------------------------------
class _Context:
    """What every dossier of one export run shares: the time, the exporter, the commit."""

    def __init__(self, project: Project, user: str) -> None:
        from datetime import datetime, timezone

        self.now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        self.user, self.name = user, users.display_name(project, user)
        self.rev = git.revision(project.root)


def _text(project: Project, user: str, doc_id: str, version: str | None,
          meta: dict) -> tuple[Any, str | None]:
    """What ``read`` serves, or, when read refuses the file because it is not the text the
    trail binds (changed, planted, deleted), the file as it is on disk with read's reason: the
    dossier then prints that reason in red over the text (only reached with findings, so only
    written with ``--allow-findings``)."""
    from qms.operations.read import ReadResult, read

    try:
        return read(project, user, doc_id=doc_id, version=version), None
    except ProjectError as exc:
        if exc.details.get("kind") not in ("changed", "planted", "missing"):
            raise
        rel = exc.details.get("path") or ""
        content = (project.read_text(project.root / rel) if rel else None) or ""
        ver = version or meta.get("effective_version") or meta["version"]
        return ReadResult(doc_id, ver, rel, content), exc.message


def _gather(project: Project, user: str, doc_id: str, version: str | None, context: _Context,
            whole: Any) -> tuple[dict, list[dict]]:
    """The dossier's data and attachments. ``whole``: a verify of the whole project already
    run (``--all``), whose findings for this document and the project stand in for
    ``verify ID``."""
    from qms.operations.browse import document_versions
    from qms.operations.verify import verify

    doc_id, meta = load(project, doc_id)
    trail_path = project.audit_path(doc_id)
    for _ in range(RETRIES):
        before = atomic.read_bytes(trail_path, project.root) or b""
        text, refused = _text(project, user, doc_id, version, meta)
        doc_id, meta = load(project, doc_id)
        result = verify(project, user, doc_ids=[doc_id]) if whole is None else None
        head = _chain_head(project)
        if (atomic.read_bytes(trail_path, project.root) or b"") == before:
            break
    else:
        raise Conflict(f"{doc_id} kept changing while it was exported; try again.")
    if result is not None:
        verified, findings, clean = result.to_dict(), result.findings, result.clean
        verify_text = result.render()
    else:
        mine = (doc_id, integrity.PROJECT_TRAIL)
        findings = [f for f in whole.findings if f["doc_id"] in mine]
        clean = not findings
        verified = {**whole.to_dict(), "findings": findings, "clean": clean,
                    "scope": "the whole project (qms export --all)"}
        verify_text = whole.render()
    _bounded(doc_id, text.content, before)
    events, last, shown_trail, sealed = _events(before, meta["status"], user)
    ver = text.version
    statuses = {v["version"]: v["status"] for v in
                document_versions(project, user, doc_id=doc_id).versions}
    source = text.content.encode("utf-8")
    files = [
        _attachment(f"{doc_id}-v{ver}.md", source, "Source",
                    f"The controlled text of {doc_id} v{ver} (Markdown), as in {text.source}"),
        _attachment(f"{doc_id}.audit.jsonl", shown_trail, "Data",
                    f"The audit trail of {doc_id}, as in {project.rel(trail_path)}"
                    + (f", sealed for {user} (review round open)" if sealed else "")),
        _attachment(f"{doc_id}.verify.json",
                    (json.dumps(verified, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
                    "Data", f"The result of qms verify {doc_id} at export time (JSON)"),
    ]
    from qms.store import frontmatter

    signatures, scope = _signatures(events, meta, ver)
    d = {
        "doc_id": doc_id, "version": ver, "title": frontmatter.title_of(text.content),
        "doc_type": meta.get("doc_type") or doc_id.rsplit("-", 1)[0],
        "executable": bool(meta.get("executable")), "status": meta["status"],
        "current_version": meta["version"], "version_status": statuses.get(ver),
        "in_force": ver == meta.get("effective_version") and meta["status"] == "EFFECTIVE",
        "effective_date": _effective_date(events, ver), "source": text.source,
        "exported_at": context.now, "exported_by": context.user,
        "exported_by_name": context.name, "project": project.root.name,
        "qms_version": __version__, "git_commit": context.rev[0], "git_dirty": context.rev[1],
        "clean": clean, "findings": findings, "verify_text": verify_text,
        "signatures": signatures, "signature_scope": scope, "events": events,
        "trail_source": project.rel(trail_path), "last_event": last, "chain_head": head,
        "sealed": sealed and {"count": len(sealed), "seqs": sealed,
                              "sha256": integrity.sha256_bytes(before), "size": len(before)},
        "content": text.content, "text_refused": refused,
        "attachments": [{k: f[k] for k in ("name", "description", "sha256", "size")}
                        for f in files],
    }
    return d, files


def _bounded(doc_id: str, content: str, trail: bytes) -> None:
    """Refuse a record too large to typeset within the export's bounds."""
    for what, value, limit, unit in (
            ("text", len(content.encode("utf-8", "surrogatepass")), MAX_TEXT, "bytes"),
            ("audit trail", len(trail), MAX_TRAIL, "bytes"),
            ("audit trail", trail.count(b"\n"), MAX_EVENTS, "events")):
        if value > limit:
            raise ValidationError(f"{doc_id} is too large to export: its {what} has {value} "
                                  f"{unit} (limit {limit} {unit}).", limit=f"{what} {unit}")


def _events(trail: bytes, status: str | None,
            viewer: str) -> tuple[list[dict], dict | None, bytes, list]:
    """The trail as ``viewer`` may see it (``rounds.seal``, as ``history`` shows it): table
    rows, the last chained event (seq, event, ts, sha256 of its real line), the trail file
    with each sealed event's line replaced by the sealed copy (byte for byte the file when
    nothing is sealed), and the seqs of the sealed events."""
    lines = trail.split(b"\n")
    parsed = {n: jsonl.parse_line(line) for n, line in enumerate(lines) if line.strip()}
    kept = [n for n, event in parsed.items() if event is not None]
    shown = dict(zip(kept, rounds.seal([audit.normalize(parsed[n]) for n in kept],
                                       status, viewer)))
    rows, last, sealed = [], None, []
    for n, event in parsed.items():
        if event is None:
            rows.append({"seq": None, "ts": "", "event": "(damaged line)", "user": "",
                         "version": "", "details": f"line {n + 1} is not a JSON object"})
            continue
        seen = shown[n]
        rows.append({**seen, "details": _details(seen)})
        if isinstance(event.get("seq"), int):
            last = {"seq": event["seq"], "event": event.get("event"), "ts": event.get("ts"),
                    "sha256": integrity.sha256_bytes(lines[n].rstrip(b"\r"))}
        if seen.get("sealed"):
            sealed.append(seen.get("seq"))
            lines[n] = json.dumps(seen, ensure_ascii=False).encode("utf-8")
    return rows, last, b"\n".join(lines), sealed


def _details(e: dict) -> str:
    parts = []
    if e.get("event") == "CREATE" and e.get("title"):
        parts.append(f"\u201c{e['title']}\u201d")
    if e.get("from_status") or e.get("to_status"):
        parts.append(f"{e.get('from_status')} \u2192 {e.get('to_status')}")
    if e.get("assignees"):
        parts.append("to " + ", ".join(map(str, e["assignees"])))
    if e.get("sealed"):
        parts.append("outcome and comment sealed until the review round closes")
    if e.get("outcome"):
        parts.append(str(e["outcome"]).lower())
    if e.get("from_version"):
        parts.append(f"from v{e['from_version']}")
    if e.get("meaning"):
        parts.append(f"signature ({e['meaning']}) of {e.get('signer_name') or e.get('user')}"
                     + (", passkey" if "passkey" in e else ""))
    if e.get("content_sha256"):
        parts.append(f"content {str(e['content_sha256'])[:16]}\u2026")
    for key in ("comment", "reason"):
        if e.get(key):
            parts.append(f"{key}: {e[key]}")
    return "; ".join(parts)


def _signatures(events: list[dict], meta: dict, version: str) -> tuple[list[dict], str]:
    """The signature records behind the text of ``version``: for the version a CLOSED
    record closed at, all of them (as ``qms read`` shows); for a version that became
    EFFECTIVE, those made on the version approved into it and on itself; else those made
    on the version itself. A signature is passkey-signed when its event has ``passkey``."""
    signed = [e for e in events if e.get("meaning") or (e.get("sealed") and e.get("signer_name"))]
    if meta["status"] == "CLOSED" and version == meta["version"]:
        chosen, scope = signed, "all signatures of the closed record"
    else:
        into = [str(e.get("from_version")) for e in events
                if e.get("event") == "EFFECTIVE" and e.get("version") == version]
        wanted = {version, *into}
        chosen = [e for e in signed if e.get("version") in wanted]
        scope = (f"signatures on v{', v'.join(into)}, approved into v{version}" if into
                 else f"signatures made on v{version}")
    keys = ("ts", "user", "signer_name", "meaning", "version", "content_sha256", "event",
            "sealed")
    return [{**{k: e.get(k) for k in keys}, "passkey": "passkey" in e} for e in chosen], scope


def _effective_date(events: list[dict], version: str) -> str | None:
    for e in events:
        if e.get("event") in ("EFFECTIVE", "CLOSE") and e.get("version") == version:
            return e.get("ts")
    return None


def _chain_head(project: Project) -> dict | None:
    line = jsonl.last_line(chain.chain_path(project), project.root)
    if line is None:
        return None
    try:
        seq = json.loads(line).get("seq")
    except (ValueError, AttributeError):
        seq = None
    return {"seq": seq, "sha256": integrity.sha256_bytes(line)}


def _attachment(name: str, data: bytes, relationship: str, description: str) -> dict:
    return {"name": name, "data": data, "relationship": relationship,
            "description": description, "sha256": integrity.sha256_bytes(data),
            "size": len(data)}


def _attachment_names(doc_id: str, version: str) -> list[str]:
    return [f"{doc_id}-v{version}.md", f"{doc_id}.audit.jsonl", f"{doc_id}.verify.json"]


def _refuse_findings(what: str, findings: list[dict], allow: bool) -> None:
    if findings and not allow:
        listed = "; ".join(f"{f['doc_id']}: {f['kind']}: {f['message']}" for f in findings[:3])
        more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
        raise Conflict(f"{what} does not verify ({len(findings)} finding(s): {listed}{more}); "
                       "nothing was exported. Run qms verify to see them; --allow-findings "
                       "exports anyway, with the findings printed on the cover.",
                       findings=findings)


def _cache_key(d: dict, files: list[dict]) -> str:
    """What a dossier depends on, but for the export time: the record (text, trail as this
    reader sees it, verify result, chain head, commit), the exporter and the renderer."""
    from qms.render import worker

    fixed = {k: v for k, v in d.items() if k not in ("exported_at", "content")}
    fixed["content"] = integrity.sha256_bytes(d["content"].encode("utf-8", "surrogatepass"))
    fixed["files"] = [(f["name"], f["sha256"]) for f in files]
    fixed["renderer"] = worker.renderer()
    return integrity.sha256_bytes(json.dumps(fixed, sort_keys=True, default=str).encode())
