"""The bridge: every message from the stdio client goes upstream, every upstream message back.

Upstream is one SDK `streamable_http_client` at a time (a `Link`). When the server forgets
our session (it restarted) or the link dies, the next client message opens a new link and,
if the client had initialized, first replays the client's own `initialize` params there, so
the client keeps working without noticing. Requests still waiting on a dead link are
answered with an error: the proxy never re-sends a call that may have reached the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectSendStream
from mcp_types import (
    CONNECTION_CLOSED,
    ErrorData,
    JSONRPCError,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
)

from mcp.client.streamable_http import streamable_http_client
from mcp.shared.jsonrpc_dispatcher import cancelled_request_id_from_params
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from qms.proxy.config import ProxyConfig
from qms.proxy.envelope import HeaderMap, outbound_headers, tool_header_maps
from qms.proxy.upstream_http import MAY_HAVE_EXECUTED, UpstreamTransport

logger = logging.getLogger(__name__)

REINIT_PREFIX = "qms-mcp-proxy-reinit-"
CLOSE_GRACE = 5.0
MAX_SSE_EVENT = 64 * 1024 * 1024  # the SDK default (1 MiB) would cut off large documents


class LinkFailed(Exception):
    """A new link could not take over the client's session."""


class Link:
    """One upstream connection: an SDK streamable-http client with its own HTTP session."""

    def __init__(self, number: int, config: ProxyConfig) -> None:
        self.number = number
        self.config = config
        self.lost = False  # the server answered 404 for our session id
        self.ended = anyio.Event()  # the transport has ended
        self.write: WriteStream[SessionMessage] | None = None
        self._stop = anyio.Event()

    @property
    def usable(self) -> bool:
        return not (self.lost or self.ended.is_set() or self._stop.is_set())

    def _session_lost(self) -> None:
        if not self.lost:
            logger.warning("link %d: the server no longer knows our session", self.number)
        self.lost = True

    def close(self) -> None:
        """Ask the link to end (it then ends its HTTP session with a DELETE)."""
        self._stop.set()

    async def run(self, bridge: Bridge, *, task_status: TaskStatus[None]) -> None:
        started = False
        try:
            transport = UpstreamTransport(self.config, self._session_lost)
            async with (
                httpx2.AsyncClient(
                    headers=self.config.headers(),
                    timeout=self.config.http_timeout(),
                    transport=transport,
                    trust_env=False,
                ) as client,
                streamable_http_client(self.config.url, http_client=client, max_sse_event_size=MAX_SSE_EVENT) as (
                    read,
                    write,
                ),
            ):
                self.write = write
                task_status.started()
                started = True
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._pump, read, bridge)
                    await self._stop.wait()
                    tg.cancel_scope.cancel()
        except Exception:
            logger.exception("link %d to %s failed", self.number, self.config.safe_url)
        finally:
            self.ended.set()
            if not started:
                task_status.started()
            await bridge.link_ended(self)

    async def _pump(self, read: ReadStream[SessionMessage | Exception], bridge: Bridge) -> None:
        try:
            async for item in read:
                if isinstance(item, Exception):
                    logger.warning("link %d: unreadable upstream message: %r", self.number, item)
                else:
                    await bridge.from_upstream(self, item.message)
        finally:
            self._stop.set()


@dataclass
class Pending:
    """A client request forwarded upstream and not yet answered."""

    method: str
    link: Link


class Bridge:
    """Routes messages between the stdio client and the current upstream link."""

    def __init__(self, config: ProxyConfig, to_client: WriteStream[SessionMessage]) -> None:
        self._config = config
        self._to_client = to_client
        self._tg: TaskGroup | None = None
        self._link: Link | None = None
        self._links = 0
        self._pending: dict[RequestId, Pending] = {}
        self._internal: dict[RequestId, tuple[Link, MemoryObjectSendStream[JSONRPCMessage]]] = {}
        self._init_params: dict[str, Any] | None = None
        self._version: str | None = None  # negotiated by initialize (handshake era)
        self._tool_headers: dict[str, HeaderMap] = {}

    async def run(self, from_client: ReadStream[SessionMessage | Exception]) -> None:
        """Forward until the client closes stdin, then end the upstream session."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            async for item in from_client:
                if isinstance(item, Exception):
                    logger.warning("ignoring a client line that is not JSON-RPC: %s", item)
                else:
                    await self._forward(item.message)
            with anyio.move_on_after(CLOSE_GRACE):
                while self._pending:  # let answers already on their way reach the client
                    await anyio.sleep(0.02)
                if self._link is not None:
                    self._link.close()
                    await self._link.ended.wait()
            tg.cancel_scope.cancel()

    async def _forward(self, message: JSONRPCMessage) -> None:
        is_request = isinstance(message, JSONRPCRequest)
        if is_request and message.method == "initialize":
            self._init_params = message.params
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            self._pending.pop(cancelled_request_id_from_params(message.params), None)  # may get no answer
        try:
            link = await self._current_link(replay_init=not (is_request and message.method == "initialize"))
            if is_request:
                self._pending[message.id] = Pending(message.method, link)
            await self._send(link, message)
        except (LinkFailed, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            if is_request:
                self._pending.pop(message.id, None)
                await self._reply_error(message.id, f"qms-mcp-proxy: {exc or 'the upstream link closed'}")
            else:
                logger.warning("dropped %s: %s", getattr(message, "method", "a response"), exc)

    async def _send(self, link: Link, message: JSONRPCMessage) -> None:
        headers = outbound_headers(message, self._version, self._tool_headers)
        metadata = ClientMessageMetadata(headers=headers) if headers else None
        assert link.write is not None
        await link.write.send(SessionMessage(message, metadata))

    async def _current_link(self, *, replay_init: bool) -> Link:
        """The live link, or a new one that has taken over the client's session."""
        if self._link is not None and self._link.usable:
            return self._link
        previous = self._link
        if previous is not None:
            previous.close()
        self._links += 1
        link = Link(self._links, self._config)
        assert self._tg is not None
        await self._tg.start(link.run, self)
        self._link = link
        if link.ended.is_set():
            raise LinkFailed("could not open a connection to the QMS server")
        if previous is not None:
            logger.info("link %d replaces link %d", link.number, previous.number)
            if replay_init and self._init_params is not None:
                await self._replay_initialize(link)
        return link

    async def _replay_initialize(self, link: Link) -> None:
        """Initialize the new session with the client's original params."""
        request_id = f"{REINIT_PREFIX}{link.number}"
        send, receive = anyio.create_memory_object_stream[JSONRPCMessage](1)
        self._internal[request_id] = (link, send)
        reply: JSONRPCMessage | None = None
        try:
            request = JSONRPCRequest(jsonrpc="2.0", id=request_id, method="initialize", params=self._init_params)
            await self._send(link, request)
            with anyio.move_on_after(self._config.timeout):
                reply = await receive.receive()
        except anyio.EndOfStream:
            pass  # the link ended first
        finally:
            del self._internal[request_id]
        if not isinstance(reply, JSONRPCResponse):
            link.lost = True  # try again on the next call
            detail = reply.error.message if isinstance(reply, JSONRPCError) else "no answer"
            raise LinkFailed(f"could not re-open the session with the QMS server: {detail}")
        await self._send(link, JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized"))
        logger.info("link %d: session re-initialized with the client's original parameters", link.number)

    async def from_upstream(self, link: Link, message: JSONRPCMessage) -> None:
        """Relay one upstream message to the client (answers to the proxy's own requests excepted)."""
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            if message.id in self._internal:
                await self._internal[message.id][1].send(message)
                return
            pending = self._pending.pop(message.id, None)
            if pending is not None and isinstance(message, JSONRPCResponse):
                self._learn(pending.method, message.result)
            elif isinstance(message, JSONRPCError) and message.error.code == CONNECTION_CLOSED:
                message = _not_resent(message)
        await self._to_client.send(SessionMessage(message))

    def _learn(self, method: str, result: dict[str, Any]) -> None:
        """Remember what later messages need: the negotiated version, tools' param headers."""
        if method == "initialize" and isinstance(result.get("protocolVersion"), str):
            self._version = result["protocolVersion"]
        elif method == "tools/list":
            self._tool_headers.update(tool_header_maps(result))

    async def link_ended(self, link: Link) -> None:
        """Answer every request still waiting on `link`: its answer can no longer arrive."""
        for owner, send in list(self._internal.values()):
            if owner is link:
                send.close()
        for request_id, pending in list(self._pending.items()):
            if pending.link is link:
                del self._pending[request_id]
                await self._reply_error(
                    request_id,
                    "qms-mcp-proxy: the connection to the QMS server ended before it answered. "
                    + MAY_HAVE_EXECUTED,
                )

    async def _reply_error(self, request_id: RequestId, message: str) -> None:
        error = JSONRPCError(
            jsonrpc="2.0", id=request_id, error=ErrorData(code=CONNECTION_CLOSED, message=message)
        )
        try:
            await self._to_client.send(SessionMessage(error))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.debug("client gone; could not answer request %r", request_id)


def _not_resent(error: JSONRPCError) -> JSONRPCError:
    """Say what a lost connection means for the call (the SDK's own wording does not)."""
    if error.error.message.startswith("qms-mcp-proxy:"):
        return error
    text = f"qms-mcp-proxy: {error.error.message}. {MAY_HAVE_EXECUTED}"
    return JSONRPCError(jsonrpc="2.0", id=error.id, error=ErrorData(code=CONNECTION_CLOSED, message=text))
