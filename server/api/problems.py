"""Errors as application/problem+json, Japanese and English, naming what was wrong."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from onshi.xmlcodec import MessageError, encodable
from server.jlis import VerificationError

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, title_ja: str, title_en: str, detail: str = "") -> None:
        super().__init__(f"{code}: {title_en}: {detail}")
        self.status, self.code, self.title_ja, self.title_en = status, code, title_ja, title_en
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "title": self.title_en,
                "title_ja": self.title_ja, "detail": self.detail}


def problem_response(status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> JSONResponse:
    # A detail may quote what the client sent, lone surrogates included: always encodable as UTF-8.
    safe = {key: encodable(value) if isinstance(value, str) else value for key, value in body.items()}
    return JSONResponse(safe, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def body_too_large(detail: str) -> JSONResponse:
    return problem_response(413, {"status": 413, "code": "body_too_large", "title": "request body too large",
                                  "title_ja": "送信データが大きすぎます", "detail": detail})


async def api_problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.body())


async def message_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MessageError)
    status = 413 if exc.code.endswith("too_large") else 400
    return problem_response(status, exc.problem(status))


async def verification_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VerificationError)
    return problem_response(
        400, {"status": 400, "code": exc.code, "title": exc.message_en, "title_ja": exc.message_ja,
              "detail": getattr(exc, "detail", "")}
    )


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = "/".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg')}")
    return problem_response(
        400,
        {"status": 400, "code": "request_invalid", "title": "The request does not match the API",
         "title_ja": "リクエストの内容が正しくありません", "detail": "; ".join(parts)},
    )


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {400: ("リクエストの本文を読み取れません", "the request body cannot be parsed"),
              404: ("見つかりません", "not found"), 405: ("この操作はできません", "method not allowed")}
    ja, en = titles.get(exc.status_code, ("エラー", "error"))
    return problem_response(
        exc.status_code,
        {"status": exc.status_code, "code": f"http_{exc.status_code}", "title": en, "title_ja": ja,
         "detail": str(exc.detail)},
    )


# The API's own problems, one place.
def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", "認証できません（医療機関コードまたは認証情報が違います）",
                      "not authenticated (unknown clinic or wrong credential)", detail)


def forbidden_admin() -> ApiProblem:
    return ApiProblem(401, "admin_unauthorized", "管理用の認証情報が違います", "wrong admin credential",
                      "send Authorization: Bearer <ONSHI_ADMIN_TOKEN>")


def not_found(what: str, key: str) -> ApiProblem:
    return ApiProblem(404, "not_found", f"{what}が見つかりません", f"{what} not found", key)
