"""Reads the registry *as the central system saw it at a moment* into the core's plain data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from onshi.codes import InsurerKind, Sex
from server.core import model as core
from server.storage import tables
from server.storage.serialize import qualification_from_dict


def insurers(session: Session) -> dict[str, core.Insurer]:
    return {
        row.number: core.Insurer(number=row.number, name=row.name, kind=InsurerKind(row.kind))
        for row in session.exec(select(tables.Insurer))
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


def _qualifications(
    session: Session, rows: Iterable[tables.QualificationVersion]
) -> list[core.Qualification]:
    known = insurers(session)
    out = []
    for row in latest_versions(rows):
        insurer = known.get(row.insurer_number) or core.Insurer(row.insurer_number, "", InsurerKind.EMPLOYEE)
        out.append(qualification_from_dict(json.loads(row.data), insurer))
    return out


def no_provide(session: Session, person_id: str, moment: datetime) -> bool:
    row = session.exec(
        select(tables.NoProvideFlag)
        .where(tables.NoProvideFlag.person_id == person_id, tables.NoProvideFlag.visible_from <= moment)
        .order_by(col(tables.NoProvideFlag.visible_from).desc(), col(tables.NoProvideFlag.row_id).desc())
    ).first()
    return bool(row and row.active)


def view_for_person(session: Session, person_id: str, moment: datetime) -> core.RegistryView | None:
    person = session.get(tables.Person, person_id)
    if person is None:
        return None
    rows = session.exec(
        select(tables.QualificationVersion).where(
            tables.QualificationVersion.person_id == person_id,
            tables.QualificationVersion.visible_from <= moment,
        )
    )
    return core.RegistryView(
        person=to_core_person(person),
        qualifications=tuple(_qualifications(session, rows)),
        no_provide=no_provide(session, person_id, moment),
    )


def candidates_for_numbers(
    session: Session, insurer_number: str, number: str, moment: datetime
) -> list[core.RegistryView]:
    """Everyone who held, as of the moment, a qualification under these insurer/number."""
    person_ids = session.exec(
        select(tables.QualificationVersion.person_id)
        .where(
            tables.QualificationVersion.insurer_number == insurer_number,
            tables.QualificationVersion.number == number,
            tables.QualificationVersion.visible_from <= moment,
        )
        .distinct()
    ).all()
    views = (view_for_person(session, pid, moment) for pid in person_ids)
    return [v for v in views if v is not None]


def resolve_serial(session: Session, serial: str, moment: datetime, _depth: int = 0) -> core.SerialLink:
    """Follows the registration index and J-LIS's renewal links as they stood at the moment."""
    link = session.exec(
        select(tables.SerialLink)
        .where(tables.SerialLink.serial == serial, tables.SerialLink.visible_from <= moment)
        .order_by(col(tables.SerialLink.visible_from).desc(), col(tables.SerialLink.row_id).desc())
    ).first()
    if link is not None:
        if link.person_id is None:
            return core.RegistrationCancelled()
        return core.LinkedPerson(person_id=link.person_id)
    renewal = session.exec(
        select(tables.RenewalLink).where(
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
