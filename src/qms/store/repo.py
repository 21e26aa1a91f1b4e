"""The project's git repository: the one module that runs git for code control.

Refs, commits and changed paths are read with git's plumbing and never from quoted output:
``diff-tree -r -z --no-renames`` gives each path as the raw bytes of its name, NUL-separated,
decoded here with ``surrogateescape`` (so a name that is not UTF-8 keeps its bytes). Refs
move only by compare-and-swap (``update-ref REF NEW OLD``). Inside a ``pre-receive`` hook
the inherited environment (``GIT_QUARANTINE_PATH``, ``GIT_OBJECT_DIRECTORY``) lets the
pushed objects be read before they are accepted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from qms.errors import ProjectError, ValidationError
from qms.store.project import Project

ZERO = "0" * 40
TIMEOUT_S = 120
_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_NAMESPACE")

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Iterable


def decode(raw: bytes) -> str:
    """A path as git stores it: UTF-8, any other byte kept as a surrogate."""
    return raw.decode("utf-8", "surrogateescape")


def printable(path: str) -> str:
    """A path for a record or a message: bytes that are not UTF-8 shown as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
        try:
            return _run([*cmd, *args], cwd=self.work_tree or self.git_dir,
                        env=_env(env), input=input)
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

    def update_ref(self, ref: str, new: str, old: str) -> None:
        """Move ``ref`` to ``new`` only if it still holds ``old`` (ZERO: create it only if
        absent): git's compare-and-swap."""
        self.git("update-ref", "-m", "qms", "--end-of-options", ref, new, old)

    def delete_ref(self, ref: str, old: str) -> None:
        self.git("update-ref", "-d", "--end-of-options", ref, old)

    def is_ancestor(self, a: str, b: str) -> bool:
        cmd = ["git", f"--git-dir={self.git_dir}", "merge-base", "--is-ancestor", a, b]
        proc = subprocess.run(cmd, capture_output=True, env=_env(), timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
        return proc.returncode == 0

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
        verb = next((a for a in cmd[1:] if not a.startswith("-")), "")
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
