"""``Idempotency-Key`` on the clinic calls that look people up: a repeat gets the first answer again.

A client that may have lost an answer (the folder bridge killed between the server's answer and the
answer file, a timeout) asks again with the same key; the server answers from its record instead of
looking the person up a second time (a second lookup would be a second access record). As in the IETF
draft "The Idempotency-Key HTTP Header Field":

- only ``POST`` to the paths in ``PATHS``, only when the header is sent (other requests pass untouched);
- the key is scoped to the caller: medical institution code and the hash of its token, so nobody can
  fetch another clinic's answer by guessing its key;
- the same key with a different request (body, content type, query) is refused with 422
  ``idempotency_key_reused``; a key is at most 128 printable ASCII characters;
- only 200 answers are kept (a refused or failed request may be repeated and judged again), for
  ``KEEP`` on the simulated clock; a replay carries the header ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.context import bearer, headers_of
from server.api.problems import problem_response
from server.clock import aware_jst
from server.fixtures import token_hash
from server.storage import tables

PATHS = ("/api/v1/number-checks", "/api/v1/bulk-checks", "/api/v1/bulk-checks/receptions")
KEEP = timedelta(days=1)
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")


def _problem(status: int, code: str, ja: str, en: str, detail: str) -> JSONResponse:
    return problem_response(status, {"status": status, "code": code, "title": en, "title_ja": ja,
                                     "detail": detail})


class Idempotency:
    """Pure ASGI middleware (see ``server.api.app.LimitsAndFaults`` for why not BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, engine: Engine, now: Callable[[], datetime],
                 max_body_bytes: int) -> None:
        self.app = app
        self.engine = engine
        self.now = now
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        headers = headers_of(scope)
        key = headers.get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.fullmatch(key):
            answer = _problem(400, "idempotency_key_invalid", "Idempotency-Key の形式が正しくありません",
                              "invalid Idempotency-Key", "1 to 128 printable ASCII characters, no spaces")
            await answer(scope, receive, send)
            return
        from server.api.app import read_at_most, replaying  # the same body reading as the limits

        body = await read_at_most(receive, self.max_body_bytes)
        if body is None:
            return
        clinic = headers.get("x-medical-institution-code", "")
        caller = f"{clinic}\0{token_hash(bearer(headers.get('authorization')))}"
        key_sha = hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()
        request_sha = hashlib.sha256(
            b"\0".join([scope["path"].encode(), scope.get("query_string", b""),
                        headers.get("content-type", "").encode(), body])
        ).hexdigest()
        with Session(self.engine) as session:
            kept = session.get(tables.IdempotentAnswer, key_sha)
        if kept is not None:
            if kept.request_sha256 != request_sha:
                answer = _problem(
                    422, "idempotency_key_reused", "この Idempotency-Key は別の要求に使われています",
                    "Idempotency-Key already used for another request",
                    "use a new key for a new request; repeat a request only with its own key")
                await answer(scope, receive, send)
                return
            await self._replay(kept, send)
            return
        await self._forward(scope, replaying(body, receive), send, key_sha, request_sha)

    async def _replay(self, kept: tables.IdempotentAnswer, send: Send) -> None:
        stored_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(kept.headers)]
        await send({"type": "http.response.start", "status": kept.status,
                    "headers": [*stored_headers, (b"idempotent-replayed", b"true")]})
        await send({"type": "http.response.body", "body": kept.body, "more_body": False})

    async def _forward(self, scope: Scope, receive: Receive, send: Send, key_sha: str,
                       request_sha: str) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and start is not None and start["status"] == 200:
                    self._keep(start, b"".join(chunks), key_sha, request_sha)
            await send(message)

        await self.app(scope, receive, capture)

    def _keep(self, start: Message, body: bytes, key_sha: str, request_sha: str) -> None:
        kept_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])
                        if k.lower() in (b"content-type", b"x-check-id")]
        now = aware_jst(self.now())
        with Session(self.engine) as session:
            session.connection().execute(
                delete(tables.IdempotentAnswer).where(col(tables.IdempotentAnswer.at) < now - KEEP))
            session.add(tables.IdempotentAnswer(key_sha256=key_sha, request_sha256=request_sha, status=200,
                                                headers=json.dumps(kept_headers), body=body, at=now))
            try:
                session.commit()
            except IntegrityError:  # a concurrent first use of the same key kept its answer first
                session.rollback()
