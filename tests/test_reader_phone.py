"""The smartphone マイナ保険証 on the reader emulator, against a real server process (issue 12).

Both platforms end to end (the reader sends the phone's certificate, the phone key's signature and
its own attestation over ``smartphone:<method>``), Android's PIN sharing the card's 3-try lock, an
iPhone whose Face ID fails, the hold faults, a clinic without a 汎用カードリーダー, a phone failing where
the card works (F17) and a card failing where the phone works, the result file's comment (the XML
keeps the real element set and still validates) and the console notice's medium and platform.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from cardreader_emulator.central import Admin, Central, ReaderIdentity
from cardreader_emulator.machine import InvalidAction
from cardreader_emulator.provision import fetch_fixture_cards, fetch_fixture_phones
from cardreader_emulator.reader import Reader, ReaderConfig
from cardreader_emulator.results import medium_comment, write_result_file
from onshi import xmlcodec
from onshi.messages import ResultMessage
from onshi.procs import ROOT
from tests.test_conformance import check_file
from tests.test_reader_e2e import ALL_YES


class Console:
    """A stand-in clinic console that records what the reader tells it (real HTTP)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def console() -> Iterator[Console]:
    c = Console()
    yield c
    c.server.shutdown()


class Counter:
    """A reader at the fixture clinic with its own tray (cards and phones) and result folder."""

    def __init__(self, live_server: Any, identity: ReaderIdentity, tmp: Path, console_url: str | None = None,
                 encoding: str = "utf-8") -> None:
        self.live_server = live_server
        self.tray = tmp / "cards"
        self.results = tmp / "results"
        central = Central(live_server.url, live_server.clinic_code, live_server.clinic_token, identity)
        self.reader = Reader(ReaderConfig(cards_dir=self.tray, results_dir=self.results, encoding=encoding,
                                          console_url=console_url), central)

    def stock(self, *, cards: tuple[str, ...] = (), phones: tuple[str, ...] = ()) -> None:
        admin = Admin(self.live_server.url, self.live_server.admin_token)
        try:
            if cards:
                fetch_fixture_cards(admin, self.tray, only=list(cards), keep_pin_state=False)
            if phones:
                fetch_fixture_phones(admin, self.tray, only=list(phones))
        finally:
            admin.close()

    def consents(self) -> dict[str, Any]:
        snap = self.reader.snapshot()
        while snap["state"] == "consent":
            step = snap["consent_step"]
            answer = ALL_YES[step]
            snap = self.reader.answer_consent(str(answer) if step == "prescription" else bool(answer))
        return snap

    def result_file(self) -> tuple[bytes, ResultMessage]:
        (path,) = sorted(self.results.glob("OQSsiquc01res_face_*.xml"))
        data = path.read_bytes()
        return data, xmlcodec.decode(data, ResultMessage)


@pytest.fixture
def counter(live_server: Any, identity: ReaderIdentity, tmp_path: Path, console: Console) -> Counter:
    live_server.reset()  # fixture personas, clock at the fixture moment: phones as set up there
    return Counter(live_server, identity, tmp_path, console.url)


def test_iphone_check_end_to_end_is_a_smartphone_biometric_check(counter: Counter, console: Console) -> None:
    counter.stock(phones=("healthy-employee.iphone",))
    r = counter.reader
    r.start_check("P-IPH")
    snap = r.choose_phone("healthy-employee.iphone")
    assert (snap["state"], snap["medium"], snap["platform"]) == ("phone_confirm", "smartphone", "iphone")
    assert snap["phone"]["name"] == "佐藤 花子" and snap["card"] is None
    assert r.confirm_on_phone(True)["state"] == "phone_hold"
    assert r.hold_phone("ok")["state"] == "consent"
    snap = counter.consents()
    assert snap["state"] == "result" and snap["summary"]["validity"] == "1"
    assert r.last_answer is not None
    assert (r.last_answer["medium"], r.last_answer["method"]) == ("smartphone", "biometric")
    assert {"label": {"ja": "確認方法", "en": "Checked with"},
            "value": {"ja": "スマートフォン（iPhone・生体認証）", "en": "smartphone (iPhone, biometrics)"},
            "bad": False} in snap["screen"]["facts"]
    data, message = counter.result_file()
    assert data.split(b"\n")[1] == ("<!-- 確認方法: スマートフォン（iPhone・生体認証） / "
                                    "method: smartphone (iPhone, biometrics) -->").encode()
    check_file(data, "phone.xml")  # the real element set, by the rules real clinic programs apply
    in_spec_order = xmlcodec.encode(message, message.MessageHeader.CharacterCodeIdentifier)
    xmlcodec.validate(in_spec_order, "OQSsiquc01res")  # and valid against our XSD
    comment = medium_comment("smartphone", "iphone", "biometric")
    schema_file = write_result_file(counter.results / "schema", r.last_answer["result"], message.MessageHeader
                                    .CharacterCodeIdentifier, order="schema", comment=comment)
    xmlcodec.validate(schema_file.read_bytes(), "OQSsiquc01res")  # the file itself, comment and all
    assert message.MessageBody.QualificationValidity is not None
    assert message.MessageBody.QualificationValidity.value == "1"
    (notice,) = console.received
    assert (notice["patient_ref"], notice["medium"], notice["platform"], notice["method"]) == (
        "P-IPH", "smartphone", "iphone", "biometric")


def test_android_check_in_shift_jis_carries_the_comment_in_the_files_encoding(
    live_server: Any, identity: ReaderIdentity, tmp_path: Path, console: Console
) -> None:
    live_server.reset()
    counter = Counter(live_server, identity, tmp_path, console.url, encoding="shift_jis")
    counter.stock(cards=("healthy-employee",), phones=("healthy-employee.android",))
    r = counter.reader
    assert r.choose_phone("healthy-employee.android")["state"] == "phone_pin"
    assert r.enter_pin("1234")["state"] == "phone_hold"
    assert r.hold_phone("ok")["state"] == "consent"
    snap = counter.consents()
    assert snap["summary"]["validity"] == "1" and r.last_answer is not None
    assert (r.last_answer["medium"], r.last_answer["method"]) == ("smartphone", "pin")
    data, message = counter.result_file()
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<!-- ')
    assert "確認方法: スマートフォン（Android・暗証番号）".encode("shift_jis") in data
    check_file(data, "phone-sjis.xml")
    assert message.MessageHeader.CharacterCodeIdentifier.value == "1"
    assert console.received[-1]["platform"] == "android"


def test_android_pin_shares_the_cards_three_try_lock(counter: Counter) -> None:
    counter.stock(cards=("healthy-employee",), phones=("healthy-employee.android",))
    r = counter.reader
    r.choose_phone("healthy-employee.android")
    for left in (2, 1):
        r.enter_pin("0000")
        snap = r.hold_phone("ok")
        assert (snap["state"], snap["pin_remaining"]) == ("phone_pin", left)
    assert r.store.get("healthy-employee").pin_remaining == 1  # the card's own counter went down
    r.enter_pin("9999")
    snap = r.hold_phone("ok")
    assert snap["state"] == "error" and snap["error"]["code"] == "R706"
    assert r.store.get("healthy-employee").pin_locked  # the card is locked too
    r.run_out_the_clock()  # the error screen goes back to waiting
    r.place_card("healthy-employee")
    assert r.snapshot()["methods"] == ["face", "visual"]  # the card offers no PIN now


def test_iphone_face_id_failing_three_times_ends_with_r705(counter: Counter, console: Console) -> None:
    counter.stock(phones=("f16-phone-only.iphone",))
    r = counter.reader
    r.start_check("P-FID")
    r.choose_phone("f16-phone-only.iphone")
    for _ in range(2):
        snap = r.confirm_on_phone(False)
        assert snap["state"] == "phone_confirm" and snap["notice"]["code"] == "phone_auth_failed"
    snap = r.confirm_on_phone(False)
    assert snap["state"] == "error" and snap["error"]["code"] == "R705"
    assert "資格確認書" in snap["error"]["ja"]
    (notice,) = console.received
    assert notice["reader_error"]["code"] == "R705" and notice["medium"] == "smartphone"


def test_hold_faults_not_read_moved_early_then_timeout(counter: Counter) -> None:
    counter.stock(phones=("f16-phone-only.iphone",))
    r = counter.reader
    r.choose_phone("f16-phone-only.iphone")
    with pytest.raises(InvalidAction):
        r.hold_phone("timeout")  # nothing to hold yet: Face ID first
    r.confirm_on_phone(True)
    assert r.hold_phone("not_read")["notice"]["code"] == "R702"
    assert r.hold_phone("moved_early")["notice"]["code"] == "R703"
    snap = r.hold_phone("timeout")
    assert snap["state"] == "error" and snap["error"]["code"] == "R704"
    assert r.last_answer is None  # nothing was sent


def test_without_a_general_reader_the_phone_cannot_be_used_but_the_card_can(counter: Counter) -> None:
    counter.stock(cards=("f16-phone-only",), phones=("f16-phone-only.iphone",))
    r = counter.reader
    r.set_general_reader(False)
    snap = r.choose_phone("f16-phone-only.iphone")
    assert snap["state"] == "error" and snap["error"]["code"] == "R701"
    assert "汎用カードリーダー" in snap["error"]["ja"] and snap["general_reader"] is False
    r.place_card("f16-phone-only")  # had she brought the card: it works on the face-auth reader
    r.choose("pin")
    r.enter_pin("1234")
    assert counter.consents()["summary"]["validity"] == "1"


def test_f17_expired_phone_fails_while_its_card_works(counter: Counter) -> None:
    counter.stock(cards=("f17-phone-expired",), phones=("f17-phone-expired.android",))
    r = counter.reader
    r.choose_phone("f17-phone-expired.android")
    r.enter_pin("1234")
    r.hold_phone("ok")
    snap = counter.consents()
    assert snap["state"] == "result" and snap["summary"]["processing_result_status"] == "2"
    assert snap["screen"]["tone"] == "bad" and "資格確認書" in snap["screen"]["next"]["ja"]
    assert "E001" in {m["code"] for m in snap["screen"]["messages"]} | {snap["summary"]["error_code"]}
    r.run_out_the_clock()
    r.place_card("f17-phone-expired")  # the renewed card
    r.choose("pin")
    r.enter_pin("1234")
    assert counter.consents()["summary"]["validity"] == "1"


def test_f17_phone_link_not_yet_visible_fails_while_its_card_works(counter: Counter) -> None:
    counter.stock(cards=("f17-phone-link-pending",), phones=("f17-phone-link-pending.iphone",))
    r = counter.reader
    r.choose_phone("f17-phone-link-pending.iphone")
    r.confirm_on_phone(True)
    r.hold_phone("ok")
    snap = counter.consents()
    assert snap["summary"]["processing_result_status"] == "2"
    assert "E003" in {m["code"] for m in snap["screen"]["messages"]} | {snap["summary"]["error_code"]}
    r.run_out_the_clock()
    r.place_card("f17-phone-link-pending")
    r.choose("pin")
    r.enter_pin("1234")
    assert counter.consents()["summary"]["validity"] == "1"


def test_a_revoked_card_fails_while_the_phone_still_works(counter: Counter, live_server: Any) -> None:
    """The other way round: the phone's certificate is its own, so revoking the card's leaves it."""
    live_server.admin("POST", "/events", json={"kind": "revoke", "card_of": "healthy-employee"})
    counter.stock(cards=("healthy-employee",), phones=("healthy-employee.iphone",))
    r = counter.reader
    r.place_card("healthy-employee")
    r.choose("pin")
    r.enter_pin("1234")
    assert counter.consents()["summary"]["processing_result_status"] == "2"
    r.remove_card()
    r.choose_phone("healthy-employee.iphone")
    r.confirm_on_phone(True)
    r.hold_phone("ok")
    assert counter.consents()["summary"]["validity"] == "1"


def run_script(live_server: Any, tmp_path: Path, steps: str, *extra: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "phone.yaml"
    script.write_text(steps, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "onshi", "reader", "--server", live_server.url, "--admin-token",
         live_server.admin_token, "--cards-dir", str(tmp_path / "cards"), "--results-dir",
         str(tmp_path / "results"), *extra, "run", str(script), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )


def test_both_platforms_by_script_from_the_command_line(live_server: Any, tmp_path: Path) -> None:
    live_server.reset()
    done = run_script(live_server, tmp_path, """\
steps:
  - start: P-SCRIPT
  - phone: healthy-employee.iphone
  - confirm_on_phone: fail
  - expect: {state: phone_confirm, phone_attempts_left: 2}
  - confirm_on_phone: ok
  - hold: moved_early
  - expect: {state: phone_hold, notice_code: R703}
  - hold: ok
  - consent: {medical: true, prescription: electronic}
  - expect: {state: result, validity: "1", medium: smartphone, platform: iphone}
  - phone: healthy-employee.android
  - pin: "1234"
  - hold: not_read
  - expect: {notice_code: R702}
  - hold: ok
  - consent: {}
  - expect: {state: result, validity: "1", medium: smartphone, platform: android, method: pin}
""")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["answer"]["medium"] == "smartphone" and report["answer"]["method"] == "pin"
    files = sorted((tmp_path / "results").glob("OQSsiquc01res_face_*.xml"))
    assert len(files) == 2
    comments = sorted(f.read_bytes().decode().split("\n")[1] for f in files)
    assert comments == [
        "<!-- 確認方法: スマートフォン（Android・暗証番号） / method: smartphone (Android, PIN) -->",
        "<!-- 確認方法: スマートフォン（iPhone・生体認証） / method: smartphone (iPhone, biometrics) -->",
    ]


def test_no_general_reader_by_flag_and_by_script_step(live_server: Any, tmp_path: Path) -> None:
    live_server.reset()
    done = run_script(live_server, tmp_path, """\
- phone: f16-phone-only.iphone
- expect: {state: error, error_code: R701}
""", "--no-general-reader")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final"]["general_reader"] is False
    done = run_script(live_server, tmp_path, """\
- general_reader: false
- phone: f16-phone-only.iphone
- expect: {state: error, error_code: R701}
- general_reader: true
""")
    assert done.returncode == 0, done.stderr


def test_a_script_step_with_a_wrong_argument_is_refused_before_anything_runs(
    live_server: Any, tmp_path: Path
) -> None:
    done = run_script(live_server, tmp_path, "- phone: healthy-employee.iphone\n- hold: wave_around\n")
    assert done.returncode == 1
    assert "hold" in done.stderr and "not_read" in done.stderr


def onshi_card(live_server: Any, tray: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onshi", "card", "--server", live_server.url, "--admin-token",
         live_server.admin_token, "--cards-dir", str(tray), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_onshi_card_issue_phone_sets_a_phone_up_and_refuses_what_the_real_one_refuses(
    live_server: Any, identity: ReaderIdentity, tmp_path: Path
) -> None:
    live_server.reset()
    tray = tmp_path / "cards"
    try:
        done = onshi_card(live_server, tray, "issue", "--phone", "android", "--person", "healthy-national")
        assert done.returncode == 0, done.stderr
        made = json.loads(done.stdout)
        assert made["phone_id"] == "healthy-national.android" and made["name"] == "鈴木 一郎"
        card_serial = live_server.admin("GET", "/cards/healthy-national")["serial"]
        assert made["serial"] != card_serial  # the phone's own certificate
        refused = onshi_card(live_server, tray, "issue", "--phone", "iphone", "--person", "preschool-child")
        assert refused.returncode == 1 and "15歳未満" in refused.stderr and "under 15" in refused.stderr
        listed = onshi_card(live_server, tray, "list")
        assert "healthy-national.android" in listed.stdout and "preschool-child" not in listed.stdout
        # the new phone works at the reader with the card's PIN (鈴木一郎's is 2468)
        central = Central(live_server.url, live_server.clinic_code, live_server.clinic_token, identity)
        r = Reader(ReaderConfig(cards_dir=tray, results_dir=tmp_path / "results"), central)
        r.choose_phone("healthy-national.android")
        r.enter_pin("2468")
        r.hold_phone("ok")
        snap = r.snapshot()
        while snap["state"] == "consent":
            snap = r.answer_consent("2" if snap["consent_step"] == "prescription" else True)
        assert snap["summary"]["validity"] == "1" and snap["summary"]["medium"] == "smartphone"
    finally:
        live_server.reset()


def test_a_phone_set_up_again_is_re_made_in_the_tray_and_then_works(
    live_server: Any, identity: ReaderIdentity, tmp_path: Path
) -> None:
    """F17's way out: the expired phone is set up again (from the renewed card); a running reader's tray
    follows the registry, so the next check by phone passes."""
    from cardreader_emulator.card import CardStore
    from cardreader_emulator.tray import Tray

    live_server.reset()
    try:
        counter = Counter(live_server, identity, tmp_path)
        counter.stock(phones=("f17-phone-expired.android",))
        old = counter.reader.store.phone("f17-phone-expired.android")
        live_server.admin("POST", "/phones", json={"person_id": "f17-phone-expired", "platform": "android"})
        source = Admin(live_server.url, live_server.admin_token)
        r = counter.reader
        r.tray = Tray(CardStore(counter.tray), source)
        snap = r.choose_phone("f17-phone-expired.android")
        assert snap["phone"]["serial"] != old.serial and r.tray.remade == 1
        r.enter_pin("1234")
        r.hold_phone("ok")
        assert counter.consents()["summary"]["validity"] == "1"
        source.close()
    finally:
        live_server.reset()
