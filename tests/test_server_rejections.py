"""What the server refuses: each a clear 4xx problem+json naming the problem, never a 500.

After every rejection the server must keep answering correctly (nothing lost): an autouse
fixture runs a number check and a card check once each test is done.
"""

from __future__ import annotations

import base64
import json
import socket
import time
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
    generate_key,
    sign_attestation,
    sign_nonce,
)
from tests.conftest import LiveServer
from tests.server_helpers import (
    ALL_CONSENTS,
    ENCODINGS,
    FIXTURE_MOMENT,
    PHARMACY_CODE,
    admin,
    admin_request,
    advance_clock,
    b64,
    body_of,
    card_check,
    card_of,
    certificate_with_unreadable_policies,
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


def chunked_request(server: LiveServer, path: str, chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
    """Sends ``chunks`` with Transfer-Encoding: chunked and *never ends the body*; reads the answer.

    A server that reads the whole body before checking its size never answers (the socket times out);
    one that counts while it reads answers as soon as the limit is passed.
    """
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = [f"POST /api/v1{path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
                "Transfer-Encoding: chunked", *(f"{k}: {v}" for k, v in server.clinic_headers.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < length_of(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(body[:length_of(answer)])


def length_of(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


@pytest.mark.parametrize("path", ["/number-checks", "/card-checks"])
def test_oversized_body_without_a_content_length_is_cut_off_while_streaming(live_server: LiveServer,
                                                                           path: str) -> None:
    status, body = chunked_request(live_server, path, [b'{"MessageHeader": "'] + [b" " * 64_000] * 20)
    assert (status, body["code"]) == (413, "body_too_large"), body
    assert body["title_ja"] and "1048576" in body["detail"]


def test_a_chunked_body_under_the_limit_is_read_whole(live_server: LiveServer) -> None:
    content = json.dumps(json_request(live_server)).encode()
    response = post(live_server, "/number-checks", content=iter([content[:50], content[50:]]),
                    headers={**live_server.clinic_headers, "Content-Type": "application/json"})
    assert outcome(body_of(response)) == "1"


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
    assert "●木　●雄" in response.content.decode("shift_jis")


def test_an_unknown_element_is_read_past_not_refused(live_server: LiveServer) -> None:
    """Real clinic programs send elements we may not know; like real systems we read past them."""
    extra = xml_request(live_server).replace(b"<Birthdate>", b"<Nickname>Hana</Nickname><Birthdate>")
    response = post_xml(live_server, extra)
    assert response.status_code == 200, response.text
    assert b"<QualificationValidity>1</QualificationValidity>" in response.content
    assert b"Nickname" not in response.content


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
@cache
def impostor() -> CertificateAuthority:
    """Another CA with the J-LIS name and its own key."""
    return CertificateAuthority.create(datetime(2026, 11, 1, tzinfo=JST))


def forged_card() -> tuple[rsa.RSAPrivateKey, str]:
    """A card for 佐藤 花子 issued by another CA with the J-LIS name: well-formed, untrusted."""
    key, certificate = impostor().issue_card(holder_birthdate=date(1985, 5, 12), issued_on=date(2024, 2, 1))
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


def test_a_certificate_with_an_unreadable_extension(live_server: LiveServer) -> None:
    certificate = certificate_with_unreadable_policies(impostor(), generate_key())
    body = {**fresh_submission(live_server), "certificate_pem": certificate_to_pem(certificate)}
    refusal = problem(submit(live_server, body), 400, "certificate_malformed")
    assert "not an X.509 certificate" in refusal["detail"]


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


def test_a_nonce_issued_before_a_registry_reload_is_good_after_it(fresh_server: LiveServer) -> None:
    # The key that signs nonces outlives a fixture load: a check in flight at the counter survives it.
    reader = reader_for(fresh_server)
    nonce = challenge(fresh_server, reader)
    fresh_server.admin("POST", "/fixtures/load", json={"name": "personas"})
    body = submission(card_of(fresh_server, "healthy-employee"), reader, nonce)
    assert submit(fresh_server, body).status_code == 200
    problem(submit(fresh_server, body), 400, "nonce_replayed")


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


def a_problem(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    """A problem+json answer with this status, whatever its code; returns it."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    data = dict(response.json())
    assert data["title"] and data["title_ja"] and data["detail"], data
    return data


# The clock accepts only moments every part of the server can represent (server.clock.FIRST … LAST).
@pytest.mark.parametrize("change", [
    {"set": "0001-01-01T00:00:00"},
    {"set": "9999-12-31T23:59:59.5", "frozen": False},
    {"set": "9999-12-31T23:59:59-14:00"},
    {"set": "1999-12-31T23:59:59+09:00"},
    {"set": "2100-01-01T00:00:00+09:00"},
    {"advance_seconds": 1e12},
    {"advance_seconds": -1e12},
    {"advance_seconds": 36500 * 86400},
    {"frozen": "yes"},
    {"advance_seconds": True},
], ids=["year-1", "year-9999-running", "year-9999-offset", "before-2000", "after-2099", "advance-1e12",
        "back-1e12", "advance-a-century", "frozen-not-bool", "advance-bool"])
def test_the_clock_refuses_moments_the_server_cannot_represent(live_server: LiveServer,
                                                               change: dict[str, Any]) -> None:
    with clock_at(live_server):
        body = a_problem(admin_request(live_server, "POST", "/clock", json=change))
        assert body["code"] in ("clock_out_of_range", "request_invalid")
        if "set" in change:
            assert "2000-01-01" in body["detail"] and "2099-12-31" in body["detail"], body
        else:
            assert next(iter(change)) in body["detail"], body
        assert admin(live_server, "GET", "/clock")["now"] == "2026-11-24T09:00:00+09:00"  # unchanged
        assert get(live_server, "/health").status_code == 200


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_advancing_by_a_non_number_is_refused(live_server: LiveServer, number: str) -> None:
    content = f'{{"advance_seconds": {number}}}'.encode()
    response = admin_request(live_server, "POST", "/clock", content=content,
                             headers={**live_server.admin_headers, "Content-Type": "application/json"})
    a_problem(response)
    assert get(live_server, "/health").status_code == 200


@pytest.mark.parametrize("change", [
    {"set": "2000-01-01T00:00:00+09:00", "frozen": True},
    {"set": "2099-12-31T23:59:59+09:00", "frozen": True},
    {"set": "2099-12-31T23:59:58+09:00", "frozen": False},
], ids=["first-moment", "last-moment", "running-past-the-end"])
def test_at_the_ends_of_the_range_everything_still_answers(live_server: LiveServer,
                                                           change: dict[str, Any]) -> None:
    try:
        admin(live_server, "POST", "/clock", json=change)
        if not change["frozen"]:
            time.sleep(2.5)  # a running clock stops at the last moment; it never leaves the range
        now = admin(live_server, "GET", "/clock")["now"]
        assert "2000-01-01T00:00:00+09:00" <= now <= "2099-12-31T23:59:59+09:00"
        assert get(live_server, "/health").status_code == 200
        assert get(live_server, "/jlis/crl.pem").status_code == 200
        assert number_check(live_server, "healthy-employee").status_code == 200
        assert admin(live_server, "POST", "/clock", json={"advance_seconds": 0})["now"] == now
    finally:
        admin(live_server, "POST", "/clock", json={"set": FIXTURE_MOMENT, "frozen": True})


@pytest.mark.parametrize(("body", "field"), [
    ({"issued_on": 0}, "issued_on"),
    ({"issued_on": "1970-01-01"}, "issued_on"),
    ({"issued_on": "2015-12-31"}, "issued_on"),
    ({"birthdate": "9999-12-31"}, "birthdate"),
    ({"birthdate": "1850-01-01"}, "birthdate"),
    ({"birthdate": "2026-11-25"}, "birthdate"),
    ({"copay_ratio": -5}, "copay_ratio"),
    ({"copay_ratio": 25}, "copay_ratio"),
    ({"variant": "gold"}, "variant"),
    ({"colour": "red"}, "colour"),
], ids=["issued-0", "issued-1970", "issued-before-cards", "born-9999", "born-1850", "born-after-issue",
        "copay-negative", "copay-25", "unknown-variant", "unknown-field"])
def test_a_bad_new_card_is_refused_naming_the_field(live_server: LiveServer, body: dict[str, Any],
                                                    field: str) -> None:
    card = {"name": "研修 太郎", "birthdate": "1990-04-01", "photo": "astronaut", **body}
    answer = a_problem(admin_request(live_server, "POST", "/cards", json=card))
    assert field in answer["detail"] and answer["title_ja"], answer


@pytest.mark.parametrize("event", [
    {"kind": "revoke", "card_of": "healthy-employee", "lag_days": 2.5e307},
    {"kind": "revoke", "card_of": "healthy-employee", "lag_days": 1e300},
    {"kind": "revoke", "card_of": "healthy-employee", "visible_at": "0001-01-01T00:00:00"},
    {"kind": "revoke", "card_of": "healthy-employee", "visible_at": "9999-12-31T23:59:59-12:00"},
    {"kind": "set_copay", "qualification_id": "q-sato-hanako", "copay_ratio": -5},
    {"kind": "lose_qualification", "qualification_id": "q-sato-hanako", "lost_on": "9999-12-31"},
    {"kind": "renew", "card_of": "healthy-employee", "renewed_on": "9999-12-31"},
    {"kind": "add_qualification", "person": "healthy-employee", "qualification": {"insurer": "06139012"}},
    {"kind": "add_qualification", "person": "healthy-employee",
     "qualification": {"insurer": "06139012", "number": "1", "acquired_on": "2020-01-01", "limit": "x"}},
    {"kind": "add_qualification", "person": "healthy-employee",
     "qualification": {"insurer": "06139012", "number": "1", "acquired_on": "9999-01-01"}},
], ids=["lag-2.5e307", "lag-1e300", "visible-year-1", "visible-year-9999", "copay-negative", "lost-9999",
        "renewed-9999", "qualification-without-dates", "qualification-limit-not-a-mapping",
        "qualification-acquired-9999"])
def test_an_event_out_of_range_is_refused(live_server: LiveServer, event: dict[str, Any]) -> None:
    answer = a_problem(admin_request(live_server, "POST", "/events", json=event))
    assert answer["code"] in ("request_invalid", "event_invalid") and answer["detail"], answer


@pytest.mark.parametrize("rule", [
    {"kind": "timeout", "hold_ms": True},
    {"kind": "latency", "latency_ms": "800"},
    {"kind": "error", "rate": float("nan")},
    {"kind": "outage", "start": "0001-01-01T00:00:00"},
    {"kind": "outage", "end": "9999-12-31T23:59:59-14:00"},
], ids=["hold-bool", "latency-string", "rate-nan", "start-year-1", "end-year-9999"])
def test_a_bad_fault_rule_is_refused(live_server: LiveServer, rule: dict[str, Any]) -> None:
    content = json.dumps(rule).encode()  # NaN as the JSON extension Python writes
    response = admin_request(live_server, "POST", "/faults/rules", content=content,
                             headers={**live_server.admin_headers, "Content-Type": "application/json"})
    problem(response, 400, "request_invalid")
    assert admin(live_server, "GET", "/faults")["rules"] == []


# --- hostile input: nesting, unencodable and control characters, digits, NUL ---------------------------


def json_post(server: LiveServer, path: str, content: bytes | str, **kwargs: Any) -> httpx.Response:
    data = content.encode("utf-8", errors="surrogatepass") if isinstance(content, str) else content
    headers = {**server.clinic_headers, "Content-Type": "application/json"}
    return post(server, path, content=data, headers=headers, **kwargs)


@pytest.mark.parametrize("path", ["/number-checks", "/bulk-checks"])
@pytest.mark.parametrize("document", [b"[" * 100_000, b'{"MessageHeader": ' + b"[" * 100_000,
                                      b'{"MessageHeader": ' + b"[" * 900 + b"]" * 900 + b"}"],
                         ids=["top-level", "in-a-field", "deep-but-closed"])
def test_deeply_nested_json(live_server: LiveServer, path: str, document: bytes) -> None:
    response = json_post(live_server, path, document)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("json_malformed", "schema_invalid")
    if document.startswith(b"[" * 1_000):
        assert "nested too deeply" in problem(response, 400, "json_malformed")["detail"]


SEARCH_INFO = "MessageBody/QualificationConfirmSearchInfo"


def with_field(server: LiveServer, path: str, value: str, *, bulk: bool = False) -> str:
    """A number (or bulk) check request as JSON text with one field (``Parent/Field``) set to ``value``."""
    message = json_request(server)
    if bulk:
        message["MessageBody"]["QualificationConfirmSearchInfo"] = [
            {**message["MessageBody"]["QualificationConfirmSearchInfo"], "ArbitraryIdentifier": "B-1"}]
    parent, name = path.rsplit("/", 1)
    target: Any = message
    for part in parent.split("/"):
        target = target[part]
    (target[0] if isinstance(target, list) else target)[name] = value
    return json.dumps(message, ensure_ascii=True)  # escapes as \uXXXX, a lone surrogate included


def access_count(server: LiveServer, person: str = "healthy-employee") -> int:
    """Clinic lookups of ``person`` on the access record (the tests' own admin reads of card material
    are recorded too, as action admin_read: not counted here)."""
    log = admin(server, "GET", "/access-log", params={"person_id": person, "limit": 5000})
    return len([entry for entry in log if entry["action"] != "admin_read"])


@pytest.mark.parametrize("field", [f"{SEARCH_INFO}/InsuredIdentificationNumber",
                                   f"{SEARCH_INFO}/InsurerNumber", f"{SEARCH_INFO}/Birthdate",
                                   "MessageHeader/ArbitraryFileIdentifier"])
def test_a_lone_surrogate_is_refused_naming_the_field(live_server: LiveServer, field: str) -> None:
    before = access_count(live_server)
    response = json_post(live_server, "/number-checks", with_field(live_server, field, "12\ud800"))
    assert response.status_code == 400, response.text
    body = response.json()
    assert field in body["detail"] and "U+D800" in body["detail"], body
    assert access_count(live_server) == before


CONTROL_FIELDS = [f"{SEARCH_INFO}/InsuredCardSymbol", f"{SEARCH_INFO}/InsuredIdentificationNumber",
                  "MessageHeader/ArbitraryFileIdentifier"]


@pytest.mark.parametrize("char", ["\u0000", "\u0001", "\u001f", "\u007f"], ids=["nul", "soh", "us", "del"])
@pytest.mark.parametrize("field", CONTROL_FIELDS)
def test_control_characters_are_refused_before_anything_is_written(live_server: LiveServer, field: str,
                                                                    char: str) -> None:
    before = access_count(live_server)
    value = {"InsuredCardSymbol": "5201", "InsuredIdentificationNumber": "1"}.get(field.split("/")[-1], "a")
    content = with_field(live_server, field, value + char + "1")
    for params in ({"format": "xml"}, None):  # XML answers used to fail after the access record was written
        response = json_post(live_server, "/number-checks", content, params=params)
        body = problem(response, 400, "character_invalid")
        assert field in body["detail"] and f"U+{ord(char):04X}" in body["detail"], body
    assert access_count(live_server) == before


def test_a_control_character_in_an_xml_request_is_refused(live_server: LiveServer) -> None:
    before = access_count(live_server)
    broken = xml_request(live_server).replace(b"<InsuredCardSymbol>5201", b"<InsuredCardSymbol>5201&#127;")
    detail = problem(post_xml(live_server, broken), 400, "character_invalid")["detail"]
    assert "InsuredCardSymbol" in detail and "U+007F" in detail
    assert access_count(live_server) == before


def test_a_control_character_in_a_bulk_identifier_is_refused(live_server: LiveServer) -> None:
    before = access_count(live_server)
    content = with_field(live_server, f"{SEARCH_INFO}/ArbitraryIdentifier", "B-\u0001", bulk=True)
    detail = problem(json_post(live_server, "/bulk-checks", content, params={"format": "xml"}), 400,
                     "character_invalid")["detail"]
    assert f"{SEARCH_INFO}[1]/ArbitraryIdentifier" in detail
    assert access_count(live_server) == before


def test_a_control_character_in_a_card_check_keeps_the_nonce_and_writes_nothing(
        live_server: LiveServer) -> None:
    before = access_count(live_server)
    body = fresh_submission(live_server)
    response = post(live_server, "/card-checks", json={**body, "arbitrary_file_identifier": "f\u0001"},
                    params={"format": "xml"})
    detail = problem(response, 400, "request_invalid")["detail"]
    assert "arbitrary_file_identifier" in detail and "U+0001" in detail
    assert access_count(live_server) == before
    assert outcome(body_of(submit(live_server, body))) == "1"  # the nonce was not used up


@pytest.mark.parametrize("value", ["R-\u0000", "R-\u0007", "R-\ud800"], ids=["nul", "bel", "surrogate"])
def test_a_reader_id_or_nonce_with_control_characters_is_refused(live_server: LiveServer, value: str) -> None:
    content = json.dumps({"reader_id": value})
    response = json_post(live_server, "/card-checks/challenge", content)
    assert "reader_id" in problem(response, 400, "request_invalid")["detail"]
    body = fresh_submission(live_server)
    for field in ("reader_id", "nonce"):
        content = json.dumps({**body, field: body[field] + value})
        detail = problem(json_post(live_server, "/card-checks", content), 400, "request_invalid")["detail"]
        assert field in detail
    assert outcome(body_of(submit(live_server, body))) == "1"


def test_nul_in_paths_and_queries_is_refused(live_server: LiveServer) -> None:
    check_id = card_check(live_server, "healthy-employee", consents=ALL_CONSENTS).json()["check_id"]
    problem(get(live_server, f"/medical-info/{check_id}%00/medication"), 400, "request_invalid")
    problem(admin_request(live_server, "GET", "/access-log", params={"person_id": "a\u0000"}), 400,
            "request_invalid")
    problem(admin_request(live_server, "GET", "/cards/healthy-employee%00"), 400, "request_invalid")
    problem(admin_request(live_server, "POST", "/readers",
                          json={"clinic_code": live_server.clinic_code, "reader_id": "R-\u0000"}),
            400, "request_invalid")
    problem(admin_request(live_server, "POST", "/cards", json={"name": "a\u0000", "birthdate": "1990-01-01"}),
            400, "request_invalid")


@pytest.mark.parametrize("field", [f"{SEARCH_INFO}/Birthdate", f"{SEARCH_INFO}/InsurerNumber",
                                   "MessageHeader/QualificationConfirmationDate"])
def test_full_width_digits_are_refused_asking_for_half_width(live_server: LiveServer, field: str) -> None:
    message = json_request(live_server)
    parent, name = field.rsplit("/", 1)
    target: Any = message
    for part in parent.split("/"):
        target = target[part]
    full_width = target[name].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    target[name] = full_width
    detail = problem(post(live_server, "/number-checks", json=message), 400, "schema_invalid")["detail"]
    assert field in detail and "半角数字" in detail and "half-width digits" in detail
    assert "存在しない日付" not in detail


def test_full_width_digits_in_an_xml_request_are_refused(live_server: LiveServer) -> None:
    request = xml_request(live_server).replace(b"<Birthdate>19850512", "<Birthdate>１９８５０５１２".encode())
    detail = problem(post_xml(live_server, request), 400, "schema_invalid")["detail"]
    assert "Birthdate" in detail and "半角数字" in detail


@pytest.mark.parametrize("token", ["Bearer t\u00e9st", "Bearer \u00ff\u00fe"], ids=["accent", "latin1"])
def test_a_non_ascii_admin_or_clinic_token_is_refused(live_server: LiveServer, token: str) -> None:
    raw = token.encode("latin-1")  # sent as is; the server reads header bytes as Latin-1
    headers: Any = {"Authorization": raw}
    problem(client(live_server).get("/admin/personas", headers=headers), 401, "admin_unauthorized")
    headers = {"X-Medical-Institution-Code": live_server.clinic_code, "Authorization": raw}
    response = client(live_server).post("/card-checks/challenge", json={"reader_id": "R-x"}, headers=headers)
    problem(response, 401, "unauthorized")


def test_a_clinic_code_of_other_digits_is_refused(live_server: LiveServer) -> None:
    superscripts = ("\u00b9\u00b2\u00b3" + "1" * 7).encode("latin-1")  # str.isdigit() says yes
    headers: Any = {"X-Medical-Institution-Code": superscripts,
                    "Authorization": f"Bearer {live_server.clinic_token}"}
    response = client(live_server).post("/card-checks/challenge", json={"reader_id": "R-x"}, headers=headers)
    assert "10 digits" in problem(response, 401, "unauthorized")["detail"]


def test_nul_in_admin_events_fixtures_and_limits_is_refused(live_server: LiveServer) -> None:
    response = admin_request(live_server, "POST", "/events",
                             json={"kind": "set_no_provide", "person": "healthy-employee\u0000"})
    assert "U+0000" in problem(response, 400, "event_invalid")["detail"]
    problem(admin_request(live_server, "POST", "/fixtures/load", json={"name": "personas\u0000"}), 400,
            "fixture_invalid")
    yaml_text = b'personas: [{id: "a\\0b"}]'  # a YAML escape for NUL
    response = admin_request(live_server, "POST", "/fixtures/load", content=yaml_text,
                             headers={**live_server.admin_headers, "Content-Type": "application/yaml"})
    assert "U+0000" in problem(response, 400, "fixture_invalid")["detail"]
    assert admin(live_server, "GET", "/access-log", params={"limit": -1}) == []
