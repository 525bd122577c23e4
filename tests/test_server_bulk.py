"""Bulk checks (一括照会): the real two steps (OQSmuquc01req → receipt OQSmuquc01res; later OQSmuquc02req →
OQSmuquc02res), the one-step shorthand, one unit per query (a wrong query is one error unit)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from onshi import xmlcodec
from onshi.codes import BulkCode, CharacterCodeIdentifier, SegmentOfResult
from onshi.messages import (
    BulkDownloadRequestBody,
    BulkDownloadRequestHeader,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    BulkResultMessage,
)
from tests.conftest import LiveServer
from tests.server_helpers import (
    ENCODINGS,
    FIXTURE_MOMENT,
    PHARMACY_CODE,
    access_log,
    advance_clock,
    bulk_check_message,
    clinic_headers,
    clock_at,
    post,
    send_message,
)

UNKNOWN = {"insurer": "06139012", "symbol": "9999", "number": "000000", "branch": "00",
           "birthdate": "1980-01-01"}


def queries(server: LiveServer) -> dict[str, Any]:
    """Every persona with a number-check expectation (the twins among them), and one unknown number."""
    chosen: dict[str, Any] = {f"Q-{pid}": pid for pid, p in sorted(server.personas.items())
                              if "number" in p["expect"]}
    chosen["Q-unknown"] = UNKNOWN
    return chosen


def expected_validity(server: LiveServer, target: Any) -> str:
    return "4" if target is UNKNOWN else str(server.personas[target]["expect"]["number"])


def assert_bulk_answer(server: LiveServer, answer: dict[str, Any], asked: dict[str, Any],
                       file_id: str = "BULK-20261124") -> None:
    header, units = answer["MessageHeader"], answer["MessageBody"]["BulkConfirmUnit"]
    assert header["NumberOfProcessingResult"] == len(asked) == len(units)
    assert header["NumberOfNormalProcessing"] + header["NumberOfError"] == len(asked)
    assert header["NumberOfError"] == sum(1 for u in units if u["ProcessingResultStatus"] == "2")
    assert header["ReceptionNumber"]
    assert header["ArbitraryFileIdentifier"] == file_id
    assert [u["QualificationConfirmSearchInfo"]["ArbitraryIdentifier"] for u in units] == list(asked)
    assert [u["ReferenceNumber"] for u in units] == [f"{i:06d}" for i in range(1, len(asked) + 1)]
    for unit, target in zip(units, asked.values(), strict=True):
        assert unit["QualificationValidity"] == expected_validity(server, target), unit
    by_id = {u["QualificationConfirmSearchInfo"]["ArbitraryIdentifier"]: u for u in units}
    assert "ResultOfQualificationConfirmation" not in by_id["Q-unknown"]
    assert "ResultOfQualificationConfirmation" not in by_id["Q-f14-twin-a"]  # 5: nobody's data
    assert by_id["Q-f14-twin-b"]["ResultOfQualificationConfirmation"]["Name"] == "阿部　湊"


def test_a_json_bulk_check_answers_every_query_in_order(live_server: LiveServer) -> None:
    asked = queries(live_server)
    message = bulk_check_message(live_server, asked, file_identifier="BULK-20261124")
    response = send_message(live_server, "/bulk-checks", message, xml=False)
    assert response.status_code == 200, response.text
    assert_bulk_answer(live_server, response.json(), asked)


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_an_xml_bulk_check_answers_oqsmuquc02res(live_server: LiveServer, encoding: str) -> None:
    asked = queries(live_server)
    message = bulk_check_message(live_server, asked, encoding=encoding, file_identifier="BULK-20261124")
    request = xmlcodec.encode(message, ENCODINGS[encoding])
    xmlcodec.validate(request, "OQSmuquc01req")  # what we send is a valid request file
    response = send_message(live_server, "/bulk-checks", message, xml=True, encoding=encoding)
    assert response.status_code == 200, response.text
    response.content.decode(encoding)
    xmlcodec.validate(response.content, "OQSmuquc02res")
    answer = xmlcodec.decode(response.content, BulkResultMessage)
    assert answer.MessageHeader.CharacterCodeIdentifier is ENCODINGS[encoding]
    assert_bulk_answer(live_server, answer.model_dump(mode="json", exclude_none=True), asked)


# --- one wrong query is one error unit, not a refused file ---------------------------------------


def test_a_wrong_query_is_one_error_unit_and_the_others_are_answered(live_server: LiveServer) -> None:
    message = bulk_check_message(live_server, {"ok": "healthy-employee"}, file_identifier="ERR-1")
    body = message.model_dump(mode="json", exclude_none=True)
    queries = body["MessageBody"]["QualificationConfirmSearchInfo"]
    good = queries[0]
    queries.append({"InsurerNumber": "123", "ArbitraryIdentifier": "short-insurer"})
    queries.append({**good, "Birthdate": "19801332", "ArbitraryIdentifier": "no-such-day"})
    response = post(live_server, "/bulk-checks", json=body)
    assert response.status_code == 200, response.text
    header, units = response.json()["MessageHeader"], response.json()["MessageBody"]["BulkConfirmUnit"]
    counts = ("NumberOfProcessingResult", "NumberOfNormalProcessing", "NumberOfError")
    assert [header[name] for name in counts] == [3, 1, 2]
    by_id = {u["QualificationConfirmSearchInfo"]["ArbitraryIdentifier"]: u for u in units}
    assert by_id["ok"]["QualificationValidity"] == "1"
    for identifier, what in (("short-insurer", "InsurerNumber"), ("no-such-day", "19801332")):
        unit = by_id[identifier]
        assert unit["ProcessingResultStatus"] == "2"
        assert unit["ProcessingResultCode"] == BulkCode.QUERY_INVALID.value
        message_text = unit["ProcessingResultMessage"]
        assert what in message_text and "照会内容に誤り" in message_text
        assert "QualificationValidity" not in unit
    echo = by_id["short-insurer"]["QualificationConfirmSearchInfo"]
    assert echo["InsurerNumber"] == "123"  # echoed as sent

    # The same in XML: the answer with error units still passes the schema, in Shift_JIS too.
    birthdate = f"<Birthdate>{good['Birthdate']}</Birthdate>".encode()
    impossible = b"<Birthdate>19801332</Birthdate>"
    xml = xmlcodec.encode(message, ENCODINGS["shift_jis"]).replace(birthdate, impossible)
    answer = post(live_server, "/bulk-checks", content=xml,
                  headers={**live_server.clinic_headers, "Content-Type": "application/xml"},
                  params={"encoding": "shift_jis"})
    assert answer.status_code == 200, answer.text
    xmlcodec.validate(answer.content, "OQSmuquc02res")
    decoded = xmlcodec.decode(answer.content, BulkResultMessage)
    assert decoded.MessageHeader.NumberOfError == 1


def test_a_file_that_cannot_be_read_as_a_whole_is_still_refused(live_server: LiveServer) -> None:
    message = bulk_check_message(live_server, {"ok": "healthy-employee"})
    body = message.model_dump(mode="json", exclude_none=True)
    body["MessageHeader"]["QualificationConfirmationDate"] = "2026-11-24"  # the header: the whole file
    response = post(live_server, "/bulk-checks/receptions", json=body)
    assert response.status_code == 400 and response.json()["code"] == "schema_invalid"
    body = message.model_dump(mode="json", exclude_none=True)
    body["MessageBody"]["QualificationConfirmSearchInfo"] = []
    response = post(live_server, "/bulk-checks/receptions", json=body)
    assert response.status_code == 400 and "QualificationConfirmSearchInfo" in response.json()["detail"]


# --- the real two steps: receipt at once, results later ---------------------------------------------


def receive(server: LiveServer, asked: dict[str, Any], *, encoding: str = "utf-8",
            file_identifier: str | None = None) -> BulkReceiptMessage:
    message = bulk_check_message(server, asked, encoding=encoding, file_identifier=file_identifier)
    response = send_message(server, "/bulk-checks/receptions", message, xml=True, encoding=encoding)
    assert response.status_code == 200, response.text
    xmlcodec.validate(response.content, "OQSmuquc01res")
    return xmlcodec.decode(response.content, BulkReceiptMessage)


def download(server: LiveServer, number: str, *, clinic: str | None = None,
             encoding: str | None = None) -> tuple[BulkResultMessage, httpx.Response]:
    code = clinic or server.clinic_code
    request = BulkDownloadRequestMessage(
        MessageHeader=BulkDownloadRequestHeader(MedicalInstitutionCode=code),
        MessageBody=BulkDownloadRequestBody(ReceptionNumber=number),
    )
    data = xmlcodec.encode(request)
    xmlcodec.validate(data, "OQSmuquc02req")
    response = post(server, "/bulk-checks/results", content=data,
                    headers={**clinic_headers(server, code), "Content-Type": "application/xml"},
                    params={"encoding": encoding} if encoding else None)
    assert response.status_code == 200, response.text
    xmlcodec.validate(response.content, "OQSmuquc02res")
    return xmlcodec.decode(response.content, BulkResultMessage), response


def test_the_receipt_comes_at_once_and_the_results_when_ready(live_server: LiveServer) -> None:
    asked = queries(live_server)
    with clock_at(live_server, FIXTURE_MOMENT):
        file_id = f"TWO-STEP-{uuid.uuid4().hex[:8]}"
        receipt = receive(live_server, asked, encoding="shift_jis", file_identifier=file_id)
        number = receipt.MessageBody.ReceptionNumber
        assert number and receipt.MessageBody.ReceptionDateTime == "20261124090000"
        assert receipt.MessageHeader.ArbitraryFileIdentifier == file_id
        person = live_server.personas["healthy-employee"]["person_id"]
        before = len(access_log(live_server, person))

        early, response = download(live_server, number)
        assert early.MessageHeader.SegmentOfResult is SegmentOfResult.IN_PROGRESS
        assert early.MessageHeader.ErrorCode == BulkCode.IN_PROGRESS.value
        assert "準備中" in (early.MessageHeader.ErrorMessage or "")
        assert early.MessageHeader.ReceptionNumber == number and early.MessageBody.BulkConfirmUnit == []
        assert response.headers["Retry-After"] == "600"  # the default delay, on the simulated clock
        assert len(access_log(live_server, person)) == before

        advance_clock(live_server, 600)
        ready, response = download(live_server, number)
        assert response.content.decode("shift_jis")  # the bulk request's encoding by default
        assert ready.MessageHeader.CharacterCodeIdentifier is CharacterCodeIdentifier.SHIFT_JIS
        assert ready.MessageHeader.SegmentOfResult is SegmentOfResult.NORMAL_END
        assert ready.MessageHeader.ProcessExecutionTime == "20261124091000"  # processed when ready
        assert_bulk_answer(live_server, ready.model_dump(mode="json", exclude_none=True), asked, file_id)
        log = access_log(live_server, person)
        assert len(log) == before + 1 and log[0]["action"] == "bulk_check"

        again, _ = download(live_server, number, encoding="utf-8")  # answered from the record
        assert again.MessageBody == ready.MessageBody
        assert len(access_log(live_server, person)) == before + 1

        # The same file again (same identifier, same bytes): the same reception, no second batch.
        assert receive(live_server, asked, encoding="shift_jis",
                       file_identifier=file_id).MessageBody.ReceptionNumber == number


def test_unknown_and_other_clinics_reception_numbers_get_the_same_clear_answer(
    live_server: LiveServer,
) -> None:
    number = receive(live_server, {"x": "healthy-employee"}).MessageBody.ReceptionNumber
    assert number
    for asked, clinic in (("NO-SUCH-NUMBER", None), (number, PHARMACY_CODE)):
        answer, _ = download(live_server, asked, clinic=clinic)
        header = answer.MessageHeader
        assert header.SegmentOfResult is SegmentOfResult.ABNORMAL_END
        assert header.ErrorCode == BulkCode.RECEPTION_UNKNOWN.value
        assert "受付番号" in (header.ErrorMessage or "") and header.ReceptionNumber == asked
        assert answer.MessageBody.BulkConfirmUnit == []


def test_results_are_kept_for_the_retention_time_then_deleted(live_server: LiveServer) -> None:
    with clock_at(live_server, FIXTURE_MOMENT):
        number = receive(live_server, {"x": "healthy-employee"}).MessageBody.ReceptionNumber
        assert number
        advance_clock(live_server, 600 + 7 * 86_400 - 60)
        kept, _ = download(live_server, number)
        assert kept.MessageHeader.NumberOfProcessingResult == 1
        advance_clock(live_server, 120)
        gone, _ = download(live_server, number)
        assert gone.MessageHeader.SegmentOfResult is SegmentOfResult.ABNORMAL_END
        assert gone.MessageHeader.ErrorCode == BulkCode.RESULT_EXPIRED.value
        assert gone.MessageBody.BulkConfirmUnit == []


def test_a_download_for_another_institution_code_in_the_message_is_refused(live_server: LiveServer) -> None:
    body = {"MessageHeader": {"MedicalInstitutionCode": PHARMACY_CODE},
            "MessageBody": {"ReceptionNumber": "X"}}
    response = post(live_server, "/bulk-checks/results", json=body)
    assert response.status_code == 403 and response.json()["code"] == "institution_mismatch"


def test_the_bulk_operations_document_their_bodies_without_dangling_refs(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.url}/openapi.json", timeout=30).json()
    for path in ("/api/v1/bulk-checks/receptions", "/api/v1/bulk-checks/results", "/api/v1/bulk-checks"):
        body = document["paths"][path]["post"]["requestBody"]["content"]
        assert "#/$defs/" not in json.dumps(body), path
        assert "QualificationConfirmSearchInfo" in json.dumps(body) or "ReceptionNumber" in json.dumps(body)
