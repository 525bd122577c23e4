"""Small clients for the end-to-end server tests: card checks, number checks, bulk checks, the clock.

Everything goes over real HTTP (httpx) to a real `onshi serve` process (`tests.conftest.LiveServer`).
A card check is what the face-auth reader does: ask for a challenge, prove the card (the card key
signs the nonce after the PIN, or the reader's device key attests a face/visual check), submit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier
from onshi.messages import (
    BulkCheckRequestMessage,
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
    RequestHeader,
)
from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http
from server.jlis import (
    USER_CERTIFICATE_CN,
    CertificateAuthority,
    attestation_payload,
    attested_method,
    nonce_bytes,
    present_certificate,
    private_key_from_pem,
    required_proofs,
    sign_attestation,
    sign_nonce,
)
from tests.conftest import LiveServer

API = "/api/v1"
FIXTURE_MOMENT = "2026-11-24T09:00:00+09:00"
ENCODINGS = {"utf-8": CharacterCodeIdentifier.UTF8, "shift_jis": CharacterCodeIdentifier.SHIFT_JIS}
NO_CONSENT: dict[str, Any] = {}
ALL_CONSENTS: dict[str, Any] = {"medication": True, "clinical": True, "operation": True, "checkup": True,
                                "limit_bracket": True, "prescription": "1"}


# --- readers and cards ------------------------------------------------------------------------


def certificate_with_unreadable_policies(ca: CertificateAuthority,
                                         key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Signed by ``ca``, well-formed DER, but its certificate-policies extension (the one that tells a
    phone from a card) holds bytes no X.509 reader can parse."""
    now = datetime.now().astimezone()
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, USER_CERTIFICATE_CN)]))
            .issuer_name(ca.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now.replace(year=now.year + 1))
            .add_extension(x509.UnrecognizedExtension(x509.ExtensionOID.CERTIFICATE_POLICIES, b"\x04\x03not"),
                           critical=False)
            .sign(ca.private_key, hashes.SHA256()))


@dataclass(frozen=True)
class Reader:
    reader_id: str
    clinic_code: str
    device_key: ec.EllipticCurvePrivateKey


_READERS: dict[tuple[str, str], Reader] = {}
_CLIENTS: dict[str, httpx.Client] = {}


def client(server: LiveServer) -> httpx.Client:
    """One kept-alive client per server (a new httpx client per request costs ~50 ms of TLS setup)."""
    if server.url not in _CLIENTS:
        _CLIENTS[server.url] = httpx.Client(base_url=f"{server.url}{API}", timeout=60)
    return _CLIENTS[server.url]


def admin(server: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    """An admin request that must succeed; its JSON."""
    response = admin_request(server, method, path, **kwargs)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def reader_for(server: LiveServer, clinic_code: str | None = None) -> Reader:
    """One registered reader per server and clinic (fixture loads keep readers; key generation is slow)."""
    code = clinic_code or server.clinic_code
    key = (server.url, code)
    if key not in _READERS:
        registration = admin(server, "POST", "/readers", json={"clinic_code": code})
        device_key = private_key_from_pem(registration["device_key_pem"])
        assert isinstance(device_key, ec.EllipticCurvePrivateKey)
        _READERS[key] = Reader(registration["reader_id"], code, device_key)
    return _READERS[key]


@cache
def _card_key(pem: str) -> rsa.RSAPrivateKey:
    # The server issued this key: skip the (70 ms) RSA consistency check of a key from outside.
    key = serialization.load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@dataclass(frozen=True)
class Card:
    """The virtual card of a persona: its certificate and the chip's private key."""

    person_id: str
    certificate_pem: str
    private_key_pem: str
    variant: str
    serial: str
    certificate_not_after: str
    platform: str | None = None  # a phone (``phone_of``): android | iphone

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return _card_key(self.private_key_pem)

    @property
    def certificate_der(self) -> bytes:
        return present_certificate(self.certificate_pem).der


def card_of(server: LiveServer, persona: str) -> Card:
    """Fetched each time: a fixture load issues new cards."""
    material = admin(server, "GET", f"/cards/{persona}")
    return Card(persona, material["certificate_pem"], material["private_key_pem"], material["variant"],
                material["serial"], material["certificate_not_after"])


def phone_of(server: LiveServer, phone_id: str) -> Card:
    """A persona's virtual phone (``<person>.<platform>``): its own certificate and key."""
    material = admin(server, "GET", f"/phones/{phone_id}")
    return Card(material["person"]["id"], material["certificate_pem"], material["private_key_pem"],
                "smartphone", material["serial"], material["certificate_not_after"], material["platform"])


def default_method(card: Card) -> str:
    """What the holder would use: an iPhone its biometrics, an Android or a standard card the PIN."""
    if card.platform is not None:
        return "biometric" if card.platform == "iphone" else "pin"
    return {"face_only": "face", "infant": "visual"}.get(card.variant, "pin")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- raw requests -----------------------------------------------------------------------------


def post(server: LiveServer, path: str, *, headers: Mapping[str, str] | None = None,
         params: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    """A clinic request (the clinic's credentials unless ``headers`` replaces them)."""
    sent = dict(server.clinic_headers if headers is None else headers)
    return client(server).post(path, headers=sent, params=params, **kwargs)


def get(server: LiveServer, path: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
    sent = dict(server.clinic_headers if headers is None else headers)
    return client(server).get(path, headers=sent)


def admin_request(server: LiveServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """An admin request without raise_for_status (for testing rejections)."""
    return client(server).request(method, f"/admin{path}", **{"headers": server.admin_headers, **kwargs})


def challenge(server: LiveServer, reader: Reader | None = None) -> str:
    reader = reader or reader_for(server)
    response = post(server, "/card-checks/challenge", json={"reader_id": reader.reader_id},
                    headers=clinic_headers(server, reader.clinic_code))
    assert response.status_code == 200, response.text
    return str(response.json()["nonce"])


def clinic_headers(server: LiveServer, clinic_code: str) -> dict[str, str]:
    if clinic_code == server.clinic_code:
        return server.clinic_headers
    token = OTHER_CLINICS[clinic_code]
    return {"X-Medical-Institution-Code": clinic_code, "Authorization": f"Bearer {token}"}


# The fixture's second clinic (a pharmacy), for "another clinic's" checks.
PHARMACY_CODE = "1342000017"
OTHER_CLINICS = {PHARMACY_CODE: "demo-pharmacy-token"}


def submission(card: Card, reader: Reader, nonce: str, *, method: str | None = None,
               consents: Mapping[str, Any] | None = None, encoding: str = "utf-8",
               file_identifier: str | None = None) -> dict[str, Any]:
    """What the reader sends to POST /card-checks, with a genuine proof for ``method``. A phone
    (``phone_of``) signs the nonce with its own key and the reader attests ``smartphone:<method>``."""
    phone = card.platform is not None
    method = method or default_method(card)
    body: dict[str, Any] = {
        "reader_id": reader.reader_id,
        "nonce": nonce,
        "certificate_pem": card.certificate_pem,
        "method": method,
        "consents": dict(consents or {}),
        "encoding": encoding,
    }
    if phone:
        body["medium"] = "smartphone"
    if file_identifier:
        body["arbitrary_file_identifier"] = file_identifier
    signature, attestation = required_proofs(method, phone)
    if signature:
        body["card_signature"] = b64(sign_nonce(card.key, nonce_bytes(nonce)))
    if attestation:
        attested = attested_method(method, phone)
        payload = attestation_payload(nonce_bytes(nonce), card.certificate_der, attested, reader.reader_id)
        body["reader_attestation"] = b64(sign_attestation(reader.device_key, payload))
    return body


def submit(server: LiveServer, body: Mapping[str, Any], *, xml: bool = False,
           clinic_code: str | None = None) -> httpx.Response:
    headers = clinic_headers(server, clinic_code or server.clinic_code)
    return post(server, "/card-checks", json=dict(body), headers=headers,
                params={"format": "xml"} if xml else None)


# --- the checks -------------------------------------------------------------------------------


def card_check(server: LiveServer, persona: str, *, method: str | None = None,
               consents: Mapping[str, Any] | None = None, xml: bool = False, encoding: str = "utf-8",
               clinic_code: str | None = None) -> httpx.Response:
    """A whole card check at the reader for ``persona``'s card (PIN, face or visual by card variant)."""
    reader = reader_for(server, clinic_code)
    card = card_of(server, persona)
    body = submission(card, reader, challenge(server, reader), method=method, consents=consents,
                      encoding=encoding)
    return submit(server, body, xml=xml, clinic_code=reader.clinic_code)


def today(server: LiveServer) -> date:
    return datetime.fromisoformat(admin(server, "GET", "/clock")["now"]).date()


def search_info(server: LiveServer, persona_or_numbers: str | Mapping[str, Any], *,
                identifier: str | None = None) -> QualificationConfirmSearchInfo:
    """A persona's numbers (from /admin/personas) or explicit ones, as QualificationConfirmSearchInfo."""
    if isinstance(persona_or_numbers, str):
        numbers: Mapping[str, Any] = server.personas[persona_or_numbers]["numbers"]
    else:
        numbers = persona_or_numbers
    return QualificationConfirmSearchInfo(
        InsurerNumber=str(numbers["insurer"]),
        InsuredCardSymbol=numbers.get("symbol") or None,
        InsuredIdentificationNumber=str(numbers["number"]),
        InsuredBranchNumber=numbers.get("branch") or None,
        Birthdate=date.fromisoformat(str(numbers["birthdate"])).strftime("%Y%m%d"),
        ArbitraryIdentifier=identifier,
    )


def request_header(server: LiveServer, encoding: str = "utf-8", *, day: date | None = None,
                   reference: str | None = "2", file_identifier: str | None = None) -> RequestHeader:
    return RequestHeader.model_validate({
        "QualificationConfirmationDate": (day or today(server)).strftime("%Y%m%d"),
        "MedicalInstitutionCode": server.clinic_code,
        "ArbitraryFileIdentifier": file_identifier,
        "ReferenceClassification": reference,
        "CharacterCodeIdentifier": ENCODINGS[encoding].value,
    })


def number_check_message(server: LiveServer, persona_or_numbers: str | Mapping[str, Any], *,
                         encoding: str = "utf-8", day: date | None = None,
                         file_identifier: str | None = None) -> NumberCheckRequestMessage:
    return NumberCheckRequestMessage.model_validate({
        "MessageHeader": request_header(server, encoding, day=day, file_identifier=file_identifier),
        "MessageBody": {"QualificationConfirmSearchInfo": search_info(server, persona_or_numbers)},
    })


def send_message(server: LiveServer, path: str, message: NumberCheckRequestMessage | BulkCheckRequestMessage,
                 *, xml: bool, encoding: str = "utf-8") -> httpx.Response:
    """JSON, or XML in the message's encoding (the answer comes back in the same format and encoding)."""
    if xml:
        return post(server, path, content=xmlcodec.encode(message, ENCODINGS[encoding]),
                    headers={**server.clinic_headers, "Content-Type": "application/xml"})
    return post(server, path, content=json.dumps(message.model_dump(mode="json", exclude_none=True)),
                headers={**server.clinic_headers, "Content-Type": "application/json"})


def number_check(server: LiveServer, persona_or_numbers: str | Mapping[str, Any], *, xml: bool = False,
                 encoding: str = "utf-8", day: date | None = None) -> httpx.Response:
    """A number check (OQSsiquc01req) for a persona's numbers or explicit ``{insurer, symbol, number,
    branch, birthdate}``; XML requests are encoded in ``encoding`` and declare it."""
    message = number_check_message(server, persona_or_numbers, encoding=encoding, day=day)
    return send_message(server, "/number-checks", message, xml=xml, encoding=encoding)


def bulk_check_message(server: LiveServer, queries: Mapping[str, str | Mapping[str, Any]], *,
                       encoding: str = "utf-8", day: date | None = None,
                       file_identifier: str | None = None) -> BulkCheckRequestMessage:
    """OQSmuquc01req: ``queries`` maps each ArbitraryIdentifier to a persona or numbers."""
    return BulkCheckRequestMessage.model_validate({
        "MessageHeader": request_header(server, encoding, day=day, reference=None,
                                        file_identifier=file_identifier),
        "MessageBody": {"QualificationConfirmSearchInfo": [
            search_info(server, target, identifier=identifier) for identifier, target in queries.items()
        ]},
    })


# --- the simulated clock, faults, the access record ----------------------------------------------


def set_clock(server: LiveServer, moment: str) -> None:
    admin(server, "POST", "/clock", json={"set": moment})


@contextmanager
def clock_at(server: LiveServer, moment: str | None = None) -> Iterator[None]:
    """Moves the simulated clock (to ``moment``, if given) for a block; back to the fixture moment after.

    Checks do not change the registry, so putting the clock back restores the fixture state
    (much cheaper than `fresh_server`, which re-issues every card).
    """
    if moment is not None:
        set_clock(server, moment)
    try:
        yield
    finally:
        set_clock(server, FIXTURE_MOMENT)


def advance_clock(server: LiveServer, seconds: float) -> None:
    admin(server, "POST", "/clock", json={"advance_seconds": seconds})


@contextmanager
def outage(server: LiveServer) -> Iterator[None]:
    """The central system is down (F13) for a block."""
    admin(server, "POST", "/faults", json={"outage": True})
    try:
        yield
    finally:
        admin(server, "POST", "/faults", json={"outage": False})


def access_log(server: LiveServer, person_id: str, limit: int = 5000) -> list[dict[str, Any]]:
    """The person's access record, newest first (all of it: tests count records, and a persona shared
    by the tests of one server soon has more than a page)."""
    return list(admin(server, "GET", "/access-log", params={"person_id": person_id, "limit": limit}))


# --- reading answers ----------------------------------------------------------------------------


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The ResultMessage of a JSON answer (card-check answers wrap it in "result")."""
    assert response.status_code == 200, response.text
    data = response.json()
    return dict(data.get("result", data))


def outcome(message: Mapping[str, Any]) -> str:
    """What `expect` in personas.yaml names: the QualificationValidity, or the error code."""
    body = message["MessageBody"]
    if body["ProcessingResultStatus"] == "2":
        return str(body["ProcessingResultCode"])
    return str(body["QualificationValidity"])


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Asserts a problem+json answer with this status and code; returns it."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    data = response.json()
    assert data["code"] == code, data
    assert data["status"] == status and data["title"] and data["title_ja"], data
    return dict(data)


def first_result(message: Mapping[str, Any]) -> dict[str, Any]:
    """The first ResultOfQualificationConfirmation of a ResultMessage (JSON)."""
    return dict(message["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"][0])


def notes_of(response: httpx.Response) -> list[str]:
    """The codes of every note (W…/E…) of a JSON answer (the XML carries only the first)."""
    return [note["code"] for note in response.json()["notes"]]


def withheld_of(response: httpx.Response) -> list[str]:
    return [reason["code"] for reason in response.json()["withheld"]]


@contextmanager
def reader_process(server: LiveServer, home: Path, *extra: str) -> Iterator[str]:
    """A real `onshi reader` process for ``server`` (its clinic, its admin token), keeping its cards and
    result files under ``home``; yields the reader's URL. ``extra``: more `onshi reader` options."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = ROOT / "var" / "test-logs" / f"reader-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = start_onshi(
        ["reader", "--port", str(port), "--server", server.url, "--admin-token", server.admin_token,
         "--clinic-code", server.clinic_code, "--clinic-token", server.clinic_token,
         "--cards-dir", str(home / "cards"), "--results-dir", str(home / "results"), *extra],
        log=log,
    )
    try:
        wait_http(f"{url}/api/reader/state", timeout=180, process=process)
        yield url
    finally:
        stop(process)


@dataclass(frozen=True)
class Counter:
    """A reader emulator and a reception console talking to each other and to one server."""

    reader: str  # URLs
    console: str
    reader_pid: int
    charts: dict[str, str]  # persona -> カルテ番号 of the demo patients


@contextmanager
def counter_processes(server: LiveServer, home: Path, name: str, *,
                      console_extra: tuple[str, ...] = ()) -> Iterator[Counter]:
    """Real `onshi reader` and `onshi console` processes wired to each other (the demo's pair), with
    the demo patients; cards, result files and the patient file under ``home``; logs named ``name``."""
    from clinic_client.console.demo import demo_patients
    from clinic_client.records import PatientFile

    ports = {part: free_port() for part in ("reader", "console")}
    url = {part: f"http://127.0.0.1:{port}" for part, port in ports.items()}
    logs = ROOT / "var" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    patients = home / "patients.json"
    patients.write_text(PatientFile(patients=demo_patients()).model_dump_json(), encoding="utf-8")
    reader = start_onshi(
        ["reader", "--port", str(ports["reader"]), "--server", server.url,
         "--admin-token", server.admin_token, "--clinic-code", server.clinic_code,
         "--clinic-token", server.clinic_token, "--cards-dir", str(home / "cards"),
         "--results-dir", str(home / "results"), "--console-url", url["console"]],
        log=logs / f"{name}-reader-{ports['reader']}.log")
    console = start_onshi(
        ["console", "--port", str(ports["console"]), "--server", server.url, "--reader-url", url["reader"],
         "--clinic-code", server.clinic_code, "--clinic-token", server.clinic_token,
         "--patients", str(patients), *console_extra],
        log=logs / f"{name}-console-{ports['console']}.log")
    try:
        wait_http(f"{url['reader']}/api/reader/state", timeout=180, process=reader)
        wait_http(f"{url['console']}/", timeout=60, process=console)
        charts = {p.persona or "": p.id for p in demo_patients()}
        yield Counter(url["reader"], url["console"], reader.pid, charts)
    finally:
        stop(console)
        stop(reader)
