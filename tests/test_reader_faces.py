"""Face matching on real photos (astronaut, Grace Hopper) and camera-like captures."""

from __future__ import annotations

import pytest

from cardreader_emulator import faces
from cardreader_emulator.faces import MatchReason


@pytest.fixture(scope="module")
def chips() -> dict[str, faces.Encoding]:
    return {name: faces.reference_encoding(faces.portrait_chip_photo(name)) for name in faces.PORTRAITS}


@pytest.mark.parametrize("person", faces.PORTRAITS)
@pytest.mark.parametrize("variation", ["plain", "dim", "blur", "noise", "rotate", "glasses"])
def test_genuine_captures_match(chips: dict[str, faces.Encoding], person: str, variation: str) -> None:
    outcome = faces.match(faces.capture(f"{person}:{variation}"), chips[person])
    assert outcome.reason is MatchReason.MATCH, outcome.describe()
    assert outcome.distance is not None and outcome.distance < 0.5


@pytest.mark.parametrize(("person", "other"), [("astronaut", "hopper"), ("hopper", "astronaut")])
@pytest.mark.parametrize("variation", ["plain", "dim", "blur", "glasses"])
def test_impostors_do_not_match(
    chips: dict[str, faces.Encoding], person: str, other: str, variation: str
) -> None:
    outcome = faces.match(faces.capture(f"{other}:{variation}"), chips[person])
    assert outcome.reason is MatchReason.NO_MATCH, outcome.describe()
    assert outcome.distance is not None and outcome.distance > 0.6


@pytest.mark.parametrize("person", faces.PORTRAITS)
def test_masked_capture_fails_like_a_real_reader(chips: dict[str, faces.Encoding], person: str) -> None:
    outcome = faces.match(faces.capture(f"{person}:mask"), chips[person])
    assert not outcome.matched
    assert outcome.reason is MatchReason.NO_FACE
    assert "顔" in outcome.ja


@pytest.mark.parametrize("person", faces.PORTRAITS)
def test_dark_capture_fails_with_the_lighting_reason(chips: dict[str, faces.Encoding], person: str) -> None:
    outcome = faces.match(faces.capture(f"{person}:dark"), chips[person])
    assert outcome.reason is MatchReason.TOO_DARK
    assert "暗い" in outcome.ja


def test_two_people_in_front_of_the_camera(chips: dict[str, faces.Encoding]) -> None:
    outcome = faces.match(faces.capture("astronaut+hopper"), chips["astronaut"])
    assert outcome.reason is MatchReason.SEVERAL_FACES and outcome.faces == 2


def test_nobody_in_front_of_the_camera(chips: dict[str, faces.Encoding]) -> None:
    assert faces.match(faces.capture("astronaut:empty"), chips["astronaut"]).reason is MatchReason.NO_FACE


def test_head_tilted_far_is_not_seen(chips: dict[str, faces.Encoding]) -> None:
    assert faces.match(faces.capture("hopper:tilted"), chips["hopper"]).reason is MatchReason.NO_FACE


def test_threshold_is_configurable(chips: dict[str, faces.Encoding]) -> None:
    capture = faces.capture("astronaut:blur")
    assert faces.match(capture, chips["astronaut"], threshold=0.6).matched
    assert not faces.match(capture, chips["astronaut"], threshold=0.05).matched


def test_captures_are_640x480_and_webcam_bytes_round_trip(chips: dict[str, faces.Encoding]) -> None:
    frame = faces.capture("hopper:noise")
    assert frame.shape == (faces.CAPTURE_HEIGHT, faces.CAPTURE_WIDTH, 3)
    decoded = faces.decode_image(faces.encode_jpeg(frame))
    assert faces.match(decoded, chips["hopper"]).matched


def test_match_latency_is_measured_at_640x480() -> None:
    # The 300 ms aim is a benchmark figure (`onshi bench`), not a pass/fail timing here.
    from cardreader_emulator.bench import measure_match_latency

    figures = measure_match_latency(2)
    assert figures["width"] == 640 and figures["height"] == 480
    assert 0 < figures["p50_ms"] <= figures["p95_ms"]
