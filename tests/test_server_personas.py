"""Every persona gives what its `expect` says, over real HTTP, in JSON and in XML (UTF-8 and Shift_JIS).

The persona ids come from fixtures/personas.yaml (so each gets its own test); what each one
should give is read from the live server's `/admin/personas`, as clinic-software developers would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from onshi import xmlcodec
from onshi.messages import ResultMessage
from server.fixtures import FIXTURES_DIR
from tests.conftest import LiveServer
from tests.server_helpers import admin, body_of, card_check, number_check, outcome

FIXTURE: dict[str, Any] = yaml.safe_load((FIXTURES_DIR / "personas.yaml").read_text("utf-8"))
PERSONAS: list[dict[str, Any]] = FIXTURE["personas"]
WITH_CARD_EXPECTATION = [p["id"] for p in PERSONAS if "card" in (p.get("expect") or {})]
WITH_NUMBER_EXPECTATION = [p["id"] for p in PERSONAS if "number" in (p.get("expect") or {})]
XML_ENCODINGS = ["utf-8", "shift_jis"]


def expectation(server: LiveServer, persona: str) -> dict[str, str]:
    return dict(server.personas[persona]["expect"])


def xml_answer(response: httpx.Response, encoding: str) -> ResultMessage:
    """An OQSsiquc01res answer: in the asked encoding, valid against the XSD, decodable."""
    assert response.status_code == 200, response.text
    declared = "UTF-8" if encoding == "utf-8" else "Shift_JIS"
    assert response.headers["content-type"] == f"application/xml; charset={declared}"
    assert response.content.startswith(f'<?xml version="1.0" encoding="{declared}"?>'.encode())
    response.content.decode(encoding)  # the bytes really are in that encoding
    xmlcodec.validate(response.content, "OQSsiquc01res")
    message = xmlcodec.decode(response.content, ResultMessage)
    assert message.MessageHeader.CharacterCodeIdentifier.value == ("0" if encoding == "utf-8" else "1")
    return message


def assert_card_expectation(message: dict[str, Any], expect: dict[str, str]) -> None:
    assert outcome(message) == expect["card"]
    if "card_code" in expect:
        assert message["MessageBody"]["ProcessingResultCode"] == expect["card_code"]
    assert message["MessageHeader"]["ReferenceClassification"] == "1"


def test_the_live_persona_list_is_the_fixture_file(live_server: LiveServer) -> None:
    live = admin(live_server, "GET", "/personas")
    assert sorted(p["id"] for p in live) == sorted(p["id"] for p in PERSONAS)
    for persona in live:
        assert persona["title_ja"] and persona["title_en"] and persona["expect"]


@pytest.mark.parametrize("persona", WITH_CARD_EXPECTATION)
def test_card_check_gives_the_expected_result_in_json(live_server: LiveServer, persona: str) -> None:
    expect = expectation(live_server, persona)
    response = card_check(live_server, persona)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["check_id"] == response.headers["X-Check-Id"]
    assert_card_expectation(answer["result"], expect)
    if "card_code" in expect:
        assert expect["card_code"] in [note["code"] for note in answer["notes"]]
    for listed in answer["notes"] + answer["withheld"]:
        assert listed["ja"] and listed["en"]


@pytest.mark.parametrize("encoding", XML_ENCODINGS)
@pytest.mark.parametrize("persona", WITH_CARD_EXPECTATION)
def test_card_check_gives_the_expected_result_in_xml(live_server: LiveServer, persona: str,
                                                     encoding: str) -> None:
    expect = expectation(live_server, persona)
    method = "visual" if persona == "infant-no-photo" else "face"
    response = card_check(live_server, persona, method=method, xml=True, encoding=encoding)
    message = xml_answer(response, encoding)
    assert response.headers["X-Check-Id"]
    assert_card_expectation(message.model_dump(mode="json", exclude_none=True), expect)


@pytest.mark.parametrize("persona", WITH_NUMBER_EXPECTATION)
def test_number_check_gives_the_expected_result_in_json(live_server: LiveServer, persona: str) -> None:
    expect = expectation(live_server, persona)
    response = number_check(live_server, persona)
    assert response.status_code == 200, response.text
    assert response.json()["withheld"][0]["code"] == "number_check"  # no medical information by number
    message = body_of(response)
    assert outcome(message) == expect["number"]
    assert message["MessageHeader"]["ReferenceClassification"] == "2"
    echo = message["MessageBody"]["QualificationConfirmSearchInfo"]
    numbers = live_server.personas[persona]["numbers"]
    assert echo["InsurerNumber"] == numbers["insurer"]
    assert echo["InsuredIdentificationNumber"] == numbers["number"]
    assert echo["Birthdate"] == numbers["birthdate"].replace("-", "")


@pytest.mark.parametrize("encoding", XML_ENCODINGS)
@pytest.mark.parametrize("persona", WITH_NUMBER_EXPECTATION)
def test_number_check_gives_the_expected_result_in_xml(live_server: LiveServer, persona: str,
                                                       encoding: str) -> None:
    expect = expectation(live_server, persona)
    message = xml_answer(number_check(live_server, persona, xml=True, encoding=encoding), encoding)
    as_json = message.model_dump(mode="json", exclude_none=True)
    assert outcome(as_json) == expect["number"]
    # XML and JSON carry the same message.
    assert as_json["MessageBody"] == body_of(number_check(live_server, persona))["MessageBody"]


@pytest.mark.parametrize("check", ["card", "number"])
def test_the_replacement_mark_of_f5_survives_shift_jis(live_server: LiveServer, check: str) -> None:
    if check == "card":
        response = card_check(live_server, "f5-name-characters", xml=True, encoding="shift_jis")
    else:
        response = number_check(live_server, "f5-name-characters", xml=True, encoding="shift_jis")
    text = response.content.decode("shift_jis")
    assert "<Name>●木　●雄</Name>" in text
    assert "●".encode("shift_jis") in response.content  # a real Shift_JIS ● (81 9C), not a reference
    message = xml_answer(response, "shift_jis")
    assert message.MessageBody.ResultList is not None
    assert message.MessageBody.ResultList.ResultOfQualificationConfirmation[0].Name == "●木　●雄"
    assert message.MessageBody.ProcessingResultCode == "W004"
