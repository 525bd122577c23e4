"""Specification of challenge nonces (server.core.challenge): signed, not stored.

A nonce tells the server, by itself, whether this server issued it, to which clinic's reader and
until when; anything else — another clinic's or reader's nonce, one issued under another key, an
altered or truncated one, a value that is not a nonce at all — reads as "not issued" (None).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.core.challenge import NONCE_BYTES, RANDOM_BYTES, issue_nonce, nonce_expiry

KEY = bytes(range(32))
CLINIC, READER = "1312345678", "reader-1"
EXPIRES = datetime(2026, 12, 4, 9, 30, 5, 123456, tzinfo=timezone(timedelta(hours=9)))
RANDOM = b"\x07" * RANDOM_BYTES


def nonce(**changes: object) -> str:
    args: dict[str, object] = {"key": KEY, "clinic": CLINIC, "reader_id": READER,
                               "expires_at": EXPIRES, "random": RANDOM, **changes}
    return issue_nonce(**args)  # type: ignore[arg-type]


def test_an_issued_nonce_reads_back_its_expiry_to_the_microsecond() -> None:
    expiry = nonce_expiry(KEY, nonce(), CLINIC, READER)
    assert expiry == EXPIRES
    assert expiry is not None and expiry.tzinfo == UTC


def test_a_nonce_is_base64url_without_padding_of_a_fixed_length() -> None:
    value = nonce()
    assert "=" not in value and "+" not in value and "/" not in value
    assert len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) == NONCE_BYTES


def test_two_nonces_differ_by_their_random_bytes() -> None:
    assert nonce(random=b"\x01" * RANDOM_BYTES) != nonce(random=b"\x02" * RANDOM_BYTES)


def test_nonces_issued_seconds_apart_begin_alike_and_those_days_apart_do_not() -> None:
    """The expiry leads: used nonces recorded close in time sit side by side in their index."""
    def issued(expires: datetime, fill: int) -> str:
        return nonce(expires_at=expires, random=bytes([fill]) * RANDOM_BYTES)

    first = issued(EXPIRES, 1)
    assert issued(EXPIRES + timedelta(seconds=2), 2)[:6] == first[:6]
    assert issued(EXPIRES + timedelta(days=2), 3)[:6] != first[:6]


@pytest.mark.parametrize(("key", "clinic", "reader"), [
    (bytes(32), CLINIC, READER),            # another server's key
    (KEY, "1312345679", READER),            # another clinic
    (KEY, CLINIC, "reader-2"),              # another reader of the clinic
    (KEY, "131234567", "8reader-1"),         # the same characters split otherwise
])
def test_a_nonce_is_not_issued_to_anyone_else(key: bytes, clinic: str, reader: str) -> None:
    assert nonce_expiry(key, nonce(), clinic, reader) is None


def test_an_altered_nonce_is_not_issued() -> None:
    raw = bytearray(base64.urlsafe_b64decode(nonce() + "=="))
    raw[7] ^= 0x01  # the expiry, moved by a microsecond
    altered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert nonce_expiry(KEY, altered, CLINIC, READER) is None


@pytest.mark.parametrize("value", ["", "not a nonce!", "A" * 10, "A" * 200, nonce()[:-4], nonce() + "AAAA"])
def test_values_that_are_not_nonces_are_not_issued(value: str) -> None:
    assert nonce_expiry(KEY, value, CLINIC, READER) is None


def test_the_random_part_has_a_fixed_size() -> None:
    with pytest.raises(ValueError, match="16 random bytes"):
        nonce(random=b"short")


@given(st.text(max_size=60))
def test_no_string_makes_the_reader_of_nonces_raise(value: str) -> None:
    assert nonce_expiry(KEY, value, CLINIC, READER) is None
