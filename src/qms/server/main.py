"""`qms-mcp`: serve a qms project over MCP, or manage its background server.

    qms-mcp [--transport stdio|sse|streamable-http] [--host H] [--port P] [--project-root DIR]
            [--auth off|optional|required] [--insecure] [--no-web]
            [--identity-ttl SECONDS] [--allow-host NAME ...] [--log-level LEVEL]
    qms-mcp start [--background] [same options; transport defaults to streamable-http]
    qms-mcp status|stop [--project-root DIR]

The project is `--project-root`, else `$QMS_PROJECT_ROOT`, else found walking up from the cwd.
Logs go to stderr only (in stdio mode stdout belongs to the protocol).

--auth (else $QMS_AUTH; default optional): `required` makes every MCP request carry a valid
bearer token (`qms token issue USER`); a stdio server then takes its token from
$QMS_TOKEN/$QMS_TOKEN_FILE. A non-loopback --host needs `--auth required` (or --insecure).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial
from pathlib import Path

from qms.errors import QMSError, UsageError
from qms.mcp.auth import ENV_AUTH, AuthMode, is_loopback, stdio_credential
from qms.mcp.identity import DEFAULT_TTL, IdentityRegistry
from qms.mcp.server import TRANSPORTS, build
from qms.mcp.tools import Backend
from qms.operations.mcp_config import DEFAULT_HOST, DEFAULT_PORT, base_url, endpoint_url
from qms.server import daemon, logfile
from qms.server.app import run
from qms.store import atomic, tokens, users
from qms.store.project import Project

NOOP_ENV = "QMS_MCP_BENCH_NOOP"  # "1": also expose the benchmark-only `qms_noop` tool
COMMANDS = ("start", "status", "stop")
log = logging.getLogger("qms.mcp")


def _parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"qms-mcp {command or ''}".strip(), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-root", help="default: $QMS_PROJECT_ROOT, else walk up from cwd")
    if command in ("status", "stop"):
        return parser
    if command == "start":
        parser.add_argument("--background", action="store_true",
                            help="run detached; pid and log files under <project>/.qms/")
    transport = "streamable-http" if command else "stdio"
    parser.add_argument("--transport", choices=TRANSPORTS[1:] if command else TRANSPORTS,
                        default=transport, help=f"default: {transport}")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address ({DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    parser.add_argument("--auth", choices=[m.value for m in AuthMode],
                        default=os.environ.get(ENV_AUTH) or None,
                        help="bearer tokens: off | optional | required (default: $QMS_AUTH, "
                        "else optional)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback --host without --auth required")
    parser.add_argument("--identity-ttl", type=float, default=DEFAULT_TTL, metavar="SECONDS",
                        help=f"identity lock lifetime without requests ({DEFAULT_TTL:.0f})")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also accept this Host/Origin name (repeatable)")
    parser.add_argument("--no-web", action="store_true",
                        help="do not serve the read-only web pages next to /mcp")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _serve_args(args: argparse.Namespace, root: Path) -> list[str]:
    """The command line of the detached server: the foreground form of `args`."""
    argv = ["--transport", args.transport, "--host", args.host, "--port", str(args.port),
            "--project-root", str(root), "--identity-ttl", str(args.identity_ttl),
            "--log-level", args.log_level, "--auth", args.auth]
    argv += ["--insecure"] if args.insecure else []
    argv += ["--no-web"] if args.no_web else []
    return argv + [a for host in args.allow_host for a in ("--allow-host", host)]


def _check_auth(args: argparse.Namespace, project: Project) -> str | None:
    """Settle `args.auth`; refuse an unauthenticated non-loopback bind; return the stdio
    server's own token secret (if it has one)."""
    if args.auth and args.auth not in set(AuthMode):
        raise UsageError(f"${ENV_AUTH} must be off, optional or required, not {args.auth!r}")
    args.auth = args.auth or AuthMode.OPTIONAL.value
    http = args.transport != "stdio"
    if http and args.auth != AuthMode.REQUIRED and not is_loopback(args.host) \
            and not args.insecure:
        raise UsageError(
            f"refusing to serve {args.host} (not a loopback address) without authentication: "
            "pass --auth required (tokens: qms token issue USER), or --insecure if you really "
            "mean to trust every caller that can reach the port")
    if http or args.auth == AuthMode.OFF:
        return None
    secret = tokens.secret_from_env()
    if secret is None and args.auth == AuthMode.REQUIRED:
        raise UsageError("--auth required over stdio needs this server's token in $QMS_TOKEN "
                         "or $QMS_TOKEN_FILE")
    stdio_credential(project, secret)  # refuse a bad token at start, not at the first call
    return secret


def _serve(args: argparse.Namespace, project: Project, secret: str | None) -> None:
    registry = IdentityRegistry(args.identity_ttl, known=partial(users.group_of, project))
    backend = Backend(project, registry, secret)
    server = build(backend, noop=os.environ.get(NOOP_ENV) == "1")
    where = "stdin/stdout" if args.transport == "stdio" else endpoint_url(args.host, args.port)
    log.info("qms-mcp serving %s over %s: %s", project.root, args.transport, where)
    log.info("authentication: %s", args.auth)
    log.info("confined reads: %s", "openat2 (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)"
             if atomic.resolve_in_kernel() else "one folder at a time")
    web = None if args.no_web or args.transport == "stdio" else project
    if web is not None:
        log.info("qms-mcp web pages: %s/", base_url(args.host, args.port))
    run(server, args.transport, args.host, args.port, args.allow_host, str(project.root),
        AuthMode(args.auth), web)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else None
    parser = _parser(command)
    args = parser.parse_args(argv)
    if getattr(args, "identity_ttl", 1) <= 0:  # 0 would expire every lock at once: no locking
        parser.error("--identity-ttl must be > 0")
    if os.environ.get(logfile.ENV) and command is None:  # the detached server: rotated log
        logfile.capture(Path(os.environ.pop(logfile.ENV)))
    level = getattr(args, "log_level", "INFO")
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the SDK logs every request at INFO
    logging.getLogger("mcp").setLevel(level if level == "DEBUG" else "WARNING")
    try:
        project = Project.open(args.project_root) if args.project_root else Project.discover()
        if command == "status":
            return daemon.status(project.root)
        if command == "stop":
            return daemon.stop(project.root)
        secret = _check_auth(args, project)
        if command == "start" and args.background:
            return daemon.start(project.root, args.host, args.port, _serve_args(args, project.root))
        _serve(args, project, secret)
    except QMSError as err:
        print(f"qms-mcp: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
