"""The folder bridge with a real server process: Shift_JIS and UTF-8 request files answered beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clinic_client.bridge import Bridge, BridgeSettings, declared_encoding
from clinic_client.client import ClientSettings, OnshiClient, search_info
from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier, QualificationValidity, ReferenceClassification
from onshi.messages import (
    BulkCheckRequestBody,
    BulkCheckRequestMessage,
    BulkResultMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    RequestHeader,
    ResultMessage,
)


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
        MessageHeader=header(live_server, CharacterCodeIdentifier.UTF8, None),
        MessageBody=BulkCheckRequestBody(
            QualificationConfirmSearchInfo=[healthy.model_copy(update={"ArbitraryIdentifier": "OK"}), lag]
        ),
    )
    (tmp_path / "OQSsiquc01req_0001.xml").write_bytes(
        xmlcodec.encode(number, CharacterCodeIdentifier.SHIFT_JIS)
    )
    (tmp_path / "OQSmuquc01req_0002.xml").write_bytes(xmlcodec.encode(bulk, CharacterCodeIdentifier.UTF8))
    clock = Clock()
    with OnshiClient(
        ClientSettings(live_server.url, live_server.clinic_code, live_server.clinic_token)
    ) as client:
        bridge = Bridge(BridgeSettings(tmp_path, use_watchdog=False), client, clock=clock)
        bridge.scan()
        clock.now = 1
        events = bridge.scan()
    assert sorted(e.status for e in events) == ["answered", "answered"]

    answer = (tmp_path / "OQSsiquc01res_0001.xml").read_bytes()
    assert declared_encoding(answer) == "shift-jis"
    answer.decode("shift_jis")  # really Shift_JIS
    result = xmlcodec.decode(answer, ResultMessage)
    assert result.MessageBody.QualificationValidity is QualificationValidity.VALID
    people = (
        result.MessageBody.ResultList.ResultOfQualificationConfirmation
        if result.MessageBody.ResultList
        else []
    )
    assert people[0].Name == "鈴木　一郎"

    bulk_answer = xmlcodec.decode((tmp_path / "OQSmuquc02res_0002.xml").read_bytes(), BulkResultMessage)
    units = {
        u.QualificationConfirmSearchInfo.ArbitraryIdentifier: u
        for u in bulk_answer.MessageBody.BulkConfirmUnit
    }
    assert units["OK"].QualificationValidity is QualificationValidity.VALID
    assert units["F1"].QualificationValidity is QualificationValidity.NO_MATCH


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
