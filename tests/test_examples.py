"""`onshi examples DIR` writes real requests and answers for every persona, valid against the XSD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from onshi import xmlcodec
from onshi.codes import SegmentOfResult
from onshi.messages import BulkReceiptMessage, BulkResultMessage, ResultMessage
from server.examples import write_examples
from server.fixtures import FIXTURES_DIR

PERSONAS = yaml.safe_load((FIXTURES_DIR / "personas.yaml").read_text("utf-8"))["personas"]


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    directory = tmp_path_factory.mktemp("examples")
    return directory, write_examples(directory)


def test_every_written_file_is_counted(examples: tuple[Path, int]) -> None:
    directory, written = examples
    assert written == sum(1 for path in directory.rglob("*") if path.is_file())


def test_the_index_lists_every_persona_with_its_failure_title_and_files(examples: tuple[Path, int]) -> None:
    directory, _ = examples
    index = (directory / "index.md").read_text(encoding="utf-8")
    assert "要求・応答の例" in index and "example requests and answers" in index
    for persona in PERSONAS:
        pid = persona["id"]
        row = next(line for line in index.splitlines() if line.startswith(f"| `{pid}` |"))
        assert persona["title_ja"] in row and persona["title_en"] in row
        if persona.get("failure"):
            assert f"| {persona['failure']} " in row
        assert f"{pid}/OQSsiquc01res_{pid}.xml" in row
        assert (directory / pid / f"OQSsiquc01req_{pid}.xml").exists()
        if persona.get("card"):
            assert f"{pid}/OQSsiquc01res_face_{pid}.xml" in row
    assert "OQSmuquc01req_bulk.xml" in index and "OQSmuquc02res_bulk.xml" in index


Examples = tuple[Path, int]


@pytest.mark.parametrize("persona", ["healthy-employee", "f1-input-lag", "f5-name-characters", "f14-twin-a"])
def test_number_check_files_validate_and_match_the_expectation(examples: Examples, persona: str) -> None:
    directory, _ = examples
    folder = directory / persona
    expected = next(p for p in PERSONAS if p["id"] == persona)["expect"]["number"]
    xmlcodec.validate((folder / f"OQSsiquc01req_{persona}.xml").read_bytes(), "OQSsiquc01req")
    for name, encoding in ((f"OQSsiquc01res_{persona}.xml", "utf-8"),
                           (f"OQSsiquc01res_{persona}_sjis.xml", "shift_jis")):
        data = (folder / name).read_bytes()
        data.decode(encoding)
        xmlcodec.validate(data, "OQSsiquc01res")
        validity = xmlcodec.decode(data, ResultMessage).MessageBody.QualificationValidity
        assert validity is not None and validity.value == expected
    answer = json.loads((folder / f"OQSsiquc01res_{persona}.json").read_text(encoding="utf-8"))
    assert answer["result"]["MessageBody"]["QualificationValidity"] == expected


def test_the_shift_jis_answer_keeps_the_replacement_mark(examples: tuple[Path, int]) -> None:
    directory, _ = examples
    data = (directory / "f5-name-characters" / "OQSsiquc01res_face_f5-name-characters_sjis.xml").read_bytes()
    assert "<Name>●木　●雄</Name>" in data.decode("shift_jis")  # a full-width space, as real answers
    xmlcodec.validate(data, "OQSsiquc01res")


@pytest.mark.parametrize("persona", ["healthy-employee", "f2-wrong-link", "f12-renewal-link-missing",
                                     "f15-revoked"])
def test_card_check_files_validate_and_match_the_expectation(examples: Examples, persona: str) -> None:
    directory, _ = examples
    folder = directory / persona
    expected = next(p for p in PERSONAS if p["id"] == persona)["expect"]["card"]
    submission = json.loads((folder / f"card-check-request_{persona}.json").read_text(encoding="utf-8"))
    assert submission["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert submission["reader_attestation"] and submission["method"] == "face"
    for name in (f"OQSsiquc01res_face_{persona}.xml", f"OQSsiquc01res_face_{persona}_sjis.xml"):
        data = (folder / name).read_bytes()
        xmlcodec.validate(data, "OQSsiquc01res")
        body = xmlcodec.decode(data, ResultMessage).MessageBody
        if body.ProcessingResultStatus.value == "2":
            assert body.ProcessingResultCode == expected
        else:
            assert body.QualificationValidity is not None
            assert body.QualificationValidity.value == expected


PHONES = [(p["id"], phone["platform"], p["expect"]["phone"][phone["platform"]])
          for p in PERSONAS for phone in p.get("phones") or []]


@pytest.mark.parametrize(("persona", "platform", "expected"), PHONES)
def test_phone_check_files_say_smartphone_and_match_the_expectation(examples: Examples, persona: str,
                                                                     platform: str, expected: str) -> None:
    directory, _ = examples
    phone = f"{persona}.{platform}"
    folder = directory / persona
    submission = json.loads((folder / f"phone-check-request_{phone}.json").read_text(encoding="utf-8"))
    assert submission["medium"] == "smartphone"
    assert submission["method"] == ("biometric" if platform == "iphone" else "pin")
    assert submission["card_signature"] and submission["reader_attestation"]
    answer = json.loads((folder / f"phone-check-answer_{phone}.json").read_text(encoding="utf-8"))
    assert answer["medium"] == "smartphone"
    data = (folder / f"OQSsiquc01res_face_{phone}.xml").read_bytes()
    xmlcodec.validate(data, "OQSsiquc01res")
    body = xmlcodec.decode(data, ResultMessage).MessageBody
    if body.ProcessingResultStatus.value == "2":
        assert body.ProcessingResultCode == expected
    else:
        assert body.QualificationValidity is not None and body.QualificationValidity.value == expected


def test_the_bulk_check_covers_every_persona(examples: tuple[Path, int]) -> None:
    directory, _ = examples
    xmlcodec.validate((directory / "OQSmuquc01req_bulk.xml").read_bytes(), "OQSmuquc01req")
    answer = (directory / "OQSmuquc02res_bulk.xml").read_bytes()
    xmlcodec.validate(answer, "OQSmuquc02res")
    bulk = xmlcodec.decode(answer, BulkResultMessage)
    assert bulk.MessageHeader.NumberOfProcessingResult == len(PERSONAS)
    units = bulk.MessageBody.BulkConfirmUnit
    identifiers = [str(unit.QualificationConfirmSearchInfo.ArbitraryIdentifier) for unit in units]
    assert sorted(identifiers) == sorted(p["id"] for p in PERSONAS)


def test_the_bulk_check_is_written_in_its_two_real_steps(examples: tuple[Path, int]) -> None:
    directory, _ = examples
    kinds = {"OQSmuquc01req_bulk.xml": "OQSmuquc01req", "OQSmuquc01res_bulk.xml": "OQSmuquc01res",
             "OQSmuquc02req_bulk.xml": "OQSmuquc02req", "OQSmuquc02req_bulk_sjis.xml": "OQSmuquc02req",
             "OQSmuquc02res_bulk_in-progress.xml": "OQSmuquc02res", "OQSmuquc02res_bulk.xml": "OQSmuquc02res",
             "OQSmuquc02res_bulk_sjis.xml": "OQSmuquc02res"}
    for name, kind in kinds.items():
        xmlcodec.validate((directory / name).read_bytes(), kind)
    receipt = xmlcodec.decode((directory / "OQSmuquc01res_bulk.xml").read_bytes(), BulkReceiptMessage)
    pending_xml = (directory / "OQSmuquc02res_bulk_in-progress.xml").read_bytes()
    pending = xmlcodec.decode(pending_xml, BulkResultMessage)
    assert pending.MessageHeader.SegmentOfResult is SegmentOfResult.IN_PROGRESS
    sjis = (directory / "OQSmuquc02res_bulk_sjis.xml").read_bytes()
    assert sjis.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    sjis.decode("shift_jis")  # really Shift_JIS, for bulk programs that read nothing else
    results = xmlcodec.decode(sjis, BulkResultMessage)
    assert results.MessageHeader.ReceptionNumber == receipt.MessageBody.ReceptionNumber
    assert results == xmlcodec.decode((directory / "OQSmuquc02res_bulk.xml").read_bytes(), BulkResultMessage
                                      ).model_copy(update={"MessageHeader": results.MessageHeader})
    index = (directory / "index.md").read_text(encoding="utf-8")
    assert all(name in index for name in kinds)


def test_the_f13_outage_answer_is_the_real_503_problem_and_is_indexed(examples: tuple[Path, int]) -> None:
    directory, _ = examples
    folder = directory / "F13-outage"
    request = json.loads((folder / "OQSsiquc01req_F13-outage.json").read_text(encoding="utf-8"))
    assert request["MessageHeader"]["MedicalInstitutionCode"] == "1312345678"
    answer = json.loads((folder / "outage-answer_F13-outage.json").read_text(encoding="utf-8"))
    assert (answer["status"], answer["code"]) == (503, "central_system_unavailable")
    assert answer["title_ja"] and answer["title"] and "申立書" in answer["detail"]
    head = json.loads((folder / "outage-answer-headers_F13-outage.json").read_text(encoding="utf-8"))
    assert head["status"] == 503 and head["content-type"].startswith("application/problem+json")
    assert head["retry-after"]
    index = (directory / "index.md").read_text(encoding="utf-8")
    assert "## F13 システム障害・通信障害 / system outage / network" in index
    assert "HTTP 503" in index and "中央システムが停止" in index and "central system is down" in index
    for name in ("OQSsiquc01req_F13-outage.json", "outage-answer_F13-outage.json",
                 "outage-answer-headers_F13-outage.json"):
        assert f"(F13-outage/{name})" in index
    # The fault was cleared: the bulk check written after it is a real answer.
    assert xmlcodec.decode((directory / "OQSmuquc02res_bulk.xml").read_bytes(), BulkResultMessage)
