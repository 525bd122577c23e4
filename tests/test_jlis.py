"""Specifications of the mock J-LIS certificate authority (server.jlis).

Real X.509 and real signatures: a certificate is trusted only if this CA signed it, the PIN path
is the card key's signature over the server's nonce, the face/visual path is the registered
reader's attestation. Time validity is reported, never enforced, here.
"""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onshi.timeutil import JST
from server.jlis import (
    ATTESTATION_INVALID,
    CERTIFICATE_MALFORMED,
    CERTIFICATE_UNTRUSTED,
    CRL_INVALID,
    SIGNATURE_INVALID,
    USER_CERTIFICATE_CN,
    CertificateAuthority,
    VerificationError,
    attest,
    attestation_payload,
    certificate_dates,
    certificate_to_der,
    certificate_to_pem,
    certificate_validity,
    crl_to_pem,
    generate_device_key,
    generate_key,
    is_revoked,
    load_certificate,
    load_crl,
    present_certificate,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
    revoked_serials,
    sign_attestation,
    sign_nonce,
    verify_attestation,
    verify_card_signature,
    verify_issued_by,
)
from tests.server_helpers import certificate_with_unreadable_policies

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=JST)
BIRTHDATE = date(1980, 6, 1)
ISSUED_ON = date(2024, 3, 10)


# --- fixtures: key generation is slow, share per module ------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(NOW)


@pytest.fixture(scope="module")
def forger() -> CertificateAuthority:
    """Another CA claiming exactly the same name as ours, with its own key."""
    return CertificateAuthority.create(NOW)


@pytest.fixture(scope="module")
def card_key() -> rsa.RSAPrivateKey:
    return generate_key()


@pytest.fixture(scope="module")
def other_card_key() -> rsa.RSAPrivateKey:
    return generate_key()


@pytest.fixture(scope="module")
def card_cert(ca: CertificateAuthority, card_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return ca.issue_user_certificate(card_key.public_key(), holder_birthdate=BIRTHDATE, issued_on=ISSUED_ON)


@pytest.fixture(scope="module")
def reader_key() -> ec.EllipticCurvePrivateKey:
    return generate_device_key()


@pytest.fixture(scope="module")
def other_reader_key() -> ec.EllipticCurvePrivateKey:
    return generate_device_key()


def expect_error(code: str) -> AbstractContextManager[pytest.ExceptionInfo[VerificationError]]:
    return pytest.raises(VerificationError, match=f"^{code}")


# --- the validity rule: until the 5th birthday after issuance, inclusive -------------------


@pytest.mark.parametrize(
    ("birthdate", "issued_on", "last_day"),
    [
        # birthday still to come this year: it is the 1st, so the 5th is 4 years on
        (date(1980, 6, 1), date(2024, 3, 10), date(2028, 6, 1)),
        (date(1980, 6, 1), date(2024, 5, 31), date(2028, 6, 1)),
        # issued on the birthday: that one does not count, the 5th is 5 years on
        (date(1980, 6, 1), date(2024, 6, 1), date(2029, 6, 1)),
        # birthday already passed this year
        (date(1980, 6, 1), date(2024, 6, 2), date(2029, 6, 1)),
        (date(1980, 6, 1), date(2024, 12, 31), date(2029, 6, 1)),
        # New Year's Day birthday, issued on New Year's Eve
        (date(1990, 1, 1), date(2025, 12, 31), date(2030, 1, 1)),
    ],
)
def test_certificate_is_valid_until_the_fifth_birthday_after_issuance(
    birthdate: date, issued_on: date, last_day: date
) -> None:
    assert certificate_validity(birthdate, issued_on) == (issued_on, last_day)


@pytest.mark.parametrize(
    ("issued_on", "last_day"),
    [
        # after the 2025 birthday (28 Feb): 2026, 2027, 2028 (29 Feb), 2029, 2030 -> 28 Feb 2030
        (date(2025, 3, 1), date(2030, 2, 28)),
        # issued on 28 Feb of a non-leap year is issued *on* the birthday
        (date(2023, 2, 28), date(2028, 2, 29)),
        # 28 Feb of a leap year is the day before the birthday (29 Feb)
        (date(2024, 2, 28), date(2028, 2, 29)),
        (date(2024, 2, 29), date(2029, 2, 28)),
    ],
)
def test_leap_day_birthday_falls_on_28_february_in_other_years(issued_on: date, last_day: date) -> None:
    assert certificate_validity(date(2000, 2, 29), issued_on)[1] == last_day


def test_certificate_cannot_be_issued_before_birth() -> None:
    with pytest.raises(ValueError):
        certificate_validity(date(2026, 5, 1), date(2026, 4, 30))


def test_certificate_window_runs_from_midnight_to_the_last_second_of_the_fifth_birthday_jst(
    card_cert: x509.Certificate,
) -> None:
    assert card_cert.not_valid_before_utc == datetime.combine(ISSUED_ON, time(0, 0), JST)
    assert card_cert.not_valid_after_utc == datetime.combine(date(2028, 6, 1), time(23, 59, 59), JST)
    assert certificate_dates(card_cert) == certificate_validity(BIRTHDATE, ISSUED_ON)


# --- what the certificates contain ---------------------------------------------------------


def test_root_is_a_self_signed_rsa_2048_ca(ca: CertificateAuthority) -> None:
    root = ca.certificate
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    key = root.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert key.public_numbers().e == 65537
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert root.not_valid_before_utc < datetime(2015, 1, 1, tzinfo=JST) < NOW < root.not_valid_after_utc


def test_user_certificate_is_an_opaque_client_auth_certificate(
    ca: CertificateAuthority, card_cert: x509.Certificate
) -> None:
    assert card_cert.issuer == ca.certificate.subject
    assert [a.value for a in card_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [
        USER_CERTIFICATE_CN
    ]
    # No My Number (12 digits), no name, no digits at all in the subject.
    assert not any(ch.isdigit() for ch in card_cert.subject.rfc4514_string())
    assert card_cert.serial_number.bit_length() >= 64
    assert not card_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = card_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = card_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = card_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_serials_are_random_unless_given(ca: CertificateAuthority, card_key: rsa.RSAPrivateKey) -> None:
    def issue(serial: int | None = None) -> x509.Certificate:
        return ca.issue_user_certificate(
            card_key.public_key(), holder_birthdate=BIRTHDATE, issued_on=ISSUED_ON, serial=serial
        )

    assert issue().serial_number != issue().serial_number
    assert issue(serial=123456789).serial_number == 123456789


def test_card_keys_must_be_rsa_2048(ca: CertificateAuthority, reader_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError):
        ca.issue_user_certificate(
            reader_key.public_key(),  # type: ignore[arg-type]
            holder_birthdate=BIRTHDATE,
            issued_on=ISSUED_ON,
        )


def test_now_must_be_timezone_aware(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError):
        ca.build_crl([], datetime(2026, 11, 23, 10, 0))


# --- the chain check: only what this CA signed is trusted ----------------------------------


def test_genuine_certificate_verifies_from_pem_and_der(
    ca: CertificateAuthority, card_cert: x509.Certificate
) -> None:
    verify_issued_by(load_certificate(certificate_to_pem(card_cert)), ca.certificate)
    verify_issued_by(load_certificate(certificate_to_der(card_cert)), ca.certificate)
    verify_issued_by(card_cert, ca.anchor)


def test_certificate_from_another_ca_with_the_same_names_is_untrusted(
    ca: CertificateAuthority,
    forger: CertificateAuthority,
    card_key: rsa.RSAPrivateKey,
    card_cert: x509.Certificate,
) -> None:
    assert forger.certificate.subject == ca.certificate.subject
    forged = forger.issue_user_certificate(
        card_key.public_key(),
        holder_birthdate=BIRTHDATE,
        issued_on=ISSUED_ON,
        serial=card_cert.serial_number,
    )
    # Same issuer name, subject, serial and card key: only the CA's signature tells them apart.
    assert (forged.issuer, forged.subject, forged.serial_number) == (
        card_cert.issuer,
        card_cert.subject,
        card_cert.serial_number,
    )
    with expect_error(CERTIFICATE_UNTRUSTED) as caught:
        verify_issued_by(forged, ca.certificate)
    assert caught.value.code == "certificate_untrusted"


def test_tampered_certificate_is_untrusted(ca: CertificateAuthority, card_cert: x509.Certificate) -> None:
    der = bytearray(certificate_to_der(card_cert))
    der[-1] ^= 0x01  # the DER ends with the signature bit string
    tampered = load_certificate(bytes(der))
    assert tampered.serial_number == card_cert.serial_number
    with expect_error(CERTIFICATE_UNTRUSTED):
        verify_issued_by(tampered, ca.certificate)


def test_a_verified_certificate_vouches_for_no_other_certificate(
    ca: CertificateAuthority, forger: CertificateAuthority, card_key: rsa.RSAPrivateKey,
    card_cert: x509.Certificate
) -> None:
    """The CA remembers what it verified, by the very certificate: a forgery of the same serial, names
    and key is checked afresh, and so is the genuine certificate parsed again."""
    verify_issued_by(card_cert, ca.certificate)
    forged = forger.issue_user_certificate(card_key.public_key(), holder_birthdate=BIRTHDATE,
                                           issued_on=ISSUED_ON, serial=card_cert.serial_number)
    with expect_error(CERTIFICATE_UNTRUSTED):
        verify_issued_by(forged, ca.certificate)
    verify_issued_by(x509.load_der_x509_certificate(certificate_to_der(card_cert)), ca.certificate)


def test_certificate_with_another_issuer_name_is_untrusted(
    ca: CertificateAuthority, card_key: rsa.RSAPrivateKey
) -> None:
    stranger = CertificateAuthority.create(NOW, name="Some Other CA", key=card_key)
    cert = stranger.issue_user_certificate(
        generate_key().public_key(), holder_birthdate=BIRTHDATE, issued_on=ISSUED_ON
    )
    with expect_error(CERTIFICATE_UNTRUSTED):
        verify_issued_by(cert, ca.certificate)


def test_the_ca_certificate_itself_is_not_a_card_certificate(ca: CertificateAuthority) -> None:
    with expect_error(CERTIFICATE_UNTRUSTED):
        verify_issued_by(ca.certificate, ca.certificate)


def test_only_a_ca_certificate_can_be_a_trust_anchor(card_cert: x509.Certificate) -> None:
    with expect_error(CERTIFICATE_UNTRUSTED):
        verify_issued_by(card_cert, card_cert)


def test_expired_certificate_still_verifies_so_it_can_be_reported_as_expired(
    ca: CertificateAuthority, card_key: rsa.RSAPrivateKey
) -> None:
    old = ca.issue_user_certificate(
        card_key.public_key(), holder_birthdate=BIRTHDATE, issued_on=date(2016, 1, 15)
    )
    verify_issued_by(old, ca.certificate)
    assert certificate_dates(old) == (date(2016, 1, 15), date(2020, 6, 1))
    assert certificate_dates(old)[1] < NOW.date()


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n証明書\n-----END CERTIFICATE-----\n",
        b"\x30\x82\x01\x00garbage",
        random.Random(7).randbytes(64),  # fixed bytes: xdist workers must collect the same ids
    ],
)
def test_garbage_is_a_malformed_certificate(garbage: str | bytes) -> None:
    with expect_error(CERTIFICATE_MALFORMED):
        load_certificate(garbage)


def test_truncated_pem_is_a_malformed_certificate(card_cert: x509.Certificate) -> None:
    pem = certificate_to_pem(card_cert)
    with expect_error(CERTIFICATE_MALFORMED):
        load_certificate(pem[: len(pem) // 2] + "\n-----END CERTIFICATE-----\n")


def test_a_presented_certificate_carries_what_a_check_reads_off_it(
    ca: CertificateAuthority, card_key: rsa.RSAPrivateKey, card_cert: x509.Certificate
) -> None:
    card = present_certificate(certificate_to_pem(card_cert))
    assert card.certificate == card_cert
    assert card.der == certificate_to_der(card_cert)
    assert card.serial == str(card_cert.serial_number)
    assert (card.not_before, card.not_after) == certificate_dates(card_cert)
    assert not card.smartphone
    phone_cert = ca.issue_user_certificate(card_key.public_key(), holder_birthdate=BIRTHDATE,
                                           issued_on=ISSUED_ON, smartphone=True, last_day=date(2028, 6, 1))
    assert present_certificate(certificate_to_der(phone_cert)).smartphone


def test_a_certificate_presented_again_is_not_read_again(card_cert: x509.Certificate) -> None:
    pem = certificate_to_pem(card_cert)
    assert present_certificate(pem) is present_certificate(pem.encode())


def test_a_certificate_with_an_unreadable_extension_is_malformed(
    ca: CertificateAuthority, card_key: rsa.RSAPrivateKey
) -> None:
    """Refused when it is read, not later when a check asks whether it is a phone's."""
    with expect_error(CERTIFICATE_MALFORMED):
        present_certificate(certificate_to_pem(certificate_with_unreadable_policies(ca, card_key)))


# --- the card's signature over the nonce (PIN path) ----------------------------------------


def test_card_signature_over_the_nonce_verifies(
    card_key: rsa.RSAPrivateKey, card_cert: x509.Certificate
) -> None:
    nonce = os.urandom(32)
    verify_card_signature(card_cert, nonce, sign_nonce(card_key, nonce))


def test_signature_over_another_nonce_is_invalid(
    card_key: rsa.RSAPrivateKey, card_cert: x509.Certificate
) -> None:
    signature = sign_nonce(card_key, b"yesterday's nonce")
    with expect_error(SIGNATURE_INVALID):
        verify_card_signature(card_cert, b"today's nonce", signature)


def test_signature_by_another_card_key_is_invalid(
    other_card_key: rsa.RSAPrivateKey, card_cert: x509.Certificate
) -> None:
    nonce = os.urandom(32)
    with expect_error(SIGNATURE_INVALID):
        verify_card_signature(card_cert, nonce, sign_nonce(other_card_key, nonce))


def test_garbage_signature_is_invalid(card_cert: x509.Certificate) -> None:
    with expect_error(SIGNATURE_INVALID):
        verify_card_signature(card_cert, b"nonce", b"\x00" * 7)


# --- the reader's attestation (face / visual path) -----------------------------------------


@pytest.fixture(scope="module")
def payload(card_cert: x509.Certificate) -> bytes:
    return attestation_payload(b"\x01" * 32, certificate_to_der(card_cert), "face", "R-0001")


def test_attestation_payload_is_canonical_and_unambiguous() -> None:
    assert attestation_payload(b"n", b"c", "face", "R-1") == attestation_payload(b"n", b"c", "face", "R-1")
    # Moving a byte across a field boundary changes the payload.
    assert attestation_payload(b"ab", b"c", "face", "R") != attestation_payload(b"a", b"bc", "face", "R")
    assert attestation_payload(b"n", b"c", "face", "R-1") != attestation_payload(b"n", b"c", "visual", "R-1")


def test_attestation_payload_knows_only_pin_face_and_visual() -> None:
    with pytest.raises(ValueError):
        attestation_payload(b"n", b"c", "iris", "R-1")


def test_reader_attestation_verifies_with_the_registered_pem(
    reader_key: ec.EllipticCurvePrivateKey, payload: bytes
) -> None:
    signature = sign_attestation(reader_key, payload)
    verify_attestation(public_key_to_pem(reader_key.public_key()), payload, signature)
    verify_attestation(reader_key.public_key(), payload, signature)


def test_attest_signs_the_canonical_payload_with_the_readers_pem(
    reader_key: ec.EllipticCurvePrivateKey,
) -> None:
    nonce, der = b"n" * 32, b"certificate-der"
    signature = attest(private_key_to_pem(reader_key), nonce, der, "face", "R-1")
    verify_attestation(reader_key.public_key(), attestation_payload(nonce, der, "face", "R-1"), signature)
    with expect_error(ATTESTATION_INVALID):  # bound to the method: not valid for a visual check
        verify_attestation(reader_key.public_key(), attestation_payload(nonce, der, "visual", "R-1"),
                           signature)


def test_rsa_device_keys_are_accepted_too(other_card_key: rsa.RSAPrivateKey, payload: bytes) -> None:
    verify_attestation(
        public_key_to_pem(other_card_key.public_key()), payload, sign_attestation(other_card_key, payload)
    )


def test_attestation_over_a_tampered_payload_is_invalid(
    reader_key: ec.EllipticCurvePrivateKey, card_cert: x509.Certificate
) -> None:
    # The reader vouched for a visual check by staff; the request claims a face match.
    signed = attestation_payload(b"\x02" * 32, certificate_to_der(card_cert), "visual", "R-0001")
    claimed = attestation_payload(b"\x02" * 32, certificate_to_der(card_cert), "face", "R-0001")
    with expect_error(ATTESTATION_INVALID):
        verify_attestation(
            public_key_to_pem(reader_key.public_key()), claimed, sign_attestation(reader_key, signed)
        )


def test_attestation_by_another_readers_key_is_invalid(
    reader_key: ec.EllipticCurvePrivateKey, other_reader_key: ec.EllipticCurvePrivateKey, payload: bytes
) -> None:
    with expect_error(ATTESTATION_INVALID):
        verify_attestation(
            public_key_to_pem(reader_key.public_key()), payload, sign_attestation(other_reader_key, payload)
        )


def test_unreadable_device_key_makes_the_attestation_invalid(payload: bytes) -> None:
    with expect_error(ATTESTATION_INVALID):
        verify_attestation("-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n", payload, b"sig")


# --- revocation ----------------------------------------------------------------------------


def test_crl_lists_the_revoked_serial_and_its_signature_verifies(
    ca: CertificateAuthority, card_cert: x509.Certificate
) -> None:
    revoked_at = NOW - timedelta(hours=2)
    crl = ca.build_crl([(card_cert.serial_number, revoked_at), (42, revoked_at)], NOW)
    assert crl.is_signature_valid(ca.anchor.public_key)
    assert crl.issuer == ca.certificate.subject
    assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + timedelta(days=1)
    assert is_revoked(crl, card_cert.serial_number, ca.certificate)
    assert not is_revoked(crl, card_cert.serial_number + 1, ca.certificate)
    assert revoked_serials(crl, ca.certificate) == {card_cert.serial_number, 42}
    entry = crl.get_revoked_certificate_by_serial_number(card_cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == revoked_at.replace(microsecond=0)


def test_crl_round_trips_through_pem(ca: CertificateAuthority) -> None:
    crl = ca.build_crl([(7, NOW)], NOW)
    assert is_revoked(load_crl(crl_to_pem(crl)), 7, ca.certificate)


def test_crl_signed_by_another_ca_is_rejected(ca: CertificateAuthority, forger: CertificateAuthority) -> None:
    crl = forger.build_crl([(7, NOW)], NOW)
    with expect_error(CRL_INVALID):
        is_revoked(crl, 7, ca.certificate)
    with expect_error(CRL_INVALID):
        revoked_serials(crl, ca.certificate)


def test_garbage_crl_is_rejected() -> None:
    with expect_error(CRL_INVALID):
        load_crl("not a CRL")


# --- renewal -------------------------------------------------------------------------------


def test_renewal_gives_a_new_serial_and_fresh_validity(
    ca: CertificateAuthority, card_cert: x509.Certificate, other_card_key: rsa.RSAPrivateKey
) -> None:
    renewed = ca.renew(
        card_cert, other_card_key.public_key(), holder_birthdate=BIRTHDATE, renewed_on=date(2026, 11, 23)
    )
    assert renewed.serial_number != card_cert.serial_number
    # Renewed after the 2026 birthday: 2027 … 2031 -> 1 June 2031.
    assert certificate_dates(renewed) == (date(2026, 11, 23), date(2031, 6, 1))
    verify_issued_by(renewed, ca.certificate)


def test_renewal_needs_a_new_serial(
    ca: CertificateAuthority, card_cert: x509.Certificate, card_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ValueError):
        ca.renew(
            card_cert,
            card_key.public_key(),
            holder_birthdate=BIRTHDATE,
            renewed_on=date(2026, 11, 23),
            serial=card_cert.serial_number,
        )


def test_only_this_cas_certificates_can_be_renewed(
    ca: CertificateAuthority, forger: CertificateAuthority, card_key: rsa.RSAPrivateKey
) -> None:
    forged = forger.issue_user_certificate(
        card_key.public_key(), holder_birthdate=BIRTHDATE, issued_on=ISSUED_ON
    )
    with expect_error(CERTIFICATE_UNTRUSTED):
        ca.renew(forged, card_key.public_key(), holder_birthdate=BIRTHDATE, renewed_on=date(2026, 11, 23))


# --- PEM round trips -----------------------------------------------------------------------


def test_ca_round_trips_through_pem(ca: CertificateAuthority, card_cert: x509.Certificate) -> None:
    cert_pem, key_pem = ca.to_pem()
    restored = CertificateAuthority.from_pem(cert_pem, key_pem)
    assert restored.certificate == ca.certificate
    verify_issued_by(card_cert, restored.certificate)
    reissued = restored.issue_user_certificate(
        generate_key().public_key(), holder_birthdate=BIRTHDATE, issued_on=ISSUED_ON
    )
    verify_issued_by(reissued, ca.certificate)


def test_ca_refuses_a_key_that_is_not_its_own(ca: CertificateAuthority, forger: CertificateAuthority) -> None:
    with pytest.raises(ValueError):
        CertificateAuthority.from_pem(ca.to_pem()[0], forger.to_pem()[1])


def test_keys_and_certificates_round_trip_through_pem(
    card_key: rsa.RSAPrivateKey, card_cert: x509.Certificate, reader_key: ec.EllipticCurvePrivateKey
) -> None:
    loaded = private_key_from_pem(private_key_to_pem(card_key))
    assert isinstance(loaded, rsa.RSAPrivateKey)
    assert loaded.private_numbers() == card_key.private_numbers()
    device = private_key_from_pem(private_key_to_pem(reader_key).encode())
    assert isinstance(device, ec.EllipticCurvePrivateKey)
    assert public_key_from_pem(public_key_to_pem(reader_key.public_key())) == reader_key.public_key()
    assert load_certificate(certificate_to_pem(card_cert)) == card_cert
    assert load_certificate(certificate_to_pem(card_cert).encode()) == card_cert


def test_generated_keys_are_rsa_2048_and_p256(
    card_key: rsa.RSAPrivateKey, reader_key: ec.EllipticCurvePrivateKey
) -> None:
    assert card_key.key_size == 2048 and card_key.public_key().public_numbers().e == 65537
    assert isinstance(reader_key.curve, ec.SECP256R1)


# --- errors speak to people ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [CERTIFICATE_MALFORMED, CERTIFICATE_UNTRUSTED, SIGNATURE_INVALID, ATTESTATION_INVALID, CRL_INVALID],
)
def test_every_error_says_what_to_do_in_japanese_and_english(code: str) -> None:
    error = VerificationError(code, "detail for developers")
    assert error.code == code and error.detail == "detail for developers"
    assert error.message_ja and error.message_en and error.message_ja != error.message_en
    assert error.describe() == {"code": code, "ja": error.message_ja, "en": error.message_en}


def test_unknown_error_codes_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        VerificationError("oops")
