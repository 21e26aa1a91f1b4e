"""The dossier of ``qms export`` and the index of ``qms export --all`` as PDF/A-3b.

What a dossier prints is gathered by ``qms.operations.export``; this module turns it into
the jobs (plain data) the Typst templates (``templates/dossier.typ``, ``index.typ``) lay
out, for the bounded worker processes of ``render.worker`` (``render.typeset``), where the
controlled text becomes its Markdown tree (``render.tree``). Every string goes to the
template as data: nothing in a record is ever read as Typst markup or code.
"""

from __future__ import annotations

from qms.render.tree import breakable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MIME = {".md": "text/markdown", ".json": "application/json",
        ".jsonl": "application/x-ndjson"}


def utc(ts: str | None) -> str:
    """An ISO timestamp as ``2026-01-31 14:05:09 UTC``."""
    return str(ts or "–").replace("T", " ").replace("+00:00", " UTC")


def dossier(d: dict, files: list[dict]) -> dict:
    """The job that typesets the dossier ``d`` (``operations.export._gather``) with
    ``files`` attached."""
    title = d.get("title") or ""
    data = {
        **_page(f"{d['doc_id']} v{d['version']} {title}".strip(), d,
                f"Controlled copy of {d['doc_id']} v{d['version']} exported by qms "
                f"{d['qms_version']}",
                f"{d['doc_id']} v{d['version']} · {title}",
                f"{d['project']} · exported by {d['exported_by']} with qms {d['qms_version']}"),
        **{k: d.get(k) for k in ("doc_id", "version", "doc_type", "version_status", "status",
                                 "current_version")},
        **{k: bool(d.get(k)) for k in ("executable", "in_force", "clean")},
        "title": breakable(title), "source": breakable(d.get("source") or ""),
        "effective_date": utc(d["effective_date"]) if d.get("effective_date") else None,
        "project": breakable(d["project"]), "findings": _findings(d["findings"]),
        "text_refused": d.get("text_refused"),
        "markdown": d.get("content") or "",  # its tree is made in the worker
        "signature_scope": d.get("signature_scope"),
        "signatures": [{"name": breakable(s.get("signer_name") or s.get("user") or ""),
                        "user": breakable(str(s.get("user") or "")), "ts": utc(s.get("ts")),
                        "meaning": breakable(str(s.get("meaning") or "")),
                        "version": str(s.get("version")),
                        "sha256": breakable(str(s.get("content_sha256") or "–")),
                        "passkey": bool(s.get("passkey")), "sealed": bool(s.get("sealed"))}
                       for s in d["signatures"]],
        "events": [[_text(e.get("seq")), utc(e.get("ts")) if e.get("ts") else "",
                    _text(e.get("event")), _text(e.get("user")), _text(e.get("version")),
                    breakable(str(e.get("details") or ""))] for e in d["events"]],
        "trail_source": d["trail_source"],
        "last_event": _hashed(d.get("last_event")), "chain_head": _hashed(d.get("chain_head")),
        "sealed": _hashed(d.get("sealed")),
        "verify_text": [breakable(line) for line in str(d.get("verify_text") or "").split("\n")],
    }
    if data["last_event"]:
        data["last_event"]["ts"] = utc(data["last_event"].get("ts"))
    return _job(f"the dossier of {d['doc_id']} v{d['version']}", "dossier.typ", data, files,
                d["exported_at"])


def index(m: dict, exported_by_name: str, findings: list[dict], files: list[dict]) -> dict:
    """The job that typesets the index of ``export --all`` (its manifest ``m``)."""
    data = {
        **_page(f"Index of the export of {m['project']}", m | {
            "exported_by_name": exported_by_name}, f"Index of the export of {m['project']}",
            f"{m['project']} · index of the export",
            f"exported by {m['exported_by']} with qms {m['qms_version']}"),
        "project": breakable(m["project"]), "clean": not findings,
        "findings": _findings(findings), "chain_head": _hashed(m.get("chain_head")),
        "documents": [{"doc_id": r["doc_id"], "title": breakable(r.get("title") or ""),
                       "version": r["version"], "status": r["status"], "clean": r["clean"],
                       "signatures": r["signatures"], "events": r["events"],
                       "file": breakable(r["file"]), "sha256": breakable(r["sha256"])}
                      for r in m["documents"]],
        "skipped": [{"doc_id": s["doc_id"], "reason": breakable(s["reason"])}
                    for s in m["skipped"]],
    }
    return _job("the index", "index.typ", data, files, m["exported_at"])


def _page(title: str, d: dict, description: str, running: str, footer: str) -> dict:
    """What every page and the PDF's metadata say: who exported what, when."""
    name, user = d["exported_by_name"], d["exported_by"]
    return {"meta": {"title": title, "author": f"{name} ({user})",
                     "description": description},
            "running": breakable(running), "footer": breakable(footer),
            "exported": utc(d["exported_at"]), "exported_by": user,
            "exported_by_name": breakable(name),
            "git_commit": d.get("git_commit"), "git_dirty": bool(d.get("git_dirty"))}


def _job(name: str, template: str, data: dict, files: list[dict], when: str) -> dict:
    data["attachments"] = [
        {"file": f["name"], "name": breakable(f["name"]), "relationship":
         f["relationship"].lower(), "mime": MIME.get("." + f["name"].rsplit(".", 1)[-1],
                                                     "application/octet-stream"),
         "description": f["description"], "sha256": breakable(f["sha256"]), "size": f["size"]}
        for f in files]
    return {"name": name, "template": template, "data": data, "when": when,
            "files": [(f["name"], f["data"]) for f in files]}


def _findings(findings: list[dict]) -> list[dict]:
    return [{"doc_id": str(f.get("doc_id")), "kind": str(f.get("kind")),
             "message": breakable(str(f.get("message"))),
             "where": breakable(str(f.get("where") or ""))} for f in findings]


def _hashed(value: dict | None) -> dict | None:
    """A (seq, sha256, ...) record with its hash breakable and seq as text."""
    if not value:
        return None
    out: dict[str, Any] = {**value, "sha256": breakable(str(value.get("sha256") or ""))}
    if "seq" in out:
        out["seq"] = _text(out["seq"])
    if "seqs" in out:
        out["seqs"] = [str(s) for s in out["seqs"]]
    return out


def _text(value: Any) -> str:
    return "–" if value is None else str(value)
