"""The client library against a real server process, for every failure mode it can see."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509

from clinic_client.client import AsyncOnshiClient, ClientSettings, OnshiClient, search_info
from clinic_client.console.demo import demo_patients
from clinic_client.errors import (
    BadRequest,
    ConnectionFailed,
    Forbidden,
    NotFound,
    ServerUnavailable,
    Unauthorized,
)
from clinic_client.explain import explain
from clinic_client.outcome import CheckOutcome, copay_percent
from clinic_client.records import PatientRecord
from clinic_client.testing import ALL_CONSENTS, pin_card_check
from clinic_client.wronglink import check_identity
from onshi.codes import (
    MedicalInfoKind,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    ReasonOfLoss,
    WithheldReason,
)
from tests.server_helpers import FIXTURE_MOMENT

PATIENTS = {p.persona or p.id: p for p in demo_patients()}  # by persona (ids are カルテ番号)


def settings_for(server: Any, **changes: Any) -> ClientSettings:
    return ClientSettings(
        server.url,
        clinic_code=server.clinic_code,
        clinic_token=server.clinic_token,
        admin_token=server.admin_token,
        retries=0,
        timeout=20,
    ).with_(**changes)


@pytest.fixture
def client(live_server: Any) -> Iterator[OnshiClient]:
    with OnshiClient(settings_for(live_server)) as c:
        yield c


@pytest.fixture
def reader_id(client: OnshiClient) -> str:
    return str(client.register_reader()["reader_id"])


def by_number(client: OnshiClient, persona: str) -> CheckOutcome:
    patient: PatientRecord = PATIENTS[persona]
    doc = patient.documents[0]
    return client.number_check(
        doc.insurer_number,
        doc.number,
        patient.birthdate,
        symbol=doc.symbol,
        branch=doc.branch,
        limit_consent=True,
    )


def test_healthy_number_check(client: OnshiClient) -> None:
    outcome = by_number(client, "healthy-employee")
    assert outcome.valid and outcome.validity is QualificationValidity.VALID
    r = outcome.primary
    assert r is not None and r.Name == "佐藤　花子" and r.InsurerNumber == "06139012"
    assert copay_percent(r) == 30
    assert outcome.is_withheld_by(WithheldReason.NUMBER_CHECK)  # never medical info by number
    assert outcome.medical_info == frozenset()
    assert check_identity(PATIENTS["healthy-employee"].identity, r) is None


def test_healthy_card_check_with_consent_releases_medication(client: OnshiClient, reader_id: str) -> None:
    raw, outcome = pin_card_check(client, "healthy-employee", reader_id)
    assert outcome.valid and outcome.check_id == raw["check_id"]
    assert MedicalInfoKind.MEDICATION in outcome.medical_info
    records = client.medical_info(outcome.check_id or "", MedicalInfoKind.MEDICATION)
    assert any("アムロジピン" in str(r) for r in records["records"])
    limit = outcome.primary.LimitApplicationCertificateRelatedInfo if outcome.primary else None
    assert limit is not None and limit.LimitApplicationCertificateClassificationFlag is not None


def test_f1_input_lag(client: OnshiClient, reader_id: str) -> None:
    assert by_number(client, "f1-input-lag").validity is QualificationValidity.NO_MATCH
    _, card = pin_card_check(client, "f1-input-lag", reader_id)
    assert card.validity is QualificationValidity.INVALID
    assert "F1" in explain(card).ids and explain(card).declaration


def test_f2_wrong_link_is_flagged_against_the_record(client: OnshiClient, reader_id: str) -> None:
    _, outcome = pin_card_check(client, "f2-wrong-link", reader_id)
    assert outcome.valid  # the system cannot tell …
    assert outcome.primary is not None
    flag = check_identity(PATIENTS["f2-wrong-link"].identity, outcome.primary)
    assert flag is not None and "birthdate" in flag.fields  # … the counter can
    assert explain(outcome, wrong_link=flag).ids[0] == "F2"


@pytest.mark.parametrize(
    ("persona", "code", "failure"),
    [
        ("f3-certificate-expiring", ProcessingResultCode.CERTIFICATE_EXPIRING, "F3"),
        ("f3-certificate-in-grace", ProcessingResultCode.CERTIFICATE_IN_GRACE, "F3"),
        ("f4-no-provide", ProcessingResultCode.INFORMATION_NOT_PROVIDED, "F4"),
        ("f5-name-characters", ProcessingResultCode.NAME_CHARACTERS_REPLACED, "F5"),
        ("f12-renewal-link-missing", ProcessingResultCode.RENEWAL_LINK_PENDING, "F12"),
    ],
)
def test_card_side_notes(
    client: OnshiClient, reader_id: str, persona: str, code: ProcessingResultCode, failure: str
) -> None:
    _, outcome = pin_card_check(client, persona, reader_id)
    assert outcome.has_note(code)
    assert failure in explain(outcome).ids


def test_f4_no_provide_withholds_everything_even_with_consent(client: OnshiClient, reader_id: str) -> None:
    _, outcome = pin_card_check(client, "f4-no-provide", reader_id, consents=ALL_CONSENTS)
    assert outcome.valid
    assert outcome.is_withheld_by(WithheldReason.NO_PROVIDE_FLAG)
    assert outcome.medical_info == frozenset()
    with pytest.raises(Forbidden) as refused:
        client.medical_info(outcome.check_id or "", MedicalInfoKind.MEDICATION)
    assert refused.value.code == "information_not_provided" and refused.value.title_ja


def test_f5_name_with_replacement_still_matches_the_record(client: OnshiClient, reader_id: str) -> None:
    _, outcome = pin_card_check(client, "f5-name-characters", reader_id)
    assert outcome.primary is not None and "●" in (outcome.primary.Name or "")
    assert check_identity(PATIENTS["f5-name-characters"].identity, outcome.primary) is None


@pytest.mark.parametrize(
    ("persona", "code", "failure"),
    [
        ("f3-certificate-expired", ProcessingResultCode.CERTIFICATE_EXPIRED, "F3"),
        ("f9-not-registered", ProcessingResultCode.NOT_REGISTERED, "F9"),
        ("f9-registration-cancelled", ProcessingResultCode.NOT_REGISTERED, "F9"),
        ("f15-revoked", ProcessingResultCode.CERTIFICATE_REVOKED, "F15"),
    ],
)
def test_card_errors(
    client: OnshiClient, reader_id: str, persona: str, code: ProcessingResultCode, failure: str
) -> None:
    _, outcome = pin_card_check(client, persona, reader_id)
    assert outcome.status is ProcessingResultStatus.ERROR
    assert outcome.result_code is code
    assert not outcome.valid
    expl = explain(outcome)
    assert failure in expl.ids and expl.declaration


def test_f10_lost_and_new_qualification(client: OnshiClient, reader_id: str) -> None:
    _, lost = pin_card_check(client, "f10-qualification-lost", reader_id)
    assert lost.validity is QualificationValidity.INVALID
    assert lost.primary is not None and isinstance(lost.primary.ReasonOfLoss, ReasonOfLoss)
    assert "F10" in explain(lost).ids
    newer = by_number(client, "f10-new-qualification")
    assert newer.validity is QualificationValidity.INVALID_NEW_QUALIFICATION
    assert explain(newer).ids == ("F10",)


def test_f11_wrong_copay_against_the_patients_documents(client: OnshiClient, reader_id: str) -> None:
    _, outcome = pin_card_check(client, "f11-wrong-copay", reader_id)
    on_file = PATIENTS["f11-wrong-copay"].copay_percent
    r = outcome.primary
    assert r is not None and outcome.valid
    assert int(r.InsuredPartialContributionRatio or 0) != on_file
    assert "F11" in explain(outcome, copay_differs=True).ids


def test_f14_multiple_matches(client: OnshiClient) -> None:
    outcome = by_number(client, "f14-twin-a")
    assert outcome.validity is QualificationValidity.MULTIPLE_MATCHES
    assert outcome.results == ()  # nobody's data
    assert explain(outcome).ids == ("F14",)


def _with_header(message: Any, **changes: Any) -> Any:
    return message.model_copy(update={"MessageHeader": message.MessageHeader.model_copy(update=changes)})


def test_another_clinics_code_in_the_message_is_forbidden(client: OnshiClient) -> None:
    message = client.api.number_check_message(search_info("06139012", "1024", "19850512", symbol="5201"))
    with pytest.raises(Forbidden) as refused:
        client.send_number_check(_with_header(message, MedicalInstitutionCode="9999999999"))
    assert refused.value.status == 403 and refused.value.code == "institution_mismatch"
    assert "9999999999" in refused.value.detail and refused.value.title_ja


def test_bad_request_carries_the_servers_problem(client: OnshiClient) -> None:
    message = client.api.number_check_message(search_info("06139012", "1024", "19850512", symbol="5201"))
    with pytest.raises(BadRequest) as refused:
        client.send_number_check(_with_header(message, QualificationConfirmationDate="20261399"))
    assert refused.value.status == 400 and refused.value.code == "schema_invalid"
    assert "20261399" in refused.value.detail and refused.value.title_ja
    assert refused.value.problem["code"] == "schema_invalid"


def test_wrong_token_is_unauthorized(live_server: Any) -> None:
    with (
        OnshiClient(settings_for(live_server, clinic_token="wrong")) as c,
        pytest.raises(Unauthorized) as exc,
    ):
        by_number(c, "healthy-employee")
    assert exc.value.status == 401 and exc.value.title_ja


def test_malformed_xml_is_a_bad_request_with_detail(client: OnshiClient) -> None:
    with pytest.raises(BadRequest) as refused:
        client.post_xml("number", b"<XmlMsg><MessageHeader>")
    assert refused.value.code == "xml_malformed"
    assert refused.value.detail


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, counting the requests that actually go out."""

    def __init__(self) -> None:
        self.real = httpx.HTTPTransport()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return self.real.handle_request(request)

    def close(self) -> None:
        self.real.close()


def test_f13_outage_is_server_unavailable_and_retried(fresh_server: Any) -> None:
    fresh_server.admin("POST", "/faults", json={"outage": True})
    transport = CountingTransport()
    with OnshiClient(settings_for(fresh_server, retries=2, backoff=0.01), transport=transport) as c:
        with pytest.raises(ServerUnavailable) as down:
            by_number(c, "healthy-employee")
        assert down.value.status == 503 and down.value.title_ja
        expl = explain(None, error=down.value)
        assert expl.ids == ("F13",) and expl.declaration
    assert transport.sent == ["POST /api/v1/number-checks"] * 3  # the first attempt and 2 retries


def test_card_check_submission_is_never_repeated(fresh_server: Any) -> None:
    transport = CountingTransport()
    with OnshiClient(settings_for(fresh_server, retries=3, backoff=0.01), transport=transport) as c:
        reader_id = c.register_reader()["reader_id"]
        card = c.card("healthy-employee")
        nonce = c.challenge(reader_id).nonce
        c.set_faults(outage=True)
        payload = {
            "reader_id": reader_id,
            "nonce": nonce,
            "certificate_pem": card["certificate_pem"],
            "method": "pin",
            "card_signature": "AA==",
            "consents": {},
        }
        with pytest.raises(ServerUnavailable):
            c.card_check(payload)
    assert transport.sent.count("POST /api/v1/card-checks") == 1  # the nonce is spent: no retry


def test_timeout_is_server_unavailable(fresh_server: Any) -> None:
    fresh_server.admin("POST", "/faults", json={"latency_ms": 1500})
    with (
        OnshiClient(settings_for(fresh_server, timeout=0.5, retries=0)) as c,
        pytest.raises(ServerUnavailable),
    ):
        by_number(c, "healthy-employee")


def test_unreachable_server_is_connection_failed() -> None:
    from onshi.procs import free_port

    with (
        OnshiClient(
            ClientSettings(f"http://127.0.0.1:{free_port()}", "1312345678", "t", retries=1, backoff=0.01)
        ) as c,
        pytest.raises(ConnectionFailed),
    ):
        c.number_check("06139012", "1024", "19850512")


def test_bulk_check_summary(client: OnshiClient) -> None:
    personas = ["healthy-employee", "f1-input-lag", "f14-twin-a", "eligibility-certificate-holder"]
    queries = []
    for pid in personas:
        p = PATIENTS[pid]
        d = p.documents[0]
        queries.append(
            search_info(
                d.insurer_number,
                d.number,
                p.birthdate,
                symbol=d.symbol,
                branch=d.branch,
                arbitrary_identifier=pid,
            )
        )
    result = client.bulk_check(queries)
    outcomes = {
        o.extra["ArbitraryIdentifier"]: o
        for o in map(CheckOutcome.from_bulk_unit, result.MessageBody.BulkConfirmUnit)
    }
    assert outcomes["healthy-employee"].valid and outcomes["eligibility-certificate-holder"].valid
    assert outcomes["f1-input-lag"].validity is QualificationValidity.NO_MATCH
    assert outcomes["f14-twin-a"].validity is QualificationValidity.MULTIPLE_MATCHES
    assert result.MessageHeader.NumberOfProcessingResult == 4


async def test_async_client(fresh_server: Any) -> None:
    async with AsyncOnshiClient(settings_for(fresh_server)) as c:
        p = PATIENTS["healthy-national"]
        d = p.documents[0]
        outcome = await c.number_check(
            d.insurer_number, d.number, p.birthdate, symbol=d.symbol, branch=d.branch
        )
        assert outcome.valid and outcome.primary is not None
        assert outcome.primary.Name == p.name.replace(" ", "\u3000")  # the real answers' full-width space
        clock = await c.get_clock()
        assert clock == {"now": FIXTURE_MOMENT, "frozen": True}
        added = await c.add_fault_rule(
            {"id": "slow-reader", "kind": "latency", "channel": "reader", "latency_ms": 50}
        )
        assert added["rule"]["id"] == "slow-reader" and added["active"] == ["slow-reader"]
        assert (await c.health())["faults"]["rules"][0]["kind"] == "latency"
        assert (await c.clear_faults())["rules"] == []


# --- the APIs beside the checks ----------------------------------------------------------------


def test_health_shows_the_simulated_clock_and_faults(client: OnshiClient) -> None:
    health = client.health()
    assert health["status"] == "ok"
    assert health["now"] == client.get_clock()["now"] == FIXTURE_MOMENT and health["frozen"] is True
    assert health["faults"] == {"outage": False, "latency_ms": 0, "rules": []}


def test_jlis_ca_signs_the_cards_and_the_crl_lists_the_revoked_one(client: OnshiClient) -> None:
    ca = x509.load_pem_x509_certificate(client.jlis_ca_pem().encode())
    card = x509.load_pem_x509_certificate(client.card("healthy-employee")["certificate_pem"].encode())
    card.verify_directly_issued_by(ca)
    crl = x509.load_pem_x509_crl(client.jlis_crl_pem().encode())
    assert crl.is_signature_valid(ca.public_key())
    revoked = x509.load_pem_x509_certificate(client.card("f15-revoked")["certificate_pem"].encode())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(card.serial_number) is None


def test_card_list_holds_every_personas_card(client: OnshiClient) -> None:
    cards = {c["person"]["id"]: c for c in client.cards()}
    one = client.card("healthy-employee")
    assert cards[one["person"]["id"]] == one
    assert one["person"]["name"] == "佐藤 花子" and one["certificate_pem"].startswith(
        "-----BEGIN CERTIFICATE"
    )
    assert {c["variant"] for c in cards.values()} >= {"standard", "face_only", "infant"}


def test_fault_rules_added_listed_removed_and_cleared(fresh_server: Any) -> None:
    with OnshiClient(settings_for(fresh_server)) as c:
        added = c.add_fault_rule(
            {
                "id": "clinic-down",
                "kind": "outage",
                "channel": "clinic",
                "clinic": fresh_server.clinic_code,
                "note": "test",
            }
        )
        rule = added["rule"]
        assert rule == {
            "id": "clinic-down",
            "kind": "outage",
            "clinic": fresh_server.clinic_code,
            "channel": "clinic",
            "start": None,
            "end": None,
            "latency_ms": 0,
            "rate": 1.0,
            "status": 503,
            "hold_ms": 10_000,
            "seed": 0,
            "note": "test",
        }
        assert c.get_faults()["rules"] == [rule] and c.get_faults()["active"] == ["clinic-down"]
        with pytest.raises(ServerUnavailable):
            by_number(c, "healthy-employee")
        later = datetime.fromisoformat(FIXTURE_MOMENT) + timedelta(hours=1)
        scheduled = c.add_fault_rule({"id": "later", "kind": "outage", "start": later})
        assert scheduled["rule"]["start"] == later.isoformat() and scheduled["active"] == ["clinic-down"]
        after = c.remove_fault_rule("clinic-down")
        assert [r["id"] for r in after["rules"]] == ["later"] and after["active"] == []
        assert by_number(c, "healthy-employee").valid
        with pytest.raises(NotFound):
            c.remove_fault_rule("clinic-down")
        assert c.clear_faults()["rules"] == []


def test_set_faults_takes_global_faults_rules_and_clear(fresh_server: Any) -> None:
    with OnshiClient(settings_for(fresh_server)) as c:
        view = c.set_faults(latency_ms=20, rules=[{"id": "e", "kind": "error", "rate": 0.5, "seed": 7}])
        assert view["latency_ms"] == 20 and view["outage"] is False
        assert [(r["id"], r["kind"], r["rate"], r["seed"]) for r in view["rules"]] == [("e", "error", 0.5, 7)]
        assert c.set_faults(outage=True)["rules"] == view["rules"]  # unset arguments stay as they are
        cleared = c.set_faults(clear=True, rules=[{"id": "t", "kind": "timeout", "hold_ms": 100}])
        assert cleared["outage"] is False and cleared["latency_ms"] == 0
        assert [r["id"] for r in cleared["rules"]] == ["t"]
        assert c.set_faults(clear=True) == {**cleared, "rules": [], "active": []}
