"""Japanese first, everywhere a person looks: a walk through every page in Japanese mode.

Real processes: the server (`live_server`), the reader (`onshi reader`), the reception console
(`onshi console`) and the gallery (`onshi gallery`), in Debian's Chromium. Each page is opened in
Japanese mode, brought into the states staff and trainers see (a valid result, an outage, a possible
wrong link, a reader error, the waiting page, the fault panel with faults on, a score …), and its
visible text (``innerText``: what is on screen, not hidden English) is searched for ASCII words.

Allowed (they are Japanese usage too): codes such as E003, R101, C601 (and F1–F15 on the gallery and
trainer pages, not on the console or a trainee's scene), numbers and units, a few acronyms of the trade
and proper names written in Latin letters in Japanese (PIN, BMI, HbA1c, LDL, QR, PC, DV, J-LIS, and the
phones: iPhone, Android, Face ID, Touch ID), URLs of the programs on the fault panel, and "English" on the
language toggle.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_client.console.demo import demo_patients
from onshi.catalogue import FailureMode
from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http
from rehearsal.scenario import load_all
from tests.browser import chromium, screenshot
from tests.conftest import LiveServer
from tests.server_helpers import (
    challenge,
    counter_processes,
    outage,
    phone_of,
    reader_for,
    submission,
    submit,
)

pytestmark = pytest.mark.browser

ALLOWED = {
    "PIN", "BMI", "HbA1c", "LDL", "QR", "ms", "mmHg", "mg", "kg", "cm", "mL", "English", "ID",
    "TEL", "FAX", "OK", "IC", "PC", "DV", "J-LIS",
    "iPhone", "Android", "Face", "Touch",  # product names, written so in Japanese too (Face ID, Touch ID)
}
# E003, R101, C601, A03 …, and a bulk check's 受付番号 (ED653F29B72656), read out like a number
CODE = re.compile(r"^(?:[A-Z]\d{3}|A\d{2}|[A-Z]\d{2}[a-z]?|OQS\w+|(?=[0-9A-F]*\d)[0-9A-F]{6,})$")
F_CODE = re.compile(r"^F\d{1,2}$")
URL = re.compile(r"https?://\S+")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:\-/]*")
ALWAYS_WRONG = ("null", "None", "undefined", "NaN", "[object Object]", "true", "false")


def offending(text: str, *, f_codes: bool) -> list[str]:
    """The ASCII words of ``text`` that a person reading Japanese should not have to read."""
    found: list[str] = []
    text = URL.sub(" ", text)
    for word in WORD.findall(text):
        word = word.rstrip(".:-/")
        if not word or word in ALLOWED or CODE.match(word) or (f_codes and F_CODE.match(word)):
            continue
        if re.fullmatch(r"[A-Z]", word):  # one letter: a list mark or a bracket's ASCII twin
            continue
        found.append(word)
    for wrong in ALWAYS_WRONG:
        if re.search(rf"(?<![A-Za-z]){re.escape(wrong)}(?![A-Za-z])", text) and wrong not in found:
            found.append(wrong)
    return sorted(set(found))


@dataclass
class Stack:
    server: LiveServer
    reader: str
    console: str
    gallery: str
    patients: dict[str, str]  # persona -> カルテ番号


@pytest.fixture(scope="module")
def stack(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("walk")
    port = free_port()
    gallery = f"http://127.0.0.1:{port}"
    with counter_processes(live_server, home, "walk") as pair:
        process = start_onshi(
            ["gallery", "--port", str(port), "--server", live_server.url,
             "--admin-token", live_server.admin_token, "--reader", pair.reader,
             "--console", pair.console, "--data", str(home / "gallery")],
            log=ROOT / "var" / "test-logs" / f"walk-gallery-{port}.log")
        try:
            wait_http(f"{gallery}/", timeout=60, process=process)
            yield Stack(live_server, pair.reader, pair.console, gallery, pair.charts)
        finally:
            stop(process)
            live_server.admin("DELETE", "/faults")
            live_server.reset()


def numbers_form(persona: str) -> dict[str, str]:
    patient = next(p for p in demo_patients() if p.persona == persona)
    document = patient.documents[0]
    return {"insurer_number": document.insurer_number, "symbol": document.symbol or "",
            "number": document.number, "branch": document.branch or "",
            "birthdate": patient.birthdate.isoformat(), "document": document.action_name}


def reader_check(stack: Stack, persona: str, pin: str) -> str:
    """A card check started at the console and played at the reader (PIN, every consent): its URL."""
    number = stack.patients[persona]
    started = httpx.post(f"{stack.console}/patients/{number}/card-check", timeout=30)
    after = started.headers.get("location", "after=0").rsplit("after=", 1)[-1]
    httpx.post(f"{stack.reader}/api/reader/card", json={"card_id": persona}, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = httpx.get(f"{stack.reader}/api/reader/state", timeout=10).json()
        if state["state"] == "method":
            httpx.post(f"{stack.reader}/api/reader/method", json={"method": "pin"}, timeout=10)
        elif state["state"] == "pin":
            httpx.post(f"{stack.reader}/api/reader/pin", json={"pin": pin}, timeout=30)
        elif state["state"] == "consent":
            answer: bool | str = "paper" if state["consent_step"] == "prescription" else True
            httpx.post(f"{stack.reader}/api/reader/consent", json={"answer": answer}, timeout=30)
        latest = httpx.get(f"{stack.console}/api/console/patients/{number}/latest",
                           params={"after": after}, timeout=30).json()
        if latest.get("url"):
            if httpx.get(f"{stack.reader}/api/reader/state", timeout=10).json().get("card_present"):
                httpx.delete(f"{stack.reader}/api/reader/card", timeout=10)
            return str(latest["url"])
        time.sleep(0.3)
    raise AssertionError(f"no result for {persona}")


def phone_result(stack: Stack, phone_id: str) -> str:
    """A phone check on the server handed to the console as the reader hands it (with the platform)."""
    reader = reader_for(stack.server)
    answer = submit(stack.server, submission(phone_of(stack.server, phone_id), reader,
                                             challenge(stack.server, reader))).json()
    persona, platform = phone_id.split(".")
    notice = {"reader_id": reader.reader_id, "patient_ref": stack.patients[persona], "medium": "smartphone",
              "platform": platform, "check_id": answer["check_id"], "result": answer}
    told = httpx.post(f"{stack.console}/api/console/reader-results", json=notice, timeout=30)
    return str(told.json()["url"])


def walk(page: Any, url: str, name: str, *, f_codes: bool, settle: float = 0.0) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("load")
    time.sleep(settle or 0.3)  # the pages' first poll (fault banner, reader state) fills in
    text = page.inner_text("body")
    screenshot(page, f"walk-{name}")
    return [f"{name}: {word}" for word in offending(text, f_codes=f_codes)]


def test_the_console_in_japanese_mode_shows_no_internal_names(stack: Stack) -> None:
    web = httpx.Client(base_url=stack.console, timeout=60, follow_redirects=True)
    national, employee = stack.patients["healthy-national"], stack.patients["healthy-employee"]
    valid = web.post(f"/patients/{national}/number-check", data=numbers_form("healthy-national")).url.path
    with outage(stack.server):
        down = web.post(f"/patients/{national}/number-check", data=numbers_form("healthy-national")).url.path
    card = reader_check(stack, "healthy-employee", "1234")
    wrong = reader_check(stack, "f2-wrong-link", "1234")
    iphone = phone_result(stack, "healthy-employee.iphone")
    f17 = phone_result(stack, "f17-phone-expired.android")
    f16 = web.post("/api/console/reader-results", json={
        "reader_id": "R-walk", "patient_ref": stack.patients["f16-phone-only"], "medium": "smartphone",
        "platform": "iphone",
        "reader_error": {"code": "R701", "en": "Smartphones cannot be used at this clinic.",
                         "ja": "この医療機関では、スマートフォンのマイナ保険証はご利用いただけません。"},
    }).json()["url"]
    bulk = web.post("/bulk").url.path
    found: list[str] = []
    with chromium(viewport={"width": 1280, "height": 900}) as page:
        pages = {
            "console-patients": "/",
            "console-number-form": f"/patients/{national}/number-check",
            "console-number-valid": valid,
            "console-outage": down,
            "console-card-valid": card,
            "console-wrong-link": wrong,
            "console-phone-iphone": iphone,
            "console-phone-f16": f16,
            "console-phone-f17": f17,
            "console-declaration": f"/patients/{national}/declaration?check={down.rsplit('/', 1)[-1]}",
            "console-bulk": "/bulk",
            "console-bulk-result": bulk,
        }
        for name, path in pages.items():
            found += walk(page, stack.console + path, name, f_codes=False)
        page.goto(f"{stack.console}/")
        page.click(f"[data-test=card-{employee}]")
        page.wait_for_url("**/waiting*")
        time.sleep(2.5)  # the page's poll shows where the reader is
        found += [f"console-waiting: {w}" for w in offending(page.inner_text("body"), f_codes=False)]
        screenshot(page, "walk-console-waiting")
        httpx.post(f"{stack.reader}/api/reader/cancel", timeout=10)
    assert not found, "ASCII words in Japanese mode:\n" + "\n".join(found)


def test_the_gallery_and_rehearsal_in_japanese_mode_show_no_internal_names(stack: Stack) -> None:
    gallery = stack.gallery
    scenarios = list(load_all())
    session = httpx.post(f"{gallery}/trainer/sessions", data={"name": "研修", "trainee": "受付A",
                                                              "scenario": scenarios[:2]}, timeout=30)
    session_path = session.headers["location"]
    rule = {"kind": "latency", "latency_ms": 500, "channel": "clinic"}
    httpx.post(f"{gallery}/api/faults/rules", json=rule, timeout=30)
    httpx.post(f"{gallery}/api/reader-faults", json={"slow_read_ms": 200}, timeout=30)
    found: list[str] = []
    try:
        with chromium(viewport={"width": 1600, "height": 900}) as page:
            pages = {"gallery-index": "/", "gallery-privacy": "/privacy", "faults": "/faults",
                     "rehearsal-index": "/rehearsal", "trainer": "/trainer", "session": session_path,
                     "rehearsal-404": "/rehearsal/F1", "failure-404": "/failures/F99"}
            pages |= {f"failure-{mode.id}": f"/failures/{mode.id}" for mode in FailureMode}
            pages |= {f"rehearsal-{s}": f"/rehearsal/{s}" for s in scenarios}
            for name, path in pages.items():
                found += walk(page, gallery + path, name, f_codes=not name.startswith("rehearsal-f"),
                              settle=1.5 if name in ("faults", "gallery-index") else 0.0)
            page.goto(f"{gallery}/rehearsal/{scenarios[0]}")
            page.locator("form.response button[type=submit]").click()
            page.wait_for_load_state("load")
            found += [f"score: {w}" for w in offending(page.inner_text("body"), f_codes=True)]
            screenshot(page, "walk-score")
    finally:
        httpx.delete(f"{gallery}/api/faults", timeout=30)
    assert not found, "ASCII words in Japanese mode:\n" + "\n".join(found)


def test_the_reader_page_in_japanese_mode_shows_no_internal_names(stack: Stack) -> None:
    found: list[str] = []
    with chromium(viewport={"width": 1280, "height": 900}) as page:
        found += walk(page, f"{stack.reader}/", "reader-idle", f_codes=False, settle=1.0)
        httpx.post(f"{stack.reader}/api/reader/checks", json={"patient_ref": "000000"}, timeout=10)
        httpx.post(f"{stack.reader}/api/reader/card", json={"card_id": "healthy-employee"}, timeout=60)
        time.sleep(1.5)
        found += [f"reader-method: {w}" for w in offending(page.inner_text("body"), f_codes=False)]
        screenshot(page, "walk-reader-method")
        httpx.delete(f"{stack.reader}/api/reader/card", timeout=10)
    assert not found, "ASCII words in Japanese mode:\n" + "\n".join(found)


def test_the_walk_finds_what_it_must(tmp_path: Path) -> None:
    """The finder itself: raw state names, identifiers and null are caught; codes and units are not."""
    assert offending("状態: idle", f_codes=False) == ["idle"]
    assert offending("unplug_at = null", f_codes=False) == ["null", "unplug_at"]
    assert offending("f2-wrong-link 加藤 美咲", f_codes=False) == ["f2-wrong-link"]
    assert offending("E003 利用登録がされていません R101 C601 120 ms 3割", f_codes=False) == []
    assert offending("F2 紐付け誤り", f_codes=False) == ["F2"]
    assert offending("F2 紐付け誤り", f_codes=True) == []
    assert offending("Use the 被保険者資格申立書. Never charge 100%.", f_codes=False) == [
        "Never", "Use", "charge", "the"]
