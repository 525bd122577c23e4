"""Fault injection on the real server: scoped per clinic, scheduled on the simulated clock,
seeded error rates, timeouts and cut links — always visible and reversible."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server.state import FaultRule
from tests.conftest import LiveServer

PHARMACY = ("1342000017", "demo-pharmacy-token")
NUMBER_CHECK = {
    "MessageHeader": {"QualificationConfirmationDate": "20261124", "MedicalInstitutionCode": "1312345678",
                      "ReferenceClassification": "2", "CharacterCodeIdentifier": "0"},
    "MessageBody": {"QualificationConfirmSearchInfo": {
        "InsurerNumber": "06139012", "InsuredCardSymbol": "5201", "InsuredIdentificationNumber": "1024",
        "InsuredBranchNumber": "00", "Birthdate": "19850512",
        "LimitApplicationCertificateRelatedConsFlg": "0"}},
}


@pytest.fixture
def server(fresh_server: LiveServer) -> Iterator[LiveServer]:
    yield fresh_server
    fresh_server.admin("DELETE", "/faults")


def number_check(server: LiveServer, clinic: tuple[str, str] | None = None) -> httpx.Response:
    code, token = clinic or (server.clinic_code, server.clinic_token)
    body: dict[str, Any] = {**NUMBER_CHECK, "MessageHeader": {**NUMBER_CHECK["MessageHeader"],
                                                              "MedicalInstitutionCode": code}}
    return httpx.post(f"{server.url}/api/v1/number-checks", json=body, timeout=30,
                      headers={"X-Medical-Institution-Code": code, "Authorization": f"Bearer {token}"})


def test_the_old_body_still_works_and_everything_is_visible(server: LiveServer) -> None:
    view = server.admin("POST", "/faults", json={"outage": True})
    assert view["outage"] is True and view["latency_ms"] == 0 and view["rules"] == []
    assert number_check(server).status_code == 503
    view = server.admin("POST", "/faults", json={"outage": False, "latency_ms": 0})
    assert number_check(server).status_code == 200
    health = httpx.get(f"{server.url}/api/v1/health").json()
    assert health["faults"]["outage"] is False and "rules" in health["faults"]


def test_an_outage_for_one_clinic_leaves_the_others_working(server: LiveServer) -> None:
    server.admin("POST", "/faults/rules",
                 json={"id": "sakura-down", "kind": "outage", "clinic": "1312345678"})
    assert number_check(server).status_code == 503
    assert number_check(server, PHARMACY).status_code == 200
    view = server.admin("DELETE", "/faults/rules/sakura-down")
    assert view["rules"] == []
    assert number_check(server).status_code == 200


def test_a_scheduled_outage_follows_the_simulated_clock(server: LiveServer) -> None:
    view = server.admin("POST", "/faults/rules", json={
        "id": "down-0905", "kind": "outage", "start": "2026-11-24T09:05:00+09:00",
        "end": "2026-11-24T09:30:00+09:00"})
    assert view["active"] == []  # 09:00: not yet
    assert number_check(server).status_code == 200
    server.admin("POST", "/clock", json={"set": "2026-11-24T09:06:00+09:00"})
    time.sleep(0.3)  # the shared state is cached for 0.25 s per process
    assert server.admin("GET", "/faults")["active"] == ["down-0905"]
    assert number_check(server).status_code == 503
    server.admin("POST", "/clock", json={"set": "2026-11-24T09:30:00+09:00"})
    time.sleep(0.3)
    assert number_check(server).status_code == 200


def test_a_seeded_error_rate_repeats_exactly(server: LiveServer) -> None:
    rule_id = f"flaky-{uuid.uuid4().hex[:6]}"
    server.admin("POST", "/faults/rules", json={"id": rule_id, "kind": "error", "rate": 0.4, "seed": 11,
                                                "status": 500})
    statuses = [number_check(server).status_code for _ in range(15)]
    local = FaultRule(id=rule_id, kind="error", rate=0.4, seed=11, status=500)
    expected = [500 if local.hits(n) else 200 for n in range(1, 16)]
    assert statuses == expected
    assert 0 < statuses.count(500) < 15


def test_a_timeout_holds_the_request_then_answers_504(server: LiveServer) -> None:
    server.admin("POST", "/faults/rules", json={"id": "slow-line", "kind": "timeout", "hold_ms": 400})
    started = time.monotonic()
    answer = number_check(server)
    assert answer.status_code == 504 and answer.json()["code"] == "central_system_timeout"
    assert time.monotonic() - started >= 0.4


def test_a_cut_reader_link_refuses_card_checks_but_not_number_checks(server: LiveServer) -> None:
    server.admin("POST", "/faults/rules", json={"id": "reader-line", "kind": "link_cut", "channel": "reader"})
    challenge = httpx.post(f"{server.url}/api/v1/card-checks/challenge", json={"reader_id": "R-x"},
                           headers=server.clinic_headers, timeout=30)
    assert challenge.status_code == 502 and challenge.json()["code"] == "network_link_down"
    assert number_check(server).status_code == 200
    assert server.admin("DELETE", "/faults")["rules"] == []


def test_pure_effect_combines_rules() -> None:
    from datetime import datetime

    from onshi.timeutil import JST
    from server.state import Faults

    faults = Faults(latency_ms=100, rules=(
        FaultRule(id="a", kind="latency", latency_ms=50, clinic="1312345678"),
        FaultRule(id="b", kind="outage", start="2026-11-24T09:05:00+09:00"),
    ))
    early = datetime(2026, 11, 24, 9, 0, tzinfo=JST)
    late = datetime(2026, 11, 24, 9, 10, tzinfo=JST)
    assert faults.effect(early, "1312345678", "clinic").latency_ms == 150
    assert faults.effect(early, "1342000017", "clinic").latency_ms == 100
    assert not faults.effect(early, None, "clinic").outage
    assert faults.effect(late, None, "reader").outage
    assert Faults.from_json(faults.to_json()) == faults
