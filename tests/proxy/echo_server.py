"""Tests-only streamable-http MCP server that the proxy tests run as a subprocess.

Tools: ``echo``, ``slow`` (sleeps), ``record`` (appends one line per execution to
``--calls-file`` so tests can count executions), ``whoami`` (the proxy's headers as the
server saw them), ``ask`` (a server-to-client elicitation) and ``chatty`` (a log and a
progress notification before answering). `GET /healthz` reports the server's pid.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import anyio
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp.server.mcpserver import Context, MCPServer


def build(calls_file: Path) -> MCPServer:
    server = MCPServer("proxy-test")

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"pid": os.getpid()})

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    async def record(tag: str, delay: float = 0.0) -> int:
        """Record one execution (before an optional delay); return how many so far."""
        with calls_file.open("a") as fh:
            fh.write(tag + "\n")
        await anyio.sleep(delay)
        return len(calls_file.read_text().splitlines())

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The identity headers this request carried."""
        headers = ctx.headers or {}
        return json.dumps(
            {
                "identity": headers.get("x-qms-identity"),
                "instance": headers.get("x-qms-instance"),
                "authorization": headers.get("authorization"),
            }
        )

    class Answer(BaseModel):
        answer: str

    @server.tool()
    async def ask(question: str, ctx: Context) -> str:
        """Ask the client (elicitation) and return its answer."""
        result = await ctx.elicit(question, Answer)
        return result.data.answer if result.action == "accept" and result.data else result.action

    @server.tool()
    async def chatty(ctx: Context) -> str:
        """Send a log message and a progress notification, then answer."""
        await ctx.info("working")
        await ctx.report_progress(1, 2, "half way")
        return "done"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls-file", type=Path, required=True)
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--json-response", action="store_true")
    args = parser.parse_args()
    build(args.calls_file).run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        stateless_http=args.stateless,
        json_response=args.json_response,
    )


if __name__ == "__main__":
    main()
