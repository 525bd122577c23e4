"""The reader app's JSON API over HTTP, a real `onshi reader` process: faults are typed (a wrong name
or type is a 422 naming the field, in Japanese and English, and the reader keeps working), and a
refused method says why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server_helpers import reader_process


@pytest.fixture(scope="module")
def reader_api(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (reader_process(live_server, tmp_path_factory.mktemp("reader-http")) as url,
          httpx.Client(base_url=url, timeout=30) as client):
        yield client


@pytest.fixture
def api(reader_api: httpx.Client) -> Iterator[httpx.Client]:
    yield reader_api
    reader_api.post("/api/reader/cancel")
    if reader_api.get("/api/reader/state").json()["card_present"]:
        reader_api.delete("/api/reader/card")
    reader_api.post("/api/reader/faults", json={
        "card_unreadable": False, "not_my_number_card": False, "camera_unavailable": False,
        "slow_read_ms": 0, "unplug_at": None, "network_down": False, "unplugged": False,
    }).raise_for_status()


@pytest.mark.parametrize(
    ("body", "field", "ja", "en"),
    [
        ({"slow_read_ms": "x"}, "slow_read_ms", "値が正しくありません", "invalid value"),
        ({"slow_read_ms": -5}, "slow_read_ms", "値が正しくありません", "invalid value"),
        ({"slow_read_ms": 1.5}, "slow_read_ms", "値が正しくありません", "invalid value"),
        ({"network_down": "no"}, "network_down", "値が正しくありません", "invalid value"),
        ({"unplug_at": "lunch"}, "unplug_at", "値が正しくありません", "invalid value"),
        ({"slow_reads": 300}, "slow_reads", "不明な項目", "unknown field"),
    ],
)
def test_a_wrong_fault_is_a_422_naming_the_field_and_the_reader_keeps_working(
    api: httpx.Client, body: dict[str, Any], field: str, ja: str, en: str
) -> None:
    before = api.get("/api/reader/faults").json()
    response = api.post("/api/reader/faults", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid"
    assert ja in problem["title_ja"] and field in problem["title_ja"]
    assert en in problem["title"] and field in problem["title"]
    assert field in problem["detail"]
    assert api.get("/api/reader/faults").json() == before
    placed = api.post("/api/reader/card", json={"card_id": "healthy-employee"})
    assert placed.status_code == 200 and placed.json()["state"] == "method"  # the next read is not a 500


def test_only_the_faults_named_change(api: httpx.Client) -> None:
    api.post("/api/reader/faults", json={"network_down": True}).raise_for_status()
    faults = api.post("/api/reader/faults", json={"slow_read_ms": 10, "unplug_at": "sending"}).json()
    assert faults["network_down"] is True
    assert faults["slow_read_ms"] == 10 and faults["unplug_at"] == "sending"
    assert api.get("/api/reader/state").json()["faults"] == faults


def test_pin_on_a_face_only_card_is_refused_with_r302(api: httpx.Client) -> None:
    snap = api.post("/api/reader/card", json={"card_id": "face-only-card"}).json()
    assert snap["methods"] == ["face", "visual"]
    response = api.post("/api/reader/method", json={"method": "pin"})
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "R302"
    assert "暗証番号が設定されていません" in problem["title_ja"] and "no PIN" in problem["title"]
    assert api.get("/api/reader/state").json()["state"] == "method"  # still choosing
