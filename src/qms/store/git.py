"""Evidence commits for interactive prompts marked ``commit: true``; the revision a
qualification ran on.

Only what the user has already staged plus the named document files are committed; the
rest of the working tree is never swept in. Git failures raise ProjectError with git's own
message, so the caller can show it instead of recording a misleading answer.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from qms.errors import ProjectError

TIMEOUT_S = 60


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        # literal pathspecs: a '[' or '*' in a path must never widen what is committed
        return subprocess.run(["git", "--literal-pathspecs", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ProjectError("Evidence commit failed: git is not installed.") from None
    except subprocess.TimeoutExpired:
        raise ProjectError(f"Evidence commit failed: 'git {args[0]}' took longer than "
                           f"{TIMEOUT_S} s.") from None


def _checked(cwd: Path, *args: str) -> str:
    result = _git(cwd, *args)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ProjectError(f"Evidence commit failed: git {args[0]}: {detail}",
                           command=f"git {' '.join(args[:2])}", returncode=result.returncode,
                           stderr=detail)
    return result.stdout


def repo_top(root: Path) -> Path | None:
    """The work tree containing ``root``, or None when it is not in a git repository."""
    result = _git(root, "rev-parse", "--show-toplevel")
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def _changed(top: Path, paths: list[Path]) -> list[str]:
    """Changed or new (not ignored) files among ``paths``, relative to ``top``."""
    if not paths:
        return []  # no pathspec would mean the whole tree
    specs = [str(p.resolve().relative_to(top.resolve())) for p in paths]
    out = _checked(top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *specs)
    tokens, names = out.split("\0"), []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token:
            names.append(token[3:])
            if token[0] in "RC":
                i += 1  # the rename/copy source follows
        i += 1
    return names


def evidence_commit(root: Path, message: str, paths: list[Path]) -> str | None:
    """Commit the index plus ``paths``; return the short hash (None outside a repository)."""
    top = repo_top(root)
    if top is None:
        return None
    names = _changed(top, paths)
    if names:
        _checked(top, "add", "-A", "--", *names)
    _checked(top, "commit", "--allow-empty", "-q", "-m", message)
    return _checked(top, "rev-parse", "--short", "HEAD").strip()


def revision(root: Path) -> tuple[str | None, bool | None]:
    """``(HEAD commit, working tree has uncommitted changes)``; ``(None, None)`` outside a
    repository or without git. Ignored files do not count as changes."""
    try:
        head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
        if head.returncode != 0:
            return None, None
        status = _git(root, "status", "--porcelain=v1", "--untracked-files=normal")
    except ProjectError:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def show(root: Path, rev: str, path: str) -> tuple[bytes | None, str]:
    """The bytes of ``path`` (relative to ``root``) at commit ``rev``, in one ``git show``:
    ``(data, "")``, or ``(None, why)`` with why ``"no-git"`` (not a repository, or git is
    not installed), ``"no-rev"`` (no such commit, e.g. no commit yet) or ``"no-path"`` (the
    commit does not hold the file)."""
    import os

    try:
        proc = subprocess.run(["git", "show", "--end-of-options", f"{rev}:./{path}"], cwd=root,
                              capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL,
                              env={**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None, "no-git"
    if proc.returncode == 0:
        return proc.stdout, ""
    err = proc.stderr.decode("utf-8", "replace")
    if "not a git repository" in err:
        return None, "no-git"
    if "exists on disk, but not in" in err or "does not exist in" in err:
        return None, "no-path"
    return None, "no-rev"
