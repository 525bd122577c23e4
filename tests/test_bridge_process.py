"""The bridge as its own process (`python -m onshi bridge --requests R --results S`) against a real server
process: a clinic program configured with two folders gets its single and bulk answers (the bulk one in
two steps), a kind we do not serve gets a visible answer, and kill -9 in the middle of a batch loses
nothing and asks nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from clinic_client.bridge import DONE_DIR, JOURNAL, STATE_DIR
from clinic_client.client import search_info
from onshi import xmlcodec
from onshi.codes import BulkCode, CharacterCodeIdentifier, QualificationValidity, SegmentOfResult
from onshi.messages import (
    BulkCheckRequestBody,
    BulkCheckRequestMessage,
    BulkDownloadRequestBody,
    BulkDownloadRequestHeader,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    BulkResultMessage,
    ErrorAnswerMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    RequestHeader,
    ResultMessage,
)
from onshi.procs import ROOT, start_onshi, stop
from tests.conftest import LiveServer
from tests.server_helpers import FIXTURE_MOMENT, access_log, advance_clock, clock_at

SJIS = CharacterCodeIdentifier.SHIFT_JIS
HEALTHY = search_info("138040", "204518", "19681103", symbol="新01", branch="00")


def header(server: LiveServer, file_id: str, *, single: bool) -> RequestHeader:
    return RequestHeader.model_validate({
        "QualificationConfirmationDate": "20261124", "MedicalInstitutionCode": server.clinic_code,
        "ArbitraryFileIdentifier": file_id, "ReferenceClassification": "2" if single else None,
        "CharacterCodeIdentifier": SJIS.value,
    })


def number_request(server: LiveServer, file_id: str) -> bytes:
    message = NumberCheckRequestMessage(MessageHeader=header(server, file_id, single=True),
                                        MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=HEALTHY))
    return xmlcodec.encode(message, SJIS)


@contextmanager
def bridge_process(
    server: LiveServer, requests: Path, results: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`onshi bridge --requests --results` as a separate process; the list holds the running one."""
    running = [start_bridge(server, requests, results)]
    try:
        yield running
    finally:
        stop(running[0])


def start_bridge(server: LiveServer, requests: Path, results: Path) -> subprocess.Popen[bytes]:
    log = ROOT / "var" / "test-logs" / "bridge-process.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = ["bridge", "--requests", str(requests), "--results", str(results), "--server", server.url,
            "--settle", "0.1", "--poll", "0.1", "--give-up", "2"]
    env = {"ONSHI_CLINIC_CODE": server.clinic_code, "ONSHI_CLINIC_TOKEN": server.clinic_token}
    return start_onshi(args, env=env, log=log)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def written(path: Path) -> bytes:
    wait_for(path.exists)
    return path.read_bytes()


def test_a_clinic_program_with_two_folders_gets_single_and_two_step_bulk_answers(
    live_server: LiveServer, tmp_path: Path
) -> None:
    requests, results = tmp_path / "clinic-out", tmp_path / "clinic-in"
    requests.mkdir()
    results.mkdir()
    bulk = BulkCheckRequestMessage(
        MessageHeader=header(live_server, f"B-{uuid.uuid4().hex[:8]}", single=False),
        MessageBody=BulkCheckRequestBody(QualificationConfirmSearchInfo=[
            HEALTHY.model_copy(update={"ArbitraryIdentifier": "P1"}),
            search_info("01130012", "305", "19901010", symbol="31059999", branch="00",
                        arbitrary_identifier="P2"),
        ]),
    )
    with clock_at(live_server, FIXTURE_MOMENT), bridge_process(live_server, requests, results):
        (requests / "OQSsiquc01req_0001.xml").write_bytes(number_request(live_server, "S1"))
        (requests / "OQSmuquc01req_0002.xml").write_bytes(xmlcodec.encode(bulk, SJIS))
        (requests / "OQSmuonq01req_0003.xml").write_bytes(number_request(live_server, "X"))  # online care

        single = xmlcodec.decode(written(results / "OQSsiquc01res_0001.xml"), ResultMessage)
        assert single.MessageBody.QualificationValidity is QualificationValidity.VALID
        receipt_bytes = written(results / "OQSmuquc01res_0002.xml")
        receipt_bytes.decode("shift_jis")
        receipt = xmlcodec.decode(receipt_bytes, BulkReceiptMessage)
        assert receipt.MessageBody.ReceptionNumber
        refused = xmlcodec.decode(written(results / "OQSmuonq01res_0003.xml"), ErrorAnswerMessage)
        assert refused.MessageHeader.ErrorCode == BulkCode.KIND_UNSUPPORTED.value
        wait_for(lambda: (requests / "error" / "OQSmuonq01req_0003.xml.error.txt").exists())

        reception = receipt.MessageBody.ReceptionNumber or ""

        def download(file_id: str) -> BulkResultMessage:
            message = BulkDownloadRequestMessage(
                MessageHeader=BulkDownloadRequestHeader(MedicalInstitutionCode=live_server.clinic_code),
                MessageBody=BulkDownloadRequestBody(ReceptionNumber=reception),
            )
            (requests / f"OQSmuquc02req_{file_id}.xml").write_bytes(xmlcodec.encode(message, SJIS))
            data = written(results / f"OQSmuquc02res_{file_id}.xml")
            data.decode("shift_jis")  # bulk results as Shift_JIS, as some bulk programs require
            xmlcodec.validate(data, "OQSmuquc02res")
            return xmlcodec.decode(data, BulkResultMessage)

        assert download("0004").MessageHeader.SegmentOfResult is SegmentOfResult.IN_PROGRESS
        advance_clock(live_server, 600)  # the results are ready 10 minutes (simulated) after the receipt
        ready = download("0005")
    assert ready.MessageHeader.SegmentOfResult is SegmentOfResult.NORMAL_END
    assert [u.QualificationValidity for u in ready.MessageBody.BulkConfirmUnit] == [
        QualificationValidity.VALID, QualificationValidity.NO_MATCH]
    assert sorted(p.name for p in (requests / DONE_DIR).iterdir()) == [
        "OQSmuquc01req_0002.xml", "OQSmuquc02req_0004.xml", "OQSmuquc02req_0005.xml",
        "OQSsiquc01req_0001.xml",
    ]


def test_kill_9_during_a_batch_every_file_answered_once_and_looked_up_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """The issue-14 probe, bounded: 40 files, the bridge killed (SIGKILL) three times while answering."""
    person = live_server.personas["healthy-national"]["person_id"]  # HEALTHY's numbers
    before = len(access_log(live_server, person, limit=5000))
    requests, results = tmp_path / "req", tmp_path / "res"
    requests.mkdir()
    results.mkdir()
    count = int(os.environ.get("ONSHI_KILL_PROBE_FILES", "40"))  # the probe had 200
    names = [f"OQSsiquc01req_{i:04d}.xml" for i in range(count)]
    for i, name in enumerate(names):
        (requests / name).write_bytes(number_request(live_server, f"K{i:04d}"))

    def answered() -> int:
        return sum(1 for p in results.iterdir() if p.name.startswith("OQSsiquc01res_"))

    kills = 0
    with bridge_process(live_server, requests, results) as running:
        for threshold in (count // 4, count // 2, 3 * count // 4):
            wait_for(lambda t=threshold: answered() >= t)
            os.kill(running[0].pid, signal.SIGKILL)
            running[0].wait()
            kills += 1
            running[0] = start_bridge(live_server, requests, results)
        wait_for(lambda: answered() == count and not any(requests.glob("OQSsiquc01req_*")))
    assert kills == 3
    assert sorted(p.name for p in results.iterdir()) == sorted(n.replace("req_", "res_") for n in names)
    assert sorted(p.name for p in (requests / DONE_DIR).iterdir()) == names  # each taken once
    assert len(access_log(live_server, person, limit=5000)) == before + count  # one lookup each
    journal = [json.loads(line) for line in (requests / STATE_DIR / JOURNAL).read_text().splitlines()]
    finals = [e["name"] for e in journal if e["status"] != "taken"]
    assert sorted(finals) == names  # one outcome per file
    for name in names:
        answer = xmlcodec.decode((results / name.replace("req_", "res_")).read_bytes(), ResultMessage)
        assert answer.MessageHeader.ArbitraryFileIdentifier == f"K{name[14:18]}"
