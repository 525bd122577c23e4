"""The card tray of a running reader follows the registry: a renewal, a new card and a fixture reload
reach it without a restart (real server process, real certificates)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cardreader_emulator.card import CardStore
from cardreader_emulator.central import Admin, Central
from cardreader_emulator.provision import fetch_fixture_cards
from cardreader_emulator.reader import Reader, ReaderConfig
from cardreader_emulator.tray import Tray
from tests.conftest import LiveServer


@pytest.fixture
def admin(fresh_server: LiveServer) -> Iterator[Admin]:
    client = Admin(fresh_server.url, fresh_server.admin_token)
    yield client
    client.close()


@pytest.fixture
def reader(fresh_server: LiveServer, admin: Admin, tmp_path: Path) -> Reader:
    identity = admin.register_reader(fresh_server.clinic_code)
    fetch_fixture_cards(admin, tmp_path / "cards", only=["healthy-employee", "healthy-national"])
    central = Central(fresh_server.url, fresh_server.clinic_code, fresh_server.clinic_token, identity)
    config = ReaderConfig(cards_dir=tmp_path / "cards", results_dir=tmp_path / "results")
    return Reader(config, central, tray=Tray(CardStore(tmp_path / "cards"), admin))


def pin_check(reader: Reader, card_id: str, pin: str) -> dict[str, Any]:
    reader.place_card(card_id)
    reader.choose("pin")
    snap = reader.enter_pin(pin)
    while snap["state"] == "consent":
        snap = reader.answer_consent("paper" if snap["consent_step"] == "prescription" else False)
    reader.remove_card()
    return snap


def test_a_renewed_certificate_reaches_the_running_reader(fresh_server: LiveServer, reader: Reader) -> None:
    old = reader.store.get("healthy-national").certificate_pem
    fresh_server.admin("POST", "/events", json={"kind": "renew", "card_of": "healthy-national"})
    snap = pin_check(reader, "healthy-national", "2468")
    assert reader.store.get("healthy-national").certificate_pem != old  # the card carries the new one
    assert snap["state"] == "result"
    # the renewal link is visible at once (lag 0): the new certificate is this person's
    assert snap["summary"]["processing_result_status"] == "1", snap["summary"]
    assert snap["summary"]["validity"] == "1"


def test_a_card_issued_at_the_server_shows_up_in_the_tray(fresh_server: LiveServer, reader: Reader) -> None:
    made = fresh_server.admin("POST", "/cards", json={"name": "研修 太郎", "name_kana": "ケンシュウ タロウ",
                                                      "birthdate": "1990-01-01", "sex": "1", "pin": "4321",
                                                      "photo": "astronaut"})
    reader.tray.sync(force=True)
    person_id = made["person"]["id"]
    assert person_id in reader.store.ids()
    snap = pin_check(reader, person_id, "4321")
    assert snap["summary"]["validity"] == "1", snap["summary"]


def test_a_card_the_registry_no_longer_knows_is_left_as_it_is(
    fresh_server: LiveServer, reader: Reader, tmp_path: Path
) -> None:
    made = fresh_server.admin("POST", "/cards", json={"name": "研修 花子", "birthdate": "1991-02-02",
                                                      "sex": "2", "pin": "4321", "photo": "astronaut"})
    reader.tray.sync(force=True)
    fresh_server.reset()  # the reload forgets people issued since
    person_id = made["person"]["id"]
    before = reader.store.get(person_id).certificate_pem
    snap = pin_check(reader, person_id, "4321")
    assert reader.store.get(person_id).certificate_pem == before
    assert snap["summary"]["processing_result_status"] == "2"  # the server says why, in its own words
