"""The synthetic population generator: deterministic, counted right, and checkable through the API."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from onshi.procs import free_port, serving
from server.fixtures import load_fixture, read_fixture
from server.population import generate_population
from server.storage import tables
from server.storage.database import create_tables, make_engine
from server.storage.serialize import qualification_from_dict, qualification_to_dict

ADMIN = "population-test-admin"
CLINIC = {"X-Medical-Institution-Code": "1312345678", "Authorization": "Bearer demo-clinic-token"}


def _snapshot(db: Path) -> list[tuple[Any, ...]]:
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        persons = session.exec(select(tables.Person).where(col(tables.Person.id).like("g%"))
                               .order_by(col(tables.Person.id))).all()
        version = tables.QualificationVersion
        versions = session.exec(select(version).where(col(version.person_id).like("g%"))
                                .order_by(col(version.row_id))).all()
        cards = session.exec(select(tables.Card).where(col(tables.Card.person_id).like("g%"))
                             .order_by(col(tables.Card.person_id))).all()
        out = [(p.id, p.name, p.name_kana, p.birthdate, p.sex, p.address) for p in persons]
        out += [(v.qualification_id, v.person_id, v.number, v.data, v.visible_from) for v in versions]
        out += [(c.person_id, c.serial, c.issued_on) for c in cards]
    engine.dispose()
    return out


def _generate(db: Path, persons: int, seed: int, cards: int, fixtures: bool = True) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{db}")
    create_tables(engine)
    if fixtures:
        load_fixture(engine, read_fixture("personas"))
    report = generate_population(engine, persons, seed=seed, cards=cards)
    engine.dispose()
    return report


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = _generate(tmp_path / "a.db", 300, seed=7, cards=3)
    b = _generate(tmp_path / "b.db", 300, seed=7, cards=3)
    _generate(tmp_path / "c.db", 300, seed=8, cards=3)
    assert a["sample_numbers"] == b["sample_numbers"] and a["card_holders"] == b["card_holders"]
    assert _snapshot(tmp_path / "a.db") == _snapshot(tmp_path / "b.db")
    assert _snapshot(tmp_path / "a.db")[:300] != _snapshot(tmp_path / "c.db")[:300]


def test_counts_mix_and_stored_data(tmp_path: Path) -> None:
    db = tmp_path / "pop.db"
    report = _generate(db, 2_000, seed=1, cards=20)
    assert report["persons"] == 2_000 and report["cards"] == 20
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        generated = select(func.count()).select_from(tables.Person).where(col(tables.Person.id).like("g1-%"))
        assert session.exec(generated).one() == 2_000
        assert session.get(tables.Persona, "healthy-employee") is not None  # fixture personas kept
        assert session.get(tables.Clinic, "1312345678") is not None
        kinds = {row.kind for row in session.exec(select(tables.Insurer))}
        assert kinds == {"shaho", "kokuho", "kouki"}
        cards = session.exec(select(tables.Card).where(col(tables.Card.person_id).like("g1-%"))).all()
        assert len(cards) == 20 and len({c.serial for c in cards}) == 20
        for card in cards:
            assert session.get(tables.Certificate, card.serial) is not None
            link = session.exec(select(tables.SerialLink)
                                .where(tables.SerialLink.serial == card.serial)).one()
            assert link.person_id == card.person_id
        insurers = {row.number: row for row in session.exec(select(tables.Insurer))}
        versions = session.exec(select(tables.QualificationVersion)
                                .where(col(tables.QualificationVersion.person_id).like("g1-%"))).all()
        for version in versions[:200]:  # the stored JSON is what the registry writes itself
            data = json.loads(version.data)
            from server.storage.registry import insurers as core_insurers

            q = qualification_from_dict(data, core_insurers(session)[insurers[data["insurer_number"]].number])
            assert qualification_to_dict(q) == data
        family = [json.loads(v.data) for v in versions if json.loads(v.data)["personal_family"] == "2"]
        assert family, "社保 dependents expected"
        assert session.exec(select(func.count()).select_from(tables.NoProvideFlag)).one() > 0
    assert report["troubles"]["lost"] > 0
    # Generating again with the same seed replaces that population instead of failing.
    again = generate_population(engine, 500, seed=1, cards=5)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(tables.Person)
                            .where(col(tables.Person.id).like("g1-%"))).one() == 500
    assert again["cards"] == 5
    engine.dispose()


@pytest.fixture(scope="module")
def population_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server on a fresh SQLite database: personas + a generated population (no fixture load after)."""
    tmp = tmp_path_factory.mktemp("population")
    db = tmp / "onshi.db"
    report = _generate(db, 400, seed=3, cards=4)
    port = free_port()
    with serving(["serve", "--port", str(port)], port, ready="/api/v1/health",
                 env={"ONSHI_DATABASE_URL": f"sqlite:///{db}", "ONSHI_ADMIN_TOKEN": ADMIN},
                 log=tmp / "server.log") as url:
        yield url, report


def _number_body(numbers: dict[str, str], day: str) -> dict[str, Any]:
    info = {"InsurerNumber": numbers["insurer"], "InsuredIdentificationNumber": numbers["number"],
            "InsuredBranchNumber": numbers["branch"], "Birthdate": numbers["birthdate"].replace("-", "")}
    if numbers["symbol"]:
        info["InsuredCardSymbol"] = numbers["symbol"]
    return {"MessageHeader": {"QualificationConfirmationDate": day, "MedicalInstitutionCode": "1312345678",
                              "ReferenceClassification": "1", "CharacterCodeIdentifier": "0"},
            "MessageBody": {"QualificationConfirmSearchInfo": info}}


def test_generated_person_number_check(population_server: Any) -> None:
    url, report = population_server
    day = httpx.get(f"{url}/api/v1/health").json()["now"][:10].replace("-", "")
    statuses = []
    for numbers in report["sample_numbers"][:40]:
        response = httpx.post(f"{url}/api/v1/number-checks", json=_number_body(numbers, day), headers=CLINIC)
        assert response.status_code == 200, response.text
        body = response.json()["result"]["MessageBody"]
        statuses.append(body.get("ProcessingResultStatus"))
        if body.get("ProcessingResultStatus") == "1":
            confirmed = body["ResultList"]["ResultOfQualificationConfirmation"]
            confirmed = confirmed[0] if isinstance(confirmed, list) else confirmed
            assert confirmed["Birthdate"] == numbers["birthdate"].replace("-", "")
    assert statuses.count("1") >= len(statuses) * 0.8, statuses


def test_generated_person_card_check(population_server: Any) -> None:
    from server.jlis import (
        attestation_payload,
        certificate_to_der,
        load_certificate,
        private_key_from_pem,
        sign_attestation,
        sign_nonce,
    )

    url, report = population_server
    admin = {"Authorization": f"Bearer {ADMIN}"}
    reader = httpx.post(f"{url}/api/v1/admin/readers", json={"clinic_code": "1312345678"},
                        headers=admin).json()
    device_key = private_key_from_pem(reader["device_key_pem"])
    for method, person_id in zip(("pin", "face"), report["card_holders"][:2], strict=True):
        material = httpx.get(f"{url}/api/v1/admin/cards/{person_id}", headers=admin).json()
        assert material["person"]["id"] == person_id
        nonce = httpx.post(f"{url}/api/v1/card-checks/challenge", json={"reader_id": reader["reader_id"]},
                           headers=CLINIC).json()["nonce"]
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        cert = load_certificate(material["certificate_pem"])
        body: dict[str, Any] = {"reader_id": reader["reader_id"], "nonce": nonce,
                                "certificate_pem": material["certificate_pem"], "method": method}
        if method == "pin":
            body["card_signature"] = base64.b64encode(
                sign_nonce(private_key_from_pem(material["private_key_pem"]), raw)).decode()  # type: ignore[arg-type]
        else:
            payload = attestation_payload(raw, certificate_to_der(cert), method, reader["reader_id"])
            body["reader_attestation"] = base64.b64encode(sign_attestation(device_key, payload)).decode()
        response = httpx.post(f"{url}/api/v1/card-checks", json=body, headers=CLINIC)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["result"]["MessageBody"]["ProcessingResultStatus"] == "1", result
        confirmed = result["result"]["MessageBody"]["ResultList"]["ResultOfQualificationConfirmation"]
        confirmed = confirmed[0] if isinstance(confirmed, list) else confirmed
        # answers put a full-width space between family and given name, as real answers do
        assert confirmed["Name"] == material["person"]["name"].replace(" ", "\u3000")
