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


@contextlib.contextmanager
def _pin_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".pin.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_pin(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "pin.json").read_text(encoding="utf-8")))


def _write_pin(folder: Path, state: dict[str, Any]) -> None:
    _atomic_write(folder / "pin.json", json.dumps(state, indent=1).encode())


def verify_pin_file(folder: Path, pin: str) -> PinResult:
    """One PIN entry against the PIN record in ``folder/pin.json`` (a card's, or a phone's own when its
    card is not in the tray). The counter goes down *before* the comparison, under a file lock."""
    with _pin_lock(folder):
        state = _read_pin(folder)
        remaining = int(state["remaining"])
        if remaining <= 0:
            return PinResult(ok=False, remaining=0, locked=True)
        state["remaining"] = remaining - 1  # pessimistic: counted before the comparison
        _write_pin(folder, state)
        well_formed = bool(PIN_PATTERN.match(pin))
        expected = bytes.fromhex(state["hash"])
        actual = _hash_pin(pin if well_formed else "", bytes.fromhex(state["salt"]))
        if well_formed and hmac.compare_digest(actual, expected):
            state["remaining"] = PIN_TRIES
            _write_pin(folder, state)
            return PinResult(ok=True, remaining=PIN_TRIES, locked=False)
        left = remaining - 1
        return PinResult(ok=False, remaining=left, locked=left <= 0)


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

    def _pin_lock(self) -> contextlib.AbstractContextManager[None]:
        return _pin_lock(self.folder)

    def _read_pin(self) -> dict[str, Any]:
        return _read_pin(self.folder)

    def _write_pin(self, state: dict[str, Any]) -> None:
        _write_pin(self.folder, state)

    def verify_pin(self, pin: str) -> PinResult:
        """Checks a PIN entry. Wrong entries count down; at zero the card is locked for good."""
        if not self.has_pin:
            raise NoPin("this card has no PIN")
        result = verify_pin_file(self.folder, pin)
        if result.ok:
            self._pin_verified = True
        return result

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
        return _sign_with_key_in(self.folder, nonce)

    def reset_session(self) -> None:
        """Card taken off the reader: the chip forgets the verified PIN."""
        self._pin_verified = False


def _sign_with_key_in(folder: Path, nonce: bytes) -> bytes:
    """The chip's (or the phone's secure element's) signature over the nonce; the key is read for
    this one signature and dropped."""
    from server.jlis import rsa_private_key_from_pem, sign_nonce

    key = rsa_private_key_from_pem((folder / "key.pem").read_bytes())
    try:
        return sign_nonce(key, nonce)
    finally:
        del key


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

    def phone_ids(self) -> list[str]:
        if not self.cards_dir.is_dir():
            return []
        return sorted(p.name for p in self.cards_dir.iterdir() if (p / "phone.json").is_file())

    def phone(self, phone_id: str) -> VirtualPhone:
        if not CARD_ID_PATTERN.match(phone_id) or not (self.cards_dir / phone_id / "phone.json").is_file():
            raise KeyError(phone_id)
        return VirtualPhone(self.cards_dir / phone_id)

    def phones(self) -> list[VirtualPhone]:
        return [self.phone(phone_id) for phone_id in self.phone_ids()]


# --- smartphones with the card's functions (スマホ用電子証明書) -------------------------------------


PHONE_PLATFORMS = ("android", "iphone")


class PhoneLocked(CardError):
    """The phone signs only after its holder was confirmed (Android: the PIN; iPhone: Face ID)."""


class VirtualPhone:
    """A smartphone carrying the card's functions: its OWN key pair and user-authentication certificate
    (own serial, issued by the mock J-LIS at set-up), linked to the same person in the registry.

    ``<cards_dir>/<phone_id>/phone.json`` (public: platform, person, certificate, dates) and ``key.pem``
    (the phone's private key). ``phone_id`` is ``<person_id>.<platform>``. Android: the holder types the
    card's 4-digit PIN on the reader and the phone checks it against the card's PIN record, sharing the
    card's 3-try lock: when the card is in the same tray the counter IS the card's ``pin.json``; a phone
    whose card is not in the tray keeps a copy of the record (``pin.json`` beside it). iPhone: the holder
    confirms on the phone itself (Face ID / Touch ID)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        data = json.loads((folder / "phone.json").read_text(encoding="utf-8"))
        self.phone_id: str = data["phone_id"]
        self.platform: str = data["platform"]
        self.person: dict[str, Any] = data["person"]
        self.person_id: str = data["person_id"]
        self.certificate_pem: str = data["certificate_pem"]
        self.serial: str | None = data.get("serial")
        self.set_up_on: str | None = data.get("set_up_on")
        self.certificate_not_after: str | None = data.get("certificate_not_after")
        self.card_serial: str | None = data.get("card_serial")
        self._unlocked = False

    @property
    def is_android(self) -> bool:
        return self.platform == "android"

    def certificate_der(self) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        cert = x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))
        return cert.public_bytes(Encoding.DER)

    def pin_folder(self) -> Path | None:
        """Where the PIN record the phone checks lives: the card's in this tray, else the phone's copy."""
        card = self.folder.parent / self.person_id
        if (card / "card.json").is_file() and (card / "pin.json").is_file():
            return card
        return self.folder if (self.folder / "pin.json").is_file() else None

    @property
    def pin_remaining(self) -> int:
        folder = self.pin_folder()
        return int(_read_pin(folder)["remaining"]) if folder is not None else 0

    def summary(self) -> dict[str, Any]:
        """What the counter panel and logs show (no key, no PIN)."""
        return {
            "phone_id": self.phone_id,
            "platform": self.platform,
            "person_id": self.person_id,
            "name": self.person.get("name", ""),
            "name_kana": self.person.get("name_kana", ""),
            "birthdate": self.person.get("birthdate", ""),
            "serial": self.serial,
            "set_up_on": self.set_up_on,
            "certificate_not_after": self.certificate_not_after,
            "pin_remaining": self.pin_remaining if self.is_android else None,
            "pin_locked": self.is_android and self.pin_remaining <= 0,
        }

    def verify_pin(self, pin: str) -> PinResult:
        """Android: the card's 4-digit PIN typed on the reader, checked against the shared record."""
        if not self.is_android:
            raise ValueError("an iPhone is confirmed on the phone (Face ID / Touch ID), not by a PIN")
        folder = self.pin_folder()
        if folder is None:
            raise NoPin("no PIN record for this phone")
        result = verify_pin_file(folder, pin)
        self._unlocked = result.ok
        return result

    def confirm_biometric(self, ok: bool) -> bool:
        """iPhone: the holder's Face ID / Touch ID on the phone (``ok`` stands for its outcome)."""
        if self.is_android:
            raise ValueError("an Android phone is confirmed by the PIN on the reader")
        self._unlocked = ok
        return ok

    def sign_nonce(self, nonce: bytes) -> bytes:
        """The phone signs the server's nonce with its own key, only after its holder was confirmed."""
        if not self._unlocked:
            raise PhoneLocked("confirm the holder first (PIN or biometrics)")
        return _sign_with_key_in(self.folder, nonce)

    def reset_session(self) -> None:
        self._unlocked = False


def write_phone(cards_dir: Path, material: dict[str, Any]) -> VirtualPhone:
    """Writes (or overwrites) a phone from the registry's phone material (``GET /admin/phones/{id}``)."""
    phone_id = str(material["phone_id"])
    platform = str(material["platform"])
    if platform not in PHONE_PLATFORMS:
        raise ValueError(f"unknown phone platform {platform!r}; expected android or iphone")
    if not CARD_ID_PATTERN.match(phone_id):
        raise ValueError(f"phone id {phone_id!r}: use letters, digits, '_', '-', '.'")
    person = material["person"]
    folder = cards_dir / phone_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pin.json").unlink(missing_ok=True)
    data = {
        "phone_id": phone_id,
        "platform": platform,
        "person_id": person["id"],
        "person": {k: person.get(k, "") for k in ("name", "name_kana", "birthdate", "sex", "address")},
        "certificate_pem": material["certificate_pem"],
        "serial": material.get("serial"),
        "set_up_on": material.get("set_up_on"),
        "certificate_not_after": material.get("certificate_not_after"),
        "card_serial": material.get("card_serial"),
    }
    _atomic_write(folder / "key.pem", str(material["private_key_pem"]).encode("ascii"))
    os.chmod(folder / "key.pem", 0o600)
    pin_hash = material.get("pin_hash")
    if platform == "android" and pin_hash is not None:
        if not is_pin_record(pin_hash):
            raise ValueError("pin_hash: not a PIN record (salt, hash)")
        state = {"salt": pin_hash["salt"], "hash": pin_hash["hash"], "remaining": PIN_TRIES,
                 "scrypt": pin_hash.get("scrypt") or _SCRYPT}
        _write_pin(folder, state)
    _atomic_write(folder / "phone.json", json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    return VirtualPhone(folder)
