"""Specification of onshi.xmlcodec: wire messages <-> XML / JSON, safe parsing, XSD validation."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import BaseModel

from onshi import codes, xmlcodec
from onshi.codes import CharacterCodeIdentifier as Charset
from onshi.messages import (
    BulkCheckRequestBody,
    BulkCheckRequestMessage,
    BulkConfirmUnit,
    BulkResultBody,
    BulkResultHeader,
    BulkResultMessage,
    ElderlyRecipientCertificateInfo,
    LimitApplicationCertificateRelatedInfo,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
    RequestHeader,
    ResultBody,
    ResultHeader,
    ResultList,
    ResultMessage,
    ResultOfQualificationConfirmation,
    SpecificDiseasesCertificateInfo,
    SpecificDiseasesCertificateList,
)
from onshi.xmlcodec import MessageError, decode, decode_json, encode, validate

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "onshi" / "schema"
XS = "{http://www.w3.org/2001/XMLSchema}"

# --- sample messages -------------------------------------------------------------------------

SEARCH = QualificationConfirmSearchInfo(
    InsurerNumber="06139999",
    InsuredCardSymbol="１２３",
    InsuredIdentificationNumber="4567",
    InsuredBranchNumber="01",
    Birthdate="19800401",
    LimitApplicationCertificateRelatedConsFlg=codes.ConsentFlag.CONSENTED,
)


def full_result(name: str = "髙●　太郎") -> ResultOfQualificationConfirmation:
    return ResultOfQualificationConfirmation(
        InsuredCardClassification=codes.InsuredCardClassification.GENERAL,
        InsurerNumber="06139999",
        InsuredCardSymbol="１２３",
        InsuredIdentificationNumber="4567",
        InsuredBranchNumber="01",
        PersonalFamilyClassification=codes.PersonalFamilyClassification.INSURED,
        InsuredName=name,
        Name=name,
        NameOfOther="山田　花",
        NameKana="ﾀｶﾊｼ ﾀﾛｳ",
        NameOfOtherKana="ﾔﾏﾀﾞ ﾊﾅ",
        Sex1=codes.Sex.MALE,
        Sex2=codes.Sex.MALE,
        Birthdate="19520401",
        Address="東京都千代田区霞が関１－２－２",
        PostNumber="100-8916",
        InsuredCertificateIssuanceDate="20240401",
        InsuredCardValidDate="20240401",
        InsuredCardExpirationDate="20270331",
        InsuredPartialContributionRatio="020",
        ReasonOfLoss=codes.ReasonOfLoss.OTHER,
        InsurerName="霞が関健康保険組合",
        QualificationDate="20240401",
        DisqualificationDate="20261101",
        ElderlyRecipientCertificateInfo=ElderlyRecipientCertificateInfo(
            ElderlyRecipientCertificateDate="20220301",
            ElderlyRecipientValidStartDate="20220401",
            ElderlyRecipientValidEndDate="20270331",
            ElderlyRecipientContributionRatio="020",
        ),
        LimitApplicationCertificateRelatedConsFlg=codes.ConsentFlag.CONSENTED,
        LimitApplicationCertificateRelatedConsTime="20261123091500",
        LimitApplicationCertificateRelatedInfo=LimitApplicationCertificateRelatedInfo(
            LimitApplicationCertificateClassification=codes.LimitApplicationCertificateClassification.LIMIT_APPLICATION,
            LimitApplicationCertificateClassificationFlag=codes.LimitApplicationCertificateClassificationFlag.B05,
            LimitApplicationCertificateDate="20260801",
            LimitApplicationCertificateValidStartDate="20260801",
            LimitApplicationCertificateValidEndDate="20270731",
        ),
        SpecificDiseasesCertificateRelatedConsFlg=codes.ConsentFlag.CONSENTED,
        SpecificDiseasesCertificateRelatedConsTime="20261123091500",
        SpecificDiseasesCertificateList=SpecificDiseasesCertificateList(
            SpecificDiseasesCertificateInfo=[
                SpecificDiseasesCertificateInfo(
                    SpecificDiseasesDiseaseCategory=codes.SpecificDiseaseCategory.DIALYSIS,
                    SpecificDiseasesValidStartDate="20250101",
                    SpecificDiseasesSelfPay="10000",
                ),
                SpecificDiseasesCertificateInfo(
                    SpecificDiseasesDiseaseCategory=codes.SpecificDiseaseCategory.HEMOPHILIA,
                    SpecificDiseasesSelfPay="10000",
                ),
            ]
        ),
        PharmacistsInfoConsFlg=codes.ConsentFlag.CONSENTED,
        PharmacistsInfoConsTime="20261123091500",
        PharmacistsInfoAvailableTime="20261124091500",
        SpecificHealthCheckupsInfoConsFlg=codes.ConsentFlag.NOT_CONSENTED,
        DiagnosisInfoConsFlg=codes.ConsentFlag.NOT_CONSENTED,
        OperationInfoConsFlg=codes.ConsentFlag.NOT_CONSENTED,
    )


def number_request(charset: Charset = Charset.UTF8) -> NumberCheckRequestMessage:
    return NumberCheckRequestMessage(
        MessageHeader=RequestHeader(
            QualificationConfirmationDate="20261123",
            MedicalInstitutionCode="1312345678",
            ArbitraryFileIdentifier="rcpt-0001",
            ReferenceClassification=codes.ReferenceClassification.INSURED_CARD_INFO,
            CharacterCodeIdentifier=charset,
        ),
        MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=SEARCH),
    )


def bulk_request(charset: Charset = Charset.UTF8) -> BulkCheckRequestMessage:
    return BulkCheckRequestMessage(
        MessageHeader=RequestHeader(
            QualificationConfirmationDate="20261124",
            MedicalInstitutionCode="1312345678",
            ArbitraryFileIdentifier="bulk-0001",
            CharacterCodeIdentifier=charset,
        ),
        MessageBody=BulkCheckRequestBody(
            QualificationConfirmSearchInfo=[
                SEARCH.model_copy(update={"ArbitraryIdentifier": "patient-1"}),
                QualificationConfirmSearchInfo(
                    InsurerNumber="138123",
                    InsuredIdentificationNumber="ﾃｽﾄ99",
                    Birthdate="20230115",
                    ArbitraryIdentifier="patient-2",
                ),
            ]
        ),
    )


def result_message(charset: Charset = Charset.UTF8) -> ResultMessage:
    return ResultMessage(
        MessageHeader=ResultHeader(
            ProcessExecutionTime="20261123091501",
            QualificationConfirmationDate="20261123",
            MedicalInstitutionCode="1312345678",
            ArbitraryFileIdentifier="rcpt-0001",
            ReferenceClassification=codes.ReferenceClassification.MY_NUMBER_CARD,
            CharacterCodeIdentifier=charset,
        ),
        MessageBody=ResultBody(
            ProcessingResultStatus=codes.ProcessingResultStatus.NORMAL,
            ProcessingResultCode=codes.ProcessingResultCode.NAME_CHARACTERS_REPLACED.value,
            ProcessingResultMessage=codes.ProcessingResultCode.NAME_CHARACTERS_REPLACED.ja,
            QualificationValidity=codes.QualificationValidity.VALID,
            PrescriptionIssueSelect=codes.PrescriptionIssueSelect.ELECTRONIC,
            ResultList=ResultList(
                ResultOfQualificationConfirmation=[full_result(), full_result("佐藤　次郎")]
            ),
        ),
    )


def bulk_result(charset: Charset = Charset.UTF8) -> BulkResultMessage:
    return BulkResultMessage(
        MessageHeader=BulkResultHeader(
            ProcessExecutionTime="20261123180000",
            QualificationConfirmationDate="20261124",
            MedicalInstitutionCode="1312345678",
            CharacterCodeIdentifier=charset,
            ReceptionNumber="R000123",
            NumberOfProcessingResult=2,
            NumberOfNormalProcessing=2,
            NumberOfError=0,
        ),
        MessageBody=BulkResultBody(
            BulkConfirmUnit=[
                BulkConfirmUnit(
                    QualificationConfirmSearchInfo=SEARCH.model_copy(update={"ArbitraryIdentifier": "p1"}),
                    ProcessingResultStatus=codes.ProcessingResultStatus.NORMAL,
                    QualificationValidity=codes.QualificationValidity.VALID,
                    ResultOfQualificationConfirmation=full_result(),
                    ReferenceNumber="1",
                ),
                BulkConfirmUnit(
                    QualificationConfirmSearchInfo=SEARCH.model_copy(update={"ArbitraryIdentifier": "p2"}),
                    ProcessingResultStatus=codes.ProcessingResultStatus.NORMAL,
                    QualificationValidity=codes.QualificationValidity.NO_MATCH,
                    ReferenceNumber="2",
                ),
            ]
        ),
    )


MESSAGES = {
    "OQSsiquc01req": (NumberCheckRequestMessage, number_request),
    "OQSmuquc01req": (BulkCheckRequestMessage, bulk_request),
    "OQSsiquc01res": (ResultMessage, result_message),
    "OQSmuquc02res": (BulkResultMessage, bulk_result),
}
KINDS = list(MESSAGES)
CHARSETS = [Charset.UTF8, Charset.SHIFT_JIS]


def sample(kind: str, charset: Charset = Charset.UTF8) -> tuple[type[BaseModel], BaseModel]:
    model, build = MESSAGES[kind]
    return model, build(charset)


def rejection(data: bytes, model: type[BaseModel] = NumberCheckRequestMessage, **kw: Any) -> MessageError:
    with pytest.raises(MessageError) as caught:
        decode(data, model, **kw)
    return caught.value


def request_xml(body: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    """A number-check request whose search info is ``body``."""
    return (
        f"{declaration}\n<XmlMsg><MessageHeader><QualificationConfirmationDate>20261123"
        "</QualificationConfirmationDate><MedicalInstitutionCode>1312345678</MedicalInstitutionCode>"
        f"</MessageHeader><MessageBody><QualificationConfirmSearchInfo>{body}"
        "</QualificationConfirmSearchInfo></MessageBody></XmlMsg>"
    ).encode()


GOOD_SEARCH = (
    "<InsurerNumber>06139999</InsurerNumber><InsuredIdentificationNumber>K0042</InsuredIdentificationNumber>"
    "<Birthdate>19800401</Birthdate>"
)

# --- round trips and order -------------------------------------------------------------------


@pytest.mark.parametrize("charset", CHARSETS, ids=lambda c: c.en)
@pytest.mark.parametrize("kind", KINDS)
def test_every_message_survives_an_encode_decode_round_trip(kind: str, charset: Charset) -> None:
    model, message = sample(kind, charset)
    assert decode(encode(message, charset), model) == message


@pytest.mark.parametrize("charset", CHARSETS, ids=lambda c: c.en)
@pytest.mark.parametrize("kind", KINDS)
def test_emitted_xml_validates_against_the_hand_written_xsd(kind: str, charset: Charset) -> None:
    _, message = sample(kind, charset)
    validate(encode(message, charset), kind)


def _check_order(element: etree._Element, model: BaseModel) -> None:
    fields = list(type(model).model_fields)
    tags = [child.tag for child in element]
    positions = [fields.index(tag) for tag in tags]
    assert positions == sorted(positions), f"{element.tag}: {tags}"
    seen: dict[str, int] = {}
    for child in element:
        value = getattr(model, child.tag)
        if isinstance(value, list):  # the n-th repeated element is the n-th list item
            seen[child.tag] = seen.get(child.tag, -1) + 1
            value = value[seen[child.tag]]
        if isinstance(value, BaseModel):
            _check_order(child, value)


@pytest.mark.parametrize("kind", KINDS)
def test_children_are_emitted_in_field_declaration_order(kind: str) -> None:
    _, message = sample(kind)
    root = etree.fromstring(encode(message))
    assert root.tag == "XmlMsg"
    _check_order(root, message)


# The spec's fixed order, copied from the domain brief (not from the models).
SPEC_HEADER = [
    "ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
    "ArbitraryFileIdentifier", "ReferenceClassification", "SegmentOfResult", "ErrorCode", "ErrorMessage",
    "CharacterCodeIdentifier",
]  # fmt: skip
SPEC_BODY = [
    "ProcessingResultStatus", "ProcessingResultCode", "ProcessingResultMessage", "QualificationValidity",
    "QualificationConfirmSearchInfo", "PrescriptionIssueSelect", "ResultList",
]  # fmt: skip
SPEC_RESULT = [
    "InsuredCardClassification", "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber",
    "InsuredBranchNumber", "PersonalFamilyClassification", "InsuredName", "Name", "NameOfOther", "NameKana",
    "NameOfOtherKana", "Sex1", "Sex2", "Birthdate", "Address", "PostNumber", "InsuredCertificateIssuanceDate",
    "InsuredCardValidDate", "InsuredCardExpirationDate", "InsuredPartialContributionRatio",
    "PreschoolClassification", "ReasonOfLoss", "InsurerName", "QualificationDate", "DisqualificationDate",
    "ElderlyRecipientCertificateInfo", "LimitApplicationCertificateChanged",
    "LimitApplicationCertificateRelatedConsFlg",
    "LimitApplicationCertificateRelatedConsTime", "LimitApplicationCertificateRelatedInfo",
    "SpecificDiseasesCertificateRelatedConsFlg", "SpecificDiseasesCertificateRelatedConsTime",
    "SpecificDiseasesCertificateList", "SpecificHealthCheckupsInfoConsFlg",
    "SpecificHealthCheckupsInfoConsTime", "SpecificHealthCheckupsInfoAvailableTime", "PharmacistsInfoConsFlg",
    "PharmacistsInfoConsTime", "PharmacistsInfoAvailableTime", "DiagnosisInfoConsFlg",
    "DiagnosisInfoConsTime", "DiagnosisInfoAvailableTime", "OperationInfoConsFlg", "OperationInfoConsTime",
    "OperationInfoAvailableTime", "ReferenceNumber",
]  # fmt: skip


def _subsequence(tags: list[str], spec: list[str]) -> bool:
    return [t for t in spec if t in tags] == tags


def test_result_elements_follow_the_spec_order_of_the_domain_brief() -> None:
    root = etree.fromstring(encode(result_message()))
    assert _subsequence([c.tag for c in root.find("MessageHeader")], SPEC_HEADER)
    assert _subsequence([c.tag for c in root.find("MessageBody")], SPEC_BODY)
    for result in root.iterfind("MessageBody/ResultList/ResultOfQualificationConfirmation"):
        assert _subsequence([c.tag for c in result], SPEC_RESULT)


def test_lists_become_repeated_elements() -> None:
    root = etree.fromstring(encode(result_message()))
    assert len(root.findall("MessageBody/ResultList/ResultOfQualificationConfirmation")) == 2
    bulk = etree.fromstring(encode(bulk_result()))
    assert len(bulk.findall("MessageBody/BulkConfirmUnit")) == 2
    assert bulk.findtext("MessageHeader/NumberOfProcessingResult") == "2"


def test_absent_fields_are_omitted_and_codes_are_their_values() -> None:
    root = etree.fromstring(encode(number_request()))
    info = root.find("MessageBody/QualificationConfirmSearchInfo")
    assert info.find("ArbitraryIdentifier") is None
    assert info.findtext("LimitApplicationCertificateRelatedConsFlg") == "1"
    assert root.findtext("MessageHeader/ReferenceClassification") == "2"


# --- encodings -------------------------------------------------------------------------------


def test_utf8_output_declares_utf8() -> None:
    assert encode(result_message()).startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_shift_jis_output_really_is_shift_jis_and_keeps_the_replacement_mark_and_half_width_kana() -> None:
    data = encode(result_message(Charset.SHIFT_JIS), Charset.SHIFT_JIS)
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    text = data.decode("shift_jis")  # strict: every byte is valid Shift_JIS
    assert "髙●　太郎".replace("髙", "&#39641;") in text  # 髙 is not in JIS X 0208
    assert "●".encode("shift_jis") in data
    assert "ﾀｶﾊｼ ﾀﾛｳ".encode("shift_jis") in data
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_characters_shift_jis_lacks_become_character_references_and_come_back() -> None:
    message = result_message(Charset.SHIFT_JIS)
    data = encode(message, Charset.SHIFT_JIS)
    assert b"&#39641;" in data  # 髙
    result_list = decode(data, ResultMessage).MessageBody.ResultList
    assert result_list is not None
    assert result_list.ResultOfQualificationConfirmation[0].Name == "髙●　太郎"


@pytest.mark.parametrize("name", ["Shift_JIS", "shift-jis", "SJIS", "sjis", "cp932", "Windows-31J", "x-sjis"])
def test_shift_jis_aliases_used_by_clinic_software_are_accepted(name: str) -> None:
    data = request_xml(GOOD_SEARCH, f'<?xml version="1.0" encoding="{name}"?>').replace(
        b"K0042", "ﾃｽﾄ".encode("cp932")
    )
    search = decode(data, NumberCheckRequestMessage).MessageBody.QualificationConfirmSearchInfo
    assert search.InsuredIdentificationNumber == "ﾃｽﾄ"


def test_shift_jis_files_written_by_windows_with_cp932_characters_are_accepted() -> None:
    body = GOOD_SEARCH.replace("K0042", "①２")
    data = request_xml(body, '<?xml version="1.0" encoding="Shift_JIS"?>').decode().encode("cp932")
    search = decode(data, NumberCheckRequestMessage).MessageBody.QualificationConfirmSearchInfo
    assert search.InsuredIdentificationNumber == "①２"


def test_xml_without_declaration_is_read_as_utf8() -> None:
    data = request_xml(GOOD_SEARCH, "")
    assert (
        decode(data, NumberCheckRequestMessage).MessageBody.QualificationConfirmSearchInfo.Birthdate
        == "19800401"
    )


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + request_xml(GOOD_SEARCH)
    assert decode(data, NumberCheckRequestMessage).MessageHeader.MedicalInstitutionCode == "1312345678"


# --- leniency ---------------------------------------------------------------------------------


def test_whitespace_only_and_empty_optional_elements_are_absent() -> None:
    body = GOOD_SEARCH + "<InsuredCardSymbol>  \n </InsuredCardSymbol><InsuredBranchNumber/>"
    search = decode(request_xml(body), NumberCheckRequestMessage).MessageBody.QualificationConfirmSearchInfo
    assert search.InsuredCardSymbol is None
    assert search.InsuredBranchNumber is None


def test_surrounding_xml_whitespace_of_a_value_is_ignored() -> None:
    body = GOOD_SEARCH.replace("<Birthdate>19800401", "<Birthdate>\n  19800401  ")
    search = decode(request_xml(body), NumberCheckRequestMessage).MessageBody.QualificationConfirmSearchInfo
    assert search.Birthdate == "19800401"


def test_an_empty_optional_group_element_is_absent() -> None:
    data = encode(result_message())
    empty = data.split(b"<ResultList>")[0] + b"<ResultList>\n  </ResultList></MessageBody></XmlMsg>"
    assert decode(empty, ResultMessage).MessageBody.ResultList is None


# --- rejections -------------------------------------------------------------------------------


def test_an_oversized_message_is_refused_before_parsing() -> None:
    error = rejection(request_xml(GOOD_SEARCH), max_bytes=100)
    assert error.code == "xml_too_large"
    assert "100" in error.detail


def test_malformed_xml_is_refused_with_line_and_column() -> None:
    error = rejection(request_xml(GOOD_SEARCH).replace(b"</Birthdate>", b"</Birthday>"))
    assert error.code == "xml_malformed"
    assert "line 2" in error.detail


def test_a_dtd_is_refused() -> None:
    data = b'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [<!ELEMENT XmlMsg ANY>]>\n<XmlMsg/>'
    assert rejection(data).code == "xml_forbidden_construct"


def test_a_billion_laughs_document_is_refused() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    data = f'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [{entities}]>\n<XmlMsg>&lol9;</XmlMsg>'.encode()
    error = rejection(data)
    assert error.code == "xml_forbidden_construct"
    assert error.message_en.startswith("XML contains a forbidden construct")


def test_an_external_entity_is_refused() -> None:
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b"<XmlMsg>&xxe;</XmlMsg>"
    )
    error = rejection(data)
    assert error.code == "xml_forbidden_construct"
    assert "passwd" not in error.detail or "DTD" in error.detail


def test_invalid_utf8_is_refused_with_the_offending_bytes() -> None:
    data = request_xml(GOOD_SEARCH).replace(b"K0042", b"K0\xff42")
    error = rejection(data)
    assert error.code == "encoding_invalid"
    assert "ff" in error.detail


def test_shift_jis_bytes_declared_as_utf8_are_refused_with_a_hint() -> None:
    data = request_xml(GOOD_SEARCH.replace("K0042", "ﾃｽﾄ番号")).decode().encode("shift_jis")
    error = rejection(data)
    assert error.code == "encoding_invalid"
    assert "Shift_JIS" in error.detail


@pytest.mark.parametrize("bad", [b"\x81", b"\xff\xfe", b"\xf0\x40"], ids=["truncated", "stray", "gaiji"])
def test_bytes_invalid_in_the_declared_shift_jis_are_refused(bad: bytes) -> None:
    declaration = '<?xml version="1.0" encoding="Shift_JIS"?>'
    data = request_xml(GOOD_SEARCH, declaration).replace(b"K0042</", b"K0" + bad + b"</")
    error = rejection(data)
    assert error.code == "encoding_invalid"
    assert "Shift_JIS" in error.detail


def test_an_unknown_encoding_name_is_refused_with_the_accepted_names() -> None:
    error = rejection(request_xml(GOOD_SEARCH, '<?xml version="1.0" encoding="EUC-JP"?>'))
    assert error.code == "encoding_invalid"
    assert "EUC-JP" in error.detail and "Shift_JIS" in error.detail


def test_utf16_is_refused() -> None:
    data = request_xml(GOOD_SEARCH, '<?xml version="1.0" encoding="UTF-16"?>').decode().encode("utf-16")
    assert rejection(data).code == "encoding_invalid"


def test_an_unknown_element_is_skipped_with_a_note_not_refused() -> None:
    """Real clinic programs ignore elements they do not know; so do we when we read."""
    message, notes = xmlcodec.decode_noted(
        request_xml(GOOD_SEARCH + "<Nickname>taro</Nickname>"), NumberCheckRequestMessage
    )
    assert message.MessageBody.QualificationConfirmSearchInfo.Birthdate == "19800401"
    assert [n.path for n in notes] == ["XmlMsg/MessageBody/QualificationConfirmSearchInfo/Nickname"]
    assert "Nickname" in notes[0].ja and "Birthdate" in notes[0].en  # says what is known there


def test_an_unknown_element_with_children_anywhere_is_skipped() -> None:
    data = request_xml(GOOD_SEARCH).replace(
        b"<MessageHeader>", b"<MessageHeader><VendorInfo><Name>x</Name><Version>2</Version></VendorInfo>"
    )
    notes: list[xmlcodec.ReadNote] = []
    decode(data, NumberCheckRequestMessage, notes=notes)
    assert [n.path for n in notes] == ["XmlMsg/MessageHeader/VendorInfo"]


def test_a_repeated_single_element_is_still_refused() -> None:
    error = rejection(request_xml(GOOD_SEARCH + "<Birthdate>19800402</Birthdate>"))
    assert error.code == "schema_invalid" and "Birthdate" in error.detail


def test_a_missing_birthdate_is_refused_with_its_path() -> None:
    error = rejection(request_xml(GOOD_SEARCH.replace("<Birthdate>19800401</Birthdate>", "")))
    assert error.code == "schema_invalid"
    assert error.path == "XmlMsg/MessageBody/QualificationConfirmSearchInfo/Birthdate"
    assert "必須要素" in error.detail


def test_an_empty_required_element_counts_as_missing() -> None:
    error = rejection(
        request_xml(GOOD_SEARCH.replace("<Birthdate>19800401</Birthdate>", "<Birthdate> </Birthdate>"))
    )
    assert error.path == "XmlMsg/MessageBody/QualificationConfirmSearchInfo/Birthdate"


def test_a_bad_pattern_names_the_path_and_the_value() -> None:
    error = rejection(request_xml(GOOD_SEARCH.replace("19800401", "1980-04-01")))
    assert error.code == "schema_invalid"
    assert error.path == "XmlMsg/MessageBody/QualificationConfirmSearchInfo/Birthdate"
    assert "1980-04-01" in error.detail


def test_a_bad_code_value_lists_the_allowed_codes_with_labels() -> None:
    data = encode(result_message()).replace(
        b"<QualificationValidity>1</QualificationValidity>",
        b"<QualificationValidity>7</QualificationValidity>",
    )
    error = rejection(data, ResultMessage)
    assert error.code == "schema_invalid"
    assert error.path == "XmlMsg/MessageBody/QualificationValidity"
    assert "「7」" in error.detail
    assert (
        "1=有効" in error.detail
        and "5=複数該当" in error.detail
        and "4=no matching qualification" in error.detail
    )


def test_a_repeated_single_element_is_refused() -> None:
    error = rejection(request_xml(GOOD_SEARCH + "<Birthdate>19800401</Birthdate>"))
    assert error.code == "schema_invalid"
    assert "Birthdate" in error.detail


def test_the_root_must_be_xmlmsg() -> None:
    error = rejection(b"<Message/>")
    assert error.code == "schema_invalid"
    assert "XmlMsg" in error.detail


def test_errors_in_repeated_elements_name_their_position() -> None:
    data = encode(bulk_request()).replace(b"<Birthdate>20230115</Birthdate>", b"<Birthdate>2023</Birthdate>")
    error = rejection(data, BulkCheckRequestMessage)
    assert error.path == "XmlMsg/MessageBody/QualificationConfirmSearchInfo[2]/Birthdate"


def test_errors_offer_an_http_problem_body() -> None:
    problem = rejection(b"<XmlMsg>").problem()
    assert problem["status"] == 400
    assert problem["code"] == "xml_malformed"
    assert problem["title_ja"] and problem["title"] and problem["detail"]


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_message_survives_a_json_round_trip(kind: str) -> None:
    model, message = sample(kind)
    assert decode_json(message.model_dump_json(exclude_none=True), model) == message
    assert decode_json(message.model_dump_json().encode(), model) == message


def test_malformed_json_is_refused_with_line_and_column() -> None:
    with pytest.raises(MessageError) as caught:
        decode_json(b'{"MessageHeader": ', NumberCheckRequestMessage)
    assert caught.value.code == "json_malformed"
    assert "line 1" in caught.value.detail


def test_json_that_is_not_utf8_is_refused() -> None:
    data = number_request().model_dump_json().replace("4567", "ﾃｽﾄ").encode("shift_jis")
    with pytest.raises(MessageError) as caught:
        decode_json(data, NumberCheckRequestMessage)
    assert caught.value.code == "encoding_invalid"


def test_json_with_a_wrong_type_names_the_element_path() -> None:
    data = json.loads(number_request().model_dump_json())
    data["MessageBody"]["QualificationConfirmSearchInfo"]["Birthdate"] = 19800401
    with pytest.raises(MessageError) as caught:
        decode_json(json.dumps(data), NumberCheckRequestMessage)
    assert caught.value.code == "schema_invalid"
    assert caught.value.path == "MessageBody/QualificationConfirmSearchInfo/Birthdate"


def test_json_with_a_bad_code_lists_the_allowed_codes() -> None:
    data = json.loads(number_request().model_dump_json())
    data["MessageHeader"]["ReferenceClassification"] = "9"
    with pytest.raises(MessageError) as caught:
        decode_json(json.dumps(data), NumberCheckRequestMessage)
    assert caught.value.path == "MessageHeader/ReferenceClassification"
    assert "1=マイナンバーカード" in caught.value.detail


def test_json_with_an_unknown_field_is_refused() -> None:
    data = json.loads(number_request().model_dump_json())
    data["MessageBody"]["Extra"] = 1
    with pytest.raises(MessageError) as caught:
        decode_json(json.dumps(data), NumberCheckRequestMessage)
    assert caught.value.path == "MessageBody/Extra"


def test_json_top_level_must_be_an_object() -> None:
    with pytest.raises(MessageError) as caught:
        decode_json("[]", NumberCheckRequestMessage)
    assert caught.value.code == "schema_invalid"


# --- XSD -------------------------------------------------------------------------------------


def test_xsd_rejects_elements_out_of_the_spec_order() -> None:
    data = encode(number_request())
    swapped = data.replace(b"<InsurerNumber>06139999</InsurerNumber>", b"").replace(
        b"</QualificationConfirmSearchInfo>",
        b"<InsurerNumber>06139999</InsurerNumber></QualificationConfirmSearchInfo>",
    )
    assert decode(swapped, NumberCheckRequestMessage) == number_request()  # decode is order-lenient
    with pytest.raises(MessageError) as caught:
        validate(swapped, "OQSsiquc01req")
    assert caught.value.code == "schema_invalid"
    assert "Expected is ( InsurerNumber )" in caught.value.detail
    assert caught.value.path == "XmlMsg/MessageBody/QualificationConfirmSearchInfo/InsuredCardSymbol"


def test_xsd_rejects_a_code_outside_its_table() -> None:
    data = encode(result_message()).replace(b"<Sex1>1</Sex1>", b"<Sex1>4</Sex1>", 1)
    with pytest.raises(MessageError) as caught:
        validate(data, "OQSsiquc01res")
    assert "Sex1" in caught.value.detail


def test_xsd_accepts_an_arbitrary_identifier_in_a_single_check() -> None:
    """Real parsers know ArbitraryIdentifier in the single check's echo; we accept and echo it."""
    message = number_request()
    body = NumberCheckRequestBody(
        QualificationConfirmSearchInfo=SEARCH.model_copy(update={"ArbitraryIdentifier": "x"})
    )
    validate(encode(message.model_copy(update={"MessageBody": body})), "OQSsiquc01req")


def test_xsd_rejects_a_number_check_without_the_limit_consent_flag() -> None:
    """We always send the flag (real clinic programs do), so our requests are judged with it."""
    body = NumberCheckRequestBody(
        QualificationConfirmSearchInfo=SEARCH.model_copy(
            update={"LimitApplicationCertificateRelatedConsFlg": None}
        )
    )
    with pytest.raises(MessageError) as caught:
        validate(encode(number_request().model_copy(update={"MessageBody": body})), "OQSsiquc01req")
    assert "LimitApplicationCertificateRelatedConsFlg" in caught.value.detail


def test_validate_applies_the_same_safety_checks() -> None:
    data = b'<?xml version="1.0"?>\n<!DOCTYPE XmlMsg [<!ENTITY x SYSTEM "file:///etc/passwd">]><XmlMsg>&x;</XmlMsg>'
    with pytest.raises(MessageError) as caught:
        validate(data, "OQSsiquc01req")
    assert caught.value.code == "xml_forbidden_construct"


# Every code enumeration in the XSD, and the enum (or value set) it must equal.
XSD_ENUMS: dict[str, set[str]] = {
    "ProcessingResultStatusCode": {c.value for c in codes.ProcessingResultStatus},
    "ProcessingResultCodeType": {c.value for c in codes.ProcessingResultCode},
    "QualificationValidityCode": {c.value for c in codes.QualificationValidity},
    "SegmentOfResultCode": {c.value for c in codes.SegmentOfResult},
    "ReferenceClassificationCode": {c.value for c in codes.ReferenceClassification},
    "CharacterCodeIdentifierCode": {c.value for c in codes.CharacterCodeIdentifier},
    "InsuredCardClassificationCode": {c.value for c in codes.InsuredCardClassification},
    "PersonalFamilyClassificationCode": {c.value for c in codes.PersonalFamilyClassification},
    "SexCode": {c.value for c in codes.Sex},
    "ReasonOfLossCode": {c.value for c in codes.ReasonOfLoss},
    "PreschoolClassificationCode": {c.value for c in codes.PreschoolClassification},
    # 2 (同意有効期限切れ) exists for 特定疾病 only
    "ConsFlgCode": {c.value for c in codes.ConsentFlag if c is not codes.ConsentFlag.CONSENT_EXPIRED},
    "SpecificDiseasesConsFlgCode": {c.value for c in codes.ConsentFlag},
    "PrescriptionIssueSelectCode": {c.value for c in codes.PrescriptionIssueSelect},
    "LimitApplicationCertificateClassificationCode": {
        c.value for c in codes.LimitApplicationCertificateClassification
    },
    "LimitApplicationCertificateClassificationFlagCode": {
        c.value for c in codes.LimitApplicationCertificateClassificationFlag
    },
    "SpecificDiseasesDiseaseCategoryCode": {c.value for c in codes.SpecificDiseaseCategory},
    "BulkQueryErrorCode": {codes.BulkCode.QUERY_INVALID.value},
}


def _xsd_enumerations() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in SCHEMA_DIR.glob("*.xsd"):
        for simple in etree.parse(str(path)).iter(f"{XS}simpleType"):
            values = {e.get("value") for e in simple.iter(f"{XS}enumeration")}
            if values:
                found[simple.get("name") or f"anonymous in {path.name}"] = values
    return found


def test_every_xsd_code_enumeration_equals_its_enum_in_codes_py() -> None:
    assert _xsd_enumerations() == XSD_ENUMS


def test_every_code_table_of_the_wire_models_has_an_xsd_enumeration() -> None:
    wire_tables = {
        codes.ProcessingResultStatus, codes.QualificationValidity, codes.SegmentOfResult,
        codes.ReferenceClassification, codes.CharacterCodeIdentifier, codes.InsuredCardClassification,
        codes.PersonalFamilyClassification, codes.Sex, codes.ReasonOfLoss, codes.PreschoolClassification,
        codes.ConsentFlag, codes.PrescriptionIssueSelect, codes.LimitApplicationCertificateClassification,
        codes.LimitApplicationCertificateClassificationFlag, codes.SpecificDiseaseCategory,
    }  # fmt: skip
    covered = {frozenset(values) for values in XSD_ENUMS.values()}
    for table in wire_tables:
        assert frozenset(c.value for c in table) in covered, table.__name__


def _enum_annotations(model: type[BaseModel], seen: set[type[Enum]]) -> None:
    for field in model.model_fields.values():
        for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
            inner = getattr(arg, "__args__", (arg,))[0] if getattr(arg, "__origin__", None) is list else arg
            if isinstance(inner, type) and issubclass(inner, Enum):
                seen.add(inner)
            elif isinstance(inner, type) and issubclass(inner, BaseModel):
                _enum_annotations(inner, seen)


def test_the_wire_models_use_no_code_table_the_xsd_does_not_know() -> None:
    seen: set[type[Enum]] = set()
    for model, _ in MESSAGES.values():
        _enum_annotations(model, seen)
    covered = {frozenset(values) for values in XSD_ENUMS.values()}
    assert seen and all(frozenset(m.value for m in table) in covered for table in seen)


# --- hostile input ---------------------------------------------------------------------------


def json_rejection(text: str, model: type[BaseModel] = NumberCheckRequestMessage) -> MessageError:
    with pytest.raises(MessageError) as caught:
        decode_json(text, model)
    return caught.value


def request_json(**search: Any) -> str:
    message = number_request().model_dump(mode="json", exclude_none=True)
    message["MessageBody"]["QualificationConfirmSearchInfo"].update(search)
    return json.dumps(message, ensure_ascii=True)


@pytest.mark.parametrize("text", ["[" * 100_000, '{"MessageHeader": ' + '{"a": ' * 100_000])
def test_json_nested_too_deeply_is_malformed_not_a_crash(text: str) -> None:
    error = json_rejection(text)
    assert error.code == "json_malformed" and "nested too deeply" in error.detail and "入れ子" in error.detail


@pytest.mark.parametrize(("field", "char"), [("InsuredIdentificationNumber", "\x00"),
                                             ("InsuredCardSymbol", "\x1b"), ("ArbitraryIdentifier", "\x85"),
                                             ("InsuredIdentificationNumber", "\ud800")])
def test_control_characters_and_lone_surrogates_are_refused_naming_the_field(field: str, char: str) -> None:
    error = json_rejection(request_json(**{field: f"45{char}67"}))
    assert error.code == "character_invalid"
    assert error.path == f"MessageBody/QualificationConfirmSearchInfo/{field}"
    assert f"U+{ord(char):04X}" in error.detail and "使用できない文字" in error.detail
    error.detail.encode("utf-8")  # always encodable, whatever was sent


def test_a_control_character_in_xml_is_refused_before_the_model_takes_it() -> None:
    error = rejection(encode(number_request()).replace(b"<InsuredIdentificationNumber>4567",
                                                       b"<InsuredIdentificationNumber>45&#x85;67"))
    assert error.code == "character_invalid" and "U+0085" in error.detail


def test_a_surrogate_in_a_pattern_field_gives_an_encodable_detail() -> None:
    error = json_rejection(request_json(InsurerNumber="0613\ud800"))
    assert "InsurerNumber" in error.detail
    error.detail.encode("utf-8")


@pytest.mark.parametrize(("field", "value"), [
    ("Birthdate", "１９８００４０１"), ("InsurerNumber", "０６１３９９９９"), ("InsuredBranchNumber", "０１"),
])
def test_full_width_digits_ask_for_half_width_ones(field: str, value: str) -> None:
    error = json_rejection(request_json(**{field: value}))
    assert error.code == "schema_invalid" and field in error.detail
    assert "半角数字" in error.detail and "half-width digits" in error.detail


@pytest.mark.parametrize(("name", "expected"), [
    ("utf-8", Charset.UTF8), ("UTF8", Charset.UTF8), ("utf_8", Charset.UTF8), ("0", Charset.UTF8),
    ("shift_jis", Charset.SHIFT_JIS), ("Shift-JIS", Charset.SHIFT_JIS), ("sjis", Charset.SHIFT_JIS),
    ("cp932", Charset.SHIFT_JIS), ("Windows-31J", Charset.SHIFT_JIS), ("1", Charset.SHIFT_JIS),
    ("latin-1", None), ("utf-16", None), ("", None),
])
def test_encoding_names_map_to_the_character_code_identifier(name: str, expected: Charset | None) -> None:
    assert xmlcodec.character_code(name) is expected
