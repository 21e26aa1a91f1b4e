"""`qms-mcp`: serve a qms project over MCP, or manage its background server.

    qms-mcp [--transport stdio|sse|streamable-http] [--host H] [--port P] [--project-root DIR]
            [--identity-ttl SECONDS] [--allow-host NAME ...] [--log-level LEVEL]
    qms-mcp start [--background] [same options; transport defaults to streamable-http]
    qms-mcp status|stop [--project-root DIR]

The project is `--project-root`, else `$QMS_PROJECT_ROOT`, else found walking up from the cwd.
Logs go to stderr only (in stdio mode stdout belongs to the protocol).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from qms import operations
from qms.errors import QMSError
from qms.mcp import daemon, logfile
from qms.mcp.config import DEFAULT_HOST, DEFAULT_PORT, endpoint_url
from qms.mcp.identity import DEFAULT_TTL, IdentityRegistry
from qms.mcp.server import TRANSPORTS, build, run
from qms.mcp.tools import Backend
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
    parser.add_argument("--identity-ttl", type=float, default=DEFAULT_TTL, metavar="SECONDS",
                        help=f"identity lock lifetime without requests ({DEFAULT_TTL:.0f})")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also accept this Host/Origin name (repeatable)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _serve_args(args: argparse.Namespace, root: Path) -> list[str]:
    """The command line of the detached server: the foreground form of `args`."""
    argv = ["--transport", args.transport, "--host", args.host, "--port", str(args.port),
            "--project-root", str(root), "--identity-ttl", str(args.identity_ttl),
            "--log-level", args.log_level]
    return argv + [a for host in args.allow_host for a in ("--allow-host", host)]


def _serve(args: argparse.Namespace, project: Project) -> None:
    backend = Backend(project, operations, IdentityRegistry(args.identity_ttl))
    server = build(backend, noop=os.environ.get(NOOP_ENV) == "1")
    where = "stdin/stdout" if args.transport == "stdio" else endpoint_url(args.host, args.port)
    log.info("qms-mcp serving %s over %s: %s", project.root, args.transport, where)
    run(server, args.transport, args.host, args.port, args.allow_host, str(project.root))


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
        if command == "start" and args.background:
            return daemon.start(project.root, args.host, args.port, _serve_args(args, project.root))
        _serve(args, project)
    except QMSError as err:
        print(f"qms-mcp: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
