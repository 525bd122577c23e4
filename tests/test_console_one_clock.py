"""One clock on the clinic side: every date a person or a file sees is the server's simulated date.

Real processes: the server (`live_server`) with its clock set away from today's date, the console
(from tests/test_console_browser.py) and `onshi check number` as a subprocess. The test collects the
dates on the console's pages (a number check in an outage included: no answer to date it), the
printed 申立書, the patient list, and `onshi check`'s XML, and finds no date of this PC's clock.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from clinic_client.console.demo import demo_patients
from onshi.procs import ROOT
from onshi.timeutil import JST
from tests.conftest import LiveServer
from tests.server_helpers import clock_at, outage
from tests.test_console_browser import console, console_home  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
SIMULATED = datetime(2026, 11, 24, 9, 0, tzinfo=JST)


def simulated_moment() -> datetime:
    """The fixture's moment, or ten days before it when this PC's date happens to be the same day."""
    walls = wall_dates()
    return SIMULATED if SIMULATED.date() not in walls else SIMULATED - timedelta(days=10)


def wall_dates() -> set[date]:
    now = datetime.now(UTC)
    return {now.date(), now.astimezone(JST).date()}


def spellings(day: date) -> list[str]:
    return [f"{day:%Y-%m-%d}", f"{day:%Y%m%d}", f"{day:%Y/%m/%d}", f"{day.year}年{day.month}月{day.day}日"]


def assert_no_wall_date(where: str, text: str) -> None:
    for day in wall_dates():
        for spelling in spellings(day):
            assert spelling not in text, f"{where} shows this PC's date {spelling}"


def document_numbers(persona: str) -> tuple[str, dict[str, str]]:
    patient = next(p for p in demo_patients() if p.persona == persona)
    document = patient.documents[0]
    return patient.id, {
        "insurer_number": document.insurer_number,
        "symbol": document.symbol or "",
        "number": document.number,
        "branch": document.branch or "",
        "birthdate": patient.birthdate.isoformat(),
        "document": document.action_name,
    }


def test_console_pages_are_dated_by_the_simulated_clock(live_server: LiveServer, console: str) -> None:  # noqa: F811
    moment = simulated_moment()
    shown = f"{moment:%Y-%m-%d}"
    web = httpx.Client(base_url=console, timeout=30, follow_redirects=True)
    patient, numbers = document_numbers("healthy-national")
    pages: dict[str, str] = {}
    with clock_at(live_server, moment.isoformat()):
        with outage(live_server):  # F13: no answer, so nothing from the server dates the check
            down = web.post(f"/patients/{patient}/number-check", data=numbers)
            pages["number check in an outage"] = down.text
            check_id = str(down.url).rsplit("/", 1)[-1]
            pages["申立書"] = web.get(f"/patients/{patient}/declaration?check={check_id}").text
        fine = web.post(f"/patients/{patient}/number-check", data=numbers)
        pages["number check"] = fine.text
        pages["patients"] = web.get("/").text
    assert shown in pages["number check in an outage"]
    assert f"{moment.year}年{moment.month}月{moment.day}日" in pages["申立書"]
    assert shown in pages["number check"] and shown in pages["patients"]
    for where, text in pages.items():
        assert_no_wall_date(where, text)


def test_onshi_check_dates_the_request_by_the_simulated_clock(live_server: LiveServer) -> None:
    moment = simulated_moment()
    _, numbers = document_numbers("healthy-national")
    with clock_at(live_server, moment.isoformat()):
        done = subprocess.run(
            [sys.executable, "-m", "onshi", "check", "number", "--server", live_server.url,
             "--clinic-code", live_server.clinic_code, "--clinic-token", live_server.clinic_token,
             "--insurer", numbers["insurer_number"], "--symbol", numbers["symbol"],
             "--number", numbers["number"], "--branch", numbers["branch"],
             "--birthdate", numbers["birthdate"], "--format", "xml"],
            cwd=ROOT, capture_output=True, timeout=120, check=False,
        )
    xml = done.stdout.decode("utf-8")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    found: dict[str, Any] = {
        name: re.search(rf"<{name}>(\d+)</{name}>", xml) for name in
        ("QualificationConfirmationDate", "ProcessExecutionTime")
    }
    assert found["QualificationConfirmationDate"] and found["ProcessExecutionTime"], xml
    assert found["QualificationConfirmationDate"].group(1) == f"{moment:%Y%m%d}"
    assert found["ProcessExecutionTime"].group(1)[:8] == f"{moment:%Y%m%d}"
    assert_no_wall_date("onshi check number --format xml", xml)
