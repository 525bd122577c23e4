"""The smartphone path on the reader's touch-screen page, in Debian Chromium against a real server and
a real `onshi reader` process: an iPhone (Face ID fails once, the phone is not read once), an Android
phone (the card's PIN on the reader's keypad), and a clinic without a 汎用カードリーダー. Screenshots go to
/tmp/shots-reader/ (and var/screenshots/) for a person to look at."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, screenshot
from tests.server_helpers import reader_process
from tests.test_reader_page import answer_consents, wait_state

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-reader")
# Product names people read as they are (Japanese text writes them in Latin letters too), the reader's
# own codes, the language toggle.
ALLOWED = re.compile(r"^(?:[REW]\d{3}|OQSsiquc01res_face_\d{14}\.xml|English|iPhone|Android|Face|Touch|ID)$")


def shot(page: Any, name: str) -> None:
    path = screenshot(page, f"reader-phone-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def ascii_words(page: Any) -> set[str]:
    text = page.evaluate(
        "() => document.body.innerText + '\\n' + [...document.querySelectorAll('option, optgroup')]"
        ".map(o => o.label || o.textContent).join('\\n')"
    )
    return {w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_.:-]*", text) if not ALLOWED.match(w)}


@pytest.fixture(scope="module")
def reader_url(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    live_server.reset()
    tmp = tmp_path_factory.mktemp("reader-phone-page")
    with reader_process(live_server, tmp) as url:
        yield url, tmp / "results"


def test_phone_checks_on_the_page_for_both_platforms_and_without_a_general_reader(
    reader_url: tuple[str, Path],
) -> None:
    url, results = reader_url
    found: dict[str, set[str]] = {}

    def look(page: Any, name: str) -> None:
        page.wait_for_timeout(500)  # a poll of the state
        words = ascii_words(page)
        if words:
            found[name] = words
        shot(page, name)

    with chromium(viewport={"width": 1400, "height": 980}) as page:
        page.goto(url)
        wait_state(page, "idle")
        page.wait_for_function("document.querySelector('#phone-select').options.length >= 4")
        assert page.is_checked("#general-reader-setting")
        look(page, "01-idle")

        # iPhone: the patient picks スマートフォン on the screen; Face ID fails once, then works
        page.select_option("#phone-select", "healthy-employee.iphone")
        page.click("#buttons button.phone")
        wait_state(page, "phone_confirm")
        assert "スマートフォンで本人確認" in page.inner_text("#title")
        look(page, "02-iphone-confirm")
        page.click("#phone-auth-fail")
        page.wait_for_function("document.querySelector('#notice').textContent.includes('あと2回')")
        look(page, "03-iphone-face-id-failed")
        page.click("#phone-auth-ok")
        wait_state(page, "phone_hold")
        assert "かざしてください" in page.inner_text("#title")
        assert "waiting" in (page.get_attribute("#general-reader", "class") or "")
        page.click("#hold-not-read")
        page.wait_for_function("document.querySelector('#notice').textContent.includes('R702')")
        look(page, "04-iphone-not-read")
        page.click("#hold-ok")
        wait_state(page, "consent")
        answer_consents(page)
        wait_state(page, "result")
        result = page.inner_text("#result")
        assert "スマートフォン（iPhone・生体認証）" in result and "有効" in result
        assert "スマートフォンをお持ちになり" in page.inner_text("#message")
        look(page, "05-iphone-result")
        (first,) = sorted(results.glob("OQSsiquc01res_face_*.xml"))
        assert "スマートフォン（iPhone・生体認証）" in first.read_text(encoding="utf-8")

        # Android: the card's 4-digit PIN on the reader's keypad (a phone check needs no card to take)
        page.select_option("#phone-select", "healthy-employee.android")
        page.click("#phone-choose")
        wait_state(page, "phone_pin")
        assert "カードと共通" in page.inner_text("#message")
        page.click('#keypad button:text-is("1")')
        look(page, "06a-android-pin")
        page.click('#keypad button:text-is("訂正")')
        for digit in "1234":
            page.click(f'#keypad button:text-is("{digit}")')
        page.click('#keypad button:text-is("確定")')
        wait_state(page, "phone_hold")
        look(page, "06-android-hold")
        page.click("#hold-moved")
        page.wait_for_function("document.querySelector('#notice').textContent.includes('R703')")
        page.click("#hold-ok")
        wait_state(page, "consent")
        answer_consents(page)
        wait_state(page, "result")
        assert "スマートフォン（Android・暗証番号）" in page.inner_text("#result")
        look(page, "07-android-result")

        # A clinic without a 汎用カードリーダー: choosing the phone says so (R701)
        page.uncheck("#general-reader-setting")
        page.wait_for_function("document.querySelector('#general-reader').classList.contains('absent')")
        page.select_option("#phone-select", "f16-phone-only.iphone")
        page.click("#phone-choose")
        wait_state(page, "error")
        notice = page.inner_text("#notice")
        assert "R701" in notice and "汎用カードリーダー" in notice and "資格確認書" in notice
        assert page.inner_text("#title") == "スマートフォンでは確認できませんでした"
        look(page, "08-no-general-reader")

        page.click("#lang")  # English is there on the toggle
        page.wait_for_function("document.querySelector('#notice').textContent.includes('general-purpose')")
        shot(page, "09-no-general-reader-en")
        page.click("#lang")
        page.check("#general-reader-setting")
    assert not found, "; ".join(f"{where}: {' '.join(sorted(words))}" for where, words in found.items())
