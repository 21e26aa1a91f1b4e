"""`qms-mcp-proxy URL [--retries N] [--timeout S]`: serve MCP on stdio, forward to URL."""

from __future__ import annotations

import argparse
import logging
import sys

import anyio

from mcp.server.stdio import stdio_server
from qms.errors import QMSError
from qms.proxy.bridge import Bridge
from qms.proxy.config import ProxyConfig

logger = logging.getLogger("qms.proxy")

QUIET_LOGGERS = ("httpx2", "httpcore2", "mcp")  # they log session ids and request lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qms-mcp-proxy",
        description="stdio MCP server that forwards every message to a streamable-http MCP server. "
        "Identity: QMS_USER (X-QMS-Identity); bearer token: QMS_TOKEN_FILE or QMS_TOKEN.",
    )
    parser.add_argument("url", help="streamable-http endpoint, e.g. http://host.docker.internal:8000/mcp")
    parser.add_argument("--retries", type=int, default=3, help="connection attempts to repeat (default 3)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the server (default 300)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if args.retries < 0 or args.timeout <= 0:
        parser.error("--retries must be >= 0 and --timeout > 0")
    return args


def _describe(identity: str | None) -> str:
    if identity is None:
        return "(no QMS_USER: trusted mode)"
    return identity or "(empty QMS_USER: the server will refuse every call)"


async def serve(config: ProxyConfig) -> None:
    async with stdio_server() as (from_client, to_client), to_client:
        await Bridge(config, to_client).run(from_client)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level, format="qms-mcp-proxy %(levelname)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        config = ProxyConfig.from_env(args.url, args.retries, args.timeout)
    except QMSError as err:  # an unreadable $QMS_TOKEN_FILE
        print(f"qms-mcp-proxy: error: {err.message}", file=sys.stderr)
        return 1
    logger.info(
        "forwarding stdio to %s as %s, instance %s, token %s",
        config.safe_url,
        _describe(config.identity),
        config.instance[:8],
        "set" if config.token else "not set",
    )
    try:
        anyio.run(serve, config)
    except KeyboardInterrupt:
        return 130
    return 0
