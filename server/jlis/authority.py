"""The mock J-LIS certificate authority: a self-signed root that issues card certificates and CRLs.

Pure library code: every function that needs "now" takes it; no clock, database or network.
Datetimes must be timezone-aware (a naive one would silently be read as UTC by ``cryptography``).

- Root: RSA-2048, SHA-256, basicConstraints CA (pathlen 0), keyUsage keyCertSign + cRLSign,
  subject key identifier. Backdated (default 12 years before ``now``) so that fixture cards
  issued years before the simulated "now" still fall inside the CA's own window.
- User-authentication certificate (利用者証明用電子証明書): RSA-2048 subject key, valid from
  ``issued_on`` 00:00:00 JST through 23:59:59 JST of the holder's 5th birthday after issuance
  (:func:`~server.jlis.validity.certificate_validity`), random serial (159 bits) unless given,
  keyUsage digitalSignature, extendedKeyUsage clientAuth, authority key identifier. The subject
  is the opaque ``C=JP, CN=JPKI User Auth``: the certificate carries neither the My Number nor
  the holder's name; the serial alone identifies the person to the central system.
- Renewal issues a new certificate (new serial, validity counted from the renewal date). The
  old→new serial link is the caller's registry fact (it has its own input lag, F12).
- A phone's certificate (スマホ用利用者証明用電子証明書) is issued the same way for the phone's own key,
  with its own serial, a caller-given end date and a certificate policy that marks the medium
  (:data:`~server.jlis.verify.SMARTPHONE_POLICY`): the server tells a phone from a card by the
  certificate it verified, not by what the reader claims.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onshi.timeutil import JST
from server.jlis.keys import (
    RSA_KEY_BITS,
    certificate_to_pem,
    generate_key,
    private_key_to_pem,
    rsa_private_key_from_pem,
)
from server.jlis.validity import certificate_validity
from server.jlis.verify import SMARTPHONE_POLICY, TrustAnchor, load_certificate

DEFAULT_CA_NAME = "onshi-sim mock J-LIS User Authentication CA"
USER_CERTIFICATE_CN = "JPKI User Auth"
CA_BACKDATE_YEARS = 12
CA_LIFETIME_YEARS = 20
CRL_LIFETIME = timedelta(days=1)


def _require_aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {moment.isoformat()})")
    return moment


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 Feb
        return moment.replace(year=moment.year + years, day=28)


def _ca_name(name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for user authentication"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


USER_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.COMMON_NAME, USER_CERTIFICATE_CN),
    ]
)


def _require_rsa_2048(key: object, what: str) -> rsa.RSAPublicKey:
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != RSA_KEY_BITS:
        raise ValueError(f"{what} must be an RSA-{RSA_KEY_BITS} public key")
    return key


class CertificateAuthority:
    """The mock J-LIS: a root certificate and its private key.

    Build with :meth:`create` or :meth:`from_pem`. ``anchor`` is the cached
    :class:`~server.jlis.verify.TrustAnchor` for verifying what this CA issued.
    """

    def __init__(self, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey) -> None:
        if certificate.public_key() != private_key.public_key():
            raise ValueError("the CA private key does not match the CA certificate")
        self.certificate = certificate
        self.private_key = private_key
        self.anchor = TrustAnchor(certificate)  # also checks it is a CA
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(private_key.public_key())

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        now: datetime,
        name: str = DEFAULT_CA_NAME,
        *,
        key: rsa.RSAPrivateKey | None = None,
        backdate_years: int = CA_BACKDATE_YEARS,
        lifetime_years: int = CA_LIFETIME_YEARS,
    ) -> Self:
        """A new self-signed root. ``key`` may be passed to reuse one (tests, determinism)."""
        _require_aware(now, "now")
        key = key or generate_key()
        subject = _ca_name(name)
        public_key = key.public_key()
        not_before = _add_years(now, -backdate_years)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(_add_years(not_before, backdate_years + lifetime_years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        return cls(builder.sign(key, hashes.SHA256()), key)

    def to_pem(self) -> tuple[str, str]:
        """``(certificate PEM, private key PEM)``."""
        return certificate_to_pem(self.certificate), private_key_to_pem(self.private_key)

    @classmethod
    def from_pem(cls, cert_pem: str | bytes, key_pem: str | bytes) -> Self:
        """Rebuild from :meth:`to_pem` output.

        Raises ``VerificationError`` for a malformed or non-CA certificate and ``ValueError`` for an
        unreadable key or one that does not belong to the certificate.
        """
        return cls(load_certificate(cert_pem), rsa_private_key_from_pem(key_pem))

    # --- issuing -----------------------------------------------------------------------------

    def issue_user_certificate(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        holder_birthdate: date,
        issued_on: date,
        serial: int | None = None,
        smartphone: bool = False,
        last_day: date | None = None,
    ) -> x509.Certificate:
        """A user-authentication certificate for the card key ``public_key``.

        Valid ``issued_on`` 00:00 JST through 23:59:59 JST of the 5th birthday after issuance
        (or of ``last_day`` when given: a phone's certificate ends with the card's).
        ``serial`` defaults to a random 159-bit number (positive, unique in practice).
        ``smartphone`` marks the certificate as a phone's (its certificate policy).
        """
        _require_rsa_2048(public_key, "the card key")
        if serial is not None and serial <= 0:
            raise ValueError("a certificate serial must be a positive integer")
        first_day, birthday_end = certificate_validity(holder_birthdate, issued_on)
        if last_day is None:
            last_day = birthday_end
        elif last_day < first_day:
            raise ValueError(f"a certificate cannot end ({last_day}) before it starts ({first_day})")
        not_before = datetime.combine(first_day, time(0, 0, 0), JST)
        not_after = datetime.combine(last_day, time(23, 59, 59), JST)
        builder = (
            x509.CertificateBuilder()
            .subject_name(USER_SUBJECT)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(self._aki, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        if smartphone:
            builder = builder.add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(SMARTPHONE_POLICY, None)]), critical=False)
        return builder.sign(self.private_key, hashes.SHA256())

    def issue_card(
        self, *, holder_birthdate: date, issued_on: date, serial: int | None = None
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """Convenience for fixtures: a fresh card key and its certificate."""
        card_key = generate_key()
        cert = self.issue_user_certificate(
            card_key.public_key(), holder_birthdate=holder_birthdate, issued_on=issued_on, serial=serial
        )
        return card_key, cert

    def issue_phone(
        self, *, holder_birthdate: date, set_up_on: date, last_day: date
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """The phone's own key pair and certificate, set up from the card on ``set_up_on``."""
        phone_key = generate_key()
        cert = self.issue_user_certificate(
            phone_key.public_key(), holder_birthdate=holder_birthdate, issued_on=set_up_on,
            smartphone=True, last_day=last_day,
        )
        return phone_key, cert

    def renew(
        self,
        old: x509.Certificate,
        public_key: rsa.RSAPublicKey,
        *,
        holder_birthdate: date,
        renewed_on: date,
        serial: int | None = None,
    ) -> x509.Certificate:
        """A renewal: a new certificate with a new serial, valid from ``renewed_on``.

        ``old`` must have been issued by this CA (``VerificationError`` otherwise). Renewal at the
        municipality writes a new key pair to the card, so ``public_key`` is normally new. The caller
        records the old→new serial link (with its own visibility lag).
        """
        self.anchor.verify(old)
        if serial is not None and serial == old.serial_number:
            raise ValueError("a renewed certificate needs a new serial")
        while True:
            cert = self.issue_user_certificate(
                public_key, holder_birthdate=holder_birthdate, issued_on=renewed_on, serial=serial
            )
            if cert.serial_number != old.serial_number:  # 2**-159 chance; loop for certainty
                return cert

    # --- revocation --------------------------------------------------------------------------

    def build_crl(
        self,
        revoked: Iterable[tuple[int, datetime]],
        now: datetime,
        *,
        next_update_after: timedelta = CRL_LIFETIME,
        crl_number: int | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL signed by this CA listing ``(serial, revoked_at)`` pairs, issued at ``now``.

        ``crl_number`` defaults to ``now`` in Unix seconds (monotonic with the simulated clock).
        """
        _require_aware(now, "now")
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + next_update_after)
            .add_extension(self._aki, critical=False)
            .add_extension(
                x509.CRLNumber(crl_number if crl_number is not None else int(now.timestamp())), critical=False
            )
        )
        for serial, revoked_at in revoked:
            _require_aware(revoked_at, "revoked_at")
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at).build()
            )
        return builder.sign(self.private_key, hashes.SHA256())

    # --- verification shortcuts --------------------------------------------------------------

    def verify(self, cert: x509.Certificate) -> None:
        """``verify_issued_by(cert, self.certificate)`` with the cached anchor."""
        self.anchor.verify(cert)
