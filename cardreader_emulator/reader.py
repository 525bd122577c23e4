"""The reader device: the state machine plus its I/O (card, camera frames, central system, files).

Every action (card placed, face presented, PIN typed …) goes to the pure machine under a lock;
the commands it answers are carried out *outside* the lock, so the touch-screen page can poll the
state ("reading…", "sending…") while a slow step runs, and a cancel during sending is honoured
(the late answer is dropped by the machine's step check).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from cardreader_emulator import faces
from cardreader_emulator.card import CardStore, NoPin, PinResult, VirtualCard, VirtualPhone
from cardreader_emulator.central import Central, CentralError
from cardreader_emulator.errors import ReaderError
from cardreader_emulator.machine import (
    CameraFailed,
    Cancel,
    CardFacts,
    CardPlaced,
    CardRead,
    CardReadFailed,
    CardRemoved,
    ChooseMethod,
    Command,
    ConsentAnswered,
    Disconnected,
    Event,
    FaceMatched,
    FaceSubmitted,
    ForgetCard,
    InvalidAction,
    MatchFace,
    PhoneConfirmed,
    PhoneHeld,
    PhoneRead,
    PhoneReadFailed,
    PinChecked,
    PinSubmitted,
    ReadCard,
    ReaderMachine,
    ReadPhone,
    Reconnected,
    ReportError,
    ReportResult,
    SendFailed,
    Sent,
    SmartphoneChosen,
    StartCheck,
    State,
    SubmitCheck,
    Tick,
    Timeouts,
    VerifyPin,
    VisualConfirmed,
    method_of,
    prescription_of,
)
from cardreader_emulator.results import (
    encoding_of,
    error_notice,
    medium_comment,
    notify_console,
    result_notice,
    write_result_file,
)
from cardreader_emulator.screens import result_screen
from cardreader_emulator.tray import Tray

log = logging.getLogger("onshi.reader")


MAX_SLOW_READ_MS = 60_000


class Faults(BaseModel):
    """Reader faults on demand (F6). Closed and typed: a misspelt fault or a wrong type is refused
    when it is set, not as a crash at the next card read."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    card_unreadable: StrictBool = Field(default=False, description="the chip does not answer: R101")
    not_my_number_card: StrictBool = Field(default=False, description="some other IC card: R102")
    camera_unavailable: StrictBool = Field(default=False, description="R201; falls back to PIN / visual")
    slow_read_ms: StrictInt = Field(default=0, ge=0, le=MAX_SLOW_READ_MS, description="a slow chip read")
    unplugged: StrictBool = Field(default=False, description="the reader's cable is out: R401")
    unplug_at: State | None = Field(
        default=None, description="pull the cable when the check reaches this state (e.g. sending)"
    )
    network_down: StrictBool = Field(default=False, description="no route to the central system: R501")

    def view(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass
class ReaderConfig:
    cards_dir: Path
    results_dir: Path
    encoding: str = "utf-8"
    console_url: str | None = None
    threshold: float = faces.DEFAULT_THRESHOLD
    face_attempts: int = 3
    timeouts: Timeouts = field(default_factory=Timeouts)
    general_reader: bool = True  # a 汎用カードリーダー beside the reader: smartphones can be used


def summarise(answer: dict[str, Any]) -> dict[str, Any]:
    """What the reader screen and the script print from the central system's answer."""
    result = answer.get("result", {})
    header = result.get("MessageHeader", {})
    body = result.get("MessageBody", {})
    people = (body.get("ResultList") or {}).get("ResultOfQualificationConfirmation") or []
    first = people[0] if people else {}
    return {
        "check_id": answer.get("check_id"),
        "processing_result_status": body.get("ProcessingResultStatus"),
        "processing_result_code": body.get("ProcessingResultCode"),
        "processing_result_message": body.get("ProcessingResultMessage"),
        "validity": body.get("QualificationValidity"),
        "segment_of_result": header.get("SegmentOfResult"),
        "error_code": header.get("ErrorCode"),
        "error_message": header.get("ErrorMessage"),
        "name": first.get("Name"),
        "birthdate": first.get("Birthdate"),
        "insurer_number": first.get("InsurerNumber"),
        "insurer_name": first.get("InsurerName"),
        "copay": first.get("InsuredPartialContributionRatio"),
        "prescription": body.get("PrescriptionIssueSelect"),
        "notes": answer.get("notes", []),
        "withheld": answer.get("withheld", []),
        "medical_info": answer.get("medical_info", []),
        "file": None,
    }


class Reader:
    def __init__(
        self,
        config: ReaderConfig,
        central: Central | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        tray: Tray | None = None,
    ) -> None:
        self.config = config
        self.central = central
        self._base_clock = clock
        self._skipped = 0.0  # seconds the reader's clock was moved on (`hold: timeout` in a script)
        self.clock: Callable[[], float] = lambda: self._base_clock() + self._skipped
        self.sleep = sleep  # the slow-read fault waits through this (tests advance a fake clock)
        self.store = CardStore(config.cards_dir)
        # the cards beside the reader, kept in step with the registry when it has a card source
        self.tray = tray or Tray(self.store, None)
        self.encoding = encoding_of(config.encoding)
        self.machine = ReaderMachine(
            face_attempts=config.face_attempts, timeouts=config.timeouts, now=clock(),
            general_reader=config.general_reader,
        )
        self.faults = Faults()
        self.reader_id = central.identity.reader_id if central else "R-offline"
        self._lock = threading.RLock()
        self._card: VirtualCard | None = None
        self._phone: VirtualPhone | None = None  # the phone of the check by smartphone under way
        self._reference: faces.Encoding | None = None
        self._pending_image: faces.Image | None = None
        self._pending_pin: str | None = None
        self.last_answer: dict[str, Any] | None = None
        self.last_file: Path | None = None
        self.last_summary: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []

    # --- actions (each returns the new state snapshot) -----------------------------------------

    def start_check(self, patient_ref: str) -> dict[str, Any]:
        return self._act(StartCheck(patient_ref))

    def place_card(self, card_id: str) -> dict[str, Any]:
        return self._act(CardPlaced(card_id))

    def remove_card(self) -> dict[str, Any]:
        return self._act(CardRemoved())

    def choose(self, method: str) -> dict[str, Any]:
        return self._act(ChooseMethod(method_of(method)))

    def present_face(self, image: faces.Image) -> dict[str, Any]:
        with self._lock:
            self._pending_image = image
        return self._act(FaceSubmitted())

    def capture(self, spec: str) -> faces.Image:
        """A prepared camera frame; ``holder`` (``holder:mask``, ``holder+man-a`` …) is the card
        holder on the reader (the card's shipped face, or the card's own photo for a trainee's card)."""
        parts = []
        for part in spec.split("+"):
            name, sep, derivation = part.partition(":")
            if name == "holder":
                with self._lock:
                    card = self._card
                if card is None or card.photo_path is None:
                    raise ValueError("no card with a photo on the reader: 'holder' has no face")
                name = card.photo_source or str(card.photo_path)
            parts.append(name + sep + derivation)
        return faces.capture("+".join(parts))

    def samples(self) -> dict[str, list[dict[str, str]]]:
        """The prepared captures for the page, in words: the card holder's first, then everyone."""
        with self._lock:
            card = self._card
        holder = []
        if card is not None and card.photo_path is not None:
            for derivation in faces.SAMPLE_DERIVATIONS:
                ja, en = faces.CAPTURE_LABELS[derivation]
                if derivation == "plain":
                    holder.append({"spec": "holder", "ja": "カードの本人", "en": "the card holder"})
                else:
                    holder.append({"spec": f"holder:{derivation}", "ja": f"カードの本人・{ja}",
                                   "en": f"the card holder, {en}"})
        everyone = [{"spec": spec, **faces.capture_label(spec)} for spec in faces.sample_specs()]
        return {"holder": holder, "all": everyone}

    def camera_failed(self) -> dict[str, Any]:
        return self._act(CameraFailed())

    def enter_pin(self, pin: str) -> dict[str, Any]:
        with self._lock:
            self._pending_pin = pin
        return self._act(PinSubmitted())

    def confirm_visual(self) -> dict[str, Any]:
        return self._act(VisualConfirmed())

    def answer_consent(self, answer: bool | str) -> dict[str, Any]:
        if isinstance(answer, bool):
            return self._act(ConsentAnswered(agreed=answer))
        return self._act(ConsentAnswered(prescription=prescription_of(answer)))

    def cancel(self) -> dict[str, Any]:
        return self._act(Cancel())

    # --- the smartphone path ---------------------------------------------------------------------

    def choose_phone(self, phone_id: str) -> dict[str, Any]:
        """The patient picks スマートフォン on the screen with this phone (``<person_id>.<platform>``,
        see `onshi card list`). ValueError for a phone not in the tray."""
        try:
            phone = self.tray.current_phone(self.store.phone(phone_id))  # as the registry last set it up
        except KeyError:
            known = ", ".join(self.store.phone_ids()) or "none"
            raise ValueError(f"no phone {phone_id!r} in the tray (phones: {known})") from None
        with self._lock:
            previous = self._phone
            self._phone = phone
        try:
            return self._act(SmartphoneChosen(phone.phone_id, phone.platform))
        except InvalidAction:
            with self._lock:
                self._phone = previous
            raise

    def confirm_on_phone(self, ok: bool) -> dict[str, Any]:
        """iPhone: the holder's Face ID / Touch ID on the phone (``ok`` False: it failed)."""
        return self._act(PhoneConfirmed(ok))

    def hold_phone(self, outcome: str = "ok") -> dict[str, Any]:
        """The phone held on the 汎用 reader: ``ok``, ``not_read`` (antenna position), ``moved_early``;
        ``timeout``: it is not held in time (the reader's clock runs to the end of the hold's time)."""
        if outcome == "timeout":
            if self.machine.state is not State.PHONE_HOLD:
                raise InvalidAction(self.machine.state, PhoneHeld(outcome))
            return self.run_out_the_clock()
        return self._act(PhoneHeld(outcome))

    def run_out_the_clock(self) -> dict[str, Any]:
        """Moves the reader's clock to the current screen's deadline (what waiting would do, at once)."""
        with self._lock:
            deadline = self.machine.deadline
            if deadline is not None:
                self._skipped += max(0.0, deadline - self.clock()) + 0.001
        return self.tick()

    def set_general_reader(self, present: bool) -> dict[str, Any]:
        """Whether the clinic has a 汎用カードリーダー beside the face-auth reader (a reader setting)."""
        with self._lock:
            self.config.general_reader = present
            self.machine.general_reader = present
        return self.snapshot()

    def tick(self) -> dict[str, Any]:
        return self._act(Tick())

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Changes the named faults, all or none (pydantic.ValidationError, a ValueError, names the
        unknown or mistyped fault)."""
        with self._lock:
            changed = Faults.model_validate(self.faults.model_dump() | changes)
            plugged_change = changed.unplugged != self.faults.unplugged
            self.faults = changed
        if plugged_change:
            self._act(Disconnected() if changed.unplugged else Reconnected())
        return self.faults.view()

    # --- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snap = self.machine.snapshot()
            snap["reader_id"] = self.reader_id
            snap["card"] = self._card.summary() if self._card else None
            phone_check = snap["medium"] == "smartphone" and self._phone is not None
            snap["phone"] = self._phone.summary() if phone_check and self._phone is not None else None
            snap["screen"] = result_screen(snap["summary"]) if snap["summary"] else None
            snap["faults"] = self.faults.view()
            snap["threshold"] = self.config.threshold
            snap["encoding"] = self.encoding.codec
            return snap

    # --- the loop: event → machine → commands → events … -------------------------------------

    def _act(self, event: Event) -> dict[str, Any]:
        pending = self._dispatch(event)
        while pending:
            command = pending.pop(0)
            step = getattr(command, "step", None)
            if step is not None and step != self.machine.step:
                continue  # the machine moved on (cancel, card pulled, cable out): don't do it
            follow_up = self._execute(command)
            if follow_up is not None:
                pending += self._dispatch(follow_up)
        return self.snapshot()

    def _dispatch(self, event: Event) -> list[Command]:
        """The machine's step, in one critical section with the result file of a check that ends in
        it: whoever sees the result state (the clinic client, the console) finds its file named."""
        with self._lock:
            now = self.clock()
            commands = self.machine.dispatch(event, now)
            self._record(event, now)
            commands += self._maybe_unplug()
            for command in commands:
                if isinstance(command, ReportResult):
                    self._write_result(command)
            return commands

    def _record(self, event: object, now: float) -> None:
        """The state timeline: each event, when it came (on the reader's clock), the state it led to."""
        self.history.append(
            {"at": round(now, 3), "event": type(event).__name__, "state": self.machine.state.value}
        )
        del self.history[:-200]

    def _maybe_unplug(self) -> list[Command]:
        if self.faults.unplug_at is not None and self.faults.unplug_at is self.machine.state:
            self.faults.unplug_at = None
            self.faults.unplugged = True
            return self.machine.dispatch(Disconnected(), self.clock())
        return []

    def _execute(self, command: Command) -> Event | None:
        if isinstance(command, ReadCard):
            return self._read_card(command)
        if isinstance(command, MatchFace):
            return self._match_face(command)
        if isinstance(command, VerifyPin):
            return self._verify_pin(command)
        if isinstance(command, ReadPhone):
            return self._read_phone(command)
        if isinstance(command, SubmitCheck):
            return self._submit(command)
        if isinstance(command, ReportResult):
            self._notify_result(command)
        elif isinstance(command, ReportError):
            ctx = self.machine.ctx
            notify_console(
                self.config.console_url,
                error_notice(self.reader_id, command.patient_ref, command.error, command.detail,
                             medium=ctx.medium.value, platform=ctx.platform),
            )
        elif isinstance(command, ForgetCard):
            with self._lock:
                if self._card is not None:
                    self._card.reset_session()
                self._card = None
                self._reference = None
        return None

    def _read_card(self, command: ReadCard) -> Event | None:
        if self.faults.slow_read_ms:
            self.sleep(self.faults.slow_read_ms / 1000)
        if self.faults.card_unreadable:
            return CardReadFailed(command.step, ReaderError.CARD_NOT_RECOGNISED)
        with self._lock:
            if self._phone is not None:
                self._phone.reset_session()
                self._phone = None  # a card now: the last phone check is over
        try:
            card = self.tray.current(self.store.get(command.card_id))  # as the registry last issued it
        except KeyError:
            return CardReadFailed(command.step, ReaderError.CARD_NOT_RECOGNISED)
        if self.faults.not_my_number_card or not card.is_my_number_card:
            return CardReadFailed(command.step, ReaderError.NOT_MY_NUMBER_CARD)
        reference = None
        if card.photo_path is not None:
            try:  # the chip photo's encoding, once per card (cached by content)
                reference = faces.reference_encoding(faces.load_image(card.photo_path))
            except (faces.NoFaceInPhoto, ValueError):
                reference = None  # an unusable photo: face matching is impossible, as with no photo
        with self._lock:
            if command.step != self.machine.step:
                return None  # cancelled, timed out or pulled during the read: this card is not on the reader
            self._card = card
            self._reference = reference
        facts = CardFacts(
            card.card_id,
            has_photo=reference is not None,
            has_pin=card.has_pin,
            pin_remaining=card.pin_remaining,
            variant=str(card.variant),
        )
        return CardRead(command.step, facts)

    def _match_face(self, command: MatchFace) -> Event:
        with self._lock:
            image, self._pending_image = self._pending_image, None
            reference = self._reference
        if self.faults.camera_unavailable or image is None or reference is None:
            return CameraFailed(command.step)
        outcome = faces.match(image, reference, self.config.threshold)
        log.info(
            "face attempt: %s distance=%s %.0f ms", outcome.reason.value, outcome.distance, outcome.elapsed_ms
        )
        return FaceMatched(
            command.step,
            outcome.matched,
            outcome.reason.value,
            outcome.ja,
            outcome.en,
            None if outcome.distance is None else round(outcome.distance, 3),
        )

    def _verify_pin(self, command: VerifyPin) -> Event | None:
        with self._lock:
            pin, self._pending_pin = self._pending_pin, None
            card = self._card
        if card is None:
            return None  # the card was pulled meanwhile; the machine has already moved on
        result: PinResult = card.verify_pin(pin or "")
        return PinChecked(command.step, result.ok, result.remaining, result.locked)

    def _read_phone(self, command: ReadPhone) -> Event | None:
        """The 汎用 reader reads the phone; an Android phone checks the PIN typed before the hold
        against the card's PIN record (the shared 3-try lock), an iPhone was confirmed on the phone."""
        with self._lock:
            pin, self._pending_pin = self._pending_pin, None
            phone = self._phone
        if self.faults.slow_read_ms:
            self.sleep(self.faults.slow_read_ms / 1000)
        if phone is None or phone.phone_id != command.phone_id:
            return PhoneReadFailed(command.step, ReaderError.PHONE_NOT_SET_UP)
        if not phone.is_android:
            phone.confirm_biometric(True)  # the machine reached the hold only after Face ID succeeded
            return PhoneRead(command.step)
        try:
            result = phone.verify_pin(pin or "")
        except NoPin:
            return PhoneReadFailed(command.step, ReaderError.PHONE_NOT_SET_UP)
        return PhoneRead(command.step, result.ok, result.remaining, result.locked)

    def _submit(self, command: SubmitCheck) -> Event:
        card: VirtualCard | VirtualPhone | None = self._card
        if command.medium.value == "smartphone":
            card = self._phone
            if card is None:
                return SendFailed(command.step, ReaderError.PHONE_NOT_SET_UP)
        if card is None:
            return SendFailed(command.step, ReaderError.CARD_REMOVED)
        if self.faults.network_down or self.central is None:
            return SendFailed(command.step, ReaderError.NETWORK_FAILURE, "no route to the central system")
        try:
            answer = self.central.card_check(
                card, command.method, command.consents, encoding=self.encoding.codec
            )
        except CentralError as exc:
            return SendFailed(command.step, exc.error, exc.detail)
        with self._lock:
            self.last_answer = answer
        summary = summarise(answer)
        summary.update(medium=command.medium.value, method=command.method.value,
                       platform=self.machine.ctx.platform)
        return Sent(command.step, summary)

    def _write_result(self, command: ReportResult) -> None:
        """The result file (under the lock, see :meth:`_dispatch`), named in the summary."""
        answer = self.last_answer or {}
        summary = command.summary
        path = None
        try:
            path = write_result_file(self.config.results_dir, answer.get("result", {}), self.encoding,
                                     comment=medium_comment(*_medium_of(summary)))
        except Exception:  # a result the codec cannot render must still reach the console
            log.exception("result file not written")
        self.last_file = path
        if self.machine.ctx.summary is not None:
            self.machine.ctx.summary["file"] = path.name if path else None
        self.last_summary = dict(summary, file=path.name if path else None)

    def _notify_result(self, command: ReportResult) -> None:
        medium, platform, method = _medium_of(command.summary)
        path = self.last_file
        notify_console(
            self.config.console_url,
            result_notice(self.reader_id, command.patient_ref, path.name if path else None,
                          self.last_answer or {}, medium=medium, platform=platform, method=method),
        )


def _medium_of(summary: dict[str, Any]) -> tuple[str, Any, Any]:
    """(medium, platform, method) a check's summary names."""
    return str(summary.get("medium") or "card"), summary.get("platform"), summary.get("method")


def safe(action: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any] | None, InvalidAction | None]:
    try:
        return action(), None
    except InvalidAction as exc:
        return None, exc


__all__ = ["Faults", "Reader", "ReaderConfig", "State", "safe", "summarise"]
