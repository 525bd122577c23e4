"""The pure core's EligibilityResult -> wire messages (ResultMessage, BulkResultMessage, BulkReceiptMessage).

No I/O and no clock: the caller passes the moment of execution, the confirmation date and the
consent moment. Every mapping decision that is ours rather than the real spec's is listed here:

- Ratios (InsuredPartialContributionRatio, ElderlyRecipientContributionRatio) are 3-digit
  percent text: 3割 -> "030", 1割 -> "010". (Assumption: the real format is not in our sources.)
- Sex2 is the card-face sex in the real spec; we have one sex per person, so Sex2 = Sex1.
- Consent times: ConsTime = ``consent_time`` (the moment the patient answered at the reader) and,
  for medication/clinical/operation/check-up information, AvailableTime = ConsTime + 24 h, the
  window in which the clinic may view it. (Assumption: the real window is not in our sources.)
- 限度額 (limit) data goes out only when the core says ``limit_visible``; its ConsFlg is always
  present. 特定疾病 (specific diseases) data is sensitive (e.g. HIV) and is covered by the same
  limit-information consent at the reader, so it follows ``limit_visible`` too. (Assumption.)
- The four medical-information consent flags are emitted for card checks only (a number check has
  no consent screen); they carry what the patient answered, even if the information is withheld
  (the reason is in the JSON answer's ``withheld`` list).
- Empty strings from the registry (no 記号, no 通称名) become absent elements, never empty ones.
- The number-check echo (QualificationConfirmSearchInfo) is the query as sent, ArbitraryIdentifier
  included, and always carries LimitApplicationCertificateRelatedConsFlg: a query without it was
  judged as 0 未同意 and is echoed as 0 (real clinic programs refuse an echo without the flag).
- Formats seen in real answers: a 6-digit 国保 InsurerNumber right-aligned in 8 characters with two
  spaces ("  138040"), PostNumber with a hyphen ("170-0013"), and a full-width space between family
  and given name in Name / InsuredName / NameOfOther ("佐藤　花子"; kana names keep the half-width
  space, as real files have them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from onshi.codes import (
    BulkCode,
    CharacterCodeIdentifier,
    Code,
    ConsentFlag,
    PreschoolClassification,
    ProcessingResultCode,
    ProcessingResultStatus,
    ReferenceClassification,
    SegmentOfResult,
    message_for,
)
from onshi.messages import (
    BulkConfirmUnit,
    BulkQueryEcho,
    BulkReceiptBody,
    BulkReceiptHeader,
    BulkReceiptMessage,
    BulkResultBody,
    BulkResultHeader,
    BulkResultMessage,
    BulkResultOfQualificationConfirmation,
    QualificationConfirmSearchInfo,
    insurer_number_text,
)
from onshi.timeutil import timestamp, ymd
from server.core.model import Consents, EligibilityResult, QualificationResult
from server.core.policy import DEFAULT_POLICY


def ratio_text(percent: int) -> str:
    """30 -> "030" (3割)."""
    return f"{percent:03d}"


def _text(value: str) -> str | None:
    return value or None


def post_number_text(post_number: str) -> str | None:
    """"1700013" -> "170-0013" (real answers carry the hyphen); other text as it is."""
    digits = post_number.strip()
    if len(digits) == 7 and digits.isascii() and digits.isdigit():
        return f"{digits[:3]}-{digits[3:]}"
    return digits or None


_SPACES = re.compile(r"[ \u3000]+")


def name_text(name: str) -> str | None:
    """A kanji name with one full-width space between family and given name ("佐藤　花子")."""
    name = name.strip(" \u3000")
    return _SPACES.sub("\u3000", name) or None


def _flag(consented: bool) -> ConsentFlag:
    return ConsentFlag.CONSENTED if consented else ConsentFlag.NOT_CONSENTED


def _times(consented: bool, consent_time: datetime | None) -> tuple[str | None, str | None]:
    """(ConsTime, AvailableTime) for one consent."""
    if not consented or consent_time is None:
        return None, None
    return timestamp(consent_time), timestamp(DEFAULT_POLICY.consent_available_until(consent_time))


Element = dict[str, Any]  # an element as plain data: child element names -> text, enum, element, list


def _present(**children: Any) -> Element:
    """The children given (in element order), those without a value left out, as the answer omits them."""
    return {name: value for name, value in children.items() if value is not None}


def _consent_children(consents: Consents, consent_time: datetime | None) -> Element:
    """ConsFlg, ConsTime, AvailableTime of the four medical-information consents, in element order."""
    children: Element = {}
    for prefix, consented in (
        ("SpecificHealthCheckupsInfo", consents.checkup),
        ("PharmacistsInfo", consents.medication),
        ("DiagnosisInfo", consents.clinical),
        ("OperationInfo", consents.operation),
    ):
        cons_time, available = _times(consented, consent_time)
        children[f"{prefix}ConsFlg"] = _flag(consented)
        if cons_time is not None:
            children[f"{prefix}ConsTime"] = cons_time
            children[f"{prefix}AvailableTime"] = available
    return children


def qualification_element(
    shown: QualificationResult,
    *,
    consents: Consents | None = None,
    consent_time: datetime | None = None,
) -> Element:
    """One ResultOfQualificationConfirmation as plain data (``consents``: the card check's answers;
    None: a number check)."""
    q, person = shown.qualification, shown.person
    limit_time = timestamp(consent_time) if shown.limit_visible and consent_time is not None else None

    elderly = None
    if q.elderly is not None:
        elderly = _present(
            ElderlyRecipientCertificateDate=ymd(q.elderly.certificate_date),
            ElderlyRecipientValidStartDate=ymd(q.elderly.valid_start),
            ElderlyRecipientValidEndDate=ymd(q.elderly.valid_end),
            ElderlyRecipientContributionRatio=ratio_text(q.elderly.contribution_ratio),
        )

    limit = None
    if shown.limit_visible and q.limit is not None:
        limit = _present(
            LimitApplicationCertificateClassification=q.limit.classification,
            LimitApplicationCertificateClassificationFlag=q.limit.bracket,
            LimitApplicationCertificateDate=ymd(q.limit.certificate_date),
            LimitApplicationCertificateValidStartDate=ymd(q.limit.valid_start),
            LimitApplicationCertificateValidEndDate=ymd(q.limit.valid_end),
            LimitApplicationCertificateLongTermDate=ymd(q.limit.long_term_date),
        )

    diseases = None
    if shown.limit_visible and q.specific_diseases:
        diseases = {"SpecificDiseasesCertificateInfo": [
            _present(
                SpecificDiseasesDiseaseCategory=d.category,
                # Assumption: the certificate date is not modelled; the validity start stands in.
                SpecificDiseasesCertificateDate=ymd(d.valid_start),
                SpecificDiseasesValidStartDate=ymd(d.valid_start),
                SpecificDiseasesValidEndDate=ymd(d.valid_end),
                SpecificDiseasesSelfPay=str(d.self_pay_limit_yen),
            )
            for d in q.specific_diseases
        ]}

    element = _present(
        InsuredCardClassification=q.card_classification,
        InsurerNumber=insurer_number_text(q.insurer.number),
        InsuredCardSymbol=_text(q.symbol),
        InsuredIdentificationNumber=q.number,
        InsuredBranchNumber=_text(q.branch),
        PersonalFamilyClassification=q.personal_family,
        InsuredName=name_text(shown.insured_name),
        Name=name_text(shown.name),
        NameOfOther=name_text(shown.name_of_other),
        NameKana=_text(shown.name_kana),
        NameOfOtherKana=_text(person.name_of_other_kana),
        Sex1=person.sex,
        Sex2=person.sex,  # assumption: the card-face sex equals the registered sex
        Birthdate=ymd(person.birthdate),
        Address=_text(shown.address),
        PostNumber=post_number_text(person.post_number),
        InsuredCertificateIssuanceDate=ymd(q.issued_on),
        InsuredCardValidDate=ymd(q.valid_from),
        InsuredCardExpirationDate=ymd(q.card_expires_on),
        InsuredPartialContributionRatio=ratio_text(q.copay_ratio),
        PreschoolClassification=PreschoolClassification.PRESCHOOL if q.preschool else None,
        ReasonOfLoss=q.reason_of_loss,
        InsurerName=_text(q.insurer.name),
        QualificationDate=ymd(q.acquired_on),
        DisqualificationDate=ymd(q.lost_on),
        ElderlyRecipientCertificateInfo=elderly,
        LimitApplicationCertificateRelatedConsFlg=shown.limit_consent,
        LimitApplicationCertificateRelatedConsTime=limit_time,
        LimitApplicationCertificateRelatedInfo=limit,
        SpecificDiseasesCertificateRelatedConsFlg=shown.limit_consent,
        SpecificDiseasesCertificateRelatedConsTime=limit_time,
        SpecificDiseasesCertificateList=diseases,
    )
    if consents is not None:
        element.update(_consent_children(consents, consent_time))
    return element


def echo_element(search_info: QualificationConfirmSearchInfo) -> Element:
    """The query as the answer echoes it: as sent, with the 限度額 consent flag always present
    (a query without it was judged as 0 未同意)."""
    sent = search_info.__dict__  # (the model's fields, in element order)
    if sent["LimitApplicationCertificateRelatedConsFlg"] is None:
        sent = {**sent, "LimitApplicationCertificateRelatedConsFlg": ConsentFlag.NOT_CONSENTED}
    return {name: value for name, value in sent.items() if value is not None}


def echo(search_info: QualificationConfirmSearchInfo) -> QualificationConfirmSearchInfo:
    """:func:`echo_element` as the message model."""
    return QualificationConfirmSearchInfo.model_validate(echo_element(search_info))


def result_element(
    result: EligibilityResult,
    *,
    executed_at: datetime,
    confirmation_date: date,
    institution_code: str,
    reference: ReferenceClassification,
    encoding: CharacterCodeIdentifier,
    file_identifier: str | None = None,
    search_info: QualificationConfirmSearchInfo | None = None,
    consent_time: datetime | None = None,
    smartphone: bool = False,
) -> Element:
    """OQSsiquc01res as plain data, in element order, absent elements left out: written as it is for a
    JSON answer (the hot path: no models built), ``ResultMessage.model_validate`` of it for everything
    else (tests/test_presenting.py: the two write the same document).
    A card check (reference 1) or a number check (reference 2, pass ``search_info``); ``smartphone``:
    the card check was by phone, so the message speaks of the phone's certificate."""
    card_check = reference is ReferenceClassification.MY_NUMBER_CARD
    consents = result.consents if card_check else None
    code = result.code
    results = [qualification_element(r, consents=consents, consent_time=consent_time) for r in result.results]
    return {
        "MessageHeader": _present(
            ProcessExecutionTime=timestamp(executed_at),
            QualificationConfirmationDate=ymd(confirmation_date) or "",
            MedicalInstitutionCode=institution_code,
            ArbitraryFileIdentifier=file_identifier,
            ReferenceClassification=reference,
            SegmentOfResult=SegmentOfResult.NORMAL_END,
            CharacterCodeIdentifier=encoding,
        ),
        "MessageBody": _present(
            ProcessingResultStatus=result.status,
            ProcessingResultCode=code.value if code else None,
            ProcessingResultMessage=message_for(code, smartphone)[0] if code else None,
            QualificationValidity=result.validity,
            QualificationConfirmSearchInfo=(None if card_check or search_info is None
                                            else echo_element(search_info)),
            PrescriptionIssueSelect=consents.prescription if consents is not None else None,
            ResultList={"ResultOfQualificationConfirmation": results} if results else None,
        ),
    }


def to_bulk_unit(
    result: EligibilityResult,
    *,
    search_info: QualificationConfirmSearchInfo,
    reference_number: str | None = None,
) -> BulkConfirmUnit:
    """One BulkConfirmUnit: the query echoed (with its ArbitraryIdentifier) and its answer.

    A unit has room for one qualification; the core returns at most one for a number check
    except in pathological registries, where the first (most relevant) is shown.
    """
    code = result.code
    return BulkConfirmUnit(
        QualificationConfirmSearchInfo=echo(search_info),
        ProcessingResultStatus=result.status,
        ProcessingResultCode=code.value if code else None,
        ProcessingResultMessage=code.ja if code else None,
        QualificationValidity=result.validity,
        ResultOfQualificationConfirmation=(BulkResultOfQualificationConfirmation.model_validate(
            qualification_element(result.results[0])) if result.results else None),
        ReferenceNumber=reference_number,
    )


def to_error_unit(
    echo: BulkQueryEcho | dict[str, str], *, detail: str, reference_number: str | None = None
) -> BulkConfirmUnit:
    """The unit of a query that could not be checked (wrong format, impossible date): status 2, E101 and
    what exactly was wrong; the other queries of the file are answered as usual."""
    code = BulkCode.QUERY_INVALID
    return BulkConfirmUnit(
        QualificationConfirmSearchInfo=echo,
        ProcessingResultStatus=ProcessingResultStatus.ERROR,
        ProcessingResultCode=code.value,
        ProcessingResultMessage=f"{code.ja} {detail}"[:MESSAGE_LIMIT],
        ReferenceNumber=reference_number,
    )


MESSAGE_LIMIT = 400  # characters of a ProcessingResultMessage / ErrorMessage (the XSD's Text)


def to_bulk_message(
    units: Sequence[BulkConfirmUnit],
    *,
    executed_at: datetime,
    confirmation_date: date,
    institution_code: str,
    encoding: CharacterCodeIdentifier,
    file_identifier: str | None,
    reception_number: str,
) -> BulkResultMessage:
    """OQSmuquc02res with the units and their counts."""
    errors = sum(1 for u in units if u.ProcessingResultStatus is ProcessingResultStatus.ERROR)
    return BulkResultMessage(
        MessageHeader=BulkResultHeader(
            ProcessExecutionTime=timestamp(executed_at),
            QualificationConfirmationDate=ymd(confirmation_date) or "",
            MedicalInstitutionCode=institution_code,
            ArbitraryFileIdentifier=file_identifier,
            ReceptionNumber=reception_number,
            SegmentOfResult=SegmentOfResult.NORMAL_END,
            NumberOfProcessingResult=len(units),
            NumberOfNormalProcessing=len(units) - errors,
            NumberOfError=errors,
            CharacterCodeIdentifier=encoding,
        ),
        MessageBody=BulkResultBody(BulkConfirmUnit=list(units)),
    )


def to_bulk_status_message(
    code: BulkCode,
    *,
    executed_at: datetime,
    confirmation_date: date,
    institution_code: str,
    encoding: CharacterCodeIdentifier,
    file_identifier: str | None,
    reception_number: str,
    detail: str = "",
) -> BulkResultMessage:
    """OQSmuquc02res without units: 2 処理中 (not ready yet) or 9 異常終了 (unknown reception, expired)."""
    segment = SegmentOfResult.IN_PROGRESS if code is BulkCode.IN_PROGRESS else SegmentOfResult.ABNORMAL_END
    text = f"{code.ja} / {code.en}" + (f" {detail}" if detail else "")
    return BulkResultMessage(
        MessageHeader=BulkResultHeader(
            ProcessExecutionTime=timestamp(executed_at),
            QualificationConfirmationDate=ymd(confirmation_date) or "",
            MedicalInstitutionCode=institution_code,
            ArbitraryFileIdentifier=file_identifier,
            ReceptionNumber=reception_number,
            SegmentOfResult=segment,
            ErrorCode=code.value,
            ErrorMessage=text[:MESSAGE_LIMIT],
            CharacterCodeIdentifier=encoding,
        ),
        MessageBody=BulkResultBody(),
    )


def to_bulk_receipt(
    *,
    executed_at: datetime,
    received_at: datetime,
    institution_code: str,
    encoding: CharacterCodeIdentifier,
    file_identifier: str | None,
    reception_number: str,
) -> BulkReceiptMessage:
    """OQSmuquc01res: the bulk request is received under this ReceptionNumber."""
    return BulkReceiptMessage(
        MessageHeader=BulkReceiptHeader(
            ProcessExecutionTime=timestamp(executed_at),
            MedicalInstitutionCode=institution_code,
            ArbitraryFileIdentifier=file_identifier,
            CharacterCodeIdentifier=encoding,
        ),
        MessageBody=BulkReceiptBody(
            ReceptionNumber=reception_number, ReceptionDateTime=timestamp(received_at)
        ),
    )


# --- the JSON answer's notes and withheld lists ----------------------------------------------


def describe(code: Code) -> dict[str, str]:
    """{"code", "ja", "en"} for a ProcessingResultCode, WithheldReason or any other code."""
    return dict(_description(code, code.ja, code.en))


@cache
def _description(code: Code, ja: str, en: str) -> tuple[tuple[str, str], ...]:
    # Every answer describes a few codes: the code tables are fixed, so each is worked out once.
    return (("code", str(code.value)), ("ja", ja), ("en", en))


def describe_all(codes: Iterable[Code]) -> list[dict[str, str]]:
    return [describe(c) for c in codes]


def describe_results(codes: Iterable[ProcessingResultCode], *,
                     smartphone: bool = False) -> list[dict[str, str]]:
    """The result codes as notes, said of the phone for a check by phone (``message_for``)."""
    return [dict(_description(c, *message_for(c, smartphone))) for c in codes]


def notes(result: EligibilityResult) -> list[dict[str, str]]:
    """Every ProcessingResultCode of the result (the XML carries only the first)."""
    return describe_all(result.codes)


def withheld(result: EligibilityResult) -> list[dict[str, str]]:
    """Why medication/clinical/check-up information is not released."""
    return describe_all(result.withheld)
