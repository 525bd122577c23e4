"""The console's action log (what staff did, for rehearsals) and reader errors at the console.

Real processes: the server (`live_server`), the console (from tests/test_console_browser.py), and
Chromium. The log is read back over HTTP exactly as the rehearsal tools read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from cardreader_emulator.errors import ReaderError
from clinic_client.client import OnshiClient
from onshi.catalogue import FailureMode
from tests.browser import chromium, screenshot
from tests.server_helpers import clock_at, outage
from tests.test_console_browser import client, console, console_home, reader_posts  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def actions(console_url: str, since: str | None = None) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{console_url}/api/console/actions", params={"since": since} if since else None, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["actions"])


def kinds(log: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(a["kind"], a["detail"]) for a in log]


def post_reader_error(console_url: str, patient: str, error: ReaderError) -> str:
    answer = httpx.post(
        f"{console_url}/api/console/reader-results",
        json={
            "reader_id": "R-test",
            "patient_ref": patient,
            "reader_error": {"code": error.value, "ja": error.ja, "en": error.en},
        },
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["url"])


def test_every_staff_action_is_logged_oldest_first(console: str, client: OnshiClient) -> None:  # noqa: F811
    assert httpx.delete(f"{console}/api/console/actions", timeout=10).json() == {"actions": []}
    assert actions(console) == []
    web = httpx.Client(base_url=console, timeout=30, follow_redirects=True)

    web.post("/patients/healthy-national/card-check")  # no reader configured: still what staff did
    numbers = {
        "insurer_number": "01130012",
        "number": "0301",
        "birthdate": "1990-10-10",
        "symbol": "",
        "branch": "",
        "document": "eligibility_notice",
    }
    f1 = web.post("/patients/f1-input-lag/number-check", data=numbers)
    f1_check = str(f1.url).rsplit("/", 1)[-1]
    card = reader_posts(console, client, "healthy-employee")
    web.get(card)
    web.get(card)  # a reload shows nothing new
    locked = post_reader_error(console, "healthy-national", ReaderError.PIN_LOCKED)
    web.get(locked)
    wrong = reader_posts(console, client, "f2-wrong-link")
    web.get(wrong)
    web.post(f"{wrong}/decision", data={"decision": "rejected"})
    web.get(f"/patients/f1-input-lag/declaration?check={f1_check}")
    web.post("/patients/f1-input-lag/copay", data={"percent": "30", "check": f1_check})
    assert web.post("/patients/f1-input-lag/copay", data={"percent": "40"}).status_code == 400

    log = actions(console)
    card_id, locked_id, wrong_id = (u.rsplit("/", 1)[-1] for u in (card, locked, wrong))
    assert kinds(log) == [
        ("card_check_started", {}),
        ("number_check", {"document": "eligibility_notice"}),
        ("result_shown", {"validity": "4", "code": None, "reader_error": None}),
        ("result_shown", {"validity": "1", "code": None, "reader_error": None}),
        ("medical_info_viewed", {"kind": "medication"}),
        ("medical_info_viewed", {"kind": "clinical"}),
        ("medical_info_viewed", {"kind": "operation"}),
        ("medical_info_viewed", {"kind": "checkup"}),
        ("result_shown", {"validity": None, "code": None, "reader_error": "R301"}),
        ("result_shown", {"validity": "1", "code": None, "reader_error": None}),
        ("wrong_link_decision", {"decision": "discard"}),
        ("declaration_printed", {}),
        ("copay_charged", {"percent": 30}),
    ]
    assert [a["check_id"] for a in log] == [
        None,
        f1_check,
        f1_check,
        *[card_id] * 5,
        locked_id,
        wrong_id,
        wrong_id,
        f1_check,
        f1_check,
    ]
    # Staff see カルテ番号; the log names the persona behind each, for the rehearsal's scoring.
    assert [a["persona"] for a in log][:3] == ["healthy-national", "f1-input-lag", "f1-input-lag"]
    assert all(len(a["patient_id"]) == 6 and a["patient_id"].isdigit() for a in log)
    moments = [datetime.fromisoformat(a["at"]) for a in log]
    assert all(m.utcoffset() is not None for m in moments) and moments == sorted(moments)

    since = log[-2]["at"]
    assert kinds(actions(console, since)) == kinds(log[-2:])
    assert actions(console, "2999-01-01T00:00:00") == []  # no offset: JST
    assert httpx.get(f"{console}/api/console/actions", params={"since": "yesterday"}).status_code == 400
    httpx.delete(f"{console}/api/console/actions", timeout=10)
    assert actions(console) == []


def test_trainee_flow_in_the_browser_is_logged_and_dated_by_the_server(
    console: str,  # noqa: F811
    live_server: Any,
) -> None:
    httpx.delete(f"{console}/api/console/actions", timeout=10)
    with clock_at(live_server, "2026-11-26T10:30:00+09:00"), chromium() as page:
        page.goto(f"{console}/patients/f1-input-lag/number-check")
        document = page.locator("[data-test=document]")
        assert document.input_value() == "eligibility_notice"  # the patient's 資格情報のお知らせ
        document.select_option("eligibility_certificate")  # staff read a 資格確認書 instead
        screenshot(page, "console-number-form")
        page.click("[data-test=run-number-check]")
        page.wait_for_url("**/checks/*")
        assert "2026-11-26 10:30:00" in page.locator(".meta").inner_text()  # the server's time of the check
        page.click("[data-test=declaration]")
        sheet = page.locator("[data-test=declaration-sheet]")
        assert "2026年11月26日" in sheet.inner_text()  # the server's day, not this PC's
        page.click("[data-test=copay-30]")
        assert "記録済み: 3割" in page.locator("[data-test=charged]").inner_text()
        screenshot(page, "console-declaration-charged")
        check_id = page.url.split("check=")[-1]
    assert kinds(actions(console)) == [
        ("number_check", {"document": "eligibility_certificate"}),
        ("result_shown", {"validity": "4", "code": None, "reader_error": None}),
        ("declaration_printed", {}),
        ("copay_charged", {"percent": 30}),
    ]
    assert {a["check_id"] for a in actions(console)} == {check_id}


def test_declaration_in_an_outage_is_dated_by_the_servers_clock(console: str, live_server: Any) -> None:  # noqa: F811
    with clock_at(live_server, "2027-03-09T08:00:00+09:00"), outage(live_server), chromium() as page:
        page.goto(f"{console}/patients/healthy-national/number-check")
        page.click("[data-test=run-number-check]")
        page.wait_for_url("**/checks/*")
        page.click("[data-test=declaration]")
        sheet = page.locator("[data-test=declaration-sheet]").inner_text()
        assert "2027年3月9日" in sheet and "システムの障害" in sheet


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (ReaderError.CARD_NOT_RECOGNISED, FailureMode.READER_ERROR),
        (ReaderError.FACE_NOT_CONFIRMED, FailureMode.FACE_MISMATCH),
        (ReaderError.PIN_LOCKED, FailureMode.PIN_LOCKED),
        (ReaderError.NETWORK_FAILURE, FailureMode.OUTAGE),
    ],
)
def test_reader_error_shows_the_plain_explanation_and_next_step(
    console: str,  # noqa: F811
    error: ReaderError,
    failure: FailureMode,
) -> None:
    url = post_reader_error(console, "healthy-national", error)
    with chromium() as page:
        page.goto(console + url)
        assert (
            page.locator("[data-test=banner]").first.inner_text() == f"カードリーダーのエラー: {error.value}"
        )
        assert error.ja in page.locator("main").inner_text()
        shown = page.locator(f"[data-failure={failure.id}]")
        assert page.locator("[data-failure]").count() == 1 and shown.is_visible()
        assert failure.value.name_ja in shown.inner_text()
        assert failure.value.response_ja in shown.locator(".response").inner_text()
        assert "被保険者資格申立書" in page.locator("[data-test=declaration-route]").inner_text()
        screenshot(page, f"console-reader-{error.value}")
