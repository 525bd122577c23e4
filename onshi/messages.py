"""The messages on the wire, with the real element names as field names.

JSON and XML carry the same structure: a field here is an element there, in the same order
(the order inside a parent is fixed by the real spec; ``onshi.xmlcodec`` emits fields in
declaration order and the XSDs in ``onshi/schema/`` enforce it). Dates are ``YYYYMMDD`` and
timestamps ``YYYYMMDDHHmmss`` strings, as in the real files.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from onshi import codes
from onshi.codes import (
    ConsentFlag,
    ProcessingResultStatus,
    Sex,
    SpecificDiseaseCategory,
)

# [0-9], not \d: \d is Unicode and would let full-width digits (１９８５) through.
DATE_PATTERN = r"^[0-9]{8}$"
TIMESTAMP_PATTERN = r"^[0-9]{14}$"
INSTITUTION_CODE_PATTERN = r"^[0-9]{10}$"

# C0/C1 controls, DEL, lone surrogates and the XML non-characters: none can be stored (PostgreSQL
# refuses NUL), written as XML (lxml refuses them) or sent back as UTF-8 JSON (surrogates).
FORBIDDEN_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
CHARACTER_INVALID = "character_invalid"


def character_name(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_text(value: str) -> str:
    """A text field without control characters (see ``FORBIDDEN_CHARACTER``); cheap: one regex search."""
    found = FORBIDDEN_CHARACTER.search(value)
    if found is not None:
        raise PydanticCustomError(
            CHARACTER_INVALID,
            "使用できない文字 {char}（制御文字など）が {position} 文字目にあります / "
            "character {char} (a control character or similar) at position {position} is not allowed",
            {"char": character_name(found.group(0)), "position": found.start() + 1},
        )
    return value


# Every free text field that comes from outside and reaches the database or the answer.
Text = Annotated[str, AfterValidator(check_text)]


def insurer_number_text(number: str) -> str:
    """The InsurerNumber of an answer as real answers write it: a 6-digit 国保 number right-aligned
    in 8 characters with two spaces ("138040", and its zero-padded form "00138040" -> "  138040";
    no 8-digit insurer number starts with 00); other numbers as they are (stripped)."""
    number = number.strip(" ")
    if len(number) == 8 and number.startswith("00"):
        number = number[2:]
    return f"{number:>8}" if len(number) == 6 else number


# The answer's InsurerNumber: the same text whether built, read from XML (which strips the spaces)
# or read from JSON.
AnswerInsurerNumber = Annotated[str, AfterValidator(insurer_number_text)]


# Field names are the real element names and often equal their type's name. Inside a class body
# the field's default would shadow the type while annotations are resolved, so annotations refer
# to code tables as ``codes.X`` and to element models through the ``_X`` aliases below.


class Element(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


# --- requests -------------------------------------------------------------------------------


class QualificationConfirmSearchInfo(Element):
    """One query (and its echo in the answer).

    ``LimitApplicationCertificateRelatedConsFlg``: whether the patient agreed to share the 限度額
    data. Real clinic programs always send it and real parsers require it in the echo; a request
    without it is read as 0 未同意 and echoed as 0 (see docs/integration.md).
    ``ArbitraryIdentifier``: the clinic's own label for the query, echoed as sent.
    """

    InsurerNumber: str = Field(pattern=r"^[0-9]{6}$|^[0-9]{8}$")
    InsuredCardSymbol: Text | None = Field(default=None, max_length=38)
    InsuredIdentificationNumber: Text = Field(min_length=1, max_length=38)
    InsuredBranchNumber: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    Birthdate: str = Field(pattern=DATE_PATTERN)
    # Absent: 0 (so the echo is the query itself; an explicit null is echoed as 0 by presenting.echo).
    LimitApplicationCertificateRelatedConsFlg: ConsentFlag | None = ConsentFlag.NOT_CONSENTED
    ArbitraryIdentifier: Text | None = Field(default=None, max_length=64)


_QualificationConfirmSearchInfo = QualificationConfirmSearchInfo


class RequestHeader(Element):
    QualificationConfirmationDate: str = Field(pattern=DATE_PATTERN)
    MedicalInstitutionCode: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    ArbitraryFileIdentifier: Text | None = Field(default=None, max_length=64)
    ReferenceClassification: codes.ReferenceClassification | None = None
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier = codes.CharacterCodeIdentifier.UTF8


class NumberCheckRequestBody(Element):
    QualificationConfirmSearchInfo: _QualificationConfirmSearchInfo


class NumberCheckRequestMessage(Element):
    """OQSsiquc01req: a single number check."""

    MessageHeader: RequestHeader
    MessageBody: NumberCheckRequestBody


class BulkCheckRequestBody(Element):
    QualificationConfirmSearchInfo: list[_QualificationConfirmSearchInfo] = Field(min_length=1)


class BulkCheckRequestMessage(Element):
    """OQSmuquc01req: a bulk check (一括照会), typically the day before for booked patients."""

    MessageHeader: RequestHeader
    MessageBody: BulkCheckRequestBody


# --- results --------------------------------------------------------------------------------


class ElderlyRecipientCertificateInfo(Element):
    ElderlyRecipientCertificateDate: str | None = None
    ElderlyRecipientValidStartDate: str | None = None
    ElderlyRecipientValidEndDate: str | None = None
    ElderlyRecipientContributionRatio: str | None = None


_ElderlyRecipientCertificateInfo = ElderlyRecipientCertificateInfo


class LimitApplicationCertificateRelatedInfo(Element):
    LimitApplicationCertificateClassification: codes.LimitApplicationCertificateClassification | None = None
    LimitApplicationCertificateClassificationFlag: (
        codes.LimitApplicationCertificateClassificationFlag | None
    ) = None
    LimitApplicationCertificateDate: str | None = None
    LimitApplicationCertificateValidStartDate: str | None = None
    LimitApplicationCertificateValidEndDate: str | None = None
    LimitApplicationCertificateLongTermDate: str | None = None


_LimitApplicationCertificateRelatedInfo = LimitApplicationCertificateRelatedInfo


class SpecificDiseasesCertificateInfo(Element):
    SpecificDiseasesDiseaseCategory: SpecificDiseaseCategory
    SpecificDiseasesCertificateDate: str | None = None
    SpecificDiseasesValidStartDate: str | None = None
    SpecificDiseasesValidEndDate: str | None = None
    SpecificDiseasesSelfPay: str | None = None


_SpecificDiseasesCertificateInfo = SpecificDiseasesCertificateInfo


class SpecificDiseasesCertificateList(Element):
    SpecificDiseasesCertificateInfo: list[_SpecificDiseasesCertificateInfo] = Field(default_factory=list)


_SpecificDiseasesCertificateList = SpecificDiseasesCertificateList


class ResultOfQualificationConfirmation(Element):
    InsuredCardClassification: codes.InsuredCardClassification | None = None
    InsurerNumber: AnswerInsurerNumber | None = None
    InsuredCardSymbol: str | None = None
    InsuredIdentificationNumber: str | None = None
    InsuredBranchNumber: str | None = None
    PersonalFamilyClassification: codes.PersonalFamilyClassification | None = None
    InsuredName: str | None = None
    Name: str | None = None
    NameOfOther: str | None = None
    NameKana: str | None = None
    NameOfOtherKana: str | None = None
    Sex1: Sex | None = None
    Sex2: Sex | None = None
    Birthdate: str | None = None
    Address: str | None = None
    PostNumber: str | None = None
    InsuredCertificateIssuanceDate: str | None = None
    InsuredCardValidDate: str | None = None
    InsuredCardExpirationDate: str | None = None
    InsuredPartialContributionRatio: str | None = None  # percent as text: "030" = 3割
    PreschoolClassification: codes.PreschoolClassification | None = None
    ReasonOfLoss: codes.ReasonOfLoss | None = None
    InsurerName: str | None = None
    QualificationDate: str | None = None
    DisqualificationDate: str | None = None
    ElderlyRecipientCertificateInfo: _ElderlyRecipientCertificateInfo | None = None
    # Set in bulk answers when the 限度額 data changed since the last answer (C# DTOs know it).
    LimitApplicationCertificateChanged: str | None = None
    LimitApplicationCertificateRelatedConsFlg: ConsentFlag | None = None
    LimitApplicationCertificateRelatedConsTime: str | None = None
    LimitApplicationCertificateRelatedInfo: _LimitApplicationCertificateRelatedInfo | None = None
    SpecificDiseasesCertificateRelatedConsFlg: ConsentFlag | None = None
    SpecificDiseasesCertificateRelatedConsTime: str | None = None
    SpecificDiseasesCertificateList: _SpecificDiseasesCertificateList | None = None
    # Check-ups before pharmacists: the order of real clinic programs' DTOs.
    SpecificHealthCheckupsInfoConsFlg: ConsentFlag | None = None
    SpecificHealthCheckupsInfoConsTime: str | None = None
    SpecificHealthCheckupsInfoAvailableTime: str | None = None
    PharmacistsInfoConsFlg: ConsentFlag | None = None
    PharmacistsInfoConsTime: str | None = None
    PharmacistsInfoAvailableTime: str | None = None
    DiagnosisInfoConsFlg: ConsentFlag | None = None
    DiagnosisInfoConsTime: str | None = None
    DiagnosisInfoAvailableTime: str | None = None
    OperationInfoConsFlg: ConsentFlag | None = None
    OperationInfoConsTime: str | None = None
    OperationInfoAvailableTime: str | None = None
    # 照会番号: the number the clinic registered for the patient (OQSmuimm01req); echoed when known.
    ReferenceNumber: str | None = None


_ResultOfQualificationConfirmation = ResultOfQualificationConfirmation


class ResultList(Element):
    ResultOfQualificationConfirmation: list[_ResultOfQualificationConfirmation] = Field(default_factory=list)


_ResultList = ResultList


class ResultHeader(Element):
    ProcessExecutionTime: str = Field(pattern=TIMESTAMP_PATTERN)
    QualificationConfirmationDate: str = Field(pattern=DATE_PATTERN)
    MedicalInstitutionCode: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    ArbitraryFileIdentifier: str | None = None
    ReferenceClassification: codes.ReferenceClassification | None = None
    SegmentOfResult: codes.SegmentOfResult = codes.SegmentOfResult.NORMAL_END
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier = codes.CharacterCodeIdentifier.UTF8


class ResultBody(Element):
    ProcessingResultStatus: ProcessingResultStatus
    ProcessingResultCode: str | None = None
    ProcessingResultMessage: str | None = None
    QualificationValidity: codes.QualificationValidity | None = None
    QualificationConfirmSearchInfo: _QualificationConfirmSearchInfo | None = None
    PrescriptionIssueSelect: codes.PrescriptionIssueSelect | None = None
    ResultList: _ResultList | None = None


class ResultMessage(Element):
    """OQSsiquc01res: the answer to one check (number check, or card check at the reader)."""

    MessageHeader: ResultHeader
    MessageBody: ResultBody


# --- bulk check (一括照会): the real two-step exchange ----------------------------------------
#
# 1. OQSmuquc01req (BulkCheckRequestMessage, above) -> at once OQSmuquc01res, the receipt
#    (BulkReceiptMessage: ReceptionNumber, ReceptionDateTime);
# 2. later OQSmuquc02req (BulkDownloadRequestMessage: ReceptionNumber) -> OQSmuquc02res
#    (BulkResultMessage), or, before the results are ready, the same message with SegmentOfResult 2.


class BulkReceiptHeader(Element):
    ProcessExecutionTime: str = Field(pattern=TIMESTAMP_PATTERN)
    MedicalInstitutionCode: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    ArbitraryFileIdentifier: str | None = None
    # Ours, only on an abnormal end (the bridge's outage answer): the real receipt lists none of them.
    SegmentOfResult: codes.SegmentOfResult | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier = codes.CharacterCodeIdentifier.UTF8


class BulkReceiptBody(Element):
    ReceptionNumber: str | None = None
    ReceptionDateTime: str | None = Field(default=None, pattern=TIMESTAMP_PATTERN)


class BulkReceiptMessage(Element):
    """OQSmuquc01res (受付結果): the bulk request was received; ask for the results with its number."""

    MessageHeader: BulkReceiptHeader
    MessageBody: BulkReceiptBody


class BulkDownloadRequestHeader(Element):
    MedicalInstitutionCode: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    # Ours, optional: the answer's file identifier and encoding (default: those of the bulk request).
    ArbitraryFileIdentifier: Text | None = Field(default=None, max_length=64)
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier | None = None


class BulkDownloadRequestBody(Element):
    ReceptionNumber: Text = Field(min_length=1, max_length=64)


class BulkDownloadRequestMessage(Element):
    """OQSmuquc02req (一括照会ダウンロード要求): the results of the bulk request with this ReceptionNumber."""

    MessageHeader: BulkDownloadRequestHeader
    MessageBody: BulkDownloadRequestBody


class BulkQueryEcho(Element):
    """A bulk query echoed in its BulkConfirmUnit as it was sent: text as written, also when the query
    itself was wrong (its unit then has ProcessingResultStatus 2 and says why)."""

    InsurerNumber: Text | None = None
    InsuredCardSymbol: Text | None = None
    InsuredIdentificationNumber: Text | None = None
    InsuredBranchNumber: Text | None = None
    Birthdate: Text | None = None
    LimitApplicationCertificateRelatedConsFlg: Text | None = None
    ArbitraryIdentifier: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_query(cls, value: Any) -> Any:
        """A QualificationConfirmSearchInfo (the valid query) is echoed field by field."""
        if isinstance(value, QualificationConfirmSearchInfo):
            return value.model_dump(mode="json", exclude_none=True)
        return value


_BulkQueryEcho = BulkQueryEcho


class BulkResultOfQualificationConfirmation(ResultOfQualificationConfirmation):
    """The qualification in a bulk unit: the single check's elements (LimitApplicationCertificateChanged,
    known to C# clinic programs' bulk DTOs, is among them; not emitted by the mock yet: our registry keeps
    no history of the 限度額 information)."""

    @model_validator(mode="before")
    @classmethod
    def _from_single(cls, value: Any) -> Any:
        if isinstance(value, ResultOfQualificationConfirmation) and not isinstance(
            value, BulkResultOfQualificationConfirmation
        ):
            return dict(value)
        return value


_BulkResultOfQualificationConfirmation = BulkResultOfQualificationConfirmation


class BulkResultHeader(Element):
    """OQSmuquc02res header: no ReferenceClassification; ReceptionNumber required, after
    ArbitraryFileIdentifier (as C# clinic programs' DTOs have it)."""

    ProcessExecutionTime: str = Field(pattern=TIMESTAMP_PATTERN)
    QualificationConfirmationDate: str | None = Field(default=None, pattern=DATE_PATTERN)
    MedicalInstitutionCode: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    ArbitraryFileIdentifier: str | None = None
    ReceptionNumber: str
    SegmentOfResult: codes.SegmentOfResult = codes.SegmentOfResult.NORMAL_END
    ErrorCode: str | None = None
    ErrorMessage: str | None = None
    NumberOfProcessingResult: int = 0
    NumberOfNormalProcessing: int = 0
    NumberOfError: int = 0
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier = codes.CharacterCodeIdentifier.UTF8


class BulkConfirmUnit(Element):
    QualificationConfirmSearchInfo: _BulkQueryEcho
    ProcessingResultStatus: ProcessingResultStatus
    ProcessingResultCode: str | None = None
    ProcessingResultMessage: str | None = None
    QualificationValidity: codes.QualificationValidity | None = None
    ResultOfQualificationConfirmation: _BulkResultOfQualificationConfirmation | None = None
    ReferenceNumber: str | None = None


_BulkConfirmUnit = BulkConfirmUnit


class BulkResultBody(Element):
    BulkConfirmUnit: list[_BulkConfirmUnit] = Field(default_factory=list)


class BulkResultMessage(Element):
    """OQSmuquc02res (一括照会結果): one unit per query, or SegmentOfResult 2 / 9 and why."""

    MessageHeader: BulkResultHeader
    MessageBody: BulkResultBody


class ErrorAnswerHeader(Element):
    ProcessExecutionTime: str = Field(pattern=TIMESTAMP_PATTERN)
    MedicalInstitutionCode: str | None = None
    ArbitraryFileIdentifier: str | None = None
    SegmentOfResult: codes.SegmentOfResult = codes.SegmentOfResult.ABNORMAL_END
    ErrorCode: str
    ErrorMessage: str
    CharacterCodeIdentifier: codes.CharacterCodeIdentifier = codes.CharacterCodeIdentifier.UTF8


class ErrorAnswerBody(Element):
    pass


class ErrorAnswerMessage(Element):
    """The bridge's answer to a request file it cannot serve (OQSmuonq01req, OQSmuhvq01req, …):
    ``<stem>res_<id>.xml`` with SegmentOfResult 9, so the clinic program is never left waiting."""

    MessageHeader: ErrorAnswerHeader
    MessageBody: ErrorAnswerBody = Field(default_factory=ErrorAnswerBody)


# Root element names and file-name stems of the real file exchange.
ROOT_ELEMENT = "XmlMsg"
SINGLE_REQUEST_STEM = "OQSsiquc01req"
SINGLE_RESULT_STEM = "OQSsiquc01res"
BULK_REQUEST_STEM = "OQSmuquc01req"
BULK_RECEIPT_STEM = "OQSmuquc01res"
BULK_DOWNLOAD_STEM = "OQSmuquc02req"
BULK_RESULT_STEM = "OQSmuquc02res"
READER_RESULT_PREFIX = "OQSsiquc01res_face_"
