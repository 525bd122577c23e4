"""The reader's smartphone path, in the pure state machine (fake clock, no I/O): the 汎用 reader
setting, Android's PIN on the reader, iPhone's confirmation on the phone, holding the phone."""

from __future__ import annotations

import pytest

from cardreader_emulator.errors import ReaderError
from cardreader_emulator.machine import (
    Cancel,
    CardPlaced,
    ConsentAnswered,
    InvalidAction,
    PhoneConfirmed,
    PhoneHeld,
    PhoneRead,
    PinSubmitted,
    ReaderMachine,
    ReadPhone,
    ReportError,
    ReportResult,
    Sent,
    SmartphoneChosen,
    StartCheck,
    State,
    SubmitCheck,
    Tick,
)
from onshi.codes import AuthMethod, CheckMedium, PrescriptionIssueSelect


def chosen(platform: str, *, general_reader: bool = True) -> tuple[ReaderMachine, list[object]]:
    m = ReaderMachine(general_reader=general_reader)
    commands = m.dispatch(SmartphoneChosen(f"hanako.{platform}", platform), 0)
    return m, list(commands)


def held(m: ReaderMachine, now: float = 1.0) -> ReadPhone:
    (read,) = m.dispatch(PhoneHeld("ok"), now)
    assert isinstance(read, ReadPhone) and m.state is State.PHONE_READING
    return read


def through_consents(m: ReaderMachine) -> SubmitCheck:
    commands: list[object] = []
    while m.state is State.CONSENT:
        if m.ctx.consent_step is not None and m.ctx.consent_step.value == "prescription":
            commands = list(m.dispatch(ConsentAnswered(prescription=PrescriptionIssueSelect.PAPER), 2))
        else:
            commands = list(m.dispatch(ConsentAnswered(agreed=True), 2))
    (submit,) = commands
    assert isinstance(submit, SubmitCheck)
    return submit


def test_without_a_general_reader_choosing_the_smartphone_says_so_and_tells_the_console() -> None:
    m = ReaderMachine(general_reader=False)
    m.dispatch(StartCheck("P-1"), 0)
    commands = m.dispatch(SmartphoneChosen("hanako.iphone", "iphone"), 0)
    assert m.state is State.ERROR and m.ctx.error is ReaderError.NO_GENERAL_READER
    assert len(commands) == 1 and isinstance(commands[0], ReportError)
    assert (commands[0].error, commands[0].patient_ref) == (ReaderError.NO_GENERAL_READER, "P-1")
    snap = m.snapshot()
    assert snap["error"]["code"] == "R701" and snap["medium"] == "smartphone"
    assert "汎用カードリーダー" in snap["error"]["ja"] and "資格確認書" in snap["error"]["ja"]
    m.dispatch(Tick(), 11)  # no card to take: back to waiting by itself
    assert m.state is State.IDLE


def test_android_pin_then_hold_then_consents_submit_as_smartphone_pin() -> None:
    m, commands = chosen("android")
    assert commands == [] and m.state is State.PHONE_PIN and m.snapshot()["platform"] == "android"
    m.dispatch(PinSubmitted(), 1)
    assert m.state is State.PHONE_HOLD
    read = held(m)
    m.dispatch(PhoneRead(read.step, pin_ok=True, pin_remaining=3), 1)
    assert m.state is State.CONSENT
    submit = through_consents(m)
    assert submit.medium is CheckMedium.SMARTPHONE and submit.method is AuthMethod.PIN
    (report,) = m.dispatch(Sent(submit.step, {"validity": "1"}), 3)
    assert isinstance(report, ReportResult) and m.state is State.RESULT
    m.dispatch(Tick(), 3 + m.timeouts.result_without_card + 0.1)  # the phone is not left on the reader
    assert m.state is State.IDLE


def test_android_wrong_pin_found_at_the_read_asks_again_and_the_lock_ends_the_phone_path() -> None:
    m, _ = chosen("android")
    m.dispatch(PinSubmitted(), 1)
    read = held(m)
    m.dispatch(PhoneRead(read.step, pin_ok=False, pin_remaining=2), 1)
    assert m.state is State.PHONE_PIN and m.snapshot()["pin_remaining"] == 2
    notice = m.snapshot()["notice"]["ja"]
    assert "残り2回" in notice and "マイナンバーカードと共通" in notice
    m.dispatch(PinSubmitted(), 2)
    read = held(m, 2)
    commands = m.dispatch(PhoneRead(read.step, pin_ok=False, pin_remaining=0, pin_locked=True), 2)
    assert m.state is State.ERROR and m.ctx.error is ReaderError.PHONE_PIN_LOCKED
    assert isinstance(commands[0], ReportError) and commands[0].error is ReaderError.PHONE_PIN_LOCKED


def test_iphone_face_id_failures_count_down_then_the_reader_sends_the_counter_to_other_means() -> None:
    m, _ = chosen("iphone")
    assert m.state is State.PHONE_CONFIRM and m.ctx.method is AuthMethod.BIOMETRIC
    m.dispatch(PhoneConfirmed(False), 1)
    assert m.state is State.PHONE_CONFIRM and "あと2回" in m.snapshot()["notice"]["ja"]
    m.dispatch(PhoneConfirmed(False), 2)
    commands = m.dispatch(PhoneConfirmed(False), 3)
    assert m.state is State.ERROR and m.ctx.error is ReaderError.PHONE_AUTH_FAILED
    assert isinstance(commands[0], ReportError)


def test_iphone_confirmed_then_held_submits_as_smartphone_biometric() -> None:
    m, _ = chosen("iphone")
    m.dispatch(PhoneConfirmed(True), 1)
    read = held(m)
    m.dispatch(PhoneRead(read.step), 1)
    submit = through_consents(m)
    assert (submit.medium, submit.method) == (CheckMedium.SMARTPHONE, AuthMethod.BIOMETRIC)


@pytest.mark.parametrize(("outcome", "code"), [("not_read", "R702"), ("moved_early", "R703")])
def test_a_phone_not_read_or_moved_early_asks_to_hold_it_again_on_the_same_timer(outcome: str,
                                                                                 code: str) -> None:
    m, _ = chosen("iphone")
    m.dispatch(PhoneConfirmed(True), 1)
    deadline = m.deadline
    assert m.dispatch(PhoneHeld(outcome), 5) == []
    assert m.state is State.PHONE_HOLD and m.snapshot()["notice"]["code"] == code
    assert m.deadline == deadline  # trying again does not buy more time
    held(m, 6)


def test_a_phone_never_read_in_time_ends_with_r704() -> None:
    m, _ = chosen("android")
    m.dispatch(PinSubmitted(), 1)
    m.dispatch(PhoneHeld("not_read"), 2)
    assert m.dispatch(Tick(), 1 + m.timeouts.phone_hold - 0.5) == []
    (report,) = m.dispatch(Tick(), 1 + m.timeouts.phone_hold + 0.1)
    assert isinstance(report, ReportError) and report.error is ReaderError.PHONE_TIMEOUT
    assert m.snapshot()["error"]["code"] == "R704"


def test_a_late_phone_read_after_a_cancel_is_ignored_and_a_card_cannot_be_placed_mid_phone() -> None:
    m, _ = chosen("android")
    m.dispatch(PinSubmitted(), 1)
    with pytest.raises(InvalidAction):
        m.dispatch(CardPlaced("taro"), 1)
    read = held(m)
    m.dispatch(Cancel(), 2)
    assert m.dispatch(PhoneRead(read.step, pin_ok=True, pin_remaining=3), 2) == []
    assert m.state is State.ERROR and m.ctx.error is ReaderError.CANCELLED


def test_the_console_check_started_while_the_phone_path_runs_belongs_to_that_patient() -> None:
    m, _ = chosen("iphone")
    m.dispatch(StartCheck("P-7"), 1)
    assert m.ctx.patient_ref == "P-7" and m.ctx.next_patient_ref is None
