"""The reader's state machine: pure, no I/O, time from the caller.

It follows the real face-auth reader: waiting for a card → reading → choice of method (face,
PIN, staff visual check) → face capture and match / PIN entry / staff confirmation → consent
screens → sending → result → card removed. Every step has a timeout and can be cancelled.

The smartphone マイナ保険証 (DOMAIN.md section 3) starts from the waiting screen: the patient picks
スマートフォン (``SmartphoneChosen``). Without a 汎用カードリーダー at this clinic (the reader setting
``general_reader``) the reader says so (R701) and the counter checks by other means. Android: the
card's 4-digit PIN on the reader (``PHONE_PIN``); iPhone: the holder confirms on the phone (Face ID /
Touch ID, ``PHONE_CONFIRM``); then the phone is held on the 汎用 reader for 1–2 s (``PHONE_HOLD``:
"not read" and "moved too early" ask to hold it again; no read before the hold timeout: R704); the
phone is read (``PHONE_READING``: Android's PIN is checked there against the card's PIN record, so
it shares the card's 3-try lock), then the consent screens and the check as for the card. The phone
does not stay on the reader: the result screen returns to waiting by itself.

``ReaderMachine.dispatch(event, now)`` changes the state and returns the *commands* the driver
(``reader.Reader``) must carry out: read the card, match a face, verify a PIN, send the check,
report. Their results come back as events. Each command carries the machine's ``step``; a result
for an older step (the patient cancelled meanwhile, the card was pulled) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from cardreader_emulator.errors import ReaderError
from onshi.codes import AuthMethod, CheckMedium, PrescriptionIssueSelect


def method_of(value: str) -> AuthMethod:
    """``AuthMethod`` from its wire value ("face", "pin", "visual"; "biometric" on the phone path)."""
    for method in AuthMethod:
        if method.value == value:
            return method
    raise ValueError(f"unknown method {value!r}; expected face, pin or visual")


def prescription_of(value: str) -> PrescriptionIssueSelect:
    aliases = {"electronic": "1", "paper": "2", "電子": "1", "紙": "2"}
    value = aliases.get(value, value)
    for choice in PrescriptionIssueSelect:
        if choice.value == value:
            return choice
    raise ValueError(f"unknown prescription choice {value!r}; expected 1 (electronic) or 2 (paper)")


class State(StrEnum):
    IDLE = "idle"  # カードを置いてください
    READING = "reading"  # カードを読み取っています
    METHOD = "method"  # 本人確認の方法を選んでください
    FACE = "face"  # カメラに顔を向けてください
    MATCHING = "matching"  # 顔認証中
    PIN = "pin"  # 暗証番号を入力してください
    PIN_CHECKING = "pin_checking"
    VISUAL = "visual"  # 職員が目視で確認します
    CONSENT = "consent"  # 同意の確認
    SENDING = "sending"  # 資格情報を確認しています
    RESULT = "result"  # 受付が完了しました。カードをお取りください
    ERROR = "error"
    PHONE_PIN = "phone_pin"  # Android: 暗証番号（カードと同じ数字4桁）を入力してください
    PHONE_CONFIRM = "phone_confirm"  # iPhone: スマートフォンで本人確認（Face ID / Touch ID）
    PHONE_HOLD = "phone_hold"  # スマートフォンを汎用カードリーダーにかざしてください
    PHONE_READING = "phone_reading"  # スマートフォンを読み取っています


BUSY_STATES = frozenset(
    {State.READING, State.MATCHING, State.PIN_CHECKING, State.SENDING, State.PHONE_READING}
)
PHONE_STATES = frozenset({State.PHONE_PIN, State.PHONE_CONFIRM, State.PHONE_HOLD, State.PHONE_READING})
HOLD_OUTCOMES = ("ok", "not_read", "moved_early")


class ConsentStep(StrEnum):
    """The consent screens in the real reader's order."""

    MEDICAL = "medical"  # 診療・お薬の情報 (medication and clinical)
    OPERATION = "operation"  # 手術情報 (asked only after MEDICAL was agreed)
    CHECKUP = "checkup"  # 特定健診情報
    LIMIT = "limit"  # 限度額情報 (高額療養費制度)
    PRESCRIPTION = "prescription"  # 電子処方箋 or 紙 (a choice, not a yes/no)


CONSENT_ORDER = (
    ConsentStep.MEDICAL,
    ConsentStep.OPERATION,
    ConsentStep.CHECKUP,
    ConsentStep.LIMIT,
    ConsentStep.PRESCRIPTION,
)


@dataclass(frozen=True)
class Timeouts:
    """Seconds each state may wait for the patient or the device."""

    reading: float = 15.0
    method: float = 60.0
    face: float = 30.0
    matching: float = 15.0
    pin: float = 60.0
    pin_checking: float = 15.0
    visual: float = 180.0
    consent: float = 60.0
    sending: float = 40.0
    phone_pin: float = 60.0
    phone_confirm: float = 60.0
    phone_hold: float = 20.0  # no successful read of the phone by then: R704
    phone_reading: float = 15.0
    error_without_card: float = 10.0  # an error screen with no card left returns to waiting
    result_without_card: float = 15.0  # a phone check's result (no card to take) returns to waiting
    waiting_for_card: float = 180.0  # a check the console started, with no card placed: withdrawn

    def for_state(self, state: State) -> float | None:
        return {
            State.READING: self.reading,
            State.METHOD: self.method,
            State.FACE: self.face,
            State.MATCHING: self.matching,
            State.PIN: self.pin,
            State.PIN_CHECKING: self.pin_checking,
            State.VISUAL: self.visual,
            State.CONSENT: self.consent,
            State.SENDING: self.sending,
            State.PHONE_PIN: self.phone_pin,
            State.PHONE_CONFIRM: self.phone_confirm,
            State.PHONE_HOLD: self.phone_hold,
            State.PHONE_READING: self.phone_reading,
        }.get(state)


@dataclass(frozen=True)
class CardFacts:
    """What the reader learns from the chip."""

    card_id: str
    has_photo: bool
    has_pin: bool
    pin_remaining: int
    variant: str


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartCheck:
    patient_ref: str


@dataclass(frozen=True)
class CardPlaced:
    card_id: str


@dataclass(frozen=True)
class CardRead:
    step: int
    facts: CardFacts


@dataclass(frozen=True)
class CardReadFailed:
    step: int
    error: ReaderError


@dataclass(frozen=True)
class ChooseMethod:
    method: AuthMethod


@dataclass(frozen=True)
class FaceSubmitted:
    pass


@dataclass(frozen=True)
class FaceMatched:
    step: int
    matched: bool
    reason: str
    ja: str
    en: str
    distance: float | None = None


@dataclass(frozen=True)
class CameraFailed:
    step: int | None = None


@dataclass(frozen=True)
class PinSubmitted:
    pass


@dataclass(frozen=True)
class PinChecked:
    step: int
    ok: bool
    remaining: int
    locked: bool


@dataclass(frozen=True)
class VisualConfirmed:
    pass


@dataclass(frozen=True)
class ConsentAnswered:
    agreed: bool | None = None  # yes/no screens
    prescription: PrescriptionIssueSelect | None = None  # the prescription screen


@dataclass(frozen=True)
class Sent:
    step: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class SendFailed:
    step: int
    error: ReaderError
    detail: str = ""


@dataclass(frozen=True)
class CardRemoved:
    pass


@dataclass(frozen=True)
class SmartphoneChosen:
    """The patient picks スマートフォン on the waiting screen, with this phone in hand."""

    phone_id: str
    platform: str  # android | iphone


@dataclass(frozen=True)
class PhoneConfirmed:
    """iPhone: the holder's Face ID / Touch ID on the phone succeeded (or not)."""

    ok: bool


@dataclass(frozen=True)
class PhoneHeld:
    """The phone held on the 汎用 reader: ``ok``, ``not_read`` (antenna position) or ``moved_early``."""

    outcome: str


@dataclass(frozen=True)
class PhoneRead:
    step: int
    pin_ok: bool = True  # Android: the PIN typed before the hold, as the phone checked it
    pin_remaining: int = 0
    pin_locked: bool = False


@dataclass(frozen=True)
class PhoneReadFailed:
    step: int
    error: ReaderError


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Disconnected:
    pass


@dataclass(frozen=True)
class Reconnected:
    pass


@dataclass(frozen=True)
class Tick:
    pass


Event = (
    StartCheck | CardPlaced | CardRead | CardReadFailed | ChooseMethod | FaceSubmitted | FaceMatched
    | CameraFailed | PinSubmitted | PinChecked | VisualConfirmed | ConsentAnswered | Sent | SendFailed
    | CardRemoved | Cancel | Disconnected | Reconnected | Tick | SmartphoneChosen | PhoneConfirmed | PhoneHeld
    | PhoneRead | PhoneReadFailed
)


# --- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadCard:
    step: int
    card_id: str


@dataclass(frozen=True)
class MatchFace:
    step: int


@dataclass(frozen=True)
class VerifyPin:
    step: int


@dataclass(frozen=True)
class SubmitCheck:
    step: int
    method: AuthMethod
    consents: dict[str, Any]
    medium: CheckMedium = CheckMedium.CARD


@dataclass(frozen=True)
class ReadPhone:
    """Read the phone held on the 汎用 reader (Android: the phone checks the PIN typed before)."""

    step: int
    phone_id: str


@dataclass(frozen=True)
class ReportResult:
    """Write the result file and tell the console."""

    summary: dict[str, Any]
    patient_ref: str | None


@dataclass(frozen=True)
class ReportError:
    error: ReaderError
    patient_ref: str | None
    detail: str = ""


@dataclass(frozen=True)
class ForgetCard:
    """The card left the reader: the chip's session (verified PIN) ends."""


Command = ReadCard | MatchFace | VerifyPin | SubmitCheck | ReportResult | ReportError | ForgetCard | ReadPhone


class InvalidAction(Exception):
    """The patient pressed something the current screen does not offer; ``reason`` says why when
    the reader has a message for it (a face-only card has no PIN, a locked PIN)."""

    def __init__(self, state: State, event: object, reason: ReaderError | None = None) -> None:
        message = f"{type(event).__name__} is not possible in state {state.value}"
        super().__init__(message if reason is None else f"{message}: [{reason.value}] {reason.en}")
        self.state = state
        self.reason = reason


@dataclass(frozen=True)
class Notice:
    code: str
    ja: str
    en: str

    @classmethod
    def of(cls, error: ReaderError) -> Notice:
        return cls(str(error), error.ja, error.en)


@dataclass
class Context:
    card_id: str | None = None
    card_present: bool = False
    facts: CardFacts | None = None
    patient_ref: str | None = None
    next_patient_ref: str | None = None  # a check started while this card is still on the reader
    methods: tuple[AuthMethod, ...] = ()
    method: AuthMethod | None = None
    face_attempts: int = 0
    face_disabled: bool = False
    pin_disabled: bool = False
    pin_remaining: int = 0
    notice: Notice | None = None
    last_face: dict[str, Any] | None = None
    consent_step: ConsentStep | None = None
    consents: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: ReaderError | None = None
    error_detail: str = ""
    medium: CheckMedium = CheckMedium.CARD
    phone_id: str | None = None
    platform: str | None = None  # android | iphone (the phone path)
    phone_attempts: int = 0  # failed confirmations on the phone (iPhone)


class ReaderMachine:
    def __init__(self, *, face_attempts: int = 3, timeouts: Timeouts | None = None, now: float = 0.0,
                 general_reader: bool = True, phone_attempts: int = 3) -> None:
        self.max_face_attempts = face_attempts
        self.max_phone_attempts = phone_attempts
        self.general_reader = general_reader  # a 汎用カードリーダー for smartphones beside this reader
        self.timeouts = timeouts or Timeouts()
        self.state = State.IDLE
        self.ctx = Context()
        self.step = 0
        self.connected = True
        self.entered_at = now
        self.now = now

    # --- public ------------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        if self.state is State.ERROR and not self.ctx.card_present:
            return self.entered_at + self.timeouts.error_without_card
        if self.state is State.RESULT and not self.ctx.card_present:
            return self.entered_at + self.timeouts.result_without_card
        if self.state is State.IDLE and self.ctx.patient_ref:
            return self.entered_at + self.timeouts.waiting_for_card
        limit = self.timeouts.for_state(self.state)
        return None if limit is None else self.entered_at + limit

    def dispatch(self, event: Event, now: float) -> list[Command]:
        self.now = now
        if isinstance(event, Tick):
            return self._tick()
        if isinstance(event, Disconnected):
            return self._disconnect()
        if isinstance(event, Reconnected):
            self.connected = True
            if self.state is State.ERROR and self.ctx.error is ReaderError.READER_DISCONNECTED:
                self._enter(State.IDLE)
                self.ctx = Context(card_present=False)
            return []
        if not self.connected:
            raise InvalidAction(self.state, event)
        answers = (CardRead | CardReadFailed | FaceMatched | PinChecked | Sent | SendFailed | PhoneRead
                   | PhoneReadFailed)
        if isinstance(event, answers) and event.step != self.step:
            return []  # an answer to a step the machine has already left
        if isinstance(event, CameraFailed) and event.step is not None and event.step != self.step:
            return []
        handler = getattr(self, f"_on_{type(event).__name__}")
        commands: list[Command] = handler(event)
        return commands

    def snapshot(self) -> dict[str, Any]:
        ctx = self.ctx
        deadline = self.deadline
        return {
            "state": self.state.value,
            "step": self.step,
            "connected": self.connected,
            "card_present": ctx.card_present,
            "card_id": ctx.card_id,
            "patient_ref": ctx.patient_ref,
            "next_patient_ref": ctx.next_patient_ref,
            "methods": [m.value for m in ctx.methods],
            "method": ctx.method.value if ctx.method else None,
            "face_attempts": ctx.face_attempts,
            "face_attempts_left": max(0, self.max_face_attempts - ctx.face_attempts),
            "pin_remaining": ctx.pin_remaining,
            "notice": None if ctx.notice is None else {"code": ctx.notice.code, "ja": ctx.notice.ja,
                                                        "en": ctx.notice.en},
            "last_face": ctx.last_face,
            "consent_step": ctx.consent_step.value if ctx.consent_step else None,
            "consents": dict(ctx.consents),
            "summary": ctx.summary,
            "error": None if ctx.error is None else ctx.error.describe() | {"detail": ctx.error_detail},
            "seconds_left": None if deadline is None else max(0.0, round(deadline - self.now, 1)),
            "medium": ctx.medium.value,
            "phone_id": ctx.phone_id,
            "platform": ctx.platform,
            "phone_attempts_left": max(0, self.max_phone_attempts - ctx.phone_attempts),
            "general_reader": self.general_reader,
        }

    # --- helpers -----------------------------------------------------------------------------

    def _enter(self, state: State) -> None:
        self.state = state
        self.step += 1
        self.entered_at = self.now

    def _invalid(self, event: object, reason: ReaderError | None = None) -> list[Command]:
        raise InvalidAction(self.state, event, reason)

    def _why_not(self, method: AuthMethod) -> ReaderError | None:
        """The reader's message for a method the card does not allow."""
        facts = self.ctx.facts
        if method is AuthMethod.PIN and facts is not None:
            if not facts.has_pin:
                return ReaderError.PIN_NOT_SET  # a face-only card
            if self.ctx.pin_disabled or self.ctx.pin_remaining <= 0:
                return ReaderError.PIN_LOCKED
        return None

    def _fail(self, error: ReaderError, detail: str = "") -> list[Command]:
        self.ctx.error = error
        self.ctx.error_detail = detail
        self.ctx.notice = None
        self._enter(State.ERROR)
        return [ReportError(error, self.ctx.patient_ref, detail)]

    def _offer_methods(self) -> list[Command]:
        ctx = self.ctx
        facts = ctx.facts
        assert facts is not None
        methods: list[AuthMethod] = []
        if facts.has_photo and not ctx.face_disabled:
            methods.append(AuthMethod.FACE)
        if facts.has_pin and not ctx.pin_disabled and ctx.pin_remaining > 0:
            methods.append(AuthMethod.PIN)
        methods.append(AuthMethod.VISUAL)  # staff can always check by sight
        ctx.methods = tuple(methods)
        ctx.method = None
        if not facts.has_photo and not ctx.face_disabled and ctx.notice is None:
            # An infant's card has no photo: nothing to match, so staff check by sight.
            ctx.method = AuthMethod.VISUAL
            self._enter(State.VISUAL)
            return []
        self._enter(State.METHOD)
        return []

    def _start_consents(self) -> list[Command]:
        self.ctx.consents = {}
        self.ctx.notice = None
        self.ctx.consent_step = ConsentStep.MEDICAL
        self._enter(State.CONSENT)
        return []

    def _next_consent(self) -> list[Command]:
        ctx = self.ctx
        assert ctx.consent_step is not None
        index = CONSENT_ORDER.index(ctx.consent_step) + 1
        while index < len(CONSENT_ORDER):
            step = CONSENT_ORDER[index]
            if step is ConsentStep.OPERATION and not ctx.consents.get("medication"):
                ctx.consents["operation"] = False  # surgery info is asked only with the medical consent
                index += 1
                continue
            ctx.consent_step = step
            self._enter(State.CONSENT)
            return []
        ctx.consent_step = None
        self._enter(State.SENDING)
        assert ctx.method is not None
        return [SubmitCheck(self.step, ctx.method, self.wire_consents(), ctx.medium)]

    def wire_consents(self) -> dict[str, Any]:
        """Consents as the card-check request carries them (docs/architecture.md)."""
        c = self.ctx.consents
        return {
            "medication": bool(c.get("medication")),
            "clinical": bool(c.get("clinical")),
            "operation": bool(c.get("operation")),
            "checkup": bool(c.get("checkup")),
            "limit_bracket": bool(c.get("limit_bracket")),
            "prescription": c.get("prescription", PrescriptionIssueSelect.PAPER.value),
        }

    # --- event handlers ----------------------------------------------------------------------

    def _tick(self) -> list[Command]:
        deadline = self.deadline
        if deadline is None or self.now < deadline:
            return []
        if self.state in (State.ERROR, State.RESULT):  # shown long enough with no card: back to waiting
            self._enter(State.IDLE)
            self.ctx = Context(patient_ref=self.ctx.next_patient_ref)
            return []
        if not self.connected:
            return []
        if self.state is State.IDLE:  # the console's check never got a card: it is told, not left waiting
            patient_ref, self.ctx.patient_ref = self.ctx.patient_ref, None
            self._enter(State.IDLE)
            return [ReportError(ReaderError.NO_CARD, patient_ref)]
        if self.state is State.PHONE_HOLD:
            return self._fail(ReaderError.PHONE_TIMEOUT, "the phone was not read in time")
        return self._fail(ReaderError.TIMEOUT, f"no answer in state {self.state.value}")

    def _disconnect(self) -> list[Command]:
        if not self.connected:
            return []
        self.connected = False
        commands: list[Command] = [ForgetCard()]
        waiting = [ref for ref in (self.ctx.next_patient_ref,) if ref]
        if self.state is State.IDLE and self.ctx.patient_ref:
            waiting.append(self.ctx.patient_ref)
        commands += [ReportError(ReaderError.READER_DISCONNECTED, ref) for ref in waiting]
        self.ctx.next_patient_ref = None
        if self.state not in (State.IDLE, State.RESULT, State.ERROR):
            commands += self._fail(ReaderError.READER_DISCONNECTED)
        else:
            self.ctx.error = ReaderError.READER_DISCONNECTED
            self._enter(State.ERROR)
        return commands

    def _on_StartCheck(self, event: StartCheck) -> list[Command]:
        """The console starts a check for a patient. One check at a time, and every check the
        console started ends in a report to it (a result or a reader error):

        - no card on the reader: the reader waits for this patient's card (a check still waiting
          for its card is withdrawn, and its console told: R603);
        - a card on the reader whose check has no patient yet: the patient is already at the reader;
        - the previous patient's card still on the reader (its result or error showing, or its
          check running): this check waits until that card is taken, then waits for its card.
        """
        ctx = self.ctx
        ref = event.patient_ref
        commands: list[Command] = []
        if not ctx.card_present and self.state in (State.IDLE, State.RESULT, State.ERROR):
            if self.state is State.IDLE and ctx.patient_ref not in (None, ref):
                commands.append(ReportError(ReaderError.SUPERSEDED, ctx.patient_ref))
            self._enter(State.IDLE)  # the wait for the card starts now (its timeout too)
            self.ctx = Context(patient_ref=ref)
            return commands
        running = (ctx.card_present or self.state in PHONE_STATES or ctx.medium is CheckMedium.SMARTPHONE) \
            and self.state not in (State.IDLE, State.RESULT, State.ERROR)
        if running and ctx.patient_ref in (None, ref):
            ctx.patient_ref = ref  # the patient is already at the reader
            return commands
        if ctx.next_patient_ref not in (None, ref):
            commands.append(ReportError(ReaderError.SUPERSEDED, ctx.next_patient_ref))
        ctx.next_patient_ref = ref  # after the card on the reader is taken
        return commands

    def _on_CardPlaced(self, event: CardPlaced) -> list[Command]:
        if self.ctx.card_present:
            return self._invalid(event)
        if self.state not in (State.IDLE, State.ERROR, State.RESULT):
            return self._invalid(event)
        patient_ref = self.ctx.patient_ref if self.state is State.IDLE else self.ctx.next_patient_ref
        self.ctx = Context(card_id=event.card_id, card_present=True, patient_ref=patient_ref)
        self._enter(State.READING)
        return [ReadCard(self.step, event.card_id)]

    def _on_CardRead(self, event: CardRead) -> list[Command]:
        self.ctx.facts = event.facts
        self.ctx.pin_remaining = event.facts.pin_remaining if event.facts.has_pin else 0
        if event.facts.has_pin and event.facts.pin_remaining <= 0:
            self.ctx.pin_disabled = True
        return self._offer_methods()

    def _on_CardReadFailed(self, event: CardReadFailed) -> list[Command]:
        return self._fail(event.error)

    def _on_ChooseMethod(self, event: ChooseMethod) -> list[Command]:
        if self.state not in (State.METHOD, State.VISUAL, State.FACE, State.PIN):
            return self._invalid(event)
        if event.method not in self.ctx.methods:
            return self._invalid(event, self._why_not(event.method))
        self.ctx.method = event.method
        self.ctx.notice = None
        self._enter({AuthMethod.FACE: State.FACE, AuthMethod.PIN: State.PIN, AuthMethod.VISUAL: State.VISUAL}[
            event.method])
        return []

    def _on_FaceSubmitted(self, event: FaceSubmitted) -> list[Command]:
        if self.state is not State.FACE:
            return self._invalid(event)
        self._enter(State.MATCHING)
        return [MatchFace(self.step)]

    def _on_FaceMatched(self, event: FaceMatched) -> list[Command]:
        ctx = self.ctx
        ctx.face_attempts += 1
        ctx.last_face = {"matched": event.matched, "reason": event.reason, "ja": event.ja, "en": event.en,
                         "distance": event.distance, "attempt": ctx.face_attempts}
        if event.matched:
            return self._start_consents()
        left = self.max_face_attempts - ctx.face_attempts
        if left > 0:
            ja = f"{event.ja}（あと{left}回）"
            ctx.notice = Notice(event.reason, ja, f"{event.en} ({left} tries left)")
            self._enter(State.FACE)
            return []
        ctx.face_disabled = True
        ctx.notice = Notice.of(ReaderError.FACE_NOT_CONFIRMED)
        return self._offer_methods()

    def _on_CameraFailed(self, event: CameraFailed) -> list[Command]:
        if self.state not in (State.FACE, State.MATCHING, State.METHOD):
            return self._invalid(event)
        self.ctx.face_disabled = True
        self.ctx.notice = Notice.of(ReaderError.CAMERA_FAILURE)
        return self._offer_methods()  # the check goes on with the PIN or staff

    def _on_PinSubmitted(self, event: PinSubmitted) -> list[Command]:
        if self.state is State.PHONE_PIN:
            self.ctx.notice = None
            self._enter(State.PHONE_HOLD)  # the phone checks the PIN when it is read
            return []
        if self.state is not State.PIN:
            return self._invalid(event)
        self._enter(State.PIN_CHECKING)
        return [VerifyPin(self.step)]

    def _on_PinChecked(self, event: PinChecked) -> list[Command]:
        ctx = self.ctx
        ctx.pin_remaining = event.remaining
        if event.ok:
            return self._start_consents()
        if event.locked:
            ctx.pin_disabled = True
            ctx.notice = Notice.of(ReaderError.PIN_LOCKED)
            return self._offer_methods()
        ctx.notice = Notice(
            "pin_wrong",
            f"暗証番号が違います。残り{event.remaining}回です。3回間違えるとロックされます。",
            f"Wrong PIN. {event.remaining} tries left; 3 wrong entries lock the card.",
        )
        self._enter(State.PIN)
        return []

    def _on_VisualConfirmed(self, event: VisualConfirmed) -> list[Command]:
        if self.state is not State.VISUAL:
            return self._invalid(event)
        return self._start_consents()

    def _on_ConsentAnswered(self, event: ConsentAnswered) -> list[Command]:
        ctx = self.ctx
        if self.state is not State.CONSENT or ctx.consent_step is None:
            return self._invalid(event)
        step = ctx.consent_step
        if step is ConsentStep.PRESCRIPTION:
            if event.prescription is None:
                return self._invalid(event)
            ctx.consents["prescription"] = event.prescription.value
        else:
            if event.agreed is None:
                return self._invalid(event)
            if step is ConsentStep.MEDICAL:
                ctx.consents["medication"] = event.agreed
                ctx.consents["clinical"] = event.agreed
            elif step is ConsentStep.OPERATION:
                ctx.consents["operation"] = event.agreed
            elif step is ConsentStep.CHECKUP:
                ctx.consents["checkup"] = event.agreed
            elif step is ConsentStep.LIMIT:
                ctx.consents["limit_bracket"] = event.agreed
        return self._next_consent()

    def _on_Sent(self, event: Sent) -> list[Command]:
        self.ctx.summary = event.summary
        self._enter(State.RESULT)
        return [ReportResult(event.summary, self.ctx.patient_ref)]

    def _on_SendFailed(self, event: SendFailed) -> list[Command]:
        return self._fail(event.error, event.detail)

    def _on_CardRemoved(self, event: CardRemoved) -> list[Command]:
        if not self.ctx.card_present:
            return self._invalid(event)
        self.ctx.card_present = False
        commands: list[Command] = [ForgetCard()]
        if self.state in (State.RESULT, State.ERROR):
            if self.state is State.RESULT or self.ctx.error is not ReaderError.READER_DISCONNECTED:
                next_patient = self.ctx.next_patient_ref
                self._enter(State.IDLE)
                self.ctx = Context(patient_ref=next_patient)  # the next patient's check, if started
            return commands
        return commands + self._fail(ReaderError.CARD_REMOVED)

    def _on_Cancel(self, event: Cancel) -> list[Command]:
        if self.state in (State.IDLE, State.RESULT, State.ERROR):
            if self.state is State.IDLE and self.ctx.patient_ref:
                self.ctx = replace(self.ctx, patient_ref=None)  # the console withdrew its request
            return []
        return self._fail(ReaderError.CANCELLED)

    # --- the smartphone path ---------------------------------------------------------------------

    def _on_SmartphoneChosen(self, event: SmartphoneChosen) -> list[Command]:
        if self.ctx.card_present or self.state not in (State.IDLE, State.ERROR, State.RESULT):
            return self._invalid(event)
        if event.platform not in ("android", "iphone"):
            return self._invalid(event)
        patient_ref = self.ctx.patient_ref if self.state is State.IDLE else self.ctx.next_patient_ref
        android = event.platform == "android"
        self.ctx = Context(patient_ref=patient_ref, medium=CheckMedium.SMARTPHONE, phone_id=event.phone_id,
                           platform=event.platform)
        if not self.general_reader:
            return self._fail(ReaderError.NO_GENERAL_READER, "no general-purpose card reader at this clinic")
        self.ctx.method = AuthMethod.PIN if android else AuthMethod.BIOMETRIC
        self.ctx.methods = (self.ctx.method,)
        self.ctx.pin_remaining = 3 if android else 0  # learnt from the phone when it is read
        self._enter(State.PHONE_PIN if android else State.PHONE_CONFIRM)
        return []

    def _on_PhoneConfirmed(self, event: PhoneConfirmed) -> list[Command]:
        ctx = self.ctx
        if self.state is not State.PHONE_CONFIRM:
            return self._invalid(event)
        if event.ok:
            ctx.notice = None
            self._enter(State.PHONE_HOLD)
            return []
        ctx.phone_attempts += 1
        left = self.max_phone_attempts - ctx.phone_attempts
        if left <= 0:
            return self._fail(ReaderError.PHONE_AUTH_FAILED, "Face ID / Touch ID failed on the phone")
        ctx.notice = Notice(
            "phone_auth_failed",
            f"スマートフォンで本人確認ができませんでした。もう一度お試しください（あと{left}回）。",
            f"The phone could not confirm you. Try again ({left} tries left).",
        )
        self._enter(State.PHONE_CONFIRM)
        return []

    def _on_PhoneHeld(self, event: PhoneHeld) -> list[Command]:
        if self.state is not State.PHONE_HOLD or event.outcome not in HOLD_OUTCOMES:
            return self._invalid(event)
        if event.outcome == "not_read":  # the hold's timer keeps running: the patient tries again
            self.ctx.notice = Notice.of(ReaderError.PHONE_NOT_READ)
            return []
        if event.outcome == "moved_early":
            self.ctx.notice = Notice.of(ReaderError.PHONE_MOVED_EARLY)
            return []
        assert self.ctx.phone_id is not None
        self.ctx.notice = None
        self._enter(State.PHONE_READING)
        return [ReadPhone(self.step, self.ctx.phone_id)]

    def _on_PhoneRead(self, event: PhoneRead) -> list[Command]:
        ctx = self.ctx
        if ctx.platform == "android":
            ctx.pin_remaining = event.pin_remaining
            if event.pin_locked:
                return self._fail(ReaderError.PHONE_PIN_LOCKED)
            if not event.pin_ok:
                ctx.notice = Notice(
                    "pin_wrong",
                    f"暗証番号が違います。残り{event.pin_remaining}回です。3回間違えるとロックされます"
                    "（マイナンバーカードと共通）。",
                    f"Wrong PIN. {event.pin_remaining} tries left; 3 wrong entries lock it (shared with the "
                    "My Number card).",
                )
                self._enter(State.PHONE_PIN)
                return []
        return self._start_consents()

    def _on_PhoneReadFailed(self, event: PhoneReadFailed) -> list[Command]:
        return self._fail(event.error)
