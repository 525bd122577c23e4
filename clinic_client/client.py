"""Typed client for the onshi-sim central system: every API, sync (:class:`OnshiClient`) and
async (:class:`AsyncOnshiClient`), over httpx.

Quick start::

    from clinic_client.client import OnshiClient, ClientSettings

    settings = ClientSettings("http://localhost:8000", clinic_code="1312345678", clinic_token="…")
    with OnshiClient(settings) as client:
        outcome = client.number_check("06139981", "1234", "19800401", symbol="12", branch="00")
        if outcome.valid:
            print(outcome.primary.Name, outcome.primary.InsuredPartialContributionRatio)

Errors are exceptions carrying the server's problem JSON (``clinic_client.errors``). Retries
happen only where repeating cannot do harm: when the request never reached the server, or for
read-only calls (GETs and the eligibility queries) on timeouts and 502/503/504. Card-check
submissions spend a single-use nonce and are never repeated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import httpx

from clinic_client.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    OnshiError,
    ServerUnavailable,
    Timeout,
    Unauthorized,
)
from clinic_client.outcome import CheckOutcome
from onshi import defaults
from onshi.codes import CharacterCodeIdentifier, ConsentFlag, MedicalInfoKind, ReferenceClassification
from onshi.messages import (
    BulkCheckRequestBody,
    BulkCheckRequestMessage,
    BulkResultMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
    RequestHeader,
    ResultMessage,
)
from onshi.timeutil import JST

T = TypeVar("T")
API = "/api/v1"
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class ClientSettings:
    """Where the server is, who we are, and how patient to be.

    ``timeout`` is seconds for the whole call; ``retries`` extra attempts on safe failures with
    ``backoff`` seconds doubling between them.
    """

    base_url: str = defaults.SERVER_URL
    clinic_code: str | None = None  # 医療機関コード, 10 digits
    clinic_token: str | None = None
    admin_token: str | None = None
    timeout: float = 10.0
    connect_timeout: float = 3.0
    retries: int = 2
    backoff: float = 0.25
    today: Callable[[], date] = field(default=lambda: datetime.now(JST).date())

    def with_(self, **changes: Any) -> ClientSettings:
        return replace(self, **changes)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP call and how to read its answer: shared by the sync and async clients."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    content: bytes | None = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    auth: str = "clinic"  # clinic | admin | none
    idempotent: bool = False  # safe to repeat after it may have reached the server


@dataclass(frozen=True)
class Challenge:
    nonce: str
    expires_at: str


@dataclass(frozen=True)
class XmlAnswer:
    """An XML answer as the server sent it (bytes in the encoding it declares)."""

    content: bytes
    content_type: str
    check_id: str | None = None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _raw(response: httpx.Response) -> XmlAnswer:
    return XmlAnswer(
        response.content, response.headers.get("content-type", ""), response.headers.get("x-check-id")
    )


def _result(response: httpx.Response) -> CheckOutcome:
    data = response.json()
    if "MessageHeader" not in data and "result" in data:  # the server's envelope with notes/withheld
        return CheckOutcome.from_card_check(data)
    return CheckOutcome.from_result(ResultMessage.model_validate(data))


def _bulk(response: httpx.Response) -> BulkResultMessage:
    data = response.json()
    if "MessageHeader" not in data and "result" in data:
        data = data["result"]
    return BulkResultMessage.model_validate(data)


def _card(response: httpx.Response) -> CheckOutcome:
    return CheckOutcome.from_card_check(response.json())


def _challenge(response: httpx.Response) -> Challenge:
    data = response.json()
    return Challenge(nonce=data["nonce"], expires_at=data.get("expires_at", ""))


def dump(message: Any) -> Any:
    """A wire model as the JSON the server expects (codes as their XML text, no empty fields)."""
    return message.model_dump(mode="json", exclude_none=True)


def search_info(
    insurer_number: str,
    number: str,
    birthdate: str | date,
    *,
    symbol: str | None = None,
    branch: str | None = None,
    limit_consent: bool = False,
    arbitrary_identifier: str | None = None,
) -> QualificationConfirmSearchInfo:
    """The numbers printed on a 資格確認書 / 資格情報のお知らせ / old insurance card, as a query."""
    return QualificationConfirmSearchInfo(
        InsurerNumber=insurer_number.strip(),
        InsuredCardSymbol=(symbol or None),
        InsuredIdentificationNumber=number.strip(),
        InsuredBranchNumber=(branch or None),
        Birthdate=birthdate.strftime("%Y%m%d") if isinstance(birthdate, date) else birthdate,
        LimitApplicationCertificateRelatedConsFlg=ConsentFlag.CONSENTED
        if limit_consent
        else ConsentFlag.NOT_CONSENTED,
        ArbitraryIdentifier=arbitrary_identifier,
    )


class Api:
    """Builds the calls of every server API (no I/O here)."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings

    def _header(
        self,
        reference: ReferenceClassification | None,
        file_id: str | None,
        encoding: CharacterCodeIdentifier,
    ) -> RequestHeader:
        if not self.settings.clinic_code:
            raise ValueError("clinic_code is required for eligibility checks")
        return RequestHeader(
            QualificationConfirmationDate=self.settings.today().strftime("%Y%m%d"),
            MedicalInstitutionCode=self.settings.clinic_code,
            ArbitraryFileIdentifier=file_id,
            ReferenceClassification=reference,
            CharacterCodeIdentifier=encoding,
        )

    # --- eligibility ----------------------------------------------------------------------

    def number_check_message(
        self, info: QualificationConfirmSearchInfo, file_id: str | None = None
    ) -> NumberCheckRequestMessage:
        return NumberCheckRequestMessage(
            MessageHeader=self._header(
                ReferenceClassification.INSURED_CARD_INFO, file_id, CharacterCodeIdentifier.UTF8
            ),
            MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=info),
        )

    def bulk_check_message(
        self, infos: Sequence[QualificationConfirmSearchInfo], file_id: str | None = None
    ) -> BulkCheckRequestMessage:
        return BulkCheckRequestMessage(
            MessageHeader=self._header(None, file_id, CharacterCodeIdentifier.UTF8),
            MessageBody=BulkCheckRequestBody(QualificationConfirmSearchInfo=list(infos)),
        )

    def number_check(self, message: NumberCheckRequestMessage) -> Call[CheckOutcome]:
        # A query: repeating it changes nothing but the access record, so it may be retried.
        return Call("POST", f"{API}/number-checks", _result, json=dump(message), idempotent=True)

    def bulk_check(self, message: BulkCheckRequestMessage) -> Call[BulkResultMessage]:
        return Call("POST", f"{API}/bulk-checks", _bulk, json=dump(message), idempotent=True)

    def post_xml(self, kind: str, xml: bytes, encoding: str | None = None) -> Call[XmlAnswer]:
        """Sends a request file's bytes as they are (kind: number | bulk) and returns the XML answer."""
        path = {"number": "number-checks", "bulk": "bulk-checks"}[kind]
        params = {"encoding": encoding} if encoding else None
        return Call(
            "POST",
            f"{API}/{path}",
            _raw,
            content=xml,
            params=params,
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
            idempotent=True,
        )

    def challenge(self, reader_id: str) -> Call[Challenge]:
        # A fresh nonce each time: repeating only leaves an unused nonce to expire.
        return Call(
            "POST", f"{API}/card-checks/challenge", _challenge, json={"reader_id": reader_id}, idempotent=True
        )

    def card_check(self, payload: Mapping[str, Any]) -> Call[CheckOutcome]:
        return Call("POST", f"{API}/card-checks", _card, json=dict(payload))

    def medical_info(self, check_id: str, kind: MedicalInfoKind | str) -> Call[Any]:
        kind_value = kind.value if isinstance(kind, MedicalInfoKind) else kind
        return Call("GET", f"{API}/medical-info/{check_id}/{kind_value}", _json, idempotent=True)

    # --- admin ----------------------------------------------------------------------------

    def admin(
        self, method: str, path: str, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Call[Any]:
        return Call(
            method,
            f"{API}/admin/{path}",
            _json,
            json=json,
            params=params,
            auth="admin",
            idempotent=method == "GET",
        )


def card_check_payload(
    *,
    reader_id: str,
    nonce: str,
    certificate_pem: str,
    method: str,
    card_signature: str | None = None,
    reader_attestation: str | None = None,
    consents: Mapping[str, Any] | None = None,
    arbitrary_file_identifier: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/card-checks`` (the reader builds the signatures)."""
    payload: dict[str, Any] = {
        "reader_id": reader_id,
        "nonce": nonce,
        "certificate_pem": certificate_pem,
        "method": method,
        "consents": dict(consents or {}),
    }
    for key, value in (
        ("card_signature", card_signature),
        ("reader_attestation", reader_attestation),
        ("arbitrary_file_identifier", arbitrary_file_identifier),
    ):
        if value is not None:
            payload[key] = value
    return payload


# --- transport ---------------------------------------------------------------------------


def _headers(settings: ClientSettings, call: Call[Any]) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if call.auth == "clinic":
        if settings.clinic_code:
            headers["X-Medical-Institution-Code"] = settings.clinic_code
        if settings.clinic_token:
            headers["Authorization"] = f"Bearer {settings.clinic_token}"
    elif call.auth == "admin" and settings.admin_token:
        headers["Authorization"] = f"Bearer {settings.admin_token}"
    headers.update(call.headers or {})
    return headers


def _error_for(response: httpx.Response) -> OnshiError:
    problem: Any = None
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = None
    return OnshiError.from_problem(response.status_code, problem, response.text[:500])


def _retryable(call: Call[Any], failure: Exception) -> bool:
    if isinstance(failure, ConnectionFailed):
        return True  # never reached the server
    if not call.idempotent:
        return False
    if isinstance(failure, Timeout):
        return True
    return isinstance(failure, ServerUnavailable) and failure.status in RETRY_STATUSES


def _finish(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise _error_for(response)
    try:
        return call.parse(response)
    except (ValueError, KeyError) as exc:
        # The server answered something we cannot read: report it, never guess.
        raise BadRequest(
            f"unreadable answer from {call.path}: {exc}", status=response.status_code, code="bad_answer"
        ) from exc


def _translate(exc: httpx.HTTPError, call: Call[Any]) -> OnshiError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ConnectionFailed(
            f"cannot reach the server for {call.path}: {exc}",
            code="connection_failed",
            title="Server unreachable",
            title_ja="サーバーに接続できません",
        )
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(
            f"no answer from {call.path} in time: {exc}",
            code="timeout",
            title="Timed out",
            title_ja="応答がありません（タイムアウト）",
        )
    return ConnectionFailed(
        f"transport error on {call.path}: {exc}",
        code="transport_error",
        title="Transport error",
        title_ja="通信エラー",
    )


def _timeout(settings: ClientSettings) -> httpx.Timeout:
    return httpx.Timeout(settings.timeout, connect=settings.connect_timeout)


class OnshiClient:
    """Synchronous client. Use as a context manager, or call :meth:`close`.

    >>> settings = ClientSettings("http://localhost:8000", "1312345678", "token")
    >>> with OnshiClient(settings) as c:  # doctest: +SKIP
    ...     c.number_check("06139981", "1234", "19800401", symbol="12").validity
    <QualificationValidity.VALID: '1'>
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = (
            (settings or ClientSettings()).with_(**overrides) if overrides else (settings or ClientSettings())
        )
        self.api = Api(self.settings)
        self._http = httpx.Client(
            base_url=self.settings.base_url, timeout=_timeout(self.settings), transport=transport
        )

    def __enter__(self) -> OnshiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def run(self, call: Call[T]) -> T:
        """Performs one call with the retry policy; raises an :class:`OnshiError` subclass."""
        attempt = 0
        while True:
            try:
                try:
                    response = self._http.request(
                        call.method,
                        call.path,
                        json=call.json,
                        content=call.content,
                        params=call.params,
                        headers=_headers(self.settings, call),
                    )
                except httpx.HTTPError as exc:
                    raise _translate(exc, call) from exc
                return _finish(call, response)
            except OnshiError as failure:
                if attempt >= self.settings.retries or not _retryable(call, failure):
                    raise
                time.sleep(self.settings.backoff * (2**attempt))
                attempt += 1

    # --- eligibility ----------------------------------------------------------------------

    def number_check(
        self,
        insurer_number: str,
        number: str,
        birthdate: str | date,
        *,
        symbol: str | None = None,
        branch: str | None = None,
        limit_consent: bool = False,
        file_id: str | None = None,
    ) -> CheckOutcome:
        """Number check (OQSsiquc01req) from a 資格確認書, 資格情報のお知らせ or old card.

        >>> client.number_check("06139981", "1234", "19800401", symbol="12", branch="00")  # doctest: +SKIP
        """
        info = search_info(
            insurer_number, number, birthdate, symbol=symbol, branch=branch, limit_consent=limit_consent
        )
        return self.run(self.api.number_check(self.api.number_check_message(info, file_id)))

    def send_number_check(self, message: NumberCheckRequestMessage) -> CheckOutcome:
        """Sends a ready-made OQSsiquc01req message."""
        return self.run(self.api.number_check(message))

    def bulk_check(
        self,
        queries: Sequence[QualificationConfirmSearchInfo] | BulkCheckRequestMessage,
        file_id: str | None = None,
    ) -> BulkResultMessage:
        """Bulk check (一括照会, OQSmuquc01req); ``CheckOutcome.from_bulk_unit`` reads each unit.

        >>> query = search_info("06139981", "1234", "19800401", arbitrary_identifier="P1")
        >>> res = client.bulk_check([query])  # doctest: +SKIP
        >>> [CheckOutcome.from_bulk_unit(u).valid for u in res.MessageBody.BulkConfirmUnit]  # doctest: +SKIP
        [True]
        """
        message = (
            queries
            if isinstance(queries, BulkCheckRequestMessage)
            else self.api.bulk_check_message(queries, file_id)
        )
        return self.run(self.api.bulk_check(message))

    def post_xml(self, kind: str, xml: bytes, encoding: str | None = None) -> XmlAnswer:
        """Sends an XML request file unchanged (kind: number | bulk); returns the XML answer bytes."""
        return self.run(self.api.post_xml(kind, xml, encoding))

    def challenge(self, reader_id: str) -> Challenge:
        """Step 1 of a card check: a single-use nonce (60 s on the simulated clock)."""
        return self.run(self.api.challenge(reader_id))

    def card_check(self, payload: Mapping[str, Any]) -> CheckOutcome:
        """Step 2 of a card check: submit what the reader built (see :func:`card_check_payload`)."""
        return self.run(self.api.card_check(payload))

    def medical_info(self, check_id: str, kind: MedicalInfoKind | str) -> Any:
        """Medication/clinical/operation/check-up records of a card check.

        Raises :class:`Forbidden` (403, with the reason) when no consent was recorded or a flag withholds.
        """
        return self.run(self.api.medical_info(check_id, kind))

    # --- admin ----------------------------------------------------------------------------

    def get_clock(self) -> Any:
        return self.run(self.api.admin("GET", "clock"))

    def set_clock(
        self,
        *,
        set_to: str | datetime | None = None,
        advance_seconds: float | None = None,
        frozen: bool | None = None,
    ) -> Any:
        return self.run(self.api.admin("POST", "clock", _clock_body(set_to, advance_seconds, frozen)))

    def load_fixtures(self, name: str = "personas") -> Any:
        return self.run(self.api.admin("POST", "fixtures/load", {"name": name}))

    def personas(self) -> Any:
        return self.run(self.api.admin("GET", "personas"))

    def event(self, kind: str, **fields: Any) -> Any:
        """A registry event, e.g. ``event("set_no_provide", person_id=..., lag_days=0)``."""
        return self.run(self.api.admin("POST", "events", {"kind": kind, **fields}))

    def register_reader(self, clinic_code: str | None = None) -> Any:
        return self.run(
            self.api.admin("POST", "readers", {"clinic_code": clinic_code or self.settings.clinic_code})
        )

    def card(self, persona_or_person_id: str) -> Any:
        return self.run(self.api.admin("GET", f"cards/{persona_or_person_id}"))

    def issue_card(self, **fields: Any) -> Any:
        return self.run(self.api.admin("POST", "cards", fields))

    def access_log(self, person_id: str | None = None) -> Any:
        return self.run(
            self.api.admin("GET", "access-log", params={"person_id": person_id} if person_id else None)
        )

    def set_faults(self, *, outage: bool | None = None, latency_ms: int | None = None) -> Any:
        return self.run(self.api.admin("POST", "faults", _faults_body(outage, latency_ms)))


class AsyncOnshiClient:
    """The same API as :class:`OnshiClient`, awaitable.

    >>> async with AsyncOnshiClient(settings) as c:  # doctest: +SKIP
    ...     outcome = await c.number_check("06139981", "1234", "19800401", symbol="12")
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = (
            (settings or ClientSettings()).with_(**overrides) if overrides else (settings or ClientSettings())
        )
        self.api = Api(self.settings)
        self._http = httpx.AsyncClient(
            base_url=self.settings.base_url, timeout=_timeout(self.settings), transport=transport
        )

    async def __aenter__(self) -> AsyncOnshiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                try:
                    response = await self._http.request(
                        call.method,
                        call.path,
                        json=call.json,
                        content=call.content,
                        params=call.params,
                        headers=_headers(self.settings, call),
                    )
                except httpx.HTTPError as exc:
                    raise _translate(exc, call) from exc
                return _finish(call, response)
            except OnshiError as failure:
                if attempt >= self.settings.retries or not _retryable(call, failure):
                    raise
                await asyncio.sleep(self.settings.backoff * (2**attempt))
                attempt += 1

    async def number_check(
        self,
        insurer_number: str,
        number: str,
        birthdate: str | date,
        *,
        symbol: str | None = None,
        branch: str | None = None,
        limit_consent: bool = False,
        file_id: str | None = None,
    ) -> CheckOutcome:
        info = search_info(
            insurer_number, number, birthdate, symbol=symbol, branch=branch, limit_consent=limit_consent
        )
        return await self.run(self.api.number_check(self.api.number_check_message(info, file_id)))

    async def send_number_check(self, message: NumberCheckRequestMessage) -> CheckOutcome:
        return await self.run(self.api.number_check(message))

    async def bulk_check(
        self,
        queries: Sequence[QualificationConfirmSearchInfo] | BulkCheckRequestMessage,
        file_id: str | None = None,
    ) -> BulkResultMessage:
        message = (
            queries
            if isinstance(queries, BulkCheckRequestMessage)
            else self.api.bulk_check_message(queries, file_id)
        )
        return await self.run(self.api.bulk_check(message))

    async def post_xml(self, kind: str, xml: bytes, encoding: str | None = None) -> XmlAnswer:
        return await self.run(self.api.post_xml(kind, xml, encoding))

    async def challenge(self, reader_id: str) -> Challenge:
        return await self.run(self.api.challenge(reader_id))

    async def card_check(self, payload: Mapping[str, Any]) -> CheckOutcome:
        return await self.run(self.api.card_check(payload))

    async def medical_info(self, check_id: str, kind: MedicalInfoKind | str) -> Any:
        return await self.run(self.api.medical_info(check_id, kind))

    async def get_clock(self) -> Any:
        return await self.run(self.api.admin("GET", "clock"))

    async def set_clock(
        self,
        *,
        set_to: str | datetime | None = None,
        advance_seconds: float | None = None,
        frozen: bool | None = None,
    ) -> Any:
        return await self.run(self.api.admin("POST", "clock", _clock_body(set_to, advance_seconds, frozen)))

    async def load_fixtures(self, name: str = "personas") -> Any:
        return await self.run(self.api.admin("POST", "fixtures/load", {"name": name}))

    async def personas(self) -> Any:
        return await self.run(self.api.admin("GET", "personas"))

    async def event(self, kind: str, **fields: Any) -> Any:
        return await self.run(self.api.admin("POST", "events", {"kind": kind, **fields}))

    async def register_reader(self, clinic_code: str | None = None) -> Any:
        return await self.run(
            self.api.admin("POST", "readers", {"clinic_code": clinic_code or self.settings.clinic_code})
        )

    async def card(self, persona_or_person_id: str) -> Any:
        return await self.run(self.api.admin("GET", f"cards/{persona_or_person_id}"))

    async def issue_card(self, **fields: Any) -> Any:
        return await self.run(self.api.admin("POST", "cards", fields))

    async def access_log(self, person_id: str | None = None) -> Any:
        return await self.run(
            self.api.admin("GET", "access-log", params={"person_id": person_id} if person_id else None)
        )

    async def set_faults(self, *, outage: bool | None = None, latency_ms: int | None = None) -> Any:
        return await self.run(self.api.admin("POST", "faults", _faults_body(outage, latency_ms)))


def _clock_body(
    set_to: str | datetime | None, advance_seconds: float | None, frozen: bool | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if set_to is not None:
        body["set"] = set_to.isoformat() if isinstance(set_to, datetime) else set_to
    if advance_seconds is not None:
        body["advance_seconds"] = advance_seconds
    if frozen is not None:
        body["frozen"] = frozen
    return body


def _faults_body(outage: bool | None, latency_ms: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if outage is not None:
        body["outage"] = outage
    if latency_ms is not None:
        body["latency_ms"] = latency_ms
    return body


__all__ = [
    "Api",
    "AsyncOnshiClient",
    "BadRequest",
    "Call",
    "Challenge",
    "CheckOutcome",
    "ClientSettings",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "NotFound",
    "OnshiClient",
    "OnshiError",
    "ServerUnavailable",
    "Timeout",
    "Unauthorized",
    "XmlAnswer",
    "card_check_payload",
    "search_info",
]
