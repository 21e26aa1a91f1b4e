"""The HTTP layer under the SDK's streamable-http client transport.

It decides what may be retried and turns transport failures into JSON-RPC error bodies,
so that the SDK answers the waiting request instead of hanging or crashing:

- a connection that could not be established (the request never left this process) is
  retried with backoff, at most `retries` times, then answered "unreachable";
- anything after that (timeout, reset, malformed reply) is answered, never re-sent:
  the call may have executed;
- a 401 means the token is missing or not valid: answered "not executed", never retried;
- a 404 for our session id means the server forgot the session (it restarted): the
  owner is told (`on_session_lost`) and the call is answered "not executed, retry".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import httpx2
from mcp_types import CONNECTION_CLOSED, ErrorData, JSONRPCError

from qms.proxy.config import ProxyConfig

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
BACKOFF_CAP = 4.0

MAY_HAVE_EXECUTED = "The call may have executed; it was NOT re-sent. Check its effect before retrying."

# Failures that happen before a single byte of the request was sent.
NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


def error_response(request: httpx2.Request, status: int, message: str) -> httpx2.Response:
    """An HTTP response carrying a JSON-RPC error; the SDK relays it under the request's id."""
    body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=CONNECTION_CLOSED, message=message))
    return httpx2.Response(
        status,
        content=body.model_dump_json(by_alias=True, exclude_unset=True).encode(),
        headers={"content-type": "application/json"},
        request=request,
    )


class UpstreamTransport(httpx2.AsyncBaseTransport):
    """Wraps the default transport with the retry and error policy above."""

    def __init__(self, config: ProxyConfig, on_session_lost: Callable[[], None]) -> None:
        self._config = config
        self._on_session_lost = on_session_lost
        self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":  # the server-push stream may stay silent for hours
            request.extensions["timeout"] = {**request.extensions.get("timeout", {}), "read": None}
        response = await self._send(request)
        if response.status_code == 401:
            await response.aclose()
            why = ("the token (QMS_TOKEN_FILE or QMS_TOKEN) is unknown, revoked or expired"
                   if self._config.token else "no token is set (QMS_TOKEN_FILE or QMS_TOKEN)")
            return error_response(
                request,
                401,
                f"qms-mcp-proxy: the QMS server requires a valid token (HTTP 401): {why}. The "
                "call was NOT executed. Do not troubleshoot: stop and tell the user, who can "
                "issue a new token (qms token issue).",
            )
        if response.status_code == 404 and SESSION_HEADER in request.headers:
            await response.aclose()
            self._on_session_lost()
            return error_response(
                request,
                404,
                "qms-mcp-proxy: the QMS server no longer knows this session (it was probably restarted). "
                "This call was NOT executed. The proxy reconnects on the next call: retry it.",
            )
        return response

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        url = self._config.safe_url
        attempts = self._config.retries + 1
        for attempt in range(1, attempts + 1):  # retries >= 0, so the loop always returns
            try:
                return await self._inner.handle_async_request(request)
            except NOT_SENT as exc:
                if attempt == attempts:
                    logger.warning("%s unreachable after %d attempt(s): %r", url, attempts, exc)
                    return error_response(
                        request,
                        503,
                        f"qms-mcp-proxy: the QMS server at {url} is unreachable after {attempts} attempt(s) "
                        f"({type(exc).__name__}). The call was NOT executed. Is the server running on the host?",
                    )
                delay = min(0.25 * 2 ** (attempt - 1), BACKOFF_CAP)
                logger.info(
                    "connect to %s failed (%r); retry %d/%d in %.2fs", url, exc, attempt, attempts - 1, delay
                )
                await anyio.sleep(delay)
            except httpx2.TimeoutException as exc:
                logger.warning("%s %s timed out: %r", request.method, url, exc)
                return error_response(
                    request,
                    504,
                    f"qms-mcp-proxy: no answer from {url} within {self._config.timeout:g}s. The call may still "
                    "be running or may have completed; it was NOT re-sent. Check its effect before retrying.",
                )
            except httpx2.TransportError as exc:
                logger.warning("%s %s failed after sending: %r", request.method, url, exc)
                return error_response(
                    request,
                    502,
                    f"qms-mcp-proxy: the connection to {url} broke before the answer arrived "
                    f"({type(exc).__name__}). {MAY_HAVE_EXECUTED}",
                )

    async def aclose(self) -> None:
        await self._inner.aclose()
