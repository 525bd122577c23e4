"""Typed exceptions for the server's answers; each carries the server's problem JSON.

The server answers errors as ``application/problem+json``:
``{"status", "code", "title", "title_ja", "detail"}``. A clinic program catches the class it can
act on; ``ServerUnavailable`` (and its ``Timeout``/``ConnectionFailed``) is the F13 case: use the
被保険者資格申立書 and the normal co-pay, never 100%.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OnshiError(Exception):
    """Any failure of a call to the central system.

    >>> try:  # doctest: +SKIP
    ...     client.number_check("0613998", "1", "19800101")
    ... except BadRequest as exc:
    ...     print(exc.code, exc.title_ja, exc.detail)
    """

    status: int | None = None

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str = "",
        title: str = "",
        title_ja: str = "",
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status if status is not None else type(self).status
        self.code = code
        self.title = title
        self.title_ja = title_ja
        self.detail = detail
        self.problem: dict[str, Any] = dict(problem or {})
        super().__init__(self.describe())

    def describe(self, lang: str = "ja") -> str:
        title = (self.title_ja or self.title) if lang == "ja" else (self.title or self.title_ja)
        parts = [p for p in (title, self.detail) if p]
        tags = " ".join(str(t) for t in (self.status, self.code) if t)
        prefix = f"[{tags}] " if tags else ""
        return prefix + ": ".join(parts)

    @classmethod
    def from_problem(cls, status: int, problem: Mapping[str, Any] | None, fallback: str = "") -> OnshiError:
        """The right subclass for an HTTP status and the server's problem JSON."""
        data = dict(problem or {})
        kind = STATUS_CLASSES.get(status)
        if kind is None:
            kind = ServerUnavailable if status >= 500 else OnshiError
        return kind(
            str(data.get("detail") or fallback or ""),
            status=status,
            code=str(data.get("code") or ""),
            title=str(data.get("title") or ""),
            title_ja=str(data.get("title_ja") or ""),
            problem=data,
        )


class BadRequest(OnshiError):
    """400/422: the request was malformed or invalid (the detail says what exactly)."""

    status: int | None = 400


class Unauthorized(OnshiError):
    """401: missing or wrong medical-institution code / token."""

    status: int | None = 401


class Forbidden(OnshiError):
    """403: e.g. medical information without consent, or withheld by the no-provide flag."""

    status: int | None = 403


class NotFound(OnshiError):
    status: int | None = 404


class Conflict(OnshiError):
    """409: e.g. a nonce already used or expired."""

    status: int | None = 409


class ServerUnavailable(OnshiError):
    """503 and other 5xx: the central system is down or failing (F13)."""

    status: int | None = 503


class Timeout(ServerUnavailable):
    """No answer within the configured timeout (F13: slow or unreachable)."""

    status = None


class ConnectionFailed(ServerUnavailable):
    """The server could not be reached at all (network, closed line)."""

    status = None


STATUS_CLASSES: dict[int, type[OnshiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Conflict,
    413: BadRequest,
    415: BadRequest,
    422: BadRequest,
    502: ServerUnavailable,
    503: ServerUnavailable,
    504: ServerUnavailable,
}
