"""Virtual My Number cards as files.

One folder per card under the cards directory::

    <cards_dir>/<card_id>/card.json   card-face data, variant, expiry, the certificate (public)
    <cards_dir>/<card_id>/photo.jpg   the chip photo (absent on an infant's card)
    <cards_dir>/<card_id>/key.pem     the user-authentication private key (stays inside VirtualCard)
    <cards_dir>/<card_id>/pin.json    the PIN as a card holds it: salted scrypt hash + retry counter

The PIN can be verified but never read back. Its counter is decremented and written *before*
the comparison (as a chip does, so pulling the card mid-check cannot save a try) and restored
on success; every write is atomic (temp file + rename) under a file lock, so the count survives
restarts and concurrent readers. Three wrong entries lock the card.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from onshi.codes import Code
from onshi.pins import SCRYPT, hash_pin, is_pin_record

PIN_TRIES = 3
PIN_PATTERN = re.compile(r"^\d{4}$")
CARD_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SCRYPT = SCRYPT


class CardVariant(Code):
    STANDARD = ("standard", "マイナンバーカード", "standard card")
    FACE_ONLY = ("face_only", "顔認証マイナンバーカード（暗証番号なし）", "face-authentication card (no PIN)")
    INFANT = ("infant", "顔写真なしのカード（1歳未満）", "infant card without photo")


def variant_of(value: str) -> CardVariant:
    for variant in CardVariant:
        if variant.value == value:
            return variant
    raise ValueError(f"unknown card variant {value!r}; known: {', '.join(str(v) for v in CardVariant)}")


class CardError(Exception):
    pass


class PinNotVerified(CardError):
    """The card refuses to sign: its PIN has not been verified in this session."""


class PinLocked(CardError):
    pass


class NoPin(CardError):
    """A face-only card has no PIN at all."""


@dataclass(frozen=True)
class PinResult:
    ok: bool
    remaining: int
    locked: bool


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _hash_pin(pin: str, salt: bytes) -> bytes:
    return hash_pin(pin, salt)


class VirtualCard:
    """A card on the reader. Holds its private key and answers only the chip's questions."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        data = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        self.card_id: str = data["card_id"]
        self.variant = variant_of(data["variant"])
        self.person: dict[str, Any] = data["person"]
        self.person_id: str | None = data.get("person_id")
        self.persona: str | None = data.get("persona")
        self.expires_on = date.fromisoformat(data["card_expires_on"]) if data.get("card_expires_on") else None
        self.certificate_pem: str = data["certificate_pem"]
        self.is_my_number_card: bool = data.get("is_my_number_card", True)
        self.photo_source: str | None = data.get("photo_source")  # the shipped face it was made from
        self._pin_verified = False

    # --- what the reader can see ---------------------------------------------------------

    @property
    def photo_path(self) -> Path | None:
        path = self.folder / "photo.jpg"
        return path if path.exists() else None

    @property
    def has_photo(self) -> bool:
        return self.photo_path is not None

    @property
    def has_pin(self) -> bool:
        return (self.folder / "pin.json").exists()

    @property
    def pin_remaining(self) -> int:
        if not self.has_pin:
            return 0
        return int(self._read_pin()["remaining"])

    @property
    def pin_locked(self) -> bool:
        return self.has_pin and self.pin_remaining <= 0

    def certificate_der(self) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))
        return cert.public_bytes(Encoding.DER)

    def summary(self) -> dict[str, Any]:
        """Card-face data for screens and logs (no key, no PIN)."""
        return {
            "card_id": self.card_id,
            "variant": self.variant.describe(),
            "name": self.person.get("name", ""),
            "name_kana": self.person.get("name_kana", ""),
            "birthdate": self.person.get("birthdate", ""),
            "persona": self.persona,
            "person_id": self.person_id,
            "card_expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "has_photo": self.has_photo,
            "photo_source": self.photo_source,
            "has_pin": self.has_pin,
            "pin_remaining": self.pin_remaining,
            "pin_locked": self.pin_locked,
        }

    # --- the chip's PIN and key ----------------------------------------------------------

    @contextlib.contextmanager
    def _pin_lock(self) -> Iterator[None]:
        with open(self.folder / ".pin.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_pin(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / "pin.json").read_text(encoding="utf-8")))

    def _write_pin(self, state: dict[str, Any]) -> None:
        _atomic_write(self.folder / "pin.json", json.dumps(state, indent=1).encode())

    def verify_pin(self, pin: str) -> PinResult:
        """Checks a PIN entry. Wrong entries count down; at zero the card is locked for good."""
        if not self.has_pin:
            raise NoPin("this card has no PIN")
        with self._pin_lock():
            state = self._read_pin()
            remaining = int(state["remaining"])
            if remaining <= 0:
                return PinResult(ok=False, remaining=0, locked=True)
            state["remaining"] = remaining - 1  # pessimistic: counted before the comparison
            self._write_pin(state)
            well_formed = bool(PIN_PATTERN.match(pin))
            expected = bytes.fromhex(state["hash"])
            actual = _hash_pin(pin if well_formed else "", bytes.fromhex(state["salt"]))
            if well_formed and hmac.compare_digest(actual, expected):
                state["remaining"] = PIN_TRIES
                self._write_pin(state)
                self._pin_verified = True
                return PinResult(ok=True, remaining=PIN_TRIES, locked=False)
            left = remaining - 1
            return PinResult(ok=False, remaining=left, locked=left <= 0)

    def reset_pin(self, new_pin: str | None = None) -> None:
        """The municipal office (市区町村窓口) resets a locked PIN; only it can."""
        if not self.has_pin:
            raise NoPin("this card has no PIN")
        with self._pin_lock():
            state = self._read_pin()
            if new_pin is not None:
                if not PIN_PATTERN.match(new_pin):
                    raise ValueError("a card's PIN is 4 digits")
                salt = secrets.token_bytes(16)
                state.update(salt=salt.hex(), hash=_hash_pin(new_pin, salt).hex())
            state["remaining"] = PIN_TRIES
            self._write_pin(state)

    def sign_nonce(self, nonce: bytes) -> bytes:
        """The chip signs the server's nonce with the card key, only after the PIN was verified."""
        if not self._pin_verified:
            raise PinNotVerified("verify the PIN first")
        from server.jlis import rsa_private_key_from_pem, sign_nonce

        key = rsa_private_key_from_pem((self.folder / "key.pem").read_bytes())
        try:
            return sign_nonce(key, nonce)
        finally:
            del key

    def reset_session(self) -> None:
        """Card taken off the reader: the chip forgets the verified PIN."""
        self._pin_verified = False


# --- creating and finding cards ----------------------------------------------------------------


def write_card(
    cards_dir: Path,
    card_id: str,
    *,
    person: dict[str, Any],
    variant: CardVariant,
    certificate_pem: str,
    private_key_pem: str,
    pin: str | None,
    photo_jpeg: bytes | None,
    card_expires_on: str | None,
    person_id: str | None = None,
    persona: str | None = None,
    is_my_number_card: bool = True,
    photo_source: str | None = None,
    pin_hash: dict[str, Any] | None = None,
) -> VirtualCard:
    """Writes (or overwrites) a card's files. The PIN is stored only as a salted hash; ``pin_hash``
    (``onshi.pins.pin_record``, as the server's card material carries it) instead of the digits."""
    if pin_hash is not None and not is_pin_record(pin_hash):
        raise ValueError("pin_hash: not a PIN record (salt, hash)")
    if not CARD_ID_PATTERN.match(card_id):
        raise ValueError(f"card id {card_id!r}: use letters, digits, '_', '-', '.'")
    if variant is CardVariant.FACE_ONLY:
        pin = pin_hash = None
    elif (pin is None and pin_hash is None and variant is CardVariant.STANDARD) or (
            pin and not PIN_PATTERN.match(pin)):
        raise ValueError("a card's PIN is 4 digits")
    if variant is CardVariant.INFANT:
        photo_jpeg = None
    elif photo_jpeg is None:
        raise ValueError("this card variant needs a photo")
    folder = cards_dir / card_id
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("photo.jpg", "pin.json"):
        (folder / stale).unlink(missing_ok=True)
    data = {
        "card_id": card_id,
        "variant": variant.value,
        "person": person,
        "person_id": person_id,
        "persona": persona,
        "card_expires_on": card_expires_on,
        "certificate_pem": certificate_pem,
        "is_my_number_card": is_my_number_card,
        "photo_source": photo_source if photo_jpeg is not None else None,
    }
    _atomic_write(folder / "key.pem", private_key_pem.encode("ascii"))
    os.chmod(folder / "key.pem", 0o600)
    if photo_jpeg is not None:
        _atomic_write(folder / "photo.jpg", photo_jpeg)
    if pin is not None:
        salt = secrets.token_bytes(16)
        digest = _hash_pin(pin, salt).hex()
        state = {"salt": salt.hex(), "hash": digest, "remaining": PIN_TRIES, "scrypt": _SCRYPT}
        _atomic_write(folder / "pin.json", json.dumps(state, indent=1).encode())
    elif pin_hash is not None:
        state = {"salt": pin_hash["salt"], "hash": pin_hash["hash"], "remaining": PIN_TRIES,
                 "scrypt": pin_hash.get("scrypt") or _SCRYPT}
        _atomic_write(folder / "pin.json", json.dumps(state, indent=1).encode())
    _atomic_write(folder / "card.json", json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    return VirtualCard(folder)


class CardStore:
    """The tray of virtual cards next to the reader."""

    def __init__(self, cards_dir: Path) -> None:
        self.cards_dir = cards_dir

    def ids(self) -> list[str]:
        if not self.cards_dir.is_dir():
            return []
        return sorted(p.name for p in self.cards_dir.iterdir() if (p / "card.json").is_file())

    def get(self, card_id: str) -> VirtualCard:
        if not CARD_ID_PATTERN.match(card_id) or not (self.cards_dir / card_id / "card.json").is_file():
            raise KeyError(card_id)
        return VirtualCard(self.cards_dir / card_id)

    def all(self) -> list[VirtualCard]:
        return [self.get(card_id) for card_id in self.ids()]
