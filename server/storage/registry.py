"""Reads the registry *as the central system saw it at a moment* into the core's plain data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, insert, select
from sqlalchemy.sql.selectable import ScalarSelect, Select
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sqlmodel_select

from onshi.codes import InsurerKind, Sex
from server.core import model as core
from server.storage import tables
from server.storage.checkdb import CheckDb, Statement
from server.storage.database import insert_on_conflict
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
        out.append(_qualification(row.data, insurer))
    return out


@lru_cache(maxsize=65_536)
def _qualification(data: str, insurer: core.Insurer) -> core.Qualification:
    """A stored version's JSON as the core's (frozen) Qualification, parsed once per process: keyed by
    the stored text itself (versions are never updated in place), so a changed row is a new key."""
    return qualification_from_dict(json.loads(data), insurer)


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


def _view_columns() -> list[Any]:
    """The no-provide flag and the qualification version's columns of a person's view (``qv_*``)."""
    return [
        _no_provide_subquery(PERSON.c.id, bindparam("moment")).label("np_active"),
        VERSION.c.qualification_id.label("qv_qualification_id"),
        VERSION.c.insurer_number.label("qv_insurer_number"),
        VERSION.c.data.label("qv_data"),
        VERSION.c.visible_from.label("qv_visible_from"),
        VERSION.c.row_id.label("qv_row_id"),
        VERSION.c.withdrawn.label("qv_withdrawn"),
    ]


def _view_statement(person_filter: Any) -> Select[Any]:
    """Person + qualification versions visible at ``:moment`` + no-provide flag: one row per version
    (one row with empty version columns when there is none), for the persons ``person_filter`` picks."""
    return (
        select(
            PERSON,
            *_view_columns(),
        )
        .select_from(PERSON.outerjoin(
            VERSION, and_(VERSION.c.person_id == PERSON.c.id, VERSION.c.visible_from <= bindparam("moment"))))
        .where(person_filter)
    )


# Built once (bound parameters): building and cache-keying a statement per call cost ~10 % of a check.
VIEW_STATEMENT = _view_statement(PERSON.c.id == bindparam("person_id"))

HOLDERS = (
    select(VERSION.c.person_id)
    .where(
        VERSION.c.insurer_number == bindparam("insurer_number"),
        VERSION.c.number == bindparam("number"),
        VERSION.c.visible_from <= bindparam("moment"),
    )
)
# A number check's whole read in one round trip: the views of the holders born on the day asked, ordered
# by person. The core matches on the birth date too (``check_number``); narrowing here only spares
# building the views of family members under the same number who cannot match (~3 per number).
CANDIDATES_STATEMENT = _view_statement(
    and_(PERSON.c.id.in_(HOLDERS.scalar_subquery()), PERSON.c.birthdate == bindparam("birthdate"))
).order_by(PERSON.c.id)


def _views(rows: Iterable[Any], known: dict[str, core.Insurer]) -> list[core.RegistryView]:
    """Rows of a view statement (grouped by person, in order) as the core's views."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.id, []).append(row)
    views = []
    for person_rows in grouped.values():
        first = person_rows[0]
        person = core.Person(
            id=first.id, name=first.name, name_kana=first.name_kana, birthdate=first.birthdate,
            sex=Sex(first.sex), address=first.address, post_number=first.post_number,
            name_of_other=first.name_of_other, name_of_other_kana=first.name_of_other_kana,
        )
        versions = [
            _Version(r.qv_qualification_id, r.qv_insurer_number, r.qv_data, r.qv_visible_from, r.qv_row_id,
                     bool(r.qv_withdrawn))
            for r in person_rows if r.qv_qualification_id is not None
        ]
        views.append(core.RegistryView(
            person=person,
            qualifications=tuple(_qualifications(versions, known)),
            no_provide=bool(first.np_active),
        ))
    return views


def view_for_person(session: Session, person_id: str, moment: datetime,
                    known_insurers: dict[str, core.Insurer] | None = None) -> core.RegistryView | None:
    """The person, their qualification versions visible at the moment and the no-provide flag, in one
    statement."""
    rows = session.connection().execute(VIEW_STATEMENT, {"person_id": person_id, "moment": moment}).all()
    if not rows:
        return None
    known = known_insurers if known_insurers is not None else insurers(session)
    return _views(rows, known)[0]


@dataclass(frozen=True)
class _Version:
    qualification_id: str
    insurer_number: str
    data: str
    visible_from: datetime
    row_id: int | None
    withdrawn: bool


def candidates_for_numbers(
    session: Session, insurer_number: str, number: str, birthdate: date, moment: datetime,
    known_insurers: dict[str, core.Insurer] | None = None,
) -> list[core.RegistryView]:
    """Everyone born on ``birthdate`` who held, as of the moment, a qualification under these
    insurer/number (one statement)."""
    known = known_insurers if known_insurers is not None else insurers(session)
    params = {"insurer_number": insurer_number, "number": number, "birthdate": birthdate, "moment": moment}
    rows = session.connection().execute(CANDIDATES_STATEMENT, params).all()
    return _views(rows, known)


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


def _link_of(row: Any, follow: bool = True) -> core.SerialLink | None:
    """The registration link of a status row; None: follow the renewal to ``row.renewed_from``."""
    if row.link_row is not None:
        if row.link_person is None:
            return core.RegistrationCancelled()
        return core.LinkedPerson(person_id=row.link_person)
    if row.renewed_from is not None and follow:
        return None
    if row.predecessor is not None:
        return core.RenewalLinkPending()
    return core.NeverRegistered()


def card_status(session: Session, serial: str, moment: datetime) -> tuple[bool, core.SerialLink]:
    """``revoked(serial)`` and ``resolve_serial(serial)`` in one statement (a renewal chain is followed
    by ``resolve_serial``)."""
    row = session.connection().execute(CARD_STATUS_STATEMENT, {"serial": serial, "moment": moment}).one()
    link = _link_of(row)
    if link is None:
        return bool(row.revoked), resolve_serial(session, row.renewed_from, moment, 1)
    return bool(row.revoked), link


READER_STATEMENT = select(READER.c.id, READER.c.clinic_code, READER.c.public_key_pem).where(
    READER.c.id == bindparam("reader_id"))


def reader(session: Session, reader_id: str) -> tuple[str, str, str] | None:
    """(id, clinic code, public key PEM) of a registered reader."""
    row = session.connection().execute(READER_STATEMENT, {"reader_id": reader_id}).first()
    return None if row is None else (row.id, row.clinic_code, row.public_key_pem)


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


# --- the check endpoints' hot path: one statement per step (server.storage.checkdb) -----------------

ACCESS = table_of(tables.AccessRecord)
CHECK_RECORD = table_of(tables.CheckRecord)
INSERT_ACCESS = insert(ACCESS)
INSERT_CHECK_RECORD = insert(CHECK_RECORD)

_STATUS = CARD_STATUS_STATEMENT.subquery("card_status")
# A card check's whole read in one round trip: revocation, registration link, renewal, and the linked
# person's view (one row per qualification version; person columns empty when nobody is linked).
CARD_READ_STATEMENT = (
    select(
        _STATUS,
        PERSON,
        *_view_columns(),
    )
    .select_from(
        _STATUS.outerjoin(PERSON, PERSON.c.id == _STATUS.c.link_person).outerjoin(
            VERSION, and_(VERSION.c.person_id == PERSON.c.id, VERSION.c.visible_from <= bindparam("moment")))
    )
)


def _spend_nonce(dialect: str) -> Any:
    """The nonce recorded as used, unless it already is (then no row changes): single use, atomically,
    however many server processes try at once. Issued nonces are not stored (``server.core.challenge``)."""
    return (insert_on_conflict(dialect)(NONCE)
            .values(value=bindparam("nonce"), clinic_code=bindparam("clinic"), reader_id=bindparam("reader"),
                    expires_at=bindparam("expires_at"), used=True)
            .on_conflict_do_nothing(index_elements=[NONCE.c.value]))


SPEND_NONCE = {dialect: _spend_nonce(dialect) for dialect in ("sqlite", "postgresql")}


def _spend_and_record_pg() -> Any:
    """PostgreSQL: the nonce used up and, only if that worked, the check record and its access record,
    in one statement (data-modifying CTEs); the access record's returned row says whether it worked."""
    used = SPEND_NONCE["postgresql"].returning(NONCE.c.value).cte("used")

    def values(table: Table, prefix: str, names: tuple[str, ...]) -> Any:
        return select(*(bindparam(f"{prefix}{n}", type_=table.c[n].type) for n in names)).select_from(used)

    check_columns = ("check_id", "clinic_code", "person_id", "at", "method", "medical_info", "withheld")
    access_columns = ("at", "clinic_code", "person_id", "action", "basis", "outcome")
    recorded = insert(CHECK_RECORD).from_select(
        list(check_columns), values(CHECK_RECORD, "c_", check_columns)).cte("recorded")
    return (insert(ACCESS).from_select(list(access_columns), values(ACCESS, "a_", access_columns))
            .add_cte(used).add_cte(recorded).returning(ACCESS.c.row_id))


SPEND_AND_RECORD_PG = _spend_and_record_pg()


async def number_candidates(db: CheckDb, insurer_number: str, number: str, birthdate: date,
                            moment: datetime, known: dict[str, core.Insurer]) -> list[core.RegistryView]:
    """:func:`candidates_for_numbers` on the hot path: one statement."""
    params = {"insurer_number": insurer_number, "number": number, "birthdate": birthdate, "moment": moment}
    return _views((await db.read(CANDIDATES_STATEMENT, params)).all(), known)


async def card_read(db: CheckDb, serial: str, moment: datetime, known: dict[str, core.Insurer]
                    ) -> tuple[bool, core.SerialLink, core.RegistryView | None]:
    """Revoked?, the registration link and the linked person's view: one statement (a renewed card's
    chain is followed with one more per renewal)."""
    rows = (await db.read(CARD_READ_STATEMENT, {"serial": serial, "moment": moment})).all()
    first = rows[0]
    link = _link_of(first)
    if link is None:
        link = await _follow_renewal(db, first.renewed_from, moment, 1)
        view = None
        if isinstance(link, core.LinkedPerson):
            params = {"person_id": link.person_id, "moment": moment}
            found = _views((await db.execute(VIEW_STATEMENT, params)).all(), known)
            view = found[0] if found else None
        return bool(first.revoked), link, view
    if not isinstance(link, core.LinkedPerson) or first.id is None:
        return bool(first.revoked), link, None
    return bool(first.revoked), link, _views(rows, known)[0]


async def _follow_renewal(db: CheckDb, serial: str, moment: datetime, depth: int) -> core.SerialLink:
    """:func:`resolve_serial` for the serial a card was renewed from."""
    row = (await db.execute(CARD_STATUS_STATEMENT, {"serial": serial, "moment": moment})).one()
    link = _link_of(row, follow=depth < 20)
    if link is None:
        return await _follow_renewal(db, row.renewed_from, moment, depth + 1)
    return link


def spend_nonce_statement(db: CheckDb, nonce: dict[str, Any]) -> Statement:
    """Records the nonce as used (``nonce``: its value, clinic, reader and expiry); as a required
    write, the request's later writes are skipped if it was used already."""
    return Statement(SPEND_NONCE[db.dialect], nonce, required=True)


async def spend_nonce_and_record(db: CheckDb, nonce: dict[str, Any], check: dict[str, Any],
                                 access: dict[str, Any]) -> bool:
    """Records the nonce as used (:func:`spend_nonce_statement`) and, only if it was not already,
    writes the check record and its access record, group-committed (``CheckDb.write``).
    PostgreSQL: one statement; SQLite: three inserts. False: the nonce had been used."""
    if db.dialect == "postgresql":
        # Prefixed: an INSERT takes any parameter named like one of its table's columns as a value.
        params = {**nonce, **{f"c_{k}": v for k, v in check.items()},
                  **{f"a_{k}": v for k, v in access.items()}}
        (recorded,) = await db.write(Statement(SPEND_AND_RECORD_PG, params))
        return len(recorded.all()) == 1  # the access record's row
    written = await db.write(spend_nonce_statement(db, nonce), Statement(INSERT_CHECK_RECORD, check),
                             Statement(INSERT_ACCESS, access))
    return len(written) == 3
