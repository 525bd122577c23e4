"""Typed client for the onshi-sim central system: every API, sync (:class:`OnshiClient`) and
async (:class:`AsyncOnshiClient`), over httpx.

Quick start::

    from clinic_client.client import OnshiClient, ClientSettings

    settings = ClientSettings("http://localhost:8000", clinic_code="1312345678", clinic_token="…")
    with OnshiClient(settings) as client:
        outcome = client.number_check("06139981", "1234", "19800401", symbol="12", branch="00")
        if outcome.valid:
            print(outcome.primary.Name, outcome.primary.InsuredPartialContributionRatio)

Every method is written once, as a request builder on :class:`Api` (no I/O); :class:`OnshiClient`
runs the built :class:`Call`, :class:`AsyncOnshiClient` awaits it (see :class:`Endpoint`), so the
two clients cannot drift apart. Admin methods need ``admin_token``.

Errors are exceptions carrying the server's problem JSON (``clinic_client.errors``). Retries
happen only where repeating cannot do harm: when the request never reached the server, or for
read-only calls (GETs and the eligibility queries) on timeouts and 502/503/504. Card-check
submissions spend a single-use nonce and are never repeated.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Concatenate, Generic, Literal, NotRequired, ParamSpec, TypedDict, TypeVar, overload

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
    BulkDownloadRequestBody,
    BulkDownloadRequestHeader,
    BulkDownloadRequestMessage,
    BulkReceiptMessage,
    BulkResultMessage,
    NumberCheckRequestBody,
    NumberCheckRequestMessage,
    QualificationConfirmSearchInfo,
    RequestHeader,
    ResultMessage,
)
from onshi.timeutil import JST

T = TypeVar("T")
P = ParamSpec("P")
API = "/api/v1"
# A registry reload rewrites every table: seconds on a slow or busy machine, beyond a check's timeout.
FIXTURE_LOAD_TIMEOUT = 120.0
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
    # Seconds for a call that does long work on the server (a registry reload); else the settings'.
    timeout: float | None = None


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


def _text(response: httpx.Response) -> str:
    return response.text


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


def _receipt(response: httpx.Response) -> BulkReceiptMessage:
    return BulkReceiptMessage.model_validate(response.json())


def _idempotency_key() -> dict[str, str]:
    """A fresh key per call: the client's own retries of this call are answered from the server's record."""
    return {"Idempotency-Key": uuid.uuid4().hex}


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


# --- typed answers of the fixed-shape admin APIs (TypedDicts: the JSON as sent, typed) -----------

FaultKind = Literal["outage", "latency", "error", "timeout", "link_cut"]
FaultChannel = Literal["any", "clinic", "reader"]


class FaultRuleSpec(TypedDict, total=False):
    """A fault rule to add (``POST /admin/faults/rules``); only ``kind`` is required.

    ``start``/``end`` are moments on the simulated clock (ISO text or ``datetime``; JST if no zone);
    ``channel`` ``clinic`` hits number/bulk/medical-info traffic, ``reader`` the card checks.
    """

    id: str
    kind: FaultKind
    clinic: str | None
    channel: FaultChannel
    start: str | datetime | None
    end: str | datetime | None
    latency_ms: int
    rate: float
    status: int
    hold_ms: int
    seed: int
    note: str


class FaultRule(TypedDict):
    """A fault rule as the server holds it (every field filled in)."""

    id: str
    kind: FaultKind
    clinic: str | None
    channel: FaultChannel
    start: str | None
    end: str | None
    latency_ms: int
    rate: float
    status: int
    hold_ms: int
    seed: int
    note: str


class Faults(TypedDict):
    outage: bool
    latency_ms: int
    rules: list[FaultRule]


class FaultsView(Faults):
    """The faults in force (``GET /admin/faults``): ``active`` lists the rule ids in force ``now``."""

    now: str
    active: list[str]


class FaultRuleAdded(FaultsView):
    rule: FaultRule


class Health(TypedDict):
    status: str
    now: str  # the simulated clock, ISO-8601 with offset
    frozen: bool
    faults: Faults


class ClockView(TypedDict):
    now: str  # ISO-8601 with offset
    frozen: bool


class FixtureReport(TypedDict):
    personas: int
    cards: int
    events: int
    clock: str | None


class ReaderRegistration(TypedDict):
    reader_id: str
    clinic_code: str
    device_key_pem: str


class CardPerson(TypedDict):
    id: str
    name: str
    name_kana: str
    birthdate: str
    sex: str
    address: str


class CardMaterial(TypedDict):
    """A virtual card: what the reader emulator needs to play it (``GET /admin/cards/{id}``)."""

    person: CardPerson
    variant: str
    serial: str
    certificate_pem: str  # issued with the card (the server answers null only for a broken registry)
    private_key_pem: str
    photo: str | None
    pin_hash: dict[str, Any] | None  # the PIN as the chip holds it (onshi.pins.pin_record); never the digits
    pin: NotRequired[str | None]  # only in the answer to issue_card: the chosen PIN, once
    card_issued_on: str
    card_expires_on: str
    certificate_not_after: str


class AccessRecord(TypedDict):
    at: str
    clinic_code: str
    person_id: str | None
    action: str
    basis: str
    outcome: str


class EventApplied(TypedDict):
    applied: str
    person_id: NotRequired[str]


def _moment(value: str | datetime | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def fault_rule_body(rule: FaultRuleSpec | Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the server takes it: moments as ISO text, unset fields left to the server's defaults."""
    body = {k: v for k, v in dict(rule).items() if v is not None or k == "clinic"}
    for key in ("start", "end"):
        if key in body:
            body[key] = _moment(body[key])
    return {k: v for k, v in body.items() if v is not None}


class Api:
    """Builds the call of every server API (no I/O here): one method per client method, same name.

    >>> api = Api(ClientSettings(clinic_code="1312345678"))
    >>> api.get_faults().path
    '/api/v1/admin/faults'
    """

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

    # --- messages ------------------------------------------------------------------------

    def number_check_message(
        self, info: QualificationConfirmSearchInfo, file_id: str | None = None
    ) -> NumberCheckRequestMessage:
        """An OQSsiquc01req message for ``info`` (today's date, this clinic's code)."""
        return NumberCheckRequestMessage(
            MessageHeader=self._header(
                ReferenceClassification.INSURED_CARD_INFO, file_id, CharacterCodeIdentifier.UTF8
            ),
            MessageBody=NumberCheckRequestBody(QualificationConfirmSearchInfo=info),
        )

    def bulk_check_message(
        self, infos: Sequence[QualificationConfirmSearchInfo], file_id: str | None = None
    ) -> BulkCheckRequestMessage:
        """An OQSmuquc01req message holding ``infos``."""
        return BulkCheckRequestMessage(
            MessageHeader=self._header(None, file_id, CharacterCodeIdentifier.UTF8),
            MessageBody=BulkCheckRequestBody(QualificationConfirmSearchInfo=list(infos)),
        )

    # --- meta and J-LIS ------------------------------------------------------------------

    def health(self) -> Call[Health]:
        """Whether the server is up, its simulated clock and the global faults (no credentials).

        >>> client.health()["now"]  # doctest: +SKIP
        '2026-11-24T09:00:00+09:00'
        """
        return Call("GET", f"{API}/health", _json, auth="none", idempotent=True)

    def jlis_ca_pem(self) -> Call[str]:
        """The mock J-LIS root certificate (PEM), the trust anchor of every card certificate."""
        return Call("GET", f"{API}/jlis/ca.pem", _text, auth="none", idempotent=True)

    def jlis_crl_pem(self) -> Call[str]:
        """The J-LIS certificate revocation list (PEM) as of the simulated now (F15 cards are on it)."""
        return Call("GET", f"{API}/jlis/crl.pem", _text, auth="none", idempotent=True)

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
    ) -> Call[CheckOutcome]:
        """Number check (OQSsiquc01req) from a 資格確認書, 資格情報のお知らせ or old card.

        >>> outcome = client.number_check(
        ...     "06139981", "1234", "19800401", symbol="12", branch="00"
        ... )  # doctest: +SKIP
        >>> outcome.valid, outcome.primary.Name  # doctest: +SKIP
        (True, '佐藤 花子')
        """
        info = search_info(
            insurer_number, number, birthdate, symbol=symbol, branch=branch, limit_consent=limit_consent
        )
        return self.send_number_check(self.number_check_message(info, file_id))

    def send_number_check(self, message: NumberCheckRequestMessage) -> Call[CheckOutcome]:
        """Sends a ready-made OQSsiquc01req message."""
        # A query: repeating it changes nothing but the access record, so it may be retried.
        return Call("POST", f"{API}/number-checks", _result, json=dump(message), idempotent=True)

    def bulk_check(
        self,
        queries: Sequence[QualificationConfirmSearchInfo] | BulkCheckRequestMessage,
        file_id: str | None = None,
    ) -> Call[BulkResultMessage]:
        """Bulk check in one step (ours, not the real exchange: see :meth:`bulk_reception` and
        :meth:`bulk_results`); ``CheckOutcome.from_bulk_unit`` reads each unit.

        >>> query = search_info("06139981", "1234", "19800401", arbitrary_identifier="P1")
        >>> res = client.bulk_check([query])  # doctest: +SKIP
        >>> [CheckOutcome.from_bulk_unit(u).valid for u in res.MessageBody.BulkConfirmUnit]  # doctest: +SKIP
        [True]
        """
        message = (
            queries
            if isinstance(queries, BulkCheckRequestMessage)
            else self.bulk_check_message(queries, file_id)
        )
        return Call("POST", f"{API}/bulk-checks", _bulk, json=dump(message), idempotent=True,
                    headers=_idempotency_key())

    def bulk_reception(
        self,
        queries: Sequence[QualificationConfirmSearchInfo] | BulkCheckRequestMessage,
        file_id: str | None = None,
    ) -> Call[BulkReceiptMessage]:
        """Bulk check step 1 (一括照会要求, OQSmuquc01req): the receipt (OQSmuquc01res) at once; its
        ``MessageBody.ReceptionNumber`` asks for the results later with :meth:`bulk_results`.

        >>> receipt = client.bulk_reception([query], file_id="B-20261123")  # doctest: +SKIP
        >>> receipt.MessageBody.ReceptionNumber  # doctest: +SKIP
        '3F2A9C0D11E84B07'
        """
        message = (
            queries
            if isinstance(queries, BulkCheckRequestMessage)
            else self.bulk_check_message(queries, file_id)
        )
        return Call("POST", f"{API}/bulk-checks/receptions", _receipt, json=dump(message), idempotent=True,
                    headers=_idempotency_key())

    def bulk_results(self, reception_number: str) -> Call[BulkResultMessage]:
        """Bulk check step 2 (OQSmuquc02req → OQSmuquc02res). Not ready yet: ``SegmentOfResult`` 2 (処理中)
        and no units, ask again later; unknown number: 9 with ErrorCode B404; deleted after the retention
        time: 9 with B410.

        >>> res = client.bulk_results("3F2A9C0D11E84B07")  # doctest: +SKIP
        >>> res.MessageHeader.SegmentOfResult  # doctest: +SKIP
        <SegmentOfResult.NORMAL_END: '1'>
        """
        message = BulkDownloadRequestMessage(
            MessageHeader=BulkDownloadRequestHeader(MedicalInstitutionCode=self.settings.clinic_code),
            MessageBody=BulkDownloadRequestBody(ReceptionNumber=reception_number),
        )
        return Call("POST", f"{API}/bulk-checks/results", _bulk, json=dump(message), idempotent=True)

    def post_xml(
        self, kind: str, xml: bytes, encoding: str | None = None, *, idempotency_key: str | None = None
    ) -> Call[XmlAnswer]:
        """Sends a request file's bytes unchanged; answers the XML bytes. ``kind``: number
        (OQSsiquc01req), bulk (OQSmuquc01req, the receipt), bulk_results (OQSmuquc02req) or bulk_oneshot.

        ``idempotency_key``: the same key for a repeat of the same request (after a crash or a lost answer)
        gets the first answer again, without a second lookup."""
        path = {
            "number": "number-checks",
            "bulk": "bulk-checks/receptions",
            "bulk_results": "bulk-checks/results",
            "bulk_oneshot": "bulk-checks",
        }[kind]
        params = {"encoding": encoding} if encoding else None
        headers = {"Content-Type": "application/xml", "Accept": "application/xml"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return Call(
            "POST",
            f"{API}/{path}",
            _raw,
            content=xml,
            params=params,
            headers=headers,
            idempotent=True,
        )

    def challenge(self, reader_id: str) -> Call[Challenge]:
        """Step 1 of a card check: a single-use nonce (60 s on the simulated clock)."""
        # A fresh nonce each time: repeating only leaves an unused nonce to expire.
        return Call(
            "POST", f"{API}/card-checks/challenge", _challenge, json={"reader_id": reader_id}, idempotent=True
        )

    def card_check(self, payload: Mapping[str, Any]) -> Call[CheckOutcome]:
        """Step 2 of a card check: submit what the reader built (see :func:`card_check_payload`).

        Spends the nonce, so it is never repeated after it may have reached the server.
        """
        return Call("POST", f"{API}/card-checks", _card, json=dict(payload))

    def medical_info(self, check_id: str, kind: MedicalInfoKind | str) -> Call[Any]:
        """Medication/clinical/operation/check-up records of a card check.

        Raises :class:`Forbidden` (403, with the reason) when no consent was recorded or a flag withholds.
        """
        kind_value = kind.value if isinstance(kind, MedicalInfoKind) else kind
        return Call("GET", f"{API}/medical-info/{check_id}/{kind_value}", _json, idempotent=True)

    # --- admin ----------------------------------------------------------------------------

    def admin(
        self, method: str, path: str, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Call[Any]:
        """Any admin call by path (``admin("GET", "faults")``); prefer the named methods below."""
        return Call(
            method,
            f"{API}/admin/{path}",
            _json,
            json=json,
            params=params,
            auth="admin",
            idempotent=method == "GET",
        )

    def get_clock(self) -> Call[ClockView]:
        """The simulated clock: ``{"now": ISO-8601, "frozen": bool}``."""
        return self.admin("GET", "clock")

    def set_clock(
        self,
        *,
        set_to: str | datetime | None = None,
        advance_seconds: float | None = None,
        frozen: bool | None = None,
    ) -> Call[ClockView]:
        """Moves the simulated clock (jump ``set_to``, then ``advance_seconds``, then (un)freeze).

        >>> client.set_clock(set_to="2026-11-24T09:00:00+09:00", frozen=True)  # doctest: +SKIP
        {'now': '2026-11-24T09:00:00+09:00', 'frozen': True}
        """
        body: dict[str, Any] = {"set": _moment(set_to), "advance_seconds": advance_seconds, "frozen": frozen}
        return self.admin("POST", "clock", {k: v for k, v in body.items() if v is not None})

    def load_fixtures(self, name: str = "personas") -> Call[FixtureReport]:
        """Replaces the registry with a fixture set (new cards: fetch card material again)."""
        return replace(self.admin("POST", "fixtures/load", {"name": name}), timeout=FIXTURE_LOAD_TIMEOUT)

    def personas(self) -> Call[list[dict[str, Any]]]:
        """The fixture personas (id, person_id, failure, titles and the persona's own data)."""
        return self.admin("GET", "personas")

    def event(self, kind: str, **fields: Any) -> Call[EventApplied]:
        """A registry event, e.g. ``event("set_no_provide", person_id=..., lag_days=0)``."""
        return self.admin("POST", "events", {"kind": kind, **fields})

    def register_reader(self, clinic_code: str | None = None) -> Call[ReaderRegistration]:
        """Registers a face-auth reader for a clinic (default: ours); answers its device key, once."""
        return self.admin("POST", "readers", {"clinic_code": clinic_code or self.settings.clinic_code})

    def card(self, persona_or_person_id: str) -> Call[CardMaterial]:
        """One card's material (certificate, chip key, PIN, photo) for a persona or person id."""
        return self.admin("GET", f"cards/{persona_or_person_id}")

    def cards(self) -> Call[list[CardMaterial]]:
        """Every card in the registry (``GET /admin/cards``)."""
        return self.admin("GET", "cards")

    def issue_card(self, **fields: Any) -> Call[CardMaterial]:
        """Issues a card and a valid qualification for a new person (name, birthdate, photo, pin…)."""
        return self.admin("POST", "cards", fields)

    def access_log(self, person_id: str | None = None, limit: int | None = None) -> Call[list[AccessRecord]]:
        """Who looked at whom, newest first (what the person could inspect on the portal)."""
        params = {k: str(v) for k, v in (("person_id", person_id), ("limit", limit)) if v is not None}
        return self.admin("GET", "access-log", params=params or None)

    def get_faults(self) -> Call[FaultsView]:
        """The central-system faults in force (F13): ``outage``, ``latency_ms``, ``rules``, ``active``."""
        return self.admin("GET", "faults")

    def set_faults(
        self,
        *,
        outage: bool | None = None,
        latency_ms: int | None = None,
        rules: Sequence[FaultRuleSpec | Mapping[str, Any]] | None = None,
        clear: bool = False,
    ) -> Call[FaultsView]:
        """Changes the faults: ``outage`` answers 503, ``latency_ms`` slows every answer, ``rules``
        replaces all rules, ``clear`` first removes everything. Unset arguments stay as they are.

        >>> client.set_faults(outage=True)["outage"]  # doctest: +SKIP
        True
        >>> client.set_faults(clear=True, rules=[{"kind": "error", "rate": 0.5, "seed": 7}])  # doctest: +SKIP
        """
        body: dict[str, Any] = {"outage": outage, "latency_ms": latency_ms}
        if rules is not None:
            body["rules"] = [fault_rule_body(r) for r in rules]
        if clear:
            body["clear"] = True
        return self.admin("POST", "faults", {k: v for k, v in body.items() if v is not None})

    def add_fault_rule(self, rule: FaultRuleSpec | Mapping[str, Any]) -> Call[FaultRuleAdded]:
        """Adds one scoped/scheduled fault rule (same id: replaced); answers the rule and the faults.

        >>> added = client.add_fault_rule({"kind": "outage", "channel": "reader",
        ...                                "start": "2026-11-24T09:05:00+09:00"})  # doctest: +SKIP
        >>> added["rule"]["id"]  # doctest: +SKIP
        'fault-1a2b3c4d'
        """
        return self.admin("POST", "faults/rules", fault_rule_body(rule))

    def remove_fault_rule(self, rule_id: str) -> Call[FaultsView]:
        """Removes one rule by id (:class:`NotFound` if there is none)."""
        return self.admin("DELETE", f"faults/rules/{rule_id}")

    def clear_faults(self) -> Call[FaultsView]:
        """Removes every fault, global and rules: the central system is healthy again."""
        return self.admin("DELETE", "faults")


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


class Endpoint(Generic[P, T]):
    """A client method written once, as the :class:`Api` builder of the same name.

    On an :class:`OnshiClient` it runs the built call; on an :class:`AsyncOnshiClient` it answers an
    awaitable. Arguments, docstring and result type are the builder's.
    """

    def __init__(self, build: Callable[Concatenate[Api, P], Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type) -> Endpoint[P, T]: ...
    @overload
    def __get__(self, client: OnshiClient, owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncOnshiClient, owner: type) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        build = self.build

        @functools.wraps(build)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return client.run(build(client.api, *args, **kwargs))

        return bound


class _Endpoints:
    """Every server API, shared by the sync and async clients (docs: the :class:`Api` builders)."""

    api: Api

    health = Endpoint(Api.health)
    jlis_ca_pem = Endpoint(Api.jlis_ca_pem)
    jlis_crl_pem = Endpoint(Api.jlis_crl_pem)

    number_check = Endpoint(Api.number_check)
    send_number_check = Endpoint(Api.send_number_check)
    bulk_check = Endpoint(Api.bulk_check)
    bulk_reception = Endpoint(Api.bulk_reception)
    bulk_results = Endpoint(Api.bulk_results)
    post_xml = Endpoint(Api.post_xml)
    challenge = Endpoint(Api.challenge)
    card_check = Endpoint(Api.card_check)
    medical_info = Endpoint(Api.medical_info)

    get_clock = Endpoint(Api.get_clock)
    set_clock = Endpoint(Api.set_clock)
    load_fixtures = Endpoint(Api.load_fixtures)
    personas = Endpoint(Api.personas)
    event = Endpoint(Api.event)
    register_reader = Endpoint(Api.register_reader)
    card = Endpoint(Api.card)
    cards = Endpoint(Api.cards)
    issue_card = Endpoint(Api.issue_card)
    access_log = Endpoint(Api.access_log)
    get_faults = Endpoint(Api.get_faults)
    set_faults = Endpoint(Api.set_faults)
    add_fault_rule = Endpoint(Api.add_fault_rule)
    remove_fault_rule = Endpoint(Api.remove_fault_rule)
    clear_faults = Endpoint(Api.clear_faults)


def _settings(settings: ClientSettings | None, overrides: Mapping[str, Any]) -> ClientSettings:
    base = settings or ClientSettings()
    return base.with_(**overrides) if overrides else base


def _request_args(settings: ClientSettings, call: Call[Any]) -> dict[str, Any]:
    return {
        "json": call.json,
        "content": call.content,
        "params": call.params,
        "headers": _headers(settings, call),
        **({"timeout": httpx.Timeout(call.timeout, connect=settings.connect_timeout)}
           if call.timeout is not None else {}),
    }


def _delay(settings: ClientSettings, call: Call[Any], failure: OnshiError, attempt: int) -> float | None:
    """Seconds to wait before the next attempt, or None to give up (the retry policy, once)."""
    if attempt >= settings.retries or not _retryable(call, failure):
        return None
    return settings.backoff * (2**attempt)


class OnshiClient(_Endpoints):
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
        self.settings = _settings(settings, overrides)
        self.api = Api(self.settings)
        self._http = httpx.Client(
            base_url=self.settings.base_url, timeout=_timeout(self.settings), transport=transport
        )

    def __enter__(self) -> OnshiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def run(self, call: Call[T]) -> T:
        """Performs one call with the retry policy; raises an :class:`OnshiError` subclass."""
        attempt = 0
        while True:
            try:
                try:
                    response = self._http.request(
                        call.method, call.path, **_request_args(self.settings, call)
                    )
                except httpx.HTTPError as exc:
                    raise _translate(exc, call) from exc
                return _finish(call, response)
            except OnshiError as failure:
                delay = _delay(self.settings, call, failure, attempt)
                if delay is None:
                    raise
                time.sleep(delay)
                attempt += 1


class AsyncOnshiClient(_Endpoints):
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
        self.settings = _settings(settings, overrides)
        self.api = Api(self.settings)
        self._http = httpx.AsyncClient(
            base_url=self.settings.base_url, timeout=_timeout(self.settings), transport=transport
        )

    async def __aenter__(self) -> AsyncOnshiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def run(self, call: Call[T]) -> T:
        """Performs one call with the retry policy; raises an :class:`OnshiError` subclass."""
        attempt = 0
        while True:
            try:
                try:
                    response = await self._http.request(
                        call.method, call.path, **_request_args(self.settings, call)
                    )
                except httpx.HTTPError as exc:
                    raise _translate(exc, call) from exc
                return _finish(call, response)
            except OnshiError as failure:
                delay = _delay(self.settings, call, failure, attempt)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                attempt += 1


__all__ = [
    "AccessRecord",
    "Api",
    "AsyncOnshiClient",
    "BadRequest",
    "Call",
    "CardMaterial",
    "Challenge",
    "CheckOutcome",
    "ClientSettings",
    "ClockView",
    "Conflict",
    "ConnectionFailed",
    "Endpoint",
    "FaultRule",
    "FaultRuleAdded",
    "FaultRuleSpec",
    "Faults",
    "FaultsView",
    "FixtureReport",
    "Forbidden",
    "Health",
    "NotFound",
    "OnshiClient",
    "OnshiError",
    "ReaderRegistration",
    "ServerUnavailable",
    "Timeout",
    "Unauthorized",
    "XmlAnswer",
    "card_check_payload",
    "fault_rule_body",
    "search_info",
]
