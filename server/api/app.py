"""The FastAPI application of the mock central system."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onshi.xmlcodec import MessageError
from server.api import admin, bulk, checks
from server.api.context import AppContext, Context, DbSession, headers_of
from server.api.idempotency import Idempotency
from server.api.landing import landing_page
from server.api.lane import CheckLane
from server.api.openapi import sound_document
from server.api.problems import (
    ApiProblem,
    api_problem_handler,
    body_too_large,
    http_error_handler,
    message_error_handler,
    problem_response,
    validation_error_handler,
    verification_error_handler,
)
from server.clock import aware_jst
from server.jlis import VerificationError, certificate_to_pem, crl_to_pem
from server.settings import Settings
from server.state import FaultRule
from server.storage import tables
from server.storage.database import create_tables, make_engine

OUTAGE_BODY = {
    "status": 503,
    "code": "central_system_unavailable",
    "title": "The online eligibility system is not answering (outage)",
    "title_ja": "オンライン資格確認等システムに接続できません（障害発生中）",
    "detail": "Use the 被保険者資格申立書 and the normal co-pay; check again later. Never charge 100%.",
}
ERROR_BODY = {
    "status": 503,
    "code": "central_system_error",
    "title": "The online eligibility system answered with an error",
    "title_ja": "オンライン資格確認等システムでエラーが発生しました",
    "detail": "Try again; if it persists, the 被保険者資格申立書 and the normal co-pay. Never charge 100%.",
}
TIMEOUT_BODY = {
    "status": 504,
    "code": "central_system_timeout",
    "title": "The online eligibility system did not answer in time",
    "title_ja": "オンライン資格確認等システムから応答がありません（タイムアウト）",
    "detail": "Check again later; meanwhile the 被保険者資格申立書 and the normal co-pay. Never charge 100%.",
}
LINK_CUT_BODY = {
    "status": 502,
    "code": "network_link_down",
    "title": "The line to the online eligibility system is cut",
    "title_ja": "オンライン資格確認等システムへの回線が切断されています",
    "detail": "Check the network; meanwhile the 被保険者資格申立書 and the normal co-pay. Never charge 100%.",
}


Check = Callable[[Mapping[str, str], str], Awaitable[Response | None]]


class BodyTooLarge(Exception):
    pass


async def read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, counted while it streams in: ``BodyTooLarge`` as soon as it passes ``limit``
    (the rest is never read); None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands the app the body already read, then whatever comes next (disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class LimitsAndFaults:
    """Answers early (413, injected faults) or passes the request on, its body untouched.

    A body with a Content-Length is checked by ``check``; a chunked one (no length) is read here,
    at most ``max_body_bytes`` of it, and handed on whole."""

    def __init__(self, app: ASGIApp, check: Check, max_body_bytes: int) -> None:
        self.app = app
        self.check = check
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Starlette's request.url.path is scope["path"] with ?, # and \ escaped: the same prefixes match.
        headers = headers_of(scope)
        answer = await self.check(headers, scope["path"])
        if answer is not None:
            await answer(scope, receive, send)
            return
        if "transfer-encoding" in headers and "content-length" not in headers:
            try:
                body = await read_at_most(receive, self.max_body_bytes)
            except BodyTooLarge:
                limit = self.max_body_bytes
                answer = body_too_large(f"送信データが上限 {limit} バイトを超えました（chunked）。"
                                        f" / more than {limit} bytes (chunked); at most {limit}")
                await answer(scope, receive, send)
                return
            if body is None:
                return
            receive = replaying(body, receive)
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url, schema=settings.database_schema)
    create_tables(engine)
    # FastAPIOffline: /docs (Swagger UI) and /redoc from the package's own files, no CDN (a clinic's
    # closed network has no internet).
    app = FastAPIOffline(
        title="onshi-sim: mock オンライン資格確認等システム",
        version="0.1.0",
        description=(
            "A mock of Japan's online insurance-eligibility check. Messages use the real XML element "
            "names (JSON carries the same structure). See docs/architecture.md."
        ),
        static_url="/docs-assets",
        # operationId = the route function's name (number_check, get_card …): readable generated clients
        generate_unique_id_function=lambda route: route.name,
        # No OpenTelemetry here: without this, FastAPI asks the global providers whether to trace every
        # request (~10 µs each).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = sound_document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.context = AppContext(engine, settings)
    app.add_exception_handler(ApiProblem, api_problem_handler)
    app.add_exception_handler(MessageError, message_error_handler)
    app.add_exception_handler(VerificationError, verification_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)

    # Requests seen under each fault rule: the n-th one's fate is fixed by the rule's seed.
    sequences: dict[str, int] = {}

    def next_sequence(rule: FaultRule) -> int:
        key = f"{rule.id}:{rule.seed}:{rule.rate}"
        sequences[key] = sequences.get(key, 0) + 1
        return sequences[key]

    async def apply_faults(headers: Mapping[str, str], path: str) -> Response | None:
        shared = app.state.context.state
        faults = shared.faults
        if not faults.outage and not faults.latency_ms and not faults.rules:
            return None
        channel = "reader" if path.startswith("/api/v1/card-checks") else "clinic"
        clinic = headers.get("x-medical-institution-code")
        effect = faults.effect(shared.clock.now(), clinic, channel, next_sequence)
        if effect.latency_ms:
            await asyncio.sleep(effect.latency_ms / 1000)
        if effect.link_cut:
            return problem_response(502, LINK_CUT_BODY)
        if effect.outage:
            return problem_response(503, OUTAGE_BODY, headers={"Retry-After": "30"})
        if effect.timeout_ms is not None:
            await asyncio.sleep(effect.timeout_ms / 1000)
            return problem_response(504, TIMEOUT_BODY)
        if effect.error_status is not None:
            return problem_response(effect.error_status, {**ERROR_BODY, "status": effect.error_status})
        return None

    async def limits_and_faults(headers: Mapping[str, str], path: str) -> Response | None:
        """Body-size limit, then the central-system faults (not on admin and health)."""
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return body_too_large(f"{length} bytes; at most {settings.max_body_bytes}")
        if path.startswith("/api/v1/") and not path.startswith(("/api/v1/admin", "/api/v1/health")):
            return await apply_faults(headers, path)
        return None

    # Innermost (added first): the check endpoints past the router (server/api/lane.py).
    app.add_middleware(CheckLane, endpoints=checks.LANE, handlers=lambda: app.exception_handlers)
    # Then: a repeat with the same Idempotency-Key is answered from the record.
    app.add_middleware(Idempotency, engine=engine, now=app.state.context.now,
                       max_body_bytes=settings.max_body_bytes)
    # A pure ASGI middleware (Starlette's BaseHTTPMiddleware, i.e. @app.middleware("http"), costs a
    # task and memory streams per request); same place in the stack, same answers.
    app.add_middleware(LimitsAndFaults, check=limits_and_faults, max_body_bytes=settings.max_body_bytes)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def landing(request: Request) -> HTMLResponse:
        return HTMLResponse(landing_page(request.url.port or 8000))

    @app.get("/api/v1/health", tags=["meta"])
    async def health(ctx: Context) -> dict[str, Any]:
        # async: the shared state comes from memory (refreshed in the background, server/state.py); in
        # the thread pool, under load, the GIL hand-offs alone made /health wait ~0.4 s (p50).
        clock = ctx.state.clock
        return {"status": "ok", "now": clock.now().isoformat(), "frozen": clock.frozen,
                "faults": ctx.state.faults.to_json()}

    @app.get("/api/v1/jlis/ca.pem", tags=["J-LIS"], response_class=PlainTextResponse)
    def ca_certificate(ctx: Context, session: DbSession) -> str:
        """The mock J-LIS root certificate (the trust anchor of card certificates)."""
        return certificate_to_pem(ctx.ca(session).certificate)

    @app.get("/api/v1/jlis/crl.pem", tags=["J-LIS"], response_class=PlainTextResponse)
    def crl(ctx: Context, session: DbSession) -> str:
        """The certificate revocation list as of the simulated now, signed by the mock J-LIS."""
        now = ctx.now()
        rows = session.exec(select(tables.Revocation).where(tables.Revocation.revoked_at <= now)).all()
        revoked = [(int(r.serial), aware_jst(r.revoked_at)) for r in rows]
        return crl_to_pem(ctx.ca(session).build_crl(revoked, now))

    app.include_router(checks.router)
    app.include_router(bulk.router)
    app.include_router(admin.router)
    return app


def serve_app() -> FastAPI:
    """The app of a server process (``onshi serve``): :func:`create_app`, then everything made so far
    (routes, models, validators, SQLAlchemy's metadata) moved out of the garbage collector's reach.
    Full collections walked all of it again every few hundred requests: ~5 % of a check's CPU."""
    app = create_app()
    gc.freeze()
    return app
