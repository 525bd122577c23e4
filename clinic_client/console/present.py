"""Turns a check into what reception staff read: labelled rows, warnings, next steps.

Labels come from the code tables (``Code.ja`` / ``Code.en``) and the failure catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clinic_client.outcome import copay_label
from onshi.codes import Code, ConsentFlag, MedicalInfoKind, QualificationValidity, ReferenceClassification
from onshi.messages import ResultOfQualificationConfirmation


@dataclass(frozen=True)
class Row:
    ja: str
    en: str
    value: str
    emphasis: bool = False


def code_label(code: Code | None, lang: str) -> str:
    if code is None:
        return "—"
    return f"{code.label(lang)}（{code.value}）" if lang == "ja" else f"{code.label(lang)} ({code.value})"


def ymd(text: str | None) -> str:
    if not text:
        return "—"
    t = text.strip()
    if len(t) >= 8 and t[:8].isdigit():
        out = f"{t[:4]}-{t[4:6]}-{t[6:8]}"
        if len(t) >= 12 and t[8:12].isdigit():
            out += f" {t[8:10]}:{t[10:12]}"
        return out
    return t


def qualification_rows(r: ResultOfQualificationConfirmation, lang: str) -> list[Row]:
    numbers = " ".join(
        part
        for part in (
            f"記号 {r.InsuredCardSymbol}" if r.InsuredCardSymbol else "",
            f"番号 {r.InsuredIdentificationNumber}" if r.InsuredIdentificationNumber else "",
            f"枝番 {r.InsuredBranchNumber}" if r.InsuredBranchNumber else "",
        )
        if part
    )
    rows = [
        Row("氏名", "Name", r.Name or "—", emphasis=True),
        Row("カナ氏名", "Name (kana)", r.NameKana or "—"),
        Row("生年月日", "Birth date", ymd(r.Birthdate), emphasis=True),
        Row("性別", "Sex", code_label(r.Sex1, lang)),
        Row("保険者", "Insurer", f"{r.InsurerName or '—'}（{r.InsurerNumber or '—'}）", emphasis=True),
        Row("記号・番号・枝番", "Symbol / number / branch", numbers or "—"),
        Row("証区分", "Card classification", code_label(r.InsuredCardClassification, lang)),
        Row("本人・家族", "Insured / dependent", code_label(r.PersonalFamilyClassification, lang)),
        Row("被保険者氏名", "Insured person", r.InsuredName or "—"),
        Row("負担割合", "Co-pay", copay_label(r, lang), emphasis=True),
        Row("資格取得日", "Qualified since", ymd(r.QualificationDate)),
    ]
    if r.DisqualificationDate or r.ReasonOfLoss:
        rows.append(Row("資格喪失日", "Lost on", ymd(r.DisqualificationDate), emphasis=True))
        rows.append(Row("喪失事由", "Reason of loss", code_label(r.ReasonOfLoss, lang), emphasis=True))
    if r.PreschoolClassification:
        rows.append(Row("未就学区分", "Preschool", code_label(r.PreschoolClassification, lang)))
    if (
        r.ElderlyRecipientCertificateInfo
        and r.ElderlyRecipientCertificateInfo.ElderlyRecipientContributionRatio
    ):
        e = r.ElderlyRecipientCertificateInfo
        rows.append(Row("高齢受給者証", "Elderly recipient", f"{e.ElderlyRecipientContributionRatio}%"))
    rows.append(Row("限度額区分", "Limit bracket", limit_text(r, lang), emphasis=True))
    return rows


def limit_text(r: ResultOfQualificationConfirmation, lang: str) -> str:
    if r.LimitApplicationCertificateRelatedConsFlg is not ConsentFlag.CONSENTED:
        return "同意なし（限度額情報は表示されません）" if lang == "ja" else "no consent (not shown)"
    info = r.LimitApplicationCertificateRelatedInfo
    if info is None or info.LimitApplicationCertificateClassificationFlag is None:
        return "該当なし" if lang == "ja" else "none registered"
    flag = code_label(info.LimitApplicationCertificateClassificationFlag, lang)
    kind = (
        info.LimitApplicationCertificateClassification.label(lang)
        if info.LimitApplicationCertificateClassification
        else ""
    )
    start, end = info.LimitApplicationCertificateValidStartDate, info.LimitApplicationCertificateValidEndDate
    period = f"{ymd(start)}〜{ymd(end)}"
    return f"{flag} {kind} {period}".strip()


CONSENT_FIELDS = (
    ("LimitApplicationCertificateRelatedConsFlg", "限度額情報", "limit bracket", None),
    ("PharmacistsInfoConsFlg", "薬剤情報", "medication", "PharmacistsInfoAvailableTime"),
    ("DiagnosisInfoConsFlg", "診療情報", "clinical information", "DiagnosisInfoAvailableTime"),
    ("OperationInfoConsFlg", "手術情報", "surgery information", "OperationInfoAvailableTime"),
    (
        "SpecificHealthCheckupsInfoConsFlg",
        "特定健診情報",
        "check-ups",
        "SpecificHealthCheckupsInfoAvailableTime",
    ),
)


def consent_rows(r: ResultOfQualificationConfirmation, lang: str) -> list[Row]:
    rows = []
    for field, ja, en, available in CONSENT_FIELDS:
        flag = getattr(r, field)
        value = (
            flag.label(lang)
            if isinstance(flag, ConsentFlag)
            else ("記録なし" if lang == "ja" else "not recorded")
        )
        if available and getattr(r, available):
            value += (
                f"（{'閲覧可能期限' if lang == 'ja' else 'viewable until'} {ymd(getattr(r, available))}）"
            )
        rows.append(Row(ja, en, value))
    return rows


def validity_banner(validity: QualificationValidity | None, valid: bool, lang: str) -> tuple[str, str]:
    """(css class, text) of the big line at the top of a result."""
    if valid:
        return "ok", ("資格：有効" if lang == "ja" else "Qualification: valid")
    if validity is None:
        return "bad", (
            "資格を確認できませんでした" if lang == "ja" else "Qualification could not be confirmed"
        )
    text = f"資格：{validity.ja}" if lang == "ja" else f"Qualification: {validity.en}"
    return "bad", text


def reference_label(reference: ReferenceClassification | None, lang: str) -> str:
    if reference is ReferenceClassification.MY_NUMBER_CARD:
        return "マイナ保険証（カードリーダー）" if lang == "ja" else "My Number card (reader)"
    return "番号による確認" if lang == "ja" else "number check"


def kind_label(kind: MedicalInfoKind, lang: str) -> str:
    return kind.label(lang)


def as_table(data: Any) -> tuple[list[str], list[list[str]]]:
    """Medical records of any reasonable JSON shape as (columns, rows) for a plain table."""
    records: Any = data
    if isinstance(data, dict):
        for key in ("records", "items", "entries", "data"):
            if isinstance(data.get(key), list):
                records = data[key]
                break
        else:
            records = [data]
    if not isinstance(records, list):
        return ["value"], [[str(records)]]
    columns: list[str] = []
    for item in records:
        if isinstance(item, dict):
            columns += [k for k in item if k not in columns]
    if not columns:
        return ["value"], [[str(item)] for item in records]
    if "date" in columns and "recorded_on" in columns:
        columns.remove("recorded_on")  # the record's own date says the same
    return columns, [
        [str(item.get(c, "")) if isinstance(item, dict) else str(item) for c in columns] for item in records
    ]


COLUMN_LABELS = {
    "date": ("日付", "date"),
    "drug": ("薬剤", "drug"),
    "dose": ("用法・用量", "dose"),
    "days": ("日数", "days"),
    "institution": ("医療機関", "institution"),
    "recorded_on": ("記録日", "recorded on"),
    "diagnosis": ("傷病名", "diagnosis"),
    "bmi": ("BMI", "BMI"),
    "blood_pressure": ("血圧", "blood pressure"),
    "hba1c": ("HbA1c", "HbA1c"),
    "ldl": ("LDL", "LDL"),
    "operation": ("手術", "operation"),
}


def column_label(name: str, lang: str) -> str:
    ja, en = COLUMN_LABELS.get(name, (name, name))
    return ja if lang == "ja" else en


def error_text(error: Any, lang: str) -> str:
    """A server or network error in words for staff: the Japanese title (and the HTTP status) in Japanese
    mode; the full English description, with the server's code and detail, in English mode."""
    if lang != "ja":
        return str(error.describe("en"))
    title = getattr(error, "title_ja", None) or "照会できませんでした"
    status = getattr(error, "status", None)
    return f"{title}（{status}）" if status else str(title)


def moment_text(moment: Any, lang: str = "ja") -> str:
    """A moment as staff read it: 2026年11月24日 09:00 (Japanese) or 2026-11-24 09:00."""
    if moment is None:
        return "—"
    if lang == "ja":
        return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"
