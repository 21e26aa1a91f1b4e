"""``qms hook pre-receive`` (the push gate git runs) and ``qms hook pre-commit`` (a code
area's warning): the adapter between git's hook interface and ``qms.operations``.

Who pushes: over HTTP the server's one-time ticket (``QMS_PUSH_TICKET``, redeemed here, see
``qms.store.tickets``) names the bearer token's user, whatever else the push says; a ticket
that is not valid refuses the push. A local push names its user with the push option
``qms-user=NAME`` (a code area's ``push.pushOption``), else ``$QMS_USER``; it is then
authenticated as the CLI authenticates (``qms.cli.auth``): a token from the push option
``qms-token-file=FILE``, ``$QMS_TOKEN_FILE`` or ``$QMS_TOKEN`` when ``auth.cli`` is
required. ``REMOTE_USER`` in a local pusher's environment counts for nothing.
"""

from __future__ import annotations

import os
import sys

from qms.errors import QMSError, from_os_error


def push_options(env: dict[str, str]) -> dict[str, str]:
    options: dict[str, str] = {}
    try:
        count = int(env.get("GIT_PUSH_OPTION_COUNT") or 0)
    except ValueError:
        count = 0
    for i in range(min(count, 100)):
        key, _, value = env.get(f"GIT_PUSH_OPTION_{i}", "").partition("=")
        options.setdefault(key, value)
    return options


def pre_receive(project_root: str, stdin: str | None = None,
                env: dict[str, str] | None = None) -> int:
    """Decide the push git describes on stdin; 0 accepts it, 1 refuses it (the message goes
    to the pusher as git's ``remote:`` lines)."""
    from qms import operations as ops
    from qms.operations.code.push import process_start
    from qms.store.project import Project

    env = dict(os.environ) if env is None else env
    text = sys.stdin.read() if stdin is None else stdin
    updates = [tuple(line.split(" ", 2)) for line in text.splitlines() if line.strip()]
    try:
        if any(len(u) != 3 for u in updates):
            raise QMSError("qms push gate: git sent an update line qms cannot read.")
        project = Project.open(project_root)
        user, via = identify(project, env)
        holder = os.getppid()
        result = ops.code_receive(project, user, git_dir=env.get("GIT_DIR") or ".",
                                  updates=updates, via=via,
                                  holder=(holder, process_start(holder)))
    except (QMSError, OSError) as exc:
        err = exc if isinstance(exc, QMSError) else from_os_error(exc)
        print(err.message, file=sys.stderr)
        return 1
    if result.message:
        print(result.message, file=sys.stderr)
    return 0


def identify(project, env: dict[str, str]) -> tuple[str | None, str]:
    """``(user, "http" | "local")`` of the pusher (see the module docstring)."""
    from qms.errors import PermissionDenied
    from qms.store import tickets

    ticket = env.get(tickets.ENV_TICKET)
    if ticket is not None:
        user = tickets.redeem(project, ticket)
        if user is None:
            raise PermissionDenied("qms push gate: the push's HTTP ticket is not valid (used, "
                                   "expired or not issued by the qms server). Nothing was "
                                   "pushed or recorded.")
        return user, "http"
    options = push_options(env)
    user = options.get("qms-user") or env.get("QMS_USER") or None
    if user:
        from qms.cli import auth

        auth.check(project, user, options.get("qms-token-file") or None, env)
    return user, "local"


def pre_commit() -> int:
    """Warn (never refuse) about staged paths outside the code area's scope."""
    import json
    from pathlib import Path

    from qms.domain import scope as scopes
    from qms.operations.code.area import SCOPE_FILE
    from qms.store.git import Repo, printable

    repo = Repo.of(Path.cwd())
    if repo is None:
        return 0
    try:
        data = json.loads((repo.git_dir / SCOPE_FILE).read_text(encoding="utf-8"))
        blocks = [scopes.Scope(**s) for s in data["scopes"]]
        in_force = scopes.InForce(blocks, data["prefixes"], data.get("project_prefix", ""))
        staged = repo.staged()
    except (OSError, ValueError, KeyError, TypeError, QMSError):
        return 0
    outside = [p for p in staged if not in_force.allows(p)]
    for path in outside[:20]:
        print(f"qms warning: {printable(path)!r} is outside the CR's approved scope; the push "
              "gate will refuse it.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -I -m qms.cli.githooks pre-receive ROOT``: what the installed hook runs (the
    same as ``qms hook pre-receive --project ROOT``, without building the CLI's parser)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "pre-receive":
        return pre_receive(argv[1])
    print("usage: python -m qms.cli.githooks pre-receive PROJECT_ROOT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
