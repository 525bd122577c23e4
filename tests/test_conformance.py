"""Conformance: every answer `onshi examples` writes passes what real clinic programs require.

The rules below are OUR OWN restatement of what two open-source clinic programs demand of an
OQSsiquc01res file. We read their code to learn the rules; none of it is copied here.

Sources read (public repositories):
- hangilc/myclinic-ts, ``packages/onshi-result`` (TypeScript): ``result.ts`` (``OnshiResult.cast``),
  ``XmlMsg.ts``, ``MessageHeader.ts``, ``MessageBody.ts``, ``QualificationConfirmSearchInfo.ts``,
  ``ResultItem.ts``, ``ResultOfQualificationConfirmation.ts``, ``ElderlyRecipientCertificateInfo.ts``,
  ``LimitApplicationCertificateRelatedInfo.ts``, ``SpecificDiseasesCertificateInfo.ts`` (what each
  ``is...Interface`` check requires or allows), ``codes.ts`` (the code tables its getters accept),
  ``util.ts`` (dates and times cut as YYYYMMDD / YYYYMMDDHHmmss, ratios read with parseInt); and
  the app's face-file reader ``onshi-face`` (fast-xml-parser with digit strings kept as text, each
  ``ResultList`` wrapped into an array of ``{ResultOfQualificationConfirmation}``) with its test
  fixture, a real 2023 face file (values anonymised).
- Sotatek-ChinhVu/smart-test, ``UseCase/XmlDTD/OnlineConfirmHistoryData/*.cs``,
  ``UseCase/XmlDTD/QCBIDXmlMsgResponse/QCBIDXmlMsgResponse.cs`` (C# XmlSerializer DTOs of an EMR):
  element names, one ResultOfQualificationConfirmation per ResultList, every value a string.

Rules (each test names the ones it checks):
- R1 root ``XmlMsg`` with one ``MessageHeader`` and one ``MessageBody`` (TS XmlMsg).
- R2 header: ProcessExecutionTime, QualificationConfirmationDate, MedicalInstitutionCode,
  ReferenceClassification, SegmentOfResult, CharacterCodeIdentifier required as text;
  ArbitraryFileIdentifier, ErrorCode, ErrorMessage optional text (TS MessageHeader).
- R3 body: ProcessingResultStatus required; PrescriptionIssueSelect, ProcessingResultCode,
  ProcessingResultMessage, QualificationValidity optional text; ResultList absent or a list (TS).
- R4 the echoed QualificationConfirmSearchInfo: InsurerNumber, InsuredIdentificationNumber,
  Birthdate and LimitApplicationCertificateRelatedConsFlg required; InsuredCardSymbol,
  InsuredBranchNumber, ArbitraryIdentifier optional (TS QualificationConfirmSearchInfo). A number
  check's answer carries the echo (ours: the C# DTO maps it; clinics match answer to query by it).
- R5 each ResultList holds exactly one ResultOfQualificationConfirmation (two would become an
  array under fast-xml-parser, which the TS check refuses; the C# DTO holds one).
- R6 ResultOfQualificationConfirmation: InsuredCardClassification, Name, Sex1, Birthdate and
  InsurerName required; every other known element optional text; ElderlyRecipientCertificateInfo,
  LimitApplicationCertificateRelatedInfo, SpecificDiseasesCertificateList parts as below (TS).
- R7 code values from the TS code tables (ReferenceClassification, SegmentOfResult,
  CharacterCodeIdentifier, ProcessingResultStatus, QualificationValidity, PrescriptionIssueSelect,
  InsuredCardClassification, PersonalFamilyClassification, Sex, PreschoolClassification,
  ReasonOfLoss, LimitApplicationCertificateRelatedConsFlg, SpecificDiseasesCertificateRelatedConsFlg,
  LimitApplicationCertificateClassification / ...Flag, SpecificDiseasesDiseaseCategory). One
  documented divergence: InsuredCardClassification 08 (資格確認書) is our value (onshi/codes.py).
- R8 text formats: dates YYYYMMDD that are real dates, times YYYYMMDDHHmmss, leading zeros kept
  (codes "01", ratios "030"), ratios and self-pay amounts digits only (TS util).
- R9 formats seen in real answers (the 2023 face file): a 6-digit 国保 InsurerNumber right-aligned
  with two spaces ("  123456"), else 8 digits; PostNumber ddd-dddd; a full-width space, never a
  half-width one, between family and given name in Name / InsuredName / NameOfOther.
- R10 CharacterCodeIdentifier matches the file's declared encoding (0 UTF-8, 1 Shift_JIS).
The bulk answer (OQSmuquc02res): neither program parses it, so we hold each unit to the same rules where
the same elements appear: the echo (R4), the unit's status and codes (R3, R7, R8) and each
ResultOfQualificationConfirmation (R6-R9), with R1, the shared header elements (R2) and R10.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from cardreader_emulator import results
from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier
from onshi.messages import ResultMessage
from server.examples import write_examples
from tests.server_helpers import number_check_message, post

# --- the rules as data -------------------------------------------------------------------------

HEADER_REQUIRED = (
    "ProcessExecutionTime",
    "QualificationConfirmationDate",
    "MedicalInstitutionCode",
    "ReferenceClassification",
    "SegmentOfResult",
    "CharacterCodeIdentifier",
)
HEADER_OPTIONAL = ("ArbitraryFileIdentifier", "ErrorCode", "ErrorMessage")
BODY_OPTIONAL = (
    "PrescriptionIssueSelect",
    "ProcessingResultCode",
    "ProcessingResultMessage",
    "QualificationValidity",
)
ECHO_REQUIRED = (
    "InsurerNumber",
    "InsuredIdentificationNumber",
    "Birthdate",
    "LimitApplicationCertificateRelatedConsFlg",
)
ECHO_OPTIONAL = ("InsuredCardSymbol", "InsuredBranchNumber", "ArbitraryIdentifier")
RESULT_REQUIRED = ("InsuredCardClassification", "Name", "Sex1", "Birthdate", "InsurerName")
RESULT_OPTIONAL = (
    "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber", "InsuredBranchNumber",
    "PersonalFamilyClassification", "InsuredName", "NameOfOther", "NameKana", "NameOfOtherKana", "Sex2",
    "Address", "PostNumber", "InsuredCertificateIssuanceDate", "InsuredCardValidDate",
    "InsuredCardExpirationDate", "InsuredPartialContributionRatio", "PreschoolClassification", "ReasonOfLoss",
    "LimitApplicationCertificateRelatedConsFlg", "LimitApplicationCertificateRelatedConsTime",
    "SpecificDiseasesCertificateRelatedConsFlg", "SpecificDiseasesCertificateRelatedConsTime",
)  # fmt: skip
ELDERLY_OPTIONAL = (
    "ElderlyRecipientCertificateDate",
    "ElderlyRecipientValidStartDate",
    "ElderlyRecipientValidEndDate",
    "ElderlyRecipientContributionRatio",
)
LIMIT_OPTIONAL = (
    "LimitApplicationCertificateClassification",
    "LimitApplicationCertificateClassificationFlag",
    "LimitApplicationCertificateDate",
    "LimitApplicationCertificateValidStartDate",
    "LimitApplicationCertificateValidEndDate",
    "LimitApplicationCertificateLongTermDate",
)
DISEASE_OPTIONAL = (
    "SpecificDiseasesDiseaseCategory",
    "SpecificDiseasesCertificateDate",
    "SpecificDiseasesValidStartDate",
    "SpecificDiseasesValidEndDate",
    "SpecificDiseasesSelfPay",
)

CODES: dict[str, set[str]] = {
    "ReferenceClassification": {"1", "2"},
    "SegmentOfResult": {"1", "2", "9"},
    "CharacterCodeIdentifier": {"0", "1"},
    "ProcessingResultStatus": {"1", "2"},
    "QualificationValidity": {"1", "2", "3", "4", "5"},
    "PrescriptionIssueSelect": {"1", "2"},
    # 01-07 from their table; 08 is our 資格確認書 value (documented divergence, see R7).
    "InsuredCardClassification": {"01", "02", "03", "04", "05", "06", "07", "08"},
    "PersonalFamilyClassification": {"1", "2"},
    "Sex1": {"1", "2", "3"},
    "Sex2": {"1", "2", "3"},
    "PreschoolClassification": {"1"},
    "ReasonOfLoss": {"01", "02", "03", "99"},
    "LimitApplicationCertificateRelatedConsFlg": {"0", "1"},
    "SpecificDiseasesCertificateRelatedConsFlg": {"0", "1", "2"},
    "LimitApplicationCertificateClassification": {"01", "02", "03"},
    "LimitApplicationCertificateClassificationFlag": {f"A0{i}" for i in range(1, 7)}
    | {f"B{i:02d}" for i in range(1, 11)},
    "SpecificDiseasesDiseaseCategory": {"1", "2", "3"},
}
DATE_ELEMENTS = {
    "QualificationConfirmationDate", "Birthdate", "InsuredCertificateIssuanceDate", "InsuredCardValidDate",
    "InsuredCardExpirationDate", "QualificationDate", "DisqualificationDate", *ELDERLY_OPTIONAL[:3],
    *LIMIT_OPTIONAL[2:], *DISEASE_OPTIONAL[1:4],
}  # fmt: skip
TIME_ELEMENTS = {"ProcessExecutionTime"} | {
    f"{prefix}{suffix}"
    for prefix in (
        "LimitApplicationCertificateRelated",
        "SpecificDiseasesCertificateRelated",
        "SpecificHealthCheckupsInfo",
        "PharmacistsInfo",
        "DiagnosisInfo",
        "OperationInfo",
    )
    for suffix in ("ConsTime", "AvailableTime")
}
DIGITS_ELEMENTS = {
    "InsuredPartialContributionRatio",
    "ElderlyRecipientContributionRatio",
    "SpecificDiseasesSelfPay",
    "MedicalInstitutionCode",
    "InsuredBranchNumber",
}
RATIO_ELEMENTS = {"InsuredPartialContributionRatio", "ElderlyRecipientContributionRatio"}
NAME_ELEMENTS = ("Name", "InsuredName", "NameOfOther")
DECLARED = re.compile(rb'^<\?xml[^>]*encoding="([^"]+)"')

# --- reading as they read: an object tree of strings, repeated elements become lists --------------

Node = str | dict[str, Any] | list[Any]


def as_object(element: etree._Element) -> Node:
    """The element as fast-xml-parser hands it over: text (trimmed, digits kept as text) or an object
    whose repeated children are lists."""
    if len(element) == 0:
        return (element.text or "").strip()
    obj: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        value = as_object(child)
        if child.tag in obj:
            previous = obj[child.tag]
            obj[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            obj[child.tag] = value
    return obj


class Broken(AssertionError):
    pass


def need_object(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise Broken(f"{where}: an element with child elements expected, got {node!r}")
    return node


def strings(obj: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...], where: str) -> None:
    for name in required:
        if not isinstance(obj.get(name), str):
            raise Broken(f"{where}/{name}: required text, got {obj.get(name)!r}")
    for name in optional:
        if name in obj and not isinstance(obj[name], str):
            raise Broken(f"{where}/{name}: text expected (one element), got {obj[name]!r}")


def formats(obj: dict[str, Any], where: str) -> None:
    """R7, R8, R9 for every text child of ``obj``."""
    for name, value in obj.items():
        if not isinstance(value, str):
            continue
        path = f"{where}/{name}"
        if value == "":
            raise Broken(f"{path}: an empty element (absent values are absent elements)")
        if name in CODES and value not in CODES[name]:
            raise Broken(f"{path}: {value!r} is not in their code table {sorted(CODES[name])}")
        if name in DATE_ELEMENTS:
            assert re.fullmatch(r"[0-9]{8}", value), f"{path}: {value!r} is not YYYYMMDD"
            datetime.strptime(value, "%Y%m%d")
        if name in TIME_ELEMENTS:
            assert re.fullmatch(r"[0-9]{14}", value), f"{path}: {value!r} is not YYYYMMDDHHmmss"
            datetime.strptime(value, "%Y%m%d%H%M%S")
        if name in DIGITS_ELEMENTS:
            assert re.fullmatch(r"[0-9]+", value), f"{path}: {value!r} is not digits"
        if name in RATIO_ELEMENTS:
            assert re.fullmatch(r"[0-9]{3}", value), f"{path}: {value!r} is not a 3-digit percent"


def check_result(roqc: Any, where: str) -> None:
    """R6-R9 for one ResultOfQualificationConfirmation."""
    obj = need_object(roqc, where)
    strings(obj, RESULT_REQUIRED, RESULT_OPTIONAL, where)
    formats(obj, where)
    for name in NAME_ELEMENTS:
        if name in obj:
            assert " " not in obj[name], f"{where}/{name}: {obj[name]!r} has a half-width space"
    if "PostNumber" in obj:
        assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", obj["PostNumber"]), (
            f"{where}/PostNumber {obj['PostNumber']!r}"
        )
    if "ElderlyRecipientCertificateInfo" in obj:
        elderly = need_object(
            obj["ElderlyRecipientCertificateInfo"], f"{where}/ElderlyRecipientCertificateInfo"
        )
        strings(elderly, (), ELDERLY_OPTIONAL, f"{where}/ElderlyRecipientCertificateInfo")
        formats(elderly, f"{where}/ElderlyRecipientCertificateInfo")
    if "LimitApplicationCertificateRelatedInfo" in obj:
        limit = need_object(
            obj["LimitApplicationCertificateRelatedInfo"], f"{where}/LimitApplicationCertificateRelatedInfo"
        )
        strings(limit, (), LIMIT_OPTIONAL, f"{where}/LimitApplicationCertificateRelatedInfo")
        formats(limit, f"{where}/LimitApplicationCertificateRelatedInfo")
    if "SpecificDiseasesCertificateList" in obj:
        listed = need_object(
            obj["SpecificDiseasesCertificateList"], f"{where}/SpecificDiseasesCertificateList"
        )
        infos = listed.get("SpecificDiseasesCertificateInfo")
        for info in infos if isinstance(infos, list) else [infos]:
            part = need_object(info, f"{where}/SpecificDiseasesCertificateInfo")
            strings(part, (), DISEASE_OPTIONAL, f"{where}/SpecificDiseasesCertificateInfo")
            formats(part, f"{where}/SpecificDiseasesCertificateInfo")


def insurer_number_as_written(parent: etree._Element, where: str) -> None:
    """R9 on the text as written (fast-xml-parser trims; the C# DTOs see it as written). No real
    8-digit insurer number starts with 00: that would be a zero-padded 国保 number."""
    raw_number = parent.findtext("ResultOfQualificationConfirmation/InsurerNumber")
    if raw_number is not None:
        assert re.fullmatch(r"  [0-9]{6}|(?!00)[0-9]{8}", raw_number), f"{where}/InsurerNumber {raw_number!r}"


def check_file(data: bytes, name: str) -> dict[str, Any]:
    """Every rule R1-R10 for one OQSsiquc01res file; answers the object tree."""
    root = etree.fromstring(data)
    assert root.tag == "XmlMsg", f"{name}: root {root.tag}"  # R1
    tree = need_object(as_object(root), name)
    header = need_object(tree.get("MessageHeader"), f"{name}/MessageHeader")
    body = need_object(tree.get("MessageBody"), f"{name}/MessageBody")
    strings(header, HEADER_REQUIRED, HEADER_OPTIONAL, f"{name}/MessageHeader")  # R2
    formats(header, f"{name}/MessageHeader")
    strings(body, ("ProcessingResultStatus",), BODY_OPTIONAL, f"{name}/MessageBody")  # R3
    formats(body, f"{name}/MessageBody")
    declared = DECLARED.match(data)
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    assert header["CharacterCodeIdentifier"] == ("1" if encoding == "shift_jis" else "0"), name  # R10
    if header["ReferenceClassification"] == "2":  # R4: a number check echoes its query
        assert "QualificationConfirmSearchInfo" in body, f"{name}: a number check's answer without the echo"
    if "QualificationConfirmSearchInfo" in body:
        echo = need_object(body["QualificationConfirmSearchInfo"], f"{name}/QualificationConfirmSearchInfo")
        strings(echo, ECHO_REQUIRED, ECHO_OPTIONAL, f"{name}/QualificationConfirmSearchInfo")
        formats(echo, f"{name}/QualificationConfirmSearchInfo")
    lists = body.get("ResultList")
    lists = [] if lists is None else lists if isinstance(lists, list) else [lists]
    raw_lists = root.findall("MessageBody/ResultList")
    for index, (item, raw) in enumerate(zip(lists, raw_lists, strict=True), start=1):
        where = f"{name}/ResultList[{index}]/ResultOfQualificationConfirmation"
        roqc = need_object(item, f"{name}/ResultList[{index}]").get("ResultOfQualificationConfirmation")
        assert not isinstance(roqc, list), f"{where}: more than one in one ResultList (R5)"
        insurer_number_as_written(raw, where)
        check_result(roqc, where)
    return tree


# --- the examples -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("conformance")
    write_examples(directory)
    return directory


def answers(directory: Path) -> Iterator[Path]:
    yield from sorted(directory.rglob("OQSsiquc01res*.xml"))


def test_every_single_check_answer_meets_every_rule_in_both_encodings(examples: Path) -> None:
    """R1-R10 for each OQSsiquc01res*.xml (number checks and face files, UTF-8 and Shift_JIS)."""
    files = list(answers(examples))
    sjis = [f for f in files if f.stem.endswith("_sjis")]
    number = [f for f in files if "_face_" not in f.name]
    assert len(files) >= 100 and len(sjis) * 2 == len(files) and number
    failures = []
    for path in files:
        try:
            check_file(path.read_bytes(), str(path.relative_to(examples)))
        except AssertionError as exc:
            failures.append(f"{path.relative_to(examples)}: {exc}")
    assert not failures, "\n".join(failures[:20])


def test_every_number_check_answer_echoes_the_consent_flag_the_request_sent(examples: Path) -> None:
    """R4 against the request actually sent, not just its presence."""
    for request in sorted(examples.rglob("OQSsiquc01req_*.xml")):
        sent = etree.fromstring(request.read_bytes()).find("MessageBody/QualificationConfirmSearchInfo")
        flag = sent.findtext("LimitApplicationCertificateRelatedConsFlg")
        assert flag in ("0", "1"), f"{request.name}: our request must always carry the flag"
        for suffix in ("", "_sjis"):
            answer = request.with_name(request.name.replace("req_", "res_").replace(".xml", f"{suffix}.xml"))
            echo = etree.fromstring(answer.read_bytes()).find("MessageBody/QualificationConfirmSearchInfo")
            assert echo is not None and echo.findtext("LimitApplicationCertificateRelatedConsFlg") == flag


def test_the_json_answers_carry_the_same_echo(examples: Path) -> None:
    for path in sorted(examples.rglob("OQSsiquc01res_*.json")):
        echo = json.loads(path.read_text("utf-8"))["result"]["MessageBody"]["QualificationConfirmSearchInfo"]
        assert echo["LimitApplicationCertificateRelatedConsFlg"] in ("0", "1"), path.name


def test_every_json_answer_is_the_message_models_json_element_for_element(examples: Path) -> None:
    """The served JSON (number, card and phone checks) is written without building the message models:
    read as the model, it must come out the same, element order included."""
    paths = sorted([*examples.rglob("OQSsiquc01res_*.json"), *examples.rglob("*-check-answer_*.json")])
    assert len(paths) >= 30
    for path in paths:
        served = json.loads(path.read_text("utf-8"))["result"]
        as_model = ResultMessage.model_validate(served).model_dump(mode="json", exclude_none=True)
        assert json.dumps(as_model, ensure_ascii=False) == json.dumps(served, ensure_ascii=False), path.name


@pytest.mark.parametrize("broken", [
    ("<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>\n    </Qual",
     "</Qual"),
    ("<InsurerName>新宿区国民健康保険</InsurerName>", ""),
    ("<PostNumber>169-0075</PostNumber>", "<PostNumber>1690075</PostNumber>"),
    ("<Name>山本　和子</Name>", "<Name>山本 和子</Name>"),
    ("<InsurerNumber>  138040</InsurerNumber>", "<InsurerNumber>00138040</InsurerNumber>"),
    ("<Sex1>2</Sex1>", "<Sex1>2</Sex1><Sex1>2</Sex1>"),
    ("<Birthdate>19530901</Birthdate>", "<Birthdate>1953-09-01</Birthdate>"),
    ("<InsuredCardClassification>01<", "<InsuredCardClassification>1<"),
], ids=["echo-without-flag", "no-insurer-name", "post-number-without-hyphen", "half-width-name-space",
        "kokuho-zero-padded", "repeated-sex", "dashed-date", "code-without-leading-zero"])  # fmt: skip
def test_the_rules_catch_what_real_parsers_refuse(examples: Path, broken: tuple[str, str]) -> None:
    """The checks can fail: each known refusal, planted in a good answer, is caught."""
    good = (examples / "elderly-70-74" / "OQSsiquc01res_elderly-70-74.xml").read_bytes()
    check_file(good, "good")
    old, new = (part.encode("utf-8") for part in broken)
    assert old in good
    with pytest.raises(AssertionError):
        check_file(good.replace(old, new, 1), "broken")


# --- the bulk answer (OQSmuquc02res) ----------------------------------------------------------------

BULK_HEADER_REQUIRED = ("ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
                        "SegmentOfResult", "CharacterCodeIdentifier")  # fmt: skip
UNIT_OPTIONAL = ("QualificationValidity", "ProcessingResultCode", "ProcessingResultMessage",
                 "ReferenceNumber")


def check_bulk_file(data: bytes, name: str) -> int:
    """R1, R2 (the bulk header's shared part), R4 on each unit's echo, R6-R9 on each unit's
    ResultOfQualificationConfirmation (the same element the parsers read in a single answer), R10;
    answers the number of units checked."""
    root = etree.fromstring(data)
    assert root.tag == "XmlMsg", f"{name}: root {root.tag}"
    tree = need_object(as_object(root), name)
    header = need_object(tree.get("MessageHeader"), f"{name}/MessageHeader")
    for element in BULK_HEADER_REQUIRED:
        assert isinstance(header.get(element), str), f"{name}/MessageHeader/{element} missing"
    formats({k: v for k, v in header.items() if k in BULK_HEADER_REQUIRED}, f"{name}/MessageHeader")
    declared = DECLARED.match(data)
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    assert header["CharacterCodeIdentifier"] == ("1" if encoding == "shift_jis" else "0"), name
    body = need_object(tree.get("MessageBody"), f"{name}/MessageBody")
    units = body.get("BulkConfirmUnit")
    units = [] if units is None else units if isinstance(units, list) else [units]
    raw_units = root.findall("MessageBody/BulkConfirmUnit")
    for index, (unit, raw) in enumerate(zip(units, raw_units, strict=True), start=1):
        where = f"{name}/BulkConfirmUnit[{index}]"
        obj = need_object(unit, where)
        at = f"{where}/QualificationConfirmSearchInfo"
        echo = need_object(obj.get("QualificationConfirmSearchInfo"), at)
        strings(echo, ECHO_REQUIRED, ECHO_OPTIONAL, at)
        formats(echo, at)
        parts = {k: v for k, v in obj.items() if k in ("ProcessingResultStatus", *UNIT_OPTIONAL)}
        strings(parts, ("ProcessingResultStatus",), UNIT_OPTIONAL, where)
        formats(parts, where)
        if "ResultOfQualificationConfirmation" in obj:
            insurer_number_as_written(raw, where)
            check_result(obj["ResultOfQualificationConfirmation"],
                         f"{where}/ResultOfQualificationConfirmation")
    return len(units)


@pytest.mark.parametrize("name", ["OQSmuquc02res_bulk.xml", "OQSmuquc02res_bulk_sjis.xml"])
def test_every_unit_of_the_bulk_answer_meets_the_single_answer_rules(examples: Path, name: str) -> None:
    assert check_bulk_file((examples / name).read_bytes(), name) >= 30


def test_the_bulk_rules_can_fail(examples: Path) -> None:
    good = (examples / "OQSmuquc02res_bulk.xml").read_bytes()
    for old, new in (("<Name>山本　和子</Name>", "<Name>山本 和子</Name>"),
                     ("<InsurerNumber>  138040</InsurerNumber>", "<InsurerNumber>00138040</InsurerNumber>"),
                     ("<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>"
                      "\n        <ArbitraryIdentifier>elderly-70-74", "<ArbitraryIdentifier>elderly-70-74")):
        assert old.encode() in good, old
        with pytest.raises(AssertionError):
            check_bulk_file(good.replace(old.encode(), new.encode(), 1), "broken")


# --- the reader's own result files ------------------------------------------------------------------


def card_answers(examples: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(examples.rglob("card-check-answer_*.json"))]


@pytest.mark.parametrize(
    "encoding", [CharacterCodeIdentifier.UTF8, CharacterCodeIdentifier.SHIFT_JIS], ids=["utf-8", "shift_jis"]
)
def test_face_files_in_the_real_readers_order_meet_every_rule(
    examples: Path, tmp_path: Path, encoding: CharacterCodeIdentifier
) -> None:
    for answer in card_answers(examples):
        path = results.write_result_file(tmp_path, answer["result"], encoding, order="reader")
        data = path.read_bytes()
        check_file(data, path.name)
        declaration = (
            f'<?xml version="1.0" encoding="{xmlcodec.xml_encoding_name(encoding)}" standalone="no"?>'
        )
        assert data.startswith(declaration.encode())
        root = etree.fromstring(data)
        assert [c.tag for c in root.find("MessageHeader")][:7] == list(results.READER_ORDER["MessageHeader"])
        assert [c.tag for c in root.find("MessageBody")][:3] in (
            ["ResultList", "ProcessingResultStatus", "QualificationValidity"],
            ["ProcessingResultStatus", "QualificationValidity", "ProcessingResultCode"],  # no result
            ["ProcessingResultStatus", "ProcessingResultCode", "ProcessingResultMessage"],  # an error
        )
        identifier = root.findtext("MessageHeader/ArbitraryFileIdentifier")
        assert identifier is not None and re.fullmatch(r"[A-Za-z0-9+/]{15}=", identifier)


def test_a_face_file_reads_the_same_in_the_readers_order_and_the_schema_order(
    examples: Path, tmp_path: Path
) -> None:
    """The bridge and the console read both orders (and a real file's unknown elements) alike."""
    for answer in card_answers(examples):
        real = results.write_result_file(
            tmp_path / "real", answer["result"], CharacterCodeIdentifier.UTF8, order="reader"
        )
        schema = results.write_result_file(
            tmp_path / "schema", answer["result"], CharacterCodeIdentifier.UTF8, order="schema"
        )
        xmlcodec.validate(schema.read_bytes(), "OQSsiquc01res")
        read_real = xmlcodec.decode(real.read_bytes(), ResultMessage)
        read_schema = xmlcodec.decode(schema.read_bytes(), ResultMessage)
        assert read_real.MessageBody == read_schema.MessageBody
        assert read_real.MessageHeader.ProcessExecutionTime == read_schema.MessageHeader.ProcessExecutionTime


REAL_2023_FACE_FILE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
    <MessageHeader>
        <ProcessExecutionTime>20230221174835</ProcessExecutionTime>
        <CharacterCodeIdentifier>0</CharacterCodeIdentifier>
        <SegmentOfResult>1</SegmentOfResult>
        <QualificationConfirmationDate>20230221</QualificationConfirmationDate>
        <ReferenceClassification>1</ReferenceClassification>
        <ArbitraryFileIdentifier>ArnHCeDfNjMCFzg=</ArbitraryFileIdentifier>
        <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>
    </MessageHeader>
    <MessageBody>
        <ResultList>
            <ResultOfQualificationConfirmation>
                <Address>東京都</Address>
                <SpecificHealthCheckupsInfoConsTime>20230221174835</SpecificHealthCheckupsInfoConsTime>
                <PersonalFamilyClassification>1</PersonalFamilyClassification>
                <Sex1>1</Sex1>
                <Name>診療　太郎</Name>
                <InsurerNumber>  123456</InsurerNumber>
                <InsuredCardSymbol>12-34</InsuredCardSymbol>
                <NameKana>ｼﾝﾘｮｳ ﾀﾛｳ</NameKana>
                <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
                <InsuredCardClassification>01</InsuredCardClassification>
                <InsuredBranchNumber>01</InsuredBranchNumber>
                <Birthdate>20010327</Birthdate>
                <InsuredIdentificationNumber>4260</InsuredIdentificationNumber>
                <SpecificHealthCheckupsInfoConsFlg>1</SpecificHealthCheckupsInfoConsFlg>
                <ReferenceNumber>K-0042</ReferenceNumber>
                <KarteVendorExtension>x</KarteVendorExtension>
                <InsurerName>東京都</InsurerName>
                <PostNumber>123-4567</PostNumber>
            </ResultOfQualificationConfirmation>
        </ResultList>
        <ProcessingResultStatus>1</ProcessingResultStatus>
        <QualificationValidity>1</QualificationValidity>
    </MessageBody>
</XmlMsg>
"""  # the shape of a real 2023 face file (a clinic program's fixture), plus elements we do not know


def test_a_real_shaped_face_file_is_read_with_a_note_and_meets_the_rules() -> None:
    data = REAL_2023_FACE_FILE.encode("utf-8")
    check_file(data, "real-2023")
    message, notes = xmlcodec.decode_noted(data, ResultMessage)
    result = message.MessageBody.ResultList.ResultOfQualificationConfirmation[0]  # type: ignore[union-attr]
    assert result.InsurerNumber == "  123456" and result.PostNumber == "123-4567"
    assert result.Name == "診療　太郎" and result.InsuredCardSymbol == "12-34"
    assert result.ReferenceNumber == "K-0042"
    assert [n.path for n in notes] == [
        "XmlMsg/MessageBody/ResultList/ResultOfQualificationConfirmation[1]/KarteVendorExtension"
    ]


# --- a live server: what a request without the flag (or in another shape) gets --------------------


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_a_request_without_the_flag_gets_an_answer_real_parsers_accept(
    live_server: Any, encoding: str
) -> None:
    """Documented decision: no flag = 0 未同意, echoed as 0; the clinic's ArbitraryIdentifier is echoed;
    the request's own order and an element we do not know are read past."""
    message = number_check_message(live_server, "healthy-employee", encoding=encoding)
    info = message.MessageBody.QualificationConfirmSearchInfo.model_copy(
        update={"ArbitraryIdentifier": "K-0042", "LimitApplicationCertificateRelatedConsFlg": None}
    )  # (None: the element left out)
    message = message.model_copy(update={"MessageBody": message.MessageBody.model_copy(
        update={"QualificationConfirmSearchInfo": info})})  # fmt: skip
    charset = CharacterCodeIdentifier.SHIFT_JIS if encoding == "shift_jis" else CharacterCodeIdentifier.UTF8
    order = {"QualificationConfirmSearchInfo": ("ArbitraryIdentifier", "Birthdate", "InsurerNumber")}
    data = xmlcodec.encode(message, charset, order=order).replace(
        b"<Birthdate>", b"<KarteVendorField>7</KarteVendorField><Birthdate>"
    )
    assert b"LimitApplicationCertificateRelatedConsFlg" not in data
    response = post(live_server, "/number-checks", content=data,
                    headers={**live_server.clinic_headers, "Content-Type": "application/xml"})  # fmt: skip
    assert response.status_code == 200, response.text
    tree = check_file(response.content, f"answer-{encoding}")
    echo = tree["MessageBody"]["QualificationConfirmSearchInfo"]
    assert (
        echo["LimitApplicationCertificateRelatedConsFlg"] == "0" and echo["ArbitraryIdentifier"] == "K-0042"
    )
    result = tree["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
    assert "LimitApplicationCertificateRelatedInfo" not in result  # judged as not consented


@pytest.mark.parametrize("order", results.FILE_ORDERS)
def test_onshi_check_card_reads_the_readers_file_in_either_order(
    examples: Path, tmp_path: Path, order: str
) -> None:
    """`onshi check card` reads the reader's result file as clinic software does (clinic_client.cli)."""
    from clinic_client.cli import card_outcome

    answer = next(a for a in card_answers(examples) if a["result"]["MessageBody"].get("ResultList"))
    path = results.write_result_file(tmp_path, answer["result"], CharacterCodeIdentifier.SHIFT_JIS,
                                     order=order)  # type: ignore[arg-type]  # fmt: skip
    outcome = card_outcome(
        {"file": path.name, "check_id": answer["check_id"], "notes": answer["notes"]}, tmp_path
    )
    expected = ResultMessage.model_validate(answer["result"]).MessageBody.ResultList
    assert outcome.primary is not None and expected is not None
    assert outcome.primary == expected.ResultOfQualificationConfirmation[0]
