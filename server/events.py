"""Registry events: what insurers, J-LIS and cardholders do, each with two times.

An event happens on a domain date and becomes *visible* to the central system later
(``visible_at``, or ``lag_days`` after it happened). Applying an event writes new versions of
registry facts with that ``visible_from``; nothing is overwritten, so any moment can be replayed.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, TypeAdapter, ValidationError
from sqlmodel import Session, col, select

from onshi.pins import pin_record
from onshi.timeutil import JST
from server.clock import LAST_DAY, SimulatedDay, SimulatedMoment, aware_jst
from server.jlis import (
    CertificateAuthority,
    certificate_to_pem,
    generate_key,
    load_certificate,
    private_key_to_pem,
)
from server.jlis.validity import nth_birthday_after
from server.storage import tables
from server.storage.serialize import qualification_from_dict, qualification_to_dict


class EventError(ValueError):
    """An event that cannot apply (unknown person, serial …); the message says which."""


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visible_at: SimulatedMoment | None = Field(
        default=None, description="When the central system learns of it (default: when it happens + lag_days)"
    )
    lag_days: LagDays = Field(default=0, description="Registration delay after the event happened (F1)")

    def visible_from(self, happened: datetime) -> datetime:
        if self.visible_at is not None:
            return aware_jst(self.visible_at)
        return later(happened, self.lag_days)


def later(happened: datetime, lag_days: float) -> datetime:
    """``lag_days`` after ``happened``; ``EventError`` past what a date can hold."""
    try:
        return aware_jst(happened) + timedelta(days=lag_days)
    except OverflowError as exc:
        raise EventError(f"{happened.date()} + {lag_days} days: 日付の範囲を超えます / beyond any date"
                         ) from exc


def event_day(value: Any, field: str) -> date:
    """A date field of free-form qualification data, or ``EventError`` naming it."""
    try:
        return EventDay.validate_python(value)
    except ValidationError as exc:
        raise EventError(f"{field}: {value!r} は {FIRST_EVENT_DAY} 〜 {LAST_DAY} の日付ではありません"
                         f" / not a date from {FIRST_EVENT_DAY} to {LAST_DAY}") from exc


# Registry delays: at most a century (the clock's whole range); never NaN, infinite or negative.
LagDays = Annotated[StrictFloat, Field(ge=0, le=36_500, allow_inf_nan=False)]
# Domain dates of events (a loss, a renewal): births from 1900 on, nothing after the clock's last day.
FIRST_EVENT_DAY = date(1900, 1, 1)
Day = Annotated[date, Field(ge=FIRST_EVENT_DAY, le=LAST_DAY)]
EventDay: TypeAdapter[date] = TypeAdapter(Day)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), JST)


class AddQualification(Event):
    kind: Literal["add_qualification"] = "add_qualification"
    person: str
    qualification: dict[str, Any] = Field(description="Qualification fields (see fixtures/personas.yaml)")


class LoseQualification(Event):
    kind: Literal["lose_qualification"] = "lose_qualification"
    qualification_id: str
    lost_on: Day
    reason_of_loss: str = "99"


class JobChange(Event):
    """Leaves one insurer and joins another; each insurer registers with its own delay (F1)."""

    kind: Literal["job_change"] = "job_change"
    person: str
    lost_on: Day = Field(description="First day without the old qualification (資格喪失日)")
    reason_of_loss: str = "99"
    new_qualification: dict[str, Any]
    loss_lag_days: LagDays = 1
    acquisition_lag_days: LagDays = Field(default=0, description="The new insurer's registration delay")


class SetCopay(Event):
    """An insurer registers a (possibly wrong) co-pay ratio (F11)."""

    kind: Literal["set_copay"] = "set_copay"
    qualification_id: str
    copay_ratio: Literal[10, 20, 30] = Field(description="percent: 10, 20 or 30")


class WrongLink(Event):
    """Registration links a card's certificate to another person (F2)."""

    kind: Literal["wrong_link"] = "wrong_link"
    card_of: str = Field(description="person whose card is linked wrongly")
    to_person: str


class SetNoProvide(Event):
    kind: Literal["set_no_provide"] = "set_no_provide"
    person: str
    active: bool = True


class Revoke(Event):
    """The card is suspended (lost) and its certificate revoked (F15)."""

    kind: Literal["revoke"] = "revoke"
    card_of: str


class Renew(Event):
    """The certificate is renewed at the municipality; the old→new link reaches the system later."""

    kind: Literal["renew"] = "renew"
    card_of: str
    renewed_on: SimulatedDay | None = None
    link_lag_days: LagDays = 0


class CancelRegistration(Event):
    kind: Literal["cancel_registration"] = "cancel_registration"
    card_of: str


class Register(Event):
    kind: Literal["register"] = "register"
    card_of: str


class PhoneSetup(Event):
    """The holder puts the card's functions on a phone: the phone gets its own key and certificate
    (ending with the card's certificate valid on ``set_up_on``, unless ``certificate_not_after`` says
    otherwise), linked to the person from ``visible_at`` / ``lag_days`` after set-up."""

    kind: Literal["phone_setup"] = "phone_setup"
    person: str
    platform: Literal["android", "iphone"]
    set_up_on: SimulatedDay | None = Field(default=None, description="default: the simulated today")
    certificate_not_after: SimulatedDay | None = Field(
        default=None, description="the phone certificate's last day (default: the card certificate's)")


class RevokePhone(Event):
    """The phone's certificate is revoked (phone lost or handed over); the card is untouched."""

    kind: Literal["revoke_phone"] = "revoke_phone"
    person: str
    platform: Literal["android", "iphone"]


AnyEvent = Annotated[
    AddQualification
    | LoseQualification
    | JobChange
    | SetCopay
    | WrongLink
    | SetNoProvide
    | Revoke
    | Renew
    | CancelRegistration
    | Register
    | PhoneSetup
    | RevokePhone,
    Field(discriminator="kind"),
]


class EventEnvelope(BaseModel):
    event: AnyEvent


# --- applying -------------------------------------------------------------------------------


def _person(session: Session, person_id: str) -> tables.Person:
    row = session.get(tables.Person, person_id)
    if row is None:
        raise EventError(f"unknown person: {person_id}")
    return row


def _card(session: Session, person_id: str) -> tables.Card:
    row = session.get(tables.Card, person_id)
    if row is None:
        raise EventError(f"person {person_id} has no My Number card")
    return row


def _latest_version(session: Session, qualification_id: str) -> tables.QualificationVersion:
    row = session.exec(
        select(tables.QualificationVersion)
        .where(tables.QualificationVersion.qualification_id == qualification_id)
        .order_by(
            col(tables.QualificationVersion.visible_from).desc(),
            col(tables.QualificationVersion.row_id).desc(),
        )
    ).first()
    if row is None:
        raise EventError(f"unknown qualification: {qualification_id}")
    return row


def write_qualification(session: Session, data: dict[str, Any], visible_from: datetime) -> str:
    """Validates ``data`` through the core model and stores it as a new version."""
    insurer_number = str(data.get("insurer") or data.get("insurer_number") or "")
    insurer_row = session.get(
        tables.Insurer, insurer_number.zfill(8) if len(insurer_number) == 6 else insurer_number
    )
    if insurer_row is None:
        raise EventError(f"unknown insurer number: {insurer_number!r}")
    from server.storage.registry import insurers

    data = {**data, "id": str(data.get("id") or uuid.uuid4().hex[:12]), "insurer_number": insurer_row.number}
    try:
        qualification = qualification_from_dict(data, insurers(session)[insurer_row.number])
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise EventError(f"bad qualification data: {type(exc).__name__}: {exc}") from exc
    stored = qualification_to_dict(qualification)
    for where, value in _dates_in(stored):
        event_day(value, f"qualification.{where}")
    session.add(
        tables.QualificationVersion(
            qualification_id=qualification.id,
            person_id=qualification.person_id,
            insurer_number=qualification.insurer.number,
            number=qualification.number,
            data=json.dumps(stored, ensure_ascii=False),
            visible_from=visible_from,
        )
    )
    return qualification.id


def _dates_in(value: Any, where: str = "") -> list[tuple[str, str]]:
    """The ISO date strings in stored qualification data, with where they are."""
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in _dates_in(item, f"{where}.{key}".lstrip("."))]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _dates_in(item, f"{where}[{i}]")]
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return [(where, value)]
    return []


def _revise(session: Session, qualification_id: str, changes: dict[str, Any], visible_from: datetime) -> None:
    latest = _latest_version(session, qualification_id)
    data = {**json.loads(latest.data), **changes}
    write_qualification(session, data, visible_from)


def _link(session: Session, serial: str, person_id: str | None, visible_from: datetime) -> None:
    session.add(tables.SerialLink(serial=serial, person_id=person_id, visible_from=visible_from))


def card_expiry(birthdate: date, issued_on: date) -> date:
    """The card itself: 10th birthday after issuance for adults, 5th for minors."""
    before_birthday = (issued_on.month, issued_on.day) < (birthdate.month, birthdate.day)
    age = issued_on.year - birthdate.year - before_birthday
    return nth_birthday_after(birthdate, issued_on, 10 if age >= 18 else 5)


def issue_card(
    session: Session,
    ca: CertificateAuthority,
    person: tables.Person,
    *,
    issued_on: date,
    variant: str = "standard",
    pin: str | None = "1234",
    photo: str | None = None,
    registered_at: datetime | None = None,
    now: datetime,
    pin_hash: dict[str, Any] | None = None,
) -> tables.Card:
    """J-LIS issues a card: a key pair on the chip and its user-authentication certificate. The PIN
    is kept only as a salted hash (``pin_hash``: a record already made for ``pin``, else one is made)."""
    if variant not in {"standard", "face_only", "infant"}:
        raise EventError(f"unknown card variant: {variant!r} (standard, face_only, infant)")
    key, cert = ca.issue_card(holder_birthdate=person.birthdate, issued_on=issued_on)
    serial = str(cert.serial_number)
    _store_certificate(session, person.id, cert, now, predecessor=None)
    card = tables.Card(
        person_id=person.id,
        serial=serial,
        private_key_pem=private_key_to_pem(key),
        variant=variant,
        pin_hash=None if variant == "face_only" or pin is None else json.dumps(pin_hash or pin_record(pin)),
        photo=None if variant == "infant" else photo,
        issued_on=issued_on,
        expires_on=card_expiry(person.birthdate, issued_on),
    )
    existing = session.get(tables.Card, person.id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    session.add(card)
    if registered_at is not None:
        _link(session, serial, person.id, aware_jst(registered_at))
    return card


def _store_certificate(
    session: Session, person_id: str, cert: Any, now: datetime, predecessor: str | None
) -> None:
    not_before = cert.not_valid_before_utc.astimezone(JST).date()
    not_after = cert.not_valid_after_utc.astimezone(JST).date()
    session.add(
        tables.Certificate(
            serial=str(cert.serial_number),
            person_id=person_id,
            pem=certificate_to_pem(cert),
            not_before=not_before,
            not_after=not_after,
            issued_at=aware_jst(now),
            predecessor_serial=predecessor,
        )
    )


def apply_event(session: Session, ca: CertificateAuthority, event: Event, now: datetime) -> dict[str, Any]:
    """Applies one event at simulated moment ``now``; returns what changed (for the caller's log)."""
    if isinstance(event, AddQualification):
        _person(session, event.person)
        happened = day_start(event_day(event.qualification.get("acquired_on"), "qualification.acquired_on"))
        qid = write_qualification(
            session, {**event.qualification, "person_id": event.person}, event.visible_from(happened)
        )
        return {"qualification_id": qid}
    if isinstance(event, LoseQualification):
        visible = event.visible_from(day_start(event.lost_on))
        _revise(
            session,
            event.qualification_id,
            {"lost_on": event.lost_on.isoformat(), "reason_of_loss": event.reason_of_loss},
            visible,
        )
        return {"qualification_id": event.qualification_id, "visible_from": visible.isoformat()}
    if isinstance(event, JobChange):
        _person(session, event.person)
        happened = day_start(event.lost_on)
        base = aware_jst(event.visible_at) if event.visible_at else aware_jst(happened)
        lost_visible = later(base, event.loss_lag_days)
        new_visible = later(base, event.acquisition_lag_days)
        current = session.exec(
            select(tables.QualificationVersion.qualification_id)
            .where(tables.QualificationVersion.person_id == event.person)
            .distinct()
        ).all()
        lost_ids = []
        for qid in current:
            data = json.loads(_latest_version(session, qid).data)
            if not data.get("lost_on"):
                _revise(
                    session,
                    qid,
                    {"lost_on": event.lost_on.isoformat(), "reason_of_loss": event.reason_of_loss},
                    lost_visible,
                )
                lost_ids.append(qid)
        new_data = {
            "acquired_on": event.lost_on.isoformat(),
            **event.new_qualification,
            "person_id": event.person,
        }
        new_id = write_qualification(session, new_data, new_visible)
        return {
            "lost": lost_ids,
            "lost_visible_from": lost_visible.isoformat(),
            "new_qualification_id": new_id,
            "new_visible_from": new_visible.isoformat(),
        }
    if isinstance(event, SetCopay):
        visible = event.visible_from(now)
        _revise(session, event.qualification_id, {"copay_ratio": event.copay_ratio}, visible)
        return {"qualification_id": event.qualification_id}
    if isinstance(event, WrongLink):
        card = _card(session, event.card_of)
        _person(session, event.to_person)
        _link(session, card.serial, event.to_person, event.visible_from(now))
        return {"serial": card.serial, "linked_to": event.to_person}
    if isinstance(event, SetNoProvide):
        _person(session, event.person)
        session.add(
            tables.NoProvideFlag(
                person_id=event.person, active=event.active, visible_from=event.visible_from(now)
            )
        )
        return {"person": event.person, "active": event.active}
    if isinstance(event, Revoke):
        card = _card(session, event.card_of)
        at = event.visible_from(now)
        existing = session.get(tables.Revocation, card.serial)
        if existing is None:
            session.add(tables.Revocation(serial=card.serial, revoked_at=at))
        return {"serial": card.serial, "revoked_at": at.isoformat()}
    if isinstance(event, Renew):
        card = _card(session, event.card_of)
        person = _person(session, event.card_of)
        renewed_on = event.renewed_on or aware_jst(now).date()
        old_row = session.get(tables.Certificate, card.serial)
        if old_row is None:
            raise EventError(f"the card of {event.card_of} has no certificate on record")
        key = generate_key()
        new_cert = ca.renew(
            load_certificate(old_row.pem),
            key.public_key(),
            holder_birthdate=person.birthdate,
            renewed_on=renewed_on,
        )
        _store_certificate(session, person.id, new_cert, now, predecessor=card.serial)
        link_visible = later(day_start(renewed_on), event.link_lag_days)
        session.add(
            tables.RenewalLink(
                new_serial=str(new_cert.serial_number), old_serial=card.serial, visible_from=link_visible
            )
        )
        card.serial = str(new_cert.serial_number)
        card.private_key_pem = private_key_to_pem(key)
        session.add(card)
        return {
            "old_serial": old_row.serial,
            "new_serial": card.serial,
            "link_visible_from": link_visible.isoformat(),
        }
    if isinstance(event, CancelRegistration | Register):
        card = _card(session, event.card_of)
        person_id = event.card_of if isinstance(event, Register) else None
        _link(session, card.serial, person_id, event.visible_from(now))
        return {"serial": card.serial, "registered": person_id is not None}
    if isinstance(event, PhoneSetup):
        return set_up_phone(session, ca, event, now)
    if isinstance(event, RevokePhone):
        phone = _phone(session, event.person, event.platform)
        at = event.visible_from(now)
        if session.get(tables.Revocation, phone.serial) is None:
            session.add(tables.Revocation(serial=phone.serial, revoked_at=at))
        return {"phone_id": phone.phone_id, "serial": phone.serial, "revoked_at": at.isoformat()}
    raise EventError(f"unsupported event: {type(event).__name__}")


# --- phones (スマホ用電子証明書) -----------------------------------------------------------------

SIGNATURE_CERTIFICATE_AGE = 15  # 署名用電子証明書 is not issued under 15: no phone set-up without it
IPHONE_MINIMUM_AGE = 16  # iPhone: not for holders under 16


def phone_id(person_id: str, platform: str) -> str:
    return f"{person_id}.{platform}"


def _phone(session: Session, person_id: str, platform: str) -> tables.Phone:
    row = session.get(tables.Phone, phone_id(person_id, platform))
    if row is None:
        raise EventError(f"{person_id} has no {platform} phone set up / スマートフォンが登録されていません")
    return row


def age_on(birthdate: date, day: date) -> int:
    return day.year - birthdate.year - ((day.month, day.day) < (birthdate.month, birthdate.day))


def phone_refusal(person: tables.Person, card: tables.Card | None, card_cert: tables.Certificate | None,
                  revoked: bool, platform: str, day: date) -> str | None:
    """Why the card's functions cannot go on this phone on ``day`` (the real refusals), or None."""
    age = age_on(person.birthdate, day)
    if card is None:
        return "マイナンバーカードがありません / no My Number card"
    if card.variant == "face_only":
        return ("顔認証マイナンバーカードには署名用電子証明書がないため、スマートフォンに搭載できません"
                " / a face-only card has no signature certificate, which the set-up needs")
    if age < SIGNATURE_CERTIFICATE_AGE:
        return (f"{SIGNATURE_CERTIFICATE_AGE}歳未満は署名用電子証明書が発行されないため"
                f"搭載できません（{age}歳）"
                f" / under {SIGNATURE_CERTIFICATE_AGE} there is no signature certificate (age {age})")
    if platform == "iphone" and age < IPHONE_MINIMUM_AGE:
        return (f"iPhoneへの搭載は{IPHONE_MINIMUM_AGE}歳以上です（{age}歳）"
                f" / iPhone: {IPHONE_MINIMUM_AGE} and over only (age {age})")
    if card_cert is None or not (card_cert.not_before <= day <= card_cert.not_after):
        return (f"{day}に有効なカードの電子証明書がありません（期限切れ）"
                f" / the card has no valid certificate on {day}")
    if revoked:
        return "カードの電子証明書が失効しています / the card's certificate is revoked"
    return None


def _card_certificate_on(session: Session, card: tables.Card, day: date) -> tables.Certificate | None:
    """The card's certificate valid on ``day``: the current one or a predecessor."""
    serial: str | None = card.serial
    newest = None
    while serial is not None:
        row = session.get(tables.Certificate, serial)
        if row is None:
            break
        newest = newest or row
        if row.not_before <= day:
            return row
        serial = row.predecessor_serial
    return newest


def set_up_phone(session: Session, ca: CertificateAuthority, event: PhoneSetup,
                 now: datetime) -> dict[str, Any]:
    person = _person(session, event.person)
    card = session.get(tables.Card, event.person)
    day = event.set_up_on or aware_jst(now).date()
    card_cert = _card_certificate_on(session, card, day) if card is not None else None
    revoked = card_cert is not None and session.get(tables.Revocation, card_cert.serial) is not None
    refusal = phone_refusal(person, card, card_cert, revoked, event.platform, day)
    if refusal is not None:
        raise EventError(refusal)
    assert card is not None and card_cert is not None  # phone_refusal said so
    last_day = event.certificate_not_after or card_cert.not_after
    try:
        key, cert = ca.issue_phone(holder_birthdate=person.birthdate, set_up_on=day, last_day=last_day)
    except ValueError as exc:
        raise EventError(str(exc)) from exc
    _store_certificate(session, person.id, cert, now, predecessor=None)
    serial = str(cert.serial_number)
    ident = phone_id(person.id, event.platform)
    existing = session.get(tables.Phone, ident)
    if existing is not None:  # a new set-up replaces the old one (its certificate is no longer used)
        session.delete(existing)
        session.flush()
    session.add(tables.Phone(phone_id=ident, person_id=person.id, platform=event.platform, serial=serial,
                             private_key_pem=private_key_to_pem(key), set_up_on=day,
                             not_after=last_day, card_serial=card_cert.serial))
    visible = event.visible_from(day_start(day))
    _link(session, serial, person.id, visible)
    return {"phone_id": ident, "serial": serial, "certificate_not_after": last_day.isoformat(),
            "link_visible_from": visible.isoformat()}
