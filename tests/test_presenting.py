"""Specification of server.presenting: the pure core's result -> the wire messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

import orjson
import pytest

from onshi import codes, xmlcodec
from onshi.codes import CharacterCodeIdentifier as Charset
from onshi.codes import ConsentFlag, ProcessingResultCode, ProcessingResultStatus, ReferenceClassification
from onshi.messages import (
    BulkResultMessage,
    QualificationConfirmSearchInfo,
    ResultMessage,
    ResultOfQualificationConfirmation,
)
from onshi.timeutil import JST
from onshi.xmlcodec import decode, encode, validate
from server import presenting
from server.core.model import (
    CardCheckRequest,
    CertificateStatus,
    Consents,
    ElderlyRecipient,
    EligibilityResult,
    Insurer,
    LimitCertificate,
    LinkedPerson,
    NumberCheckRequest,
    Person,
    Qualification,
    RegistryView,
    SpecificDisease,
)
from server.core.rules import check_card, check_number
from server.presenting import (
    describe,
    notes,
    to_bulk_message,
    to_bulk_unit,
    withheld,
)

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, 15, 0, tzinfo=JST)
CONSENT_AT = datetime(2026, 11, 23, 9, 14, 30, tzinfo=JST)
CLINIC = "1312345678"

INSURER = Insurer(number="06139999", name="霞が関健康保険組合", kind=codes.InsurerKind.EMPLOYEE)
ELDER = Person(
    id="P-elder",
    name="髙橋　太郎",  # 髙 is outside JIS X 0208: the core shows ●
    name_kana="ﾀｶﾊｼ ﾀﾛｳ",
    birthdate=date(1953, 5, 1),
    sex=codes.Sex.MALE,
    address="東京都千代田区霞が関一丁目２番２号",
    post_number="100-8916",
)
ELDER_QUALIFICATION = Qualification(
    id="Q-elder",
    person_id="P-elder",
    insurer=INSURER,
    symbol="１２３",
    number="4567",
    branch="00",
    card_classification=codes.InsuredCardClassification.GENERAL,
    personal_family=codes.PersonalFamilyClassification.INSURED,
    insured_name="髙橋　太郎",
    acquired_on=date(2018, 4, 1),
    copay_ratio=20,
    issued_on=date(2024, 4, 1),
    valid_from=date(2024, 4, 1),
    elderly=ElderlyRecipient(
        certificate_date=date(2023, 4, 20),
        valid_start=date(2023, 5, 1),
        valid_end=date(2027, 4, 30),
        contribution_ratio=20,
    ),
    limit=LimitCertificate(
        classification=codes.LimitApplicationCertificateClassification.LIMIT_APPLICATION,
        bracket=codes.LimitApplicationCertificateClassificationFlag.B05,
        certificate_date=date(2026, 8, 1),
        valid_start=date(2026, 8, 1),
        valid_end=date(2027, 7, 31),
    ),
    specific_diseases=(
        SpecificDisease(
            category=codes.SpecificDiseaseCategory.DIALYSIS,
            self_pay_limit_yen=10000,
            valid_start=date(2025, 1, 1),
        ),
    ),
)
ELDER_VIEW = RegistryView(person=ELDER, qualifications=(ELDER_QUALIFICATION,))
GOOD_CERTIFICATE = CertificateStatus(serial="S-1", not_before=date(2024, 1, 10), not_after=date(2029, 1, 10))

CHILD = Person(
    id="P-child", name="佐藤　花", name_kana="ｻﾄｳ ﾊﾅ", birthdate=date(2022, 6, 1), sex=codes.Sex.FEMALE
)
CHILD_QUALIFICATION = Qualification(
    id="Q-child",
    person_id="P-child",
    insurer=Insurer(number="00138123", name="千代田区", kind=codes.InsurerKind.NATIONAL),
    symbol="",
    number="ﾁﾖﾀﾞ99",
    branch="",
    card_classification=codes.InsuredCardClassification.GENERAL,
    personal_family=codes.PersonalFamilyClassification.DEPENDENT,
    insured_name="佐藤　一郎",
    acquired_on=date(2022, 6, 1),
    copay_ratio=20,
    preschool=True,
)
CHILD_VIEW = RegistryView(person=CHILD, qualifications=(CHILD_QUALIFICATION,))

ALL_CONSENTS = Consents(
    medication=True,
    clinical=False,
    operation=True,
    checkup=False,
    limit_bracket=True,
    prescription=codes.PrescriptionIssueSelect.ELECTRONIC,
)


def card_check(consents: Consents = ALL_CONSENTS, view: RegistryView = ELDER_VIEW) -> EligibilityResult:
    request = CardCheckRequest(
        certificate=GOOD_CERTIFICATE, link=LinkedPerson(view.person.id), consents=consents
    )
    return check_card(request, view, TODAY)


def card_element(result: EligibilityResult, charset: Charset = Charset.UTF8,
                 smartphone: bool = False) -> presenting.Element:
    return presenting.result_element(
        result,
        executed_at=NOW,
        confirmation_date=TODAY,
        institution_code=CLINIC,
        reference=ReferenceClassification.MY_NUMBER_CARD,
        encoding=charset,
        file_identifier="reader-1",
        consent_time=CONSENT_AT,
        smartphone=smartphone,
    )


def card_message(result: EligibilityResult, charset: Charset = Charset.UTF8) -> ResultMessage:
    return ResultMessage.model_validate(card_element(result, charset))


def child_search(
    limit: ConsentFlag = ConsentFlag.NOT_CONSENTED, tag: str | None = None
) -> QualificationConfirmSearchInfo:
    return QualificationConfirmSearchInfo(
        InsurerNumber="138123",
        InsuredIdentificationNumber="ﾁﾖﾀﾞ99",
        Birthdate="20220601",
        LimitApplicationCertificateRelatedConsFlg=limit,
        ArbitraryIdentifier=tag,
    )


def child_number_check() -> EligibilityResult:
    request = NumberCheckRequest(
        insurer_number="138123", symbol="", number="ﾁﾖﾀﾞ99", branch=None, birthdate=date(2022, 6, 1)
    )
    return check_number(request, [CHILD_VIEW, ELDER_VIEW], TODAY)


def only_result(message: ResultMessage) -> ResultOfQualificationConfirmation:
    assert message.MessageBody.ResultList is not None
    (result,) = message.MessageBody.ResultList.ResultOfQualificationConfirmation
    return result


# --- card check, valid ------------------------------------------------------------------------


def test_header_carries_time_date_clinic_reference_and_charset() -> None:
    header = card_message(card_check(), Charset.SHIFT_JIS).MessageHeader
    assert header.ProcessExecutionTime == "20261123091500"
    assert header.QualificationConfirmationDate == "20261123"
    assert header.MedicalInstitutionCode == CLINIC
    assert header.ArbitraryFileIdentifier == "reader-1"
    assert header.ReferenceClassification is ReferenceClassification.MY_NUMBER_CARD
    assert header.SegmentOfResult is codes.SegmentOfResult.NORMAL_END
    assert header.CharacterCodeIdentifier is Charset.SHIFT_JIS


def test_a_valid_card_check_is_normal_and_valid_with_the_prescription_choice() -> None:
    body = card_message(card_check()).MessageBody
    assert body.ProcessingResultStatus is ProcessingResultStatus.NORMAL
    assert body.QualificationValidity is codes.QualificationValidity.VALID
    assert body.PrescriptionIssueSelect is codes.PrescriptionIssueSelect.ELECTRONIC
    assert body.QualificationConfirmSearchInfo is None


def test_the_note_code_goes_out_with_its_japanese_message() -> None:
    body = card_message(card_check()).MessageBody
    assert body.ProcessingResultCode == ProcessingResultCode.NAME_CHARACTERS_REPLACED.value
    assert body.ProcessingResultMessage == ProcessingResultCode.NAME_CHARACTERS_REPLACED.ja


def test_qualification_and_person_fields_are_all_mapped() -> None:
    r = only_result(card_message(card_check()))
    assert r.InsuredCardClassification is codes.InsuredCardClassification.GENERAL
    assert (r.InsurerNumber, r.InsuredCardSymbol, r.InsuredIdentificationNumber, r.InsuredBranchNumber) == (
        "06139999",
        "１２３",
        "4567",
        "00",
    )
    assert r.PersonalFamilyClassification is codes.PersonalFamilyClassification.INSURED
    assert r.Name == "●橋　太郎" and r.InsuredName == "●橋　太郎"
    assert r.NameKana == "ﾀｶﾊｼ ﾀﾛｳ"
    assert r.Sex1 is codes.Sex.MALE and r.Sex2 is codes.Sex.MALE
    assert r.Birthdate == "19530501"
    assert (r.Address, r.PostNumber) == ("東京都千代田区霞が関一丁目２番２号", "100-8916")
    assert (r.InsuredCertificateIssuanceDate, r.InsuredCardValidDate) == ("20240401", "20240401")
    assert r.InsuredCardExpirationDate is None
    assert r.InsurerName == "霞が関健康保険組合"
    assert (r.QualificationDate, r.DisqualificationDate, r.ReasonOfLoss) == ("20180401", None, None)
    assert r.PreschoolClassification is None


def test_copay_ratio_is_three_digit_percent_text() -> None:
    assert only_result(card_message(card_check())).InsuredPartialContributionRatio == "020"


def test_elderly_recipient_certificate_is_presented() -> None:
    elderly = only_result(card_message(card_check())).ElderlyRecipientCertificateInfo
    assert elderly is not None
    assert elderly.ElderlyRecipientCertificateDate == "20230420"
    assert elderly.ElderlyRecipientValidStartDate == "20230501"
    assert elderly.ElderlyRecipientValidEndDate == "20270430"
    assert elderly.ElderlyRecipientContributionRatio == "020"


def test_limit_information_is_shown_with_consent() -> None:
    r = only_result(card_message(card_check()))
    assert r.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.CONSENTED
    assert r.LimitApplicationCertificateRelatedConsTime == "20261123091430"
    info = r.LimitApplicationCertificateRelatedInfo
    assert info is not None
    assert info.LimitApplicationCertificateClassification is (
        codes.LimitApplicationCertificateClassification.LIMIT_APPLICATION
    )
    assert (
        info.LimitApplicationCertificateClassificationFlag
        is codes.LimitApplicationCertificateClassificationFlag.B05
    )
    assert (info.LimitApplicationCertificateValidStartDate, info.LimitApplicationCertificateValidEndDate) == (
        "20260801",
        "20270731",
    )
    assert info.LimitApplicationCertificateLongTermDate is None


def test_specific_diseases_are_listed_with_consent() -> None:
    r = only_result(card_message(card_check()))
    assert r.SpecificDiseasesCertificateRelatedConsFlg is ConsentFlag.CONSENTED
    assert r.SpecificDiseasesCertificateList is not None
    (disease,) = r.SpecificDiseasesCertificateList.SpecificDiseasesCertificateInfo
    assert disease.SpecificDiseasesDiseaseCategory is codes.SpecificDiseaseCategory.DIALYSIS
    assert disease.SpecificDiseasesValidStartDate == "20250101"
    assert disease.SpecificDiseasesValidEndDate is None
    assert disease.SpecificDiseasesSelfPay == "10000"


def test_limit_information_and_specific_diseases_are_hidden_without_consent() -> None:
    r = only_result(card_message(card_check(Consents(medication=True, limit_bracket=False))))
    assert r.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.NOT_CONSENTED
    assert r.LimitApplicationCertificateRelatedConsTime is None
    assert r.LimitApplicationCertificateRelatedInfo is None
    assert r.SpecificDiseasesCertificateRelatedConsFlg is ConsentFlag.NOT_CONSENTED
    assert r.SpecificDiseasesCertificateList is None
    assert b"LimitApplicationCertificateRelatedInfo" not in encode(card_message(card_check(Consents())))


def test_medical_information_consents_carry_consent_time_and_a_24_hour_window() -> None:
    r = only_result(card_message(card_check()))
    assert r.PharmacistsInfoConsFlg is ConsentFlag.CONSENTED
    assert r.PharmacistsInfoConsTime == "20261123091430"
    assert r.PharmacistsInfoAvailableTime == "20261124091430"
    assert r.OperationInfoConsFlg is ConsentFlag.CONSENTED
    assert r.OperationInfoAvailableTime == "20261124091430"


def test_refused_medical_information_consents_are_flagged_without_times() -> None:
    r = only_result(card_message(card_check()))
    assert r.DiagnosisInfoConsFlg is ConsentFlag.NOT_CONSENTED
    assert (r.DiagnosisInfoConsTime, r.DiagnosisInfoAvailableTime) == (None, None)
    assert r.SpecificHealthCheckupsInfoConsFlg is ConsentFlag.NOT_CONSENTED
    assert r.SpecificHealthCheckupsInfoConsTime is None


def test_a_preschool_child_is_marked_and_empty_registry_strings_are_absent() -> None:
    r = only_result(card_message(card_check(Consents(), CHILD_VIEW)))
    assert r.PreschoolClassification is codes.PreschoolClassification.PRESCHOOL
    assert r.InsuredCardSymbol is None and r.InsuredBranchNumber is None
    assert r.NameOfOther is None and r.Address is None and r.PostNumber is None


def test_a_lost_qualification_shows_its_loss_date_and_reason() -> None:
    lost = replace(ELDER_QUALIFICATION, lost_on=date(2026, 11, 1), reason_of_loss=codes.ReasonOfLoss.OTHER)
    result = card_check(Consents(), RegistryView(person=ELDER, qualifications=(lost,)))
    message = card_message(result)
    assert message.MessageBody.QualificationValidity is codes.QualificationValidity.INVALID
    r = only_result(message)
    assert (r.DisqualificationDate, r.ReasonOfLoss) == ("20261101", codes.ReasonOfLoss.OTHER)


# --- card check, error ------------------------------------------------------------------------


def test_an_error_result_has_status_2_with_the_code_and_its_japanese_message() -> None:
    revoked = CertificateStatus(
        serial="S-2", not_before=date(2024, 1, 10), not_after=date(2029, 1, 10), revoked=True
    )
    result = check_card(
        CardCheckRequest(certificate=revoked, link=LinkedPerson("P-elder")), ELDER_VIEW, TODAY
    )
    body = card_message(result).MessageBody
    assert body.ProcessingResultStatus is ProcessingResultStatus.ERROR
    assert body.ProcessingResultCode == "E002"
    assert body.ProcessingResultMessage == ProcessingResultCode.CERTIFICATE_REVOKED.ja
    assert "失効" in (body.ProcessingResultMessage or "")
    assert body.QualificationValidity is None
    assert body.ResultList is None


def test_an_error_result_is_valid_xml_for_the_schema() -> None:
    validate(encode(card_message(revoked_card_check())), "OQSsiquc01res")


# --- number check -----------------------------------------------------------------------------


def number_element(result: EligibilityResult, search: QualificationConfirmSearchInfo) -> presenting.Element:
    return presenting.result_element(
        result,
        executed_at=NOW,
        confirmation_date=TODAY,
        institution_code=CLINIC,
        reference=ReferenceClassification.INSURED_CARD_INFO,
        encoding=Charset.UTF8,
        search_info=search,
    )


def number_message(result: EligibilityResult, search: QualificationConfirmSearchInfo) -> ResultMessage:
    return ResultMessage.model_validate(number_element(result, search))


def test_a_number_check_echoes_the_search_info_as_sent_with_its_identifier() -> None:
    message = number_message(child_number_check(), child_search(ConsentFlag.CONSENTED, tag="karte-0042"))
    echo = message.MessageBody.QualificationConfirmSearchInfo
    assert echo is not None
    assert echo.InsuredIdentificationNumber == "ﾁﾖﾀﾞ99"
    assert echo.ArbitraryIdentifier == "karte-0042"
    assert echo.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.CONSENTED


def test_a_query_without_the_limit_consent_flag_is_echoed_as_not_consented() -> None:
    """Real clinic programs refuse an echo without the flag; a query without it was judged as 0."""
    search = child_search().model_copy(update={"LimitApplicationCertificateRelatedConsFlg": None})
    echo = number_message(child_number_check(), search).MessageBody.QualificationConfirmSearchInfo
    assert echo is not None
    assert echo.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.NOT_CONSENTED


@pytest.mark.parametrize("flag", ["", ', "LimitApplicationCertificateRelatedConsFlg": null'])
def test_a_json_query_without_the_flag_or_with_null_is_echoed_as_not_consented(flag: str) -> None:
    search = xmlcodec.decode_json(
        ('{"InsurerNumber": "06139012", "InsuredIdentificationNumber": "1024", "Birthdate": "19850512"'
         + flag + "}").encode(), QualificationConfirmSearchInfo)
    echo = number_message(child_number_check(), search).MessageBody.QualificationConfirmSearchInfo
    assert echo is not None
    assert echo.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.NOT_CONSENTED


@pytest.mark.parametrize(("registry", "answer"), [
    ("138123", "  138123"), ("00138123", "  138123"), ("06139012", "06139012"), (" 06139012 ", "06139012"),
])  # fmt: skip
def test_a_kokuho_insurer_number_is_right_aligned_with_two_spaces(registry: str, answer: str) -> None:
    assert presenting.insurer_number_text(registry) == answer


@pytest.mark.parametrize(("registry", "answer"), [
    ("1700013", "170-0013"), ("170-0013", "170-0013"), ("", None),
])  # fmt: skip
def test_a_post_number_carries_the_hyphen(registry: str, answer: str | None) -> None:
    assert presenting.post_number_text(registry) == answer


@pytest.mark.parametrize(("registry", "answer"), [
    ("佐藤 花子", "佐藤　花子"), ("佐藤　花子", "佐藤　花子"), ("佐藤  花子 ", "佐藤　花子"), ("", None),
])  # fmt: skip
def test_a_kanji_name_has_a_full_width_space_between_family_and_given_name(
    registry: str, answer: str | None
) -> None:
    assert presenting.name_text(registry) == answer


def test_a_number_check_has_no_consent_screens_and_no_prescription_choice() -> None:
    message = number_message(child_number_check(), child_search())
    assert message.MessageBody.PrescriptionIssueSelect is None
    r = only_result(message)
    assert r.PharmacistsInfoConsFlg is None and r.DiagnosisInfoConsFlg is None
    assert r.LimitApplicationCertificateRelatedConsFlg is ConsentFlag.NOT_CONSENTED


def test_a_number_check_without_a_match_has_no_result_list() -> None:
    message = number_message(unmatched_number_check(), child_search())
    assert message.MessageBody.QualificationValidity is codes.QualificationValidity.NO_MATCH
    assert message.MessageBody.ResultList is None


# --- whole messages through the codec --------------------------------------------------------


def test_presented_messages_validate_and_round_trip_in_both_charsets() -> None:
    for charset in (Charset.UTF8, Charset.SHIFT_JIS):
        for message in (
            card_message(card_check(), charset),
            card_message(card_check(Consents(), CHILD_VIEW), charset),
            number_message(child_number_check(), child_search()),
        ):
            data = encode(message, charset)
            validate(data, "OQSsiquc01res")
            assert decode(data, ResultMessage) == message


def revoked_card_check() -> EligibilityResult:
    revoked = replace(GOOD_CERTIFICATE, revoked=True)
    return check_card(CardCheckRequest(certificate=revoked, link=LinkedPerson("P-elder")), ELDER_VIEW, TODAY)


def unmatched_number_check() -> EligibilityResult:
    asked = NumberCheckRequest(
        insurer_number="138123", symbol="", number="none", branch=None, birthdate=TODAY
    )
    return check_number(asked, [CHILD_VIEW], TODAY)


FLAG_LEFT_OUT = {"LimitApplicationCertificateRelatedConsFlg": None}
ANSWERS: dict[str, Callable[[], presenting.Element]] = {  # every shape of OQSsiquc01res the presenter writes
    "card check, every consent (elderly, 限度額, 特定疾病)": lambda: card_element(card_check()),
    "card check, no consent": lambda: card_element(card_check(Consents(), CHILD_VIEW)),
    "check by phone": lambda: card_element(card_check(), smartphone=True),
    "card check, revoked certificate (error)": lambda: card_element(revoked_card_check()),
    "number check, tagged query": lambda: number_element(
        child_number_check(), child_search(ConsentFlag.CONSENTED, tag="karte-0042")),
    "number check, query without the flag": lambda: number_element(
        child_number_check(), child_search().model_copy(update=FLAG_LEFT_OUT)),
    "number check, no match": lambda: number_element(unmatched_number_check(), child_search()),
}


@pytest.mark.parametrize("shape", ANSWERS)
def test_the_json_answer_written_from_plain_data_is_the_message_models_json_byte_for_byte(shape: str) -> None:
    """The check endpoints write a JSON answer from ``result_element`` without building the models:
    it must be exactly the validated message's JSON (element order, codes as text, absent elements)."""
    element = ANSWERS[shape]()
    message = ResultMessage.model_validate(element)
    assert orjson.dumps(element) == message.model_dump_json(exclude_none=True).encode()


def test_the_replacement_mark_survives_shift_jis() -> None:
    data = encode(card_message(card_check(), Charset.SHIFT_JIS), Charset.SHIFT_JIS)
    assert "<Name>●橋　太郎</Name>" in data.decode("shift_jis")


# --- bulk -------------------------------------------------------------------------------------


def test_a_bulk_unit_echoes_the_query_with_its_identifier_and_holds_one_qualification() -> None:
    unit = to_bulk_unit(child_number_check(), search_info=child_search(tag="patient-7"), reference_number="1")
    assert unit.QualificationConfirmSearchInfo.ArbitraryIdentifier == "patient-7"
    assert unit.ProcessingResultStatus is ProcessingResultStatus.NORMAL
    assert unit.QualificationValidity is codes.QualificationValidity.VALID
    assert unit.ResultOfQualificationConfirmation is not None
    assert unit.ResultOfQualificationConfirmation.Name == "佐藤　花"
    assert unit.ReferenceNumber == "1"


def bulk_message() -> BulkResultMessage:
    error = EligibilityResult(
        status=ProcessingResultStatus.ERROR, validity=None, codes=(ProcessingResultCode.NOT_REGISTERED,)
    )
    units = [
        to_bulk_unit(child_number_check(), search_info=child_search(tag="a"), reference_number="1"),
        to_bulk_unit(error, search_info=child_search(tag="b"), reference_number="2"),
        to_bulk_unit(child_number_check(), search_info=child_search(tag="c"), reference_number="3"),
    ]
    return to_bulk_message(
        units,
        executed_at=NOW,
        confirmation_date=date(2026, 11, 24),
        institution_code=CLINIC,
        encoding=Charset.SHIFT_JIS,
        file_identifier="bulk-1",
        reception_number="R0001",
    )


def test_bulk_header_counts_results_normal_and_errors() -> None:
    header = bulk_message().MessageHeader
    assert header.NumberOfProcessingResult == 3
    assert header.NumberOfNormalProcessing == 2
    assert header.NumberOfError == 1
    assert header.ReceptionNumber == "R0001"
    assert header.QualificationConfirmationDate == "20261124"


def test_a_bulk_message_validates_and_round_trips() -> None:
    message = bulk_message()
    data = encode(message, Charset.SHIFT_JIS)
    validate(data, "OQSmuquc02res")
    assert decode(data, BulkResultMessage) == message


# --- JSON notes and withheld ------------------------------------------------------------------


def test_describe_gives_code_and_both_labels() -> None:
    assert describe(codes.WithheldReason.NO_CONSENT) == {
        "code": "no_consent",
        "ja": "本人の同意がありません",
        "en": "the patient did not consent",
    }


def test_notes_and_withheld_list_every_code_of_the_result() -> None:
    result = card_check(Consents())
    assert [n["code"] for n in notes(result)] == [c.value for c in result.codes]
    assert {
        "code": "no_consent",
        "ja": "本人の同意がありません",
        "en": "the patient did not consent",
    } in withheld(result)
    assert withheld(card_check()) == []
