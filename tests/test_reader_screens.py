"""The reader's result screen says what happened: an error never looks like success, each message is
shown once, dates read as dates (summaries as the reader makes them from the server's answers)."""

from __future__ import annotations

from typing import Any

from cardreader_emulator.screens import birthdate_text, copay_text, result_screen

EXPIRED = "電子証明書の有効期限が切れています（猶予期間も終了）。市区町村窓口で更新してください。"
NO_PROVIDE = "この方の薬剤情報・診療情報・特定健診情報等は提供できません。"


def summary(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"processing_result_status": "1", "processing_result_code": None,
                            "processing_result_message": None, "validity": "1", "segment_of_result": "1",
                            "name": "佐藤 花子", "birthdate": "19850512", "copay": "30", "notes": [],
                            "withheld": []}
    return base | fields


def everything_shown(screen: dict[str, Any]) -> str:
    parts = [screen["step"]["ja"], screen["title"]["ja"], screen["next"]["ja"]]
    parts += [f"{f['label']['ja']} {f['value']['ja']}" for f in screen["facts"]]
    parts += [m["ja"] for m in screen["messages"]]
    return "\n".join(parts)


def test_a_valid_check_is_complete_with_the_facts_in_words() -> None:
    screen = result_screen(summary())
    assert screen["tone"] == "ok"
    assert screen["title"]["ja"] == "受付が完了しました" and screen["step"]["ja"] == "完了"
    shown = everything_shown(screen)
    assert "1985年5月12日" in shown and "19850512" not in shown
    assert "3割" in shown and "有効" in shown


def test_an_expired_certificate_is_an_error_screen_with_its_sentence_once() -> None:  # F3
    note = {"code": "E001", "ja": EXPIRED, "en": "The certificate has expired."}
    screen = result_screen(summary(processing_result_status="2", processing_result_code="E001",
                                   processing_result_message=EXPIRED, validity=None, name=None,
                                   birthdate=None, copay=None, notes=[note]))
    assert screen["tone"] == "bad"
    assert screen["step"]["ja"] != "完了" and "完了" not in screen["title"]["ja"]
    assert everything_shown(screen).count("有効期限が切れています") == 1
    assert screen["messages"] == [{"code": "E001", "ja": EXPIRED, "en": "The certificate has expired."}]


def test_the_no_provide_sentence_is_shown_once() -> None:  # F4
    note = {"code": "W003", "ja": NO_PROVIDE, "en": "cannot be provided"}
    withheld = {"code": "no_provide_flag", "ja": "自己情報提供不可の設定により提供できません", "en": "…"}
    screen = result_screen(summary(processing_result_code="W003", processing_result_message=NO_PROVIDE,
                                   notes=[note], withheld=[withheld]))
    assert screen["title"]["ja"] == "受付が完了しました" and screen["tone"] == "warn"
    shown = everything_shown(screen)
    assert shown.count("提供できません") == 1


def test_an_invalid_qualification_is_not_a_completed_check_in() -> None:  # F1
    withheld = {"code": "not_eligible", "ja": "資格が確認できないため提供できません", "en": "…"}
    screen = result_screen(summary(validity="2", withheld=[withheld]))
    assert screen["tone"] == "bad"
    shown = everything_shown(screen)
    assert "受付が完了しました" not in shown and "完了" not in screen["step"]["ja"]
    assert "無効" in shown and "受付にお声がけください" in shown
    assert "割" not in shown  # no co-pay for a qualification that is not valid


def test_dates_and_copay_read_as_words() -> None:
    assert birthdate_text("19850512") == {"ja": "1985年5月12日", "en": "1985-05-12"}
    assert birthdate_text("2012-08-20") == {"ja": "2012年8月20日", "en": "2012-08-20"}
    assert birthdate_text("not a date") is None
    assert copay_text("20") == {"ja": "2割", "en": "20%"}
    assert copay_text(None) is None
