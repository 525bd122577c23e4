"""The folder bridge with a real server process: Shift_JIS and UTF-8 request files answered beside them."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from clinic_client.bridge import Bridge, BridgeEvent, BridgeSettings, Journal, declared_encoding
from clinic_client.client import ClientSettings, OnshiClient, search_info
from onshi import xmlcodec
from onshi.codes import (
    CharacterCodeIdentifier,
    QualificationValidity,
    ReferenceClassification,
    SegmentOfResult,
)
from onshi.messages import (
    BulkCheckRequestBody,
    BulkCheckRequestMessage,
    BulkDownloadRequestBody,
    BulkDownloadRequestHeader,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    BulkResultMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    RequestHeader,
    ResultMessage,
)
from tests.server_helpers import FIXTURE_MOMENT, access_log, advance_clock, clock_at


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def header(
    server: Any, encoding: CharacterCodeIdentifier, reference: ReferenceClassification | None
) -> RequestHeader:
    return RequestHeader(
        QualificationConfirmationDate="20261124",
        MedicalInstitutionCode=server.clinic_code,
        ArbitraryFileIdentifier="B1",
        ReferenceClassification=reference,
        CharacterCodeIdentifier=encoding,
    )


def test_bridge_answers_number_and_bulk_files(live_server: Any, tmp_path: Path) -> None:
    healthy = search_info("138040", "204518", "19681103", symbol="新01", branch="00")  # 国保, 6-digit insurer
    lag = search_info(
        "01130012", "305", "19901010", symbol="31059999", branch="00", arbitrary_identifier="F1"
    )
    number = NumberCheckRequestMessage(
        MessageHeader=header(
            live_server, CharacterCodeIdentifier.SHIFT_JIS, ReferenceClassification.INSURED_CARD_INFO
        ),
        MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=healthy),
    )
    bulk = BulkCheckRequestMessage(
        MessageHeader=header(live_server, CharacterCodeIdentifier.UTF8, None).model_copy(
            update={"ArbitraryFileIdentifier": f"B-{uuid.uuid4().hex[:8]}"}),
        MessageBody=BulkCheckRequestBody(
            QualificationConfirmSearchInfo=[healthy.model_copy(update={"ArbitraryIdentifier": "OK"}), lag]
        ),
    )
    requests, results = tmp_path / "req", tmp_path / "res"
    requests.mkdir()
    sjis = CharacterCodeIdentifier.SHIFT_JIS
    (requests / "OQSsiquc01req_0001.xml").write_bytes(xmlcodec.encode(number, sjis))
    (requests / "OQSmuquc01req_0002.xml").write_bytes(xmlcodec.encode(bulk, CharacterCodeIdentifier.UTF8))
    clock = Clock()
    with OnshiClient(
        ClientSettings(live_server.url, live_server.clinic_code, live_server.clinic_token)
    ) as client, clock_at(live_server, FIXTURE_MOMENT):
        bridge = Bridge(BridgeSettings(requests, results=results, use_watchdog=False), client, clock=clock)

        def step() -> list[Any]:
            bridge.scan()
            clock.now += 1
            return bridge.scan()

        assert sorted(e.status for e in step()) == ["answered", "answered"]
        answer = (results / "OQSsiquc01res_0001.xml").read_bytes()
        assert declared_encoding(answer) == "shift-jis"
        answer.decode("shift_jis")  # really Shift_JIS
        result = xmlcodec.decode(answer, ResultMessage)
        assert result.MessageBody.QualificationValidity is QualificationValidity.VALID
        assert result.MessageBody.ResultList is not None
        assert result.MessageBody.ResultList.ResultOfQualificationConfirmation[0].Name == "鈴木　一郎"

        receipt_bytes = (results / "OQSmuquc01res_0002.xml").read_bytes()
        xmlcodec.validate(receipt_bytes, "OQSmuquc01res")
        receipt = xmlcodec.decode(receipt_bytes, BulkReceiptMessage)
        number_of_reception = receipt.MessageBody.ReceptionNumber
        assert number_of_reception

        def ask_results(file_id: str) -> BulkResultMessage:
            download = BulkDownloadRequestMessage(
                MessageHeader=BulkDownloadRequestHeader(MedicalInstitutionCode=live_server.clinic_code),
                MessageBody=BulkDownloadRequestBody(ReceptionNumber=number_of_reception),
            )
            (requests / f"OQSmuquc02req_{file_id}.xml").write_bytes(
                xmlcodec.encode(download, CharacterCodeIdentifier.SHIFT_JIS))
            assert [e.status for e in step()] == ["answered"]
            data = (results / f"OQSmuquc02res_{file_id}.xml").read_bytes()
            xmlcodec.validate(data, "OQSmuquc02res")
            assert declared_encoding(data) == "shift-jis"  # as the download request was written
            return xmlcodec.decode(data, BulkResultMessage)

        early = ask_results("0003")
        assert early.MessageHeader.SegmentOfResult is SegmentOfResult.IN_PROGRESS
        advance_clock(live_server, 600)
        bulk_answer = ask_results("0004")
    units = {
        u.QualificationConfirmSearchInfo.ArbitraryIdentifier: u
        for u in bulk_answer.MessageBody.BulkConfirmUnit
    }
    assert units["OK"].QualificationValidity is QualificationValidity.VALID
    assert units["F1"].QualificationValidity is QualificationValidity.NO_MATCH
    assert sorted(p.name for p in (requests / "done").iterdir()) == [
        "OQSmuquc01req_0002.xml", "OQSmuquc02req_0003.xml", "OQSmuquc02req_0004.xml",
        "OQSsiquc01req_0001.xml",
    ]


def test_server_rejection_moves_the_file_aside_with_the_servers_reason(
    live_server: Any, tmp_path: Path
) -> None:
    wrong_clinic = NumberCheckRequestMessage(
        MessageHeader=header(
            live_server, CharacterCodeIdentifier.UTF8, ReferenceClassification.INSURED_CARD_INFO
        ).model_copy(update={"MedicalInstitutionCode": "9999999999"}),
        MessageBody=NumberCheckRequestBody(
            QualificationConfirmSearchInfo=search_info("138040", "1", "19680101")
        ),
    )
    (tmp_path / "OQSsiquc01req_X.xml").write_bytes(xmlcodec.encode(wrong_clinic))
    clock = Clock()
    with OnshiClient(
        ClientSettings(live_server.url, live_server.clinic_code, live_server.clinic_token, retries=0)
    ) as client:
        bridge = Bridge(BridgeSettings(tmp_path, use_watchdog=False), client, clock=clock)
        bridge.scan()
        clock.now = 1
        (event,) = bridge.scan()
    assert event.status == "rejected"
    assert (tmp_path / "error" / "OQSsiquc01req_X.xml").exists()
    text = (tmp_path / "error" / "OQSsiquc01req_X.xml.error.txt").read_text(encoding="utf-8")
    assert "9999999999" in text or "1312345678" in text


def test_a_file_taken_before_a_crash_is_asked_again_with_its_key_and_not_looked_up_twice(
    live_server: Any, tmp_path: Path
) -> None:
    """The crash window of issue 14: the server answered, the bridge died before writing the answer."""
    request = NumberCheckRequestMessage(
        MessageHeader=header(live_server, CharacterCodeIdentifier.UTF8,
                             ReferenceClassification.INSURED_CARD_INFO),
        MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=search_info(
            "138040", "204518", "19681103", symbol="新01", branch="00")),
    )
    data = xmlcodec.encode(request)
    name = "OQSsiquc01req_CRASH.xml"
    (tmp_path / name).write_bytes(data)
    key = f"crash-{uuid.uuid4().hex}"
    Journal(tmp_path).record(BridgeEvent(name, "taken", hashlib.sha256(data).hexdigest(), key=key))
    person = live_server.personas["healthy-national"]["person_id"]
    settings = ClientSettings(live_server.url, live_server.clinic_code, live_server.clinic_token)
    with OnshiClient(settings) as client:
        first = client.post_xml("number", data, idempotency_key=key)  # what the killed bridge had asked
        before = len(access_log(live_server, person, limit=5000))
        clock = Clock()
        bridge = Bridge(BridgeSettings(tmp_path, use_watchdog=False), client, clock=clock)
        bridge.scan()
        clock.now = 1
        (event,) = bridge.scan()
    assert event.status == "answered" and event.key == key
    assert (tmp_path / "OQSsiquc01res_CRASH.xml").read_bytes() == first.content  # the first answer
    assert len(access_log(live_server, person, limit=5000)) == before  # no second lookup
