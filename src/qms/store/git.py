"""git, for everything qms does with it: the one module that runs git.

* code control (:class:`Repo`): refs, commits and changed paths read with git's plumbing and
  never from quoted output: ``diff-tree -r -z --no-renames`` gives each path as the raw bytes
  of its name, NUL-separated, decoded here with ``surrogateescape`` (so a name that is not
  UTF-8 keeps its bytes). Refs move only by compare-and-swap (``update-ref REF NEW OLD``).
  Inside a ``pre-receive`` hook the inherited environment (``GIT_QUARANTINE_PATH``,
  ``GIT_OBJECT_DIRECTORY``) lets the pushed objects be read before they are accepted;
* evidence commits for interactive prompts marked ``commit: true``
  (:func:`evidence_commit`): only what the user has already staged plus the named document
  files are committed, never the rest of the working tree;
* what a dossier or ``verify`` reads: :func:`revision`, :func:`show`.

Every command goes through :func:`_run`: git's own environment variables that would point
it elsewhere are dropped, the locale is C, a failure is a ProjectError with git's message.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from qms.errors import ProjectError, UsageError, ValidationError
from qms.store.project import Project

ZERO = "0" * 40
MAIN = "refs/heads/main"  # the one branch code lands on under code control
DURABLE = ("-c", "core.fsync=objects,reference")  # fsync what the command writes (git >= 2.36)
TIMEOUT_S = 120
_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_NAMESPACE")

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Callable, Iterable


_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@{}~^+-]{0,199}$")  # no options, no spaces


def check_ref(ref: str) -> str:
    """``ref`` when it can only be a revision (never an option, no spaces)."""
    if not _REF.match(ref or ""):
        raise UsageError(f"Not a git revision: {str(ref)[:60]!r}.")
    return ref


def decode(raw: bytes) -> str:
    """A path as git stores it: UTF-8, any other byte kept as a surrogate."""
    return raw.decode("utf-8", "surrogateescape")


def printable(path: str) -> str:
    """A path for a record or a message: bytes that are not UTF-8 shown as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def listed(items: list[str], most: int = 5) -> str:
    """The first ``most`` paths or commits, printable, and how many more there are."""
    shown = ", ".join(printable(p) for p in items[:most])
    return shown + (f" (and {len(items) - most} more)" if len(items) > most else "")


class Repo:
    """A git repository by its git folder (``.git`` of a work tree, or a bare repository)."""

    def __init__(self, git_dir: Path, work_tree: Path | None = None) -> None:
        self.git_dir, self.work_tree = git_dir, work_tree

    @classmethod
    def of(cls, folder: Path) -> "Repo | None":
        """The repository ``folder`` is in (a work tree or a bare repository), or None."""
        try:
            out = decode(_run(["git", "rev-parse", "--absolute-git-dir",
                               "--is-bare-repository"], cwd=folder, env=_env())).splitlines()
            if len(out) < 2:
                return None
            if out[1] == "true":
                return cls(Path(out[0]))
            top = decode(_run(["git", "rev-parse", "--show-toplevel"], cwd=folder, env=_env()))
        except ProjectError:
            return None
        return cls(Path(out[0]), Path(top.strip()) if top.strip() else None)

    @classmethod
    def find(cls, folder: Path) -> "Repo | None":
        """Like :meth:`of`, without running git when a plain ``.git`` folder is found walking
        up from ``folder`` (the common case; a linked work tree asks git)."""
        for top in (folder, *folder.parents):
            dot = top / ".git"
            if dot.is_dir() and not dot.is_symlink():
                return cls(dot, top)
            if dot.exists():
                break
        return cls.of(folder)

    # -- running git ---------------------------------------------------------------------
    def git(self, *args: str, input: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> bytes:
        """``git ARGS`` in this repository: its stdout; a failure raises ProjectError with
        git's message (``check=False``: returns b"" instead)."""
        cmd = ["git", f"--git-dir={self.git_dir}"]
        if self.work_tree is not None:
            cmd.append(f"--work-tree={self.work_tree}")
        options = list(args[:2]) if args[:1] == ("-c",) else []  # ``-c`` goes before the verb
        try:
            return _run([cmd[0], *options, *cmd[1:], *args[len(options):]],
                        cwd=self.work_tree or self.git_dir, env=_env(env), input=input)
        except ProjectError:
            if check:
                raise
            return b""

    # -- refs -------------------------------------------------------------------------------
    def rev(self, ref: str) -> str | None:
        """The commit ``ref`` names (full hash), or None."""
        out = self.git("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}",
                       check=False)
        return out.decode().strip() or None

    def tree(self, commit: str) -> str | None:
        """The tree of ``commit`` (full hash), or None."""
        out = self.git("rev-parse", "--verify", "-q", "--end-of-options", f"{commit}^{{tree}}",
                       check=False)
        return out.decode().strip() or None

    def changes(self, excluded: Callable[[str], bool]) -> list[str]:
        """Paths of the working tree that differ from ``HEAD`` (modified, staged, deleted,
        untracked and not ignored), raw, except those ``excluded`` says to leave out."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all",
                       "--no-renames", "--ignore-submodules=none")
        paths = [decode(entry[3:]) for entry in out.split(b"\0") if len(entry) > 3]
        return [p for p in paths if not excluded(p)]

    def staged(self) -> list[str]:
        """Paths staged in the index against ``HEAD``, raw (a rename: its two paths)."""
        out = self.git("diff", "--cached", "--name-only", "-z", "--no-renames")
        return [p for p in decode(out).split("\0") if p]

    def ref(self, ref: str) -> str | None:
        """The object ``ref`` holds, not peeled (a tag object stays itself), or None."""
        out = self.git("rev-parse", "--verify", "-q", "--end-of-options", ref, check=False)
        return out.decode().strip() or None

    def update_ref(self, ref: str, new: str, old: str) -> None:
        """Move ``ref`` to ``new`` only if it still holds ``old`` (ZERO: create it only if
        absent): git's compare-and-swap."""
        self.git(*DURABLE, "update-ref", "-m", "qms", "--end-of-options", ref, new, old)

    def delete_ref(self, ref: str, old: str) -> None:
        self.git("update-ref", "-d", "--end-of-options", ref, old)

    def is_ancestor(self, a: str, b: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", "--end-of-options", a, b)
        except ProjectError:
            return False  # not an ancestor (exit 1), or no such commit
        return True

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.git("merge-base", "--end-of-options", a, b, check=False)
        return out.decode().strip() or None

    def rev_list(self, tip: str, exclude: Iterable[str] = (), first_parent: bool = False
                 ) -> list[str]:
        """Commits reachable from ``tip`` and from none of ``exclude``, newest first
        (``first_parent``: only along ``tip``'s first parents)."""
        out = self.git("rev-list", *(["--first-parent"] if first_parent else []),
                       "--end-of-options", tip, *(f"^{x}" for x in exclude if x), "--")
        return out.decode().split()

    def first_parents(self, tip: str, exclude: Iterable[str] = ()
                      ) -> list[tuple[str, str, list[str]]]:
        """``(commit, tree, parents)`` along ``tip``'s first parents, newest first, stopping
        at what ``exclude`` reaches: one ``git log``."""
        out = self.git("log", "--first-parent", "--format=%H %T %P", "--end-of-options", tip,
                       *(f"^{x}" for x in exclude if x), "--")
        found = []
        for line in out.decode().splitlines():
            shas = line.split()
            if len(shas) >= 2:
                found.append((shas[0], shas[1], shas[2:]))
        return found

    def tips(self, *refs: str) -> list[tuple[str, str, str]]:
        """``(ref, commit, its tree)`` of those of ``refs`` (full names) that exist."""
        out = self.git("for-each-ref", "--format=%(refname)%00%(objectname)%00%(tree)",
                       "--end-of-options", *refs)
        return [tuple(line.split("\0")[:3]) for line in decode(out).splitlines()
                if line.count("\0") >= 2 and line.split("\0")[0] in refs]  # type: ignore[misc]

    def refs(self, *prefixes: str) -> list[tuple[str, str, str]]:
        """``(ref, object, peeled commit or '')`` of every ref under ``prefixes``."""
        out = self.git("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)",
                       "--end-of-options", *prefixes)
        return [tuple(line.split("\0")[:3]) for line in decode(out).splitlines()
                if line.count("\0") >= 2]  # type: ignore[misc]

    def diff(self, a: str, b: str) -> list[str]:
        """Paths whose entries differ between the trees of ``a`` and ``b`` (raw, recursive,
        no rename detection)."""
        out = self.git("diff-tree", "-r", "-z", "--no-renames", "--name-only",
                       "--no-commit-id", "--no-ext-diff", "--no-textconv", "--end-of-options",
                       a, b)
        return [decode(p) for p in out.split(b"\0") if p]

    # -- writing objects (durably: the merge records them before it moves a ref) -----------
    def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of a clean merge of two commits (``merge-tree --write-tree``; no work
        tree, no index), or None when they conflict."""
        out = self.git(*DURABLE, "merge-tree", "--write-tree", "--no-messages", ours, theirs,
                       check=False)
        lines = out.decode().split()
        return lines[0] if len(lines) == 1 else None

    def commit_tree(self, tree: str, parents: list[str], message: str,
                    identity: dict[str, str]) -> str:
        """A new commit object (``identity``: ``GIT_AUTHOR_*``/``GIT_COMMITTER_*``)."""
        args = [a for p in parents for a in ("-p", p)]
        out = self.git(*DURABLE, "commit-tree", tree, *args, "-F", "-",
                       input=message.encode("utf-8"), env=identity)
        return out.decode().strip()

    def mktag(self, commit: str, name: str, tagger: str, message: str) -> str:
        """A new annotated tag object for ``commit`` (``tagger``: ``Name <email> TS +0000``)."""
        text = f"object {commit}\ntype commit\ntag {name}\ntagger {tagger}\n\n{message}"
        return self.git(*DURABLE, "mktag", input=text.encode("utf-8")).decode().strip()

    def config(self, key: str, value: str) -> None:
        self.git("config", "--end-of-options", key, value)

    # -- commits and paths ------------------------------------------------------------------
    def new_commits(self, new: str, exclude: Iterable[str]) -> list[tuple[str, list[str], str]]:
        """Commits reachable from ``new`` and from none of ``exclude``, oldest first:
        ``(hash, parents, QMS-CR trailer values joined by ',')``."""
        fmt = "%H%x00%P%x00%(trailers:key=QMS-CR,valueonly,separator=%x2C,unfold)"
        out = self.git("log", "--reverse", "--topo-order", f"--format={fmt}", "-z",
                       "--end-of-options", new, *(f"^{x}" for x in exclude if x), "--")
        fields = decode(out).split("\0")
        commits = []
        for i in range(0, len(fields) - 2, 3):
            sha = fields[i].strip("\n")
            if sha:
                commits.append((sha, fields[i + 1].split(), fields[i + 2].strip()))
        return commits

    def changed_paths(self, pairs: Iterable[tuple[str, str | None]]) -> dict[str, list[str]]:
        """For each ``(commit, base)`` the paths whose entries differ between ``base`` and
        ``commit`` (``base`` None: a root commit against the empty tree), raw, recursive,
        without rename detection: symlinks and submodule pointers are paths like any other."""
        pairs = list(pairs)
        if not pairs:
            return {}
        lines = "".join(f"{c} {b}\n" if b else f"{c}\n" for c, b in pairs).encode()
        out = self.git("diff-tree", "--stdin", "-r", "-z", "--no-renames", "--root",
                       "--no-ext-diff", "--no-textconv", input=lines)
        found: dict[str, list[str]] = {c: [] for c, _ in pairs}
        current = None
        tokens = out.split(b"\0")
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.startswith(b":"):
                if current is not None and i + 1 < len(tokens):
                    found[current].append(decode(tokens[i + 1]))
                i += 2
                continue
            if token.strip():
                current = token.strip().decode()
                found.setdefault(current, [])
            i += 1
        return found


def clone(source: Path, dest: Path, branch: str) -> "Repo":
    """A new clone of ``branch`` at ``dest`` (nothing checked out yet)."""
    _run(["git", "clone", "--quiet", "--no-checkout", "--branch", branch, "--", str(source),
          str(dest)], cwd=dest.parent, env=_env())
    return Repo(dest / ".git", dest)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", **(extra or {}))
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], input: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=TIMEOUT_S,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise ProjectError("git is not installed (code control needs it).") from None
    except subprocess.TimeoutExpired:
        raise ProjectError(f"'git {cmd[2] if len(cmd) > 2 else ''}' took longer than "
                           f"{TIMEOUT_S} s.") from None
    except NotADirectoryError:
        raise ProjectError(f"{cwd} is not a folder.") from None
    if proc.returncode != 0:
        detail = decode(proc.stderr or proc.stdout).strip()
        verb = next((a for a, before in zip(cmd[1:], cmd) if not a.startswith("-")
                     and before != "-c"), "")
        raise ProjectError(f"git {verb} failed: {printable(detail)}", stderr=printable(detail),
                           returncode=proc.returncode)
    return proc.stdout


def repository(project: Project) -> tuple[Repo, str]:
    """The project's git repository and the project's folder in it ('' at its top)."""
    repo = Repo.find(project.root)
    if repo is None or repo.work_tree is None:
        raise ValidationError(f"{project.root} is not in a git work tree: code control needs "
                              "the project's repository (git init; commit; then add a system).")
    prefix = os.path.relpath(project.root, repo.work_tree)
    return repo, "" if prefix == "." else prefix.replace(os.sep, "/")


def tested(folder: Path, project_prefix: str, ignore: Iterable[Path] = ()
           ) -> tuple[Repo, str, list[str]] | None:
    """What tests run in ``folder`` ran on: its repository, the ``HEAD`` commit, and the
    paths of its working tree that differ from it outside qms's own data (the project's
    ``QMS/`` ... at ``project_prefix``) and outside ``ignore`` (e.g. the JUnit file being
    written). None outside a repository or before its first commit."""
    from qms.domain.scope import protected

    repo = Repo.find(folder)
    if repo is None or repo.work_tree is None:
        return None
    head = repo.rev("HEAD")
    if head is None:
        return None
    top = repo.work_tree.resolve()
    skip = set()
    for path in ignore:
        try:
            skip.add(path.resolve().relative_to(top).as_posix())
        except ValueError:
            continue  # outside this work tree: never one of its changes
    return repo, head, repo.changes(lambda p: p in skip or protected(p, project_prefix))


PROJECT_DATA = ("QMS", "qms.config.json", ".claude/agents")


def snapshot(repo: Repo, commit: str, prefix: str, dest: Path) -> Path:
    """The project's data as committed at ``commit`` (``QMS/``, ``qms.config.json``,
    ``.claude/agents``) unpacked into ``dest`` (``git archive``; regular files and folders
    only); returns the project root in it."""
    import io
    import tarfile

    names = [f"{prefix}/{n}" if prefix else n for n in PROJECT_DATA]
    listed = repo.git("ls-tree", "-z", "--name-only", "--end-of-options", commit, "--", *names)
    present = [decode(n) for n in listed.split(b"\0") if n]
    if not any(n.endswith("QMS") for n in present):
        raise ValidationError(f"{commit[:12]} holds no committed QMS/ data at "
                              f"{prefix or 'the top'} of the repository.")
    data = repo.git("archive", "--format=tar", commit, *present)  # names from ls-tree
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()) or member.name.startswith("/") \
                    or ".." in member.name.split("/"):
                raise ValidationError(f"{commit[:12]}: {printable(member.name)} in the "
                                      "committed QMS data is not a plain file.")
        tar.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return dest / prefix if prefix else dest


# -- evidence commits, revisions, files at a revision --------------------------------------
def evidence_commit(root: Path, message: str, paths: list[Path],
                    data_only: bool = False) -> str | None:
    """Commit the index plus ``paths`` (literal pathspecs: a ``[`` or ``*`` in a name never
    widens what is committed); return the short hash (None outside a repository).
    ``data_only`` (a governed repository, where code reaches ``main`` only through ``qms
    merge``): refused when the index holds anything but qms's own data."""
    repo = Repo.find(root)
    if repo is None or repo.work_tree is None:
        return None
    top = repo.work_tree
    if data_only:
        from qms.domain.scope import protected

        prefix = os.path.relpath(root, top).replace(os.sep, "/")
        code = [p for p in repo.staged() if not protected(p, "" if prefix == "." else prefix)]
        if code:
            raise ProjectError(
                f"Evidence commit refused: the index holds {printable(code[0])!r}"
                + (f" and {len(code) - 1} more path(s)" if len(code) > 1 else "")
                + ", which is not qms's own data. Under code control, code reaches main only "
                "through a CR's code area and qms merge: unstage it (git restore --staged "
                "PATH) and answer again. Nothing was recorded.", path=code[0])

    def run(*args: str) -> str:
        try:
            return decode(repo.git(*args, env={"GIT_LITERAL_PATHSPECS": "1"}))
        except ProjectError as err:
            detail = err.details.get("stderr") or err.message
            raise ProjectError(f"Evidence commit failed: git {args[0]}: {detail}",
                               command=f"git {' '.join(args[:2])}",
                               returncode=err.details.get("returncode"), stderr=detail) from None

    specs = [str(p.resolve().relative_to(top.resolve())) for p in paths]
    if specs:  # no pathspec would mean the whole tree
        out = run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *specs)
        tokens, names = out.split("\0"), []
        i = 0
        while i < len(tokens):
            if tokens[i]:
                names.append(tokens[i][3:])
                if tokens[i][0] in "RC":
                    i += 1  # the rename/copy source follows
            i += 1
        if names:
            run("add", "-A", "--", *names)
    run("commit", "--allow-empty", "-q", "-m", message)
    return run("rev-parse", "--short", "HEAD").strip()


def revision(root: Path) -> tuple[str | None, bool | None]:
    """``(HEAD commit, working tree has uncommitted changes)``; ``(None, None)`` outside a
    repository or without git. Ignored files do not count as changes."""
    repo = Repo.find(root)
    head = repo.rev("HEAD") if repo is not None and repo.work_tree is not None else None
    if repo is None or head is None:
        return None, None
    try:
        status = repo.git("status", "--porcelain=v1", "--untracked-files=normal")
    except ProjectError:
        return head, None
    return head, bool(status.strip())


def show(root: Path, rev: str, path: str) -> tuple[bytes | None, str]:
    """The bytes of ``path`` (relative to ``root``) at commit ``rev``, in one ``git show``:
    ``(data, "")``, or ``(None, why)`` with why ``"no-git"`` (not a repository, or git is
    not installed), ``"no-rev"`` (no such commit, e.g. no commit yet) or ``"no-path"`` (the
    commit does not hold the file)."""
    try:
        return _run(["git", "show", "--end-of-options", f"{rev}:./{path}"], cwd=root,
                    env=_env({"GIT_OPTIONAL_LOCKS": "0"})), ""
    except ProjectError as err:
        detail = str(err.details.get("stderr") or err.message)
    if "not a git repository" in detail or "not installed" in detail or \
            "took longer" in detail:
        return None, "no-git"
    if "exists on disk, but not in" in detail or "does not exist in" in detail:
        return None, "no-path"
    return None, "no-rev"
