"""``qms qualify NS --junit FILE [--junit FILE ...] [--commit SHA] [--check]``: the RTM from
a test run.

Requirements come from the version in force of ``SDLC-{NS}-RS``, results from JUnit XML
files inside the project. ``check`` only reports (and writes nothing); otherwise the
generated section of ``SDLC-{NS}-RTM`` is rewritten (created, or checked out and back in),
the JUnit files are stored as ``QMS/.evidence/{sha256}.xml`` and a QUALIFY event records
their hashes, the commit the tests ran on and its tree, all in one transaction.

The commit (:func:`_source`): ``--commit``, or the ``qms.commit`` run property of the JUnit
files (the pytest plugin writes it), else ``HEAD`` of the repository the command runs in
(a code area, or the project's checkout), whose working tree must hold no change outside
qms's own data. Files that name different commits, a run on a dirty tree, or a commit the
project's repository does not have (one never pushed) are refused.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from qms.domain import doctypes, qualification, rtm
from qms.errors import Conflict, NotFound, ValidationError
from qms.operations._bound import Texts
from qms.operations._shared import Result, authorize, load, read_project_file
from qms.store import audit, frontmatter, namespaces
from qms.store import meta as meta_store
from qms.store.project import Project

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any

MAX_FILES = 64
_SHA = re.compile(r"^[0-9a-fA-F]{4,64}\Z")


class QualifyResult(Result):
    namespace: str
    check: bool
    passed: bool  # no gaps: every requirement verified, no unknown ID
    rs: dict[str, str]  # {doc_id, version}
    requirements: list[dict]
    unknown: list[dict]
    summary: dict[str, int]
    gaps: list[str]
    evidence: list[dict]  # {file, sha256, stored_as, tests}
    commit: str | None = None
    dirty: bool | None = None
    tree: str | None = None
    rtm: dict[str, str] | None = None  # {doc_id, version, status} when written

    @property
    def exit_code(self) -> int:
        """What the CLI exits with: 1 when ``--check`` found a gap."""
        return 1 if self.check and not self.passed else 0

    def render(self) -> str:
        head = (f"Qualified against {self.rs['doc_id']} v{self.rs['version']}: "
                f"{rtm.summary_line(self.summary)} ({self.summary['tests']} test cases).")
        lines = [head, *self.gaps]
        if self.check:
            lines.append("No gaps." if self.passed else f"{len(self.gaps)} gap(s).")
            return "\n".join(lines)
        doc = self.rtm or {}
        lines.append(f"Wrote {doc.get('doc_id')} v{doc.get('version')} ({doc.get('status')}); "
                     f"evidence: {', '.join(e['stored_as'] for e in self.evidence)}.")
        lines.append(f"Route it for review: qms --user <you> route {doc.get('doc_id')} --review")
        return "\n".join(lines)


def qualify(project: Project, user: str, *, namespace: str, junit: list[str],
            check: bool = False, commit: str | None = None,
            workdir: str | None = None) -> QualifyResult:
    """``commit``: the commit the tests ran on; ``workdir``: the folder whose repository's
    ``HEAD`` is taken when neither ``commit`` nor the files name one (default: the
    project's root; the CLI passes its current folder)."""
    authorize(project, user, "read" if check else "qualify")
    ns = _namespace(project, namespace)
    files = _junit_files(project, user, junit)
    rs_id, rs_version, requirements = _requirements(project, ns)
    cases = [case for f in files for case in f["cases"]]
    evaluation = qualification.evaluate(requirements, cases)
    evidence = [{"file": f["file"], "sha256": f["sha256"], "tests": len(f["cases"]),
                 "stored_as": project.rel(project.evidence_path(f["sha256"]))} for f in files]
    gaps = qualification.gaps(evaluation)
    result = QualifyResult(ns, check, not gaps, {"doc_id": rs_id, "version": rs_version},
                           evaluation["requirements"], evaluation["unknown"],
                           evaluation["summary"], gaps, evidence)
    if check:
        return result
    result.commit, result.tree = _source(project, files, commit, workdir)
    result.dirty = False if result.commit else None
    run = {"commit": result.commit, "tree": result.tree, "dirty": result.dirty,
           "date": audit.now_ts(), "user": user, "rs": result.rs}
    generated = rtm.block(rs_id, rs_version, evaluation, evidence, run)
    result.rtm = _write(project, user, ns, generated, evaluation["summary"], files, run)
    return result


def _source(project: Project, files: list[dict[str, Any]], commit: str | None,
            workdir: str | None) -> tuple[str | None, str | None]:
    """``(commit, tree)`` the tests ran on, in the project's repository; ``(None, None)``
    when neither the project nor the run is in a git repository (nothing to bind)."""
    from qms.store.git import Repo, tested

    named: dict[str, str] = {}  # commit as named -> where
    for f in files:
        props = f["props"]
        if str(props.get("qms.dirty", "")).strip().lower() == "true":
            raise ValidationError(
                f"{f['file']}: the tests ran on a working tree with uncommitted changes "
                "(qms.dirty=true): commit them, run the tests again and qualify that run.")
        if props.get("qms.commit"):
            named.setdefault(props["qms.commit"].strip(), f["file"])
    if commit:
        named.setdefault(commit.strip(), "--commit")
    for sha, where in named.items():
        if not _SHA.match(sha):
            raise ValidationError(f"{where}: {sha[:60]!r} is not a commit hash.")
    repo = Repo.find(project.root)
    if repo is None or repo.work_tree is None:
        if named:
            raise ValidationError(f"{next(iter(named.values()))} names commit "
                                  f"{next(iter(named))}, but the project is not in a git "
                                  "repository.")
        return None, None
    from qms.store.git import repository

    prefix = repository(project)[1]
    if not named:
        folder = Path(workdir) if workdir else project.root
        ran = tested(folder, prefix, [Path(f["path"]) for f in files]) or \
            tested(project.root, prefix, [Path(f["path"]) for f in files])
        if ran is None:
            raise ValidationError("The repository has no commit yet: commit the code the "
                                  "tests ran on first.")
        area, head, changed = ran
        if changed:
            shown = ", ".join(repr(p) for p in changed[:5]) + (" ..." if len(changed) > 5 else "")
            raise ValidationError(
                f"The working tree of {area.work_tree} has changes outside qms's own data "
                f"({shown}): the tests did not run on a commit. Commit (and push) them, run "
                "the tests again and qualify that run, or name the commit they ran on "
                "(--commit SHA).", paths=changed[:20])
        named[head] = f"HEAD of {area.work_tree}"
    resolved: dict[str, str] = {}
    for sha, where in named.items():
        full = repo.rev(sha) if len(sha) >= 4 else None
        if full is not None and not repo.git("for-each-ref", "--count=1", "--contains", full,
                                            "refs/heads/"):
            full = None  # its objects are here, but no branch holds it: never pushed
        if full is None:
            raise ValidationError(
                f"{where}: no branch of the project's repository holds commit {sha[:40]} (in "
                "a code area: git push it first; the RTM binds only a commit the project "
                "has).",
                commit=sha)
        resolved.setdefault(full, where)
    if len(resolved) > 1:
        raise ValidationError("The evidence names different commits: " + "; ".join(
            f"{w}: {c[:12]}" for c, w in resolved.items()) + ". Qualify the results of one "
            "test run, on one commit.", commits=sorted(resolved))
    full = next(iter(resolved))
    return full, repo.tree(full)


def _namespace(project: Project, namespace: str) -> str:
    ns = (namespace or "").strip().upper()
    if not doctypes.NAMESPACE_RE.match(ns):
        raise ValidationError(f"Invalid namespace {str(namespace)[:40]!r}: use e.g. QMS or "
                              "WEB.")
    if not namespaces.known(project, ns):
        raise NotFound(f"Unknown SDLC namespace {ns}. An administrator can add it: "
                       f"qms --user lead namespace add {ns}")
    return ns


def _junit_files(project: Project, user: str, junit: list[str]) -> list[dict[str, Any]]:
    """Each file's text (inside the project only, UTF-8), SHA-256 and test cases; a file
    given twice (same hash) counts once."""
    if not junit:
        raise ValidationError("At least one JUnit XML file is required (--junit FILE).")
    if len(junit) > MAX_FILES:
        raise ValidationError(f"Too many JUnit files ({len(junit)}, limit {MAX_FILES}).")
    files, seen = [], set()
    for name in junit:
        text = read_project_file(project, user, name)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if sha in seen:
            continue  # the same results twice would count every test twice
        seen.add(sha)
        cases, props = qualification.parse_report(text, name)  # validates before any write
        for case in cases:
            case.source = sha[:12]
        path = Path(name).expanduser()
        full = (path if path.is_absolute() else project.root / path).resolve()
        files.append({"file": project.rel(full), "path": str(full), "text": text,
                      "sha256": sha, "cases": cases, "props": props})
    return files


def _requirements(project: Project, ns: str) -> tuple[str, str, list[tuple[str, str]]]:
    """The RS in force: its ID, version and requirement rows."""
    rs_id = f"SDLC-{ns}-RS"
    try:
        _, meta = load(project, rs_id)
    except NotFound:
        raise NotFound(f"{rs_id} does not exist: write the requirements first "
                       f"(qms --user <you> create {ns}-RS --title ...).") from None
    version = meta.get("effective_version") or (
        meta["version"] if meta.get("status") == "EFFECTIVE" else None)
    text = Texts(project, rs_id).effective() if version else None  # only the approved text
    if text is None:
        raise NotFound(f"{rs_id} has never been effective (it is {meta.get('status')} at "
                       f"v{meta.get('version')}): route it through review and approval first.")
    requirements = qualification.parse_requirements(frontmatter.split(text)[1])
    if not requirements:
        raise ValidationError(f"{rs_id} v{version} states no requirements: no table row "
                              "starts with a requirement ID (| REQ-XXX-001 | ... |).")
    return rs_id, version, requirements


def _write(project: Project, user: str, ns: str, generated: str, summary: dict,
           files: list[dict], run: dict) -> dict[str, str]:
    """Create or check out the RTM, splice in the generated section, check it in, store
    the evidence and record the qualification: one transaction."""
    from qms.operations.checkin import checkin
    from qms.operations.checkout import checkout
    from qms.operations.create import create

    rtm_id = f"SDLC-{ns}-RTM"
    with project.transaction() as tx:
        if not meta_store.exists(project, rtm_id, tx):
            create(project, user, doc_type=f"{ns}-RTM",
                   title=f"{ns} Requirements Traceability Matrix")
        else:
            meta = meta_store.load(project, rtm_id, tx)
            if not (meta.get("checked_out") and meta.get("responsible_user") == user):
                checkout(project, user, doc_id=rtm_id)
        ws = tx.read_text(project.workspace_path(user, rtm_id))
        if ws is None:
            raise Conflict(f"{rtm_id} is checked out to you but your workspace copy is "
                           "missing; check it in or unlock it first.")
        fields, body = frontmatter.split(ws)
        title = str(fields.get("title") or f"{ns} Requirements Traceability Matrix")
        heading = f"# {rtm_id}: {title}"
        text = frontmatter.dump({
            "title": title,
            "revision_summary": f"qms qualify {run['date']}: {rtm.summary_line(summary)}"}) \
            + rtm.splice(body, generated, heading)
        checkin(project, user, doc_id=rtm_id, content=text)
        for f in files:
            path = project.evidence_path(f["sha256"])
            if not tx.exists(path):
                tx.write_text(path, f["text"])
        meta = meta_store.load(project, rtm_id, tx)
        from qms.domain import integrity

        audit.append(tx, project, rtm_id, "QUALIFY", user, meta["version"],
                     rs=run["rs"], commit=run["commit"], tree=run["tree"], dirty=run["dirty"],
                     generated_sha256=integrity.sha256_text(generated),
                     evidence=[{"file": f["file"], "sha256": f["sha256"]} for f in files],
                     summary=summary)
    return {"doc_id": rtm_id, "version": meta["version"], "status": meta["status"]}
