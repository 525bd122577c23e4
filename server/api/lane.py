"""The checks' own lane through the application: exact-path dispatch past FastAPI's router.

The check endpoints (a number check, a card check's challenge and submission) take the ``Request``
and read their own body; they answer with a ``Response``. For them FastAPI's router and per-route
wrappers do nothing but cost: a linear match over every route (and its included-router contexts),
the request handler's dependency solving, two exit stacks and a second exception wrapper — about a
fifth of a number check's CPU (benchmarks/README.md). This middleware, the innermost, sends a
``POST`` to one of their paths straight to the endpoint and turns what it raises into the answer
the app's own exception handlers give. Everything outside it (limits, injected faults,
``Idempotency-Key``) runs as before; the routes stay declared in FastAPI for the OpenAPI document
and for any other method on those paths (405 as before).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


async def read_body(request: Request) -> bytes:
    """``await request.body()`` without its async generator and closing context (~5 µs of each check
    request): the same bytes, the same ``ClientDisconnect``, kept where ``Request.body`` keeps them,
    so whatever reads the body again afterwards (an exception handler) gets the same bytes."""
    if hasattr(request, "_body"):
        return request._body
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
    request._stream_consumed = True
    request._body = body = b"".join(chunks)
    return body


class CheckLane:
    def __init__(self, app: ASGIApp, endpoints: Mapping[str, Endpoint],
                 handlers: Callable[[], Mapping[Any, Handler]]) -> None:
        self.app = app
        self.endpoints = dict(endpoints)
        self.handlers = handlers  # the app's exception handlers, looked up when one is needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (self.endpoints.get(get_route_path(scope))
                    if scope["type"] == "http" and scope["method"] == "POST" else None)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # as from the router: the server error middleware answers 500
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        handlers = self.handlers()
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None
