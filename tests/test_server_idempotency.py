"""Idempotency-Key: a repeated lookup is answered from the record, never looked up (and recorded) twice."""

from __future__ import annotations

import uuid

import httpx

from onshi import xmlcodec
from tests.conftest import LiveServer
from tests.server_helpers import (
    PHARMACY_CODE,
    access_log,
    clinic_headers,
    number_check_message,
    post,
    problem,
)


def ask(server: LiveServer, key: str, persona: str = "healthy-employee",
        clinic: str | None = None) -> httpx.Response:
    message = number_check_message(server, persona)
    code = clinic or server.clinic_code
    message = message.model_copy(update={"MessageHeader": message.MessageHeader.model_copy(
        update={"MedicalInstitutionCode": code})})
    response = post(server, "/number-checks", content=xmlcodec.encode(message),
                    headers={**clinic_headers(server, code), "Content-Type": "application/xml",
                             "Idempotency-Key": key})
    assert response.status_code == 200, response.text
    return response


def test_a_repeat_with_the_same_key_is_answered_from_the_record(live_server: LiveServer) -> None:
    person = live_server.personas["healthy-employee"]["person_id"]
    before = len(access_log(live_server, person))
    key = f"bridge-{uuid.uuid4().hex}"
    first = ask(live_server, key)
    again = ask(live_server, key)
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"]
    assert len(access_log(live_server, person)) == before + 1  # one lookup, one access record

    # Another clinic using the same key gets its own answer (keys are scoped to the caller).
    other = ask(live_server, key, clinic=PHARMACY_CODE)
    assert "idempotent-replayed" not in other.headers
    assert len(access_log(live_server, person)) == before + 2


def test_the_same_key_for_another_request_is_refused(live_server: LiveServer) -> None:
    key = f"bridge-{uuid.uuid4().hex}"
    ask(live_server, key)
    message = number_check_message(live_server, "healthy-national")
    response = post(live_server, "/number-checks", content=xmlcodec.encode(message),
                    headers={**live_server.clinic_headers, "Content-Type": "application/xml",
                             "Idempotency-Key": key})
    problem(response, 422, "idempotency_key_reused")
    response = post(live_server, "/number-checks", content=xmlcodec.encode(message),
                    headers={**live_server.clinic_headers, "Content-Type": "application/xml",
                             "Idempotency-Key": "with space"})
    problem(response, 400, "idempotency_key_invalid")
