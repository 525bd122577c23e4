"""A small typed view of a check result, on top of the wire messages.

The wire models (``onshi.messages``) stay the source of truth; :class:`CheckOutcome` answers
the questions a clinic program asks first: valid or not, why, what was withheld, which medical
information may be viewed now. Codes are the enums of ``onshi.codes``, never restated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from onshi.codes import (
    AuthMethod,
    CheckMedium,
    Code,
    MedicalInfoKind,
    PhonePlatform,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    ReferenceClassification,
    WithheldReason,
)
from onshi.messages import (
    BulkConfirmUnit,
    ResultMessage,
    ResultOfQualificationConfirmation,
)


@dataclass(frozen=True)
class Note:
    """A coded remark from the server: a ProcessingResultCode or a WithheldReason, with labels."""

    code: str
    ja: str
    en: str

    @classmethod
    def of(cls, code: Code) -> Note:
        return cls(code.value, code.ja, code.en)

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str, table: type[Code]) -> Note:
        """From the server's ``{"code","ja","en"}``; labels fall back to our table."""
        if isinstance(data, str):
            data = {"code": data}
        code = str(data.get("code", ""))
        known = _lookup(table, code)
        return cls(
            code,
            str(data.get("ja") or (known.ja if known else code)),
            str(data.get("en") or (known.en if known else code)),
        )

    def label(self, lang: str = "ja") -> str:
        return self.ja if lang == "ja" else self.en


def _lookup(table: type[Code], code: str) -> Code | None:
    return next((member for member in table if member.value == code), None)


# Short words for the result page's "how it was checked" line (AuthMethod's own labels are the reader's).
_METHOD_WORDS: dict[AuthMethod, tuple[str, str]] = {
    AuthMethod.FACE: ("顔認証", "face authentication"),
    AuthMethod.PIN: ("暗証番号", "PIN"),
    AuthMethod.VISUAL: ("目視確認", "visual check by staff"),
    AuthMethod.BIOMETRIC: ("生体認証（Face ID / Touch ID）", "biometrics (Face ID / Touch ID)"),
}


@dataclass(frozen=True)
class HowChecked:
    """How a card check was made: on the card or a smartphone (and which), and how the holder proved it
    was them. From the card-check answer (``medium``, ``method``) and the reader's notice (``platform``).

    >>> HowChecked.parse("smartphone", "iphone", "biometric").label("ja")
    'スマートフォン（iPhone）・生体認証（Face ID / Touch ID）'
    >>> HowChecked.parse("card", None, "face").label("en")
    'My Number card · face authentication'
    """

    medium: CheckMedium = CheckMedium.CARD
    platform: PhonePlatform | None = None
    method: AuthMethod | None = None

    @property
    def by_phone(self) -> bool:
        return self.medium is CheckMedium.SMARTPHONE

    @classmethod
    def parse(cls, medium: Any = None, platform: Any = None, method: Any = None) -> HowChecked | None:
        """From the wire's words; None when nothing says how (an unknown word is left out, not guessed)."""
        found_medium = _lookup(CheckMedium, str(medium or "").strip().lower())
        found_platform = _lookup(PhonePlatform, str(platform or "").strip().lower())
        found_method = _lookup(AuthMethod, str(method or "").strip().lower())
        if found_medium is None and found_platform is not None:
            found_medium = CheckMedium.SMARTPHONE  # only a phone has a platform
        if found_medium is None and found_method is AuthMethod.BIOMETRIC:
            found_medium = CheckMedium.SMARTPHONE
        if found_medium is None and found_method is None:
            return None
        return cls(
            found_medium if isinstance(found_medium, CheckMedium) else CheckMedium.CARD,
            found_platform if isinstance(found_platform, PhonePlatform) else None,
            found_method if isinstance(found_method, AuthMethod) else None,
        )

    def merged(self, other: HowChecked | None) -> HowChecked:
        """This, with what ``other`` knows and this does not (the reader's notice adds the platform)."""
        if other is None:
            return self
        medium = CheckMedium.SMARTPHONE if self.by_phone or other.by_phone else CheckMedium.CARD
        return HowChecked(medium, self.platform or other.platform, self.method or other.method)

    def label(self, lang: str = "ja") -> str:
        ja = lang == "ja"
        medium = self.medium.label(lang)
        if self.by_phone and self.platform is not None:
            medium += f"（{self.platform.label(lang)}）" if ja else f" ({self.platform.label(lang)})"
        if self.method is None:
            return medium
        words = _METHOD_WORDS.get(self.method, (self.method.ja, self.method.en))
        return f"{medium}・{words[0]}" if ja else f"{medium} · {words[1]}"


@dataclass(frozen=True)
class CheckOutcome:
    """What one check (number check, card check or one unit of a bulk check) came to.

    >>> outcome = client.number_check("06139981", "1234", "19800401", symbol="12")  # doctest: +SKIP
    >>> outcome.valid, outcome.primary.InsurerName  # doctest: +SKIP
    (True, '東京都千代田区')
    """

    status: ProcessingResultStatus
    validity: QualificationValidity | None
    reference: ReferenceClassification | None = None
    results: tuple[ResultOfQualificationConfirmation, ...] = ()
    notes: tuple[Note, ...] = ()  # ProcessingResultCode: the error reason or side notes
    withheld: tuple[Note, ...] = ()  # WithheldReason: why medical information is not given
    medical_info: frozenset[MedicalInfoKind] = frozenset()  # kinds viewable now (card checks)
    check_id: str | None = None  # card checks: the key for medical-info requests
    person_ref: str | None = None
    message: ResultMessage | None = None  # the full wire message, when there is one
    error_message: str | None = None  # header ErrorMessage / ProcessingResultMessage on errors
    extra: Mapping[str, Any] = field(default_factory=dict)
    how: HowChecked | None = None  # card checks: card or smartphone, and the authentication

    # --- questions ------------------------------------------------------------------------

    @property
    def valid(self) -> bool:
        return self.status is ProcessingResultStatus.NORMAL and self.validity is QualificationValidity.VALID

    @property
    def confirmed_nothing(self) -> bool:
        """No usable qualification: the 被保険者資格申立書 route applies (unless data comes later)."""
        return not self.valid

    @property
    def primary(self) -> ResultOfQualificationConfirmation | None:
        return self.results[0] if self.results else None

    def has_note(self, code: ProcessingResultCode) -> bool:
        return any(n.code == code.value for n in self.notes)

    def is_withheld_by(self, reason: WithheldReason) -> bool:
        return any(n.code == reason.value for n in self.withheld)

    @property
    def result_code(self) -> ProcessingResultCode | None:
        for note in self.notes:
            known = _lookup(ProcessingResultCode, note.code)
            if isinstance(known, ProcessingResultCode):
                return known
        return None

    # --- building -------------------------------------------------------------------------

    @classmethod
    def from_result(
        cls,
        message: ResultMessage,
        *,
        notes: Iterable[Mapping[str, Any] | str] | None = None,
        withheld: Iterable[Mapping[str, Any] | str] | None = None,
        medical_info: Iterable[str] = (),
        check_id: str | None = None,
        person_ref: str | None = None,
        extra: Mapping[str, Any] | None = None,
        how: HowChecked | None = None,
    ) -> CheckOutcome:
        """From a ResultMessage; card checks add the server's notes/withheld/medical_info."""
        body = message.MessageBody
        header = message.MessageHeader
        reference = header.ReferenceClassification
        if notes is None:
            notes = [body.ProcessingResultCode] if body.ProcessingResultCode else []
        if withheld is None:
            # A number check never carries medical information.
            withheld = (
                [WithheldReason.NUMBER_CHECK.describe()]
                if reference is ReferenceClassification.INSURED_CARD_INFO
                else []
            )
        results = tuple(body.ResultList.ResultOfQualificationConfirmation) if body.ResultList else ()
        error_message = header.ErrorMessage or (
            body.ProcessingResultMessage
            if body.ProcessingResultStatus is ProcessingResultStatus.ERROR
            else None
        )
        return cls(
            status=body.ProcessingResultStatus,
            validity=body.QualificationValidity,
            reference=reference,
            results=results,
            notes=tuple(Note.parse(n, ProcessingResultCode) for n in notes),
            withheld=tuple(Note.parse(w, WithheldReason) for w in withheld),
            medical_info=frozenset(k for k in MedicalInfoKind if k.value in set(medical_info)),
            check_id=check_id,
            person_ref=person_ref,
            message=message,
            error_message=error_message,
            extra=dict(extra or {}),
            how=how,
        )

    @classmethod
    def from_card_check(cls, answer: Mapping[str, Any]) -> CheckOutcome:
        """From the JSON answer of ``POST /api/v1/card-checks`` (also what the reader forwards)."""
        message = ResultMessage.model_validate(answer["result"])
        return cls.from_result(
            message,
            notes=answer.get("notes") or [],
            withheld=answer.get("withheld") or [],
            medical_info=answer.get("medical_info") or [],
            check_id=answer.get("check_id"),
            person_ref=answer.get("person_ref"),
            how=HowChecked.parse(answer.get("medium"), answer.get("platform"), answer.get("method")),
        )

    @classmethod
    def from_bulk_unit(cls, unit: BulkConfirmUnit) -> CheckOutcome:
        code = [unit.ProcessingResultCode] if unit.ProcessingResultCode else []
        is_error = unit.ProcessingResultStatus is ProcessingResultStatus.ERROR
        return cls(
            status=unit.ProcessingResultStatus,
            validity=unit.QualificationValidity,
            reference=ReferenceClassification.INSURED_CARD_INFO,
            results=(unit.ResultOfQualificationConfirmation,)
            if unit.ResultOfQualificationConfirmation
            else (),
            notes=tuple(Note.parse(c, ProcessingResultCode) for c in code),
            withheld=(Note.of(WithheldReason.NUMBER_CHECK),),
            error_message=unit.ProcessingResultMessage if is_error else None,
            extra={"ArbitraryIdentifier": unit.QualificationConfirmSearchInfo.ArbitraryIdentifier},
        )


def copay_percent(result: ResultOfQualificationConfirmation | None) -> int | None:
    """The co-pay ratio the clinic charges, in percent ("030" → 30).

    InsuredPartialContributionRatio is the registered ratio (a wrong one is F11); the elderly
    recipient certificate's ratio is only a fallback when no ratio was registered.
    """
    if result is None:
        return None
    elderly = result.ElderlyRecipientCertificateInfo
    text = result.InsuredPartialContributionRatio or (
        elderly.ElderlyRecipientContributionRatio if elderly else None
    )
    if not text or not text.strip().isdigit():
        return None
    return int(text)


def copay_label(result: ResultOfQualificationConfirmation | None, lang: str = "ja") -> str:
    """ "3割" / "30%" from the result, or "—" when not given."""
    percent = copay_percent(result)
    if percent is None:
        return "—"
    return f"{percent // 10}割" if lang == "ja" and percent % 10 == 0 else f"{percent}%"
