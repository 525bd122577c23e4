"""The access record every lookup leaves, and the central-system outage (F13)."""

from __future__ import annotations

from tests.conftest import LiveServer
from tests.server_helpers import (
    PHARMACY_CODE,
    access_log,
    admin,
    advance_clock,
    body_of,
    bulk_check_message,
    card_check,
    challenge,
    client,
    clock_at,
    first_result,
    get,
    number_check,
    outage,
    outcome,
    post,
    problem,
    send_message,
    set_clock,
)


def test_every_check_and_release_is_recorded_with_clinic_person_action_and_basis(
        live_server: LiveServer) -> None:
    person = "healthy-employee"
    check = card_check(live_server, person, consents={"medication": True})
    check_id = check.json()["check_id"]
    assert get(live_server, f"/medical-info/{check_id}/medication").status_code == 200
    assert get(live_server, f"/medical-info/{check_id}/clinical").status_code == 403
    assert number_check(live_server, person).status_code == 200
    bulk = bulk_check_message(live_server, {"B-1": person, "B-2": "healthy-national"})
    assert send_message(live_server, "/bulk-checks", bulk, xml=False).status_code == 200
    face = card_check(live_server, person, method="face", clinic_code=PHARMACY_CODE)
    assert face.status_code == 200

    # The test's own card-material reads are recorded too (admin_read, see test_server_secrets): skipped.
    newest_first = [(e["clinic_code"], e["person_id"], e["action"], e["basis"], e["outcome"])
                    for e in access_log(live_server, person) if e["action"] != "admin_read"][:6]
    clinic = live_server.clinic_code
    assert newest_first == [
        (PHARMACY_CODE, person, "card_check", "card:face", "validity:1"),
        (clinic, person, "bulk_check", "number", "validity:1"),
        (clinic, person, "number_check", "number", "validity:1"),
        (clinic, person, "medical_info", "refused:no_consent", "kind:clinical"),
        (clinic, person, "medical_info", "consent:medication", "records:2"),
        (clinic, person, "card_check", "card:pin", "validity:1"),
    ]
    assert access_log(live_server, person)[0]["at"] == "2026-11-24T09:00:00+09:00"  # JST, the fixture moment
    assert access_log(live_server, "healthy-national")[0]["action"] == "bulk_check"


def test_a_failed_card_check_is_recorded_too(live_server: LiveServer) -> None:
    assert outcome(body_of(card_check(live_server, "f1-input-lag"))) == "2"
    entry = access_log(live_server, "f1-input-lag")[0]
    assert (entry["action"], entry["basis"], entry["outcome"]) == ("card_check", "card:pin", "validity:2")


def test_the_access_log_can_be_read_for_everyone(live_server: LiveServer) -> None:
    number_check(live_server, "healthy-dependent")
    everyone = admin(live_server, "GET", "/access-log", params={"limit": 5})
    assert len(everyone) <= 5
    assert everyone[0]["person_id"] == "healthy-dependent"


def test_an_outage_answers_503_to_clinics_while_admin_still_works(live_server: LiveServer) -> None:
    check_id = card_check(live_server, "healthy-employee", consents={"medication": True}).json()["check_id"]
    bulk = bulk_check_message(live_server, {"x": "healthy-employee"})
    with outage(live_server):
        for response in (
            number_check(live_server, "healthy-employee"),
            send_message(live_server, "/bulk-checks", bulk, xml=False),
            post(live_server, "/card-checks/challenge", json={"reader_id": "R-any"}),
            post(live_server, "/card-checks", json={}),
            get(live_server, f"/medical-info/{check_id}/medication"),
        ):
            body = problem(response, 503, "central_system_unavailable")
            assert "申立書" in body["detail"]
            assert response.headers.get("Retry-After")
        assert len(admin(live_server, "GET", "/personas")) == len(live_server.personas)
        assert client(live_server).get("/health").status_code == 200
    assert outcome(body_of(number_check(live_server, "healthy-employee"))) == "1"
    assert challenge(live_server)
    assert outcome(body_of(card_check(live_server, "healthy-employee"))) == "1"


def released_after_check(server: LiveServer) -> str:
    """A card check consenting to medication information, released once right away; its check id."""
    check = card_check(server, "healthy-employee", consents={"medication": True})
    assert check.json()["medical_info"] == ["medication"]
    check_id = str(check.json()["check_id"])
    assert get(server, f"/medical-info/{check_id}/medication").status_code == 200
    return check_id


def last_access(server: LiveServer) -> tuple[str, str, str]:
    entry = access_log(server, "healthy-employee")[0]
    return entry["action"], entry["basis"], entry["outcome"]


def test_a_no_provide_flag_set_after_the_check_stops_the_release(fresh_server: LiveServer) -> None:
    check_id = released_after_check(fresh_server)
    admin(fresh_server, "POST", "/events", json={"kind": "set_no_provide", "person": "healthy-employee",
                                                 "lag_days": 0.25})
    assert get(fresh_server, f"/medical-info/{check_id}/medication").status_code == 200  # not visible yet
    set_clock(fresh_server, "2026-11-24T16:00:00+09:00")  # visible from 15:00, within the consent's 24 h
    response = get(fresh_server, f"/medical-info/{check_id}/medication")
    refused = problem(response, 403, "information_not_provided")
    assert "自己情報提供不可" in refused["detail"] and "no-provide flag" in refused["detail"]
    assert last_access(fresh_server) == ("medical_info", "refused:no_provide_flag", "kind:medication")


def test_a_check_id_expires_at_its_consents_available_time(live_server: LiveServer) -> None:
    with clock_at(live_server):
        check = card_check(live_server, "healthy-employee", consents={"medication": True})
        check_id = check.json()["check_id"]
        available = first_result(check.json()["result"])["PharmacistsInfoAvailableTime"]
        assert available == "20261125090000"  # consent (the fixture moment) + 24 h
        advance_clock(live_server, 24 * 3600)
        assert get(live_server, f"/medical-info/{check_id}/medication").status_code == 200  # the last second
        assert last_access(live_server) == ("medical_info", "consent:medication", "records:2")
        advance_clock(live_server, 1)
        refused = problem(get(live_server, f"/medical-info/{check_id}/medication"), 403,
                          "information_not_provided")
        assert "2026-11-25 09:00:00" in refused["detail"] and "AvailableTime" in refused["detail"]
        assert last_access(live_server) == ("medical_info", "refused:consent_expired", "kind:medication")


def test_check_ids_are_unguessable_hex_that_grow_with_time() -> None:
    """As a UUID's hex to whoever holds one; made in order of time, so the check records' key index
    grows at its end (random bits after the milliseconds keep two in one millisecond apart)."""
    import re
    import time

    from server.api.checks import new_check_id

    first = new_check_id()
    same_moment = [new_check_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_check_id()
    assert all(re.fullmatch(r"[0-9a-f]{32}", made) for made in [first, *same_moment, later])
    assert len({first, *same_moment}) == 1001
    assert first < later and max(same_moment) < later
