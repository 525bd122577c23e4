"""The folder bridge's file handling with real files: partial writes, garbage, restart, encodings.

These cases never reach a server answer (the server address is closed on purpose where one
would be asked): half-written and bad files must be handled before anything is sent.
The exchange with a real server is in test_bridge_server.py.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_client.bridge import (
    ERROR_DIR,
    JOURNAL,
    STATE_DIR,
    Bridge,
    BridgeSettings,
    answer_name,
    classify,
    declared_encoding,
)
from clinic_client.client import ClientSettings, OnshiClient, search_info
from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier, ReferenceClassification, SegmentOfResult
from onshi.messages import NumberCheckRequestBody, NumberCheckRequestMessage, RequestHeader, ResultMessage

CLINIC = "1312345678"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_xml(
    encoding: CharacterCodeIdentifier = CharacterCodeIdentifier.UTF8, file_id: str = "A1"
) -> bytes:
    message = NumberCheckRequestMessage(
        MessageHeader=RequestHeader(
            QualificationConfirmationDate="20261123",
            MedicalInstitutionCode=CLINIC,
            ArbitraryFileIdentifier=file_id,
            ReferenceClassification=ReferenceClassification.INSURED_CARD_INFO,
            CharacterCodeIdentifier=encoding,
        ),
        MessageBody=NumberCheckRequestBody(
            QualificationConfirmSearchInfo=search_info("06139981", "１２３４", "19800401", symbol="髙１")
        ),
    )
    return xmlcodec.encode(message, encoding)


@pytest.fixture
def down_client() -> Iterator[OnshiClient]:
    """A client whose server is down (nothing listens): the F13 situation, for real."""
    client = OnshiClient(
        ClientSettings(f"http://127.0.0.1:{closed_port()}", CLINIC, "t", retries=0, timeout=1)
    )
    yield client
    client.close()


def make_bridge(folder: Path, client: OnshiClient, clock: Clock, **settings: float) -> Bridge:
    options = {
        "settle_seconds": 0.5,
        "give_up_seconds": 3.0,
        "outage_answer_seconds": 5.0,
        "retry_seconds": 1.0,
    }
    options.update(settings)
    return Bridge(BridgeSettings(folder, use_watchdog=False, **options), client, clock=clock)  # type: ignore[arg-type]


def test_names() -> None:
    assert classify("OQSsiquc01req_0001.xml") == ("number", "0001")
    assert classify("OQSmuquc01req_X-2.xml") == ("bulk", "X-2")
    assert classify("OQSsiquc01res_face_20261123101500.xml") == ("reader", "20261123101500")
    assert classify("OQSsiquc01res_0001.xml") is None  # our own answers
    assert classify(".OQSsiquc01req_0001.xml.tmp") is None
    assert classify("notes.txt") is None
    assert answer_name("OQSsiquc01req_0001.xml") == "OQSsiquc01res_0001.xml"
    assert answer_name("OQSmuquc01req_b.xml") == "OQSmuquc02res_b.xml"


def test_declared_encoding() -> None:
    assert declared_encoding(request_xml(CharacterCodeIdentifier.SHIFT_JIS)) == "shift-jis"
    assert declared_encoding(request_xml()) == "utf-8"


def test_half_written_file_is_waited_for_then_garbage_moved_aside(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock)
    whole = request_xml(CharacterCodeIdentifier.SHIFT_JIS)
    partial = tmp_path / "OQSsiquc01req_P1.xml"
    partial.write_bytes(whole[: len(whole) // 2])

    assert bridge.scan() == []  # first sight
    clock.advance(1)
    assert bridge.scan() == []  # stable but does not parse yet: still waiting, not rejected
    assert partial.exists()

    with partial.open("ab") as out:  # the writer finishes
        out.write(whole[len(whole) // 2 :])
    clock.advance(0.1)
    assert bridge.scan() == []  # changed: settling again
    clock.advance(0.2)
    assert bridge.scan() == []  # not settled yet
    assert partial.exists() and not (tmp_path / ERROR_DIR / partial.name).exists()

    garbage = tmp_path / "OQSsiquc01req_G1.xml"
    garbage.write_bytes(b"\x89PNG not xml at all \xff\xfe")
    bridge.scan()
    clock.advance(3.5)
    events = bridge.scan()
    rejected = [e for e in events if e.status == "rejected"]
    assert [e.name for e in rejected] == ["OQSsiquc01req_G1.xml"]
    assert not garbage.exists()
    moved = tmp_path / ERROR_DIR / "OQSsiquc01req_G1.xml"
    assert moved.read_bytes() == b"\x89PNG not xml at all \xff\xfe"  # never lost
    explanation = (tmp_path / ERROR_DIR / "OQSsiquc01req_G1.xml.error.txt").read_text(encoding="utf-8")
    assert "処理できませんでした" in explanation and "Could not be processed" in explanation
    # The completed Shift_JIS request was never mistaken for garbage.
    assert partial.exists()


def test_wrong_message_kind_is_rejected_with_the_codec_detail(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, give_up_seconds=1)
    bad = tmp_path / "OQSsiquc01req_B1.xml"
    bad.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader/></XmlMsg>', encoding="utf-8"
    )
    bridge.scan()
    clock.advance(2)
    (event,) = bridge.scan()
    assert event.status == "rejected"
    text = (tmp_path / ERROR_DIR / "OQSsiquc01req_B1.xml.error.txt").read_text(encoding="utf-8")
    assert "schema_invalid" in text and "MessageBody" in text


def test_outage_answers_abnormal_end_in_the_request_encoding(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock)
    request = tmp_path / "OQSsiquc01req_S1.xml"
    request.write_bytes(request_xml(CharacterCodeIdentifier.SHIFT_JIS, file_id="S1"))
    bridge.scan()
    clock.advance(1)
    assert bridge.scan() == []  # server down: retry later, do not answer yet
    assert request.exists()
    clock.advance(5)
    (event,) = bridge.scan()
    assert event.status == "outage_answered"
    answer = (tmp_path / "OQSsiquc01res_S1.xml").read_bytes()
    assert declared_encoding(answer) == "shift-jis"
    result = xmlcodec.decode(answer, ResultMessage)
    assert result.MessageHeader.SegmentOfResult is SegmentOfResult.ABNORMAL_END
    assert result.MessageHeader.ArbitraryFileIdentifier == "S1"
    assert "被保険者資格申立書" in (result.MessageHeader.ErrorMessage or "")
    assert "10割" in (result.MessageHeader.ErrorMessage or "")  # "10割負担にしない" — never 100%
    assert request.exists()  # the request itself is never removed


def test_restart_resumes_without_answering_twice(tmp_path: Path, down_client: OnshiClient) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, outage_answer_seconds=0)
    (tmp_path / "OQSsiquc01req_R1.xml").write_bytes(request_xml(file_id="R1"))
    (tmp_path / "OQSsiquc01req_R2.xml").write_bytes(
        request_xml(CharacterCodeIdentifier.SHIFT_JIS, file_id="R2")
    )
    bridge.scan()
    clock.advance(1)
    assert {e.name for e in bridge.scan()} == {"OQSsiquc01req_R1.xml", "OQSsiquc01req_R2.xml"}
    first = (tmp_path / "OQSsiquc01res_R1.xml").stat().st_mtime_ns

    # A new bridge process over the same folder: nothing handled twice; a new file is handled.
    clock2 = Clock()
    again = make_bridge(tmp_path, down_client, clock2, outage_answer_seconds=0)
    (tmp_path / "OQSsiquc01req_R3.xml").write_bytes(request_xml(file_id="R3"))
    again.scan()
    clock2.advance(1)
    assert [e.name for e in again.scan()] == ["OQSsiquc01req_R3.xml"]
    assert (tmp_path / "OQSsiquc01res_R1.xml").stat().st_mtime_ns == first
    lines = (tmp_path / STATE_DIR / JOURNAL).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["name"] for line in lines] == [
        "OQSsiquc01req_R1.xml",
        "OQSsiquc01req_R2.xml",
        "OQSsiquc01req_R3.xml",
    ]

    # Rewritten with new content: handled again.
    (tmp_path / "OQSsiquc01req_R1.xml").write_bytes(request_xml(file_id="R1b"))
    again.scan()
    clock2.advance(1)
    assert [e.name for e in again.scan()] == ["OQSsiquc01req_R1.xml"]


def test_journal_survives_a_torn_last_line(tmp_path: Path, down_client: OnshiClient) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, outage_answer_seconds=0)
    (tmp_path / "OQSsiquc01req_T1.xml").write_bytes(request_xml(file_id="T1"))
    bridge.scan()
    clock.advance(1)
    bridge.scan()
    with (tmp_path / STATE_DIR / JOURNAL).open("a", encoding="utf-8") as out:
        out.write('{"name": "OQSsiquc01req_T2.x')  # crash mid-line
    again = make_bridge(tmp_path, down_client, Clock())
    assert again.journal.done.keys() == {"OQSsiquc01req_T1.xml"}


def test_reader_result_is_picked_up(tmp_path: Path, down_client: OnshiClient) -> None:
    from onshi.codes import ProcessingResultStatus, QualificationValidity
    from onshi.messages import ResultBody, ResultHeader

    result = ResultMessage(
        MessageHeader=ResultHeader(
            ProcessExecutionTime="20261123101500",
            QualificationConfirmationDate="20261123",
            MedicalInstitutionCode=CLINIC,
            ReferenceClassification=ReferenceClassification.MY_NUMBER_CARD,
            CharacterCodeIdentifier=CharacterCodeIdentifier.SHIFT_JIS,
        ),
        MessageBody=ResultBody(
            ProcessingResultStatus=ProcessingResultStatus.NORMAL,
            QualificationValidity=QualificationValidity.VALID,
        ),
    )
    picked: list[tuple[str, ResultMessage]] = []
    clock = Clock()
    bridge = Bridge(
        BridgeSettings(tmp_path, settle_seconds=0.5, use_watchdog=False),
        down_client,
        clock=clock,
        on_reader_result=lambda path, message: picked.append((path.name, message)),
    )
    face = tmp_path / "OQSsiquc01res_face_20261123101500.xml"
    face.write_bytes(xmlcodec.encode(result, CharacterCodeIdentifier.SHIFT_JIS))
    bridge.scan()
    clock.advance(1)
    (event,) = bridge.scan()
    assert event.status == "picked_up"
    assert picked == [(face.name, result)]
    assert face.exists()  # left for the clinic software
    clock.advance(1)
    assert bridge.scan() == []  # once only
