"""The reader's HTTP client to the central system (and to the admin API for card material).

Card check per docs/architecture.md: ask for a nonce → prove the card (PIN path: the card signs
the nonce; face/visual path: the reader signs an attestation with its device key) → send the
certificate, proof and consents. Transport failures and problem answers become reader errors.

A smartphone check (``medium: "smartphone"``) sends the PHONE's certificate, the phone key's
signature over the nonce (the phone signs after its holder was confirmed: Android's PIN on the
reader, iPhone's Face ID / Touch ID) AND the reader's attestation over ``smartphone:<method>`` (the
reader vouches it read a phone on its 汎用カードリーダー: the attestation covers the medium).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cardreader_emulator.card import VirtualCard, VirtualPhone, _atomic_write
from cardreader_emulator.errors import ReaderError
from onshi.codes import AuthMethod, CheckMedium


class CentralError(Exception):
    def __init__(self, error: ReaderError, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{error.value}: {detail}")
        self.error = error
        self.detail = detail
        self.status = status


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        return response.text[:300]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("code", "title_ja", "detail") if body.get(k)]
        return " / ".join(parts)
    return str(body)[:300]


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
        raise CentralError(ReaderError.NETWORK_FAILURE, f"{type(exc).__name__}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise CentralError(ReaderError.NETWORK_FAILURE, f"timeout: {exc}") from exc
    if response.status_code >= 400:
        detail = f"HTTP {response.status_code}: {_problem_detail(response)}"
        raise CentralError(ReaderError.CENTRAL_ERROR, detail, response.status_code)
    return response


@dataclass(frozen=True)
class ReaderIdentity:
    """This reader as registered with the central system."""

    reader_id: str
    device_key_pem: str
    clinic_code: str

    @classmethod
    def load(cls, path: Path) -> ReaderIdentity | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["reader_id"], data["device_key_pem"], data["clinic_code"])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(vars(self), indent=1).encode())
        os.chmod(path, 0o600)


class Admin:
    """The few admin calls the reader needs: its registration and card material."""

    def __init__(self, server_url: str, admin_token: str, timeout: float = 30.0) -> None:
        self.client = httpx.Client(
            base_url=server_url.rstrip("/") + "/api/v1/admin",
            timeout=timeout,
            headers={"Authorization": f"Bearer {admin_token}"},
        )

    def close(self) -> None:
        self.client.close()

    def register_reader(self, clinic_code: str) -> ReaderIdentity:
        body = _request(self.client, "POST", "/readers", json={"clinic_code": clinic_code}).json()
        return ReaderIdentity(body["reader_id"], body["device_key_pem"], clinic_code)

    def personas(self) -> list[dict[str, Any]]:
        return list(_request(self.client, "GET", "/personas").json())

    def cards(self) -> list[dict[str, Any]]:
        return list(_request(self.client, "GET", "/cards").json())

    def card(self, person_id: str) -> dict[str, Any]:
        return dict(_request(self.client, "GET", f"/cards/{person_id}").json())

    def issue_card(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(_request(self.client, "POST", "/cards", json=body).json())

    def phones(self) -> list[dict[str, Any]]:
        return list(_request(self.client, "GET", "/phones").json())

    def phone(self, phone_id: str) -> dict[str, Any]:
        return dict(_request(self.client, "GET", f"/phones/{phone_id}").json())

    def issue_phone(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sets a person's card functions up on a phone (400 ``phone_refused`` with the reason)."""
        return dict(_request(self.client, "POST", "/phones", json=body).json())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Central:
    """The central system as the reader at one clinic talks to it."""

    def __init__(
        self,
        server_url: str,
        clinic_code: str,
        clinic_token: str,
        identity: ReaderIdentity,
        timeout: float = 30.0,
    ) -> None:
        self.identity = identity
        self.client = httpx.Client(
            base_url=server_url.rstrip("/") + "/api/v1",
            timeout=timeout,
            headers={"X-Medical-Institution-Code": clinic_code, "Authorization": f"Bearer {clinic_token}"},
        )

    def close(self) -> None:
        self.client.close()

    def challenge(self) -> str:
        body = _request(
            self.client, "POST", "/card-checks/challenge", json={"reader_id": self.identity.reader_id}
        ).json()
        return str(body["nonce"])

    def card_check(
        self,
        card: VirtualCard | VirtualPhone,
        method: AuthMethod,
        consents: dict[str, Any],
        *,
        encoding: str = "utf-8",
        file_identifier: str | None = None,
    ) -> dict[str, Any]:
        """One card check (or a phone's, when ``card`` is a ``VirtualPhone``); answers the server's JSON
        (check_id, result, notes, withheld …)."""
        from server.jlis import attest, attested_method, nonce_bytes, required_proofs

        nonce = self.challenge()
        raw = nonce_bytes(nonce)
        body: dict[str, Any] = {
            "reader_id": self.identity.reader_id,
            "nonce": nonce,
            "certificate_pem": card.certificate_pem,
            "method": method.value,
            "consents": consents,
            "encoding": encoding,
        }
        if file_identifier:
            body["arbitrary_file_identifier"] = file_identifier
        phone = isinstance(card, VirtualPhone)
        if phone:
            body["medium"] = CheckMedium.SMARTPHONE.value
        signature, attestation = required_proofs(method.value, phone)
        if signature:
            # the card (phone) refuses unless its PIN (its holder) was verified in this session
            body["card_signature"] = _b64(card.sign_nonce(raw))
        if attestation:
            signed = attest(self.identity.device_key_pem, raw, card.certificate_der(),
                            attested_method(method.value, phone), self.identity.reader_id)
            body["reader_attestation"] = _b64(signed)
        return dict(_request(self.client, "POST", "/card-checks", json=body).json())
