"""The reception console in Chromium, against a real server and a real console process.

The test plays the card reader through the reader ↔ console contract (it performs a PIN card
check on the server and POSTs the answer to /api/console/reader-results, as the reader does).
Screenshots go to var/screenshots/console-*.png for a person to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_client.client import ClientSettings, OnshiClient
from clinic_client.console.demo import demo_patients
from clinic_client.records import PatientFile
from clinic_client.testing import ALL_CONSENTS, pin_card_check
from onshi.procs import free_port, serving
from tests.browser import chromium, screenshot
from tests.server_helpers import FIXTURE_MOMENT, advance_clock, clock_at

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The console's folder: its patient file (patients.json) and log."""
    return tmp_path_factory.mktemp("console")


def patient_entry(home: Path, persona: str) -> dict[str, Any]:
    """The patient (a demo persona's) as the console's record file holds it, read from disk."""
    data = json.loads((home / "patients.json").read_text(encoding="utf-8"))
    return next(p for p in data["patients"] if p.get("persona") == persona)


def chart(persona: str) -> str:
    """The demo persona's カルテ番号: what staff see at the console (never the persona's name)."""
    return next(p.id for p in demo_patients() if p.persona == persona)


@pytest.fixture(scope="module")
def console(live_server: Any, console_home: Path) -> Iterator[str]:
    folder = console_home
    patients = folder / "patients.json"
    patients.write_text(
        json.dumps(PatientFile(patients=demo_patients()).model_dump(mode="json"), ensure_ascii=False),
        encoding="utf-8",
    )
    port = free_port()
    with serving(["console", "--port", str(port), "--server", live_server.url, "--reader-url", "",
                  "--clinic-code", live_server.clinic_code, "--clinic-token", live_server.clinic_token,
                  "--patients", str(patients)], port, log=folder / "console.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(live_server: Any) -> Iterator[OnshiClient]:
    with OnshiClient(
        ClientSettings(
            live_server.url,
            live_server.clinic_code,
            live_server.clinic_token,
            admin_token=live_server.admin_token,
            retries=0,
        )
    ) as c:
        yield c


def reader_posts(
    console: str, client: OnshiClient, persona: str, consents: dict[str, Any] | None = None
) -> str:
    """Plays the reader: a card check on the server, the answer handed to the console."""
    reader_id = str(client.register_reader()["reader_id"])
    raw, _ = pin_card_check(client, persona, reader_id, consents=consents or ALL_CONSENTS)
    answer = httpx.post(
        f"{console}/api/console/reader-results",
        json={
            "reader_id": reader_id,
            "patient_ref": persona,
            "file": "OQSsiquc01res_face_20261124090000.xml",
            "check_id": raw["check_id"],
            "result": raw,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["url"])


def test_healthy_patient(console: str, client: OnshiClient) -> None:
    url = reader_posts(console, client, "healthy-employee")
    with chromium() as page:
        page.goto(f"{console}/")
        assert page.locator(f"#patient-{chart('healthy-employee')}").is_visible()
        listing = page.inner_text("main")
        assert chart("healthy-employee") in listing and "healthy-employee" not in listing
        assert "f2-wrong-link" not in listing  # nothing on the list names the exercise
        screenshot(page, "console-patients")
        page.goto(console + url)
        banner = page.locator("[data-test=banner]").first.inner_text()
        assert "資格：有効" in banner and "3割" in banner
        text = page.locator("main").inner_text()
        assert "東京電機健康保険組合" in text
        assert "ウ" in text  # 限度額 bracket A03
        assert "アムロジピン" in text  # medication, consented and available
        assert "別人のデータ" not in text
        assert "カルテへの反映：済" in text
        screenshot(page, "console-healthy")
        page.click("text=English")
        assert "Qualification: valid" in page.locator("[data-test=banner]").first.inner_text()
        screenshot(page, "console-healthy-en")
        page.click("text=日本語")


def test_f1_number_check_and_declaration(console: str) -> None:
    with chromium() as page:
        page.goto(f"{console}/patients/f1-input-lag/number-check")
        assert page.locator("input[name=insurer_number]").input_value() == "01130012"  # from the お知らせ
        page.click("[data-test=run-number-check]")
        page.wait_for_url("**/checks/*")
        text = page.locator("main").inner_text()
        assert "該当資格なし" in text
        assert page.locator("[data-failure=F1]").is_visible()
        assert "10割負担（全額自己負担）にはしないでください" in text
        screenshot(page, "console-f1")
        page.click("[data-test=declaration]")
        sheet = page.locator("[data-test=declaration-sheet]").inner_text()
        assert "被保険者資格申立書" in sheet and "小林 大輔" in sheet and "1990年10月10日" in sheet
        assert "01130012" in sheet and "3割" in sheet and "10割（全額）負担ではありません" in sheet
        screenshot(page, "console-f1-declaration")


def test_f2_wrong_link_is_held_until_staff_decide(
    console: str, console_home: Path, client: OnshiClient
) -> None:
    before = patient_entry(console_home, "f2-wrong-link")
    url = reader_posts(console, client, "f2-wrong-link")
    with chromium() as page:
        page.goto(console + url)
        flag = page.locator("[data-test=wrong-link]")
        assert flag.is_visible()
        assert "1962-12-25" in flag.inner_text() and "1988-03-03" in flag.inner_text()
        text = page.locator("main").inner_text()
        assert "エスシタロプラム" not in text  # the stranger's medication is never shown
        assert "なにわ商事" not in text  # nor their insurance, until staff decide
        assert page.locator("[data-test=held]").is_visible()
        assert "カルテへの反映：保留中" in page.locator("[data-test=record-state]").inner_text()
        assert patient_entry(console_home, "f2-wrong-link") == before  # nothing written yet
        screenshot(page, "console-f2")

        page.click("[data-test=reject]")
        text = page.locator("main").inner_text()
        assert (
            "別人のデータとして扱いました" in text
            and "エスシタロプラム" not in text
            and "なにわ商事" not in text
        )
        assert "カルテへの反映：なし" in page.locator("[data-test=record-state]").inner_text()
        assert patient_entry(console_home, "f2-wrong-link") == before  # discarded: the record is unchanged
        screenshot(page, "console-f2-rejected")
        assert "別人の可能性" in httpx.get(f"{console}/").text

        # The same card again; this time staff (wrongly or after checking) take the data in.
        second = reader_posts(console, client, "f2-wrong-link")
        page.goto(console + second)
        assert patient_entry(console_home, "f2-wrong-link") == before
        page.click("[data-test=accept]")
        assert "カルテへの反映：済" in page.locator("[data-test=record-state]").inner_text()
        after = patient_entry(console_home, "f2-wrong-link")
        assert after["confirmed"]["check_id"] == second.rsplit("/", 1)[-1]
        assert after["confirmed"]["insurer_number"] == "06271234"  # the stranger's insurer, now on file
        assert {k: v for k, v in after.items() if k != "confirmed"} == {
            k: v for k, v in before.items() if k != "confirmed"
        }
        screenshot(page, "console-f2-accepted")


def test_f4_no_provide_shown_honestly(console: str, client: OnshiClient) -> None:
    url = reader_posts(console, client, "f4-no-provide")
    with chromium() as page:
        page.goto(console + url)
        assert "資格：有効" in page.locator("[data-test=banner]").first.inner_text()
        medical = page.locator("[data-test=medical]").inner_text()
        assert "提供できません" in medical
        assert "自己情報提供不可" in medical
        assert page.locator("[data-failure=F4]").is_visible()
        assert "理由は尋ねない" in page.locator("[data-failure=F4]").inner_text()
        screenshot(page, "console-f4")


def test_outage_explains_the_declaration_route(console: str, fresh_server: Any) -> None:
    fresh_server.admin("POST", "/faults", json={"outage": True})
    with chromium() as page:
        page.goto(f"{console}/patients/healthy-national/number-check")
        page.click("[data-test=run-number-check]")
        page.wait_for_url("**/checks/*")
        text = page.locator("main").inner_text()
        assert "システム障害" in text
        assert page.locator("[data-failure=F13]").is_visible()
        route = page.locator("[data-test=declaration-route]").inner_text()
        assert "被保険者資格申立書" in route and "通常の負担割合" in route
        assert "10割負担（全額自己負担）にはしないでください" in route
        screenshot(page, "console-outage")
        page.goto(f"{console}/bulk")
        page.click("[data-test=run-bulk]")
        page.wait_for_url("**/bulk/*")
        assert "一括照会ができませんでした" in page.locator("main").inner_text()
        screenshot(page, "console-bulk-outage")


def test_bulk_summary(console: str, client: OnshiClient, live_server: Any) -> None:
    with chromium() as page, clock_at(live_server, FIXTURE_MOMENT):
        page.goto(f"{console}/bulk")
        page.click("[data-test=run-bulk]")
        page.wait_for_url("**/bulk/*")
        # Step 1: received, the results not ready yet (they are, 10 simulated minutes later).
        number = page.locator("[data-test=reception-number]").inner_text()
        assert len(number) >= 8
        assert "結果はまだ準備中です" in page.locator("[data-test=not-ready]").inner_text()
        screenshot(page, "console-bulk-not-ready")
        advance_clock(live_server, 600)
        page.click("[data-test=fetch-results]")
        page.wait_for_selector("[data-test=trouble]")
        assert page.locator("[data-test=reception-number]").inner_text() == number
        trouble = page.locator("[data-test=trouble]").inner_text()
        assert "小林 大輔" in trouble  # F1
        assert "複数該当" in trouble  # F14
        assert "佐藤 花子" not in trouble
        screenshot(page, "console-bulk")
