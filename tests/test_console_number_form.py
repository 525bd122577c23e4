"""The console's number form asks the patient's 限度額 consent, as the real screen does, and the
answer always travels as LimitApplicationCertificateRelatedConsFlg (real parsers need it echoed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from clinic_client.console.demo import demo_patients
from clinic_client.records import PatientFile
from onshi.procs import free_port, serving
from tests.browser import chromium, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console-number-form")
    patients = folder / "patients.json"
    patients.write_text(
        json.dumps(PatientFile(patients=demo_patients()).model_dump(mode="json"), ensure_ascii=False),
        encoding="utf-8",
    )
    port = free_port()
    with serving(["console", "--port", str(port), "--server", live_server.url, "--reader-url", "",
                  "--clinic-code", live_server.clinic_code, "--clinic-token", live_server.clinic_token,
                  "--patients", str(patients)], port, log=folder / "console.log") as url:
        yield url


def run_number_check(page: Any, console: str, consent: bool) -> str:
    page.goto(f"{console}/patients/healthy-employee/number-check")
    for name, value in (
        ("insurer_number", "06139012"),
        ("symbol", "5201"),
        ("number", "1024"),
        ("branch", "00"),
    ):
        page.fill(f"input[name={name}]", value)
    page.check("[data-test=limit-consent-yes]" if consent else "[data-test=limit-consent-no]")
    page.click("[data-test=run-number-check]")
    page.wait_for_url("**/checks/*")
    return str(page.locator("main").inner_text())


def test_the_form_asks_the_question_and_sends_the_answer(console: str) -> None:
    with chromium() as page:
        page.goto(f"{console}/patients/healthy-employee/number-check")
        question = page.locator("[data-test=limit-consent]")
        assert "限度額適用認定証情報の提供に同意しますか" in question.inner_text()
        assert page.locator("[data-test=limit-consent-no]").is_checked()  # an answer is always sent
        screenshot(page, "console-number-form-consent")
        agreed = run_number_check(page, console, consent=True)
        assert "同意なし（限度額情報は表示されません）" not in agreed and "ウ" in agreed  # A03 = ウ
        refused = run_number_check(page, console, consent=False)
        assert "同意なし（限度額情報は表示されません）" in refused
