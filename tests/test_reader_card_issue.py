"""`onshi card issue` end to end: a real server process issues the card (key pair, certificate, a
valid qualification), the CLI keeps the photo on the virtual card, and the reader then checks the
holder's face against it. The camera path reads a video file written here (no webcam exists)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest
from skimage import data

from cardreader_emulator import faces
from cardreader_emulator.central import Admin, Central
from cardreader_emulator.reader import Reader, ReaderConfig
from onshi.procs import ROOT


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    faces.save_image(data.astronaut(), folder / "astronaut.jpg")  # a real portrait, 512×512
    faces.save_image(faces.capture("astronaut+hopper"), folder / "two.jpg")
    faces.save_image(faces.capture("astronaut:empty"), folder / "nobody.jpg")
    frame = cv2.cvtColor(faces.capture("astronaut"), cv2.COLOR_RGB2BGR)
    video = cv2.VideoWriter(
        str(folder / "camera.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 15, (frame.shape[1], frame.shape[0])
    )
    for _ in range(5):  # fewer frames than the exposure warm-up: the last one is taken
        video.write(frame)
    video.release()
    return folder


def issue(server: Any, cards_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onshi", "card", "--server", server.url, "--admin-token", server.admin_token,
         "--cards-dir", str(cards_dir), "issue", "--name", "山田 花子", "--kana", "ヤマダ ハナコ",
         "--birthdate", "1990-05-01", "--sex", "2", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def reader_at_the_clinic(server: Any, tmp_path: Path) -> Reader:
    admin = Admin(server.url, server.admin_token)
    try:
        identity = admin.register_reader(server.clinic_code)
    finally:
        admin.close()
    central = Central(server.url, server.clinic_code, server.clinic_token, identity)
    return Reader(ReaderConfig(cards_dir=tmp_path / "cards", results_dir=tmp_path / "results"), central)


def consents_declined(reader: Reader) -> dict[str, Any]:
    snap = reader.snapshot()
    while snap["state"] == "consent":
        answer = "paper" if snap["consent_step"] == "prescription" else False
        snap = reader.answer_consent(answer)
    return snap


def test_a_card_issued_from_a_photo_passes_its_holder_and_refuses_an_impostor(
    fresh_server: Any, photos: Path, tmp_path: Path
) -> None:
    out = issue(fresh_server, tmp_path / "cards", "--photo", str(photos / "astronaut.jpg"),
                "--pin", "4321", "--id", "trainee")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["card_id"] == "trainee" and made["name"] == "山田 花子"
    assert made["has_photo"] and made["has_pin"] and made["pin_remaining"] == 3
    assert made["person_id"] in {c["person"]["id"] for c in fresh_server.admin("GET", "/cards")}

    r = reader_at_the_clinic(fresh_server, tmp_path)
    assert r.place_card("trainee")["methods"] == ["face", "pin", "visual"]
    r.choose("face")
    snap = r.present_face(faces.capture(f"{photos / 'astronaut.jpg'}:dim"))  # the holder, in poor light
    assert snap["state"] == "consent" and snap["last_face"]["reason"] == "match"
    summary = consents_declined(r)["summary"]
    assert summary["validity"] == "1"
    assert summary["name"] == "山田　花子" and summary["birthdate"] == "19900501"
    r.remove_card()

    r.place_card("trainee")
    r.choose("face")
    for _ in range(3):
        snap = r.present_face(faces.capture("hopper"))  # Grace Hopper with the astronaut's card
        assert snap["last_face"]["reason"] == "no_match" and snap["last_face"]["distance"] > 0.6
    assert snap["state"] == "method" and snap["methods"] == ["pin", "visual"]
    assert snap["notice"]["code"] == "R202"
    r.choose("pin")
    assert r.enter_pin("4321")["state"] == "consent"  # the PIN given at issue


def test_a_card_issued_from_the_camera_holds_the_face_it_saw(
    fresh_server: Any, photos: Path, tmp_path: Path
) -> None:
    out = issue(fresh_server, tmp_path / "cards", "--webcam", "--camera", str(photos / "camera.avi"),
                "--variant", "face_only", "--id", "cam-trainee")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["has_photo"] and not made["has_pin"]
    chip = faces.reference_encoding(faces.load_image(tmp_path / "cards" / "cam-trainee" / "photo.jpg"))
    assert faces.match(faces.capture("astronaut:glasses"), chip).matched
    assert not faces.match(faces.capture("hopper"), chip).matched


@pytest.mark.parametrize(
    ("source", "ja", "en"),
    [
        (["--photo", "nobody.jpg"], "写真に顔が見つかりません", "No face in the photo"),
        (["--photo", "two.jpg"], "写真に複数の顔が写っています", "Several faces in the photo"),
        (["--webcam", "--camera", "no-such-camera.avi"], "カメラを開けません", "Cannot open the camera"),
        (["--webcam", "--camera", "7"], "カメラを開けません", "Cannot open the camera '7'"),
    ],
)
def test_a_photo_that_cannot_make_a_card_is_refused_and_nothing_is_issued(
    fresh_server: Any, photos: Path, tmp_path: Path, source: list[str], ja: str, en: str
) -> None:
    before = len(fresh_server.admin("GET", "/cards"))
    args = [str(photos / a) if a.endswith(".jpg") else a for a in source]
    out = issue(fresh_server, tmp_path / "cards", *args, "--id", "refused")
    assert out.returncode != 0
    assert ja in out.stderr and en in out.stderr
    assert not (tmp_path / "cards" / "refused").exists()
    assert len(fresh_server.admin("GET", "/cards")) == before
