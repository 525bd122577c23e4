"""The folder bridge's file handling with real files: partial writes, garbage, restart, encodings.

These cases never reach a server answer (the server address is closed on purpose where one
would be asked): half-written and bad files must be handled before anything is sent.
The exchange with a real server is in test_bridge_server.py.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_client.bridge import (
    DONE_DIR,
    ERROR_DIR,
    JOURNAL,
    STATE_DIR,
    Bridge,
    BridgeEvent,
    BridgeSettings,
    Journal,
    answer_name,
    classify,
    declared_encoding,
)
from clinic_client.client import ClientSettings, OnshiClient, search_info
from onshi import xmlcodec
from onshi.codes import BulkCode, CharacterCodeIdentifier, ReferenceClassification, SegmentOfResult
from onshi.messages import (
    ErrorAnswerMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    RequestHeader,
    ResultMessage,
)

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
    assert classify("OQSmuquc02req_X-2.xml") == ("bulk_results", "X-2")
    assert classify("OQSmuonq01req_7.xml") == ("unsupported", "7")
    assert classify("OQSsiquc01res_face_20261123101500.xml") == ("reader", "20261123101500")
    assert classify("OQSsiquc01res_0001.xml") is None  # our own answers
    assert classify(".OQSsiquc01req_0001.xml.tmp") is None
    assert classify("OQSsiquc01req_0001.xml.tmp") is None  # a clinic program's own temp file: not yet
    assert classify("OQSsiquc01req_0001.xml\n") == ("bad_name", "0001.xml\n")
    assert classify("notes.txt") is None
    assert answer_name("OQSsiquc01req_0001.xml") == "OQSsiquc01res_0001.xml"
    assert answer_name("OQSmuquc01req_b.xml") == "OQSmuquc01res_b.xml"  # the receipt
    assert answer_name("OQSmuquc02req_b.xml") == "OQSmuquc02res_b.xml"
    assert answer_name("OQSmuhvq01req_c.xml") == "OQSmuhvq01res_c.xml"


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
    assert not request.exists()  # taken: moved to done/, never deleted
    assert (tmp_path / DONE_DIR / request.name).read_bytes() == request_xml(
        CharacterCodeIdentifier.SHIFT_JIS, file_id="S1")


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
    journal = (tmp_path / STATE_DIR / JOURNAL).read_text(encoding="utf-8")
    lines = [json.loads(line) for line in journal.splitlines()]
    assert [(e["name"], e["status"]) for e in lines if e["status"] != "taken"] == [
        ("OQSsiquc01req_R1.xml", "outage_answered"),
        ("OQSsiquc01req_R2.xml", "outage_answered"),
        ("OQSsiquc01req_R3.xml", "outage_answered"),
    ]
    # Each was taken (with its idempotency key) before the server was asked.
    assert [e["name"] for e in lines if e["status"] == "taken"] == [
        "OQSsiquc01req_R1.xml", "OQSsiquc01req_R2.xml", "OQSsiquc01req_R3.xml"]

    # Dropped again (the first was moved to done/): a new request, handled again.
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


def reader_result() -> ResultMessage:
    from onshi.codes import ProcessingResultStatus, QualificationValidity
    from onshi.messages import ResultBody, ResultHeader

    return ResultMessage(
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


def test_reader_result_is_picked_up(tmp_path: Path, down_client: OnshiClient) -> None:
    result = reader_result()
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


# --- separate folders, unsupported kinds ---------------------------------------------------------


def answer_once(bridge: Bridge, clock: Clock) -> list[BridgeEvent]:
    """Two passes: the first sees the files, the second (after they settled) handles them."""
    first = bridge.scan()
    clock.advance(1)
    return first + bridge.scan()


def test_two_folders_requests_in_one_answers_in_the_other(tmp_path: Path, down_client: OnshiClient) -> None:
    requests, results = tmp_path / "req", tmp_path / "res"
    clock = Clock()
    bridge = Bridge(BridgeSettings(requests, results=results, use_watchdog=False, outage_answer_seconds=0),
                    down_client, clock=clock)
    (requests / "OQSsiquc01req_D1.xml").write_bytes(request_xml(file_id="D1"))
    (events,) = [answer_once(bridge, clock)]
    assert [e.status for e in events] == ["outage_answered"]
    assert (results / "OQSsiquc01res_D1.xml").exists()
    assert not (requests / "OQSsiquc01res_D1.xml").exists()
    assert sorted(p.name for p in requests.iterdir()) == [".onshi-bridge", DONE_DIR, ERROR_DIR]
    assert (requests / DONE_DIR / "OQSsiquc01req_D1.xml").exists()

    # The reader's results are read from the result folder (where the clinic program reads them too);
    # the same name in the request folder is nothing the bridge takes.
    face = xmlcodec.encode(reader_result())
    (results / "OQSsiquc01res_face_20261123101500.xml").write_bytes(face)
    (requests / "OQSsiquc01res_face_20261123101600.xml").write_bytes(face)
    assert [(e.name, e.status) for e in answer_once(bridge, clock)] == [
        ("OQSsiquc01res_face_20261123101500.xml", "picked_up")]
    assert (requests / "OQSsiquc01res_face_20261123101600.xml").exists()


@pytest.mark.parametrize("stem", ["OQSmuonq01req", "OQSmuhvq01req", "OQSmutic01req", "OQSmuonq02req",
                                  "OQSmuimm01req", "OQSzzzzz99req"])
def test_a_kind_we_do_not_serve_gets_a_visible_error_answer(
    tmp_path: Path, down_client: OnshiClient, stem: str
) -> None:
    requests, results = tmp_path / "req", tmp_path / "res"
    clock = Clock()
    bridge = Bridge(BridgeSettings(requests, results=results, use_watchdog=False), down_client, clock=clock)
    request = requests / f"{stem}_U1.xml"
    request.write_bytes(b'<?xml version="1.0" encoding="Shift_JIS"?><XmlMsg><MessageHeader>'
                        b"<MedicalInstitutionCode>1312345678</MedicalInstitutionCode></MessageHeader></XmlMsg>")
    (event,) = answer_once(bridge, clock)
    assert event.status == "rejected"
    answer = results / f"{stem[:-3]}res_U1.xml"
    assert declared_encoding(answer.read_bytes()) == "shift-jis"  # in the request's encoding
    message = xmlcodec.decode(answer.read_bytes(), ErrorAnswerMessage)
    assert message.MessageHeader.SegmentOfResult is SegmentOfResult.ABNORMAL_END
    assert message.MessageHeader.ErrorCode == BulkCode.KIND_UNSUPPORTED.value
    assert "対応していません" in message.MessageHeader.ErrorMessage
    note = (requests / ERROR_DIR / f"{stem}_U1.xml.error.txt").read_text(encoding="utf-8")
    assert "対応していません" in note and "does not serve" in note and answer.name in note
    assert (requests / ERROR_DIR / request.name).exists()


# --- issue 14, finding 1: one file name must not stop the bridge ----------------------------------


def test_a_255_byte_name_is_answered_and_the_bridge_goes_on(tmp_path: Path, down_client: OnshiClient) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, outage_answer_seconds=0)
    long_id = "診" * 79  # 237 bytes: the whole name is 255 bytes, the most a file name can have
    long_name = f"OQSsiquc01req_{long_id}.xml"
    assert len(long_name.encode()) == 255
    (tmp_path / long_name).write_bytes(request_xml(file_id="L1"))
    (tmp_path / "OQSsiquc01req_after.xml").write_bytes(request_xml(file_id="L2"))
    events = answer_once(bridge, clock)
    assert sorted(e.status for e in events) == ["outage_answered", "outage_answered"]
    assert (tmp_path / f"OQSsiquc01res_{long_id}.xml").exists()
    assert (tmp_path / "OQSsiquc01res_after.xml").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # The same name refused (a file that will not parse): its error note's name is cut to fit.
    (tmp_path / long_name).write_bytes(b"not xml")
    bridge.scan()
    clock.advance(11)
    (event,) = bridge.scan()
    assert event.status == "rejected"
    (note,) = [p for p in (tmp_path / ERROR_DIR).iterdir() if p.name.endswith(".error.txt")]
    assert len(note.name.encode()) <= 255 and long_name in note.read_text(encoding="utf-8")


def test_a_name_with_a_newline_does_not_take_anothers_answer(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, outage_answer_seconds=0)
    (tmp_path / "OQSsiquc01req_A.xml\n").write_bytes(request_xml(file_id="newline"))
    (tmp_path / "OQSsiquc01req_A.xml").write_bytes(request_xml(file_id="plain"))
    events = {e.name: e for e in answer_once(bridge, clock)}
    assert events["OQSsiquc01req_A.xml\n"].status == "rejected"
    assert "name_invalid" in events["OQSsiquc01req_A.xml\n"].detail
    assert events["OQSsiquc01req_A.xml"].status == "outage_answered"
    answer = xmlcodec.decode((tmp_path / "OQSsiquc01res_A.xml").read_bytes(), ResultMessage)
    assert answer.MessageHeader.ArbitraryFileIdentifier == "plain"  # its own answer, nobody else's
    assert (tmp_path / ERROR_DIR / "OQSsiquc01req_A.xml\n").exists()


def test_a_face_id_is_not_answered_under_a_reader_result_name(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    picked: list[str] = []
    bridge = Bridge(BridgeSettings(tmp_path, use_watchdog=False, outage_answer_seconds=0), down_client,
                    clock=clock, on_reader_result=lambda path, _m: picked.append(path.name))
    (tmp_path / "OQSsiquc01req_face_20261124090000.xml").write_bytes(request_xml())
    (event,) = answer_once(bridge, clock)
    assert event.status == "rejected" and "name_reserved" in event.detail
    clock.advance(1)
    assert answer_once(bridge, clock) == []
    assert not (tmp_path / "OQSsiquc01res_face_20261124090000.xml").exists() and picked == []
    note_path = tmp_path / ERROR_DIR / "OQSsiquc01req_face_20261124090000.xml.error.txt"
    note = note_path.read_text(encoding="utf-8")
    assert "face_" in note


# --- issue 14, finding 6 ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_answers_get_the_requests_permissions(tmp_path: Path, down_client: OnshiClient, mode: int) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock, outage_answer_seconds=0)
    request = tmp_path / "OQSsiquc01req_M1.xml"
    request.write_bytes(request_xml())
    request.chmod(mode)
    answer_once(bridge, clock)
    assert stat.S_IMODE((tmp_path / "OQSsiquc01res_M1.xml").stat().st_mode) == mode


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path, down_client: OnshiClient) -> None:
    results = tmp_path / "res"
    results.mkdir()
    left = [results / ".onshi-0a1b2c3d4e5f.tmp", results / ".OQSsiquc01res_X.xml.k3j2h1.tmp"]
    for path in left:
        path.write_bytes(b"half an answer")
    keep = results / "OQSsiquc01res_X.xml"
    keep.write_bytes(b"an answer")
    Bridge(BridgeSettings(tmp_path / "req", results=results, use_watchdog=False), down_client, clock=Clock())
    assert not any(path.exists() for path in left) and keep.exists()


def test_a_symlink_to_a_file_outside_is_not_followed(tmp_path: Path, down_client: OnshiClient) -> None:
    outside = tmp_path / "outside.xml"
    outside.write_bytes(request_xml(file_id="SECRET"))
    folder = tmp_path / "req"
    folder.mkdir()
    (folder / "OQSsiquc01req_S1.xml").symlink_to(outside)
    clock = Clock()
    bridge = make_bridge(folder, down_client, clock, outage_answer_seconds=0)
    (event,) = answer_once(bridge, clock)
    assert event.status == "rejected" and "symlink_refused" in event.detail
    assert (folder / ERROR_DIR / "OQSsiquc01req_S1.xml").is_symlink()  # the link moved aside, as is
    assert outside.read_bytes() == request_xml(file_id="SECRET")
    answer = (folder / "OQSsiquc01res_S1.xml").read_bytes()
    assert b"SECRET" not in answer  # answered as refused, nothing of the target in it
    assert xmlcodec.decode(answer, ResultMessage).MessageHeader.ErrorCode == BulkCode.FILE_REJECTED.value


def test_a_file_over_the_limit_is_refused_without_being_read(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    clock = Clock()
    bridge = make_bridge(tmp_path, down_client, clock)
    big = tmp_path / "OQSsiquc01req_BIG.xml"
    with big.open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # 50 MB
    status = big.stat()
    os.utime(big, ns=(status.st_mtime_ns - 10**12, status.st_mtime_ns))  # any read would move atime
    atime = big.stat().st_atime_ns
    for _ in range(5):
        bridge.scan()
        clock.advance(0.25)
    moved = tmp_path / ERROR_DIR / big.name
    assert moved.stat().st_atime_ns == atime  # never read (nor hashed)
    note = (tmp_path / ERROR_DIR / f"{big.name}.error.txt").read_text(encoding="utf-8")
    assert "file_too_large" in note and "52,428,800" in note


def test_a_bridge_killed_between_archiving_and_journalling_is_journalled_at_restart(
    tmp_path: Path, down_client: OnshiClient
) -> None:
    (tmp_path / DONE_DIR).mkdir()
    (tmp_path / DONE_DIR / "OQSsiquc01req_K1.xml").write_bytes(request_xml(file_id="K1"))
    Journal(tmp_path).record(BridgeEvent("OQSsiquc01req_K1.xml", "taken", "abc", key="k1"))
    bridge = make_bridge(tmp_path, down_client, Clock())
    entry = bridge.journal.last["OQSsiquc01req_K1.xml"]
    assert (entry["status"], entry["key"], entry["answer"]) == ("answered", "k1", "OQSsiquc01res_K1.xml")


def test_a_vanished_folder_does_not_stop_the_bridge(tmp_path: Path, down_client: OnshiClient) -> None:
    results = tmp_path / "res"
    bridge = Bridge(BridgeSettings(tmp_path / "req", results=results, use_watchdog=False), down_client,
                    clock=Clock())
    results.rmdir()  # a network share gone away
    assert bridge.scan() == []
