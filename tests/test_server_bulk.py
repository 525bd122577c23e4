"""Bulk checks (一括照会): OQSmuquc01req → OQSmuquc02res, in JSON and XML, one unit per query."""

from __future__ import annotations

from typing import Any

import pytest

from onshi import xmlcodec
from onshi.messages import BulkResultMessage
from tests.conftest import LiveServer
from tests.server_helpers import ENCODINGS, bulk_check_message, post, send_message

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


def assert_bulk_answer(server: LiveServer, answer: dict[str, Any], asked: dict[str, Any]) -> None:
    header, units = answer["MessageHeader"], answer["MessageBody"]["BulkConfirmUnit"]
    assert header["NumberOfProcessingResult"] == len(asked) == len(units)
    assert header["NumberOfNormalProcessing"] + header["NumberOfError"] == len(asked)
    assert header["NumberOfError"] == sum(1 for u in units if u["ProcessingResultStatus"] == "2")
    assert header["ReceptionNumber"]
    assert header["ArbitraryFileIdentifier"] == "BULK-20261124"
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


def test_a_bulk_check_says_which_query_was_malformed(live_server: LiveServer) -> None:
    message = bulk_check_message(live_server, {"ok": "healthy-employee"})
    body = message.model_dump(mode="json", exclude_none=True)
    body["MessageBody"]["QualificationConfirmSearchInfo"].append({"InsurerNumber": "123"})
    response = post(live_server, "/bulk-checks", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "schema_invalid"
    assert "QualificationConfirmSearchInfo" in response.json()["detail"]
