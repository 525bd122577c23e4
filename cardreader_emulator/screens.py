"""What the reader's result screen says, decided here (plain functions) and drawn by the page.

Rules (issue 10): an error never looks like success; each message once; dates as 1985年5月12日;
no raw codes of the wire format in front of the patient (the result's own message is shown, a
warning's code only as a short tag staff can look up).

``result_screen(summary)`` takes the reader's summary of the central system's answer
(``reader.summarise``) and answers::

    {"tone": "ok" | "warn" | "bad",
     "step": {"ja", "en"},      # the small label top left (完了 / 要確認)
     "title": {"ja", "en"},     # the big line
     "next": {"ja", "en"},      # what the patient does now
     "facts": [{"label": {"ja", "en"}, "value": {"ja", "en"}, "bad": bool}],
     "messages": [{"code", "ja", "en"}]}   # each once, in order
"""

from __future__ import annotations

from datetime import date
from typing import Any

from onshi.codes import CheckMedium, PhonePlatform, QualificationValidity

Text = dict[str, str]


def text(ja: str, en: str) -> Text:
    return {"ja": ja, "en": en}


def birthdate_text(value: str | None) -> Text | None:
    """``19850512`` or ``1985-05-12`` → 1985年5月12日 / 1985-05-12; None when unreadable."""
    if not value:
        return None
    digits = value.replace("-", "")
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    return text(f"{day.year}年{day.month}月{day.day}日", day.isoformat())


def copay_text(value: str | int | None) -> Text | None:
    try:
        percent = int(str(value))
    except (TypeError, ValueError):
        return None
    tenths = f"{percent // 10}" if percent % 10 == 0 else f"{percent / 10:g}"
    return text(f"{tenths}割", f"{percent}%")


def validity_text(value: str | None) -> Text | None:
    for validity in QualificationValidity:
        if validity.value == value:
            return text(validity.ja, validity.en)
    return None


def medium_text(summary: dict[str, Any]) -> Text | None:
    """How a phone check was made (スマートフォン（Android・暗証番号）); None for a card check."""
    if summary.get("medium") != CheckMedium.SMARTPHONE.value:
        return None
    phone = next((p for p in PhonePlatform if p.value == summary.get("platform")), None)
    methods = {"pin": ("暗証番号", "PIN"), "biometric": ("生体認証", "biometrics")}
    how = methods.get(str(summary.get("method")))
    ja = "・".join(x for x in (phone.ja if phone else "", how[0] if how else "") if x)
    en = ", ".join(x for x in (phone.en if phone else "", how[1] if how else "") if x)
    return text(f"{CheckMedium.SMARTPHONE.ja}（{ja}）", f"{CheckMedium.SMARTPHONE.en} ({en})")


def _messages(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The answer's message and its notes, each sentence once (the message is usually the first
    note's sentence too)."""
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    message = summary.get("processing_result_message")
    notes = list(summary.get("notes") or [])
    candidates: list[dict[str, str]] = []
    if message:
        code = str(summary.get("processing_result_code") or "")
        en = next((str(n.get("en", "")) for n in notes if n.get("ja") == message), "")
        candidates.append({"code": code, "ja": str(message), "en": en or str(message)})
    candidates += [{"code": str(n.get("code", "")), "ja": str(n.get("ja", "")), "en": str(n.get("en", ""))}
                   for n in notes]
    for item in candidates:
        key = item["ja"].strip()
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(item)
    return out


def result_screen(summary: dict[str, Any]) -> dict[str, Any]:
    failed = summary.get("processing_result_status") == "2" or summary.get("segment_of_result") == "9"
    validity = summary.get("validity")
    valid = not failed and validity == QualificationValidity.VALID.value
    messages = _messages(summary)
    if failed and not messages and summary.get("error_message"):
        messages = [{"code": str(summary.get("error_code") or ""), "ja": str(summary["error_message"]),
                     "en": str(summary["error_message"])}]
    facts: list[dict[str, Any]] = []
    shown_validity = validity_text(validity)
    if shown_validity and not failed:
        facts.append({"label": text("資格", "Eligibility"), "value": shown_validity, "bad": not valid})
    if summary.get("name"):
        name = str(summary["name"])
        facts.append({"label": text("氏名", "Name"), "value": text(name, name), "bad": False})
    born = birthdate_text(summary.get("birthdate"))
    if born:
        facts.append({"label": text("生年月日", "Date of birth"), "value": born, "bad": False})
    copay = copay_text(summary.get("copay")) if valid else None
    if copay:
        facts.append({"label": text("負担割合", "Co-pay"), "value": copay, "bad": False})
    by_phone = medium_text(summary)
    if by_phone:
        facts.append({"label": text("確認方法", "Checked with"), "value": by_phone, "bad": False})
    if valid:
        return {
            "tone": "warn" if messages else "ok",
            "step": text("完了", "Done"),
            "title": text("受付が完了しました", "Check-in complete"),
            "next": (text("スマートフォンをお持ちになり、お呼びするまでお待ちください",
                          "Keep your phone and wait to be called") if by_phone
                     else text("カードをお取りください", "Please take your card")),
            "facts": facts,
            "messages": messages,
        }
    to_reception = text("カードをお取りになり、受付にお声がけください",
                        "Take your card and speak to reception")
    title = (text("資格確認ができませんでした", "Eligibility could not be confirmed") if failed
             else text("有効な資格が確認できませんでした", "No valid insurance was found"))
    return {
        "tone": "bad",
        "step": text("要確認", "Needs attention"),
        "title": title,
        "next": (text("受付にお声がけください（資格確認書・資格情報のお知らせ等で確認します）",
                      "Speak to reception (they check with the 資格確認書, 資格情報のお知らせ or the like)")
                 if by_phone else to_reception),
        "facts": facts,
        "messages": messages,
    }
