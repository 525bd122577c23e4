"""Verification: what the central system checks before the eligibility rules run.

Every failure raises :class:`~server.jlis.errors.VerificationError` with a machine ``code``.
Time is deliberately **not** judged here: an expired certificate must still be identified by
its serial so the pure eligibility core can report it as expired (F3) and apply the grace
period. Use :func:`certificate_dates` to hand the validity window to the core.

Checks of a card check, cheapest path first:

1. :func:`present_certificate` — PEM or DER to ``x509.Certificate`` with what a check reads off it
   (serial, validity days, the phone's policy, DER) (``certificate_malformed``). Cached by the bytes
   (immutable objects, safe to share); :func:`load_certificate` gives the certificate alone.
2. :func:`verify_issued_by` — the chain: issuer name is the CA's, the CA's signature over the
   certificate verifies (``cert.verify_directly_issued_by(ca)``), the anchor is a CA, and the
   presented certificate is not the root itself (``certificate_untrusted``). A :class:`TrustAnchor`
   checks the CA once and remembers certificates it has already verified, so a returning card
   costs a dictionary look-up instead of an RSA verification.
3. PIN path: :func:`verify_card_signature` — the card key's PKCS#1 v1.5 / SHA-256 signature over
   the server's nonce (``signature_invalid``). The card signs only after its PIN is verified.
4. Face/visual path: :func:`verify_attestation` — the registered reader's device key signed
   :func:`attestation_payload` (``attestation_invalid``). Device keys are ECDSA P-256 (signature:
   DER-encoded ECDSA with SHA-256); RSA device keys (PKCS#1 v1.5 / SHA-256) are accepted too.
5. :func:`is_revoked` — looks the serial up in a CRL after verifying the CRL's signature
   (``crl_invalid``).

Attestation payload format (stable, so a non-Python reader can produce it): the concatenation of
five fields, each a 4-byte big-endian length followed by the bytes:
``b"onshi-sim/jlis/reader-attestation/v1"``, the nonce bytes, the certificate DER, the method
(``"pin"``, ``"face"`` or ``"visual"``; for a phone held on the 汎用カードリーダー
``"smartphone:pin"`` or ``"smartphone:biometric"``, so the attestation covers the medium; UTF-8) and
the reader id (UTF-8). Length prefixes make it unambiguous; the leading tag keeps the device key's
signatures from being reused for any other purpose.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Final, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from onshi.timeutil import JST
from server.jlis.errors import (
    ATTESTATION_INVALID,
    CERTIFICATE_MALFORMED,
    CERTIFICATE_UNTRUSTED,
    CRL_INVALID,
    SIGNATURE_INVALID,
    VerificationError,
)
from server.jlis.keys import (
    DevicePrivateKey,
    DevicePublicKey,
    certificate_to_der,
    private_key_from_pem,
    public_key_from_pem,
)

ATTESTATION_TAG: Final = b"onshi-sim/jlis/reader-attestation/v1"
ATTESTATION_METHODS: Final = frozenset({"pin", "face", "visual", "smartphone:pin", "smartphone:biometric"})


def attested_method(method: str, smartphone: bool = False) -> str:
    """The method a reader's attestation names: a phone's checks name the medium too."""
    return f"smartphone:{method}" if smartphone else method


def required_proofs(method: str, smartphone: bool = False) -> tuple[bool, bool]:
    """``(card signature, reader attestation)`` a card check needs: the PIN path the card's signature,
    face and visual the reader's attestation, a phone both (its key's signature and the reader's word
    that it read a phone)."""
    return smartphone or method == "pin", smartphone or method != "pin"


# The certificate policy that marks a phone's certificate (a UUID-based OID, RFC 4122 / X.667: ours
# alone, no registration). Cards' certificates carry no policy.
SMARTPHONE_POLICY: Final = x509.ObjectIdentifier("2.25.238710327339744405587436785815713478659")

_PKCS1: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())


# --- certificates --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresentedCertificate:
    """A certificate and what a card check reads off it, read once per distinct certificate: a
    returning card costs a dictionary look-up, not a parse, a DER encoding and an extension search."""

    certificate: x509.Certificate
    der: bytes
    serial: str  # decimal, as the registry stores it
    not_before: date  # first valid day (JST)
    not_after: date  # last valid day (JST)
    smartphone: bool  # a phone's (its policy), not a card's


@lru_cache(maxsize=4096)
def _present(data: bytes) -> PresentedCertificate:
    if data.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(data)
    else:
        cert = x509.load_der_x509_certificate(data)
    not_before, not_after = certificate_dates(cert)
    return PresentedCertificate(cert, certificate_to_der(cert), str(cert.serial_number),
                                not_before, not_after, is_smartphone_certificate(cert))


def present_certificate(pem_or_der: str | bytes) -> PresentedCertificate:
    """Parse a certificate from PEM (``str`` or ``bytes``) or DER (``bytes``), with the facts a check
    reads off it (cached by the bytes: immutable, safe to share).

    Raises ``VerificationError("certificate_malformed")`` on anything that is not a certificate,
    unreadable extensions included.
    """
    if isinstance(pem_or_der, str):
        try:
            data = pem_or_der.encode("ascii")
        except UnicodeEncodeError:
            raise VerificationError(CERTIFICATE_MALFORMED, "PEM text contains non-ASCII characters") from None
    else:
        data = bytes(pem_or_der)
    if not data.strip():
        raise VerificationError(CERTIFICATE_MALFORMED, "no certificate was sent (empty)")
    try:
        return _present(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VerificationError(CERTIFICATE_MALFORMED, f"not an X.509 certificate: {exc}") from None


def load_certificate(pem_or_der: str | bytes) -> x509.Certificate:
    """:func:`present_certificate`'s certificate alone."""
    return present_certificate(pem_or_der).certificate


def certificate_dates(cert: x509.Certificate) -> tuple[date, date]:
    """``(first valid day, last valid day)`` of the certificate, as JST calendar dates."""
    return (
        cert.not_valid_before_utc.astimezone(JST).date(),
        cert.not_valid_after_utc.astimezone(JST).date(),
    )


def is_smartphone_certificate(cert: x509.Certificate) -> bool:
    """Whether the certificate is a phone's (its policy), not a card's."""
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return False
    return any(policy.policy_identifier == SMARTPHONE_POLICY for policy in policies)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


class _BoundedCache:
    """A thread-safe map of at most ``size`` entries; the oldest entry goes first when full."""

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._entries: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: Hashable) -> Any:
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = value


class TrustAnchor:
    """A CA certificate prepared for fast, repeated verification.

    Checks once that the certificate is a CA and keeps its parsed public key (for CRLs). It also
    remembers which certificates and CRLs (with their revoked serials) it has already verified:
    verification of immutable bytes against a fixed CA is a pure function, so a returning card (the
    same parsed certificate, :func:`present_certificate`) costs a dictionary look-up instead of an RSA
    verification. Only successes are remembered; a tampered certificate has different bytes, so it
    is another object, verified afresh.
    """

    __slots__ = ("_verified_certificates", "_verified_crls", "certificate", "public_key", "subject")

    def __init__(self, ca_cert: x509.Certificate, *, cache_size: int = 4096) -> None:
        if not _is_ca(ca_cert):
            raise VerificationError(
                CERTIFICATE_UNTRUSTED,
                "the trust anchor is not a CA certificate (basicConstraints CA=false)",
            )
        public_key = ca_cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise VerificationError(CERTIFICATE_UNTRUSTED, "the trust anchor's key is not RSA")
        self.certificate = ca_cert
        self.public_key: rsa.RSAPublicKey = public_key
        self.subject = ca_cert.subject
        # id(certificate) -> certificate: by identity, since a certificate is parsed once per distinct
        # bytes (present_certificate) and hashing its DER costs more than the look-up. The entry holds
        # the certificate, so its id cannot be reused; one parsed anew is verified anew.
        self._verified_certificates = _BoundedCache(cache_size)
        # id(CRL) -> (CRL, revoked serials): a lookup in a large CRL object scans it, a set does not.
        self._verified_crls = _BoundedCache(16)

    def verify(self, cert: x509.Certificate) -> None:
        """Raise ``certificate_untrusted`` unless this CA issued ``cert`` (time is not judged)."""
        if self._verified_certificates.get(id(cert)) is cert:
            return
        # verify_directly_issued_by compares the issuer name and checks the signature in Rust;
        # measured, it beats a Python Name comparison plus a verify with a cached CA key.
        try:
            cert.verify_directly_issued_by(self.certificate)
        except InvalidSignature:
            raise VerificationError(
                CERTIFICATE_UNTRUSTED,
                "the CA signature over the certificate does not verify (forged or altered)",
            ) from None
        except ValueError as exc:
            # Issuer name mismatch, or a signature algorithm an RSA CA cannot have used.
            raise VerificationError(CERTIFICATE_UNTRUSTED, f"not issued by this CA: {exc}") from None
        except (TypeError, UnsupportedAlgorithm) as exc:
            raise VerificationError(
                CERTIFICATE_UNTRUSTED, f"unsupported certificate signature: {exc}"
            ) from None
        # This CA issues only end-entity certificates, so the one CA certificate its key has
        # signed is the root itself (parsing extensions to ask would cost ~10-20 µs per check).
        if cert == self.certificate:
            raise VerificationError(
                CERTIFICATE_UNTRUSTED,
                "the CA's own certificate was presented instead of a card certificate",
            )
        self._verified_certificates.put(id(cert), cert)

    def verify_crl(self, crl: x509.CertificateRevocationList) -> frozenset[int]:
        """Raise ``crl_invalid`` unless this CA issued and signed ``crl``; its revoked serials."""
        # Keyed by object identity: CRLs are unhashable and re-encoding a large one to fingerprint it
        # costs more than the check. The entry holds the CRL itself, so its id cannot be reused.
        cached = self._verified_crls.get(id(crl))
        if cached is not None and cached[0] is crl:
            return cast(frozenset[int], cached[1])
        try:
            valid = crl.is_signature_valid(self.public_key)
        except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
            raise VerificationError(CRL_INVALID, f"CRL signature cannot be checked: {exc}") from None
        # The issuer comparison is slow (Name objects are built in Python); do it once.
        if crl.issuer != self.subject:
            raise VerificationError(CRL_INVALID, "the CRL's issuer is not this CA")
        if not valid:
            raise VerificationError(CRL_INVALID, "the CA signature over the CRL does not verify")
        serials = frozenset(entry.serial_number for entry in crl)
        self._verified_crls.put(id(crl), (crl, serials))
        return serials


@lru_cache(maxsize=16)
def _anchor_for(ca_cert: x509.Certificate) -> TrustAnchor:
    return TrustAnchor(ca_cert)


_last_anchor: TrustAnchor | None = None


def trust_anchor(ca: x509.Certificate | TrustAnchor) -> TrustAnchor:
    """The (cached) :class:`TrustAnchor` for a CA certificate.

    The server has one CA: an identity check against the last anchor skips hashing its DER.
    """
    global _last_anchor
    if isinstance(ca, TrustAnchor):
        return ca
    last = _last_anchor
    if last is not None and last.certificate is ca:
        return last
    anchor = _last_anchor = _anchor_for(ca)
    return anchor


def verify_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate | TrustAnchor) -> None:
    """Raise ``certificate_untrusted`` unless ``ca_cert`` issued ``cert``.

    Issuer name, the CA's signature (``verify_directly_issued_by``), the anchor being a CA and
    ``cert`` being an end-entity certificate. Validity dates are *not* checked (see module doc).
    """
    trust_anchor(ca_cert).verify(cert)


# --- the card's signature (PIN path) -------------------------------------------------------


def sign_nonce(card_key: rsa.RSAPrivateKey, nonce: bytes) -> bytes:
    """What the card does after its PIN is verified: PKCS#1 v1.5 / SHA-256 over the nonce."""
    return card_key.sign(nonce, _PKCS1, _SHA256)


def verify_card_signature(cert: x509.Certificate, nonce: bytes, signature: bytes) -> None:
    """Raise ``signature_invalid`` unless the certificate's key signed exactly ``nonce``."""
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise VerificationError(SIGNATURE_INVALID, "the certificate's key is not RSA")
    try:
        public_key.verify(signature, nonce, _PKCS1, _SHA256)
    except InvalidSignature:
        raise VerificationError(
            SIGNATURE_INVALID, "the card signature does not match this nonce and certificate"
        ) from None


# --- the reader's attestation (face / visual path) -----------------------------------------


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def attestation_payload(nonce: bytes, certificate_der: bytes, method: str, reader_id: str) -> bytes:
    """The canonical bytes a reader signs to vouch for a check (format in the module doc).

    Raises ``ValueError`` for a method not in :data:`ATTESTATION_METHODS`.
    """
    if method not in ATTESTATION_METHODS:
        raise ValueError(
            f"unknown authentication method {method!r}; expected one of {sorted(ATTESTATION_METHODS)}"
        )
    return b"".join(
        _field(part)
        for part in (
            ATTESTATION_TAG,
            bytes(nonce),
            bytes(certificate_der),
            method.encode(),
            reader_id.encode(),
        )
    )


def sign_attestation(device_key: DevicePrivateKey, payload: bytes) -> bytes:
    """The reader's signature: ECDSA/SHA-256 (DER) for EC keys, PKCS#1 v1.5/SHA-256 for RSA."""
    if isinstance(device_key, ec.EllipticCurvePrivateKey):
        return device_key.sign(payload, _ECDSA_SHA256)
    if isinstance(device_key, rsa.RSAPrivateKey):
        return device_key.sign(payload, _PKCS1, _SHA256)
    raise TypeError(f"unsupported device key type {type(device_key).__name__}")


def attest(device_key_pem: str | bytes, nonce: bytes, certificate_der: bytes, method: str,
           reader_id: str) -> bytes:
    """What a reader sends for a face or visual check: its device key's signature over
    :func:`attestation_payload` (the reader vouches that the holder was matched)."""
    key = private_key_from_pem(device_key_pem)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"unsupported device key type {type(key).__name__}")
    return sign_attestation(key, attestation_payload(nonce, certificate_der, method, reader_id))


def _device_public_key(key: str | bytes | PublicKeyTypes) -> PublicKeyTypes:
    if not isinstance(key, str | bytes):
        return key
    try:
        return public_key_from_pem(key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VerificationError(
            ATTESTATION_INVALID, f"the registered device key is unreadable: {exc}"
        ) from None


def verify_attestation(
    device_public_key: str | bytes | DevicePublicKey, payload: bytes, signature: bytes
) -> None:
    """Raise ``attestation_invalid`` unless the reader's device key signed ``payload``.

    ``device_public_key`` is the PEM registered for the reader (parsed once and cached) or a key.
    """
    key = _device_public_key(device_public_key)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, _ECDSA_SHA256)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, _PKCS1, _SHA256)
        else:
            raise VerificationError(ATTESTATION_INVALID, f"unsupported device key type {type(key).__name__}")
    except InvalidSignature:
        raise VerificationError(
            ATTESTATION_INVALID,
            "the attestation was not signed by this reader's device key over this payload",
        ) from None


# --- revocation ----------------------------------------------------------------------------


def load_crl(pem_or_der: str | bytes) -> x509.CertificateRevocationList:
    """Parse a CRL from PEM or DER. Raises ``VerificationError("crl_invalid")`` on garbage."""
    data = pem_or_der.encode("ascii", "replace") if isinstance(pem_or_der, str) else bytes(pem_or_der)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VerificationError(CRL_INVALID, f"not a CRL: {exc}") from None


def crl_to_pem(crl: x509.CertificateRevocationList) -> str:
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def revoked_serials(
    crl: x509.CertificateRevocationList, ca_cert: x509.Certificate | TrustAnchor
) -> frozenset[int]:
    """All serials the CRL revokes, after verifying its signature (cached per CRL)."""
    return trust_anchor(ca_cert).verify_crl(crl)


def is_revoked(
    crl: x509.CertificateRevocationList, serial: int, ca_cert: x509.Certificate | TrustAnchor
) -> bool:
    """Whether ``serial`` is on the CRL; raises ``crl_invalid`` if this CA did not sign it.

    The signature check and the serial set are cached per CRL *object*: keep the loaded CRL
    around (rebuild it when revocations change) and repeated lookups cost a set lookup.
    """
    return serial in trust_anchor(ca_cert).verify_crl(crl)
