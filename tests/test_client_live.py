"""The client library against a real server process, for every failure mode it can see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clinic_client.client import AsyncOnshiClient, ClientSettings, OnshiClient, search_info
from clinic_client.console.demo import demo_patients
from clinic_client.errors import BadRequest, ConnectionFailed, Forbidden, ServerUnavailable, Unauthorized
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

PATIENTS = {p.id: p for p in demo_patients()}


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
    assert r is not None and r.Name == "佐藤 花子" and r.InsurerNumber == "06139012"
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


def test_bad_request_carries_the_servers_problem(client: OnshiClient) -> None:
    message = client.api.number_check_message(search_info("06139012", "1024", "19850512", symbol="5201"))
    bad = message.model_copy(
        update={
            "MessageHeader": message.MessageHeader.model_copy(update={"MedicalInstitutionCode": "9999999999"})
        }
    )
    with pytest.raises((BadRequest, Forbidden, Unauthorized)) as refused:
        client.send_number_check(bad)
    assert refused.value.detail and refused.value.title_ja and refused.value.code


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


def test_f13_outage_is_server_unavailable_and_retried(fresh_server: Any) -> None:
    fresh_server.admin("POST", "/faults", json={"outage": True})
    with OnshiClient(settings_for(fresh_server, retries=2, backoff=0.01)) as c:
        with pytest.raises(ServerUnavailable) as down:
            by_number(c, "healthy-employee")
        expl = explain(None, error=down.value)
        assert expl.ids == ("F13",) and expl.declaration
        assert down.value.title_ja
    log = fresh_server.admin("GET", "/access-log")
    assert isinstance(log, list)


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


async def test_async_client(live_server: Any) -> None:
    async with AsyncOnshiClient(settings_for(live_server)) as c:
        p = PATIENTS["healthy-national"]
        d = p.documents[0]
        outcome = await c.number_check(
            d.insurer_number, d.number, p.birthdate, symbol=d.symbol, branch=d.branch
        )
        assert outcome.valid
        clock = await c.get_clock()
        assert clock
