"""Face matching on the shipped photos (astronaut, Grace Hopper, openpeople's synthetic people) and
camera-like captures. For the openpeople faces the camera sees a different photo (a selfie) from the
chip's (a studio portrait): a genuine match across two photos, as at a real counter."""

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
    # a margin below the threshold (0.6) for the plain capture; a variation may come closer to it
    assert outcome.distance is not None and outcome.distance < (0.5 if variation == "plain" else 0.6)


IMPOSTORS = [("astronaut", "hopper"), ("hopper", "astronaut"), ("man-a", "man-c"), ("man-c", "man-b"),
             ("woman-a", "woman-c"), ("astronaut", "woman-e"), ("woman-b", "hopper"), ("man-a", "woman-b")]


@pytest.mark.parametrize(("person", "other"), IMPOSTORS)
@pytest.mark.parametrize("variation", ["plain", "dim", "blur", "glasses"])
def test_impostors_do_not_match(
    chips: dict[str, faces.Encoding], person: str, other: str, variation: str
) -> None:
    outcome = faces.match(faces.capture(f"{other}:{variation}"), chips[person])
    assert outcome.reason is MatchReason.NO_MATCH, outcome.describe()
    assert outcome.distance is not None and outcome.distance > 0.6


@pytest.mark.parametrize("person", ["astronaut", "hopper"])
def test_masked_capture_fails_like_a_real_reader(chips: dict[str, faces.Encoding], person: str) -> None:
    outcome = faces.match(faces.capture(f"{person}:mask"), chips[person])
    assert not outcome.matched
    assert outcome.reason is MatchReason.NO_FACE
    assert "顔" in outcome.ja


@pytest.mark.parametrize("person", [name for name in faces.PORTRAITS if name not in ("astronaut", "hopper")])
def test_a_mask_only_ever_makes_matching_harder(chips: dict[str, faces.Encoding], person: str) -> None:
    """Some faces are still found behind the drawn mask (as newer readers find them); the match is
    then weaker than without the mask, never stronger."""
    plain = faces.match(faces.capture(person), chips[person])
    masked = faces.match(faces.capture(f"{person}:mask"), chips[person])
    assert plain.distance is not None
    assert masked.distance is None or masked.distance > plain.distance


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


def test_every_shipped_face_is_usable_and_described() -> None:
    for name, portrait in faces.PORTRAITS.items():
        assert portrait.sex in ("1", "2") and portrait.ages[0] < portrait.ages[1], name
        assert portrait.ja and portrait.en and portrait.source, name
        assert faces.capture_label(f"{name}:mask")["ja"].endswith("マスク着用")


def test_an_unknown_face_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError) as raised:
        faces.capture("healthy-employee")
    message = str(raised.value)
    assert "healthy-employee" in message and "man-a" in message and "astronaut" in message
