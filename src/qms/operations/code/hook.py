"""Installing the push gate: the ``pre-receive`` hook of a repository that qms governs.

The hook is a short shell script that runs this installation's Python in isolated mode
(``-I``: no ``PYTHONPATH``, no user site, no current folder on the import path) with the
governed project's root written into it, so a pusher's environment cannot point the gate
at another project or another qms. ``qms.cli.githooks`` (the adapter; also ``qms hook
pre-receive``) reads git's ref updates and the pusher's identity and calls
:func:`qms.operations.code.push.code_receive`.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from qms.errors import Conflict, ValidationError
from qms.operations._shared import Result, authorize
from qms.store.project import Project
from qms.store.git import Repo

MARKER = "# qms pre-receive gate"


class HookResult(Result):
    repository: str
    hook: str
    message: str


def script(project: Project) -> str:
    python = shlex.quote(sys.executable)
    return (f"#!/bin/sh\n{MARKER} (installed by qms; docs/code-control.md)\n"
            f"exec {python} -I -m qms.cli.githooks pre-receive "
            f"{shlex.quote(str(project.root))}\n")


def install(repo: Repo, project: Project) -> str:
    """Write the gate into ``repo`` (where git looks for hooks, ``core.hooksPath`` included)
    and let it receive push options. A ``pre-receive`` hook that is not ours is refused."""
    hooks = Path(repo.git("rev-parse", "--git-path", "hooks").decode().strip())
    if not hooks.is_absolute():
        hooks = (repo.work_tree or repo.git_dir) / hooks
    path = hooks / "pre-receive"
    if path.is_symlink() or (path.exists() and MARKER not in _text(path)):
        raise Conflict(f"{path} already holds a pre-receive hook that is not qms's: merge it "
                       "by hand or move it away, then run qms code install-hook.",
                       path=str(path))
    hooks.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".pre-receive.qms-tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
    with os.fdopen(fd, "w") as out:
        out.write(script(project))
    os.replace(tmp, path)
    repo.config("receive.advertisePushOptions", "true")
    return f"The push gate guards {repo.work_tree or repo.git_dir} ({path})."


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def code_install_hook(project: Project, user: str, *, repository: str | None = None) -> HookResult:
    """``qms code install-hook [--repo PATH]``: install the gate in a (bare) repository that
    receives this project's pushes (default: the project's own repository)."""
    from qms.store.git import repository as project_repository

    authorize(project, user, "code_install_hook")
    if repository:
        repo = Repo.of(Path(repository).expanduser().resolve())
        if repo is None:
            raise ValidationError(f"{repository} is not a git repository.")
    else:
        repo = project_repository(project)[0]
    with project.transaction():  # one installer at a time
        message = install(repo, project)
    return HookResult(str(repo.work_tree or repo.git_dir), "pre-receive", message)
