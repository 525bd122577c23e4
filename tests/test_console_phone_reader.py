"""A phone at the counter from end to end: the console starts the check, the patient uses the phone on the
reader emulator, the reader tells the console (medium, platform), and staff read the result in Chromium.

Real processes: the server, `onshi reader`, `onshi console`; Debian's Chromium. F16: the reader without a
汎用カードリーダー refuses the phone (R701) and the console sends staff to other means; F17: an Android
phone whose own certificate expired fails while the console says why and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.browser import chromium, screenshot
from tests.conftest import LiveServer
from tests.server_helpers import Counter, counter_processes

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def counter(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counter]:
    with counter_processes(live_server, tmp_path_factory.mktemp("phone-counter"), "phone-counter") as pair:
        yield pair


def general_reader(counter: Counter, present: bool) -> None:
    answer = httpx.post(f"{counter.reader}/api/reader/settings", json={"general_reader": present}, timeout=10)
    assert answer.status_code == 200, answer.text


def phone_at_the_counter(counter: Counter, persona: str, phone_id: str, pin: str = "1234") -> str:
    """Staff start a card check at the console; the patient uses the phone on the reader: the result's URL."""
    chart = counter.charts[persona]
    started = httpx.post(f"{counter.console}/patients/{chart}/card-check", timeout=30)
    after = started.headers.get("location", "after=0").rsplit("after=", 1)[-1]
    reader = httpx.Client(base_url=counter.reader, timeout=30)
    reader.get("/api/reader/phones")  # the tray in step with the registry's phones
    chosen = reader.post("/api/reader/phone", json={"phone_id": phone_id})
    assert chosen.status_code == 200, chosen.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = reader.get("/api/reader/state").json()
        if state["state"] == "phone_confirm":
            reader.post("/api/reader/phone/confirm", json={"ok": True})
        elif state["state"] == "phone_pin":
            reader.post("/api/reader/pin", json={"pin": pin})
        elif state["state"] == "phone_hold":
            reader.post("/api/reader/phone/hold", json={"outcome": "ok"})
        elif state["state"] == "consent":
            answer: bool | str = "paper" if state.get("consent_step") == "prescription" else True
            reader.post("/api/reader/consent", json={"answer": answer})
        latest = httpx.get(f"{counter.console}/api/console/patients/{chart}/latest",
                           params={"after": after}, timeout=30).json()
        if latest.get("url"):
            return str(latest["url"])
        time.sleep(0.3)
    raise AssertionError(f"no result at the console for {phone_id}")


def test_an_iphone_check_reaches_the_console_as_a_phone_check(counter: Counter) -> None:
    general_reader(counter, True)
    url = phone_at_the_counter(counter, "healthy-employee", "healthy-employee.iphone")
    check = httpx.get(f"{counter.console}/api/console/checks/{url.rsplit('/', 1)[-1]}", timeout=10).json()
    assert (check["medium"], check["platform"], check["method"], check["valid"]) == (
        "smartphone", "iphone", "biometric", True)
    with chromium() as page:
        page.goto(counter.console + url)
        how = page.locator("[data-test=how-checked]").inner_text()
        assert how == "確認方法：スマートフォン（iPhone）・生体認証（Face ID / Touch ID）"
        assert "資格：有効" in page.locator("[data-test=banner]").first.inner_text()
        screenshot(page, "console-reader-phone-iphone")


def test_f16_the_reader_without_a_general_reader_and_the_console_sends_staff_to_other_means(
    counter: Counter,
) -> None:
    general_reader(counter, False)
    try:
        url = phone_at_the_counter(counter, "f16-phone-only", "f16-phone-only.iphone")
    finally:
        general_reader(counter, True)
    check = httpx.get(f"{counter.console}/api/console/checks/{url.rsplit('/', 1)[-1]}", timeout=10).json()
    assert check["failures"] == ["F16"] and check["medium"] == "smartphone" and check["declaration"]
    with chromium() as page:
        page.goto(counter.console + url)
        assert "R701" in page.locator("[data-test=banner]").first.inner_text()
        route = page.locator("[data-test=declaration-route]").inner_text()
        for words in ("汎用カードリーダーがない", "マイナポータルの資格情報画面", "番号で確認",
                      "10割負担（全額自己負担）にはしないでください"):
            assert words in route, words
        screenshot(page, "console-reader-phone-f16")


def test_f17_an_expired_android_phone_at_the_counter(counter: Counter) -> None:
    general_reader(counter, True)
    url = phone_at_the_counter(counter, "f17-phone-expired", "f17-phone-expired.android")
    check = httpx.get(f"{counter.console}/api/console/checks/{url.rsplit('/', 1)[-1]}", timeout=10).json()
    assert (check["medium"], check["platform"], check["method"]) == ("smartphone", "android", "pin")
    assert check["failures"] == ["F17"] and check["declaration"]
    with chromium() as page:
        page.goto(counter.console + url)
        how = page.locator("[data-test=how-checked]").inner_text()
        assert how == "確認方法：スマートフォン（Android）・暗証番号"
        assert page.locator("[data-failure=F3]").count() == 0
        assert "カードとは別" in page.locator("[data-test=declaration-route]").inner_text()
        screenshot(page, "console-reader-phone-f17")
