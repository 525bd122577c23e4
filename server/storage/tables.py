"""SQLModel tables of the mock central system.

Registry facts carry ``visible_from``: the moment the central system learnt them. A lookup at
moment *t* takes, per fact key, the latest version visible at *t* (see ``registry.py``). The
difference between a fact's domain date and its ``visible_from`` is the input lag (F1).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class Setting(SQLModel, table=True):
    """Small shared state: the simulated clock, faults, the CA key pair."""

    key: str = Field(primary_key=True, max_length=64)
    value: str


class Clinic(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=10)  # 医療機関コード, 10 digits
    name: str
    token_sha256: str


class Reader(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    clinic_code: str = Field(index=True, max_length=10)
    public_key_pem: str


class Insurer(SQLModel, table=True):
    number: str = Field(primary_key=True, max_length=8)
    name: str
    kind: str


class Person(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    name_kana: str
    birthdate: date
    sex: str
    address: str = ""
    post_number: str = ""
    name_of_other: str = ""
    name_of_other_kana: str = ""


class Persona(SQLModel, table=True):
    """A named fixture persona: who they are and which failure they demonstrate."""

    id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(index=True, max_length=64)
    failure: str | None = None
    title_ja: str = ""
    title_en: str = ""
    data: str = "{}"  # JSON: number-check numbers, expected outcome, notes


class QualificationVersion(SQLModel, table=True):
    """One version of a qualification record as an insurer registered it."""

    # Number checks look qualifications up by insurer number + number.
    __table_args__ = (Index("ix_qualificationversion_insurer_number", "insurer_number", "number"),)

    row_id: int | None = Field(default=None, primary_key=True)
    qualification_id: str = Field(index=True, max_length=64)
    person_id: str = Field(index=True, max_length=64)
    insurer_number: str = Field(max_length=8)
    number: str = Field(max_length=38)
    data: str  # JSON of server.core.model.Qualification without the insurer object
    visible_from: datetime = Field(index=True)
    withdrawn: bool = False  # the insurer deleted the record


SERIAL_LINK_INDEX = "ix_seriallink_serial_moment"


class SerialLink(SQLModel, table=True):
    """The registration index: certificate serial -> person (保険証利用登録)."""

    # The link as of a moment is the newest row visible then: read straight off this index (on the
    # serial alone, SQLite sorted the serial's rows in a temporary B-tree, twice per card check).
    __table_args__ = (Index(SERIAL_LINK_INDEX, "serial", "visible_from", "row_id"),)

    row_id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=64)
    person_id: str | None = Field(default=None, max_length=64)  # None: registration cancelled
    visible_from: datetime


class Certificate(SQLModel, table=True):
    """Certificates J-LIS issued (the mock CA's own book)."""

    serial: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(index=True, max_length=64)
    pem: str
    not_before: date
    not_after: date
    issued_at: datetime
    predecessor_serial: str | None = Field(default=None, max_length=64)


class RenewalLink(SQLModel, table=True):
    """J-LIS's old -> new serial link, as it reaches the central system (F12 when late)."""

    row_id: int | None = Field(default=None, primary_key=True)
    new_serial: str = Field(index=True, max_length=64)
    old_serial: str = Field(max_length=64)
    visible_from: datetime


class Revocation(SQLModel, table=True):
    serial: str = Field(primary_key=True, max_length=64)
    revoked_at: datetime


NO_PROVIDE_INDEX = "ix_noprovideflag_person_moment"


class NoProvideFlag(SQLModel, table=True):
    # The flag as of a moment is the newest row visible then: read straight off this index (without it,
    # SQLite sorted a person's rows in a temporary B-tree at every check).
    __table_args__ = (Index(NO_PROVIDE_INDEX, "person_id", "visible_from", "row_id"),)

    row_id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(max_length=64)
    active: bool
    visible_from: datetime


class Card(SQLModel, table=True):
    """The physical card as issued: what the reader emulator's virtual card is made from."""

    person_id: str = Field(primary_key=True, max_length=64)
    serial: str = Field(max_length=64)  # the current user-authentication certificate
    private_key_pem: str
    variant: str  # standard | face_only | infant
    # The PIN as the chip holds it: onshi.pins.pin_record as JSON (salted scrypt), never the digits.
    pin_hash: str | None = None  # None on face-only cards
    photo: str | None = None  # portrait name (astronaut, hopper) or None (infant)
    issued_on: date
    expires_on: date


class Phone(SQLModel, table=True):
    """The card's functions put on a phone (スマホ用電子証明書): its own key and certificate, linked to
    the person through its own serial in the registration index (``SerialLink``)."""

    phone_id: str = Field(primary_key=True, max_length=80)  # "<person_id>.<platform>"
    person_id: str = Field(index=True, max_length=64)
    platform: str = Field(max_length=16)  # android | iphone
    serial: str = Field(max_length=64)
    private_key_pem: str  # held in the phone's secure element; the reader emulator's virtual phone
    set_up_on: date
    not_after: date  # the phone certificate's last day
    card_serial: str = Field(max_length=64)  # the card certificate it was set up from


class MedicalRecord(SQLModel, table=True):
    row_id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(index=True, max_length=64)
    kind: str  # medication | clinical | operation | checkup
    recorded_on: date
    data: str  # JSON


class CheckRecord(SQLModel, table=True):
    """One completed check: what the clinic may view afterwards."""

    check_id: str = Field(primary_key=True, max_length=64)
    clinic_code: str = Field(max_length=10)
    person_id: str | None = Field(default=None, max_length=64)
    at: datetime
    method: str
    medical_info: str = ""  # comma-separated MedicalInfoKind values released at the check
    withheld: str = ""  # comma-separated WithheldReason values


class Nonce(SQLModel, table=True):
    value: str = Field(primary_key=True, max_length=64)
    clinic_code: str = Field(max_length=10)
    reader_id: str = Field(max_length=64)
    expires_at: datetime
    used: bool = False


class AccessRecord(SQLModel, table=True):
    """Every lookup: who (clinic), when, what, on what basis — what a person could inspect."""

    row_id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    clinic_code: str = Field(max_length=10)
    person_id: str | None = Field(default=None, index=True, max_length=64)
    action: str  # card_check | number_check | bulk_check | medical_info
    basis: str  # e.g. "card:face", "number", "consent:medication", "refused:no_provide_flag"
    outcome: str


class BulkReception(SQLModel, table=True):
    """A bulk check received (OQSmuquc01req, 一括照会): judged once, when first asked for at or after
    ``ready_at`` (as the registry stood at ``ready_at``); the queries and units are deleted at
    ``expires_at``, the row itself some time later (until then a download says "expired")."""

    reception_number: str = Field(primary_key=True, max_length=32)
    clinic_code: str = Field(index=True, max_length=10)
    file_identifier: str | None = Field(default=None, max_length=64)
    request_sha256: str = Field(max_length=64)  # a repeat of the same file is answered from this row
    received_at: datetime
    ready_at: datetime
    expires_at: datetime = Field(index=True)
    confirmation_date: date
    encoding: str = Field(max_length=1)  # CharacterCodeIdentifier of the request: the answer's default
    queries: str  # JSON: [{"echo": {...}, "info": {...} | null, "error": "<detail>" | null}]
    units: str | None = None  # JSON of the BulkConfirmUnits once judged
    judged_at: datetime | None = None
    purged: bool = False  # queries and units deleted after the retention time


class IdempotentAnswer(SQLModel, table=True):
    """The first answer to a request sent with an ``Idempotency-Key`` (see ``server.api.idempotency``)."""

    key_sha256: str = Field(primary_key=True, max_length=64)  # caller (clinic, token hash) + key
    request_sha256: str = Field(max_length=64)
    status: int
    headers: str  # JSON [[name, value], ...]
    body: bytes
    at: datetime = Field(index=True)
