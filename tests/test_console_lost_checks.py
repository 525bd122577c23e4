"""No card check is lost: every card check started at the console ends there, with a message and the
next step, within a bounded time (docs/rehearsal.md, 「カードの確認が消えないこと」).

Real processes over HTTP: the server (`live_server`), a reader (`onshi reader`) and the console
(`onshi console --reader-wait 5`). The console bounds a wait in this PC's seconds (the simulated
clock may be frozen): ``--reader-wait`` without progress at the reader, or as long without an answer
from it (at most 15 s), and a short grace when the reader shows the check ended but its result did
not arrive.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clinic_client.console.demo import demo_patients
from tests.conftest import LiveServer
from tests.server_helpers import counter_processes
from tests.test_console_one_clock import assert_no_wall_date, wall_dates

READER_WAIT = 5.0
PIN = {"healthy-employee": "1234", "healthy-national": "2468"}


class Trio:
    def __init__(self, reader: str, console: str, reader_pid: int, home: Path) -> None:
        self.reader, self.console, self.reader_pid, self.home = reader, console, reader_pid, home
        self.patients = {p.persona: p.id for p in demo_patients()}
        self.after: dict[str, str] = {}  # persona -> the waiting page's ?after= of its last card check

    def number(self, persona: str) -> str:
        """The patient's カルテ番号 at the console (what staff see) for a demo persona."""
        return self.patients[persona]


@pytest.fixture(scope="module")
def trio(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    home = tmp_path_factory.mktemp("lost-checks")
    wait = ("--reader-wait", str(READER_WAIT))
    with counter_processes(live_server, home, "lost", console_extra=wait) as pair:
        yield Trio(pair.reader, pair.console, pair.reader_pid, home)


def reader_state(trio: Trio) -> dict[str, Any]:
    return dict(httpx.get(f"{trio.reader}/api/reader/state", timeout=10).json())


def reader_wait_for(trio: Trio, wanted: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = reader_state(trio)
        if state.get("state") in wanted:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the reader never reached {wanted}: {reader_state(trio)}")


def start_card_check(trio: Trio, persona: str) -> httpx.Response:
    answer = httpx.post(f"{trio.console}/patients/{trio.number(persona)}/card-check", timeout=30)
    assert answer.status_code in (200, 303), answer.text
    if answer.status_code == 303:
        trio.after[persona] = answer.headers["location"].rsplit("after=", 1)[-1]
    return answer


def latest(trio: Trio, persona: str) -> dict[str, Any]:
    """The console's answer to its waiting page's poll for this patient's last card check."""
    return dict(
        httpx.get(
            f"{trio.console}/api/console/patients/{trio.number(persona)}/latest",
            params={"after": trio.after.get(persona, "0")},
            timeout=30,
        ).json()
    )


def pin_check_at_reader(trio: Trio, persona: str) -> None:
    """The patient places the card, types the PIN and answers every consent screen."""
    placed = httpx.post(f"{trio.reader}/api/reader/card", json={"card_id": persona}, timeout=60)
    assert placed.status_code == 200, placed.text
    reader_wait_for(trio, {"method"})
    httpx.post(f"{trio.reader}/api/reader/method", json={"method": "pin"}, timeout=10).raise_for_status()
    httpx.post(f"{trio.reader}/api/reader/pin", json={"pin": PIN[persona]}, timeout=30).raise_for_status()
    state = reader_wait_for(trio, {"consent", "result", "error"})
    while state["state"] == "consent":
        answer: bool | str = "paper" if state["consent_step"] == "prescription" else True
        consent = httpx.post(f"{trio.reader}/api/reader/consent", json={"answer": answer}, timeout=30)
        consent.raise_for_status()
        state = reader_wait_for(trio, {"consent", "result", "error"})


Answers = list[dict[str, Any]]


def console_poll(trio: Trio, persona: str, within: float) -> tuple[dict[str, Any], float, Answers]:
    """Polls the console as its waiting page does (once a second) until the check has a result page;
    answers (the last answer, seconds it took, every answer seen)."""
    began = time.monotonic()
    seen: list[dict[str, Any]] = []
    while time.monotonic() - began < within:
        answer = latest(trio, persona)
        seen.append(answer)
        if answer.get("url"):
            return answer, time.monotonic() - began, seen
        time.sleep(1)
    raise AssertionError(f"the console still waits after {within} s: {seen[-3:]}")


def check_json(trio: Trio, check_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{trio.console}/api/console/checks/{check_id}", timeout=10).json())


def result_page(trio: Trio, url: str) -> str:
    return httpx.get(f"{trio.console}{url}", timeout=30).text


def reset_reader(trio: Trio) -> None:
    if reader_state(trio).get("card_present"):
        httpx.delete(f"{trio.reader}/api/reader/card", timeout=10)
    httpx.post(f"{trio.reader}/api/reader/cancel", timeout=10)


def test_the_next_patients_check_comes_back_after_the_last_card_is_taken(trio: Trio) -> None:
    # Patient A's check ends on the reader's result screen, A's card still on it.
    start_card_check(trio, "healthy-employee")
    pin_check_at_reader(trio, "healthy-employee")
    a, _, _ = console_poll(trio, "healthy-employee", within=30)
    assert check_json(trio, a["check_id"])["valid"] is True
    assert reader_state(trio)["card_present"] is True

    # 「カードで確認」 for patient B while A's card is still there: the console says what is going on …
    waiting = start_card_check(trio, "healthy-national")
    assert "お待ちください" in waiting.text or waiting.status_code == 303
    first = latest(trio, "healthy-national")
    assert first["waiting"] is True and first["url"] is None
    assert first["status_ja"], "the waiting page must say what the reader is doing, in words"
    # … A takes the card, B places theirs: B's result reaches the console, as B's.
    httpx.delete(f"{trio.reader}/api/reader/card", timeout=10).raise_for_status()
    assert latest(trio, "healthy-national")["url"] is None  # the console's poll starts B's check
    reader_wait_for(trio, {"idle"})
    pin_check_at_reader(trio, "healthy-national")
    b, took, _ = console_poll(trio, "healthy-national", within=20)
    check = check_json(trio, b["check_id"])
    assert check["patient_id"] == trio.number("healthy-national")
    assert check["valid"] is True and check["error"] is None
    assert "鈴木 一郎" in result_page(trio, b["url"])
    assert took < 20
    reset_reader(trio)


def test_a_card_pulled_mid_check_ends_on_the_console_with_the_next_step(trio: Trio) -> None:
    reset_reader(trio)
    start_card_check(trio, "healthy-employee")
    httpx.post(f"{trio.reader}/api/reader/card", json={"card_id": "healthy-employee"}, timeout=60)
    reader_wait_for(trio, {"method"})
    httpx.delete(f"{trio.reader}/api/reader/card", timeout=10).raise_for_status()  # pulled

    ended, took, _ = console_poll(trio, "healthy-employee", within=READER_WAIT + 10)
    page = result_page(trio, ended["url"])
    assert "カードが取り外されました" in page
    assert f"/patients/{trio.number('healthy-employee')}/number-check" in page  # the next step
    assert took < READER_WAIT + 10
    reset_reader(trio)


def test_a_patient_who_never_places_the_card_ends_after_the_wait(trio: Trio) -> None:
    reset_reader(trio)
    start_card_check(trio, "healthy-employee")
    ended, took, seen = console_poll(trio, "healthy-employee", within=READER_WAIT + 10)
    assert any(s.get("status_ja") == "カードを置くのを待っています" for s in seen)
    page = result_page(trio, ended["url"])
    assert "C603" in page and "時間内にカードリーダーから結果が届きませんでした" in page
    assert f"/patients/{trio.number('healthy-employee')}/number-check" in page
    assert READER_WAIT - 1 <= took < READER_WAIT + 10
    reset_reader(trio)


def test_a_reader_that_never_answers_ends_the_wait_with_a_message(trio: Trio) -> None:
    reset_reader(trio)
    start_card_check(trio, "healthy-national")
    os.kill(trio.reader_pid, signal.SIGSTOP)  # the reader hangs: accepts nothing, answers nothing
    try:
        ended, took, seen = console_poll(trio, "healthy-national", within=READER_WAIT + 20)
    finally:
        os.kill(trio.reader_pid, signal.SIGCONT)
    assert any(s.get("status_ja") == "カードリーダーから応答がありません…" for s in seen)
    page = result_page(trio, ended["url"])
    assert "C601" in page and "カードリーダーから応答がありません" in page
    assert f"/patients/{trio.number('healthy-national')}/declaration" in page  # the 申立書 route
    assert took < READER_WAIT + 20
    reader_wait_for(trio, {"idle", "error", "result"})
    reset_reader(trio)


def test_a_start_the_reader_never_answers_ends_on_the_waiting_page_with_what_to_do(trio: Trio) -> None:
    reset_reader(trio)
    os.kill(trio.reader_pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        page = httpx.post(
            f"{trio.console}/patients/{trio.number('healthy-employee')}/card-check",
            timeout=30, follow_redirects=True,
        )
        took = time.monotonic() - began
    finally:
        os.kill(trio.reader_pid, signal.SIGCONT)
    assert page.status_code == 200
    assert "カードリーダーから応答がありません" in page.text
    assert "番号で確認" in page.text and "被保険者資格申立書" in page.text
    assert took < 10


def test_the_result_files_and_pages_of_card_checks_carry_the_simulated_date(trio: Trio) -> None:
    """One clock: the reader's result files (name and content) and the console's result page of a card
    check are dated by the server's simulated clock, never by this PC's."""
    reset_reader(trio)
    simulated = httpx.get(f"{trio.reader}/api/reader/state", timeout=10)  # the reader is up
    assert simulated.status_code == 200
    start_card_check(trio, "healthy-employee")
    pin_check_at_reader(trio, "healthy-employee")
    ended, _, _ = console_poll(trio, "healthy-employee", within=30)
    files = sorted((trio.home / "results").glob("OQSsiquc01res_face_*.xml"))
    assert files, "the reader wrote no result file"
    if any(f"{day:%Y%m%d}" == "20261124" for day in wall_dates()):
        pytest.skip("this PC's date is the simulated date: nothing to tell apart")
    for path in files:
        assert_no_wall_date(f"result file name {path.name}", path.name)
        assert_no_wall_date(f"result file {path.name}", path.read_text(encoding="utf-8"))
        assert "20261124" in path.name
    page = result_page(trio, ended["url"])
    assert "2026-11-24" in page
    assert_no_wall_date("the console's card result page", page)
    reset_reader(trio)
