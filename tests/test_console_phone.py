"""The console and the smartphone マイナ保険証: how a check was made, and the next step on the phone troubles.

A phone check is shown as what it was (スマートフォン, iPhone/Android, 生体認証/暗証番号). When the phone
cannot be used — the clinic has no 汎用カードリーダー (F16), or the phone's own certificate or link fails
(F17) — staff are sent to the card, the 資格確認書 / 資格情報のお知らせ / マイナポータル 資格情報画面 and a
number check, never to charging 100%. Real processes: the server, the console, Chromium.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from clinic_client.console.demo import demo_patients
from clinic_client.explain import explain
from clinic_client.outcome import CheckOutcome, HowChecked, Note
from clinic_client.testing import ALL_CONSENTS
from onshi.catalogue import FailureMode
from onshi.codes import (
    AuthMethod,
    CheckMedium,
    PhonePlatform,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
)
from tests.browser import chromium, screenshot
from tests.conftest import LiveServer
from tests.server_helpers import Card, card_of, challenge, phone_of, reader_for, submission, submit
from tests.test_console_browser import chart, console, console_home  # noqa: F401 (fixtures)

IPHONE = HowChecked(CheckMedium.SMARTPHONE, PhonePlatform.IPHONE, AuthMethod.BIOMETRIC)
ANDROID = HowChecked(CheckMedium.SMARTPHONE, PhonePlatform.ANDROID, AuthMethod.PIN)


# --- how a check was made, in words -----------------------------------------------------------------


def test_how_a_check_was_made_reads_japanese_first_with_english_available() -> None:
    assert IPHONE.label("ja") == "スマートフォン（iPhone）・生体認証（Face ID / Touch ID）"
    assert IPHONE.label("en") == "smartphone (iPhone) · biometrics (Face ID / Touch ID)"
    assert ANDROID.label("ja") == "スマートフォン（Android）・暗証番号"
    assert HowChecked.parse("card", None, "face") == HowChecked(CheckMedium.CARD, None, AuthMethod.FACE)
    assert HowChecked.parse("card", None, "visual").label("ja") == "マイナンバーカード・目視確認"  # type: ignore[union-attr]
    # The reader's notice names a platform: only a phone has one. Nothing said: nothing shown.
    phone = HowChecked(CheckMedium.SMARTPHONE, PhonePlatform.ANDROID)
    assert HowChecked.parse(None, "android", None) == phone
    assert HowChecked.parse(None, None, None) is None
    assert HowChecked.parse("tablet", None, None) is None  # an unknown word is not guessed at
    # The answer says smartphone + biometric; the reader's notice adds the platform.
    answer = HowChecked.parse("smartphone", None, "biometric")
    assert answer is not None and answer.merged(HowChecked.parse(None, "iphone")) == IPHONE


# --- which catalogue entry, and the phone's next step -----------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        ProcessingResultCode.CERTIFICATE_EXPIRED,
        ProcessingResultCode.CERTIFICATE_REVOKED,
        ProcessingResultCode.NOT_REGISTERED,
        ProcessingResultCode.RENEWAL_LINK_PENDING,
    ],
)
def test_a_phone_certificate_error_is_the_phones_own_not_the_cards(code: ProcessingResultCode) -> None:
    by_phone = CheckOutcome(ProcessingResultStatus.ERROR, None, notes=(Note.of(code),), how=ANDROID)
    explained = explain(by_phone)
    assert explained.ids == ("F17",) and explained.by_phone and explained.declaration
    # The same code from a card check keeps the card's entry (renew at the municipality, …).
    by_card = CheckOutcome(ProcessingResultStatus.ERROR, None, notes=(Note.of(code),),
                           how=HowChecked(CheckMedium.CARD, None, AuthMethod.PIN))
    assert "F17" not in explain(by_card).ids and not explain(by_card).by_phone
    # The reader's notice alone can say it was a phone (an answer from a server without the medium).
    bare = CheckOutcome(ProcessingResultStatus.ERROR, None, notes=(Note.of(code),))
    assert explain(bare, how=IPHONE).ids == ("F17",)


def test_a_valid_phone_check_is_not_a_trouble() -> None:
    fine = CheckOutcome(ProcessingResultStatus.NORMAL, QualificationValidity.VALID, how=IPHONE)
    assert explain(fine).ids == () and not explain(fine).declaration
    # The phone's certificate ends soon: no card entry (renewing the card would not renew the phone).
    soon = CheckOutcome(ProcessingResultStatus.NORMAL, QualificationValidity.VALID,
                        notes=(Note.of(ProcessingResultCode.CERTIFICATE_EXPIRING),), how=IPHONE)
    assert "F3" not in explain(soon).ids


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("R701", FailureMode.PHONE_WITHOUT_GENERAL_READER),
        ("R707", FailureMode.PHONE_CERTIFICATE),
        ("R706", FailureMode.PIN_LOCKED),
        ("R702", FailureMode.READER_ERROR),
    ],
)
def test_the_readers_phone_errors_point_to_the_right_entry(code: str, failure: FailureMode) -> None:
    explained = explain(None, reader_error={"code": code, "ja": "…", "en": "…"})
    assert explained.failures == (failure,) and explained.by_phone and explained.declaration


# --- at the console, against a real server ------------------------------------------------------------


def post(console_url: str, body: dict[str, Any]) -> str:
    answer = httpx.post(f"{console_url}/api/console/reader-results", json=body, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["url"])


def check_on_server(server: LiveServer, holder: Card) -> tuple[str, dict[str, Any]]:
    """A real card check on the server with a card or a phone (``phone_of``): (reader id, JSON answer)."""
    reader = reader_for(server)
    response = submit(server, submission(holder, reader, challenge(server, reader), consents=ALL_CONSENTS))
    assert response.status_code == 200, response.text
    return reader.reader_id, dict(response.json())


def reader_tells(console_url: str, server: LiveServer, persona: str, holder: Card,
                 platform: str | None = None) -> str:
    """Plays the reader: the check on the server, then the notice to the console (with the phone's
    platform, as the reader's notice carries it)."""
    reader_id, answer = check_on_server(server, holder)
    notice: dict[str, Any] = {"reader_id": reader_id, "patient_ref": persona, "check_id": answer["check_id"],
                              "medium": answer.get("medium"), "result": answer}
    if platform:
        notice["platform"] = platform
    return post(console_url, notice)


def check_json(console_url: str, url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{console_url}/api/console/checks/{url.rsplit('/', 1)[-1]}", timeout=10).json())


@pytest.mark.parametrize(
    ("platform", "ja", "en"),
    [
        ("iphone", "確認方法：スマートフォン（iPhone）・生体認証（Face ID / Touch ID）",
         "Checked with: smartphone (iPhone) · biometrics (Face ID / Touch ID)"),
        ("android", "確認方法：スマートフォン（Android）・暗証番号",
         "Checked with: smartphone (Android) · PIN"),
    ],
)
def test_a_phone_check_shows_how_it_was_made(
    console: str, live_server: LiveServer, platform: str, ja: str, en: str  # noqa: F811
) -> None:
    url = reader_tells(console, live_server, "healthy-employee",
                       phone_of(live_server, f"healthy-employee.{platform}"), platform)
    check = check_json(console, url)
    method = "biometric" if platform == "iphone" else "pin"
    assert (check["medium"], check["platform"], check["method"]) == ("smartphone", platform, method)
    assert check["valid"] and check["failures"] == [] and not check["declaration"]
    with chromium() as page:
        page.goto(console + url)
        assert page.locator("[data-test=how-checked]").inner_text() == ja
        assert "資格：有効" in page.locator("[data-test=banner]").first.inner_text()
        assert page.locator("[data-test=declaration-route]").count() == 0
        screenshot(page, f"console-phone-{platform}")
        page.click("text=English")
        assert page.locator("[data-test=how-checked]").inner_text() == en
        screenshot(page, f"console-phone-{platform}-en")
        page.click("text=日本語")


def test_a_card_check_says_card_and_how(console: str, live_server: LiveServer) -> None:  # noqa: F811
    url = reader_tells(console, live_server, "healthy-national", card_of(live_server, "healthy-national"))
    assert check_json(console, url)["medium"] == "card"
    with chromium() as page:
        page.goto(console + url)
        how = page.locator("[data-test=how-checked]").inner_text()
        assert how == "確認方法：マイナンバーカード・暗証番号"


def test_f16_the_clinic_without_a_general_reader_sends_staff_to_other_means(console: str) -> None:  # noqa: F811
    url = post(console, {
        "reader_id": "R-test", "patient_ref": "f16-phone-only", "medium": "smartphone",
        "platform": "iphone",
        "reader_error": {"code": "R701",
                         "ja": "この医療機関では、スマートフォンのマイナ保険証はご利用いただけません"
                               "（汎用カードリーダーがありません）。",
                         "en": "Smartphone My Number insurance cannot be used at this clinic."},
    })
    assert check_json(console, url)["failures"] == ["F16"]
    with chromium() as page:
        page.goto(console + url)
        assert page.locator("[data-failure]").count() == 1
        shown = page.locator("[data-failure=F16]").inner_text()
        assert FailureMode.PHONE_WITHOUT_GENERAL_READER.value.name_ja in shown
        route = page.locator("[data-test=declaration-route]").inner_text()
        for words in ("汎用カードリーダーがない", "資格確認書", "資格情報のお知らせ",
                      "マイナポータルの資格情報画面", "番号で確認", "被保険者資格申立書",
                      "10割負担（全額自己負担）にはしないでください"):
            assert words in route, words
        how = page.locator("[data-test=how-checked]").inner_text()
        assert how.startswith("確認方法：スマートフォン（iPhone）")
        screenshot(page, "console-phone-f16")
        page.click("text=English")
        route = page.locator("[data-test=declaration-route]").inner_text()
        assert "general-purpose card reader" in route and "Do not charge 100%" in route
        screenshot(page, "console-phone-f16-en")
        page.click("text=日本語")


@pytest.mark.parametrize(
    ("persona", "platform", "code"),
    [("f17-phone-expired", "android", "E001"), ("f17-phone-link-pending", "iphone", "E003")],
)
def test_f17_a_phone_that_fails_on_its_own_certificate_is_sent_to_the_card_and_other_means(
    console: str, live_server: LiveServer, persona: str, platform: str, code: str  # noqa: F811
) -> None:
    phone = phone_of(live_server, f"{persona}.{platform}")
    url = reader_tells(console, live_server, persona, phone, platform)
    check = check_json(console, url)
    assert check["failures"] == ["F17"] and check["declaration"] and check["medium"] == "smartphone"
    with chromium() as page:
        page.goto(console + url)
        assert code in page.locator("[data-test=warnings]").inner_text()
        # Not the card's entries: renewing the card at the municipality would not mend the phone.
        for card_entry in ("F3", "F9", "F12", "F15"):
            assert page.locator(f"[data-failure={card_entry}]").count() == 0
        assert FailureMode.PHONE_CERTIFICATE.value.name_ja in page.locator("[data-failure=F17]").inner_text()
        route = page.locator("[data-test=declaration-route]").inner_text()
        for words in ("カードとは別", "カードで確認", "マイナポータルの資格情報画面", "10割負担"):
            assert words in route, words
        assert page.locator("[data-test=card-again]").is_visible()
        screenshot(page, f"console-phone-f17-{platform}")
    # The same person's CARD passes: the phone's certificate is its own.
    card = check_json(console, reader_tells(console, live_server, persona, card_of(live_server, persona)))
    assert card["valid"] and card["medium"] == "card" and "F17" not in card["failures"]


def test_a_number_check_from_the_portal_screen_is_logged_as_such(console: str) -> None:  # noqa: F811
    web = httpx.Client(base_url=console, timeout=30, follow_redirects=True)
    number = chart("f16-phone-only")
    form = web.get(f"/patients/{number}/number-check")
    assert "マイナポータルの資格情報画面" in form.text
    paper = next(p for p in demo_patients() if p.persona == "f16-phone-only")
    document = paper.documents[0]
    done = web.post(f"/patients/{number}/number-check", data={
        "insurer_number": document.insurer_number, "symbol": document.symbol or "", "number": document.number,
        "branch": document.branch or "", "birthdate": paper.birthdate.isoformat(), "document": "myna_portal"})
    assert "資格：有効" in done.text
    log = httpx.get(f"{console}/api/console/actions", timeout=10).json()["actions"]
    mine = [a for a in log if a["kind"] == "number_check" and a["patient_id"] == number]
    assert mine[-1]["detail"] == {"document": "myna_portal"}


def test_a_rehearsal_reads_the_number_check_from_the_portal_screen_as_the_document_accepted() -> None:
    from rehearsal.observe import observe

    def act(kind: str, check: str | None = None, **detail: Any) -> dict[str, Any]:
        return {"at": "2026-11-24T09:01:00+09:00", "kind": kind, "patient_id": "p", "check_id": check,
                "detail": detail}

    # F16 at the console: the reader refuses the phone, staff check the numbers on the マイナポータル screen.
    log = [act("card_check_started"),
           act("result_shown", "c1", validity=None, code=None, reader_error="R701"),
           act("number_check", "n1", document="myna_portal"),
           act("result_shown", "n1", validity="1", code=None, reader_error=None),
           act("copay_charged", "n1", percent=30)]
    assert observe(log).response == {"switch_method": "number_check", "accept_document": "myna_portal",
                                     "copay_ratio": 30, "use_declaration": False}


def test_the_waiting_page_has_words_for_every_state_of_the_reader() -> None:
    # The console says where the reader is while staff wait; the phone path's states too (when the reader
    # has them), never a raw state name.
    from cardreader_emulator.machine import State
    from clinic_client.console.app import READER_STATE_WORDS

    assert {state.value for state in State} <= set(READER_STATE_WORDS)
    assert READER_STATE_WORDS["phone_hold"][0] == "スマートフォンを汎用カードリーダーにかざすのを待っています"
