"""The one exception the J-LIS verification functions raise.

``VerificationError.code`` is a short machine string the API layer can map to a problem
response; ``message_ja`` / ``message_en`` say what happened and what to do, for staff at the
counter and for developers of clinic software; ``detail`` names the exact technical cause.

Codes:

- ``certificate_malformed``: the bytes are not an X.509 certificate (garbage, truncated, wrong PEM).
- ``certificate_untrusted``: a well-formed certificate that this CA did not issue: wrong issuer,
  bad CA signature (forged or tampered), or not an end-entity certificate.
- ``signature_invalid``: the card's signature over the nonce does not verify (wrong nonce, wrong
  card key, PIN path).
- ``attestation_invalid``: the reader device's attestation does not verify (tampered payload,
  another reader's key; face/visual path).
- ``crl_invalid``: a revocation list not signed by this CA (or not issued by it).
"""

from __future__ import annotations

from typing import Final

CERTIFICATE_MALFORMED: Final = "certificate_malformed"
CERTIFICATE_UNTRUSTED: Final = "certificate_untrusted"
SIGNATURE_INVALID: Final = "signature_invalid"
ATTESTATION_INVALID: Final = "attestation_invalid"
CRL_INVALID: Final = "crl_invalid"

# code -> (Japanese, English). Japanese first: it is what reception staff read.
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    CERTIFICATE_MALFORMED: (
        "カードの電子証明書を読み取れませんでした。カードを置き直して再度お試しください。"
        "解決しない場合は資格確認書などで番号による資格確認を行ってください。",
        "The card's certificate could not be read (not a valid X.509 certificate). Place the card "
        "again and retry; if it keeps failing, check eligibility by number instead.",
    ),
    CERTIFICATE_UNTRUSTED: (
        "カードの電子証明書を確認できませんでした（J-LIS が発行した証明書ではないか、改ざんされています）。"
        "このカードでは資格確認できません。番号による資格確認を行ってください。",
        "The card's certificate was not issued by J-LIS or has been altered, so it cannot be "
        "trusted. Do not use this card; check eligibility by number instead.",
    ),
    SIGNATURE_INVALID: (
        "カードによる本人確認の署名を確認できませんでした。カードを置き直して最初からやり直してください。",
        "The card's signature over the challenge did not verify (wrong challenge or a different "
        "card key). Place the card again and start the check over.",
    ),
    ATTESTATION_INVALID: (
        "カードリーダーの本人確認結果を確認できませんでした（未登録の端末か、内容が改ざんされています）。"
        "カードリーダーの登録を確認し、もう一度お試しください。",
        "The card reader's attestation did not verify (unregistered reader, another reader's key "
        "or altered data). Check the reader's registration and retry.",
    ),
    CRL_INVALID: (
        "失効情報を確認できませんでした（J-LIS の署名がありません）。システム管理者に連絡してください。",
        "The certificate revocation list is not signed by this J-LIS CA; revocation cannot be "
        "judged. Contact the system administrator.",
    ),
}


class VerificationError(Exception):
    """A certificate, signature, attestation or CRL failed verification.

    ``code`` is one of the module-level constants; ``detail`` is an English technical note
    (which check failed) for logs and problem responses.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in MESSAGES:
            raise ValueError(f"unknown verification error code {code!r}")
        self.code = code
        self.message_ja, self.message_en = MESSAGES[code]
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

    def describe(self) -> dict[str, str]:
        """The shape used across the project for notes and reader errors: code, ja, en."""
        return {"code": self.code, "ja": self.message_ja, "en": self.message_en}
