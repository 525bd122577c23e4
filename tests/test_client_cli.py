"""`onshi check number|card|bulk` and `onshi bridge DIR` as real subprocesses against a real server
(and, for `check card`, a real reader emulator process), read by their text, JSON and XML output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_client.client import Api, ClientSettings, search_info
from clinic_client.console.demo import demo_patients
from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier, QualificationValidity, ReferenceClassification
from onshi.messages import BulkResultMessage, ResultMessage
from onshi.procs import ROOT, stop
from tests.conftest import LiveServer
from tests.server_helpers import FIXTURE_MOMENT, advance_clock, clock_at, outage, reader_process

PATIENTS = {p.persona or p.id: p for p in demo_patients()}  # by persona (ids are カルテ番号)


def onshi(server: LiveServer, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``python -m onshi ARGS`` with the clinic's credentials in the environment, as a clinic runs it."""
    env = {
        "ONSHI_SERVER_URL": server.url,
        "ONSHI_CLINIC_CODE": server.clinic_code,
        "ONSHI_CLINIC_TOKEN": server.clinic_token,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "onshi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def numbers(persona: str) -> list[str]:
    patient = PATIENTS[persona]
    d = patient.documents[0]
    args = ["--insurer", d.insurer_number, "--number", d.number, "--birthdate", patient.birthdate.isoformat()]
    args += ["--symbol", d.symbol] if d.symbol else []
    return args + (["--branch", d.branch] if d.branch else [])


# --- check number ------------------------------------------------------------------------------


def test_check_number_text_for_a_valid_patient(live_server: LiveServer) -> None:
    done = onshi(live_server, "check", "number", *numbers("healthy-employee"))
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert out.startswith("✔ 資格 / qualification: 有効 / valid")
    assert "氏名 / name: 佐藤　花子" in out and "負担割合 / co-pay: 3割" in out
    assert "06139012" in out


def test_check_number_text_names_the_failure_and_the_next_step(live_server: LiveServer) -> None:
    done = onshi(live_server, "check", "number", *numbers("f1-input-lag"))
    out = done.stdout.decode()
    assert done.returncode == 1
    assert out.startswith("✘ 資格 / qualification: 該当資格なし / no matching qualification")
    assert "→ F1 資格情報入力のタイムラグ" in out and "被保険者資格申立書" in out


def test_check_number_json(live_server: LiveServer) -> None:
    done = onshi(live_server, "check", "number", *numbers("healthy-employee"), "--format", "json")
    answer = json.loads(done.stdout)
    assert done.returncode == 0
    assert answer["valid"] is True and answer["validity"] == "1" and answer["failures"] == []
    assert answer["medical_info"] == []  # never by number
    person = answer["result"]["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"][0]
    assert person["Name"] == "佐藤　花子" and person["InsuredPartialContributionRatio"] == "030"


@pytest.mark.parametrize(
    ("option", "flag"), [("--limit-consent", "1"), ("--no-limit-consent", "0"), (None, "0")]
)
def test_check_number_always_sends_the_limit_consent_flag(
    live_server: LiveServer, option: str | None, flag: str
) -> None:
    """Real parsers refuse an echo without the flag: the CLI always sends the patient's answer."""
    extra = [option] if option else []
    done = onshi(live_server, "check", "number", *numbers("healthy-employee"), *extra, "--format", "json")
    body = json.loads(done.stdout)["result"]["MessageBody"]
    assert body["QualificationConfirmSearchInfo"]["LimitApplicationCertificateRelatedConsFlg"] == flag
    person = body["ResultList"]["ResultOfQualificationConfirmation"][0]
    assert ("LimitApplicationCertificateRelatedInfo" in person) is (flag == "1")


@pytest.mark.parametrize("sjis", [False, True])
def test_check_number_xml_is_the_real_answer(live_server: LiveServer, sjis: bool) -> None:
    done = onshi(
        live_server,
        "check",
        "number",
        *numbers("healthy-employee"),
        "--format",
        "xml",
        *(["--sjis"] if sjis else []),
    )
    assert done.returncode == 0
    declared = b'encoding="Shift_JIS"' if sjis else b'encoding="UTF-8"'
    assert declared in done.stdout.split(b"?>")[0]
    message = xmlcodec.decode(done.stdout, ResultMessage)
    assert message.MessageHeader.ReferenceClassification is ReferenceClassification.INSURED_CARD_INFO
    expected = CharacterCodeIdentifier.SHIFT_JIS if sjis else CharacterCodeIdentifier.UTF8
    assert message.MessageHeader.CharacterCodeIdentifier is expected
    assert message.MessageBody.QualificationValidity is QualificationValidity.VALID


def test_check_number_in_an_outage_exits_2_with_the_declaration_route(live_server: LiveServer) -> None:
    with outage(live_server):
        done = onshi(live_server, "check", "number", *numbers("healthy-employee"), "--format", "json")
    assert done.returncode == 2
    answer = json.loads(done.stdout)
    assert answer["error"]["status"] == 503 and answer["failures"] == ["F13"]


# --- check bulk --------------------------------------------------------------------------------

BULK = ["healthy-employee", "f1-input-lag", "f14-twin-a"]


@pytest.fixture
def bulk_csv(tmp_path: Path) -> Path:
    rows = ["id,insurer,symbol,number,branch,birthdate"]
    for pid in BULK:
        p = PATIENTS[pid]
        d = p.documents[0]
        rows.append(f"{pid},{d.insurer_number},{d.symbol or ''},{d.number},{d.branch or ''},{p.birthdate}")
    path = tmp_path / "tomorrow.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_check_bulk_text_summary(live_server: LiveServer, bulk_csv: Path) -> None:
    done = onshi(live_server, "check", "bulk", str(bulk_csv), "--one-step")
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 1  # not everyone is valid
    assert lines[0] == "照会 / checked: 3  有効 / valid: 1  要対応 / needs attention: 2"
    assert "✔ healthy-employee: 有効 / valid 佐藤　花子" in lines
    assert any(line.startswith("✘ f1-input-lag: 該当資格なし") for line in lines)
    assert any(line.startswith("✘ f14-twin-a: 複数該当") for line in lines)
    assert any("→ F14" in line for line in lines)


def test_check_bulk_json_and_xml(live_server: LiveServer, bulk_csv: Path) -> None:
    done = onshi(live_server, "check", "bulk", str(bulk_csv), "--format", "json", "--one-step")
    rows = json.loads(done.stdout)
    assert [(r["id"], r["validity"]) for r in rows] == [
        ("healthy-employee", "1"),
        ("f1-input-lag", "4"),
        ("f14-twin-a", "5"),
    ]
    assert rows[2]["failures"] == ["F14"]
    xml = onshi(live_server, "check", "bulk", str(bulk_csv), "--format", "xml", "--one-step").stdout
    answer = xmlcodec.decode(xml, BulkResultMessage)
    assert answer.MessageHeader.NumberOfProcessingResult == 3
    identifiers = [
        u.QualificationConfirmSearchInfo.ArbitraryIdentifier for u in answer.MessageBody.BulkConfirmUnit
    ]
    assert identifiers == BULK


def test_check_bulk_in_two_steps(live_server: LiveServer, bulk_csv: Path) -> None:
    with clock_at(live_server, FIXTURE_MOMENT):
        received = onshi(live_server, "check", "bulk", str(bulk_csv))
        assert received.returncode == 3, received.stderr.decode()  # received, not ready yet
        stderr = received.stderr.decode()
        number = stderr.split("受付番号 / reception number: ")[1].split()[0]
        assert "準備中" in stderr and f"onshi check bulk-results {number}" in stderr
        advance_clock(live_server, 600)
        done = onshi(live_server, "check", "bulk-results", number, "--format", "json")
    assert done.returncode == 1  # not everyone is valid
    assert [r["validity"] for r in json.loads(done.stdout)] == ["1", "4", "5"]
    unknown = onshi(live_server, "check", "bulk-results", "NO-SUCH-NUMBER")
    assert unknown.returncode == 2 and "B404" in unknown.stderr.decode()


# --- bridge DIR --------------------------------------------------------------------------------


def test_bridge_answers_a_request_file_beside_it(live_server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "exchange"
    folder.mkdir()
    env = {"ONSHI_CLINIC_CODE": live_server.clinic_code, "ONSHI_CLINIC_TOKEN": live_server.clinic_token}
    out = tmp_path / "bridge.out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onshi",
            "bridge",
            str(folder),
            "--server",
            live_server.url,
            "--settle",
            "0.2",
            "--poll",
            "0.2",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        p = PATIENTS["healthy-employee"]
        d = p.documents[0]
        clock = httpx.get(f"{live_server.url}/api/v1/health", timeout=10).json()["now"]
        api = Api(
            ClientSettings(clinic_code=live_server.clinic_code, today=lambda: date.fromisoformat(clock[:10]))
        )
        message = api.number_check_message(
            search_info(d.insurer_number, d.number, p.birthdate, symbol=d.symbol, branch=d.branch), "T1"
        )
        request = folder / "OQSsiquc01req_T1.xml"
        sjis = CharacterCodeIdentifier.SHIFT_JIS  # as many real clinic programs write them
        header = message.MessageHeader.model_copy(update={"CharacterCodeIdentifier": sjis})
        request.write_bytes(xmlcodec.encode(message.model_copy(update={"MessageHeader": header}), sjis))
        answer_path = folder / "OQSsiquc01res_T1.xml"
        deadline = time.monotonic() + 60
        while not answer_path.exists() and time.monotonic() < deadline:
            assert process.poll() is None, out.read_text()
            time.sleep(0.2)
        answer = xmlcodec.decode(answer_path.read_bytes(), ResultMessage)
        assert b'encoding="Shift_JIS"' in answer_path.read_bytes()[:100]  # answered in the request's encoding
        assert answer.MessageHeader.ArbitraryFileIdentifier == "T1"
        assert answer.MessageBody.QualificationValidity is QualificationValidity.VALID
        person = answer.MessageBody.ResultList
        assert person is not None and person.ResultOfQualificationConfirmation[0].Name == "佐藤　花子"
    finally:
        stop(process)
    log = out.read_text(encoding="utf-8")
    assert f"watching {folder}" in log and "OQSsiquc01req_T1.xml" in log and "OQSsiquc01res_T1.xml" in log


# --- check card, through a real reader emulator ------------------------------------------------


@dataclass
class ReaderProcess:
    url: str
    results: Path


@pytest.fixture(scope="module")
def reader(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReaderProcess]:
    home = tmp_path_factory.mktemp("reader")
    with reader_process(live_server, home) as url:
        yield ReaderProcess(url, home / "results")


def reader_state(reader: ReaderProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{reader.url}/api/reader/state", timeout=10).json())


def wait_for(reader: ReaderProcess, done: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = reader_state(reader)
        if done(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"reader state: {reader_state(reader)}")


def card_check(
    server: LiveServer, reader: ReaderProcess, persona: str, *args: str, card_fault: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Runs `onshi check card` and plays the patient at the reader: card, PIN, consent to everything."""
    command = [
        sys.executable,
        "-m",
        "onshi",
        "check",
        "card",
        persona,
        "--reader-url",
        reader.url,
        "--results-dir",
        str(reader.results),
        "--wait",
        "60",
        *args,
    ]
    wait_for(reader, lambda s: s["state"] not in ("result", "error"))  # the last patient has gone
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(reader, lambda s: s.get("patient_ref") == persona and s["state"] not in ("result", "error"))
    httpx.post(f"{reader.url}/api/reader/faults", json={"card_unreadable": card_fault}, timeout=10)
    httpx.post(f"{reader.url}/api/reader/card", json={"card_id": persona}, timeout=30)
    if not card_fault:
        wait_for(reader, lambda s: s["state"] == "method")
        httpx.post(f"{reader.url}/api/reader/method", json={"method": "pin"}, timeout=10)
        httpx.post(f"{reader.url}/api/reader/pin", json={"pin": "1234"}, timeout=30)
        state = wait_for(reader, lambda s: s["state"] in ("consent", "result"))
        while state["state"] == "consent":
            answer: bool | str = "electronic" if state["consent_step"] == "prescription" else True
            httpx.post(f"{reader.url}/api/reader/consent", json={"answer": answer}, timeout=30)
            state = wait_for(reader, lambda s: s["state"] in ("consent", "result"))
    stdout, stderr = process.communicate(timeout=90)
    httpx.post(f"{reader.url}/api/reader/faults", json={"card_unreadable": False}, timeout=10)
    httpx.delete(f"{reader.url}/api/reader/card", timeout=30)  # the patient takes the card back
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_check_card_text_json_and_xml(live_server: LiveServer, reader: ReaderProcess) -> None:
    text = card_check(live_server, reader, "healthy-employee")
    out = text.stdout.decode()
    assert text.returncode == 0, text.stderr.decode()
    assert out.startswith("✔ 資格 / qualification: 有効 / valid")
    assert "氏名 / name: 佐藤　花子" in out and "負担割合 / co-pay: 3割" in out
    assert not out.lstrip().startswith("{")  # readable text, not raw JSON

    answer = json.loads(card_check(live_server, reader, "healthy-employee", "--format", "json").stdout)
    assert answer["valid"] is True and answer["validity"] == "1"
    assert "medication" in answer["medical_info"]  # consented at the reader
    assert answer["result"]["MessageHeader"]["ReferenceClassification"] == "1"

    xml = card_check(live_server, reader, "healthy-employee", "--format", "xml", "--sjis")
    assert xml.returncode == 0 and b'encoding="Shift_JIS"' in xml.stdout[:100]
    message = xmlcodec.decode(xml.stdout, ResultMessage)
    assert message.MessageHeader.ReferenceClassification is ReferenceClassification.MY_NUMBER_CARD
    assert message.MessageBody.QualificationValidity is QualificationValidity.VALID


def test_check_card_reader_error_gives_the_next_step(live_server: LiveServer, reader: ReaderProcess) -> None:
    done = card_check(live_server, reader, "healthy-employee", card_fault=True)
    out = done.stdout.decode()
    assert done.returncode == 2  # nothing was checked
    assert out.startswith("✘ リーダーエラー / reader error R101")
    assert "→ F6 カードリーダーのエラー" in out
    answer = json.loads(
        card_check(live_server, reader, "healthy-employee", "--format", "json", card_fault=True).stdout
    )
    assert answer["reader_error"]["code"] == "R101" and answer["failures"] == ["F6"]
