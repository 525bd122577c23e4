"""The reader emulator against a real server process (F1–F4, F6–F8 at the counter)."""

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

from cardreader_emulator import faces
from cardreader_emulator.central import Admin, Central, ReaderIdentity
from cardreader_emulator.errors import ReaderError
from cardreader_emulator.machine import InvalidAction
from cardreader_emulator.provision import fetch_fixture_cards
from cardreader_emulator.reader import Reader, ReaderConfig
from onshi import xmlcodec
from onshi.messages import ResultMessage
from onshi.procs import ROOT

RIGHT_PIN = {"healthy-national": "2468"}  # fixtures/personas.yaml
ALL_YES = {"medical": True, "operation": True, "checkup": True, "limit": True, "prescription": "electronic"}


class Counter:
    """A reader at the counter of the fixture clinic, with its own card tray and result folder."""

    def __init__(
        self,
        live_server: Any,
        identity: ReaderIdentity,
        tmp: Path,
        console_url: str | None = None,
        encoding: str = "utf-8",
    ) -> None:
        self.live_server = live_server
        self.identity = identity
        self.cards_dir = tmp / "cards"
        self.results_dir = tmp / "results"
        self.console_url = console_url
        self.encoding = encoding
        self.reader = self.new_reader()

    def new_reader(self) -> Reader:
        """A fresh reader process over the same card tray (a restart)."""
        central = Central(
            self.live_server.url, self.live_server.clinic_code, self.live_server.clinic_token, self.identity
        )
        config = ReaderConfig(
            cards_dir=self.cards_dir,
            results_dir=self.results_dir,
            encoding=self.encoding,
            console_url=self.console_url,
        )
        return Reader(config, central)

    def cards(self, *person_ids: str) -> None:
        admin = Admin(self.live_server.url, self.live_server.admin_token)
        try:
            fetch_fixture_cards(admin, self.cards_dir, only=list(person_ids), keep_pin_state=False)
        finally:
            admin.close()

    def consents(self, answers: dict[str, Any]) -> dict[str, Any]:
        snap = self.reader.snapshot()
        while snap["state"] == "consent":
            step = snap["consent_step"]
            if step == "prescription":
                snap = self.reader.answer_consent(str(answers.get("prescription", "paper")))
            else:
                snap = self.reader.answer_consent(bool(answers.get(step, False)))
        return snap

    def result_file(self) -> tuple[Path, ResultMessage]:
        (path,) = sorted(self.results_dir.glob("OQSsiquc01res_face_*.xml"))
        data = path.read_bytes()
        message = xmlcodec.decode(data, ResultMessage)
        # Written in the real reader's order (not the XSD's); the content is valid in the spec's order.
        assert b'standalone="no"' in data.split(b"\n", 1)[0]
        in_spec_order = xmlcodec.encode(message, message.MessageHeader.CharacterCodeIdentifier)
        xmlcodec.validate(in_spec_order, "OQSsiquc01res")
        return path, message


@pytest.fixture
def counter(live_server: Any, identity: ReaderIdentity, tmp_path: Path) -> Iterator[Counter]:
    live_server.admin("POST", "/faults", json={"outage": False, "latency_ms": 0})
    yield Counter(live_server, identity, tmp_path)


def test_f1_input_lag_by_face(counter: Counter) -> None:
    counter.cards("f1-input-lag")
    r = counter.reader
    r.start_check("P-F1")
    assert r.place_card("f1-input-lag")["methods"] == ["face", "pin", "visual"]
    r.choose("face")
    assert r.present_face(r.capture("holder:dim"))["state"] == "consent"  # 小林 大輔, in poor light
    snap = counter.consents(ALL_YES)
    assert snap["state"] == "result"
    assert snap["summary"]["validity"] == "2"  # insured, but the new insurer's registration is late
    path, message = counter.result_file()
    assert path.name == f"OQSsiquc01res_face_{message.MessageHeader.ProcessExecutionTime}.xml"
    assert message.MessageBody.QualificationValidity is not None
    assert message.MessageBody.QualificationValidity.value == "2"
    assert message.MessageHeader.ReferenceClassification is not None
    assert message.MessageHeader.ReferenceClassification.value == "1"


def test_f2_wrong_link_by_pin_shows_a_stranger(counter: Counter) -> None:
    counter.cards("f2-wrong-link")
    r = counter.reader
    r.place_card("f2-wrong-link")
    r.choose("pin")
    assert r.enter_pin("1234")["state"] == "consent"  # the card signed the server's nonce
    snap = counter.consents(ALL_YES)
    summary = snap["summary"]
    assert summary["validity"] == "1"
    assert summary["birthdate"] == "19621225"  # the card holder was born in 1988: someone else's data
    assert "medication" in summary["medical_info"]


def test_whoever_sees_the_result_finds_its_file_named(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clinic client takes the result state as its cue to read the file the summary names: a
    look at the reader while the file is still being written waits for it, it never sees "result"
    without the file."""
    import cardreader_emulator.reader as reader_module

    seen: list[dict[str, Any]] = []
    looks: list[threading.Thread] = []
    write = reader_module.write_result_file

    def slow_write(*args: Any, **kwargs: Any) -> Path:
        # as the clinic client gets it: serialised at that moment
        looks.append(look := threading.Thread(
            target=lambda: seen.append(json.loads(json.dumps(counter.reader.snapshot())))))
        look.start()
        look.join(0.3)  # the clinic client polling meanwhile
        return write(*args, **kwargs)

    monkeypatch.setattr(reader_module, "write_result_file", slow_write)
    counter.cards("f2-wrong-link")
    r = counter.reader
    r.place_card("f2-wrong-link")
    r.choose("pin")
    r.enter_pin("1234")
    final = counter.consents(ALL_YES)
    for look in looks:
        look.join(5)
    path, _ = counter.result_file()
    assert final["summary"]["file"] == path.name
    assert [(s["state"], s["summary"]["file"]) for s in seen] == [("result", path.name)]


def test_f3_certificate_in_grace_by_visual_check(counter: Counter) -> None:
    counter.cards("f3-certificate-in-grace", "f3-certificate-expired")
    r = counter.reader
    r.place_card("f3-certificate-in-grace")
    r.choose("visual")
    r.confirm_visual()
    summary = counter.consents(ALL_YES)["summary"]
    assert summary["validity"] == "1"
    assert "W002" in [n["code"] for n in summary["notes"]]
    assert summary["medical_info"] == []
    assert "certificate_in_grace" in [w["code"] for w in summary["withheld"]]
    r.remove_card()
    r.place_card("f3-certificate-expired")
    r.choose("face")
    r.present_face(faces.capture("man-a"))  # 松本 浩 (61) himself
    summary = counter.consents({})["summary"]
    assert summary["processing_result_status"] == "2" and summary["processing_result_code"] == "E001"
    assert len(list(counter.results_dir.glob("OQSsiquc01res_face_*.xml"))) == 2  # error results are files too


def test_f4_no_provide_flag_withholds_everything(counter: Counter) -> None:
    counter.cards("f4-no-provide")
    r = counter.reader
    r.place_card("f4-no-provide")
    r.choose("face")
    r.present_face(faces.capture("woman-c:glasses"))  # 井上 さくら with her glasses on
    summary = counter.consents(ALL_YES)["summary"]
    assert summary["validity"] == "1"
    assert "W003" in [n["code"] for n in summary["notes"]]
    assert summary["medical_info"] == []


def test_masked_face_fails_then_pin_succeeds(counter: Counter) -> None:
    counter.cards("healthy-employee")
    r = counter.reader
    r.place_card("healthy-employee")
    r.choose("face")
    for left in (2, 1):
        snap = r.present_face(faces.capture("astronaut:mask"))
        assert snap["state"] == "face" and f"あと{left}回" in snap["notice"]["ja"]
    snap = r.present_face(faces.capture("astronaut:mask"))
    assert snap["state"] == "method" and snap["methods"] == ["pin", "visual"]
    assert snap["notice"]["code"] == "R202"
    r.choose("pin")
    r.enter_pin("1234")
    assert counter.consents({})["summary"]["validity"] == "1"


def test_dark_face_fails_then_visual_check_succeeds(counter: Counter) -> None:
    counter.cards("healthy-dependent")
    r = counter.reader
    r.place_card("healthy-dependent")
    r.choose("face")
    for _ in range(3):
        snap = r.present_face(faces.capture("hopper:dark"))
    assert snap["last_face"]["reason"] == "too_dark"
    r.choose("visual")
    r.confirm_visual()
    assert counter.consents({})["summary"]["validity"] == "1"


def test_impostor_is_refused(counter: Counter) -> None:
    counter.cards("healthy-employee")
    r = counter.reader
    r.place_card("healthy-employee")  # the astronaut's card, presented by Grace Hopper
    r.choose("face")
    for _ in range(3):
        snap = r.present_face(faces.capture("hopper"))
        assert snap["last_face"]["reason"] == "no_match" and snap["last_face"]["distance"] > 0.6
    assert snap["state"] == "method" and "face" not in snap["methods"]


def test_pin_lock_after_three_wrong_entries_survives_a_restart(counter: Counter) -> None:
    counter.cards("healthy-national")
    r = counter.reader
    r.place_card("healthy-national")
    r.choose("pin")
    assert r.enter_pin("0000")["pin_remaining"] == 2
    assert r.enter_pin("1111")["pin_remaining"] == 1
    snap = r.enter_pin("9999")
    assert snap["state"] == "method" and snap["notice"]["code"] == "R301"
    assert snap["methods"] == ["face", "visual"]
    r.cancel()
    r.remove_card()
    counter.reader = r2 = counter.new_reader()  # the reader restarts; the card keeps its counter
    snap = r2.place_card("healthy-national")
    assert snap["methods"] == ["face", "visual"] and snap["card"]["pin_locked"]
    # The right PIN is refused too: the reader does not offer PIN entry (R301) and the chip itself
    # no longer compares PINs. Face or visual check today, unlock at the municipality.
    with pytest.raises(InvalidAction) as refused:
        r2.choose("pin")
    assert refused.value.reason is ReaderError.PIN_LOCKED
    chip = r2.store.get("healthy-national")
    right = chip.verify_pin(RIGHT_PIN["healthy-national"])
    assert (right.ok, right.locked, right.remaining) == (False, True, 0)
    r2.choose("face")
    r2.present_face(faces.capture("man-a"))  # 鈴木 一郎 himself
    assert counter.consents({})["summary"]["validity"] == "1"
    r2.remove_card()
    chip.reset_pin()  # at the municipal office (`onshi card unlock`): the same PIN now works
    assert chip.verify_pin(RIGHT_PIN["healthy-national"]).ok


def test_infant_card_goes_to_visual_check(counter: Counter) -> None:
    counter.cards("infant-no-photo")
    r = counter.reader
    snap = r.place_card("infant-no-photo")
    assert snap["state"] == "visual" and "face" not in snap["methods"]
    r.confirm_visual()
    assert counter.consents({})["summary"]["validity"] == "1"


def test_face_only_card_never_offers_pin(counter: Counter) -> None:
    counter.cards("face-only-card")
    r = counter.reader
    snap = r.place_card("face-only-card")
    assert snap["methods"] == ["face", "visual"] and not snap["card"]["has_pin"]
    r.choose("face")
    for _ in range(3):
        snap = r.present_face(faces.capture("hopper:mask"))
    assert snap["methods"] == ["visual"]
    r.choose("visual")
    r.confirm_visual()
    assert counter.consents({})["summary"]["validity"] == "1"


def test_reader_faults(counter: Counter, live_server: Any) -> None:
    counter.cards("healthy-employee")
    r = counter.reader
    r.set_faults(card_unreadable=True)
    assert r.place_card("healthy-employee")["error"]["code"] == "R101"
    r.remove_card()
    r.set_faults(card_unreadable=False, not_my_number_card=True)
    assert r.place_card("healthy-employee")["error"]["code"] == "R102"
    r.remove_card()
    r.set_faults(not_my_number_card=False, camera_unavailable=True)
    r.place_card("healthy-employee")
    r.choose("face")
    snap = r.present_face(faces.capture("astronaut"))
    assert snap["notice"]["code"] == "R201" and snap["methods"] == ["pin", "visual"]
    r.cancel()
    r.remove_card()
    r.set_faults(camera_unavailable=False, network_down=True)
    r.place_card("healthy-employee")
    r.choose("visual")
    r.confirm_visual()
    assert counter.consents({})["error"]["code"] == "R501"
    r.remove_card()
    r.set_faults(network_down=False)
    live_server.admin("POST", "/faults", json={"outage": True})
    try:
        r.place_card("healthy-employee")
        r.choose("visual")
        r.confirm_visual()
        snap = counter.consents({})
        assert snap["error"]["code"] == "R502" and "503" in snap["error"]["detail"]
    finally:
        live_server.admin("POST", "/faults", json={"outage": False})
    r.remove_card()
    assert not list(counter.results_dir.glob("*.xml"))


def test_reader_unplugged_mid_check_sends_nothing(counter: Counter) -> None:
    counter.cards("healthy-employee")
    r = counter.reader
    r.set_faults(unplug_at="sending")
    r.place_card("healthy-employee")
    r.choose("visual")
    r.confirm_visual()
    snap = counter.consents({})
    assert snap["error"]["code"] == "R401" and not snap["connected"]
    assert r.last_answer is None
    r.set_faults(unplugged=False)
    assert r.snapshot()["state"] == "idle"


def test_slow_read_and_console_notice_in_shift_jis(
    live_server: Any, identity: ReaderIdentity, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []

    class Console(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    console = HTTPServer(("127.0.0.1", 0), Console)
    threading.Thread(target=console.serve_forever, daemon=True).start()
    try:
        counter = Counter(
            live_server,
            identity,
            tmp_path,
            console_url=f"http://127.0.0.1:{console.server_port}",
            encoding="shift_jis",
        )
        counter.cards("healthy-employee")
        r = counter.reader
        r.set_faults(slow_read_ms=300)
        slept: list[float] = []
        r.sleep = slept.append  # the chip's delay, recorded rather than waited
        r.start_check("P-0042")
        r.place_card("healthy-employee")
        r.choose("pin")
        r.enter_pin("1234")
        counter.consents({})
        r.remove_card()
        r.place_card("healthy-employee")
        r.cancel()
    finally:
        console.shutdown()
    assert slept == [0.3, 0.3]  # both reads were slow
    first, second = received
    assert first["path"] == "/api/console/reader-results"
    assert first["body"]["patient_ref"] == "P-0042" and first["body"]["reader_id"] == identity.reader_id
    assert first["body"]["file"].startswith("OQSsiquc01res_face_") and first["body"]["check_id"]
    assert first["body"]["result"]["result"]["MessageBody"]["QualificationValidity"] == "1"
    assert second["body"]["reader_error"]["code"] == "R602"
    path, message = counter.result_file()
    assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>')
    assert "佐藤".encode("shift_jis") in path.read_bytes()
    assert message.MessageHeader.CharacterCodeIdentifier.value == "1"


def test_scripted_mode_from_the_command_line(live_server: Any, tmp_path: Path) -> None:
    script = tmp_path / "check.yaml"
    script.write_text(
        "steps:\n"
        "  - place: f4-no-provide\n"
        "  - face: astronaut:mask\n"
        "  - method: pin\n"
        "  - pin: '1234'\n"
        "  - consent: {medical: true, prescription: electronic}\n"
        "  - expect: {state: result, validity: '1'}\n"
        "  - remove: true\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "onshi",
            "reader",
            "--server",
            live_server.url,
            "--admin-token",
            live_server.admin_token,
            "--cards-dir",
            str(tmp_path / "cards"),
            "--results-dir",
            str(tmp_path / "results"),
            "run",
            str(script),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "顔が検出できません" in out.stdout
    assert '"validity": "1"' in out.stdout and "W003" in out.stdout
    assert "OQSsiquc01res_face_" in out.stdout
    assert len(list((tmp_path / "results").glob("OQSsiquc01res_face_*.xml"))) == 1
