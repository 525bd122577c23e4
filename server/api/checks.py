"""The clinic API: number checks, card checks (challenge/response), medical info (bulk checks: bulk.py)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from onshi import xmlcodec
from onshi.codes import (
    AuthMethod,
    CharacterCodeIdentifier,
    CheckMedium,
    MedicalInfoKind,
    PrescriptionIssueSelect,
    ReferenceClassification,
    WithheldReason,
)
from onshi.messages import (
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
    ResultMessage,
    Text,
)
from onshi.timeutil import parse_ymd, today_jst
from server import presenting
from server.api.context import (
    AppContext,
    Clinic,
    ClinicIdentity,
    Context,
    DbSession,
    LazySession,
    ReaderEntry,
    SessionLike,
    encoding_from_query,
    headers_of,
    identify_clinic,
)
from server.api.lane import read_body
from server.api.problems import ApiProblem, not_found
from server.clock import aware_jst
from server.core import model as core
from server.core.challenge import RANDOM_BYTES, issue_nonce, nonce_expiry
from server.core.policy import DEFAULT_POLICY
from server.core.rules import check_card, check_number, normalize_insurer_number, release_refusal
from server.jlis import (
    CertificateAuthority,
    PresentedCertificate,
    attestation_payload,
    attested_method,
    nonce_bytes,
    present_certificate,
    required_proofs,
    verify_attestation,
    verify_card_signature,
)
from server.storage import registry, tables
from server.storage.checkdb import CheckDb, Statement, close_check_db, open_check_db

router = APIRouter(prefix="/api/v1", tags=["clinic"])
M = TypeVar("M", bound=BaseModel)

XML_TYPES = ("application/xml", "text/xml")


# --- request and response plumbing ----------------------------------------------------------


async def read_message(request: Request, model: type[M], max_bytes: int) -> M:
    """A request body as JSON or XML (by Content-Type), with clear errors for both."""
    return parse_message(await read_body(request), headers_of(request.scope), model, max_bytes)


def parse_message(body: bytes, headers: Mapping[str, str], model: type[M], max_bytes: int) -> M:
    """A request body as JSON or XML (by Content-Type), with clear errors for both."""
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type in XML_TYPES:
        return xmlcodec.decode(body, model, max_bytes=max_bytes)
    if content_type in ("application/json", ""):
        return xmlcodec.decode_json(body, model, max_bytes=max_bytes)
    raise ApiProblem(415, "media_type_unsupported", "送信形式が対応していません", "unsupported media type",
                     f"Content-Type {content_type!r}: send application/json or application/xml")


async def body_model(request: Request, model: type[M]) -> M:
    """A JSON body as FastAPI reads a declared body parameter, with the same errors (so the same 400
    ``request_invalid`` answers), for endpoints that take the ``Request`` (the check lane)."""
    body = await read_body(request)
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    value: Any = body
    main_type = headers_of(request.scope).get("content-type", "").split(";")[0].strip().lower()
    if main_type == "application/json" or main_type.endswith("+json"):
        try:  # pydantic's JSON reader in one pass; a body it refuses gets FastAPI's errors below
            return model.model_validate_json(body)
        except ValidationError:
            pass
        try:
            value = json.loads(body)  # the standard library's, as FastAPI's (orjson refuses lone surrogates)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                           "msg": "JSON decode error", "input": {},
                                           "ctx": {"error": exc.msg}}], body=exc.doc) from None
        except Exception as exc:  # not UTF-8 (or -16, -32): FastAPI's 400
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=value) from None


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body (as FastAPI documents a body parameter)."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}


def query_values(request: Request, *names: str) -> tuple[str | None, ...]:
    """Query parameters, read without parsing an empty query (the checks' usual case)."""
    if not request.scope.get("query_string"):
        return (None,) * len(names)
    query = request.query_params
    return tuple(query.get(name) for name in names)


def wants_xml(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        if fmt not in ("json", "xml"):
            raise ApiProblem(400, "format_unknown", "応答形式の指定が正しくありません", "unknown format",
                             f"format={fmt!r}: use json or xml")
        return fmt == "xml"
    accept = headers_of(request.scope).get("accept", "")
    return any(t in accept for t in XML_TYPES) and "application/json" not in accept


def respond(message: BaseModel, *, xml: bool, encoding: CharacterCodeIdentifier,
            headers: dict[str, str] | None = None) -> Response:
    if xml:
        return Response(
            xmlcodec.encode(message, encoding),
            media_type=f"application/xml; charset={xmlcodec.xml_encoding_name(encoding)}",
            headers=headers,
        )
    # pydantic-core writes the message's JSON itself (no dict of dicts, no second pass through json).
    return Response(message.__pydantic_serializer__.to_json(message, exclude_none=True),
                    media_type="application/json", headers=headers)


def respond_result(answer: presenting.Element, *, xml: bool, encoding: CharacterCodeIdentifier,
                   extra: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A check's answer (``presenting.result_element``): XML from the validated message; JSON written
    from the element as it is, after the extras (notes, withheld, ...) — the same document as the
    message model's JSON (tests/test_presenting.py), without building the models on the hot path."""
    if xml:
        return respond(ResultMessage.model_validate(answer), xml=True, encoding=encoding, headers=headers)
    return Response(orjson.dumps({**extra, "result": answer}), media_type="application/json",
                    headers=headers)


def record_access(session: Session, rows: list[dict[str, Any]]) -> None:
    """Access records as one Core insert (no ORM unit of work); ``rows`` as made by ``access_row``."""
    if rows:
        session.connection().execute(registry.INSERT_ACCESS, rows)


@dataclass(frozen=True)
class HotPath:
    ctx: AppContext
    session: LazySession  # for the per-process caches' reads on a miss (insurers, readers, clinics, CA)
    db: CheckDb  # the check's own statements (server.storage.checkdb)
    clinic: ClinicIdentity


class HotPathOf:
    """``async with HotPathOf(request) as hot``: what a check needs, without FastAPI's dependency
    injection (solving the Context, DbSession and Clinic dependencies, a dozen sub-dependencies with
    their header parameters, cost about a third of a number check's CPU). Same authentication
    (``identify_clinic``); a session only if a cache misses. A class, not an ``asynccontextmanager``:
    its generator cost ~4 % of a number check (callgrind)."""

    __slots__ = ("opened", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.opened: HotPath | None = None

    async def __aenter__(self) -> HotPath:
        ctx = self.request.app.state.context
        assert isinstance(ctx, AppContext)
        session = LazySession(ctx.engine)
        try:
            headers = headers_of(self.request.scope)
            clinic = identify_clinic(ctx, session, headers.get("x-medical-institution-code"),
                                     headers.get("authorization"))
            db = open_check_db(ctx.engine, ctx.settings.database_url, ctx.settings.database_schema)
        except BaseException:
            session.close()
            raise
        self.opened = HotPath(ctx, session, db, clinic)
        return self.opened

    async def __aexit__(self, *exc_info: object) -> None:
        opened, self.opened = self.opened, None
        if opened is not None:
            try:
                await close_check_db(opened.db)
            finally:
                opened.session.close()


# The clinic's credentials, documented as the Clinic dependency documents them elsewhere.
CLINIC_HEADERS: dict[str, Any] = {"parameters": [
    {"name": "x-medical-institution-code", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "医療機関コード (10 digits)"},
    {"name": "authorization", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "Bearer <clinic token>"},
]}


def access_row(now: datetime, clinic: str, person_id: str | None, action: str, basis: str,
               outcome: str) -> dict[str, Any]:
    return {"at": aware_jst(now), "clinic_code": clinic, "person_id": person_id, "action": action,
            "basis": basis, "outcome": outcome}


def outcome_of(result: core.EligibilityResult) -> str:
    if result.validity is not None:
        return f"validity:{result.validity.value}"
    return f"error:{result.code.value if result.code else ''}"


def check_institution(clinic: str, header_code: str) -> None:
    if header_code != clinic:
        raise ApiProblem(
            403, "institution_mismatch", "電文の医療機関コードが認証した医療機関と一致しません",
            "the message's MedicalInstitutionCode is not the authenticated clinic",
            f"MedicalInstitutionCode {header_code} != {clinic}",
        )


CONFIRMATION_DATE = "MessageHeader/QualificationConfirmationDate"


def message_date(text: str, path: str) -> date:
    """A YYYYMMDD field that matched its pattern but may still not be a calendar date (20261399)."""
    try:
        if len(text) == 8 and text.isascii() and text.isdigit():  # the usual case, without strptime
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return parse_ymd(text)
    except ValueError:
        raise xmlcodec.MessageError(
            "schema_invalid",
            f"{path} の値「{text}」は存在しない日付です。 / {path}: {text!r} is not a date.",
            path=path,
        ) from None


# --- number checks --------------------------------------------------------------------------


def _number_request(info: QualificationConfirmSearchInfo) -> core.NumberCheckRequest:
    return core.NumberCheckRequest(
        insurer_number=info.InsurerNumber,
        symbol=info.InsuredCardSymbol or "",
        number=info.InsuredIdentificationNumber,
        branch=info.InsuredBranchNumber,
        birthdate=message_date(info.Birthdate, "MessageBody/QualificationConfirmSearchInfo/Birthdate"),
        limit_consent=(info.LimitApplicationCertificateRelatedConsFlg or "0") == "1",
    )


def _number_check(ctx: AppContext, session: Session, info: QualificationConfirmSearchInfo, now: datetime,
                  day: date) -> core.EligibilityResult:
    """Judged for ``day`` (e.g. tomorrow for a bulk check) on the registry as the system knows it ``now``."""
    request = _number_request(info)
    candidates = registry.candidates_for_numbers(
        session, normalize_insurer_number(request.insurer_number), request.number.strip(), request.birthdate,
        aware_jst(now), ctx.insurers(session),
    )
    return check_number(request, candidates, day)


NUMBER_CHECK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": NumberCheckRequestMessage.model_json_schema()},
            "application/xml": {"schema": {"type": "string", "description": "OQSsiquc01req XML"}},
        },
    }
}
# format and encoding: read from the query by the endpoint itself (FastAPI's parameter solving cost
# ~20 µs a request), documented as FastAPI documents optional string parameters.
ANSWER_QUERY: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": name.title()}}
    for name in ("format", "encoding")
]


@router.post("/number-checks",
             openapi_extra={**NUMBER_CHECK_BODY, "parameters": ANSWER_QUERY + CLINIC_HEADERS["parameters"]},
             response_model=ResultMessage, summary="Number check (OQSsiquc01req → OQSsiquc01res)")
async def number_check(request: Request) -> Response:
    """Insurer number + symbol + number + branch + birth date, from a 資格確認書, an old card or the
    お知らせ."""
    fmt, encoding = query_values(request, "format", "encoding")
    async with HotPathOf(request) as hot:
        return await _number_check_answer(request, hot, fmt, encoding)


async def _number_check_answer(request: Request, hot: HotPath, format: str | None,
                               encoding: str | None) -> Response:
    ctx, session, db, clinic = hot.ctx, hot.session, hot.db, hot.clinic
    message = await read_message(request, NumberCheckRequestMessage, ctx.settings.max_body_bytes)
    header = message.MessageHeader
    check_institution(clinic.code, header.MedicalInstitutionCode)
    out_encoding = encoding_from_query(encoding) or header.CharacterCodeIdentifier
    now = ctx.now()
    info = message.MessageBody.QualificationConfirmSearchInfo
    day = message_date(header.QualificationConfirmationDate, CONFIRMATION_DATE)
    asked = _number_request(info)
    candidates = await registry.number_candidates(
        db, normalize_insurer_number(asked.insurer_number), asked.number.strip(), asked.birthdate,
        aware_jst(now), ctx.insurers(session))
    result = check_number(asked, candidates, day)
    access = access_row(now, clinic.code, result.person_id, "number_check", "number", outcome_of(result))
    await db.write(Statement(registry.INSERT_ACCESS, access))
    answer = presenting.result_element(
        result, executed_at=now, confirmation_date=day, institution_code=clinic.code,
        reference=ReferenceClassification.INSURED_CARD_INFO, encoding=out_encoding,
        file_identifier=header.ArbitraryFileIdentifier, search_info=info,
    )
    return respond_result(answer, xml=wants_xml(request, format) or _is_xml(request), encoding=out_encoding,
                          extra=_extras(result))


def _is_xml(request: Request) -> bool:
    """An XML request gets an XML answer unless JSON is asked for explicitly."""
    headers = headers_of(request.scope)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in XML_TYPES and "application/json" not in headers.get("accept", "")


def _extras(result: core.EligibilityResult, smartphone: bool = False) -> dict[str, Any]:
    return {
        "notes": presenting.describe_results(result.codes, smartphone=smartphone),
        "withheld": presenting.describe_all(result.withheld),
        "medical_info": sorted(k.value for k in result.medical_info),
    }


# --- card checks ----------------------------------------------------------------------------


class ChallengeRequest(BaseModel):
    reader_id: Text = Field(min_length=1, max_length=64)


class Challenge(BaseModel):
    nonce: str = Field(description="base64url; sign the decoded bytes")
    expires_at: datetime


class ConsentAnswers(BaseModel):
    medication: bool = False
    clinical: bool = False
    operation: bool = False
    checkup: bool = False
    limit_bracket: bool = False
    prescription: Literal["1", "2"] = "2"


class CardCheckSubmission(BaseModel):
    reader_id: Text = Field(min_length=1, max_length=64)
    nonce: Text = Field(min_length=8, max_length=128)
    certificate_pem: str = Field(min_length=1, max_length=20_000)
    method: Literal["pin", "face", "visual", "biometric"] = Field(
        description="card: pin | face | visual; smartphone: pin (Android, the card's PIN on the reader) or "
                    "biometric (iPhone, Face ID / Touch ID on the phone)")
    medium: Literal["card", "smartphone"] = Field(
        default="card",
        description="smartphone: the card's functions on a phone held on the 汎用カードリーダー")
    card_signature: str | None = Field(
        default=None, max_length=2_000,
        description="pin, and every smartphone check: the card's (phone's) key's signature over the nonce")
    reader_attestation: str | None = Field(default=None, max_length=2_000)
    consents: ConsentAnswers = Field(default_factory=ConsentAnswers)
    arbitrary_file_identifier: Text | None = Field(default=None, max_length=64)
    encoding: Literal["utf-8", "shift_jis"] = "utf-8"


def _reader(ctx: AppContext, session: SessionLike, clinic: str, reader_id: str) -> ReaderEntry:
    reader = ctx.reader(session, reader_id)
    if reader is None or reader.clinic_code != clinic:
        raise ApiProblem(403, "reader_unknown", "登録されていないカードリーダーです", "unknown card reader",
                         f"reader {reader_id!r} is not registered for medical institution {clinic}")
    return reader


@router.post("/card-checks/challenge", response_model=Challenge, tags=["card check"],
             openapi_extra={**json_body(ChallengeRequest), **CLINIC_HEADERS})
async def card_check_challenge(request: Request) -> Response:
    """Step 1: a one-time nonce for the reader to have signed (single use, 60 s on the simulated clock)."""
    body = await body_model(request, ChallengeRequest)
    async with HotPathOf(request) as hot:
        return await _challenge(body, hot)


async def _challenge(body: ChallengeRequest, hot: HotPath) -> Response:
    ctx, session, clinic = hot.ctx, hot.session, hot.clinic
    _reader(ctx, session, clinic.code, body.reader_id)
    expires = ctx.now() + timedelta(seconds=ctx.settings.nonce_seconds)
    # Signed, not stored: the nonce says itself to whom it was issued and until when.
    nonce = issue_nonce(ctx.challenge_key(session), clinic.code, body.reader_id, expires,
                        secrets.token_bytes(RANDOM_BYTES))
    # Answered as Challenge (response_model) but encoded directly: no second validation pass.
    return Response(orjson.dumps({"nonce": nonce, "expires_at": expires}), media_type="application/json")


def _b64(value: str | None, field: str) -> bytes:
    if not value:
        raise ApiProblem(400, f"{field}_missing", "署名がありません", "signature missing",
                         f"{field} is required for this method")
    try:
        altchars = b"-_" if "-" in value or "_" in value else None
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiProblem(400, f"{field}_malformed", "署名の形式が正しくありません", "signature is not base64",
                         f"{field}: {exc}") from exc


def _nonce_expiry(ctx: AppContext, session: SessionLike, body: CardCheckSubmission, clinic: str,
                  now: datetime) -> datetime:
    """The nonce's expiry, if it was issued to this clinic's reader and has not expired; else why not
    (unknown, then expired). Whether it was used already, only the database can say."""
    expires_at = nonce_expiry(ctx.challenge_key(session), body.nonce, clinic, body.reader_id)
    if expires_at is None:
        raise ApiProblem(400, "nonce_unknown", "チャレンジ値が発行されていません", "unknown nonce",
                         "ask /card-checks/challenge for a nonce with this reader first")
    if expires_at < now:
        raise ApiProblem(400, "nonce_expired", "チャレンジ値の有効期限が切れています", "nonce expired",
                         f"expired at {aware_jst(expires_at).isoformat()} (JST); ask for a new one")
    return expires_at


def _nonce_replayed() -> ApiProblem:
    return ApiProblem(400, "nonce_replayed", "このチャレンジ値は使用済みです（再送・リプレイ）",
                      "nonce already used (replay)", "every card check needs a fresh nonce")


def _verify_proof(body: CardCheckSubmission, reader: ReaderEntry,
                  ca: CertificateAuthority) -> PresentedCertificate:
    """The certificate (issued by the mock J-LIS) and its proof: the card's signature over the nonce
    (PIN) or the reader's attestation (face, visual). No database: keys and certificates are parsed
    once per distinct bytes and a verified certificate is remembered (server.jlis); revocation is the
    registry's, read per check."""
    nonce = nonce_bytes(body.nonce)  # (a nonce this server issued: base64url)
    cert = present_certificate(body.certificate_pem)
    ca.verify(cert.certificate)
    smartphone = _medium_of(body, cert) is CheckMedium.SMARTPHONE
    signature, attestation = required_proofs(body.method, smartphone)
    if signature:
        verify_card_signature(cert.certificate, nonce, _b64(body.card_signature, "card_signature"))
    if attestation:
        attested = attested_method(body.method, smartphone)
        payload = attestation_payload(nonce, cert.der, attested, body.reader_id)
        verify_attestation(reader.public_key_pem, payload,
                           _b64(body.reader_attestation, "reader_attestation"))
    return cert


PHONE_METHODS = frozenset({AuthMethod.PIN.value, AuthMethod.BIOMETRIC.value})


def _medium_of(body: CardCheckSubmission, cert: PresentedCertificate) -> CheckMedium:
    """The medium the certificate itself says (a phone's carries its policy); the reader's claim and
    method must agree with it."""
    medium = CheckMedium.SMARTPHONE if cert.smartphone else CheckMedium.CARD
    if body.medium != medium.value:
        raise ApiProblem(400, "medium_mismatch", "証明書の種類と確認方法が一致しません",
                         "the certificate does not match the medium",
                         f"the certificate is a {medium.en}'s ({medium.ja}), but the reader sent "
                         f"medium {body.medium!r}")
    if medium is CheckMedium.SMARTPHONE and body.method not in PHONE_METHODS:
        raise ApiProblem(400, "method_not_for_smartphone", "スマートフォンでは使えない本人確認方法です",
                         "method not possible with a smartphone",
                         f"method {body.method!r}: a smartphone check is pin (Android) or biometric (iPhone)")
    if medium is CheckMedium.CARD and body.method == AuthMethod.BIOMETRIC.value:
        raise ApiProblem(400, "method_not_for_card", "カードでは使えない本人確認方法です",
                         "method not possible with a card",
                         "biometric is the iPhone's Face ID / Touch ID; a card check is pin, face or visual")
    return medium


async def _judge_card(ctx: AppContext, session: SessionLike, db: CheckDb, body: CardCheckSubmission,
                      cert: PresentedCertificate, now: datetime) -> core.EligibilityResult:
    """The registry as of now (one statement), then the rules."""
    revoked, link, view = await registry.card_read(db, cert.serial, aware_jst(now), ctx.insurers(session))
    status = core.CertificateStatus(serial=cert.serial, not_before=cert.not_before, not_after=cert.not_after,
                                    revoked=revoked)
    consents = core.Consents(
        medication=body.consents.medication, clinical=body.consents.clinical,
        operation=body.consents.operation, checkup=body.consents.checkup,
        limit_bracket=body.consents.limit_bracket,
        prescription=PrescriptionIssueSelect(body.consents.prescription),
    )
    return check_card(core.CardCheckRequest(certificate=status, link=link, consents=consents), view,
                      today_jst(now))


def new_check_id() -> str:
    """32 hex digits (as a UUID's hex), the first 12 the wall clock's milliseconds, then 80 random
    bits: check records made close in time sit side by side in their key's index, instead of each on
    a random page of it (a UUID4); still unguessable."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def _joined(values: Iterable[Enum]) -> list[str]:
    return [str(v.value) for v in values]


@router.post("/card-checks", tags=["card check"], summary="Step 2: card check at the reader",
             openapi_extra={**json_body(CardCheckSubmission),
                            "parameters": ANSWER_QUERY[:1] + CLINIC_HEADERS["parameters"]})
async def card_check(request: Request) -> Response:
    """The reader sends the card's certificate and proof: the card's signature over the nonce (PIN)
    or the reader's signed attestation (face, visual check), plus the consent answers.

    The nonce is read first (unknown or another clinic's or reader's, then expired: refused), then
    the proof is verified (no database), then the registry is read (one statement), then the nonce
    is recorded as used together with the check and access records (already used: refused as a
    replay, nothing written). A failed proof still uses the nonce up, so a replay stays impossible;
    a replayed nonce is told before the proof's problem."""
    body = await body_model(request, CardCheckSubmission)
    async with HotPathOf(request) as hot:
        return await _card_check(body, request, hot, *query_values(request, "format"))


async def _card_check(body: CardCheckSubmission, request: Request, hot: HotPath,
                      format: str | None) -> Response:
    ctx, session, db, clinic = hot.ctx, hot.session, hot.db, hot.clinic
    reader = _reader(ctx, session, clinic.code, body.reader_id)
    now = ctx.now()
    nonce = {"nonce": body.nonce, "clinic": clinic.code, "reader": body.reader_id,
             "expires_at": aware_jst(_nonce_expiry(ctx, session, body, clinic.code, now))}
    try:
        cert = _verify_proof(body, reader, ctx.ca(session))
    except Exception:
        # A used nonce stays used even though the proof failed; a replay is told first.
        (recorded,) = await db.write(registry.spend_nonce_statement(db, nonce))
        if recorded.rowcount != 1:
            raise _nonce_replayed() from None
        raise
    result = await _judge_card(ctx, session, db, body, cert, now)
    moment = aware_jst(now)
    check_id = new_check_id()
    spent = await registry.spend_nonce_and_record(
        db, nonce, {
            "check_id": check_id, "clinic_code": clinic.code, "person_id": result.person_id, "at": moment,
            "method": attested_method(body.method, body.medium == CheckMedium.SMARTPHONE.value),
            "medical_info": ",".join(sorted(_joined(result.medical_info))),
            "withheld": ",".join(_joined(result.withheld)),
        }, access_row(now, clinic.code, result.person_id, "card_check", f"{body.medium}:{body.method}",
                      outcome_of(result)))
    if not spent:
        raise _nonce_replayed()
    out_encoding = encoding_from_query(body.encoding) or CharacterCodeIdentifier.UTF8
    smartphone = body.medium == CheckMedium.SMARTPHONE.value
    answer = presenting.result_element(
        result, executed_at=now, confirmation_date=today_jst(now), institution_code=clinic.code,
        reference=ReferenceClassification.MY_NUMBER_CARD, encoding=out_encoding,
        file_identifier=body.arbitrary_file_identifier, consent_time=now, smartphone=smartphone,
    )
    extra = {"check_id": check_id, "medium": body.medium, "method": body.method,
             **_extras(result, smartphone)}
    return respond_result(answer, xml=wants_xml(request, format), encoding=out_encoding, extra=extra,
                          headers={"X-Check-Id": check_id})


# The endpoints served past FastAPI's router (server/api/lane.py).
LANE = {"/api/v1/number-checks": number_check, "/api/v1/card-checks/challenge": card_check_challenge,
        "/api/v1/card-checks": card_check}


# --- medical information --------------------------------------------------------------------


def _refusal(session: Session, record: tables.CheckRecord, kind: MedicalInfoKind,
             now: datetime) -> tuple[str, str] | None:
    """Why ``kind`` may not be released now (reason code, bilingual text), or None.

    Decided at release time, not only at the card check: what was consented then, the consent's
    AvailableTime (consent + 24 h, as in the answer), and the no-provide flag as the registry knows it now.
    """
    released = set(filter(None, record.medical_info.split(",")))
    consented_at, moment = aware_jst(record.at), aware_jst(now)
    flag_now = (kind.value in released and record.person_id is not None
                and registry.no_provide(session, record.person_id, moment))
    reasons = release_refusal(
        kind.value, released, [WithheldReason(w) for w in filter(None, record.withheld.split(","))],
        consented_at, moment, no_provide_now=flag_now,
    )
    if not reasons:
        return None
    if reasons == (WithheldReason.CONSENT_EXPIRED,):
        until = DEFAULT_POLICY.consent_available_until(consented_at).strftime("%Y-%m-%d %H:%M:%S")
        expired = reasons[0]
        return expired.value, (
            f"{expired.ja}（{until}、同意から24時間）。カードリーダーで改めて資格確認と同意を行ってください。"
            f" / {expired.en} ({until} JST, 24 h after consent); check the card at the reader again."
        )
    if flag_now:
        flag = reasons[0]
        return flag.value, f"{flag.ja}（資格確認の後に設定されました） / {flag.en} (set after the check)"
    return reasons[0].value, "; ".join(f"{r.ja} / {r.en}" for r in reasons)


@router.get("/medical-info/{check_id}/{kind}", tags=["medical info"])
def medical_info(check_id: Text, kind: str, ctx: Context, session: DbSession,
                 clinic: Clinic) -> dict[str, Any]:
    """Medication, clinical, surgery or check-up records: only as consented at that card check, within the
    consent's AvailableTime, and not once the patient's no-provide flag is set. Every answer is recorded."""
    try:
        info_kind = MedicalInfoKind(kind)
    except ValueError as exc:
        allowed = ", ".join(k.value for k in MedicalInfoKind)
        raise ApiProblem(400, "kind_unknown", "情報の種類が正しくありません", "unknown information kind",
                         f"{kind!r}: use one of {allowed}") from exc
    record = session.get(tables.CheckRecord, check_id)
    if record is None or record.clinic_code != clinic.code:
        raise not_found("資格確認の記録", check_id)
    now = ctx.now()
    refusal = _refusal(session, record, info_kind, now)
    if refusal is not None:
        reason, text = refusal
        record_access(session, [access_row(now, clinic.code, record.person_id, "medical_info",
                                           f"refused:{reason}", f"kind:{info_kind.value}")])
        session.commit()
        raise ApiProblem(403, "information_not_provided", "この情報は提供できません",
                         "this information cannot be provided", text)
    rows = session.exec(
        select(tables.MedicalRecord)
        .where(tables.MedicalRecord.person_id == record.person_id,
               tables.MedicalRecord.kind == info_kind.value)
        .order_by(col(tables.MedicalRecord.recorded_on).desc())
    ).all()
    record_access(session, [access_row(now, clinic.code, record.person_id, "medical_info",
                                       f"consent:{info_kind.value}", f"records:{len(rows)}")])
    session.commit()
    return {
        "check_id": check_id,
        "kind": info_kind.value,
        "label_ja": info_kind.ja,
        "label_en": info_kind.en,
        "records": [{"recorded_on": r.recorded_on.isoformat(), **json.loads(r.data)} for r in rows],
    }
