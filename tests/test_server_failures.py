"""The failure catalogue (F1–F15) as the clinic sees it over HTTP, including its time boundaries.

Time-dependent cases move the simulated clock with `clock_at` (checks do not change the
registry, so putting the clock back is enough); the fixture moment is 2026-11-24 09:00 JST.
"""

from __future__ import annotations

from datetime import date, timedelta

from server.core.policy import DEFAULT_POLICY
from server.jlis import load_crl
from tests.conftest import LiveServer
from tests.server_helpers import (
    ALL_CONSENTS,
    access_log,
    admin,
    body_of,
    card_check,
    card_of,
    client,
    clock_at,
    first_result,
    get,
    notes_of,
    number_check,
    outcome,
    problem,
    withheld_of,
)

# F1: the new insurer's registration reaches the system on 2026-11-30 00:00 (14 days' lag).
F1_NEW_NUMBERS = {"insurer": "01130012", "symbol": "31059999", "number": "305", "branch": "00",
                  "birthdate": "1990-10-10"}


def card_outcome(server: LiveServer, persona: str) -> str:
    return outcome(body_of(card_check(server, persona)))


def number_outcome(server: LiveServer, persona_or_numbers: str | dict[str, str]) -> str:
    return outcome(body_of(number_check(server, persona_or_numbers)))


# --- F1 input lag ------------------------------------------------------------------------------


def test_f1_before_the_new_insurer_registers_the_card_shows_the_lost_qualification(
        live_server: LiveServer) -> None:
    answer = body_of(card_check(live_server, "f1-input-lag"))
    assert outcome(answer) == "2"
    lost = first_result(answer)
    assert lost["InsurerNumber"] == "06139012"
    assert lost["DisqualificationDate"] == "20261116"
    assert lost["ReasonOfLoss"] == "99"
    assert number_outcome(live_server, F1_NEW_NUMBERS) == "4"
    assert number_outcome(live_server, "f1-input-lag") == "4"  # the persona's numbers are the new ones


def test_f1_the_lag_lasts_until_the_registration_arrives(live_server: LiveServer) -> None:
    with clock_at(live_server, "2026-11-29T23:59:59+09:00"):
        assert card_outcome(live_server, "f1-input-lag") == "2"
        assert number_outcome(live_server, F1_NEW_NUMBERS) == "4"
    with clock_at(live_server, "2026-11-30T00:00:00+09:00"):
        answer = body_of(card_check(live_server, "f1-input-lag"))
        assert outcome(answer) == "1"
        assert first_result(answer)["InsurerNumber"] == "01130012"
        assert number_outcome(live_server, F1_NEW_NUMBERS) == "1"


def test_f1_a_bulk_check_for_a_later_day_still_sees_the_registry_as_known_today(
        live_server: LiveServer) -> None:
    # Checking the day before for 2026-11-30 does not see a registration that has not arrived yet.
    answer = body_of(number_check(live_server, F1_NEW_NUMBERS, day=date(2026, 11, 30)))
    assert outcome(answer) == "4"


# --- F2 wrong link -------------------------------------------------------------------------------


def test_f2_the_card_returns_a_strangers_data_and_releases_her_medication(live_server: LiveServer) -> None:
    response = card_check(live_server, "f2-wrong-link", consents={"medication": True})
    shown = first_result(body_of(response))
    assert outcome(body_of(response)) == "1"
    assert shown["Name"] == "加藤　美咲"  # the same name …
    assert shown["Birthdate"] == "19621225"  # … but not the patient's 1988-03-03
    assert shown["Address"].startswith("大阪府")
    assert shown["InsurerNumber"] == "06271234"
    check_id = response.json()["check_id"]

    leaked = get(live_server, f"/medical-info/{check_id}/medication")
    assert leaked.status_code == 200, leaked.text
    drugs = [r["drug"] for r in leaked.json()["records"]]
    assert "エスシタロプラム錠10mg" in drugs
    assert all(r["institution"] == "梅田こころのクリニック" for r in leaked.json()["records"])

    # The access record shows the leak under the stranger's person id, never under the patient's.
    stranger = access_log(live_server, "f2-stranger")
    assert [(e["action"], e["basis"]) for e in stranger[:2]] == [("medical_info", "consent:medication"),
                                                                 ("card_check", "card:pin")]
    assert all(e["clinic_code"] == live_server.clinic_code for e in stranger[:2])
    assert not [e for e in access_log(live_server, "f2-wrong-link") if e["action"] == "card_check"]


# --- F3 certificate expiry ------------------------------------------------------------------------


def test_f3_the_expiry_warning_starts_three_months_before_and_grace_follows(live_server: LiveServer) -> None:
    not_after = date.fromisoformat(card_of(live_server, "f3-certificate-expiring").certificate_not_after)
    warning_from = DEFAULT_POLICY.warning_starts_on(not_after)
    assert (warning_from, not_after) == (date(2026, 9, 20), date(2026, 12, 20))
    with clock_at(live_server, f"{warning_from - timedelta(days=1)}T23:59:59+09:00"):
        response = card_check(live_server, "f3-certificate-expiring")
        assert outcome(body_of(response)) == "1" and notes_of(response) == []
    with clock_at(live_server, f"{warning_from}T00:00:00+09:00"):
        assert notes_of(card_check(live_server, "f3-certificate-expiring")) == ["W001"]
    with clock_at(live_server, f"{not_after}T23:59:59+09:00"):
        assert notes_of(card_check(live_server, "f3-certificate-expiring")) == ["W001"]
    with clock_at(live_server, f"{not_after + timedelta(days=1)}T00:00:00+09:00"):
        response = card_check(live_server, "f3-certificate-expiring")
        assert outcome(body_of(response)) == "1" and notes_of(response) == ["W002"]


def test_f3_in_grace_eligibility_only_until_the_end_of_the_third_month(live_server: LiveServer) -> None:
    not_after = date.fromisoformat(card_of(live_server, "f3-certificate-in-grace").certificate_not_after)
    assert DEFAULT_POLICY.grace_ends_on(not_after) == date(2026, 12, 31)
    with clock_at(live_server, "2026-12-31T23:59:59+09:00"):
        response = card_check(live_server, "f3-certificate-in-grace")
        assert outcome(body_of(response)) == "1" and notes_of(response) == ["W002"]
    with clock_at(live_server, "2027-01-01T00:00:00+09:00"):
        answer = body_of(card_check(live_server, "f3-certificate-in-grace"))
        assert outcome(answer) == "E001"
        assert answer["MessageBody"]["ProcessingResultStatus"] == "2"
        assert "ResultList" not in answer["MessageBody"]
        assert number_outcome(live_server, "f3-certificate-in-grace") == "1"  # the fallback works


def test_f3_in_grace_no_medical_information_even_with_consent(live_server: LiveServer) -> None:
    response = card_check(live_server, "f3-certificate-in-grace", consents={"medication": True})
    assert response.json()["medical_info"] == []
    assert withheld_of(response) == ["certificate_in_grace"]
    refused = get(live_server, f"/medical-info/{response.json()['check_id']}/medication")
    assert "猶予期間" in problem(refused, 403, "information_not_provided")["detail"]


def test_f3_after_grace_the_card_fails(live_server: LiveServer) -> None:
    answer = body_of(card_check(live_server, "f3-certificate-expired"))
    assert outcome(answer) == "E001"
    assert answer["MessageBody"]["ProcessingResultMessage"].startswith("電子証明書の有効期限が切れています")


# --- F4 no-provide flag ---------------------------------------------------------------------------


def test_f4_the_flag_withholds_everything_even_with_consent_and_discloses_itself(
        live_server: LiveServer) -> None:
    response = card_check(live_server, "f4-no-provide", consents=ALL_CONSENTS)
    assert outcome(body_of(response)) == "1"
    assert notes_of(response) == ["W003"]
    assert withheld_of(response) == ["no_provide_flag"]
    assert response.json()["medical_info"] == []
    check_id = response.json()["check_id"]
    for kind in ("medication", "clinical", "operation", "checkup"):
        answer = get(live_server, f"/medical-info/{check_id}/{kind}")
        refused = problem(answer, 403, "information_not_provided")
        assert "自己情報提供不可" in refused["detail"]
    refusals = [e for e in access_log(live_server, "f4-no-provide") if e["action"] == "medical_info"]
    assert refusals[0]["basis"] == "refused:no_provide_flag"
    assert {e["outcome"] for e in refusals[:4]} == {"kind:medication", "kind:clinical", "kind:operation",
                                                     "kind:checkup"}
    # Without consent the flag still shows (W003): the disclosure the flag itself causes.
    assert notes_of(card_check(live_server, "f4-no-provide")) == ["W003"]


# --- F5 ● in names --------------------------------------------------------------------------------


def test_f5_characters_outside_the_set_become_the_replacement_mark(live_server: LiveServer) -> None:
    persona = "f5-name-characters"
    for response in (card_check(live_server, persona), number_check(live_server, persona)):
        shown = first_result(body_of(response))
        assert shown["Name"] == "●木　●雄"
        assert shown["InsuredName"] == "●木　●雄"
        assert shown["NameKana"] == "ﾀｶｷﾞ ﾖｼｵ"
        assert notes_of(response) == ["W004"]


# --- F9 not registered ----------------------------------------------------------------------------


def test_f9_a_card_not_registered_for_insurance_use_fails_but_the_numbers_work(
        live_server: LiveServer) -> None:
    for persona in ("f9-not-registered", "f9-registration-cancelled"):
        answer = body_of(card_check(live_server, persona))
        assert outcome(answer) == "E003"
        assert "利用登録" in answer["MessageBody"]["ProcessingResultMessage"]
        assert number_outcome(live_server, persona) == "1"


# --- F10 lost / new qualification -----------------------------------------------------------------


def test_f10_a_lost_qualification_is_invalid_with_its_reason(live_server: LiveServer) -> None:
    for response in (card_check(live_server, "f10-qualification-lost"),
                     number_check(live_server, "f10-qualification-lost")):
        answer = body_of(response)
        assert outcome(answer) == "2"
        assert first_result(answer)["ReasonOfLoss"] == "99"
        assert first_result(answer)["DisqualificationDate"] == "20261101"


def test_f10_the_old_numbers_say_a_newer_qualification_exists(live_server: LiveServer) -> None:
    old = body_of(number_check(live_server, "f10-new-qualification"))
    assert outcome(old) == "3"
    assert first_result(old)["ReasonOfLoss"] == "03"
    assert first_result(old)["InsurerNumber"] == "06139012"
    card = body_of(card_check(live_server, "f10-new-qualification"))
    assert outcome(card) == "1"
    assert first_result(card)["InsurerNumber"] == "01130012"


# --- F11 wrong co-pay -----------------------------------------------------------------------------


def test_f11_the_registered_ratio_is_wrong_and_the_result_is_still_valid(live_server: LiveServer) -> None:
    assert live_server.personas["f11-wrong-copay"]["true_copay_ratio"] == 20
    persona = "f11-wrong-copay"
    for response in (card_check(live_server, persona), number_check(live_server, persona)):
        shown = first_result(body_of(response))
        assert outcome(body_of(response)) == "1"
        assert shown["InsuredPartialContributionRatio"] == "030"
        # The elderly recipient certificate in the same result says 2割: the contradiction to spot.
        assert shown["ElderlyRecipientCertificateInfo"]["ElderlyRecipientContributionRatio"] == "020"


# --- F12 renewal link -----------------------------------------------------------------------------


def test_f12_a_renewed_card_finds_nobody_until_the_link_arrives(live_server: LiveServer) -> None:
    response = card_check(live_server, "f12-renewal-link-missing")
    assert outcome(body_of(response)) == "4"
    assert notes_of(response) == ["W005"]
    assert "ResultList" not in body_of(response)["MessageBody"]
    assert number_outcome(live_server, "f12-renewal-link-missing") == "1"
    with clock_at(live_server, "2026-11-29T23:59:59+09:00"):
        assert card_outcome(live_server, "f12-renewal-link-missing") == "4"
    with clock_at(live_server, "2026-11-30T00:00:00+09:00"):
        response = card_check(live_server, "f12-renewal-link-missing")
        assert outcome(body_of(response)) == "1"
        assert notes_of(response) == []
        assert first_result(body_of(response))["Name"] == "池田　優子"


# --- F14 multiple matches -------------------------------------------------------------------------


def test_f14_twins_without_a_branch_number_match_both_and_show_nobody(live_server: LiveServer) -> None:
    response = number_check(live_server, "f14-twin-a")
    answer = body_of(response)
    assert outcome(answer) == "5"
    assert "ResultList" not in answer["MessageBody"]
    assert "阿部" not in response.text and "ｱﾍﾞ" not in response.text
    with_branch = {**live_server.personas["f14-twin-a"]["numbers"], "branch": "02"}
    assert first_result(body_of(number_check(live_server, with_branch)))["Name"] == "阿部　蓮"
    assert first_result(body_of(number_check(live_server, "f14-twin-b")))["Name"] == "阿部　湊"


# --- F15 revoked ----------------------------------------------------------------------------------


def test_f15_a_revoked_certificate_fails_and_is_on_the_crl(live_server: LiveServer) -> None:
    answer = body_of(card_check(live_server, "f15-revoked"))
    assert outcome(answer) == "E002"
    assert "ResultList" not in answer["MessageBody"]
    assert number_outcome(live_server, "f15-revoked") == "1"
    crl = load_crl(client(live_server).get("/jlis/crl.pem").text)
    serial = int(admin(live_server, "GET", "/cards/f15-revoked")["serial"])
    assert serial in {entry.serial_number for entry in crl}
