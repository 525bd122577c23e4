"""The reader's state machine, driven by events with a fake clock (no I/O)."""

from __future__ import annotations

import pytest

from cardreader_emulator.errors import ReaderError
from cardreader_emulator.machine import (
    Cancel,
    CardFacts,
    CardPlaced,
    CardRead,
    CardReadFailed,
    CardRemoved,
    ChooseMethod,
    ConsentAnswered,
    Disconnected,
    FaceMatched,
    FaceSubmitted,
    ForgetCard,
    InvalidAction,
    MatchFace,
    PinChecked,
    PinSubmitted,
    ReadCard,
    ReaderMachine,
    ReportError,
    ReportResult,
    SendFailed,
    Sent,
    StartCheck,
    State,
    SubmitCheck,
    Tick,
    Timeouts,
    VerifyPin,
    VisualConfirmed,
    method_of,
)
from onshi.codes import AuthMethod, PrescriptionIssueSelect

STANDARD = CardFacts("taro", has_photo=True, has_pin=True, pin_remaining=3, variant="standard")
FACE_ONLY = CardFacts("kao", has_photo=True, has_pin=False, pin_remaining=0, variant="face_only")
INFANT = CardFacts("baby", has_photo=False, has_pin=True, pin_remaining=3, variant="infant")
LOCKED = CardFacts("locked", has_photo=True, has_pin=True, pin_remaining=0, variant="standard")


def placed(facts: CardFacts, now: float = 0.0) -> ReaderMachine:
    m = ReaderMachine(now=now)
    (read,) = m.dispatch(CardPlaced(facts.card_id), now)
    assert isinstance(read, ReadCard) and m.state is State.READING
    m.dispatch(CardRead(read.step, facts), now)
    return m


def no_match(m: ReaderMachine) -> list[object]:
    (cmd,) = m.dispatch(FaceSubmitted(), 0)
    assert isinstance(cmd, MatchFace)
    return list(m.dispatch(FaceMatched(cmd.step, False, "no_match", "一致しません", "no match", 0.7), 0))


def answer_all(m: ReaderMachine, agree: bool = True) -> SubmitCheck:
    while m.state is State.CONSENT:
        if m.ctx.consent_step and m.ctx.consent_step.value == "prescription":
            commands = m.dispatch(ConsentAnswered(prescription=PrescriptionIssueSelect.ELECTRONIC), 0)
        else:
            commands = m.dispatch(ConsentAnswered(agreed=agree), 0)
    (submit,) = commands
    assert isinstance(submit, SubmitCheck)
    return submit


def test_face_path_to_result_and_card_removed() -> None:
    m = placed(STANDARD)
    assert m.state is State.METHOD
    assert [x.value for x in m.ctx.methods] == ["face", "pin", "visual"]
    m.dispatch(ChooseMethod(AuthMethod.FACE), 0)
    (cmd,) = m.dispatch(FaceSubmitted(), 0)
    assert isinstance(cmd, MatchFace)
    m.dispatch(FaceMatched(cmd.step, True, "match", "ok", "ok", 0.2), 0)
    assert m.state is State.CONSENT and m.ctx.consent_step is not None
    submit = answer_all(m)
    assert submit.method is AuthMethod.FACE
    assert submit.consents == {"medication": True, "clinical": True, "operation": True, "checkup": True,
                               "limit_bracket": True, "prescription": "1"}
    (report,) = m.dispatch(Sent(submit.step, {"validity": "1"}), 0)
    assert isinstance(report, ReportResult) and m.state is State.RESULT
    assert m.dispatch(CardRemoved(), 0) == [ForgetCard()]
    assert m.state is State.IDLE


def test_declining_medical_consent_skips_the_surgery_screen() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.VISUAL), 0)
    m.dispatch(VisualConfirmed(), 0)
    asked = []
    while m.state is State.CONSENT:
        assert m.ctx.consent_step is not None
        asked.append(m.ctx.consent_step.value)
        if m.ctx.consent_step.value == "prescription":
            commands = m.dispatch(ConsentAnswered(prescription=PrescriptionIssueSelect.PAPER), 0)
        else:
            commands = m.dispatch(ConsentAnswered(agreed=False), 0)
    assert asked == ["medical", "checkup", "limit", "prescription"]
    (submit,) = commands
    assert isinstance(submit, SubmitCheck)
    assert submit.consents["prescription"] == "2" and not any(
        submit.consents[k] for k in ("medication", "clinical", "operation", "checkup", "limit_bracket"))


def test_face_fails_a_few_times_then_pin_is_offered() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.FACE), 0)
    no_match(m)
    assert m.state is State.FACE and m.ctx.notice is not None and "あと2回" in m.ctx.notice.ja
    no_match(m)
    no_match(m)
    assert m.state is State.METHOD
    assert [x.value for x in m.ctx.methods] == ["pin", "visual"]
    assert m.ctx.notice is not None and m.ctx.notice.code == ReaderError.FACE_NOT_CONFIRMED.value
    m.dispatch(ChooseMethod(AuthMethod.PIN), 0)
    (verify,) = m.dispatch(PinSubmitted(), 0)
    assert isinstance(verify, VerifyPin)
    m.dispatch(PinChecked(verify.step, ok=True, remaining=3, locked=False), 0)
    assert m.state is State.CONSENT


def test_pin_shows_remaining_tries_and_lock_leads_to_visual() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.PIN), 0)
    for remaining in (2, 1):
        (verify,) = m.dispatch(PinSubmitted(), 0)
        assert isinstance(verify, VerifyPin)
        m.dispatch(PinChecked(verify.step, ok=False, remaining=remaining, locked=False), 0)
        assert m.state is State.PIN and m.ctx.pin_remaining == remaining
        assert m.ctx.notice is not None and f"残り{remaining}回" in m.ctx.notice.ja
    (verify,) = m.dispatch(PinSubmitted(), 0)
    assert isinstance(verify, VerifyPin)
    m.dispatch(PinChecked(verify.step, ok=False, remaining=0, locked=True), 0)
    assert m.state is State.METHOD and AuthMethod.PIN not in m.ctx.methods
    assert m.ctx.notice is not None and m.ctx.notice.code == "R301"


def test_locked_card_never_offers_pin() -> None:
    m = placed(LOCKED)
    assert [x.value for x in m.ctx.methods] == ["face", "visual"]
    with pytest.raises(InvalidAction):
        m.dispatch(ChooseMethod(AuthMethod.PIN), 0)


def test_face_only_card_never_offers_pin() -> None:
    m = placed(FACE_ONLY)
    assert AuthMethod.PIN not in m.ctx.methods
    m.dispatch(ChooseMethod(AuthMethod.FACE), 0)
    for _ in range(3):
        no_match(m)
    assert [x.value for x in m.ctx.methods] == ["visual"]
    with pytest.raises(InvalidAction):
        m.dispatch(ChooseMethod(AuthMethod.PIN), 0)


def test_infant_card_goes_to_visual_check() -> None:
    m = placed(INFANT)
    assert m.state is State.VISUAL
    assert AuthMethod.FACE not in m.ctx.methods
    m.dispatch(VisualConfirmed(), 0)
    assert answer_all(m).method is AuthMethod.VISUAL


@pytest.mark.parametrize(
    ("state_setup", "limit"),
    [("method", 60.0), ("face", 30.0), ("pin", 60.0), ("consent", 60.0)],
)
def test_timeouts_on_the_injected_clock(state_setup: str, limit: float) -> None:
    m = placed(STANDARD, now=100.0)
    if state_setup == "face":
        m.dispatch(ChooseMethod(AuthMethod.FACE), 100.0)
    elif state_setup == "pin":
        m.dispatch(ChooseMethod(AuthMethod.PIN), 100.0)
    elif state_setup == "consent":
        m.dispatch(ChooseMethod(AuthMethod.VISUAL), 100.0)
        m.dispatch(VisualConfirmed(), 100.0)
    before = m.state
    assert m.dispatch(Tick(), 100.0 + limit - 0.1) == []
    assert m.state is before
    (report,) = m.dispatch(Tick(), 100.0 + limit + 0.1)
    assert isinstance(report, ReportError) and report.error is ReaderError.TIMEOUT
    assert m.state is State.ERROR
    m.dispatch(CardRemoved(), 200.0)
    assert m.state is State.IDLE


def test_sending_timeout_and_late_answer_ignored() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.VISUAL), 0)
    m.dispatch(VisualConfirmed(), 0)
    submit = answer_all(m)
    m.dispatch(Tick(), Timeouts().sending + 1)
    assert m.state is State.ERROR and m.ctx.error is ReaderError.TIMEOUT
    assert m.dispatch(Sent(submit.step, {"late": True}), 100) == []  # stale step
    assert m.state is State.ERROR


@pytest.mark.parametrize("where", ["method", "face", "pin", "visual", "consent", "sending"])
def test_cancel_at_every_step(where: str) -> None:
    m = placed(STANDARD)
    if where in ("face", "pin", "visual"):
        m.dispatch(ChooseMethod(method_of(where)), 0)
    elif where in ("consent", "sending"):
        m.dispatch(ChooseMethod(AuthMethod.VISUAL), 0)
        m.dispatch(VisualConfirmed(), 0)
        if where == "sending":
            answer_all(m)
    (report,) = m.dispatch(Cancel(), 0)
    assert isinstance(report, ReportError) and report.error is ReaderError.CANCELLED
    assert m.state is State.ERROR


def test_card_pulled_mid_check() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.PIN), 0)
    commands = m.dispatch(CardRemoved(), 0)
    assert ForgetCard() in commands
    assert any(isinstance(c, ReportError) and c.error is ReaderError.CARD_REMOVED for c in commands)
    m.dispatch(Tick(), 11)
    assert m.state is State.IDLE


def test_unreadable_card_and_network_failure() -> None:
    m = ReaderMachine()
    (read,) = m.dispatch(CardPlaced("x"), 0)
    assert isinstance(read, ReadCard)
    (report,) = m.dispatch(CardReadFailed(read.step, ReaderError.CARD_NOT_RECOGNISED), 0)
    assert isinstance(report, ReportError) and m.snapshot()["error"]["code"] == "R101"
    m.dispatch(CardRemoved(), 0)
    m2 = placed(STANDARD)
    m2.dispatch(ChooseMethod(AuthMethod.VISUAL), 0)
    m2.dispatch(VisualConfirmed(), 0)
    submit = answer_all(m2)
    m2.dispatch(SendFailed(submit.step, ReaderError.NETWORK_FAILURE, "connection refused"), 0)
    assert m2.snapshot()["error"]["code"] == "R501"


def test_reader_unplugged_mid_check() -> None:
    m = placed(STANDARD)
    m.dispatch(ChooseMethod(AuthMethod.FACE), 0)
    commands = m.dispatch(Disconnected(), 0)
    assert any(isinstance(c, ReportError) and c.error is ReaderError.READER_DISCONNECTED for c in commands)
    assert not m.connected and m.state is State.ERROR
    with pytest.raises(InvalidAction):
        m.dispatch(FaceSubmitted(), 0)


def test_console_start_carries_patient_ref() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("P-001"), 0)
    m.dispatch(CardPlaced("taro"), 0)
    assert m.snapshot()["patient_ref"] == "P-001"


def busy(where: str, now: float = 0.0) -> tuple[ReaderMachine, int]:
    """A machine waiting for the device in a busy state, and the step the device will answer."""
    m = ReaderMachine(now=now)
    (read,) = m.dispatch(CardPlaced(STANDARD.card_id), now)
    assert isinstance(read, ReadCard)
    if where == "reading":
        return m, read.step
    m.dispatch(CardRead(read.step, STANDARD), now)
    if where == "matching":
        m.dispatch(ChooseMethod(AuthMethod.FACE), now)
        (cmd,) = m.dispatch(FaceSubmitted(), now)
        assert isinstance(cmd, MatchFace)
        return m, cmd.step
    assert where == "pin_checking"
    m.dispatch(ChooseMethod(AuthMethod.PIN), now)
    (verify,) = m.dispatch(PinSubmitted(), now)
    assert isinstance(verify, VerifyPin)
    return m, verify.step


def late_answer(where: str, step: int) -> CardRead | FaceMatched | PinChecked:
    if where == "reading":
        return CardRead(step, STANDARD)
    if where == "matching":
        return FaceMatched(step, True, "match", "一致", "match", 0.2)
    return PinChecked(step, ok=True, remaining=3, locked=False)


@pytest.mark.parametrize(
    ("where", "limit"), [("reading", 15.0), ("matching", 15.0), ("pin_checking", 15.0)]
)
def test_a_device_that_never_answers_times_out_and_its_late_answer_is_ignored(
    where: str, limit: float
) -> None:
    m, step = busy(where, now=100.0)
    assert m.state.value == where and m.snapshot()["seconds_left"] == limit
    assert m.dispatch(Tick(), 100.0 + limit - 0.1) == [] and m.state.value == where
    (report,) = m.dispatch(Tick(), 100.0 + limit)
    assert isinstance(report, ReportError) and report.error is ReaderError.TIMEOUT
    assert m.state is State.ERROR and where in m.ctx.error_detail
    assert m.dispatch(late_answer(where, step), 120.0) == []  # the chip / matcher answers too late
    assert m.state is State.ERROR and m.ctx.error is ReaderError.TIMEOUT
    m.dispatch(CardRemoved(), 121.0)
    assert m.state is State.IDLE and m.ctx.card_id is None


def test_the_staff_visual_check_times_out_after_three_minutes() -> None:
    m = placed(INFANT, now=10.0)
    assert m.state is State.VISUAL
    assert m.dispatch(Tick(), 10.0 + 179.9) == []
    (report,) = m.dispatch(Tick(), 10.0 + 180.0)
    assert isinstance(report, ReportError) and report.error is ReaderError.TIMEOUT
    with pytest.raises(InvalidAction):
        m.dispatch(VisualConfirmed(), 191.0)  # staff confirm after the screen has gone


@pytest.mark.parametrize("where", ["reading", "matching", "pin_checking"])
def test_cancel_while_the_device_is_busy_ends_the_check(where: str) -> None:
    m, step = busy(where)
    (report,) = m.dispatch(Cancel(), 1.0)
    assert isinstance(report, ReportError) and report.error is ReaderError.CANCELLED
    assert m.state is State.ERROR and m.ctx.card_present
    assert m.dispatch(late_answer(where, step), 2.0) == []  # the busy step finishes after the cancel
    assert m.state is State.ERROR and m.ctx.error is ReaderError.CANCELLED
    assert m.ctx.consent_step is None and m.ctx.summary is None
    assert m.dispatch(Tick(), 1000.0) == [] and m.state is State.ERROR  # stays until the card is taken
    m.dispatch(CardRemoved(), 1001.0)
    assert m.state is State.IDLE


def test_pin_on_a_face_only_card_says_the_card_has_no_pin() -> None:
    m = placed(FACE_ONLY)
    with pytest.raises(InvalidAction) as refused:
        m.dispatch(ChooseMethod(AuthMethod.PIN), 0)
    assert refused.value.reason is ReaderError.PIN_NOT_SET and "R302" in str(refused.value)


def test_pin_on_a_locked_card_says_it_is_locked() -> None:
    m = placed(LOCKED)
    with pytest.raises(InvalidAction) as refused:
        m.dispatch(ChooseMethod(AuthMethod.PIN), 0)
    assert refused.value.reason is ReaderError.PIN_LOCKED


def test_an_unoffered_choice_with_no_special_reason_has_none() -> None:
    m = placed(INFANT)  # no photo: face matching is impossible
    with pytest.raises(InvalidAction) as refused:
        m.dispatch(ChooseMethod(AuthMethod.FACE), 0)
    assert refused.value.reason is None


# --- no check is lost: every check the console started ends in a report to it --------------------


def to_result(m: ReaderMachine, facts: CardFacts, now: float = 0.0) -> list[object]:
    """From a placed card to the result screen by the staff's visual check; the commands on the way."""
    (read,) = m.dispatch(CardPlaced(facts.card_id), now)
    assert isinstance(read, ReadCard)
    m.dispatch(CardRead(read.step, facts), now)
    m.dispatch(ChooseMethod(AuthMethod.VISUAL), now)
    m.dispatch(VisualConfirmed(), now)
    commands: list[object] = []
    while m.state is State.CONSENT:
        step = m.ctx.consent_step
        answer = ConsentAnswered(prescription=PrescriptionIssueSelect.PAPER) if step and step.value == \
            "prescription" else ConsentAnswered(agreed=False)
        commands += m.dispatch(answer, now)
    (submit,) = [c for c in commands if isinstance(c, SubmitCheck)]
    return list(m.dispatch(Sent(submit.step, {"validity": "1"}), now))


def test_a_check_started_while_the_last_patients_card_is_on_the_reader_waits_for_that_card() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("A"), 0)
    (report_a,) = to_result(m, STANDARD)
    assert isinstance(report_a, ReportResult) and report_a.patient_ref == "A"
    assert m.dispatch(StartCheck("B"), 1) == []  # A's card still lies on the reader
    assert m.state is State.RESULT and m.snapshot()["next_patient_ref"] == "B"
    m.dispatch(CardRemoved(), 2)  # A takes their card
    assert m.state is State.IDLE and m.snapshot()["patient_ref"] == "B"
    (report_b,) = to_result(m, FACE_ONLY, now=3)  # B's card: B's check
    assert isinstance(report_b, ReportResult) and report_b.patient_ref == "B"


def test_a_check_started_during_another_patients_check_follows_it() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("A"), 0)
    m.dispatch(CardPlaced(STANDARD.card_id), 0)
    assert m.dispatch(StartCheck("B"), 1) == []
    assert m.snapshot()["patient_ref"] == "A"  # A's check stays A's
    (error,) = [c for c in m.dispatch(CardRemoved(), 2) if isinstance(c, ReportError)]  # A pulls the card
    assert error.patient_ref == "A" and error.error is ReaderError.CARD_REMOVED
    m.dispatch(CardPlaced(FACE_ONLY.card_id), 3)
    assert m.snapshot()["patient_ref"] == "B"


def test_a_second_start_before_any_card_withdraws_the_first_and_says_so() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("A"), 0)
    (withdrawn,) = m.dispatch(StartCheck("B"), 1)
    assert isinstance(withdrawn, ReportError) and withdrawn.patient_ref == "A"
    assert withdrawn.error is ReaderError.SUPERSEDED
    assert m.dispatch(StartCheck("B"), 2) == []  # the same patient again: nothing to withdraw


def test_a_started_check_with_no_card_ends_in_a_report_after_the_wait() -> None:
    m = ReaderMachine(timeouts=Timeouts(waiting_for_card=120))
    m.dispatch(StartCheck("A"), 0)
    assert m.snapshot()["seconds_left"] == 120
    assert m.dispatch(Tick(), 119) == []
    (report,) = m.dispatch(Tick(), 120)
    assert isinstance(report, ReportError) and report.patient_ref == "A"
    assert report.error is ReaderError.NO_CARD
    assert m.state is State.IDLE and m.snapshot()["patient_ref"] is None
    assert m.dispatch(Tick(), 1000) == []  # reported once


def test_a_card_pulled_mid_check_reports_to_the_patients_console() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("A"), 0)
    m.dispatch(CardPlaced(STANDARD.card_id), 0)
    (error,) = [c for c in m.dispatch(CardRemoved(), 1) if isinstance(c, ReportError)]
    assert error.patient_ref == "A" and error.error is ReaderError.CARD_REMOVED


def test_unplugging_a_reader_that_waits_for_a_card_tells_the_console() -> None:
    m = ReaderMachine()
    m.dispatch(StartCheck("A"), 0)
    (report,) = [c for c in m.dispatch(Disconnected(), 1) if isinstance(c, ReportError)]
    assert report.patient_ref == "A" and report.error is ReaderError.READER_DISCONNECTED
