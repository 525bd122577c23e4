"""PINs kept as a card keeps them: a salted scrypt hash, never the digits.

One helper for the whole project: the reader emulator's virtual card (``pin.json``) and the mock
central system's card table hold the same record, so the server can hand a card's PIN to the
reader without ever storing or sending the digits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

PIN_PATTERN = re.compile(r"^\d{4}$")
SCRYPT: dict[str, int] = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_pin(pin: str, salt: bytes, params: dict[str, int] | None = None) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, **(params or SCRYPT))


def pin_record(pin: str) -> dict[str, Any]:
    """``{"salt", "hash", "scrypt"}`` for ``pin`` with a fresh salt (hex strings; JSON-ready)."""
    salt = secrets.token_bytes(16)
    return {"salt": salt.hex(), "hash": hash_pin(pin, salt).hex(), "scrypt": dict(SCRYPT)}


def pin_matches(record: dict[str, Any], pin: str) -> bool:
    """Whether ``pin`` is the PIN of ``record`` (constant-time; a malformed entry never matches)."""
    well_formed = bool(PIN_PATTERN.match(pin))
    params = {k: int(v) for k, v in (record.get("scrypt") or SCRYPT).items()}
    actual = hash_pin(pin if well_formed else "", bytes.fromhex(record["salt"]), params)
    return well_formed and hmac.compare_digest(actual, bytes.fromhex(record["hash"]))


def is_pin_record(value: Any) -> bool:
    """A well-formed record (as made by ``pin_record``), e.g. in card material from the server."""
    if not isinstance(value, dict) or not isinstance(value.get("salt"), str) or not isinstance(
            value.get("hash"), str):
        return False
    try:
        bytes.fromhex(value["salt"])
        bytes.fromhex(value["hash"])
    except ValueError:
        return False
    return True
