"""Registry events through the admin API, each with its input lag, seen by card and number checks.

Every test here changes the registry, so each runs on `fresh_server` (fixtures reloaded around it).
The fixture clock is 2026-11-24 09:00 JST.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveServer
from tests.server_helpers import (
    admin,
    body_of,
    card_check,
    card_of,
    first_result,
    get,
    notes_of,
    number_check,
    outcome,
    problem,
    set_clock,
    withheld_of,
)

NEW_JOB = {"id": "q-sato-new", "insurer": "01130012", "symbol": "31057777", "number": "88", "branch": "00",
           "personal_family": "1", "insured_name": "佐藤 花子", "copay_ratio": 30}
NEW_NUMBERS = {"insurer": "01130012", "symbol": "31057777", "number": "88", "branch": "00",
               "birthdate": "1985-05-12"}


def event(server: LiveServer, **body: Any) -> dict[str, Any]:
    return dict(admin(server, "POST", "/events", json=body))


def test_a_job_change_registered_late_shows_the_lag_then_the_new_qualification(
        fresh_server: LiveServer) -> None:
    changed = event(fresh_server, kind="job_change", person="healthy-employee", lost_on="2026-11-25",
                    loss_lag_days=1, acquisition_lag_days=5, new_qualification=NEW_JOB)
    assert changed["lost_visible_from"].startswith("2026-11-26T00:00:00")
    assert changed["new_visible_from"].startswith("2026-11-30T00:00:00")

    # Before the loss is known: still the old qualification.
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "1"
    # The loss is known, the new insurer's registration is not: invalid, and the new numbers find nothing.
    set_clock(fresh_server, "2026-11-27T10:00:00+09:00")
    lagging = body_of(card_check(fresh_server, "healthy-employee"))
    assert outcome(lagging) == "2"
    assert first_result(lagging)["DisqualificationDate"] == "20261125"
    assert outcome(body_of(number_check(fresh_server, NEW_NUMBERS))) == "4"
    assert outcome(body_of(number_check(fresh_server, "healthy-employee"))) == "2"
    # Once registered: valid with the new insurer; the old numbers now say a newer one exists.
    set_clock(fresh_server, "2026-11-30T00:00:00+09:00")
    valid = body_of(card_check(fresh_server, "healthy-employee"))
    assert outcome(valid) == "1"
    assert first_result(valid)["InsurerNumber"] == "01130012"
    assert first_result(valid)["QualificationDate"] == "20261125"
    assert outcome(body_of(number_check(fresh_server, NEW_NUMBERS))) == "1"
    assert outcome(body_of(number_check(fresh_server, "healthy-employee"))) == "3"


def test_the_no_provide_flag_can_be_set_with_a_lag_and_cleared(fresh_server: LiveServer) -> None:
    def medication_released() -> bool:
        response = card_check(fresh_server, "healthy-employee", consents={"medication": True})
        released = response.json()["medical_info"] == ["medication"]
        info = get(fresh_server, f"/medical-info/{response.json()['check_id']}/medication")
        assert (info.status_code == 200) == released
        if not released:
            assert notes_of(response) == ["W003"] and withheld_of(response) == ["no_provide_flag"]
            problem(info, 403, "information_not_provided")
        return released

    event(fresh_server, kind="set_no_provide", person="healthy-employee", lag_days=1)
    assert medication_released()  # the request has not reached the system yet
    set_clock(fresh_server, "2026-11-25T09:00:00+09:00")
    assert not medication_released()
    event(fresh_server, kind="set_no_provide", person="healthy-employee", active=False)
    assert medication_released()


def test_a_wrong_link_made_now_shows_the_other_persons_data(fresh_server: LiveServer) -> None:
    event(fresh_server, kind="wrong_link", card_of="healthy-employee", to_person="healthy-national",
          lag_days=0.5)
    assert first_result(body_of(card_check(fresh_server, "healthy-employee")))["Name"] == "佐藤　花子"
    set_clock(fresh_server, "2026-11-24T21:00:00+09:00")
    shown = first_result(body_of(card_check(fresh_server, "healthy-employee")))
    assert (shown["Name"], shown["Birthdate"]) == ("鈴木　一郎", "19681103")


def test_revoking_a_lost_card_fails_its_next_check(fresh_server: LiveServer) -> None:
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "1"
    revoked = event(fresh_server, kind="revoke", card_of="healthy-employee")
    assert revoked["serial"] == card_of(fresh_server, "healthy-employee").serial
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "E002"
    assert outcome(body_of(number_check(fresh_server, "healthy-employee"))) == "1"


def test_cancelling_and_registering_again_for_insurance_use(fresh_server: LiveServer) -> None:
    event(fresh_server, kind="cancel_registration", card_of="healthy-employee")
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "E003"
    event(fresh_server, kind="register", card_of="healthy-employee")
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "1"


def test_a_renewed_certificate_waits_for_its_link(fresh_server: LiveServer) -> None:
    old = card_of(fresh_server, "healthy-employee")
    renewed = event(fresh_server, kind="renew", card_of="healthy-employee", link_lag_days=3)
    assert renewed["old_serial"] == old.serial
    assert renewed["link_visible_from"].startswith("2026-11-27T00:00:00")
    new = card_of(fresh_server, "healthy-employee")
    assert new.serial != old.serial and new.certificate_pem != old.certificate_pem

    response = card_check(fresh_server, "healthy-employee")
    assert outcome(body_of(response)) == "4" and notes_of(response) == ["W005"]
    set_clock(fresh_server, "2026-11-26T23:59:59+09:00")
    assert outcome(body_of(card_check(fresh_server, "healthy-employee"))) == "4"
    set_clock(fresh_server, "2026-11-27T00:00:00+09:00")
    response = card_check(fresh_server, "healthy-employee")
    assert outcome(body_of(response)) == "1" and notes_of(response) == []
