"""What the server refuses: each a clear 4xx problem+json naming the problem, never a 500.

After every rejection the server must keep answering correctly (nothing lost): an autouse
fixture runs a number check and a card check once each test is done.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from onshi import xmlcodec
from onshi.timeutil import JST
from server.jlis import (
    CertificateAuthority,
    attestation_payload,
    certificate_to_pem,
    sign_attestation,
    sign_nonce,
)
from tests.conftest import LiveServer
from tests.server_helpers import (
    ALL_CONSENTS,
    ENCODINGS,
    PHARMACY_CODE,
    admin,
    admin_request,
    advance_clock,
    b64,
    body_of,
    card_check,
    card_of,
    challenge,
    client,
    clinic_headers,
    clock_at,
    get,
    nonce_bytes,
    number_check,
    number_check_message,
    outcome,
    post,
    problem,
    reader_for,
    submission,
    submit,
)

XML = {"Content-Type": "application/xml"}


@pytest.fixture(autouse=True)
def still_answering(live_server: LiveServer) -> Iterator[None]:
    yield
    assert outcome(body_of(number_check(live_server, "healthy-employee"))) == "1"
    assert outcome(body_of(card_check(live_server, "healthy-employee"))) == "1"
    assert len(admin(live_server, "GET", "/personas")) == len(live_server.personas)


def xml_request(server: LiveServer, persona: str = "healthy-employee", encoding: str = "utf-8") -> bytes:
    return xmlcodec.encode(number_check_message(server, persona, encoding=encoding), ENCODINGS[encoding])


def json_request(server: LiveServer, persona: str = "healthy-employee") -> dict[str, Any]:
    return number_check_message(server, persona).model_dump(mode="json", exclude_none=True)


def post_xml(server: LiveServer, content: bytes, path: str = "/number-checks") -> httpx.Response:
    return post(server, path, content=content, headers={**server.clinic_headers, **XML})


# --- the message itself ----------------------------------------------------------------------------


def test_malformed_xml(live_server: LiveServer) -> None:
    broken = xml_request(live_server).replace(b"</MessageHeader>", b"</MessageHeadr>")
    assert "line" in problem(post_xml(live_server, broken), 400, "xml_malformed")["detail"]


def test_malformed_json(live_server: LiveServer) -> None:
    response = post(live_server, "/number-checks", content=b'{"MessageHeader": {', headers={
        **live_server.clinic_headers, "Content-Type": "application/json"})
    problem(response, 400, "json_malformed")


def test_a_json_array_is_not_a_message(live_server: LiveServer) -> None:
    problem(post(live_server, "/number-checks", json=[json_request(live_server)]), 400, "schema_invalid")


def test_oversized_body(live_server: LiveServer) -> None:
    padded = xml_request(live_server).replace(b"<MessageHeader>", b"<MessageHeader>" + b" " * 1_100_000)
    problem(post_xml(live_server, padded), 413, "body_too_large")


def test_oversized_body_without_a_content_length(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="UTF-8"?>\n<XmlMsg>'
        for _ in range(1_100):
            yield b" " * 1_000
        yield b"</XmlMsg>"

    problem(post_xml(live_server, chunks()), 413, "xml_too_large")  # type: ignore[arg-type]


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE XmlMsg [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<XmlMsg><MessageHeader>&lol3;</MessageHeader></XmlMsg>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE XmlMsg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<XmlMsg><MessageHeader>&secret;</MessageHeader></XmlMsg>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY],
                         ids=["entity-bomb", "external-entity"])
def test_dtd_and_entities_are_refused(live_server: LiveServer, document: bytes) -> None:
    response = post_xml(live_server, document)
    problem(response, 400, "xml_forbidden_construct")
    assert "root:" not in response.text


def test_invalid_utf8_in_xml(live_server: LiveServer) -> None:
    broken = xml_request(live_server).replace(b"<InsuredCardSymbol>5201", b"<InsuredCardSymbol>52\xff\xfe")
    assert "ff" in problem(post_xml(live_server, broken), 400, "encoding_invalid")["detail"]


def test_invalid_utf8_in_json(live_server: LiveServer) -> None:
    content = json.dumps(json_request(live_server)).encode().replace(b"5201", b"52\xc3\x28")
    response = post(live_server, "/number-checks", content=content,
                    headers={**live_server.clinic_headers, "Content-Type": "application/json"})
    problem(response, 400, "encoding_invalid")


def test_shift_jis_declared_with_bytes_that_are_not_shift_jis(live_server: LiveServer) -> None:
    request = xml_request(live_server, encoding="shift_jis")
    assert request.startswith(b'<?xml version="1.0" encoding="Shift_JIS"?>')
    broken = request.replace(b"<InsuredCardSymbol>5201", b"<InsuredCardSymbol>52\x81\x7f")
    assert "Shift_JIS" in problem(post_xml(live_server, broken), 400, "encoding_invalid")["detail"]


def test_a_shift_jis_request_that_is_valid_is_answered_in_shift_jis(live_server: LiveServer) -> None:
    response = post_xml(live_server, xml_request(live_server, "f5-name-characters", encoding="shift_jis"))
    assert response.status_code == 200
    assert "●木 ●雄" in response.content.decode("shift_jis")


def test_unknown_element(live_server: LiveServer) -> None:
    extra = xml_request(live_server).replace(b"<Birthdate>", b"<Nickname>Hana</Nickname><Birthdate>")
    assert "Nickname" in problem(post_xml(live_server, extra), 400, "schema_invalid")["detail"]


@pytest.mark.parametrize("birthdate", ["19851340", "1985-05-12", "S600512"])
def test_bad_birthdate(live_server: LiveServer, birthdate: str) -> None:
    for response in (
        post_xml(live_server, xml_request(live_server).replace(b"19850512", birthdate.encode())),
        post(live_server, "/number-checks", json=json.loads(json.dumps(json_request(live_server))
                                                             .replace("19850512", birthdate))),
    ):
        detail = problem(response, 400, "schema_invalid")["detail"]
        assert "Birthdate" in detail and birthdate in detail


def test_bad_confirmation_date(live_server: LiveServer) -> None:
    message = json_request(live_server)
    message["MessageHeader"]["QualificationConfirmationDate"] = "20260231"
    detail = problem(post(live_server, "/number-checks", json=message), 400, "schema_invalid")["detail"]
    assert "QualificationConfirmationDate" in detail


def test_bad_code_value(live_server: LiveServer) -> None:
    message = json_request(live_server)
    query = message["MessageBody"]["QualificationConfirmSearchInfo"]
    query["LimitApplicationCertificateRelatedConsFlg"] = "7"
    detail = problem(post(live_server, "/number-checks", json=message), 400, "schema_invalid")["detail"]
    assert "LimitApplicationCertificateRelatedConsFlg" in detail
    bad_charset = xml_request(live_server).replace(b"<CharacterCodeIdentifier>0<",
                                                   b"<CharacterCodeIdentifier>9<")
    detail = problem(post_xml(live_server, bad_charset), 400, "schema_invalid")["detail"]
    assert "CharacterCodeIdentifier" in detail


@pytest.mark.parametrize("path", ["/number-checks", "/bulk-checks"])
def test_wrong_content_type(live_server: LiveServer, path: str) -> None:
    response = post(live_server, path, content=xml_request(live_server),
                    headers={**live_server.clinic_headers, "Content-Type": "text/plain"})
    assert "text/plain" in problem(response, 415, "media_type_unsupported")["detail"]


def test_unknown_answer_format_and_encoding(live_server: LiveServer) -> None:
    message = json_request(live_server)
    problem(post(live_server, "/number-checks", json=message, params={"format": "yaml"}), 400,
            "format_unknown")
    problem(post(live_server, "/number-checks", json=message, params={"encoding": "latin-1"}), 400,
            "encoding_unknown")


# --- who is calling ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {},
    {"X-Medical-Institution-Code": "1312345678"},
    {"X-Medical-Institution-Code": "1312345678", "Authorization": "Bearer wrong-token"},
    {"X-Medical-Institution-Code": "9999999999", "Authorization": "Bearer demo-clinic-token"},
    {"X-Medical-Institution-Code": "13123", "Authorization": "Bearer demo-clinic-token"},
    {"X-Medical-Institution-Code": "1342000017", "Authorization": "Bearer demo-clinic-token"},
], ids=["no-headers", "no-token", "wrong-token", "unknown-clinic", "short-code", "another-clinics-token"])
def test_clinic_endpoints_need_the_clinic_and_its_token(live_server: LiveServer,
                                                        headers: dict[str, str]) -> None:
    problem(post(live_server, "/number-checks", json=json_request(live_server), headers=headers), 401,
            "unauthorized")
    problem(post(live_server, "/card-checks/challenge", json={"reader_id": "R-x"}, headers=headers), 401,
            "unauthorized")
    problem(get(live_server, "/medical-info/x/medication", headers=headers), 401, "unauthorized")


@pytest.mark.parametrize("path", ["/number-checks", "/bulk-checks"])
def test_the_message_must_name_the_authenticated_clinic(live_server: LiveServer, path: str) -> None:
    message = json_request(live_server)
    message["MessageHeader"]["MedicalInstitutionCode"] = PHARMACY_CODE
    if path == "/bulk-checks":
        message["MessageBody"]["QualificationConfirmSearchInfo"] = [
            message["MessageBody"]["QualificationConfirmSearchInfo"]]
    detail = problem(post(live_server, path, json=message), 403, "institution_mismatch")["detail"]
    assert PHARMACY_CODE in detail


@pytest.mark.parametrize("token", [None, "wrong"])
def test_admin_needs_the_admin_token(live_server: LiveServer, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for method, path in (("GET", "/personas"), ("POST", "/clock"), ("POST", "/fixtures/load"),
                         ("GET", "/access-log")):
        response = client(live_server).request(method, f"/admin{path}", headers=headers, json={})
        problem(response, 401, "admin_unauthorized")
    # The clinic's token is not an admin token either.
    problem(client(live_server).get("/admin/personas", headers=live_server.clinic_headers), 401,
            "admin_unauthorized")


# --- the card check -------------------------------------------------------------------------------


@cache
def forged_card() -> tuple[rsa.RSAPrivateKey, str]:
    """A card for 佐藤 花子 issued by another CA with the J-LIS name: well-formed, untrusted."""
    impostor = CertificateAuthority.create(datetime(2026, 11, 1, tzinfo=JST))
    key, certificate = impostor.issue_card(holder_birthdate=date(1985, 5, 12), issued_on=date(2024, 2, 1))
    return key, certificate_to_pem(certificate)


def pem_of(der: bytes) -> str:
    return "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE-----\n"


def fresh_submission(server: LiveServer, persona: str = "healthy-employee", **kwargs: Any) -> dict[str, Any]:
    reader = reader_for(server)
    return submission(card_of(server, persona), reader, challenge(server, reader), **kwargs)


def test_unknown_reader(live_server: LiveServer) -> None:
    problem(post(live_server, "/card-checks/challenge", json={"reader_id": "R-unregistered"}), 403,
            "reader_unknown")
    body = {**fresh_submission(live_server), "reader_id": "R-unregistered"}
    problem(submit(live_server, body), 403, "reader_unknown")


def test_a_reader_of_another_clinic(live_server: LiveServer) -> None:
    pharmacy_reader = reader_for(live_server, PHARMACY_CODE)
    response = post(live_server, "/card-checks/challenge", json={"reader_id": pharmacy_reader.reader_id})
    assert "1312345678" in problem(response, 403, "reader_unknown")["detail"]


def test_forged_certificate(live_server: LiveServer) -> None:
    key, pem = forged_card()
    body = fresh_submission(live_server)
    body["certificate_pem"] = pem
    body["card_signature"] = b64(sign_nonce(key, nonce_bytes(body["nonce"])))  # the forger's own key
    problem(submit(live_server, body), 400, "certificate_untrusted")


def test_tampered_certificate(live_server: LiveServer) -> None:
    card = card_of(live_server, "healthy-employee")
    der = bytearray(card.certificate_der)
    der[-1] ^= 0x01  # the CA signature no longer matches
    body = fresh_submission(live_server)
    body["certificate_pem"] = pem_of(bytes(der))
    problem(submit(live_server, body), 400, "certificate_untrusted")


@pytest.mark.parametrize("pem", [
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "not a certificate at all",
    "-----BEGIN CERTIFICATE-----\n証明書\n-----END CERTIFICATE-----\n",
], ids=["truncated", "text", "non-ascii"])
def test_garbage_pem(live_server: LiveServer, pem: str) -> None:
    body = {**fresh_submission(live_server), "certificate_pem": pem}
    problem(submit(live_server, body), 400, "certificate_malformed")


def test_wrong_card_signature(live_server: LiveServer) -> None:
    body = {**fresh_submission(live_server), "card_signature": b64(b"\x00" * 256)}
    problem(submit(live_server, body), 400, "signature_invalid")


def test_signature_by_another_cards_key(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    other = card_of(live_server, "healthy-national")
    body["card_signature"] = b64(sign_nonce(other.key, nonce_bytes(body["nonce"])))
    problem(submit(live_server, body), 400, "signature_invalid")


def test_missing_and_malformed_card_signature(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    body.pop("card_signature")
    problem(submit(live_server, body), 400, "card_signature_missing")
    problem(submit(live_server, {**fresh_submission(live_server), "card_signature": "***"}), 400,
            "card_signature_malformed")


def test_attestation_by_another_readers_key(live_server: LiveServer) -> None:
    card = card_of(live_server, "healthy-employee")
    body = fresh_submission(live_server, method="face")
    payload = attestation_payload(nonce_bytes(body["nonce"]), card.certificate_der, "face",
                                  body["reader_id"])
    body["reader_attestation"] = b64(sign_attestation(reader_for(live_server, PHARMACY_CODE).device_key,
                                                      payload))
    problem(submit(live_server, body), 400, "attestation_invalid")


def test_attestation_for_another_method(live_server: LiveServer) -> None:
    # A reader attested a visual check; the submission claims face authentication.
    body = {**fresh_submission(live_server, method="visual"), "method": "face"}
    problem(submit(live_server, body), 400, "attestation_invalid")


def test_replayed_nonce(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    assert submit(live_server, body).status_code == 200
    problem(submit(live_server, body), 400, "nonce_replayed")


def test_a_nonce_is_used_up_even_when_the_proof_fails(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    problem(submit(live_server, {**body, "card_signature": b64(b"\x00" * 256)}), 400, "signature_invalid")
    problem(submit(live_server, body), 400, "nonce_replayed")


def test_expired_nonce(live_server: LiveServer) -> None:
    with clock_at(live_server):
        body = fresh_submission(live_server)
        advance_clock(live_server, 61)
        detail = problem(submit(live_server, body), 400, "nonce_expired")["detail"]
        assert "2026-11-24T09:01:00+09:00" in detail  # said in JST, as labelled


def test_a_nonce_is_good_for_sixty_seconds(live_server: LiveServer) -> None:
    with clock_at(live_server):
        body = fresh_submission(live_server)
        advance_clock(live_server, 59)
        assert submit(live_server, body).status_code == 200


def test_unknown_nonce(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    body["nonce"] = base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")
    problem(submit(live_server, body), 400, "nonce_unknown")


def test_a_nonce_issued_to_another_clinic(live_server: LiveServer) -> None:
    pharmacy_reader = reader_for(live_server, PHARMACY_CODE)
    nonce = challenge(live_server, pharmacy_reader)
    body = submission(card_of(live_server, "healthy-employee"), reader_for(live_server), nonce)
    problem(submit(live_server, body), 400, "nonce_unknown")


def test_a_submission_missing_fields(live_server: LiveServer) -> None:
    body = fresh_submission(live_server)
    body.pop("certificate_pem")
    body["method"] = "telepathy"
    detail = problem(submit(live_server, body), 400, "request_invalid")["detail"]
    assert "certificate_pem" in detail and "method" in detail
    response = post(live_server, "/card-checks", content=b"{not json",
                    headers={**live_server.clinic_headers, "Content-Type": "application/json"})
    problem(response, 400, "request_invalid")


def test_a_card_check_that_is_not_utf8(live_server: LiveServer) -> None:
    response = post(live_server, "/card-checks", content=b'{"reader_id": "R-\xff\xfe"}',
                    headers={**live_server.clinic_headers, "Content-Type": "application/json"})
    assert problem(response, 400, "http_400")["title"] == "the request body cannot be parsed"


# --- medical information ---------------------------------------------------------------------------


def test_medical_info_of_another_clinics_check_is_not_found(live_server: LiveServer) -> None:
    check_id = card_check(live_server, "healthy-employee", consents=ALL_CONSENTS).json()["check_id"]
    assert get(live_server, f"/medical-info/{check_id}/medication").status_code == 200
    response = get(live_server, f"/medical-info/{check_id}/medication",
                   headers=clinic_headers(live_server, PHARMACY_CODE))
    problem(response, 404, "not_found")
    problem(get(live_server, "/medical-info/no-such-check/medication"), 404, "not_found")


def test_unknown_medical_info_kind(live_server: LiveServer) -> None:
    check_id = card_check(live_server, "healthy-employee", consents=ALL_CONSENTS).json()["check_id"]
    detail = problem(get(live_server, f"/medical-info/{check_id}/genome"), 400, "kind_unknown")["detail"]
    assert "medication" in detail


# --- admin input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "code"), [
    ({"kind": "earthquake"}, "request_invalid"),
    ({"kind": "revoke"}, "request_invalid"),
    ({"kind": "revoke", "card_of": "nobody"}, "event_invalid"),
    ({"kind": "set_no_provide", "person": "nobody"}, "event_invalid"),
    ({"kind": "lose_qualification", "qualification_id": "q-none", "lost_on": "2026-11-01"}, "event_invalid"),
    ({"kind": "revoke", "card_of": "healthy-employee", "lag_days": -1}, "request_invalid"),
    ({"kind": "set_copay", "qualification_id": "q-sato-hanako", "copay_ratio": 30, "colour": "red"},
     "request_invalid"),
], ids=["unknown-kind", "missing-card", "unknown-person", "unknown-flag-person", "unknown-qualification",
        "negative-lag", "unknown-field"])
def test_bad_event(live_server: LiveServer, event: dict[str, Any], code: str) -> None:
    problem(admin_request(live_server, "POST", "/events", json=event), 400, code)


@pytest.mark.parametrize("body", [{"name": "../fixtures/personas"}, {"name": "no-such-fixture"}, {"name": 7},
                                  {"name": ".hidden"}, ["personas"]],
                         ids=["traversal", "missing", "not-a-string", "hidden", "not-an-object"])
def test_bad_fixture_name(live_server: LiveServer, body: Any) -> None:
    problem(admin_request(live_server, "POST", "/fixtures/load", json=body), 400, "fixture_invalid")


def test_a_broken_yaml_fixture_leaves_the_registry_as_it_was(live_server: LiveServer) -> None:
    for text in ("personas: [{id: broken}]", "clinics: []", "personas: [: :"):
        response = admin_request(live_server, "POST", "/fixtures/load", content=text.encode(),
                                 headers={**live_server.admin_headers, "Content-Type": "application/yaml"})
        problem(response, 400, "fixture_invalid")


def test_bad_clock_change(live_server: LiveServer) -> None:
    response = admin_request(live_server, "POST", "/clock", json={"set": "next tuesday"})
    problem(response, 400, "request_invalid")
