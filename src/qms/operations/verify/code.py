"""``qms verify --code`` (and ``qms verify`` when the project has a system): the project's
repository against the signed chain (docs/integrity.md, *Code*).

* ``main``, along its first parents from where governance began (the first ``SYSTEM_ADD``'s
  ``base``): every commit is a recorded ``CODE_MERGE`` (same tree and parents as its
  event), or touches only qms's own data; every ``CODE_MERGE`` is on that line;
* release tags: every tag shaped like a release of a system is the tag object its
  ``CODE_MERGE`` made, on the merge commit; every merge's tag is there;
* branches: every ``cr/CR-NNN`` is where its last recorded push left it (a push recorded but
  never landed, whose commit is not on ``main`` either, leaves it at that push's ``old``:
  the push gate's rule), every ``genesis/<system>`` where its last ``GENESIS_PUSH`` left it;
  none of them is gone (no ref is deleted under code control).

An event counts only as the chain vouches for it (the exact line, by ``seq``: the chain's
links and signatures are checked first). Findings (kind ``code``) name the commit or ref and
the paths. A merge killed midway is first finished or undone (:func:`recover`).
"""

from __future__ import annotations

from qms.domain import integrity
from qms.operations.verify.check import PROJECT, parse
from qms.store.git import MAIN, listed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator

    from qms.operations.verify.check import Check
    from qms.store.git import Repo



def recover(check: Check) -> None:
    """A merge killed midway is finished or undone first (the caller holds the lock), as
    any command completes an interrupted commit."""
    from qms.errors import ValidationError
    from qms.operations.code import landing
    from qms.store.git import repository

    if not landing.pending(check.project):
        return
    try:
        repo = repository(check.project)[0]
    except ValidationError:
        return
    check.notes += landing.recover(check.project, repo)


def check(check: Check) -> None:
    """The repository against the chain; nothing to do without a system."""
    from qms.errors import ValidationError
    from qms.operations.code.branch import PREFIX as BRANCHES
    from qms.operations.code.genesis import PREFIX as GENESIS
    from qms.operations.code.release import TAGS
    from qms.operations.code.systems import governed
    from qms.store.git import repository

    systems = governed(check.project)
    if not systems:
        return
    try:
        repo, prefix = repository(check.project)
    except ValidationError as err:
        check.find(PROJECT, "code", f"the project has systems but no repository: {err.message}")
        return
    before = len(check.findings)
    events = _vouched(check, PROJECT, check.project_lines(), "CODE_MERGE", "GENESIS_PUSH")
    merges = [e for e in events if e["event"] == "CODE_MERGE"]
    refs = repo.refs(MAIN, TAGS, BRANCHES, GENESIS)  # one call
    _main(check, repo, prefix, systems, merges, next((r[1] for r in refs if r[0] == MAIN), None))
    _tags(check, refs, systems, merges)
    _branches(check, repo, refs, [e for e in events if e["event"] == "GENESIS_PUSH"], systems)
    if len(check.findings) == before:
        check.notes.append(f"the repository agrees with the chain: main since governance began "
                           f"({len(merges)} merge(s)), release tags and branches")


def _vouched(check: Check, doc_id: str, lines: Iterable[tuple[bytes, dict]], *kinds: str
             ) -> list[dict]:
    """The events of these kinds among a trail's ``(line, event)`` that the chain vouches
    for, in order."""
    return [e for line, e in lines if e.get("event") in kinds and check.vouches(doc_id, line, e)]


def _branch_events(check: Check, doc_id: str, data: bytes | None) -> list[dict]:
    """A CR's vouched CODE_BRANCH and CODE_PUSH events, from its trail's bytes."""
    kinds = ("CODE_BRANCH", "CODE_PUSH")
    return _vouched(check, doc_id, _parsed(data, *kinds), *kinds)


def _parsed(data: bytes | None, *kinds: str) -> Iterator[tuple[bytes, dict]]:
    """The ``(line, event)`` of a trail's lines that may be events of these kinds (damaged
    lines are the trails check's findings)."""
    wanted = tuple(f'"event": "{k}"'.encode() for k in kinds)
    for line in integrity.lines_of(data or b""):
        if any(w in line for w in wanted):
            try:
                event = parse(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield line, event


def _main(check: Check, repo: Repo, prefix: str, systems: dict, merges: list[dict],
          main: str | None) -> None:
    from qms.errors import ProjectError
    from qms.domain.scope import protected
    from qms.store.git import printable

    base = min(systems.values(), key=lambda s: s.get("seq") or 0).get("base") or ""
    try:
        line = repo.first_parents(main, [base]) if main else []
    except ProjectError:  # no such base commit
        line = []
    if main is None or (main != base and (not line or line[-1][2][:1] != [base])):
        check.find(PROJECT, "code", f"main ({(main or 'missing')[:12]}) does not descend, along "
                   f"its first parents, from the commit governance began at ({base[:12]}): "
                   "it was rewritten", MAIN)
        return
    by_new = {str(e.get("new")): e for e in merges}
    on_main = set()
    other = []
    for sha, tree, parents in line:
        e = by_new.get(sha)
        if e is None:
            other.append((sha, parents[0] if parents else None))
            continue
        on_main.add(sha)
        if tree != e.get("tree") or parents != [e.get("old"), e.get("head")]:
            check.find(str(e.get("doc_id")), "code", f"merge commit {sha[:12]} ({e.get('release')}) "
                       "is not the commit its CODE_MERGE recorded (tree or parents differ)", sha)
    changed = repo.changed_paths(other)
    for sha, _ in reversed(other):
        code = [p for p in changed.get(sha, []) if not protected(p, prefix)]
        if code:
            shown = listed(code)
            check.find(PROJECT, "code", f"commit {sha[:12]} on main came neither through qms "
                       f"merge nor touches only qms's own data: it changes {shown}", sha,
                       commit=sha, paths=[printable(p) for p in code])
    for e in merges:
        if str(e.get("new")) not in on_main:
            check.find(str(e.get("doc_id")), "code", f"the recorded merge {str(e.get('new'))[:12]} "
                       f"({e.get('release')}) is not on main's first-parent line: main was moved "
                       "back or rewritten", str(e.get("new")))


def _tags(check: Check, refs: list[tuple[str, str, str]], systems: dict, merges: list[dict]
          ) -> None:
    from qms.operations.code.release import TAGS, is_release

    made = {str(e.get("release")): e for e in merges}
    seen = set()
    for ref, obj, peeled in refs:
        if not ref.startswith(TAGS):
            continue
        name = ref[len(TAGS):]
        if not is_release(name, systems):
            continue
        seen.add(name)
        e = made.get(name)
        if e is None:
            check.find(PROJECT, "code", f"tag {name} was not made by qms merge (no CODE_MERGE "
                       "records it)", ref)
        elif obj != e.get("tag") or peeled != e.get("new"):
            check.find(str(e.get("doc_id")), "code", f"tag {name} holds {obj[:12]} "
                       f"({(peeled or obj)[:12]}), not the tag of its CODE_MERGE "
                       f"({str(e.get('tag'))[:12]} on {str(e.get('new'))[:12]}): it was moved",
                       ref)
    for name, e in made.items():
        if name not in seen:
            check.find(str(e.get("doc_id")), "code", f"tag {name} of the merge "
                       f"{str(e.get('new'))[:12]} is missing", TAGS + name)


def _branches(check: Check, repo: Repo, refs: list[tuple[str, str, str]], genesis: list[dict],
              systems: dict) -> None:
    from qms.operations.code import branch as branches
    from qms.operations.code.genesis import PREFIX as GENESIS

    for ref, tip, _ in refs:
        if not ref.startswith((branches.PREFIX, GENESIS)):
            continue
        if ref.startswith(GENESIS):
            name = ref[len(GENESIS):]
            system = systems.get(name) or {}
            if not system.get("genesis"):
                check.find(PROJECT, "code", f"{ref[11:]} exists, but no system was added for "
                           "genesis under that name: it was made behind qms's back", ref)
                continue
            pushes = [e for e in genesis if e.get("system") == name]
            _tip(check, repo, PROJECT, ref, tip, system.get("base"), pushes, "SYSTEM_ADD")
            continue
        m = branches.BRANCH_RE.match(ref)
        doc_id = m.group(1) if m else None
        events = _branch_events(check, doc_id, check.read(check.files(doc_id)["trail"])) \
            if doc_id else []
        opened, pushes = branches.record(events)
        if opened is None:
            check.find(doc_id or PROJECT, "code", f"{ref[11:]} exists, but no CODE_BRANCH "
                       "records it: it was made behind qms's back", ref)
            continue
        _tip(check, repo, str(doc_id), ref, tip, opened.get("base"), pushes, "CODE_BRANCH")
    _gone(check, {ref for ref, _, _ in refs}, systems)


def _gone(check: Check, present: set[str], systems: dict) -> None:
    """Branches the chain says exist and the repository has not: no ref is ever deleted
    under code control (every ``cr/`` branch a ``CODE_BRANCH`` opened, every ``genesis/``
    branch of a system added for genesis)."""
    from qms.operations.code import branch as branches
    from qms.operations.code.genesis import ref_of

    for name, system in sorted(systems.items()):
        if system.get("genesis") and ref_of(name) not in present:
            check.find(PROJECT, "code", f"genesis/{name} is gone, but the SYSTEM_ADD of {name} "
                       "opened it: it was deleted behind qms's back (no ref is deleted under "
                       "code control)", ref_of(name))
    for doc_id in sorted(check.chain_docs):
        ref = branches.branch_ref(doc_id)
        if ref in present or not branches.BRANCH_RE.match(ref):
            continue
        data = check.read(check.files(doc_id)["trail"])
        if data is None or b'"CODE_BRANCH"' not in data:
            continue
        opened, pushes = branches.record(_branch_events(check, doc_id, data))
        if opened is not None:
            last = _left(pushes, opened.get("base"))
            check.find(doc_id, "code", f"{ref[11:]} is gone, but its CODE_BRANCH opened it "
                       f"(last left at {last[:12]}): it was deleted behind qms's back (no ref "
                       "is deleted under code control)", ref)


def _tip(check: Check, repo: Repo, doc_id: str, ref: str, tip: str, base: Any,
         pushes: list[dict], opened: str) -> None:
    """The branch is where its last push left it; a last push that never landed (its
    commit is not on main either) leaves it at that push's ``old``."""
    last = _left(pushes, base)
    if pushes and tip == pushes[-1].get("old") and not repo.is_ancestor(last, MAIN):
        return
    if tip != last:
        check.find(doc_id, "code", f"{ref[11:]} is at {tip[:12]}, but its last recorded push "
                   f"(or its {opened}) left it at {last[:12]}: it was moved behind the gate's "
                   "back", ref)


def _left(pushes: list[dict], base: Any) -> str:
    """Where a branch's last recorded push left it (none yet: where it was opened)."""
    return str(pushes[-1].get("new")) if pushes else str(base)
