"""The code tables of the online eligibility check: the single source of truth.

Server, reader emulator and clinic client all import these. Each member's value is the
code exactly as it appears in the real XML (a string, so "01" keeps its zero), and each
carries a Japanese label (``ja``, what staff see first) and an English one (``en``).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Self


class Code(str, Enum):  # noqa: UP042 (StrEnum would not take our (code, ja, en) members)
    """A code from the real tables: ``value`` is the XML text, ``ja``/``en`` its labels."""

    ja: str
    en: str

    _value_: str

    if TYPE_CHECKING:

        @property
        def value(self) -> str: ...  # the XML code text (members are declared as (code, ja, en))

    else:  # mypy would read Code("1") as a call to this three-argument __new__

        def __new__(cls, code: str, ja: str, en: str) -> Self:
            member = str.__new__(cls, code)
            member._value_ = code
            member.ja = ja
            member.en = en
            return member

    def __str__(self) -> str:
        return str(self.value)

    def label(self, lang: str = "ja") -> str:
        return self.ja if lang == "ja" else self.en

    def describe(self) -> dict[str, Any]:
        return {"code": self.value, "ja": self.ja, "en": self.en}


class ProcessingResultStatus(Code):
    NORMAL = ("1", "正常終了", "completed normally")
    ERROR = ("2", "エラー", "error")


class QualificationValidity(Code):
    VALID = ("1", "有効", "valid")
    INVALID = ("2", "無効", "invalid")
    INVALID_NEW_QUALIFICATION = ("3", "無効（新しい資格あり）", "invalid (a newer qualification exists)")
    NO_MATCH = ("4", "該当資格なし", "no matching qualification")
    MULTIPLE_MATCHES = ("5", "複数該当", "several qualifications match")


class SegmentOfResult(Code):
    NORMAL_END = ("1", "正常終了", "normal end")
    IN_PROGRESS = ("2", "処理中", "in progress")
    ABNORMAL_END = ("9", "異常終了", "abnormal end")


class ReferenceClassification(Code):
    MY_NUMBER_CARD = ("1", "マイナンバーカード", "My Number card")
    INSURED_CARD_INFO = ("2", "被保険者証情報", "insured card numbers (number check)")


class CharacterCodeIdentifier(Code):
    UTF8 = ("0", "UTF-8", "UTF-8")
    SHIFT_JIS = ("1", "Shift_JIS", "Shift_JIS")

    @property
    def codec(self) -> str:
        return "utf-8" if self is CharacterCodeIdentifier.UTF8 else "shift_jis"


class InsuredCardClassification(Code):
    GENERAL = ("01", "被保険者証（一般）", "insured card (general)")
    RETIRED = ("02", "被保険者証（退職）", "insured card (retired)")
    SHORT_TERM_GENERAL = ("03", "短期被保険者証（一般）", "short-term insured card (general)")
    SHORT_TERM_RETIRED = ("04", "短期被保険者証（退職）", "short-term insured card (retired)")
    QUALIFICATION_CERTIFICATE = ("05", "被保険者資格証明書", "certificate of insured status")
    SPECIAL_RETIREMENT = ("06", "特例退職被保険者証", "special retirement insured card")
    SELF_DEFENSE_FORCES = ("07", "自衛官診療証", "SDF medical card")
    # Assumption: the real spec's value for 資格確認書 is not in our sources; "08" is ours.
    ELIGIBILITY_CERTIFICATE = ("08", "資格確認書", "eligibility certificate (資格確認書)")


class PersonalFamilyClassification(Code):
    INSURED = ("1", "本人", "insured person")
    DEPENDENT = ("2", "家族", "dependent")


class Sex(Code):
    MALE = ("1", "男", "male")
    FEMALE = ("2", "女", "female")
    UNSET = ("3", "未設定", "not set")


class ReasonOfLoss(Code):
    DEATH = ("01", "死亡", "death")
    WELFARE_STARTED = ("02", "生活保護受給開始", "started receiving public assistance")
    OTHER_INSURANCE_ACQUIRED = ("03", "医療保険等の資格取得", "acquired other health insurance")
    OTHER = ("99", "その他", "other (e.g. left the job)")


class PreschoolClassification(Code):
    PRESCHOOL = ("1", "未就学", "preschool child")


class ConsentFlag(Code):
    NOT_CONSENTED = ("0", "未同意", "not consented")
    CONSENTED = ("1", "同意", "consented")
    CONSENT_EXPIRED = ("2", "同意有効期限切れ", "consent expired")  # 特定疾病 only


class PrescriptionIssueSelect(Code):
    ELECTRONIC = ("1", "電子処方箋", "electronic prescription")
    PAPER = ("2", "紙の処方箋", "paper prescription")


class LimitApplicationCertificateClassification(Code):
    LIMIT_APPLICATION = ("01", "限度額適用認定証", "limit application certificate")
    LIMIT_APPLICATION_STANDARD_REDUCTION = (
        "02",
        "限度額適用・標準負担額減額認定証",
        "limit application and standard-charge reduction certificate",
    )
    STANDARD_REDUCTION = ("03", "標準負担額減額認定証", "standard-charge reduction certificate")


class LimitApplicationCertificateClassificationFlag(Code):
    """限度額区分: A01–A06 for under 70, B01–B10 for 70 and over."""

    A01 = ("A01", "ア", "bracket a (highest income)")
    A02 = ("A02", "イ", "bracket i")
    A03 = ("A03", "ウ", "bracket u")
    A04 = ("A04", "エ", "bracket e")
    A05 = ("A05", "オ", "bracket o (tax-exempt)")
    A06 = ("A06", "オ（境）", "bracket o (borderline)")
    B01 = ("B01", "現役並みⅢ", "working-level income III")
    B02 = ("B02", "現役並みⅡ", "working-level income II")
    B03 = ("B03", "現役並みⅠ", "working-level income I")
    B04 = ("B04", "一般Ⅱ", "general II")
    B05 = ("B05", "一般", "general")
    B06 = ("B06", "低所得Ⅱ", "low income II")
    B07 = ("B07", "低所得Ⅰ", "low income I")
    B08 = ("B08", "低所得Ⅰ（老福）", "low income I (old-age welfare)")
    B09 = ("B09", "低所得Ⅰ（境）", "low income I (borderline)")
    B10 = ("B10", "一般Ⅰ", "general I")


class SpecificDiseaseCategory(Code):
    DIALYSIS = ("1", "人工透析を要する慢性腎不全", "chronic renal failure on dialysis")
    HEMOPHILIA = ("2", "血友病", "hemophilia")
    HIV = ("3", "抗ウイルス剤を投与している後天性免疫不全症候群", "HIV on antiretroviral therapy")


class InsurerKind(Code):
    """Not an XML code: which kind of insurer, for co-pay and number rules."""

    EMPLOYEE = ("shaho", "被用者保険（社保）", "employee health insurance")
    NATIONAL = ("kokuho", "国民健康保険", "National Health Insurance")
    LATE_ELDERLY = ("kouki", "後期高齢者医療", "late-stage elderly medical care")


class ProcessingResultCode(Code):
    """Why a check ended the way it did.

    Assumption: the real system's ProcessingResultCode values are not in our sources, so these
    codes are ours. E* are errors (ProcessingResultStatus 2); W* are side notes on a normal end.
    """

    CERTIFICATE_EXPIRING = (
        "W001",
        "電子証明書の有効期限が近づいています。お住まいの市区町村窓口で更新手続きをしてください。",
        "The card's certificate expires soon. Renew it at the municipal office.",
    )
    CERTIFICATE_IN_GRACE = (
        "W002",
        "電子証明書の有効期限が切れています。猶予期間中のため資格確認のみ可能です"
        "（薬剤情報・診療情報・特定健診情報は提供できません）。",
        "The certificate has expired. During the grace period only eligibility can be confirmed "
        "(no medication, clinical or check-up information).",
    )
    INFORMATION_NOT_PROVIDED = (
        "W003",
        "この方の薬剤情報・診療情報・特定健診情報等は提供できません。",
        "Medication, clinical and check-up information cannot be provided for this person.",
    )
    NAME_CHARACTERS_REPLACED = (
        "W004",
        "氏名に表示できない文字があり「●」に置き換えています。ご本人に確認してください。",
        "The name contains characters outside the character set, shown as ●. Confirm with the patient.",
    )
    RENEWAL_LINK_PENDING = (
        "W005",
        "電子証明書の更新直後のため、資格情報との紐付けが完了していない可能性があります。"
        "被保険者番号での確認をお試しください。",
        "The certificate was renewed recently and may not be linked yet. Try a number check.",
    )
    CERTIFICATE_EXPIRED = (
        "E001",
        "電子証明書の有効期限が切れています（猶予期間も終了）。市区町村窓口で更新してください。",
        "The certificate has expired and its grace period is over. Renew it at the municipal office.",
    )
    CERTIFICATE_REVOKED = (
        "E002",
        "電子証明書が失効しています（紛失等による一時停止）。このカードは使用できません。",
        "The certificate is revoked (card suspended, e.g. after loss). This card cannot be used.",
    )
    NOT_REGISTERED = (
        "E003",
        "このマイナンバーカードは健康保険証としての利用登録がされていません。",
        "This My Number card is not registered for use as a health insurance card.",
    )
    CERTIFICATE_NOT_TRUSTED = (
        "E004",
        "電子証明書を検証できません（発行元が不明、または改ざんされています）。",
        "The certificate cannot be verified (unknown issuer or tampered).",
    )
    CERTIFICATE_NOT_YET_VALID = (
        "E005",
        "電子証明書の有効期間がまだ始まっていません。",
        "The certificate is not valid yet.",
    )


# The same codes said of a phone (smartphone マイナ保険証): the phone's certificate is its own, so the
# card's remedy ("renew at the municipal office") would send the patient the wrong way.
PHONE_MESSAGES: dict[ProcessingResultCode, tuple[str, str]] = {
    ProcessingResultCode.CERTIFICATE_EXPIRED: (
        "スマートフォンの電子証明書の有効期限が切れています。カードの電子証明書を更新しても"
        "スマートフォンは更新されないため、スマートフォンの再設定が必要です。",
        "The phone's certificate has expired. Renewing the card's does not renew the phone's: "
        "set the phone up again."),
    ProcessingResultCode.CERTIFICATE_REVOKED: (
        "スマートフォンの電子証明書が失効しています。このスマートフォンは使用できません（カードは別に確認できます）。",
        "The phone's certificate is revoked; this phone cannot be used (the card is checked separately)."),
    ProcessingResultCode.NOT_REGISTERED: (
        "このスマートフォンの電子証明書は健康保険証としての利用登録が確認できません。"
        "搭載直後は反映まで時間がかかることがあります。",
        "This phone's certificate is not registered for use as a health insurance card; right after "
        "set-up the link may take time to arrive."),
}


def message_for(code: ProcessingResultCode, smartphone: bool = False) -> tuple[str, str]:
    """(ja, en) of a code, as said of the card or of a phone."""
    return PHONE_MESSAGES.get(code, (code.ja, code.en)) if smartphone else (code.ja, code.en)


class WithheldReason(Code):
    """Why medication/clinical/check-up information is not in a result."""

    NUMBER_CHECK = ("number_check", "番号による確認では提供されません", "not provided on a number check")
    NO_CONSENT = ("no_consent", "本人の同意がありません", "the patient did not consent")
    NO_PROVIDE_FLAG = (
        "no_provide_flag",
        "自己情報提供不可の設定により提供できません",
        "withheld by the no-provide flag",
    )
    CERTIFICATE_IN_GRACE = (
        "certificate_in_grace",
        "電子証明書の有効期限切れ（猶予期間中）のため提供できません",
        "withheld while the certificate is in its post-expiry grace period",
    )
    NOT_ELIGIBLE = ("not_eligible", "資格が確認できないため提供できません", "no valid qualification")
    CONSENT_EXPIRED = (
        "consent_expired",
        "同意の有効期限（AvailableTime）を過ぎています",
        "the consent's AvailableTime has passed",
    )


class AuthMethod(Code):
    """How the patient authenticated at the reader."""

    FACE = ("face", "顔認証", "face authentication")
    PIN = ("pin", "暗証番号", "PIN")
    VISUAL = ("visual", "目視確認", "visual check by staff")
    # iPhone: the holder confirms on the phone; the reader never sees the face or a PIN.
    BIOMETRIC = ("biometric", "スマートフォンの生体認証（Face ID / Touch ID）",
                 "biometrics on the phone (Face ID / Touch ID)")


class CheckMedium(Code):
    """What the patient presented: the card, or its functions on a phone (since 19 Sep 2025)."""

    CARD = ("card", "マイナンバーカード", "My Number card")
    SMARTPHONE = ("smartphone", "スマートフォン", "smartphone")


class PhonePlatform(Code):
    """Where the card's functions were put (Android since May 2023, iPhone since 24 Jun 2025)."""

    ANDROID = ("android", "Android", "Android")
    IPHONE = ("iphone", "iPhone", "iPhone")


class MedicalInfoKind(Code):
    """The consent screens at the reader and the information each one releases."""

    MEDICATION = ("medication", "薬剤情報", "medication")
    CLINICAL = ("clinical", "診療情報", "clinical information")
    OPERATION = ("operation", "手術情報", "surgery information")
    CHECKUP = ("checkup", "特定健診情報", "specific health check-ups")


class BulkCode(Code):
    """The bulk exchange's and the folder bridge's own codes (ours: the real values are not in our sources).

    ``QUERY_INVALID`` is the ProcessingResultCode of one BulkConfirmUnit whose query was wrong; the others
    are the ErrorCode of a result header (SegmentOfResult 2 処理中 or 9 異常終了)."""

    QUERY_INVALID = (
        "E101",
        "照会内容に誤りがあります（この1件のみ照会できませんでした）。",
        "This query is not valid (only this one could not be checked).",
    )
    IN_PROGRESS = (
        "B202",
        "一括照会の結果はまだ準備中です。しばらくしてから取得要求（OQSmuquc02req）を送り直してください。",
        "The bulk results are not ready yet. Send the download request (OQSmuquc02req) again later.",
    )
    RECEPTION_UNKNOWN = (
        "B404",
        "この医療機関の受付番号として見つかりません。受付結果（OQSmuquc01res）の受付番号を確認してください。",
        "No reception with this number for this medical institution. Check the number in the receipt "
        "(OQSmuquc01res).",
    )
    RESULT_EXPIRED = (
        "B410",
        "保存期間を過ぎたため、この受付番号の結果は削除されました。一括照会をやり直してください。",
        "The results of this reception were deleted after the retention period. Send the bulk request again.",
    )
    FILE_REJECTED = (
        "B400",
        "要求ファイルを処理できませんでした。error フォルダの説明を確認し、直して置き直してください。",
        "The request file could not be processed. Read the note in the error folder, fix the file and "
        "put it back.",
    )
    KIND_UNSUPPORTED = (
        "B501",
        "この種類の要求には、この模擬環境は対応していません（オンライン資格確認の要求のみ）。",
        "This mock does not serve this kind of request (only eligibility checks).",
    )
