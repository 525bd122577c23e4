"""Smartphone マイナ保険証 at the central system: a phone is its own certificate and its own link.

Over real HTTP against a real `onshi serve` (SQLite and PostgreSQL). The phone's certificate is
issued by the mock J-LIS for the phone's own key; the registry links its serial to the person with
the same two-time model as cards, so a phone can fail while the card works, and the other way round.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.jlis import (
    attestation_payload,
    is_smartphone_certificate,
    load_certificate,
    nonce_bytes,
    sign_attestation,
)
from tests.conftest import LiveServer
from tests.server_helpers import (
    admin,
    admin_request,
    b64,
    card_check,
    card_of,
    challenge,
    outcome,
    phone_of,
    reader_for,
    set_clock,
    submission,
    submit,
)


def phone_check(server: LiveServer, phone_id: str, **kwargs: Any) -> dict[str, Any]:
    reader = reader_for(server)
    response = submit(server, submission(phone_of(server, phone_id), reader, challenge(server, reader),
                                         **kwargs))
    assert response.status_code == 200, response.text
    return dict(response.json())


def code_of(answer: dict[str, Any]) -> str:
    return str(answer["result"]["MessageBody"].get("ProcessingResultCode") or "")


PHONE_EXPECTATIONS = [
    ("healthy-employee", "android", "1"),
    ("healthy-employee", "iphone", "1"),
    ("f16-phone-only", "iphone", "1"),
    ("f17-phone-expired", "android", "E001"),
    ("f17-phone-link-pending", "iphone", "E003"),
]


@pytest.mark.parametrize(("persona", "platform", "expected"), PHONE_EXPECTATIONS)
def test_each_fixture_phone_gives_what_its_persona_expects(live_server: LiveServer, persona: str,
                                                          platform: str, expected: str) -> None:
    assert live_server.personas[persona]["expect"]["phone"][platform] == expected
    answer = phone_check(live_server, f"{persona}.{platform}")
    assert outcome(answer["result"]) == expected
    assert answer["medium"] == "smartphone"
    assert answer["method"] == ("biometric" if platform == "iphone" else "pin")


@pytest.mark.parametrize("persona", ["f17-phone-expired", "f17-phone-link-pending"])
def test_the_card_works_where_its_phone_does_not(live_server: LiveServer, persona: str) -> None:
    answer = card_check(live_server, persona).json()
    assert outcome(answer["result"]) == "1"
    assert answer["medium"] == "card"


def test_a_phone_has_its_own_certificate_serial_and_end_date(live_server: LiveServer) -> None:
    card = card_of(live_server, "f17-phone-expired")
    phone = admin(live_server, "GET", "/phones/f17-phone-expired.android")
    assert phone["serial"] != card.serial
    assert phone["card_serial"] != card.serial  # set up from the card's certificate before its renewal
    assert phone["certificate_not_after"] == "2026-07-31"  # the old card certificate's end
    assert card.certificate_not_after == "2030-07-31"  # renewed on 2026-06-20
    assert is_smartphone_certificate(load_certificate(phone["certificate_pem"]))
    assert not is_smartphone_certificate(load_certificate(card.certificate_pem))


def test_revoking_the_phone_leaves_the_card_working(fresh_server: LiveServer) -> None:
    admin(fresh_server, "POST", "/events",
          json={"kind": "revoke_phone", "person": "healthy-employee", "platform": "android"})
    assert code_of(phone_check(fresh_server, "healthy-employee.android")) == "E002"
    assert outcome(phone_check(fresh_server, "healthy-employee.iphone")["result"]) == "1"
    assert outcome(card_check(fresh_server, "healthy-employee").json()["result"]) == "1"


def test_revoking_the_card_leaves_the_phone_working(fresh_server: LiveServer) -> None:
    admin(fresh_server, "POST", "/events", json={"kind": "revoke", "card_of": "healthy-employee"})
    assert code_of(card_check(fresh_server, "healthy-employee").json()) == "E002"
    assert outcome(phone_check(fresh_server, "healthy-employee.android")["result"]) == "1"


def test_the_phone_link_becomes_visible_at_its_own_time(fresh_server: LiveServer) -> None:
    assert code_of(phone_check(fresh_server, "f17-phone-link-pending.iphone")) == "E003"
    set_clock(fresh_server, "2026-11-26T09:00:00+09:00")
    assert outcome(phone_check(fresh_server, "f17-phone-link-pending.iphone")["result"]) == "1"


def test_a_phone_set_up_now_with_a_lag_is_unknown_until_the_lag_passes(fresh_server: LiveServer) -> None:
    made = admin(fresh_server, "POST", "/phones",
                 json={"person_id": "f16-phone-only", "platform": "android", "link_lag_days": 1})
    assert made["phone_id"] == "f16-phone-only.android"
    assert made["pin_hash"] is not None and "1234" not in str(made["pin_hash"])  # the card's PIN, hashed
    assert code_of(phone_check(fresh_server, "f16-phone-only.android")) == "E003"
    set_clock(fresh_server, "2026-11-25T09:00:01+09:00")
    assert outcome(phone_check(fresh_server, "f16-phone-only.android")["result"]) == "1"


@pytest.mark.parametrize(("person", "platform", "reason"), [
    ("face-only-card", "android", "顔認証マイナンバーカード"),
    ("healthy-dependent", "iphone", "15歳未満"),  # 14 on the fixture day: no signature certificate
    ("f3-certificate-expired", "android", "期限切れ"),
    ("f15-revoked", "android", "失効"),
    ("f14-twin-b", "android", "マイナンバーカードがありません"),
])
def test_set_up_is_refused_as_the_real_one_refuses(live_server: LiveServer, person: str, platform: str,
                                                   reason: str) -> None:
    response = admin_request(live_server, "POST", "/phones", json={"person_id": person, "platform": platform})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "phone_refused"
    assert reason in problem["detail"]


def test_an_iphone_needs_a_holder_of_16(fresh_server: LiveServer) -> None:
    # Born 2010-12-01: 15 on the fixture day — Android yes, iPhone not yet.
    person = admin(fresh_server, "POST", "/cards", json={"name": "高校 一年", "birthdate": "2010-12-01",
                                                          "issued_on": "2026-01-10"})["person"]["id"]
    refused = admin_request(fresh_server, "POST", "/phones", json={"person_id": person, "platform": "iphone"})
    assert refused.status_code == 400 and "16歳以上" in refused.json()["detail"]
    assert admin(fresh_server, "POST", "/phones", json={"person_id": person, "platform": "android"})


@pytest.mark.parametrize(("presented", "claimed"), [("phone", "card"), ("card", "smartphone")])
def test_the_medium_is_the_certificate_s_not_the_reader_s_claim(live_server: LiveServer, presented: str,
                                                               claimed: str) -> None:
    """A phone passed off as a card, or a card as a phone, is refused: the certificate says which."""
    reader = reader_for(live_server)
    held = (phone_of(live_server, "healthy-employee.android") if presented == "phone"
            else card_of(live_server, "healthy-employee"))
    body = {**submission(held, reader, challenge(live_server, reader)), "medium": claimed}
    response = submit(live_server, body)
    assert response.status_code == 400
    assert response.json()["code"] == "medium_mismatch"


def test_the_attestation_must_name_the_phone(live_server: LiveServer) -> None:
    """A reader attestation that does not name the medium (a card-style "face") fails for a phone."""
    reader = reader_for(live_server)
    phone = phone_of(live_server, "healthy-employee.iphone")
    nonce = challenge(live_server, reader)
    body = submission(phone, reader, nonce)
    card_style = attestation_payload(nonce_bytes(nonce), phone.certificate_der, "face", reader.reader_id)
    body["reader_attestation"] = b64(sign_attestation(reader.device_key, card_style))
    response = submit(live_server, body)
    assert response.status_code in (400, 401, 403), response.text
    assert "attestation" in response.json()["code"]


def test_phone_checks_are_on_the_access_record_as_phone_checks(fresh_server: LiveServer) -> None:
    phone_check(fresh_server, "healthy-employee.iphone")
    entries = admin(fresh_server, "GET", "/access-log", params={"person_id": "healthy-employee"})
    assert ("card_check", "smartphone:biometric") in [(e["action"], e["basis"]) for e in entries]


@pytest.mark.parametrize(("phone", "code"), [("f17-phone-expired.android", "E001"),
                                             ("f17-phone-link-pending.iphone", "E003")])
def test_a_phone_error_speaks_of_the_phone_not_the_card(live_server: LiveServer, phone: str,
                                                        code: str) -> None:
    """Same code as the card's, but the remedy is the phone's (renewing the card does not help)."""
    answer = phone_check(live_server, phone)
    body = answer["result"]["MessageBody"]
    assert body["ProcessingResultCode"] == code
    assert "スマートフォン" in body["ProcessingResultMessage"]
    assert [n["code"] for n in answer["notes"]][:1] == [code] and "phone" in answer["notes"][0]["en"]
    card_answer = card_check(live_server, "f3-certificate-expired").json()
    assert "スマートフォン" not in card_answer["result"]["MessageBody"]["ProcessingResultMessage"]
