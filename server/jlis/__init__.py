"""Mock J-LIS (地方公共団体情報システム機構): the certificate authority of the My Number card.

Pure library code on ``cryptography`` (real X.509, real RSA/ECDSA signatures): no database, no
HTTP, no wall clock — whatever needs "now" takes it as a parameter.

- :mod:`server.jlis.validity`: the 5th-birthday validity rule of the user-authentication
  certificate (利用者証明用電子証明書).
- :mod:`server.jlis.keys`: RSA-2048 card/CA keys, ECDSA P-256 reader device keys, PEM helpers.
- :mod:`server.jlis.authority`: :class:`CertificateAuthority` — root, card certificates, renewal, CRLs.
- :mod:`server.jlis.verify`: certificate parsing, chain check, the card's
  nonce signature (PIN path), the reader's attestation (face/visual path), revocation lookup.
- :mod:`server.jlis.errors`: :class:`VerificationError` with ``code`` and ``message_ja``/``message_en``.
"""

# The nonce's wire form is the challenge's (server.core.challenge); the card signs its bytes.
from server.core.challenge import nonce_bytes
from server.jlis.authority import USER_CERTIFICATE_CN, CertificateAuthority
from server.jlis.errors import (
    ATTESTATION_INVALID,
    CERTIFICATE_MALFORMED,
    CERTIFICATE_UNTRUSTED,
    CRL_INVALID,
    SIGNATURE_INVALID,
    VerificationError,
)
from server.jlis.keys import (
    certificate_to_der,
    certificate_to_pem,
    generate_device_key,
    generate_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
    rsa_private_key_from_pem,
)
from server.jlis.validity import birthday_in, certificate_validity
from server.jlis.verify import (
    ATTESTATION_METHODS,
    PresentedCertificate,
    TrustAnchor,
    attest,
    attestation_payload,
    attested_method,
    certificate_dates,
    crl_to_pem,
    is_revoked,
    is_smartphone_certificate,
    load_certificate,
    load_crl,
    present_certificate,
    required_proofs,
    revoked_serials,
    sign_attestation,
    sign_nonce,
    trust_anchor,
    verify_attestation,
    verify_card_signature,
    verify_issued_by,
)

__all__ = [
    "ATTESTATION_INVALID",
    "ATTESTATION_METHODS",
    "CERTIFICATE_MALFORMED",
    "CERTIFICATE_UNTRUSTED",
    "CRL_INVALID",
    "SIGNATURE_INVALID",
    "USER_CERTIFICATE_CN",
    "CertificateAuthority",
    "PresentedCertificate",
    "TrustAnchor",
    "VerificationError",
    "attest",
    "attestation_payload",
    "attested_method",
    "birthday_in",
    "certificate_dates",
    "certificate_to_der",
    "certificate_to_pem",
    "certificate_validity",
    "crl_to_pem",
    "generate_device_key",
    "generate_key",
    "is_revoked",
    "is_smartphone_certificate",
    "load_certificate",
    "load_crl",
    "nonce_bytes",
    "present_certificate",
    "private_key_from_pem",
    "private_key_to_pem",
    "public_key_from_pem",
    "public_key_to_pem",
    "required_proofs",
    "revoked_serials",
    "rsa_private_key_from_pem",
    "sign_attestation",
    "sign_nonce",
    "trust_anchor",
    "verify_attestation",
    "verify_card_signature",
    "verify_issued_by",
]
