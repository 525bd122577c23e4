"""Helpers for clinic-software integration tests against a running onshi-sim server.

:func:`pin_card_check` plays the reader for a PIN check with a persona's card material from the
admin API (challenge → card signature over the nonce → submit). The reader emulator does the
same with a real state machine and face matching; this is for tests that need a card result
without a reader process.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from clinic_client.client import API, Call, OnshiClient, card_check_payload
from clinic_client.outcome import CheckOutcome
from server import jlis

ALL_CONSENTS = {
    "medication": True,
    "clinical": True,
    "operation": True,
    "checkup": True,
    "limit_bracket": True,
    "prescription": "1",
}


def sign_nonce(private_key_pem: str, nonce: str) -> str:
    """The card's PIN-path signature over ``nonce``, base64 as the card-check request carries it."""
    key = jlis.rsa_private_key_from_pem(private_key_pem.encode())
    return base64.b64encode(jlis.sign_nonce(key, jlis.nonce_bytes(nonce))).decode()


def pin_card_check(
    client: OnshiClient,
    persona: str,
    reader_id: str,
    consents: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], CheckOutcome]:
    """A PIN card check of ``persona``'s card; answers (raw JSON answer, outcome).

    ``client`` needs both the clinic and the admin token (card material is an admin resource).
    """
    card = client.card(persona)
    challenge = client.challenge(reader_id)
    payload = card_check_payload(
        reader_id=reader_id,
        nonce=challenge.nonce,
        certificate_pem=card["certificate_pem"],
        method="pin",
        card_signature=sign_nonce(card["private_key_pem"], challenge.nonce),
        consents=consents if consents is not None else ALL_CONSENTS,
    )
    raw: dict[str, Any] = client.run(Call("POST", f"{API}/card-checks", lambda r: r.json(), json=payload))
    return raw, CheckOutcome.from_card_check(raw)
