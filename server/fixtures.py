"""Loads a fixture set (fixtures/*.yaml) into the registry: clinics, insurers, personas, events."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jaconv
import yaml
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col

from onshi.pins import pin_record
from server.clock import EPOCH, SimulatedClock, aware_jst, supported
from server.events import AnyEvent, EventError, apply_event, day_start, issue_card, write_qualification
from server.jlis import CertificateAuthority
from server.storage import tables
from server.storage.database import insert_on_conflict

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)
# Tables a fixture load keeps: registered readers and the CA (so readers stay trusted).
KEPT_TABLES = {tables.Reader.__tablename__, tables.Setting.__tablename__}
# The challenge key too: every server process keeps the one it read, so it must outlive a reload.
KEPT_SETTINGS = ("ca", "faults", "challenge_key")


class FixtureError(ValueError):
    """A fixture file that cannot load; the message names the persona and field."""


@dataclass
class LoadReport:
    personas: int = 0
    cards: int = 0
    events: int = 0
    clock: datetime | None = None
    persona_ids: list[str] = field(default_factory=list)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def half_width_kana(text: str) -> str:
    """The real messages carry kana names in half-width katakana."""
    return jaconv.z2h(jaconv.hira2kata(text), kana=True, digit=False, ascii=False)


def read_fixture(name_or_path: str | Path) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = FIXTURES_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise FixtureError(f"fixture file not found: {path}")
    return parse_fixture(path.read_text(encoding="utf-8"))


def parse_fixture(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FixtureError(f"fixture is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "personas" not in data:
        raise FixtureError("a fixture needs a top-level mapping with 'personas'")
    return data


def ca_from_settings(session: Session, now: datetime) -> CertificateAuthority:
    """The mock J-LIS CA, created on first use and kept in the settings table."""
    row = session.get(tables.Setting, "ca")
    if row is not None:
        pem = json.loads(row.value)
        return CertificateAuthority.from_pem(pem["certificate"], pem["private_key"])
    ca = CertificateAuthority.create(aware_jst(now))
    cert_pem, key_pem = ca.to_pem()
    session.add(tables.Setting(key="ca", value=json.dumps({"certificate": cert_pem, "private_key": key_pem})))
    session.flush()
    return ca


def challenge_key_from_settings(session: Session) -> bytes:
    """The key that signs challenge nonces (``server.core.challenge``): made by the first server
    process that needs it, the same for every process of the database (whichever writes first wins)."""
    row = session.get(tables.Setting, "challenge_key")
    if row is None:
        insert = insert_on_conflict(session.get_bind().dialect.name)
        session.execute(insert(tables.Setting).values(key="challenge_key", value=secrets.token_hex(32))
                        .on_conflict_do_nothing(index_elements=["key"]))
        session.commit()
        row = session.get(tables.Setting, "challenge_key")
        assert row is not None
    return bytes.fromhex(row.value)


def reset_registry(session: Session) -> None:
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in KEPT_TABLES:
            session.execute(delete(table))
    # The CA and the faults are not registry: a trainer's outage stays through a scenario's reload.
    session.execute(delete(tables.Setting).where(col(tables.Setting.key).notin_(KEPT_SETTINGS)))


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise FixtureError(f"{where}: not a date: {value!r}") from exc


def _persona(session: Session, ca: CertificateAuthority, entry: dict[str, Any], now: datetime,
             pin_hashes: dict[str, dict[str, Any]]) -> int:
    pid = str(entry["id"])
    p = entry.get("person") or {}
    try:
        person = tables.Person(
            id=pid,
            name=str(p["name"]),
            name_kana=half_width_kana(str(p.get("name_kana", ""))),
            birthdate=_date(p["birthdate"], f"{pid}.person.birthdate"),
            sex=str(p.get("sex", "3")),
            address=str(p.get("address", "")),
            post_number=str(p.get("post_number", "")),
        )
    except KeyError as exc:
        raise FixtureError(f"persona {pid}: person needs {exc}") from exc
    session.add(person)
    session.flush()
    qualification_ids = []
    for q in entry.get("qualifications") or []:
        visible = q.get("visible_at")
        visible_from = (
            aware_jst(aware_jst(datetime.fromisoformat(str(visible))))
            if visible
            else aware_jst(day_start(_date(q.get("acquired_on"), f"{pid}.acquired_on")))
        )
        data = {k: v for k, v in q.items() if k != "visible_at"}
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}
        try:
            qualification_ids.append(write_qualification(session, {**data, "person_id": pid}, visible_from))
        except EventError as exc:
            raise FixtureError(f"persona {pid}: {exc}") from exc
    cards = 0
    if card := entry.get("card"):
        issued_on = _date(card.get("issued_on"), f"{pid}.card.issued_on")
        registered = card.get("registered", True)
        issue_card(
            session,
            ca,
            person,
            issued_on=issued_on,
            variant=str(card.get("variant", "standard")),
            pin=str(card["pin"]) if card.get("pin") is not None else None,
            pin_hash=pin_hashes.get(str(card.get("pin"))),
            photo=card.get("photo"),
            registered_at=day_start(issued_on) if registered else None,
            now=now,
        )
        cards = 1
    if entry.get("no_provide"):
        session.add(tables.NoProvideFlag(person_id=pid, active=True, visible_from=EPOCH))
    for kind, records in (entry.get("records") or {}).items():
        for record in records:
            session.add(
                tables.MedicalRecord(
                    person_id=pid,
                    kind=kind,
                    recorded_on=_date(record.get("date"), f"{pid}.records.{kind}.date"),
                    data=json.dumps({k: str(v) for k, v in record.items()}, ensure_ascii=False),
                )
            )
    first = (entry.get("qualifications") or [{}])[0]
    numbers = entry.get("numbers") or {
        "insurer": first.get("insurer"),
        "symbol": first.get("symbol", ""),
        "number": first.get("number"),
        "branch": first.get("branch"),
    }
    numbers = {k: (None if v is None else str(v)) for k, v in numbers.items()}
    numbers["birthdate"] = person.birthdate.isoformat()
    session.add(
        tables.Persona(
            id=pid,
            person_id=pid,
            failure=entry.get("failure"),
            title_ja=str(entry.get("title_ja", "")),
            title_en=str(entry.get("title_en", "")),
            data=json.dumps(
                {
                    "numbers": numbers,
                    "expect": entry.get("expect") or {},
                    "true_copay_ratio": entry.get("true_copay_ratio"),
                    "has_card": bool(entry.get("card")),
                    "phones": [f"{pid}.{phone['platform']}" for phone in entry.get("phones") or []],
                },
                ensure_ascii=False,
            ),
        )
    )
    return cards


def _phone_events(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A persona's ``phones:`` as phone_setup events (applied before the persona's own events, so a
    later card renewal leaves the phone's certificate as it was)."""
    return [{**phone, "kind": "phone_setup", "person": str(entry["id"])}
            for phone in entry.get("phones") or []]


def load_fixture(engine: Engine, data: dict[str, Any], *, set_clock: bool = True) -> LoadReport:
    """Replaces the registry with the fixture set (readers and the CA are kept)."""
    clock_text = data.get("clock")
    try:
        now = (supported(datetime.fromisoformat(str(clock_text))) if clock_text
               else SimulatedClock.real_time().now())
    except ValueError as exc:
        raise FixtureError(f"clock: {exc}") from exc
    report = LoadReport(clock=now)
    # Fixture PINs are public demo data (fixtures/*.yaml): one salted hash per distinct PIN per load
    # (scrypt is slow on purpose; a trainer's own card, POST /admin/cards, gets its own salt).
    pin_hashes = {pin: pin_record(pin) for pin in sorted({
        str(entry["card"]["pin"]) for entry in data.get("personas") or []
        if isinstance(entry, dict) and isinstance(entry.get("card"), dict)
        and entry["card"].get("pin") is not None})}
    with Session(engine) as session:
        reset_registry(session)
        ca = ca_from_settings(session, now)
        for clinic in data.get("clinics") or []:
            session.merge(
                tables.Clinic(
                    code=str(clinic["code"]),
                    name=str(clinic["name"]),
                    token_sha256=token_hash(str(clinic["token"])),
                )
            )
        for insurer in data.get("insurers") or []:
            number = str(insurer["number"])
            session.merge(
                tables.Insurer(
                    number=number.zfill(8) if len(number) == 6 else number,
                    name=str(insurer["name"]),
                    kind=str(insurer.get("kind", "shaho")),
                )
            )
        session.flush()
        for entry in data["personas"]:
            if "id" not in entry:
                raise FixtureError("every persona needs an id")
            report.cards += _persona(session, ca, entry, now, pin_hashes)
            report.personas += 1
            report.persona_ids.append(str(entry["id"]))
        session.flush()
        for entry in data["personas"]:
            for raw in [*_phone_events(entry), *(entry.get("events") or [])]:
                try:
                    event = EVENT_ADAPTER.validate_python(raw)
                    apply_event(session, ca, event, now)
                except (ValidationError, EventError) as exc:
                    raise FixtureError(
                        f"persona {entry['id']}: bad event {raw.get('kind')!r}: {exc}"
                    ) from exc
                report.events += 1
        if set_clock:
            frozen = SimulatedClock(anchor=now, anchor_real=0.0, frozen=True)
            session.merge(tables.Setting(key="clock", value=json.dumps(frozen.to_json())))
        session.commit()
    return report
