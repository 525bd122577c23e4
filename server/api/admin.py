"""The admin API: fixtures, the simulated clock, registry events, readers, cards, faults, access log."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt
from sqlmodel import Session, col, select

from onshi.codes import Sex
from onshi.messages import INSTITUTION_CODE_PATTERN, Text, character_name
from server.api.checks import access_row, record_access
from server.api.context import AppContext, Context, DbSession, require_admin
from server.api.problems import ApiProblem, not_found
from server.clock import (
    EPOCH,
    LAST_DAY,
    MAX_ADVANCE_SECONDS,
    RANGE_TEXT,
    ClockRangeError,
    SimulatedDay,
    SimulatedMoment,
    aware_jst,
)
from server.events import (
    AnyEvent,
    EventError,
    PhoneSetup,
    apply_event,
    issue_card,
    phone_id,
    set_up_phone,
    write_qualification,
)
from server.fixtures import FixtureError, half_width_kana, load_fixture, parse_fixture, read_fixture
from server.jlis import generate_device_key, private_key_to_pem, public_key_to_pem
from server.state import FaultRule, Faults
from server.storage import tables

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


# --- clock ----------------------------------------------------------------------------------


class ClockView(BaseModel):
    now: datetime
    frozen: bool


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"set": "2026-11-24T09:00:00+09:00", "frozen": True}, {"advance_seconds": 3600}]})

    set: SimulatedMoment | None = Field(
        default=None, description=f"jump to this moment (JST if no zone); supported: {RANGE_TEXT}")
    advance_seconds: StrictFloat | None = Field(
        default=None, allow_inf_nan=False, ge=-MAX_ADVANCE_SECONDS, le=MAX_ADVANCE_SECONDS,
        description="move forward (or back, negative); the result must stay in the supported range")
    frozen: StrictBool | None = None


def clock_problem(exc: ClockRangeError, where: str = "") -> ApiProblem:
    return ApiProblem(400, "clock_out_of_range", "模擬時刻を範囲外にはできません",
                      "the simulated clock cannot show that moment", f"{where}{exc}")


@router.get("/clock", response_model=ClockView)
def get_clock(ctx: Context) -> ClockView:
    clock = ctx.state.clock
    return ClockView(now=clock.now(), frozen=clock.frozen)


@router.post("/clock", response_model=ClockView)
def change_clock(change: ClockChange, ctx: Context) -> ClockView:
    clock = ctx.state.clock
    try:
        if change.set is not None:  # frozen with it: exactly at that moment (not a few µs later)
            clock = clock.set(change.set, frozen=change.frozen)
    except ClockRangeError as exc:
        raise clock_problem(exc) from exc
    if change.advance_seconds is not None:
        try:
            clock = clock.advance(change.advance_seconds)
        except ClockRangeError as exc:
            raise clock_problem(exc, f"advance_seconds={change.advance_seconds:g}: ") from exc
    if change.frozen is not None and change.frozen != clock.frozen:
        clock = clock.freeze(change.frozen)
    ctx.state.clock = clock
    return ClockView(now=clock.now(), frozen=clock.frozen)


# --- fixtures and personas ------------------------------------------------------------------


FIXTURE_BODY = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": {
        "title": "FixtureName", "type": "object", "additionalProperties": False,
        "properties": {"name": {"type": "string", "default": "personas", "maxLength": 100,
                                "description": "a fixture set under fixtures/ (personas, f1 …)"}}}},
    "application/yaml": {"schema": {"type": "string", "description": "a whole fixture set as YAML"}},
}}}


@router.post("/fixtures/load", openapi_extra=FIXTURE_BODY)
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
                raise FixtureError('send {"name": "<fixture>"} or a YAML body (application/yaml)')
            name = request_json.get("name", "personas")
            if (not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".")
                    or not name.isprintable()):
                raise FixtureError(f"bad fixture name: {name!r}")
            data = read_fixture(name)
        reject_forbidden_characters(data, "fixture_invalid")
        report = load_fixture(ctx.engine, data)
    except (FixtureError, UnicodeDecodeError, json.JSONDecodeError,
            # a YAML body of the wrong shape (a list where a mapping belongs, a bad date …)
            KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ApiProblem(400, "fixture_invalid", "フィクスチャを読み込めません", "cannot load the fixture",
                         str(exc)) from exc
    ctx.registry_changed()
    return {"personas": report.personas, "cards": report.cards, "events": report.events,
            "clock": report.clock.isoformat() if report.clock else None}


def persona_view(row: tables.Persona) -> dict[str, Any]:
    data = json.loads(row.data)
    return {"id": row.id, "person_id": row.person_id, "failure": row.failure, "title_ja": row.title_ja,
            "title_en": row.title_en, **data}


@router.get("/personas")
def personas(ctx: Context, session: DbSession) -> list[dict[str, Any]]:
    """The fixture personas with their personal data (on the access record, action ``admin_read``)."""
    rows = list(session.exec(select(tables.Persona).order_by(col(tables.Persona.id))))
    record_admin_read(ctx, session, sorted({row.person_id for row in rows}), "personas")
    return [persona_view(row) for row in rows]


# --- events ---------------------------------------------------------------------------------


# What no database column can hold (PostgreSQL refuses NUL; a lone surrogate is not UTF-8). Fixture
# and event text may hold line breaks, so this is narrower than the message fields' check.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def forbidden_character(value: Any, where: str = "") -> str | None:
    """Where in ``value`` (dicts, lists, strings) a character the database cannot take is, or None."""
    if isinstance(value, str):
        found = UNSTORABLE.search(value)
        return f"{where or 'value'}: {character_name(found.group(0))}" if found else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found_in = forbidden_character(key, where) or forbidden_character(item, f"{where}/{key}".lstrip("/"))
        if found_in:
            return found_in
    return None


def reject_forbidden_characters(value: Any, code: str) -> None:
    where = forbidden_character(value)
    if where is not None:
        raise ApiProblem(400, code, "保存できない文字（NUL・不正なサロゲート）が含まれています",
                         "contains a character that cannot be stored (NUL or a lone surrogate)",
                         f"{where}; remove it")


@router.post("/events")
def post_event(event: AnyEvent, ctx: Context, session: DbSession) -> dict[str, Any]:
    """Applies a registry event now (on the simulated clock), visible after its lag."""
    reject_forbidden_characters(event.model_dump(mode="json"), "event_invalid")  # PostgreSQL refuses NUL
    try:
        changed = apply_event(session, ctx.ca(session), event, ctx.now())
    except EventError as exc:
        raise ApiProblem(400, "event_invalid", "イベントを適用できません", "cannot apply the event",
                         str(exc)) from exc
    session.commit()
    return {"applied": event.kind, **changed}


# --- readers and cards ----------------------------------------------------------------------


class ReaderRegistration(BaseModel):
    clinic_code: str = Field(pattern=INSTITUTION_CODE_PATTERN)
    reader_id: Text | None = Field(default=None, min_length=1, max_length=64)


@router.post("/readers")
def register_reader(body: ReaderRegistration, ctx: Context, session: DbSession) -> dict[str, str]:
    """Registers a face-auth card reader; answers its device key (ECDSA P-256), once."""
    if session.get(tables.Clinic, body.clinic_code) is None:
        raise not_found("医療機関", body.clinic_code)
    reader_id = body.reader_id or f"R-{uuid.uuid4().hex[:10]}"
    key = generate_device_key()
    session.merge(tables.Reader(id=reader_id, clinic_code=body.clinic_code,
                                public_key_pem=public_key_to_pem(key.public_key())))
    session.commit()
    ctx.registry_changed()  # a re-registered reader id has a new key
    return {"reader_id": reader_id, "clinic_code": body.clinic_code,
            "device_key_pem": private_key_to_pem(key)}


def _person_view(person: tables.Person) -> dict[str, Any]:
    return {"id": person.id, "name": person.name, "name_kana": person.name_kana,
            "birthdate": person.birthdate.isoformat(), "sex": person.sex, "address": person.address}


def card_material(session: Session, person_id: str) -> dict[str, Any]:
    card = session.get(tables.Card, person_id)
    person = session.get(tables.Person, person_id)
    if card is None or person is None:
        raise not_found("カード", person_id)
    cert = session.get(tables.Certificate, card.serial)
    return {
        "person": _person_view(person),
        "variant": card.variant,
        "serial": card.serial,
        "certificate_pem": cert.pem if cert else None,
        "private_key_pem": card.private_key_pem,
        "photo": card.photo,
        # The PIN as the chip holds it (onshi.pins.pin_record); the digits are never stored.
        "pin_hash": json.loads(card.pin_hash) if card.pin_hash else None,
        "card_issued_on": card.issued_on.isoformat(),
        "card_expires_on": card.expires_on.isoformat(),
        "certificate_not_after": cert.not_after.isoformat() if cert else None,
    }


ADMIN = "admin"  # the access record's clinic_code for reads through the admin API


def record_admin_read(ctx: AppContext, session: Session, person_ids: list[str], what: str) -> None:
    """Admin reads of personal data leave an access record, one per person, as clinic lookups do."""
    now = ctx.now()
    record_access(session, [access_row(now, ADMIN, person_id, "admin_read", f"admin:{what}", "shown")
                            for person_id in person_ids])
    session.commit()


@router.get("/cards")
def list_cards(ctx: Context, session: DbSession) -> list[dict[str, Any]]:
    """Every card's material (each read is on the access record, action ``admin_read``)."""
    materials = [card_material(session, row.person_id) for row in session.exec(select(tables.Card))]
    record_admin_read(ctx, session, [m["person"]["id"] for m in materials], "cards")
    return materials


@router.get("/cards/{person_id}")
def get_card(person_id: Annotated[Text, Path(max_length=64, examples=["healthy-employee"])], ctx: Context,
             session: DbSession) -> dict[str, Any]:
    """Card material for the reader emulator's virtual card (persona ids are person ids); on the access
    record (action ``admin_read``)."""
    material = card_material(session, person_id)
    record_admin_read(ctx, session, [person_id], "card")
    return material


# Co-pay ratios (percent) an insurer can register: 10, 20 or 30 (F11 registers a wrong one of these).
CopayRatio = Literal[10, 20, 30]
FIRST_CARD_DAY = date(2016, 1, 1)  # マイナンバーカード were first issued in January 2016
OLDEST_BIRTHDATE = date(1900, 1, 1)


class NewCard(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "研修 太郎", "name_kana": "ケンシュウ タロウ", "birthdate": "1990-04-01", "sex": "1",
         "variant": "standard", "pin": "1234", "photo": "astronaut"}]})

    name: Text = Field(min_length=1, max_length=60)
    name_kana: Text = Field(default="", max_length=60)
    birthdate: date = Field(ge=OLDEST_BIRTHDATE, le=LAST_DAY,
                            description=f"{OLDEST_BIRTHDATE} … {LAST_DAY}, not after the issue day")
    sex: Sex = Sex.UNSET
    variant: Literal["standard", "face_only", "infant"] = "standard"
    pin: str | None = Field(default="1234", pattern=r"^[0-9]{4}$",
                            description="4 digits; stored only as a salted scrypt hash and answered once, "
                                        "in this response")
    photo: Text | None = Field(default=None, max_length=500,
                               description="portrait name or a path the reader knows")
    insurer: str = Field(default="01130012", pattern=r"^[0-9]{6}$|^[0-9]{8}$")
    copay_ratio: CopayRatio = 30
    issued_on: SimulatedDay | None = Field(
        default=None, description=f"{FIRST_CARD_DAY} … {LAST_DAY} (default: the simulated today)")


@router.post("/cards")
def new_card(body: NewCard, ctx: Context, session: DbSession) -> dict[str, Any]:
    """Issues a card (and a valid qualification) for a new person, e.g. a trainee with their own face."""
    now = ctx.now()
    issued_on = body.issued_on or aware_jst(now).date()
    if issued_on < FIRST_CARD_DAY:
        raise ApiProblem(400, "card_invalid", "カードを発行できません", "cannot issue the card",
                         f"issued_on {issued_on}: マイナンバーカードは {FIRST_CARD_DAY} 以降に発行されます"
                         f" / cards exist from {FIRST_CARD_DAY} on")
    if body.birthdate > issued_on:
        raise ApiProblem(400, "card_invalid", "カードを発行できません", "cannot issue the card",
                         f"生年月日が発行日より後です"
                         f" / birthdate {body.birthdate} after the issue day {issued_on}")
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
        issue_card(session, ctx.ca(session), person, issued_on=issued_on, variant=body.variant, pin=body.pin,
                   photo=body.photo, registered_at=now, now=now)
    except EventError as exc:
        raise ApiProblem(400, "card_invalid", "カードを発行できません", "cannot issue the card",
                         str(exc)) from exc
    session.commit()
    # The trainer's chosen PIN is answered once, here; the server keeps only its hash.
    return {**card_material(session, person_id), "pin": body.pin if body.variant != "face_only" else None}


# --- phones (スマホ用電子証明書) -----------------------------------------------------------------


def phone_material(session: Session, ident: str) -> dict[str, Any]:
    phone = session.get(tables.Phone, ident)
    person = session.get(tables.Person, phone.person_id) if phone is not None else None
    if phone is None or person is None:
        raise not_found("スマートフォン", ident)
    cert = session.get(tables.Certificate, phone.serial)
    card = session.get(tables.Card, phone.person_id)
    return {
        "phone_id": phone.phone_id,
        "platform": phone.platform,
        "person": _person_view(person),
        "serial": phone.serial,
        "certificate_pem": cert.pem if cert else None,
        "private_key_pem": phone.private_key_pem,
        # Android: the card's PIN, entered on the reader, with the card's 3-try lock.
        "pin_hash": json.loads(card.pin_hash) if card is not None and card.pin_hash else None,
        "set_up_on": phone.set_up_on.isoformat(),
        "certificate_not_after": phone.not_after.isoformat(),
        "card_serial": phone.card_serial,
    }


PhoneId = Annotated[Text, Path(max_length=80, examples=["healthy-employee.android"])]


@router.get("/phones")
def list_phones(ctx: Context, session: DbSession) -> list[dict[str, Any]]:
    """Every phone's material (each read is on the access record, action ``admin_read``)."""
    materials = [phone_material(session, row.phone_id) for row in session.exec(select(tables.Phone))]
    record_admin_read(ctx, session, [m["person"]["id"] for m in materials], "phones")
    return materials


@router.get("/phones/{phone_id}")
def get_phone(phone_id: PhoneId, ctx: Context, session: DbSession) -> dict[str, Any]:
    """One phone's material for the reader emulator's virtual phone (id ``<person_id>.<platform>``)."""
    material = phone_material(session, phone_id)
    record_admin_read(ctx, session, [material["person"]["id"]], "phone")
    return material


class NewPhone(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"person_id": "healthy-employee", "platform": "iphone", "link_lag_days": 0}]})

    person_id: Text = Field(min_length=1, max_length=64)
    platform: Literal["android", "iphone"]
    link_lag_days: StrictFloat | StrictInt = Field(
        default=0, ge=0, le=36_500, allow_inf_nan=False,
        description="days until the central system sees the phone's link (F17 while it has not)")
    certificate_not_after: SimulatedDay | None = Field(
        default=None, description="the phone certificate's last day (default: the card certificate's)")


@router.post("/phones")
def new_phone(body: NewPhone, ctx: Context, session: DbSession) -> dict[str, Any]:
    """Puts a person's card functions on a phone now (on the simulated clock): its own key and
    certificate, linked after ``link_lag_days``. Refused as the real set-up refuses (no card, a face-only
    card or a holder under 15 — no signature certificate —, an iPhone under 16, an expired or revoked
    card certificate): 400 ``phone_refused`` with the reason."""
    event = PhoneSetup(person=body.person_id, platform=body.platform, lag_days=float(body.link_lag_days),
                       certificate_not_after=body.certificate_not_after)
    try:
        set_up_phone(session, ctx.ca(session), event, ctx.now())
    except EventError as exc:
        raise ApiProblem(400, "phone_refused", "スマートフォンに搭載できません",
                         "cannot put the card on this phone", str(exc)) from exc
    session.commit()
    return phone_material(session, phone_id(body.person_id, body.platform))


# --- faults and the access record -----------------------------------------------------------


def faults_view(ctx: AppContext) -> dict[str, Any]:
    faults = ctx.state.faults
    now = ctx.now()
    return {**faults.to_json(), "now": now.isoformat(), "active": [r.id for r in faults.active(now)]}


@router.get("/faults")
def get_faults(ctx: Context) -> dict[str, Any]:
    """The faults in force: global ``outage``/``latency_ms``, the ``rules``, and which are ``active`` now."""
    return faults_view(ctx)


class FaultRuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "morning-outage", "kind": "outage", "start": "2026-11-24T09:00:00+09:00",
         "end": "2026-11-24T09:30:00+09:00", "note": "回線工事"},
        {"kind": "timeout", "channel": "reader", "hold_ms": 5000}]})

    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: Literal["outage", "latency", "error", "timeout", "link_cut"]
    clinic: str | None = Field(default=None, pattern=INSTITUTION_CODE_PATTERN,
                               description="one clinic; none: all")
    channel: Literal["any", "clinic", "reader"] = Field(
        default="any", description="clinic: number/bulk/medical info; reader: card checks")
    start: SimulatedMoment | None = Field(default=None,
                                          description="from this simulated moment (JST if no zone)")
    end: SimulatedMoment | None = Field(default=None, description="until this simulated moment (exclusive)")
    latency_ms: StrictInt = Field(default=0, ge=0, le=120_000)
    rate: StrictFloat = Field(default=1.0, ge=0, le=1, allow_inf_nan=False,
                              description="share of requests hit (error, timeout)")
    status: StrictInt = Field(default=503, ge=500, le=599, description="error: the HTTP status answered")
    hold_ms: StrictInt = Field(default=10_000, ge=0, le=120_000, description="timeout: hold, then 504")
    seed: StrictInt = Field(default=0, ge=-(2**63), le=2**63 - 1)
    note: Text = Field(default="", max_length=200)

    def to_rule(self) -> FaultRule:
        return FaultRule(
            id=self.id or f"fault-{uuid.uuid4().hex[:8]}", kind=self.kind, clinic=self.clinic,
            channel=self.channel, start=aware_jst(self.start).isoformat() if self.start else None,
            end=aware_jst(self.end).isoformat() if self.end else None, latency_ms=self.latency_ms,
            rate=self.rate, status=self.status, hold_ms=self.hold_ms, seed=self.seed, note=self.note)


class FaultChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outage": True}, {"latency_ms": 800}, {"clear": True},
        {"rules": [{"kind": "error", "rate": 0.5, "status": 503, "clinic": "1312345678"}]}]})

    outage: StrictBool | None = None
    latency_ms: StrictInt | None = Field(default=None, ge=0, le=120_000)
    rules: list[FaultRuleBody] | None = Field(default=None, max_length=100, description="replace all rules")
    clear: StrictBool = Field(default=False, description="remove every fault (global and rules)")


@router.post("/faults")
def set_faults(body: FaultChange, ctx: Context) -> dict[str, Any]:
    """Central-system faults (F13): `{"outage": true}` answers 503; `{"latency_ms": 800}` slows answers;
    `{"rules": [...]}` replaces the scoped/scheduled rules; `{"clear": true}` removes everything."""
    current = Faults() if body.clear else ctx.state.faults
    changes = body.model_dump(exclude_none=True, include={"outage", "latency_ms"})
    rules = tuple(r.to_rule() for r in body.rules) if body.rules is not None else current.rules
    ctx.state.faults = replace(current, **changes, rules=rules)
    return faults_view(ctx)


@router.post("/faults/rules")
def add_fault_rule(body: FaultRuleBody, ctx: Context) -> dict[str, Any]:
    """Adds one rule (an existing rule with the same id is replaced); answers the rule and the view."""
    rule = body.to_rule()
    current = ctx.state.faults
    ctx.state.faults = replace(current, rules=(*[r for r in current.rules if r.id != rule.id], rule))
    return {"rule": asdict(rule), **faults_view(ctx)}


@router.delete("/faults/rules/{rule_id}")
def remove_fault_rule(rule_id: str, ctx: Context) -> dict[str, Any]:
    current = ctx.state.faults
    if not any(r.id == rule_id for r in current.rules):
        raise not_found("障害ルール", rule_id)
    ctx.state.faults = replace(current, rules=tuple(r for r in current.rules if r.id != rule_id))
    return faults_view(ctx)


@router.delete("/faults")
def clear_faults(ctx: Context) -> dict[str, Any]:
    """Removes every fault: the system is healthy again."""
    ctx.state.faults = Faults()
    return faults_view(ctx)


@router.get("/access-log")
def access_log(session: DbSession, person_id: Annotated[Text | None, Query(max_length=64)] = None,
               limit: int = Query(default=200, description="newest first; clamped to 0 … 5000"),
               ) -> list[dict[str, Any]]:
    """Who looked at whom, when, on what basis — what the person could inspect on the portal."""
    query = (select(tables.AccessRecord).order_by(col(tables.AccessRecord.row_id).desc())
             .limit(max(0, min(limit, 5000))))
    if person_id:
        query = query.where(tables.AccessRecord.person_id == person_id)
    return [
        {"at": aware_jst(r.at).isoformat(), "clinic_code": r.clinic_code, "person_id": r.person_id,
         "action": r.action, "basis": r.basis, "outcome": r.outcome}
        for r in session.exec(query)
    ]
