"""Server, reader emulator and reception console as separate processes, wired as `onshi demo` wires them.

A card check started at the console is played at the reader, reaches the server, and the result
comes back to the console, which flags the wrong link (F2) and holds the stranger's data back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_client.console.demo import chart_number
from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http
from tests.conftest import LiveServer
from tests.server_helpers import reader_process


@pytest.fixture
def trio(fresh_server: LiveServer, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if fresh_server.backend != "sqlite":
        pytest.skip("the wiring is backend-independent; the server tests cover PostgreSQL")
    console_port = free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    env = {
        "ONSHI_ADMIN_TOKEN": fresh_server.admin_token,
        "ONSHI_CLINIC_CODE": fresh_server.clinic_code,
        "ONSHI_CLINIC_TOKEN": fresh_server.clinic_token,
    }
    with reader_process(fresh_server, tmp_path, "--console-url", console_url) as reader_url:
        console = start_onshi(
            ["console", "--port", str(console_port), "--server", fresh_server.url, "--reader-url", reader_url,
             "--patients", str(tmp_path / "patients.json")],
            env=env,
            log=ROOT / "var" / "test-logs" / "trio-console.log",
        )
        try:
            wait_http(f"{console_url}/", timeout=60, process=console)
            yield reader_url, console_url
        finally:
            stop(console)


def reader_state(reader_url: str) -> dict[str, Any]:
    return httpx.get(f"{reader_url}/api/reader/state", timeout=10).json()


def wait_for_state(reader_url: str, wanted: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = reader_state(reader_url)
        if state.get("state") in wanted:
            return state
        time.sleep(0.1)
    raise AssertionError(f"reader never reached {wanted}: {reader_state(reader_url)}")


def test_a_card_check_started_at_the_console_comes_back_with_the_wrong_link_flagged(
    trio: tuple[str, str], tmp_path: Path
) -> None:
    reader_url, console_url = trio
    started = httpx.post(
        f"{console_url}/patients/f2-wrong-link/card-check", follow_redirects=False, timeout=10
    )
    assert started.status_code == 303

    httpx.post(f"{reader_url}/api/reader/card", json={"card_id": "f2-wrong-link"}, timeout=30)
    wait_for_state(reader_url, {"method"})
    httpx.post(f"{reader_url}/api/reader/method", json={"method": "pin"}, timeout=10)
    httpx.post(f"{reader_url}/api/reader/pin", json={"pin": "1234"}, timeout=30)
    state = wait_for_state(reader_url, {"consent", "result"})
    while state["state"] == "consent":
        answer: bool | str = "electronic" if state["consent_step"] == "prescription" else True
        response = httpx.post(f"{reader_url}/api/reader/consent", json={"answer": answer}, timeout=30)
        assert response.status_code == 200, response.text
        state = wait_for_state(reader_url, {"consent", "result"})

    latest: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not latest.get("check_id"):
        latest = httpx.get(f"{console_url}/api/console/patients/f2-wrong-link/latest", timeout=10).json()
        time.sleep(0.2)
    assert latest.get("check_id"), "the reader's result never reached the console"
    check = httpx.get(f"{console_url}/api/console/checks/{latest['check_id']}", timeout=10).json()
    assert check["valid"] is True  # the system says valid …
    page = httpx.get(f"{console_url}{latest['url']}", timeout=10).text
    assert "1962" in page  # … for the stranger's birth date, which the console shows side by side
    assert "別人" in page  # and staff are asked to decide before anything enters the record

    files = list((tmp_path / "results").glob("OQSsiquc01res_face_*.xml"))
    assert len(files) == 1


# --- the reader in step with the registry -----------------------------------------------------


def finish_consents(reader_url: str, state: dict[str, Any]) -> dict[str, Any]:
    while state["state"] == "consent":
        answer: bool | str = "electronic" if state["consent_step"] == "prescription" else True
        response = httpx.post(f"{reader_url}/api/reader/consent", json={"answer": answer}, timeout=30)
        assert response.status_code == 200, response.text
        state = wait_for_state(reader_url, {"consent", "result", "error"})
    return state


def check_at_reader(reader_url: str, card_id: str, method: str, proof: str) -> dict[str, Any]:
    """A patient's whole check at the reader: place the card, prove it's them (a PIN or a sample
    face), agree to the consents; the reader's final state (result or error)."""
    placed = httpx.post(f"{reader_url}/api/reader/card", json={"card_id": card_id}, timeout=60)
    assert placed.status_code == 200, placed.text
    wait_for_state(reader_url, {"method"})
    httpx.post(f"{reader_url}/api/reader/method", json={"method": method}, timeout=10).raise_for_status()
    if method == "pin":
        httpx.post(f"{reader_url}/api/reader/pin", json={"pin": proof}, timeout=30).raise_for_status()
    else:
        response = httpx.post(f"{reader_url}/api/reader/face/sample", json={"spec": proof}, timeout=60)
        assert response.status_code == 200, response.text
    state = finish_consents(reader_url, wait_for_state(reader_url, {"consent", "result", "error"}))
    return state


def take_card(reader_url: str) -> None:
    if reader_state(reader_url)["card_present"]:
        httpx.delete(f"{reader_url}/api/reader/card", timeout=10).raise_for_status()


def test_a_fixture_reload_under_the_running_trio_reaches_the_reader(
    trio: tuple[str, str], fresh_server: LiveServer
) -> None:
    reader_url, _ = trio
    before = check_at_reader(reader_url, "healthy-employee", "pin", "1234")
    assert before["summary"]["validity"] == "1", before
    take_card(reader_url)

    fresh_server.admin("POST", "/fixtures/load", json={"name": "personas"})  # new certificates for every card

    by_pin = check_at_reader(reader_url, "healthy-employee", "pin", "1234")
    assert by_pin["state"] == "result", by_pin
    assert by_pin["summary"]["validity"] == "1", by_pin["summary"]
    assert by_pin["summary"]["processing_result_status"] == "1", by_pin["summary"]
    take_card(reader_url)
    by_face = check_at_reader(reader_url, "healthy-employee", "face", "astronaut")
    assert by_face["summary"]["validity"] == "1", by_face["summary"]
    take_card(reader_url)


# --- no check is lost ----------------------------------------------------------------------------


def start_at_console(console_url: str, patient: str) -> None:
    started = httpx.post(f"{console_url}/patients/{patient}/card-check", follow_redirects=False, timeout=10)
    assert started.status_code == 303, started.text


def console_latest(console_url: str, patient: str, timeout: float = 30) -> dict[str, Any]:
    """The console's latest check of a patient, waiting for one to arrive."""
    deadline = time.monotonic() + timeout
    latest: dict[str, Any] = {}
    while time.monotonic() < deadline:
        latest = httpx.get(f"{console_url}/api/console/patients/{patient}/latest", timeout=10).json()
        if latest.get("check_id"):
            return latest
        time.sleep(0.2)
    raise AssertionError(f"no check of {patient} reached the console")


def test_a_check_started_while_the_last_patients_card_is_still_on_the_reader_is_not_lost(
    trio: tuple[str, str],
) -> None:
    reader_url, console_url = trio
    start_at_console(console_url, "healthy-employee")
    assert check_at_reader(reader_url, "healthy-employee", "pin", "1234")["state"] == "result"
    first = console_latest(console_url, "healthy-employee")

    start_at_console(console_url, "healthy-national")  # patient A's card still lies on the reader
    national = chart_number("healthy-national")  # the console names patients by カルテ番号
    assert reader_state(reader_url)["next_patient_ref"] == national
    take_card(reader_url)
    assert reader_state(reader_url)["patient_ref"] == national
    final = check_at_reader(reader_url, "healthy-national", "pin", "2468")
    assert final["state"] == "result" and final["patient_ref"] == national
    second = console_latest(console_url, "healthy-national")
    assert second["check_id"] != first["check_id"]
    check = httpx.get(f"{console_url}/api/console/checks/{second['check_id']}", timeout=10).json()
    assert check["valid"] is True
    take_card(reader_url)


def test_a_card_pulled_mid_check_reaches_the_console_as_a_reader_error(trio: tuple[str, str]) -> None:
    reader_url, console_url = trio
    start_at_console(console_url, "healthy-employee")
    httpx.post(f"{reader_url}/api/reader/card", json={"card_id": "healthy-employee"}, timeout=60)
    wait_for_state(reader_url, {"method"})
    take_card(reader_url)  # pulled before choosing a method
    latest = console_latest(console_url, "healthy-employee")
    check = httpx.get(f"{console_url}/api/console/checks/{latest['check_id']}", timeout=10).json()
    assert check["valid"] is False and check["patient_id"] == chart_number("healthy-employee")
    page = httpx.get(f"{console_url}{latest['url']}", timeout=10).text
    assert "カードが取り外されました" in page  # the reader's own words, on the patient's page


# --- a trainer's afternoon: card scenarios in a row on one running demo --------------------------


@pytest.fixture
def demo(fresh_server: LiveServer, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Server, reader, console and the gallery/trainer app as processes, as `make demo` runs them."""
    if fresh_server.backend != "sqlite":
        pytest.skip("the wiring is backend-independent; the server tests cover PostgreSQL")
    console_port, gallery_port = free_port(), free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    gallery_url = f"http://127.0.0.1:{gallery_port}"
    env = {
        "ONSHI_ADMIN_TOKEN": fresh_server.admin_token,
        "ONSHI_CLINIC_CODE": fresh_server.clinic_code,
        "ONSHI_CLINIC_TOKEN": fresh_server.clinic_token,
        "ONSHI_SERVER_URL": fresh_server.url,
    }
    with reader_process(fresh_server, tmp_path, "--console-url", console_url) as reader_url:
        console = start_onshi(
            ["console", "--port", str(console_port), "--server", fresh_server.url, "--reader-url", reader_url,
             "--patients", str(tmp_path / "patients.json")],
            env=env, log=ROOT / "var" / "test-logs" / "demo-console.log",
        )
        gallery = start_onshi(
            ["gallery", "--port", str(gallery_port), "--server", fresh_server.url, "--console", console_url,
             "--reader", reader_url, "--data", str(tmp_path / "rehearsal")],
            env=env, log=ROOT / "var" / "test-logs" / "demo-gallery.log",
        )
        try:
            wait_http(f"{console_url}/", timeout=60, process=console)
            wait_http(f"{gallery_url}/", timeout=60, process=gallery)
            yield reader_url, console_url, gallery_url
        finally:
            stop(gallery)
            stop(console)


# scenario id → (card, method, proof, what the reader must show: summary fields or a reader error code)
CARD_SCENARIOS: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("f03-certificate-expired", "f3-certificate-expired", "pin", "1234", {"processing_result_code": "E001"}),
    ("f09-not-registered", "f9-not-registered", "face", "holder", {"processing_result_code": "E003"}),
    ("f04-no-provide", "f4-no-provide", "face", "holder:glasses", {"validity": "1",
                                                                    "processing_result_code": "W003"}),
    ("f01-input-lag", "f1-input-lag", "pin", "1234", {"validity": "2"}),
    ("f12-renewal-link", "late-elderly-30", "pin", "3333", {"validity": "4"}),
    ("f15-revoked", "f15-revoked", "pin", "1234", {"processing_result_code": "E002"}),
    ("f06-reader-unplugged", "healthy-employee", "pin", "1234", {"error": "R401"}),
]


def play_prepared(reader_url: str, card: str, method: str, proof: str) -> dict[str, Any]:
    """The trainee at the reader after 「準備」: the reader's final state."""
    placed = httpx.post(f"{reader_url}/api/reader/card", json={"card_id": card}, timeout=60)
    assert placed.status_code == 200, placed.text
    state = wait_for_state(reader_url, {"method", "error"})
    if state["state"] == "error":
        return state
    chosen = httpx.post(f"{reader_url}/api/reader/method", json={"method": method}, timeout=10)
    if chosen.status_code != 200:  # e.g. the cable came out as the PIN screen opened
        return reader_state(reader_url)
    if method == "pin":
        httpx.post(f"{reader_url}/api/reader/pin", json={"pin": proof}, timeout=30)
    else:
        httpx.post(f"{reader_url}/api/reader/face/sample", json={"spec": proof}, timeout=60)
    return finish_consents(reader_url, wait_for_state(reader_url, {"consent", "result", "error"}))


def test_card_scenarios_in_a_row_on_one_demo_each_show_their_own_failure(
    demo: tuple[str, str, str],
) -> None:
    reader_url, _, gallery_url = demo
    seen: list[str] = []
    for number, (scenario, card, method, proof, expected) in enumerate(CARD_SCENARIOS):
        if number == 3:  # 「ライブで実行」 in between: it reloads the registry under the running reader
            live = httpx.post(f"{gallery_url}/api/run/f02-wrong-link", timeout=600)
            assert live.status_code == 200, live.text
            assert live.json()["ok"], live.json()
        prepared = httpx.post(f"{gallery_url}/api/prepare/{scenario}", timeout=120)
        assert prepared.status_code == 200, prepared.text
        final = play_prepared(reader_url, card, method, proof)
        if "error" in expected:
            assert final["state"] == "error", (scenario, final)
            assert final["error"]["code"] == expected["error"], (scenario, final)
            seen.append(final["error"]["code"])
        else:
            assert final["state"] == "result", (scenario, final)
            summary = final["summary"]
            for key, value in expected.items():
                assert summary[key] == value, (scenario, key, summary)
            screen = final["screen"]
            if summary["validity"] != "1":  # a failure never looks like a completed check-in
                assert screen["tone"] == "bad" and screen["step"]["ja"] != "完了", (scenario, screen)
            seen.append(summary["processing_result_code"] or f"validity {summary['validity']}")
        httpx.delete(f"{gallery_url}/api/prepare/{scenario}", timeout=60).raise_for_status()  # faults off
        if not reader_state(reader_url)["connected"]:
            httpx.post(f"{reader_url}/api/reader/faults", json={"unplugged": False}, timeout=10)
        take_card(reader_url)
    assert len(set(seen)) == len(CARD_SCENARIOS), seen  # each its own failure


def test_every_date_the_reader_shows_or_writes_is_on_the_simulated_clock(
    trio: tuple[str, str], tmp_path: Path
) -> None:
    from datetime import date

    reader_url, _ = trio
    final = check_at_reader(reader_url, "healthy-employee", "pin", "1234")
    (path,) = (tmp_path / "results").glob("OQSsiquc01res_face_*.xml")
    page = httpx.get(f"{reader_url}/", timeout=10).text
    state = json.dumps(final, ensure_ascii=False)
    seen = "\n".join([path.name, path.read_text(encoding="utf-8"), state, page])
    assert path.name == "OQSsiquc01res_face_20261124090000.xml"  # the fixture moment, 2026-11-24 09:00 JST
    assert "<ProcessExecutionTime>20261124090000</ProcessExecutionTime>" in seen
    today = date.today()
    if today != date(2026, 11, 24):
        walls = (today.strftime("%Y%m%d"), today.isoformat(), f"{today.year}年{today.month}月{today.day}日")
        for wall in walls:
            assert wall not in seen, wall
    take_card(reader_url)
