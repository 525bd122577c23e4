"""The reader's touch-screen page in Debian Chromium, with a fake camera fed from a fixture portrait."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from cardreader_emulator import faces
from tests.browser import chromium, screenshot
from tests.server_helpers import reader_process

pytestmark = pytest.mark.browser


def write_y4m(path: Path, frame_rgb: np.ndarray, frames: int = 15) -> Path:
    """A YUV4MPEG2 (4:2:0) file Chromium can play as a fake webcam."""
    height, width = frame_rgb.shape[:2]
    i420 = cv2.cvtColor(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2YUV_I420)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(i420.tobytes())
    return path


@pytest.fixture(scope="module")
def reader_url(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("reader-page")
    with reader_process(live_server, tmp) as url:
        yield url, tmp / "results"


def wait_state(page: Any, state: str, timeout: float = 20.0) -> None:
    page.wait_for_selector(f'#screen[data-state="{state}"]', timeout=timeout * 1000)


def answer_consents(page: Any) -> None:
    """Agrees on every screen (5 with the medical consent), waiting for each new screen."""
    seen = []
    while page.get_attribute("#screen", "data-state") == "consent":
        title = page.inner_text("#title")
        seen.append(title)
        page.click("#buttons button >> nth=0")
        page.wait_for_function(
            "t => document.querySelector('#title').innerText !== t", arg=title, timeout=10_000
        )
    assert len(seen) == 5, seen


def test_face_check_on_the_page_with_a_fake_camera(reader_url: tuple[str, Path], tmp_path: Path) -> None:
    url, results = reader_url
    y4m = write_y4m(tmp_path / "astronaut.y4m", faces.capture("astronaut"))
    args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    ]
    with chromium(args, viewport={"width": 1340, "height": 860}) as page:
        page.goto(url)
        wait_state(page, "idle")
        page.wait_for_function("document.querySelector('#card-select').options.length > 5")
        page.wait_for_function("document.querySelector('#camera-status').textContent.includes('使用中')")
        screenshot(page, "reader-01-idle")
        page.select_option("#card-select", "healthy-employee")
        page.click("#place")
        wait_state(page, "method")
        assert page.locator("#buttons button").count() == 3
        screenshot(page, "reader-02-method")
        page.click("#buttons button >> nth=0")  # 顔認証
        wait_state(page, "face")
        page.wait_for_function("document.querySelector('#video').videoWidth > 0")
        screenshot(page, "reader-03-face")
        wait_state(page, "consent")  # the page captured a frame from the fake camera and it matched
        assert "診療・お薬" in page.inner_text("#title")
        screenshot(page, "reader-04-consent")
        answer_consents(page)
        wait_state(page, "result")
        page.wait_for_function(
            "document.querySelector('#file').textContent.startsWith('OQSsiquc01res_face_')"
        )
        assert "有効" in page.inner_text("#result")
        screenshot(page, "reader-05-result")
        page.click("#lang")
        assert "Check-in complete" in page.inner_text("#title")
        screenshot(page, "reader-06-result-en")
        page.click("#lang")
        page.click("#remove")
        wait_state(page, "idle")
    assert list(results.glob("OQSsiquc01res_face_*.xml"))


def test_pin_pad_and_error_screens(reader_url: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = reader_url
    with chromium(["--use-fake-ui-for-media-stream"], viewport={"width": 1340, "height": 860}) as page:
        page.goto(url)
        wait_state(page, "idle")
        page.wait_for_function("document.querySelector('#card-select').options.length > 5")
        page.select_option("#card-select", "healthy-dependent")
        page.click("#place")
        wait_state(page, "method")
        page.click("#buttons button >> nth=1")  # 暗証番号
        wait_state(page, "pin")
        for digit in "0000":
            page.click(f'#keypad button:text-is("{digit}")')
        page.click('#keypad button:text-is("確定")')
        page.wait_for_function("document.querySelector('#notice').textContent.includes('残り2回')")
        screenshot(page, "reader-07-pin-wrong")
        page.click("#cancel")
        wait_state(page, "error")
        assert "R602" in page.inner_text("#notice")
        screenshot(page, "reader-08-cancelled")
        page.click("#remove")
        wait_state(page, "idle")
        httpx.post(f"{url}/api/reader/faults", json={"card_unreadable": True}, timeout=10).raise_for_status()
        page.click("#place")
        wait_state(page, "error")
        assert "R101" in page.inner_text("#notice")
        screenshot(page, "reader-09-card-unreadable")
        httpx.post(f"{url}/api/reader/faults", json={"card_unreadable": False}, timeout=10).raise_for_status()
        page.click("#remove")
        wait_state(page, "idle")


# The reader's codes, the result file's name, the language toggle, and product names Japanese text writes
# in Latin letters too (厚生労働省's own pages: iPhone, Android, Face ID, Touch ID).
ALLOWED_ASCII = re.compile(
    r"^(?:[REW]\d{3}|OQSsiquc01res_face_\d{14}\.xml|English|iPhone|Android|Face|Touch|ID)$"
)


def ascii_words(page: Any) -> set[str]:
    """ASCII words a person sees on the page in Japanese mode (the select menus' options too)."""
    text = page.evaluate(
        "() => document.body.innerText + '\\n' + [...document.querySelectorAll('option, optgroup')]"
        ".map(o => o.label || o.textContent).join('\\n')"
    )
    return {word for word in re.findall(r"[A-Za-z_][A-Za-z0-9_.:-]*", text) if not ALLOWED_ASCII.match(word)}


def test_japanese_mode_shows_no_english_or_internal_names(reader_url: tuple[str, Path]) -> None:
    url, _ = reader_url
    found: dict[str, set[str]] = {}

    def look(page: Any, where: str) -> None:
        page.wait_for_timeout(600)  # a poll of the state
        words = ascii_words(page)
        if words:
            found[where] = words
        screenshot(page, f"reader-ja-{where}")

    with chromium(["--use-fake-ui-for-media-stream"], viewport={"width": 1400, "height": 900}) as page:
        page.goto(url)
        wait_state(page, "idle")
        page.wait_for_function("document.querySelector('#card-select').options.length > 5")
        look(page, "idle")
        for card, method in (("f3-certificate-expired", 1), ("f4-no-provide", 1), ("f1-input-lag", 1)):
            page.select_option("#card-select", card)
            page.click("#place")
            wait_state(page, "method")
            look(page, f"{card}-method")
            page.click(f"#buttons button >> nth={method}")  # 暗証番号
            wait_state(page, "pin")
            look(page, f"{card}-pin")
            for digit in "1234":
                page.click(f'#keypad button:text-is("{digit}")')
            page.click('#keypad button:text-is("確定")')
            wait_state(page, "consent")
            look(page, f"{card}-consent")
            while page.get_attribute("#screen", "data-state") == "consent":
                title = page.inner_text("#title")
                page.click("#buttons button >> nth=0")
                page.wait_for_function("t => document.querySelector('#title').innerText !== t", arg=title)
            wait_state(page, "result")
            look(page, f"{card}-result")
            assert page.get_attribute("#screen", "data-tone") in ("bad", "warn")  # each of these is a failure
            page.click("#remove")
            wait_state(page, "idle")
        page.select_option("#card-select", "healthy-employee")
        page.click("#place")
        wait_state(page, "method")
        page.click("#cancel")
        wait_state(page, "error")
        look(page, "cancelled")
        page.click("#remove")
        wait_state(page, "idle")
    assert not found, "; ".join(f"{where}: {' '.join(sorted(words))}" for where, words in found.items())
