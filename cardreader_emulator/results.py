"""Handing results to clinic software as the real product does.

- ``OQSsiquc01res_face_<YYYYMMDDHHmmss>.xml`` in the configured folder and encoding. The file is
  written under a hidden temporary name and renamed, so a program watching the folder never reads
  half a file. Two checks in the same second: the later one takes the next free second (the name
  format stays exactly the real one).
- Written as the real reader writes it (file order ``reader``, the default): the declaration
  ``<?xml version="1.0" encoding="UTF-8" standalone="no"?>``, the header in the reader's order
  (ProcessExecutionTime, CharacterCodeIdentifier, SegmentOfResult, QualificationConfirmationDate,
  ReferenceClassification, ArbitraryFileIdentifier, MedicalInstitutionCode), the body with
  ResultList first, then ProcessingResultStatus and QualificationValidity, the result's elements in
  the order a real 2023 face file has them, and a 16-character base64-like ArbitraryFileIdentifier
  the reader makes up. File order ``schema`` writes the spec's fixed order instead (what our XSD
  validates). Choose with ``ONSHI_READER_FILE_ORDER=reader|schema`` or the ``order`` argument.
- A check by smartphone (the マイナ保険証 on a phone, read on the 汎用カードリーダー) keeps exactly the
  real element set; the file carries one XML comment after the declaration saying so
  (``<!-- 確認方法: スマートフォン（iPhone・生体認証） / method: smartphone (iPhone, biometrics) -->``),
  which XML readers skip. The console notification carries ``medium``, ``platform`` and ``method``.
- ``POST {console}/api/console/reader-results`` telling the clinic console.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from cardreader_emulator.errors import ReaderError
from cardreader_emulator.screens import medium_text
from onshi import xmlcodec
from onshi.codes import CharacterCodeIdentifier, CheckMedium
from onshi.messages import READER_RESULT_PREFIX, ResultMessage
from onshi.timeutil import JST, parse_timestamp

log = logging.getLogger("onshi.reader")


def encoding_of(name: str) -> CharacterCodeIdentifier:
    """The result file's encoding from its name (the names the XML codec accepts)."""
    encoding = xmlcodec.character_code(name)
    if encoding is None:
        raise ValueError(f"unknown encoding {name!r}; use utf-8 or shift_jis")
    return encoding


def result_message(result: dict[str, Any], encoding: CharacterCodeIdentifier) -> ResultMessage:
    message = xmlcodec.decode_json(json.dumps(result, ensure_ascii=False), ResultMessage)
    header = message.MessageHeader.model_copy(update={"CharacterCodeIdentifier": encoding})
    return message.model_copy(update={"MessageHeader": header})


FileOrder = Literal["reader", "schema"]
FILE_ORDERS: tuple[FileOrder, ...] = ("reader", "schema")
ENV_FILE_ORDER = "ONSHI_READER_FILE_ORDER"

# The element order of a real face-auth reader's result file (a clinic program's 2023 test fixture,
# values anonymised: hangilc/myclinic-ts, the onshi-face test). Elements the file did not have
# follow in the spec's order.
READER_ORDER: xmlcodec.ElementOrder = {
    "MessageHeader": (
        "ProcessExecutionTime", "CharacterCodeIdentifier", "SegmentOfResult", "QualificationConfirmationDate",
        "ReferenceClassification", "ArbitraryFileIdentifier", "MedicalInstitutionCode",
    ),
    "MessageBody": ("ResultList", "ProcessingResultStatus", "QualificationValidity"),
    "ResultOfQualificationConfirmation": (
        "Address", "SpecificHealthCheckupsInfoConsTime", "DiagnosisInfoConsFlg",
        "SpecificHealthCheckupsInfoAvailableTime", "PersonalFamilyClassification", "Sex1",
        "SpecificDiseasesCertificateRelatedConsFlg", "Name", "InsurerNumber", "InsuredCardSymbol", "NameKana",
        "InsuredCardValidDate", "LimitApplicationCertificateRelatedConsFlg", "InsuredCardClassification",
        "InsuredBranchNumber", "Birthdate", "InsuredCertificateIssuanceDate", "InsuredIdentificationNumber",
        "PharmacistsInfoAvailableTime", "SpecificHealthCheckupsInfoConsFlg", "PharmacistsInfoConsTime",
        "PharmacistsInfoConsFlg", "InsurerName", "PostNumber",
    ),
}  # fmt: skip


def file_order(value: str | None = None) -> FileOrder:
    """``value`` or ``$ONSHI_READER_FILE_ORDER`` or ``reader``; anything else is a clear error."""
    chosen = (value or os.environ.get(ENV_FILE_ORDER) or "reader").strip().lower()
    for order in FILE_ORDERS:
        if chosen == order:
            return order
    raise ValueError(f"unknown result file order {chosen!r}; use reader or schema")


def file_identifier() -> str:
    """A new ArbitraryFileIdentifier as the real reader makes them: 16 base64 characters."""
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


def encode_result_file(message: ResultMessage, encoding: CharacterCodeIdentifier, order: FileOrder) -> bytes:
    if order == "schema":
        return xmlcodec.encode(message, encoding)
    return xmlcodec.encode(message, encoding, order=READER_ORDER, standalone=False)


def medium_comment(medium: str, platform: str | None, method: str | None) -> str | None:
    """The result file's comment for a check by smartphone (None for a card: its file stays as it was).

    >>> medium_comment("smartphone", "iphone", "biometric")
    '確認方法: スマートフォン（iPhone・生体認証） / method: smartphone (iPhone, biometrics)'
    """
    shown = medium_text({"medium": medium, "platform": platform, "method": method})
    return None if shown is None else f"確認方法: {shown['ja']} / method: {shown['en']}"


def with_comment(data: bytes, comment: str, encoding: CharacterCodeIdentifier) -> bytes:
    """``data`` (an XML document with its declaration) with ``<!-- comment -->`` after the declaration."""
    end = data.index(b"?>") + 2
    text = f"\n<!-- {comment.replace('--', '- -')} -->"
    return data[:end] + text.encode(encoding.codec, errors="xmlcharrefreplace") + data[end:]


def write_result_file(
    folder: Path,
    result: dict[str, Any],
    encoding: CharacterCodeIdentifier,
    moment: datetime | None = None,
    order: FileOrder | None = None,
    comment: str | None = None,
) -> Path:
    """Writes the reader's result file; the name's timestamp is the check's ProcessExecutionTime.
    ``comment`` (e.g. :func:`medium_comment`) goes after the declaration as an XML comment."""
    order = order or file_order()
    message = result_message(result, encoding)
    if order == "reader" or message.MessageHeader.ArbitraryFileIdentifier is None:
        # The real reader names each file with an identifier of its own making.
        header = message.MessageHeader.model_copy(update={"ArbitraryFileIdentifier": file_identifier()})
        message = message.model_copy(update={"MessageHeader": header})
    data = encode_result_file(message, encoding, order)
    if comment:
        data = with_comment(data, comment, encoding)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = message.MessageHeader.ProcessExecutionTime
    when = parse_timestamp(stamp) if stamp else (moment or datetime.now(JST))
    # Written in full under a hidden name, then hard-linked to the real name: a folder watcher
    # never sees half a file, and link() refuses an existing name, so no check overwrites another.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".reader-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        for _ in range(3600):
            path = folder / f"{READER_RESULT_PREFIX}{when.strftime('%Y%m%d%H%M%S')}.xml"
            try:
                os.link(tmp, path)
            except FileExistsError:
                when += timedelta(seconds=1)
                continue
            return path
    finally:
        os.unlink(tmp)
    raise RuntimeError(f"no free result file name in {folder}")


def notify_console(console_url: str | None, body: dict[str, Any], timeout: float = 5.0) -> bool:
    """Tells the clinic console; a console that is not running must not break the check."""
    if not console_url:
        return False
    try:
        response = httpx.post(
            console_url.rstrip("/") + "/api/console/reader-results", json=body, timeout=timeout
        )
        response.raise_for_status()
        return True
    except httpx.HTTPError as exc:
        log.warning("console %s not told: %s", console_url, exc)
        return False


def result_notice(
    reader_id: str,
    patient_ref: str | None,
    file: str | None,
    answer: dict[str, Any],
    *,
    medium: str = CheckMedium.CARD.value,
    platform: str | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    """What the console is told: the file, the answer, and how the patient checked in (``medium`` card
    or smartphone, the phone's ``platform``, the ``method``)."""
    return {
        "reader_id": reader_id,
        "patient_ref": patient_ref,
        "file": file,
        "check_id": answer.get("check_id"),
        "result": answer,
        "medium": medium,
        "platform": platform,
        "method": method,
    }


def error_notice(
    reader_id: str,
    patient_ref: str | None,
    error: ReaderError,
    detail: str = "",
    *,
    medium: str = CheckMedium.CARD.value,
    platform: str | None = None,
) -> dict[str, Any]:
    return {
        "reader_id": reader_id,
        "patient_ref": patient_ref,
        "reader_error": error.describe() | {"detail": detail},
        "medium": medium,
        "platform": platform,
    }
