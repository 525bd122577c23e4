"""The admin API: fixtures, the simulated clock, registry events, readers, cards, faults, access log."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from onshi.codes import Sex
from server.api.context import Context, DbSession, require_admin
from server.api.problems import ApiProblem, not_found
from server.clock import EPOCH, aware_jst
from server.events import AnyEvent, EventError, apply_event, issue_card, write_qualification
from server.fixtures import FixtureError, half_width_kana, load_fixture, parse_fixture, read_fixture
from server.jlis import generate_device_key, private_key_to_pem, public_key_to_pem
from server.state import Faults
from server.storage import tables

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


# --- clock ----------------------------------------------------------------------------------


class ClockView(BaseModel):
    now: datetime
    frozen: bool


class ClockChange(BaseModel):
    set: datetime | None = Field(default=None, description="jump to this moment (JST if no zone)")
    advance_seconds: float | None = Field(default=None, description="move forward (or back, negative)")
    frozen: bool | None = None


@router.get("/clock", response_model=ClockView)
def get_clock(ctx: Context) -> ClockView:
    clock = ctx.state.clock
    return ClockView(now=clock.now(), frozen=clock.frozen)


@router.post("/clock", response_model=ClockView)
def change_clock(change: ClockChange, ctx: Context) -> ClockView:
    clock = ctx.state.clock
    if change.set is not None:
        clock = clock.set(aware_jst(change.set))
    if change.advance_seconds is not None:
        clock = clock.advance(change.advance_seconds)
    if change.frozen is not None:
        clock = clock.freeze(change.frozen)
    ctx.state.clock = clock
    return ClockView(now=clock.now(), frozen=clock.frozen)


# --- fixtures and personas ------------------------------------------------------------------


@router.post("/fixtures/load")
async def load_fixtures(request: Request, ctx: Context) -> dict[str, Any]:
    """Replaces the registry with a fixture set: `{"name": "personas"}` or a YAML body."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    try:
        if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
            data = parse_fixture(body.decode("utf-8"))
        else:
            request_json = json.loads(body or b"{}") or {}
            if not isinstance(request_json, dict):
                raise FixtureError('send {"name": "<fixture>"} or a YAML body (Content-Type: application/yaml)')
            name = request_json.get("name", "personas")
            if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
                raise FixtureError(f"bad fixture name: {name!r}")
            data = read_fixture(name)
        report = load_fixture(ctx.engine, data)
    except (FixtureError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiProblem(400, "fixture_invalid", "フィクスチャを読み込めません", "cannot load the fixture",
                         str(exc)) from exc
    ctx.forget_cached()
    return {"personas": report.personas, "cards": report.cards, "events": report.events,
            "clock": report.clock.isoformat() if report.clock else None}


def persona_view(row: tables.Persona) -> dict[str, Any]:
    data = json.loads(row.data)
    return {"id": row.id, "person_id": row.person_id, "failure": row.failure, "title_ja": row.title_ja,
            "title_en": row.title_en, **data}


@router.get("/personas")
def personas(session: DbSession) -> list[dict[str, Any]]:
    return [persona_view(row) for row in session.exec(select(tables.Persona).order_by(col(tables.Persona.id)))]


# --- events ---------------------------------------------------------------------------------


@router.post("/events")
def post_event(event: AnyEvent, ctx: Context, session: DbSession) -> dict[str, Any]:
    """Applies a registry event now (on the simulated clock), visible after its lag."""
    try:
        changed = apply_event(session, ctx.ca(session), event, ctx.now())
    except EventError as exc:
        raise ApiProblem(400, "event_invalid", "イベントを適用できません", "cannot apply the event",
                         str(exc)) from exc
    session.commit()
    return {"applied": event.kind, **changed}


# --- readers and cards ----------------------------------------------------------------------


class ReaderRegistration(BaseModel):
    clinic_code: str = Field(pattern=r"^\d{10}$")
    reader_id: str | None = Field(default=None, max_length=64)


@router.post("/readers")
def register_reader(body: ReaderRegistration, session: DbSession) -> dict[str, str]:
    """Registers a face-auth card reader; answers its device key (ECDSA P-256), once."""
    if session.get(tables.Clinic, body.clinic_code) is None:
        raise not_found("医療機関", body.clinic_code)
    reader_id = body.reader_id or f"R-{uuid.uuid4().hex[:10]}"
    key = generate_device_key()
    session.merge(tables.Reader(id=reader_id, clinic_code=body.clinic_code,
                                public_key_pem=public_key_to_pem(key.public_key())))
    session.commit()
    return {"reader_id": reader_id, "clinic_code": body.clinic_code, "device_key_pem": private_key_to_pem(key)}


def card_material(session: Session, person_id: str) -> dict[str, Any]:
    card = session.get(tables.Card, person_id)
    person = session.get(tables.Person, person_id)
    if card is None or person is None:
        raise not_found("カード", person_id)
    cert = session.get(tables.Certificate, card.serial)
    return {
        "person": {"id": person.id, "name": person.name, "name_kana": person.name_kana,
                   "birthdate": person.birthdate.isoformat(), "sex": person.sex, "address": person.address},
        "variant": card.variant,
        "serial": card.serial,
        "certificate_pem": cert.pem if cert else None,
        "private_key_pem": card.private_key_pem,
        "photo": card.photo,
        "pin": card.pin,
        "card_issued_on": card.issued_on.isoformat(),
        "card_expires_on": card.expires_on.isoformat(),
        "certificate_not_after": cert.not_after.isoformat() if cert else None,
    }


@router.get("/cards")
def list_cards(session: DbSession) -> list[dict[str, Any]]:
    return [card_material(session, row.person_id) for row in session.exec(select(tables.Card))]


@router.get("/cards/{person_id}")
def get_card(person_id: str, session: DbSession) -> dict[str, Any]:
    """Card material for the reader emulator's virtual card (persona ids are person ids)."""
    return card_material(session, person_id)


class NewCard(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    name_kana: str = Field(default="", max_length=60)
    birthdate: date
    sex: Sex = Sex.UNSET
    variant: str = "standard"
    pin: str | None = Field(default="1234", pattern=r"^\d{4}$")
    photo: str | None = Field(default=None, description="portrait name or a path the reader knows")
    insurer: str = "01130012"
    copay_ratio: int = 30
    issued_on: date | None = None


@router.post("/cards")
def new_card(body: NewCard, ctx: Context, session: DbSession) -> dict[str, Any]:
    """Issues a card (and a valid qualification) for a new person, e.g. a trainee with their own face."""
    now = ctx.now()
    person_id = f"p-{uuid.uuid4().hex[:10]}"
    person = tables.Person(id=person_id, name=body.name, name_kana=half_width_kana(body.name_kana),
                           birthdate=body.birthdate, sex=body.sex.value)
    session.add(person)
    session.flush()
    try:
        write_qualification(session, {
            "person_id": person_id, "insurer": body.insurer, "symbol": "9000", "number": person_id[-6:],
            "branch": "00", "personal_family": "1", "insured_name": body.name,
            "acquired_on": body.birthdate.isoformat(), "copay_ratio": body.copay_ratio,
        }, EPOCH)
        issued_on = body.issued_on or aware_jst(now).date()
        issue_card(session, ctx.ca(session), person, issued_on=issued_on, variant=body.variant, pin=body.pin,
                   photo=body.photo, registered_at=now, now=now)
    except EventError as exc:
        raise ApiProblem(400, "card_invalid", "カードを発行できません", "cannot issue the card", str(exc)) from exc
    session.commit()
    return card_material(session, person_id)


# --- faults and the access record -----------------------------------------------------------


@router.get("/faults")
def get_faults(ctx: Context) -> dict[str, Any]:
    return vars(ctx.state.faults)


class FaultChange(BaseModel):
    outage: bool | None = None
    latency_ms: int | None = Field(default=None, ge=0, le=120_000)


@router.post("/faults")
def set_faults(body: FaultChange, ctx: Context) -> dict[str, Any]:
    """Central-system faults (F13): `{"outage": true}` answers 503; `{"latency_ms": 800}` slows answers."""
    faults = Faults(**{**vars(ctx.state.faults), **body.model_dump(exclude_none=True)})
    ctx.state.faults = faults
    return vars(faults)


@router.get("/access-log")
def access_log(session: DbSession, person_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Who looked at whom, when, on what basis — what the person could inspect on the portal."""
    query = select(tables.AccessRecord).order_by(col(tables.AccessRecord.row_id).desc()).limit(min(limit, 5000))
    if person_id:
        query = query.where(tables.AccessRecord.person_id == person_id)
    return [
        {"at": r.at.isoformat(), "clinic_code": r.clinic_code, "person_id": r.person_id, "action": r.action,
         "basis": r.basis, "outcome": r.outcome}
        for r in session.exec(query)
    ]
