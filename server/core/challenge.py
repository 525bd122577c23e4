"""Challenge nonces that need no storage until they are used.

A nonce carries what the server must know of it: its expiry (on the simulated clock), 16 random
bytes and a MAC over both and the clinic and reader it was issued to (HMAC-SHA256 under the
server's key, cut to 16 bytes). The expiry comes first so that nonces issued within seconds of each
other begin alike: recorded when used, they land side by side in the used nonces' index instead
of on a random page of it each. So the server tells from the nonce itself whether it issued it, to
whom and until when, and issuing one writes nothing. That a nonce is used only once is the
database's part: it is recorded when used, and a second use finds it (``server.storage.registry``).

Pure: the key, the moment and the random bytes come from the caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta

RANDOM_BYTES = 16
MAC_BYTES = 16
_EXPIRY = struct.Struct(">q")  # microseconds since the epoch (UTC)
NONCE_BYTES = RANDOM_BYTES + _EXPIRY.size + MAC_BYTES
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def nonce_bytes(nonce: str) -> bytes:
    """The bytes a challenge nonce stands for (base64url, padding optional): what the card signs and
    the reader attests. Raises ``ValueError`` (``binascii.Error``) for text that is not base64url."""
    return base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))


def _mac(key: bytes, body: bytes, clinic: str, reader_id: str) -> bytes:
    # The clinic and reader are length-prefixed: ("12", "3") and ("1", "23") sign differently.
    bound = b"".join(len(part).to_bytes(2, "big") + part
                     for part in (clinic.encode(), reader_id.encode()))
    return hmac.new(key, body + bound, hashlib.sha256).digest()[:MAC_BYTES]


def issue_nonce(key: bytes, clinic: str, reader_id: str, expires_at: datetime, random: bytes) -> str:
    """A nonce for ``clinic``'s reader ``reader_id``, good until ``expires_at`` (an aware datetime):
    base64url without padding, the form the reader sends back and whose bytes the card signs."""
    if len(random) != RANDOM_BYTES:
        raise ValueError(f"a nonce takes {RANDOM_BYTES} random bytes, not {len(random)}")
    micros = (expires_at - _EPOCH) // timedelta(microseconds=1)
    body = _EXPIRY.pack(micros) + random
    raw = body + _mac(key, body, clinic, reader_id)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def nonce_expiry(key: bytes, nonce: str, clinic: str, reader_id: str) -> datetime | None:
    """When ``nonce`` expires (UTC) if this key issued it to ``clinic``'s reader ``reader_id``; None
    for any other value (another clinic's or reader's, altered, issued under another key, not a
    nonce at all)."""
    try:
        raw = nonce_bytes(nonce)
    except ValueError:
        return None
    if len(raw) != NONCE_BYTES:
        return None
    body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, body, clinic, reader_id)):
        return None
    (micros,) = _EXPIRY.unpack(body[:_EXPIRY.size])
    return _EPOCH + timedelta(microseconds=micros)
