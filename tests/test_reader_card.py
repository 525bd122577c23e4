"""Virtual cards: PIN held as a card holds it, lock after 3 wrong entries, kept across restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from cardreader_emulator.card import (
    CardStore,
    CardVariant,
    NoPin,
    PinNotVerified,
    VirtualCard,
    write_card,
)


@pytest.fixture(scope="module")
def key_and_cert() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test card")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(now).not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def make(tmp_path: Path, key_and_cert: tuple[str, str], variant: CardVariant = CardVariant.STANDARD,
         card_id: str = "taro") -> VirtualCard:
    key_pem, cert_pem = key_and_cert
    return write_card(
        tmp_path, card_id, person={"name": "山田 太郎", "name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ", "birthdate": "19800401"},
        variant=variant, certificate_pem=cert_pem, private_key_pem=key_pem,
        pin=None if variant is CardVariant.FACE_ONLY else "1234",
        photo_jpeg=None if variant is CardVariant.INFANT else b"\xff\xd8fake-jpeg",
        card_expires_on="2030-04-01",
    )


def test_pin_is_stored_as_a_salted_hash_never_in_clear(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    card = make(tmp_path, key_and_cert)
    for file in card.folder.iterdir():
        assert b"1234" not in file.read_bytes(), file.name
    state = json.loads((card.folder / "pin.json").read_text())
    assert set(state) >= {"salt", "hash", "remaining"}
    other = make(tmp_path, key_and_cert, card_id="jiro")
    assert json.loads((other.folder / "pin.json").read_text())["hash"] != state["hash"]  # salted


def test_three_wrong_pins_lock_the_card_and_the_lock_survives_a_restart(
    tmp_path: Path, key_and_cert: tuple[str, str]
) -> None:
    card = make(tmp_path, key_and_cert)
    first = card.verify_pin("0000")
    assert (first.ok, first.remaining, first.locked) == (False, 2, False)
    # The reader process restarts: a fresh object reads the same files.
    card = CardStore(tmp_path).get("taro")
    assert card.pin_remaining == 2
    assert card.verify_pin("1111").remaining == 1
    card = CardStore(tmp_path).get("taro")
    third = card.verify_pin("2222")
    assert (third.ok, third.remaining, third.locked) == (False, 0, True)
    card = CardStore(tmp_path).get("taro")
    assert card.pin_locked
    # Even the right PIN no longer opens a locked card.
    right = card.verify_pin("1234")
    assert (right.ok, right.locked) == (False, True)
    with pytest.raises(PinNotVerified):
        card.sign_nonce(b"nonce")


def test_right_pin_restores_the_counter(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    card = make(tmp_path, key_and_cert)
    card.verify_pin("9999")
    card.verify_pin("9998")
    assert card.verify_pin("1234").ok
    assert CardStore(tmp_path).get("taro").pin_remaining == 3


def test_malformed_pin_counts_as_wrong(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    card = make(tmp_path, key_and_cert)
    assert card.verify_pin("12345").remaining == 2


def test_card_signs_the_nonce_only_after_the_pin(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    pytest.importorskip("server.jlis.verify")  # the mock J-LIS signing helpers
    card = make(tmp_path, key_and_cert)
    with pytest.raises(PinNotVerified):
        card.sign_nonce(b"server nonce")
    assert card.verify_pin("1234").ok
    signature = card.sign_nonce(b"server nonce")
    cert = x509.load_pem_x509_certificate(key_and_cert[1].encode())
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, b"server nonce", padding.PKCS1v15(), hashes.SHA256())
    card.reset_session()  # card taken off the reader
    with pytest.raises(PinNotVerified):
        card.sign_nonce(b"another nonce")
    assert not hasattr(card, "private_key") and "key" not in card.summary()


def test_variants(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    face_only = make(tmp_path, key_and_cert, CardVariant.FACE_ONLY, "face_only")
    assert not face_only.has_pin and face_only.has_photo
    with pytest.raises(NoPin):
        face_only.verify_pin("1234")
    infant = make(tmp_path, key_and_cert, CardVariant.INFANT, "baby")
    assert infant.has_pin and not infant.has_photo
    assert CardStore(tmp_path).ids() == ["baby", "face_only"]
    assert infant.summary()["variant"]["code"] == "infant"


def test_bad_card_ids_are_refused(tmp_path: Path, key_and_cert: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        make(tmp_path, key_and_cert, card_id="../etc")
    with pytest.raises(KeyError):
        CardStore(tmp_path).get("../etc")
