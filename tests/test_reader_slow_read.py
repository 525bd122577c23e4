"""The slow-read fault on the reader's own clock: how long the reader sits in "reading", and a cancel,
a pulled card or a timeout while the chip is still being read (F6). No real waiting: the reader's
clock and sleep are a fake the test advances, ticking the reader as the app's ticker thread does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from cardreader_emulator import faces
from cardreader_emulator.card import CardVariant, write_card
from cardreader_emulator.reader import Reader, ReaderConfig

TICK = 0.25  # the app's ticker period (app.create_app)


class FakeClock:
    """The reader's clock. ``sleep`` advances it tick by tick and runs ``on_tick`` at each tick,
    standing in for what other threads do meanwhile (the ticker, a patient pressing cancel)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self.on_tick: Callable[[], None] = lambda: None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + TICK)
            self.on_tick()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def reader(tmp_path: Path, clock: FakeClock) -> Reader:
    write_card(  # offline: the read step needs the chip's data and photo, not the central system
        tmp_path / "cards", "taro", person={"name": "山田 太郎", "birthdate": "19800401"},
        variant=CardVariant.STANDARD, certificate_pem="(not used offline)", private_key_pem="(not used)",
        pin="1234", photo_jpeg=faces.encode_jpeg(faces.portrait_chip_photo("astronaut")),
        card_expires_on="2030-04-01",
    )
    config = ReaderConfig(cards_dir=tmp_path / "cards", results_dir=tmp_path / "results")
    return Reader(config, None, clock=clock, sleep=clock.sleep)


def timeline(reader: Reader) -> list[tuple[str, str, float]]:
    return [(h["event"], h["state"], h["at"]) for h in reader.history if h["event"] != "Tick"]


def test_a_slow_read_keeps_the_reader_in_reading_for_the_configured_delay(
    reader: Reader, clock: FakeClock
) -> None:
    seen: list[str] = []
    clock.on_tick = lambda: seen.append(reader.tick()["state"])  # what the page's polling would show
    reader.set_faults(slow_read_ms=2500)
    snap = reader.place_card("taro")
    assert snap["state"] == "method" and snap["card"]["card_id"] == "taro"
    assert clock.slept == [2.5]
    assert set(seen) == {"reading"} and len(seen) == 10
    assert timeline(reader) == [("CardPlaced", "reading", 100.0), ("CardRead", "method", 102.5)]


def test_without_the_fault_the_read_takes_no_time(reader: Reader, clock: FakeClock) -> None:
    reader.place_card("taro")
    assert clock.slept == []
    assert timeline(reader) == [("CardPlaced", "reading", 100.0), ("CardRead", "method", 100.0)]


def test_cancel_and_card_pulled_during_a_slow_read_leave_no_card_behind(
    reader: Reader, clock: FakeClock
) -> None:
    reader.set_faults(slow_read_ms=3000)

    def patient_gives_up() -> None:
        if reader.snapshot()["state"] == "reading":
            assert reader.cancel()["error"]["code"] == "R602"
            assert reader.remove_card()["state"] == "idle"

    clock.on_tick = patient_gives_up
    snap = reader.place_card("taro")
    assert snap["state"] == "idle" and snap["card"] is None and not snap["card_present"]
    assert [e for e, _, _ in timeline(reader)] == ["CardPlaced", "Cancel", "CardRemoved"]  # no CardRead
    clock.on_tick = lambda: None
    reader.set_faults(slow_read_ms=0)
    assert reader.place_card("taro")["state"] == "method"  # the next patient is read normally


def test_a_read_slower_than_the_reading_timeout_ends_in_r601(reader: Reader, clock: FakeClock) -> None:
    limit = reader.config.timeouts.reading
    reader.set_faults(slow_read_ms=int((limit + 5) * 1000))
    clock.on_tick = reader.tick
    snap = reader.place_card("taro")
    assert snap["state"] == "error" and snap["error"]["code"] == "R601"
    assert snap["card"] is None and snap["card_present"]  # the card lies there, never read
    (timed_out,) = [h for h in reader.history if h["state"] == "error"][:1]
    assert timed_out["event"] == "Tick" and timed_out["at"] == 100.0 + limit
    assert "CardRead" not in [e for e, _, _ in timeline(reader)]
    assert reader.remove_card()["state"] == "idle"


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"slow_read_ms": "x"}, "slow_read_ms"), ({"slow_read_ms": -1}, "slow_read_ms"),
     ({"camera_unavailable": "yes"}, "camera_unavailable"), ({"unplug_at": "lunch"}, "unplug_at"),
     ({"slow_reads": 5}, "slow_reads")],
)
def test_a_wrong_fault_is_refused_and_changes_nothing(
    reader: Reader, changes: dict[str, object], field: str
) -> None:
    before = reader.snapshot()["faults"]
    with pytest.raises(ValidationError, match=field):
        reader.set_faults(network_down=True, **changes)
    assert reader.snapshot()["faults"] == before  # all or none
    assert reader.place_card("taro")["state"] == "method"
