"""Reads the registry *as the central system saw it at a moment* into the core's plain data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, select
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sqlmodel_select

from onshi.codes import InsurerKind, Sex
from server.core import model as core
from server.storage import tables
from server.storage.serialize import qualification_from_dict


def insurers(session: Session) -> dict[str, core.Insurer]:
    return {
        row.number: core.Insurer(number=row.number, name=row.name, kind=InsurerKind(row.kind))
        for row in session.exec(sqlmodel_select(tables.Insurer))
    }


def to_core_person(row: tables.Person) -> core.Person:
    return core.Person(
        id=row.id,
        name=row.name,
        name_kana=row.name_kana,
        birthdate=row.birthdate,
        sex=Sex(row.sex),
        address=row.address,
        post_number=row.post_number,
        name_of_other=row.name_of_other,
        name_of_other_kana=row.name_of_other_kana,
    )


def latest_versions(rows: Iterable[tables.QualificationVersion]) -> list[tables.QualificationVersion]:
    """Per qualification, the latest version (rows must already be filtered to visible ones)."""
    latest: dict[str, tables.QualificationVersion] = {}
    for row in sorted(rows, key=lambda r: (r.visible_from, r.row_id or 0)):
        latest[row.qualification_id] = row
    return [row for row in latest.values() if not row.withdrawn]


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel class (for statements built once, with bound parameters)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


PERSON = table_of(tables.Person)
VERSION = table_of(tables.QualificationVersion)
NO_PROVIDE = table_of(tables.NoProvideFlag)
SERIAL_LINK = table_of(tables.SerialLink)
RENEWAL_LINK = table_of(tables.RenewalLink)
REVOCATION = table_of(tables.Revocation)
CERTIFICATE = table_of(tables.Certificate)
READER = table_of(tables.Reader)
NONCE = table_of(tables.Nonce)


def _qualifications(
    rows: Iterable[Any], known: dict[str, core.Insurer]
) -> list[core.Qualification]:
    out = []
    for row in latest_versions(rows):
        insurer = known.get(row.insurer_number) or core.Insurer(row.insurer_number, "", InsurerKind.EMPLOYEE)
        out.append(qualification_from_dict(json.loads(row.data), insurer))
    return out


def _no_provide_subquery(person_id: Any, moment: Any) -> ScalarSelect[Any]:
    """The latest no-provide flag visible at the moment (NULL: never set)."""
    return (
        select(NO_PROVIDE.c.active)
        .where(NO_PROVIDE.c.person_id == person_id, NO_PROVIDE.c.visible_from <= moment)
        .order_by(NO_PROVIDE.c.visible_from.desc(), NO_PROVIDE.c.row_id.desc())
        .limit(1)
        .scalar_subquery()
    )


def no_provide(session: Session, person_id: str, moment: datetime) -> bool:
    return bool(session.connection().execute(select(_no_provide_subquery(person_id, moment))).scalar())


# Built once (bound parameters): building and cache-keying a statement per call cost ~10 % of a check.
VIEW_STATEMENT = (
    select(
        PERSON,
        _no_provide_subquery(PERSON.c.id, bindparam("moment")).label("np_active"),
        VERSION.c.qualification_id.label("qv_qualification_id"),
        VERSION.c.insurer_number.label("qv_insurer_number"),
        VERSION.c.data.label("qv_data"),
        VERSION.c.visible_from.label("qv_visible_from"),
        VERSION.c.row_id.label("qv_row_id"),
        VERSION.c.withdrawn.label("qv_withdrawn"),
    )
    .select_from(PERSON.outerjoin(
        VERSION, and_(VERSION.c.person_id == PERSON.c.id, VERSION.c.visible_from <= bindparam("moment"))))
    .where(PERSON.c.id == bindparam("person_id"))
)


def view_for_person(session: Session, person_id: str, moment: datetime,
                    known_insurers: dict[str, core.Insurer] | None = None) -> core.RegistryView | None:
    """The person, their qualification versions visible at the moment and the no-provide flag, in one
    statement (one row per version; one row with empty version columns when there is none)."""
    rows = session.connection().execute(VIEW_STATEMENT, {"person_id": person_id, "moment": moment}).all()
    if not rows:
        return None
    first = rows[0]
    person = core.Person(
        id=first.id, name=first.name, name_kana=first.name_kana, birthdate=first.birthdate,
        sex=Sex(first.sex), address=first.address, post_number=first.post_number,
        name_of_other=first.name_of_other, name_of_other_kana=first.name_of_other_kana,
    )
    versions = [
        _Version(r.qv_qualification_id, r.qv_insurer_number, r.qv_data, r.qv_visible_from, r.qv_row_id,
                 bool(r.qv_withdrawn))
        for r in rows if r.qv_qualification_id is not None
    ]
    known = known_insurers if known_insurers is not None else insurers(session)
    return core.RegistryView(
        person=person,
        qualifications=tuple(_qualifications(versions, known)),
        no_provide=bool(first.np_active),
    )


@dataclass(frozen=True)
class _Version:
    qualification_id: str
    insurer_number: str
    data: str
    visible_from: datetime
    row_id: int | None
    withdrawn: bool


HOLDERS_STATEMENT = (
    select(VERSION.c.person_id)
    .where(
        VERSION.c.insurer_number == bindparam("insurer_number"),
        VERSION.c.number == bindparam("number"),
        VERSION.c.visible_from <= bindparam("moment"),
    )
    .distinct()
)


def candidates_for_numbers(
    session: Session, insurer_number: str, number: str, moment: datetime,
    known_insurers: dict[str, core.Insurer] | None = None,
) -> list[core.RegistryView]:
    """Everyone who held, as of the moment, a qualification under these insurer/number."""
    person_ids = session.connection().execute(
        HOLDERS_STATEMENT, {"insurer_number": insurer_number, "number": number, "moment": moment}
    ).scalars().all()
    known = known_insurers if known_insurers is not None else insurers(session)
    views = (view_for_person(session, pid, moment, known) for pid in person_ids)
    return [v for v in views if v is not None]


def _latest_link(column: Any) -> ScalarSelect[Any]:
    return (
        select(column)
        .where(SERIAL_LINK.c.serial == bindparam("serial"), SERIAL_LINK.c.visible_from <= bindparam("moment"))
        .order_by(SERIAL_LINK.c.visible_from.desc(), SERIAL_LINK.c.row_id.desc())
        .limit(1)
        .scalar_subquery()
    )


CARD_STATUS_STATEMENT = select(
    exists().where(REVOCATION.c.serial == bindparam("serial"), REVOCATION.c.revoked_at <= bindparam("moment"))
    .label("revoked"),
    _latest_link(SERIAL_LINK.c.row_id).label("link_row"),
    _latest_link(SERIAL_LINK.c.person_id).label("link_person"),
    select(RENEWAL_LINK.c.old_serial)
    .where(RENEWAL_LINK.c.new_serial == bindparam("serial"),
           RENEWAL_LINK.c.visible_from <= bindparam("moment"))
    .limit(1).scalar_subquery().label("renewed_from"),
    select(CERTIFICATE.c.predecessor_serial).where(CERTIFICATE.c.serial == bindparam("serial"))
    .scalar_subquery().label("predecessor"),
)


def card_status(session: Session, serial: str, moment: datetime) -> tuple[bool, core.SerialLink]:
    """``revoked(serial)`` and ``resolve_serial(serial)`` in one statement (a renewal chain is followed
    by ``resolve_serial``)."""
    row = session.connection().execute(CARD_STATUS_STATEMENT, {"serial": serial, "moment": moment}).one()
    revoked_now = bool(row.revoked)
    if row.link_row is not None:
        if row.link_person is None:
            return revoked_now, core.RegistrationCancelled()
        return revoked_now, core.LinkedPerson(person_id=row.link_person)
    if row.renewed_from is not None:
        return revoked_now, resolve_serial(session, row.renewed_from, moment, 1)
    if row.predecessor is not None:
        return revoked_now, core.RenewalLinkPending()
    return revoked_now, core.NeverRegistered()


READER_STATEMENT = select(READER.c.id, READER.c.clinic_code, READER.c.public_key_pem).where(
    READER.c.id == bindparam("reader_id"))
NONCE_STATEMENT = select(NONCE.c.clinic_code, NONCE.c.reader_id, NONCE.c.expires_at).where(
    NONCE.c.value == bindparam("value"))


def reader(session: Session, reader_id: str) -> tuple[str, str, str] | None:
    """(id, clinic code, public key PEM) of a registered reader."""
    row = session.connection().execute(READER_STATEMENT, {"reader_id": reader_id}).first()
    return None if row is None else (row.id, row.clinic_code, row.public_key_pem)


def nonce(session: Session, value: str) -> tuple[str, str, datetime] | None:
    """(clinic code, reader id, expiry) of an issued nonce."""
    row = session.connection().execute(NONCE_STATEMENT, {"value": value}).first()
    return None if row is None else (row.clinic_code, row.reader_id, row.expires_at)


def resolve_serial(session: Session, serial: str, moment: datetime, _depth: int = 0) -> core.SerialLink:
    """Follows the registration index and J-LIS's renewal links as they stood at the moment."""
    link = session.exec(
        sqlmodel_select(tables.SerialLink)
        .where(tables.SerialLink.serial == serial, tables.SerialLink.visible_from <= moment)
        .order_by(col(tables.SerialLink.visible_from).desc(), col(tables.SerialLink.row_id).desc())
    ).first()
    if link is not None:
        if link.person_id is None:
            return core.RegistrationCancelled()
        return core.LinkedPerson(person_id=link.person_id)
    renewal = session.exec(
        sqlmodel_select(tables.RenewalLink).where(
            tables.RenewalLink.new_serial == serial, tables.RenewalLink.visible_from <= moment
        )
    ).first()
    if renewal is not None and _depth < 20:
        return resolve_serial(session, renewal.old_serial, moment, _depth + 1)
    cert = session.get(tables.Certificate, serial)
    if cert is not None and cert.predecessor_serial is not None:
        return core.RenewalLinkPending()
    return core.NeverRegistered()


def revoked(session: Session, serial: str, moment: datetime) -> bool:
    row = session.get(tables.Revocation, serial)
    return row is not None and row.revoked_at <= moment
