"""The bulk check (一括照会) as the real system does it: two steps, results ready later.

1. ``POST /api/v1/bulk-checks/receptions``: OQSmuquc01req → at once OQSmuquc01res, the receipt
   (ReceptionNumber, ReceptionDateTime). Nothing is looked up yet.
2. ``POST /api/v1/bulk-checks/results``: OQSmuquc02req (ReceptionNumber) → OQSmuquc02res. Before the results
   are ready: SegmentOfResult 2 with ErrorCode B202 (and ``Retry-After``); an unknown number, or another
   clinic's: 9 / B404 (the same answer, so a clinic cannot learn other clinics' numbers); after the
   retention time: 9 / B410. Always HTTP 200 with the message: it is the answer, as in the real exchange.

``POST /api/v1/bulk-checks`` stays as a shorthand (not in the real system): both steps at once, results
judged at once and answered as OQSmuquc02res; the reception is stored like any other.

Decisions:
- Results become ready ``Settings.bulk_ready_seconds`` after the receipt on the simulated clock (default
  600 s) and are judged once, at the first download at or after that moment, on the registry as it
  stood at ``ready_at`` (the moment the central system processed the batch). Their access records are
  written then, one per valid query, dated ``ready_at``. A repeated download answers the stored units.
- Queries and units are deleted ``bulk_retention_seconds`` after ``ready_at`` (default 7 days); the
  reception row stays ``PURGE_GRACE`` longer so a late download says "expired" rather than "unknown".
- Each query is judged alone: a wrong one (format, impossible date) is one error unit (E101) with what was
  wrong; the file is refused (4xx problem) only when it cannot be read as a whole (see
  ``xmlcodec.decode_bulk_request``).
- A repeat of the same file (same clinic, same ArbitraryFileIdentifier, same bytes) while its reception
  is kept gets the same receipt: a client that lost the answer (a crash, a timeout) can ask again
  without a second batch and without second lookups.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from onshi import xmlcodec
from onshi.codes import BulkCode, CharacterCodeIdentifier
from onshi.messages import (
    BulkCheckRequestMessage,
    BulkConfirmUnit,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    BulkResultMessage,
    QualificationConfirmSearchInfo,
)
from onshi.timeutil import today_jst
from server import presenting
from server.api.checks import (
    CONFIRMATION_DATE,
    XML_TYPES,
    _is_xml,
    _number_check,
    access_row,
    check_institution,
    message_date,
    outcome_of,
    read_message,
    record_access,
    respond,
    wants_xml,
)
from server.api.context import AppContext, Clinic, Context, DbSession, encoding_from_query
from server.api.problems import ApiProblem
from server.clock import aware_jst
from server.storage import tables

router = APIRouter(prefix="/api/v1", tags=["bulk check"])

RECEPTION = tables.BulkReception
PURGE_GRACE = timedelta(days=30)  # after the retention time: "expired" this long, then "unknown"


def _xml_body(request: Request) -> bool:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type in XML_TYPES:
        return True
    if content_type in ("application/json", ""):
        return False
    raise ApiProblem(415, "media_type_unsupported", "送信形式が対応していません", "unsupported media type",
                     f"Content-Type {content_type!r}: send application/json or application/xml")


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``#/$defs/…`` references replaced by the definitions: inside an OpenAPI
    document those references would point at the document's root, where there is no ``$defs``."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve({**definitions[ref.removeprefix("#/$defs/")],
                                **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _request_body(model: type[Any], kind: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_refs(model.model_json_schema())},
                "application/xml": {"schema": {"type": "string", "description": f"{kind} XML"}},
            },
        }
    }


# --- step 1: the receipt ----------------------------------------------------------------------


def _purge(session: Session, now: datetime) -> None:
    """Deletes the personal data of receptions past their retention time, and long-expired rows."""
    moment = aware_jst(now)
    session.connection().execute(
        update(RECEPTION)
        .where(col(RECEPTION.expires_at) <= moment, col(RECEPTION.purged).is_(False))
        .values(purged=True, queries="[]", units=None)
    )
    session.connection().execute(delete(RECEPTION).where(col(RECEPTION.expires_at) <= moment - PURGE_GRACE))


async def _receive(request: Request, ctx: AppContext, session: Session, clinic: str,
                   ready_after: float) -> tables.BulkReception:
    body = await request.body()
    read = xmlcodec.decode_bulk_request(body, xml=_xml_body(request), max_bytes=ctx.settings.max_body_bytes)
    header = read.header
    check_institution(clinic, header.MedicalInstitutionCode)
    if len(read.queries) > ctx.settings.max_bulk_queries:
        raise ApiProblem(413, "bulk_too_large", "一括照会の件数が多すぎます",
                         "too many queries in one bulk check",
                         f"{len(read.queries)} queries; at most {ctx.settings.max_bulk_queries}")
    day = message_date(header.QualificationConfirmationDate, CONFIRMATION_DATE)
    now = ctx.now()
    _purge(session, now)
    digest = hashlib.sha256(body).hexdigest()
    if header.ArbitraryFileIdentifier:
        repeat = session.exec(select(RECEPTION).where(
            RECEPTION.clinic_code == clinic, RECEPTION.file_identifier == header.ArbitraryFileIdentifier,
            RECEPTION.request_sha256 == digest, col(RECEPTION.purged).is_(False),
        )).first()
        if repeat is not None:
            session.commit()
            return repeat
    queries = [
        {"echo": q.echo,
         "info": q.info.model_dump(mode="json", exclude_none=True) if q.info is not None else None,
         "error": q.error.detail if q.error is not None else None}
        for q in read.queries
    ]
    ready_at = now + timedelta(seconds=ready_after)
    row = tables.BulkReception(
        reception_number=secrets.token_hex(8).upper(), clinic_code=clinic,
        file_identifier=header.ArbitraryFileIdentifier, request_sha256=digest,
        received_at=aware_jst(now), ready_at=aware_jst(ready_at),
        expires_at=aware_jst(ready_at + timedelta(seconds=ctx.settings.bulk_retention_seconds)),
        confirmation_date=day, encoding=header.CharacterCodeIdentifier.value,
        queries=json.dumps(queries, ensure_ascii=False),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


@router.post("/bulk-checks/receptions", openapi_extra=_request_body(BulkCheckRequestMessage, "OQSmuquc01req"),
             response_model=BulkReceiptMessage,
             summary="Bulk check step 1 一括照会要求 (OQSmuquc01req → receipt OQSmuquc01res)")
async def bulk_reception(request: Request, ctx: Context, session: DbSession, clinic: Clinic,
                         format: str | None = None, encoding: str | None = None) -> Response:
    """Receives the queries and answers the receipt at once; ask for the results with its ReceptionNumber
    (step 2) once they are ready (``bulk_ready_seconds`` later on the simulated clock)."""
    row = await _receive(request, ctx, session, clinic.code, ctx.settings.bulk_ready_seconds)
    out_encoding = encoding_from_query(encoding) or CharacterCodeIdentifier(row.encoding)
    out = presenting.to_bulk_receipt(
        executed_at=ctx.now(), received_at=aware_jst(row.received_at), institution_code=clinic.code,
        encoding=out_encoding, file_identifier=row.file_identifier, reception_number=row.reception_number,
    )
    return respond(out, xml=wants_xml(request, format) or _is_xml(request), encoding=out_encoding)


# --- step 2: the results ----------------------------------------------------------------------


def _judge(ctx: AppContext, session: Session, row: tables.BulkReception,
           now: datetime) -> list[BulkConfirmUnit]:
    """The units of a ready reception: judged once (as of ``ready_at``), then answered from the row."""
    if row.units is not None:
        return [BulkConfirmUnit.model_validate(u) for u in json.loads(row.units)]
    moment = aware_jst(row.ready_at)
    units: list[BulkConfirmUnit] = []
    accessed = []
    for index, query in enumerate(json.loads(row.queries), start=1):
        reference = f"{index:06d}"
        if query["info"] is None:
            units.append(presenting.to_error_unit(query["echo"], detail=query["error"] or "",
                                                  reference_number=reference))
            continue
        info = QualificationConfirmSearchInfo.model_validate(query["info"])
        try:
            result = _number_check(ctx, session, info, moment, row.confirmation_date)
        except xmlcodec.MessageError as exc:  # a pattern-valid but impossible date (19801332)
            units.append(presenting.to_error_unit(query["echo"], detail=exc.detail,
                                                  reference_number=reference))
            continue
        accessed.append(access_row(moment, row.clinic_code, result.person_id, "bulk_check", "number",
                                   outcome_of(result)))
        units.append(presenting.to_bulk_unit(result, search_info=info, reference_number=reference))
    stored = json.dumps([u.model_dump(mode="json", exclude_none=True) for u in units], ensure_ascii=False)
    # Only one download judges: a concurrent one finds units set and rolls its own work back.
    claimed = session.connection().execute(
        update(RECEPTION)
        .where(col(RECEPTION.reception_number) == row.reception_number, col(RECEPTION.units).is_(None))
        .values(units=stored, judged_at=aware_jst(now))
    )
    if claimed.rowcount != 1:
        session.rollback()
        again = session.get(RECEPTION, row.reception_number)
        assert again is not None and again.units is not None
        return [BulkConfirmUnit.model_validate(u) for u in json.loads(again.units)]
    record_access(session, accessed)
    session.commit()
    return units


def _results(
    ctx: AppContext, session: Session, clinic: str, number: str, encoding: CharacterCodeIdentifier | None,
    file_identifier: str | None,
) -> tuple[BulkResultMessage, dict[str, str]]:
    """OQSmuquc02res for ``number`` as this clinic may see it now, and extra HTTP headers."""
    now = ctx.now()
    row = session.get(RECEPTION, number)
    if row is None or row.clinic_code != clinic:
        return presenting.to_bulk_status_message(
            BulkCode.RECEPTION_UNKNOWN, executed_at=now, confirmation_date=today_jst(now),
            institution_code=clinic, encoding=encoding or CharacterCodeIdentifier.UTF8,
            file_identifier=file_identifier, reception_number=number,
            detail=f"ReceptionNumber {number}",
        ), {}
    status: dict[str, Any] = {
        "executed_at": now, "confirmation_date": row.confirmation_date, "institution_code": clinic,
        "encoding": encoding or CharacterCodeIdentifier(row.encoding),
        "file_identifier": file_identifier or row.file_identifier, "reception_number": number,
    }
    if row.purged or aware_jst(row.expires_at) <= aware_jst(now):
        until = aware_jst(row.expires_at).strftime("%Y-%m-%d %H:%M")
        return presenting.to_bulk_status_message(
            BulkCode.RESULT_EXPIRED, detail=f"（保存期限 / kept until {until} JST）", **status), {}
    ready_at = aware_jst(row.ready_at)
    if aware_jst(now) < ready_at:
        wait = (ready_at - aware_jst(now)).total_seconds()
        at = ready_at.strftime("%Y-%m-%d %H:%M:%S")
        return presenting.to_bulk_status_message(
            BulkCode.IN_PROGRESS, detail=f"（準備完了予定 / ready at {at} JST）", **status,
        ), {"Retry-After": str(max(1, math.ceil(wait)))}
    units = _judge(ctx, session, row, now)
    status["executed_at"] = ready_at
    del status["confirmation_date"]
    return presenting.to_bulk_message(units, confirmation_date=row.confirmation_date, **status), {}


@router.post("/bulk-checks/results", openapi_extra=_request_body(BulkDownloadRequestMessage, "OQSmuquc02req"),
             response_model=BulkResultMessage,
             summary="Bulk check step 2 一括照会ダウンロード (OQSmuquc02req → OQSmuquc02res)")
async def bulk_results(request: Request, ctx: Context, session: DbSession, clinic: Clinic,
                       format: str | None = None, encoding: str | None = None) -> Response:
    """The results of a reception: one BulkConfirmUnit per query once ready; before that SegmentOfResult 2
    (ErrorCode B202, header ``Retry-After``); 9 with B404 for a number this clinic does not have, B410
    after the retention time. HTTP 200 in every case: the message is the answer."""
    message = await read_message(request, BulkDownloadRequestMessage, ctx.settings.max_body_bytes)
    header = message.MessageHeader
    check_institution(clinic.code, header.MedicalInstitutionCode)
    out, headers = _results(ctx, session, clinic.code, message.MessageBody.ReceptionNumber,
                            encoding_from_query(encoding) or header.CharacterCodeIdentifier,
                            header.ArbitraryFileIdentifier)
    return respond(out, xml=wants_xml(request, format) or _is_xml(request),
                   encoding=out.MessageHeader.CharacterCodeIdentifier, headers=headers)


# --- both steps at once (ours) ----------------------------------------------------------------


@router.post("/bulk-checks", openapi_extra=_request_body(BulkCheckRequestMessage, "OQSmuquc01req"),
             response_model=BulkResultMessage,
             summary="Bulk check in one step (ours; OQSmuquc01req → OQSmuquc02res at once)")
async def bulk_check(request: Request, ctx: Context, session: DbSession, clinic: Clinic,
                     format: str | None = None, encoding: str | None = None) -> Response:
    """A shorthand the real system does not have: receipt and results at once. The reception is kept, so
    its ReceptionNumber (in the header) can also be downloaded with step 2."""
    row = await _receive(request, ctx, session, clinic.code, 0.0)
    out, headers = _results(ctx, session, clinic.code, row.reception_number, encoding_from_query(encoding),
                            None)
    return respond(out, xml=wants_xml(request, format) or _is_xml(request),
                   encoding=out.MessageHeader.CharacterCodeIdentifier, headers=headers)
