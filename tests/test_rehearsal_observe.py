"""What the console's action log shows of the trainee's response (pure: actions in, items out)."""

from __future__ import annotations

from typing import Any

from rehearsal.observe import OBSERVABLE, merge, observe
from rehearsal.scenario import RESPONSE_ITEMS

PATIENT = "healthy-national"


def act(what: str, check: str | None = None, patient: str = PATIENT, **detail: Any) -> dict[str, Any]:
    return {"at": "2026-11-24T09:01:00+09:00", "kind": what, "patient_id": patient, "check_id": check,
            "detail": detail}


def shown(check: str, validity: str | None, code: str | None = None, reader_error: str | None = None
          ) -> dict[str, Any]:
    return act("result_shown", check, validity=validity, code=code, reader_error=reader_error)


def test_f1_card_invalid_number_check_not_found_then_declaration_and_30_percent() -> None:
    log = [act("card_check_started"), shown("c1", "2"),
           act("number_check", "n1", document="other"), shown("n1", "4"),
           act("declaration_printed", "n1"), act("copay_charged", "n1", percent=30)]
    assert observe(log, PATIENT).response == {"switch_method": "number_check", "use_declaration": True,
                                              "accept_document": "declaration", "copay_ratio": 30}


def test_f2_a_discarded_stranger_is_no_basis_and_the_number_check_is() -> None:
    log = [act("card_check_started"), shown("c1", "1"), act("wrong_link_decision", "c1", decision="discard"),
           act("number_check", "n1", document="eligibility_notice"), shown("n1", "1"),
           act("copay_charged", "n1", percent=30)]
    assert observe(log).response == {"stop_on_stranger": True, "switch_method": "number_check",
                                     "accept_document": "eligibility_notice", "copay_ratio": 30,
                                     "use_declaration": False}


def test_f2_accepting_the_stranger_is_observed_as_using_the_card() -> None:
    log = [shown("c1", "1"), act("wrong_link_decision", "c1", decision="accept"),
           act("copay_charged", "c1", percent=20)]
    response = observe(log).response
    assert response["stop_on_stranger"] is False and response["accept_document"] == "card"
    assert response["copay_ratio"] == 20 and "switch_method" not in response


def test_a_healthy_card_check_is_the_card_with_no_switch_observed() -> None:
    response = observe([act("card_check_started"), shown("c1", "1"), act("copay_charged", "c1", percent=30),
                        act("medical_info_viewed", "c1", kind="medication")]).response
    assert response == {"accept_document": "card", "copay_ratio": 30, "use_declaration": False}


def test_a_reader_error_then_a_number_check_is_a_switch_to_the_number_check() -> None:
    log = [act("card_check_started"), shown("c1", None, reader_error="R401"),
           act("number_check", "n1", document="eligibility_certificate"), shown("n1", "1")]
    response = observe(log).response
    assert response["switch_method"] == "number_check"
    assert response["accept_document"] == "eligibility_certificate"


def test_the_last_co_pay_counts_and_other_patients_are_not_this_trainees_response() -> None:
    log = [act("copay_charged", percent=100), act("copay_charged", percent=30),
           act("declaration_printed", patient="f2-wrong-link")]
    observation = observe(log, PATIENT)
    assert observation.response == {"copay_ratio": 30, "use_declaration": False} and observation.actions == 2


def test_nothing_at_the_console_observes_nothing() -> None:
    assert observe([], PATIENT).response == {}
    assert observe([act("card_check_started", patient="someone-else")], PATIENT).response == {}


def test_what_the_log_cannot_show_stays_self_reported() -> None:
    assert set(OBSERVABLE) <= set(RESPONSE_ITEMS)
    for unobservable in ("ask_documents", "confirm_name", "report", "ask_reason_for_flag"):
        assert unobservable not in OBSERVABLE
    observation = observe([shown("c1", "1"), act("copay_charged", "c1", percent=30)])
    response, observed = merge(observation, {"copay_ratio": "100", "confirm_name": "true"})
    assert response == {"copay_ratio": 30, "accept_document": "card", "use_declaration": False,
                        "confirm_name": "true"}  # the console's 30% wins over a reported 100%
    assert observed == {"copay_ratio", "accept_document", "use_declaration"}
