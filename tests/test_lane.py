"""The check lane (server.api.lane.CheckLane): a POST to a check's path goes straight to its endpoint,
answers what the app's exception handlers answer for what it raises, and leaves everything else to
FastAPI's router."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect

from server.api.lane import CheckLane, read_body
from server.api.problems import ApiProblem, api_problem_handler


class Refusal(ApiProblem):
    """A subclass: found through the handler registered for its base class."""


def lane_app() -> tuple[FastAPI, list[str]]:
    app = FastAPI()
    served: list[str] = []

    async def check(request: Request) -> Response:
        served.append("lane")
        body = await request.body()
        if body == b"refuse":
            raise Refusal(403, "refused", "拒否", "refused", "as asked")
        if body == b"crash":
            raise RuntimeError("a bug")
        return JSONResponse({"read": body.decode()})

    @app.post("/check")
    async def declared(request: Request) -> Response:  # what FastAPI would serve without the lane
        served.append("router")
        return JSONResponse({})

    @app.get("/other")
    async def other() -> dict[str, str]:
        served.append("router")
        return {"ok": "yes"}

    app.add_exception_handler(ApiProblem, api_problem_handler)
    app.add_middleware(CheckLane, endpoints={"/check": check}, handlers=lambda: app.exception_handlers)
    return app, served


def test_a_post_to_a_check_path_is_served_by_the_lane_with_its_body() -> None:
    app, served = lane_app()
    with TestClient(app) as client:
        answer = client.post("/check", content=b"hello")
    assert answer.status_code == 200
    assert answer.json() == {"read": "hello"}
    assert served == ["lane"]


def test_what_the_endpoint_raises_is_answered_by_the_apps_handler_for_it() -> None:
    app, _ = lane_app()
    with TestClient(app) as client:
        answer = client.post("/check", content=b"refuse")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "refused"


def test_an_unhandled_error_is_a_500_as_from_the_router() -> None:
    app, _ = lane_app()
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/check", content=b"crash")
    assert answer.status_code == 500


def test_other_methods_and_paths_go_through_fastapi() -> None:
    app, served = lane_app()
    with TestClient(app) as client:
        assert client.get("/check").status_code == 405
        assert client.get("/other").json() == {"ok": "yes"}
    assert served == ["router"]


def test_the_request_headers_read_once_give_what_starlettes_headers_give() -> None:
    from starlette.datastructures import Headers

    from server.api.context import headers_of

    scope = {"headers": [(b"accept", b"application/xml"), (b"x-medical-institution-code", b"1312345678"),
                         (b"accept", b"application/json")]}
    mine, theirs = headers_of(scope), Headers(scope=scope)
    assert mine == {"accept": "application/xml", "x-medical-institution-code": "1312345678"}
    for name in ("accept", "x-medical-institution-code", "host"):
        assert mine.get(name) == theirs.get(name)
    assert headers_of(scope) is mine  # made once per request


def _request(*messages: dict[str, object]) -> Request:
    queue = list(messages)

    async def receive() -> dict[str, object]:
        return queue.pop(0)

    return Request({"type": "http", "method": "POST", "headers": []}, receive)  # type: ignore[arg-type]


@pytest.mark.parametrize("messages", [
    [{"type": "http.request", "body": b"whole", "more_body": False}],
    [{"type": "http.request", "body": b"in ", "more_body": True}, {"type": "http.request", "body": b""},
     {"type": "http.request", "body": b"parts", "more_body": False}],
    [{"type": "http.request"}],
])
def test_the_lanes_body_reader_reads_what_starlette_reads_and_leaves_it_for_a_second_read(
        messages: list[dict[str, object]]) -> None:
    async def both() -> tuple[bytes, bytes, bytes]:
        ours = _request(*messages)
        first = await read_body(ours)
        return first, await ours.body(), await _request(*messages).body()

    ours, again, starlettes = asyncio.run(both())
    assert ours == again == starlettes


def test_a_client_gone_mid_body_is_a_disconnect_for_the_lanes_body_reader_as_for_starlette() -> None:
    messages: list[dict[str, object]] = [{"type": "http.request", "body": b"half", "more_body": True},
                                         {"type": "http.disconnect"}]
    for read in (read_body, Request.body):
        with pytest.raises(ClientDisconnect):
            asyncio.run(read(_request(*messages)))
