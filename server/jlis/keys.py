"""Key generation and PEM helpers.

- Card keys (the private key of the user-authentication certificate on the chip) and the CA key
  are RSA-2048 with e = 65537, as JPKI uses. Generating one takes ~50–100 ms.
- Reader device keys are ECDSA P-256: generation is instant (readers are registered on the fly
  by the admin API and in tests) and signing an attestation costs a few tens of µs on the
  reader. Verification (see ``verify.py``) also accepts RSA device keys.

PEM text is returned as ``str`` (it travels inside JSON); loaders accept ``str`` or ``bytes``.
Private keys are serialised unencrypted (PKCS#8): this is a mock, the keys protect nothing real.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

RSA_KEY_BITS = 2048
RSA_PUBLIC_EXPONENT = 65537

DevicePrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
DevicePublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def generate_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key (e = 65537) for a card or a CA."""
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)


def generate_device_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key for a card reader device."""
    return ec.generate_private_key(ec.SECP256R1())


def _as_bytes(text: str | bytes) -> bytes:
    return text.encode("ascii") if isinstance(text, str) else text


def private_key_to_pem(key: PrivateKeyTypes) -> str:
    """Unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def private_key_from_pem(pem: str | bytes) -> PrivateKeyTypes:
    """Load an unencrypted private key (PKCS#8 or traditional PEM). Raises ``ValueError``."""
    return serialization.load_pem_private_key(_as_bytes(pem), password=None)


def rsa_private_key_from_pem(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load a card/CA key and insist it is RSA."""
    key = private_key_from_pem(pem)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"expected an RSA private key, got {type(key).__name__}")
    return key


def public_key_to_pem(key: PublicKeyTypes) -> str:
    """SubjectPublicKeyInfo PEM (how a reader's device key is registered)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@lru_cache(maxsize=4096)
def _load_public_key_cached(pem: bytes) -> PublicKeyTypes:
    return serialization.load_pem_public_key(pem)


def public_key_from_pem(pem: str | bytes) -> PublicKeyTypes:
    """Load a SubjectPublicKeyInfo PEM. Cached: readers present the same key on every check.

    Raises ``ValueError`` on garbage.
    """
    return _load_public_key_cached(_as_bytes(pem))


def certificate_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
