"""The reception console (受付画面): FastAPI + Jinja2, Japanese first with an English toggle.

Pages: today's patients, card check on the reader, number check from a 資格確認書 / 資格情報のお知らせ,
the result as staff need it, the printable 被保険者資格申立書, and the bulk check (一括照会) for
tomorrow's bookings. The reader posts its results to ``POST /api/console/reader-results``
(docs/architecture.md, reader ↔ console contract). Every staff action goes into the action log,
``GET /api/console/actions?since=…`` (for rehearsals), ``DELETE /api/console/actions`` clears it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Body, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from clinic_client.client import ClientSettings, OnshiClient, search_info
from clinic_client.clock import ServerClock
from clinic_client.console import present
from clinic_client.console.state import (
    COPAY_PERCENTS,
    DECISION_ACTIONS,
    NUMBER_DOCUMENTS,
    BulkRun,
    CardWait,
    ConsoleCheck,
    ConsoleState,
    assess,
    new_id,
    normal_copay_estimate,
)
from clinic_client.errors import OnshiError
from clinic_client.explain import explain
from clinic_client.outcome import CheckOutcome, HowChecked, copay_label
from clinic_client.records import (
    DOCUMENT_OF_ACTION_NAME,
    InsuranceDocument,
    PatientRecord,
    PatientStore,
    document_label,
)
from clinic_client.wronglink import check_identity
from onshi import defaults
from onshi.codes import MedicalInfoKind, SegmentOfResult
from onshi.timeutil import JST

log = logging.getLogger("onshi.console")
HERE = Path(__file__).parent


@dataclass
class ConsoleSettings:
    server_url: str = defaults.SERVER_URL
    reader_url: str | None = "http://localhost:8001"
    clinic_code: str = defaults.CLINIC_CODE
    clinic_token: str = field(
        default_factory=lambda: os.environ.get(defaults.ENV_CLINIC_TOKEN, defaults.CLINIC_TOKEN)
    )
    clinic_name: str = "さくら内科クリニック"
    patients_file: Path = Path("var/console/patients.json")
    timeout: float = 10.0
    retries: int = 1
    # A card check ends on the console within this many seconds without progress at the reader
    # (this PC's time: the simulated clock may be frozen), sooner when the reader cannot be reached.
    reader_wait_seconds: float = 120.0
    reader_unreachable_seconds: float = 15.0
    # A reader showing our check ended (result / error) whose result has not arrived after this long
    # did not deliver it: the console ends the wait itself, with the reader's own words if it has them.
    reader_delivery_grace_seconds: float = 4.0


def problem(status: int, code: str, title: str, title_ja: str, detail: str) -> JSONResponse:
    """The console's errors in the server's problem+json shape."""
    return JSONResponse(
        {"status": status, "code": code, "title": title, "title_ja": title_ja, "detail": detail[:500]},
        status_code=status,
        media_type="application/problem+json",
    )


def reader_result_invalid(detail: str) -> JSONResponse:
    return problem(
        400, "reader_result_invalid", "Invalid reader result", "カードリーダーの結果が読み取れません", detail
    )


# What the reader is doing, in words for the waiting page (its state names are the reader's API).
READER_STATE_WORDS: dict[str, tuple[str, str]] = {
    "idle": ("カードを置くのを待っています", "Waiting for the card"),
    "reading": ("カードを読み取っています", "Reading the card"),
    "method": ("患者さんが本人確認の方法を選んでいます", "The patient is choosing how to authenticate"),
    "face": ("顔認証をしています", "Face authentication"),
    "matching": ("顔を照合しています", "Matching the face"),
    "pin": ("暗証番号を入力しています", "Entering the PIN"),
    "pin_checking": ("暗証番号を確認しています", "Checking the PIN"),
    "visual": ("職員の目視確認を待っています", "Waiting for a visual check by staff"),
    "consent": ("患者さんが同意の画面を操作しています", "The patient is answering the consent screens"),
    "sending": ("資格情報を照会しています", "Checking the qualification"),
    # The smartphone path (the card's functions on a phone, read on the 汎用カードリーダー).
    "phone_pin": ("患者さんが暗証番号（カードと同じ数字4桁）を入力しています",
                  "The patient is entering the PIN (the card's 4 digits) for the phone"),
    "phone_confirm": ("患者さんがスマートフォンで本人確認（Face ID / Touch ID）をしています",
                      "The patient is confirming on the phone (Face ID / Touch ID)"),
    "phone_hold": ("スマートフォンを汎用カードリーダーにかざすのを待っています",
                   "Waiting for the phone to be held on the general-purpose reader"),
    "phone_reading": ("スマートフォンを読み取っています", "Reading the phone"),
    "result": ("カードリーダーでの確認が終わりました", "The reader has finished"),
    "error": ("カードリーダーでエラーが出ています", "The reader shows an error"),
}

# The console's own words when a card check ends without the reader's result (codes C6xx, like the
# reader's R6xx session codes; explained as a reader error: retry, or check by number).
CONSOLE_READER_ERRORS: dict[str, dict[str, str]] = {
    "C601": {
        "code": "C601",
        "ja": "カードリーダーから応答がありません。"
        "電源とケーブルを確認し、番号での確認に切り替えてください。",
        "en": "The card reader does not answer. Check its power and cable, and switch to a number check.",
    },
    "C602": {
        "code": "C602",
        "ja": "カードリーダーでの確認は終わりましたが、結果が受付画面に届きませんでした。"
        "もう一度カードで確認するか、番号で確認してください。",
        "en": "The reader finished, but its result did not reach the console. Check the card again or "
        "check by number.",
    },
    "C603": {
        "code": "C603",
        "ja": "時間内にカードリーダーから結果が届きませんでした。"
        "もう一度カードで確認するか、番号で確認してください。",
        "en": "No result from the card reader in time. Check the card again or check by number.",
    },
}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    app = FastAPI(title="onshi-sim 受付画面 / reception console", docs_url="/api/console/docs")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    store = PatientStore(settings.patients_file)
    state = ConsoleState()
    # One clock: pages, the requests' QualificationConfirmationDate and the 申立書 are dated by the
    # server's simulated clock (clinic_client.clock), never by this PC's.
    clock = ServerClock(settings.server_url, timeout=2.0)
    client_settings = ClientSettings(
        settings.server_url,
        clinic_code=settings.clinic_code,
        clinic_token=settings.clinic_token,
        timeout=settings.timeout,
        retries=settings.retries,
        today=clock.today,
    )
    client = OnshiClient(client_settings)
    app.state.store = store
    app.state.console = state
    app.state.client = client
    app.state.settings = settings

    @app.on_event("shutdown")
    def close_client() -> None:
        client.close()

    def server_now() -> datetime:
        """The server's (simulated) now: public in /health, untouched by the check faults."""
        return clock.now()

    def moment_of(check: ConsoleCheck | None) -> datetime:
        """When a check happened as the server saw it (its answer's time), else the server's now."""
        return (check.server_moment if check else None) or server_now()

    def lang_of(request: Request) -> str:
        return "en" if request.cookies.get("lang") == "en" else "ja"

    def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = lang_of(request)

        def t(ja: str, en: str) -> str:
            return ja if lang == "ja" else en

        now = server_now()  # the rehearsal's day, not the PC's
        return templates.TemplateResponse(
            request,
            name,
            {
                "lang": lang,
                "t": t,
                "settings": settings,
                "present": present,
                "now": now,
                "today": now.date(),
                "copay_label": copay_label,
                "document_label": document_label,
                "MedicalInfoKind": MedicalInfoKind,
                **context,
            },
            status_code=status_code,
        )

    def find_patient(ref: str) -> PatientRecord | None:
        """By カルテ番号; a demo persona's id is accepted too (scripts and tests that name the card)."""
        found = store.get(ref)
        if found is None:
            found = next((p for p in store.all() if p.persona == ref), None)
        return found

    def patient_or_404(patient_id: str) -> PatientRecord:
        patient = find_patient(patient_id)
        if patient is None:
            raise HTTPException(404, f"患者が見つかりません / no such patient: {patient_id}")
        return patient

    def check_or_404(check_id: str) -> ConsoleCheck:
        check = state.get(check_id)
        if check is None:
            raise HTTPException(404, f"確認結果が見つかりません / no such check: {check_id}")
        return check

    def import_if_clear(check: ConsoleCheck) -> None:
        """Unflagged valid data goes into the record; flagged data waits for staff."""
        confirmed = check.confirmed()
        if check.patient_id and confirmed and check.decision in ("auto", "accepted"):
            store.update(check.patient_id, confirmed=confirmed)

    # --- pages ----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def patients_page(request: Request) -> HTMLResponse:
        latest = {p.id: state.latest(p.id) for p in store.all()}
        return render(request, "patients.html", patients=store.today(), latest=latest)

    @app.get("/lang/{lang}")
    def set_lang(lang: str, next: str = "/") -> Response:
        response = RedirectResponse(next if next.startswith("/") else "/", status_code=303)
        response.set_cookie("lang", "en" if lang == "en" else "ja", max_age=365 * 24 * 3600)
        return response

    @app.post("/patients/{patient_id}/card-check")
    def start_card_check(request: Request, patient_id: str) -> Response:
        patient = patient_or_404(patient_id)
        after = state.current_seq()
        state.record("card_check_started", patient.id)
        if not settings.reader_url:
            return render(
                request,
                "waiting.html",
                patient=patient,
                after=after,
                reader_problem=("カードリーダーが設定されていません。", "No card reader is configured."),
            )
        started = time.monotonic()
        wait = CardWait(patient.id, after, started_at=started, progress_at=started)
        answer = ask_reader_to_start(patient.id)
        if answer is None:
            return render(
                request,
                "waiting.html",
                patient=patient,
                after=after,
                reader_problem=(
                    "カードリーダーから応答がありません。電源とケーブルを確認してください。",
                    "The card reader does not answer. Check its power and cable.",
                ),
            )
        status, snapshot = answer
        if status == 409:  # the last patient's card is still on the reader: start when it is taken
            wait.blocked = True
        elif status >= 400:
            return render(
                request,
                "waiting.html",
                patient=patient,
                after=after,
                reader_problem=(
                    "カードリーダーが確認を始められません（接続が切れている可能性があります）。",
                    "The card reader cannot start the check (it may be disconnected).",
                ),
            )
        else:
            wait.reader_step = _int_or_none(snapshot.get("step"))
        state.start_wait(wait)
        return RedirectResponse(f"/patients/{patient.id}/waiting?after={after}", status_code=303)

    def ask_reader_to_start(patient_id: str) -> tuple[int, dict[str, Any]] | None:
        """POSTs the start to the reader: (status, its state snapshot), or None when it does not answer."""
        try:
            answer = httpx.post(
                f"{settings.reader_url}/api/reader/checks", json={"patient_ref": patient_id}, timeout=5
            )
        except httpx.HTTPError as exc:
            log.warning("reader unreachable: %s", exc)
            return None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return answer.status_code, body if isinstance(body, dict) else {}

    def reader_snapshot() -> dict[str, Any] | None:
        if not settings.reader_url:
            return None
        try:
            answer = httpx.get(f"{settings.reader_url}/api/reader/state", timeout=2)
            body = answer.json()
            return body if answer.status_code == 200 and isinstance(body, dict) else None
        except (httpx.HTTPError, ValueError):
            return None

    @app.get("/patients/{patient_id}/waiting", response_class=HTMLResponse)
    def waiting(request: Request, patient_id: str, after: int = 0) -> HTMLResponse:
        patient = patient_or_404(patient_id)
        found = state.latest(patient.id, after)
        if found is not None:  # the result is already here (a reload, the back button)
            return render(request, "waiting.html", patient=patient, after=after, reader_problem=None,
                          result_url=f"/checks/{found.id}")
        return render(request, "waiting.html", patient=patient, after=after, reader_problem=None)

    @app.get("/patients/{patient_id}/number-check", response_class=HTMLResponse)
    def number_form(request: Request, patient_id: str, doc: int = 0) -> HTMLResponse:
        patient = patient_or_404(patient_id)
        document = patient.documents[doc] if 0 <= doc < len(patient.documents) else None
        return render(
            request,
            "number_form.html",
            patient=patient,
            document=document,
            doc_index=doc,
            documents=NUMBER_DOCUMENTS,
            chosen=document.action_name if document else "eligibility_certificate",
        )

    @app.post("/patients/{patient_id}/number-check")
    def run_number_check(
        request: Request,
        patient_id: str,
        insurer_number: Annotated[str, Form()],
        number: Annotated[str, Form()],
        birthdate: Annotated[str, Form()],
        symbol: Annotated[str, Form()] = "",
        branch: Annotated[str, Form()] = "",
        document: Annotated[str, Form()] = "eligibility_certificate",
        limit_consent: Annotated[str, Form()] = "0",
    ) -> Response:
        patient = patient_or_404(patient_id)
        if document not in NUMBER_DOCUMENTS:
            document = "other"
        paper = InsuranceDocument(
            kind=DOCUMENT_OF_ACTION_NAME[document],  # type: ignore[arg-type]
            insurer_number=insurer_number.strip(),
            symbol=symbol.strip() or None,
            number=number.strip(),
            branch=branch.strip() or None,
        )
        check = ConsoleCheck(
            id=new_id(), patient_id=patient.id, kind="number", document=paper, moment=server_now()
        )
        try:
            info = search_info(
                paper.insurer_number,
                paper.number,
                birthdate.replace("-", "").strip(),
                symbol=paper.symbol,
                branch=paper.branch,
                limit_consent=limit_consent.strip() == "1",  # the patient's answer; always sent
            )
            check.outcome = client.send_number_check(client.api.number_check_message(info))
        except OnshiError as exc:
            check.error = exc
        except ValueError as exc:  # the form's numbers do not fit the message (pydantic)
            check.error = OnshiError(
                str(exc),
                status=400,
                code="form_invalid",
                title="Invalid input",
                title_ja="入力内容が正しくありません",
            )
        state.add(assess(check, patient))
        state.record("number_check", patient.id, check.id, {"document": document}, at=check.at)
        import_if_clear(check)
        return RedirectResponse(f"/checks/{check.id}", status_code=303)

    @app.get("/checks/{check_id}", response_class=HTMLResponse)
    def result_page(request: Request, check_id: str) -> HTMLResponse:
        check = check_or_404(check_id)
        patient = store.get(check.patient_id) if check.patient_id else None
        fetch_medical(check)
        state.record_once("result_shown", check.patient_id, check.id, check.shown_detail())
        for kind, got in check.medical.items():
            if "data" in got:  # the page shows these records
                state.record_once("medical_info_viewed", check.patient_id, check.id, {"kind": kind})
        return render(
            request,
            "result.html",
            check=check,
            patient=patient,
            explanation=check.explanation,
            server_moment=check.server_moment,
            copay_percents=COPAY_PERCENTS,
            charged=state.charged(patient.id, check.id) if patient else None,
        )

    def fetch_medical(check: ConsoleCheck) -> None:
        outcome = check.outcome
        if outcome is None or check.held or not outcome.check_id:
            return
        for kind in sorted(outcome.medical_info, key=lambda k: list(MedicalInfoKind).index(k)):
            if kind.value in check.medical:
                continue
            try:
                check.medical[str(kind)] = {"data": client.medical_info(outcome.check_id, kind)}
            except OnshiError as exc:
                check.medical[str(kind)] = {"error": exc}

    @app.post("/checks/{check_id}/decision")
    def decide(check_id: str, decision: Annotated[str, Form()]) -> Response:
        check = check_or_404(check_id)
        if check.wrong_link is not None and check.decision == "pending" and decision in DECISION_ACTIONS:
            check.decision = decision  # type: ignore[assignment]
            state.record(
                "wrong_link_decision", check.patient_id, check.id, {"decision": DECISION_ACTIONS[decision]}
            )
            import_if_clear(check)
        return RedirectResponse(f"/checks/{check.id}", status_code=303)

    @app.get("/patients/{patient_id}/declaration", response_class=HTMLResponse)
    def declaration(request: Request, patient_id: str, check: str | None = None) -> HTMLResponse:
        patient = patient_or_404(patient_id)
        found = state.get(check) if check else None
        # Once per patient and check: charging the co-pay on the sheet reloads it.
        state.record_once("declaration_printed", patient.id, found.id if found else None, {})
        # Dated as the server saw the failed check (its simulated clock), not by this PC's clock.
        today = moment_of(found).date()
        copay = normal_copay_estimate(patient.birthdate, today)
        return render(
            request,
            "declaration.html",
            patient=patient,
            check=found,
            copay=copay,
            today=today,
            document=patient.documents[0] if patient.documents else None,
            copay_percents=COPAY_PERCENTS,
            charged=state.charged(patient.id, found.id if found else None),
        )

    @app.post("/patients/{patient_id}/copay")
    def charge_copay(
        patient_id: str,
        percent: Annotated[int, Form()],
        check: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "/",
    ) -> Response:
        """What staff will charge at the counter (recorded for the rehearsal; nothing is billed)."""
        patient = patient_or_404(patient_id)
        if percent not in COPAY_PERCENTS:
            raise HTTPException(
                400, f"負担割合は 10/20/30/100 のいずれか / percent must be one of {COPAY_PERCENTS}"
            )
        found = state.get(check) if check else None
        state.record("copay_charged", patient.id, found.id if found else None, {"percent": percent})
        return RedirectResponse(back if back.startswith("/") else "/", status_code=303)

    # --- bulk check -----------------------------------------------------------------------

    @app.get("/bulk", response_class=HTMLResponse)
    def bulk_page(request: Request) -> HTMLResponse:
        runs = sorted(state.bulk_runs.values(), key=lambda r: r.at, reverse=True)
        tomorrow = server_now().date() + timedelta(days=1)
        return render(request, "bulk.html", patients=store.tomorrow(), runs=runs, tomorrow=tomorrow)

    @app.post("/bulk")
    def run_bulk() -> Response:
        patients = store.tomorrow()
        checkable = [p for p in patients if p.documents]
        run = BulkRun(id=new_id(), at=server_now(), patients=patients)
        if checkable:
            queries = [
                search_info(
                    d.insurer_number,
                    d.number,
                    p.birthdate,
                    symbol=d.symbol,
                    branch=d.branch,
                    arbitrary_identifier=p.id,
                )
                for p in checkable
                for d in p.documents[:1]
            ]
            try:
                receipt = client.bulk_reception(queries, f"console-{run.id}")
                run.reception_number = receipt.MessageBody.ReceptionNumber
                run.received_at = receipt.MessageBody.ReceptionDateTime
                fetch_results(run)
            except OnshiError as exc:
                run.error = exc
        state.add_bulk(run)
        return RedirectResponse(f"/bulk/{run.id}", status_code=303)

    def fetch_results(run: BulkRun) -> None:
        """Step 2: the results if ready; otherwise the answer saying why not (kept for the page)."""
        if run.reception_number is None:
            return
        answer = client.bulk_results(run.reception_number)
        if answer.MessageHeader.SegmentOfResult is SegmentOfResult.NORMAL_END:
            run.message, run.waiting = answer, None
        else:
            run.waiting = answer

    @app.post("/bulk/{run_id}/results")
    def bulk_fetch(run_id: str) -> Response:
        run = state.bulk_runs.get(run_id)
        if run is None:
            raise HTTPException(404, "no such bulk run")
        run.error = None
        try:
            fetch_results(run)
        except OnshiError as exc:
            run.error = exc
        return RedirectResponse(f"/bulk/{run.id}", status_code=303)

    @app.get("/bulk/{run_id}", response_class=HTMLResponse)
    def bulk_result(request: Request, run_id: str) -> HTMLResponse:
        run = state.bulk_runs.get(run_id)
        if run is None:
            raise HTTPException(404, "no such bulk run")
        rows = bulk_rows(run)
        trouble = [r for r in rows if r["trouble"]]
        return render(
            request,
            "bulk_result.html",
            run=run,
            rows=rows,
            trouble=trouble,
            explanation=explain(None, error=run.error) if run.error else None,
        )

    def bulk_rows(run: BulkRun) -> list[dict[str, Any]]:
        units: dict[str, CheckOutcome] = {}
        if run.message is not None:
            for unit in run.message.MessageBody.BulkConfirmUnit:
                ref = unit.QualificationConfirmSearchInfo.ArbitraryIdentifier
                if ref:
                    units[ref] = CheckOutcome.from_bulk_unit(unit)
        rows: list[dict[str, Any]] = []
        for patient in run.patients:
            outcome = units.get(patient.id)
            wrong = check_identity(patient.identity, outcome.primary) if outcome and outcome.primary else None
            if not patient.documents:
                rows.append(
                    {
                        "patient": patient,
                        "outcome": None,
                        "explanation": None,
                        "wrong": None,
                        "trouble": False,
                        "no_numbers": True,
                    }
                )
                continue
            expl = explain(outcome, error=run.error, wrong_link=wrong) if (outcome or run.error) else None
            trouble = run.error is not None or outcome is None or not outcome.valid or wrong is not None
            rows.append(
                {
                    "patient": patient,
                    "outcome": outcome,
                    "explanation": expl,
                    "wrong": wrong,
                    "trouble": trouble,
                    "no_numbers": False,
                }
            )
        return rows

    # --- reader contract and small JSON API -----------------------------------------------

    @app.post("/api/console/reader-results")
    def reader_results(payload: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        patient_ref = payload.get("patient_ref")
        patient = find_patient(str(patient_ref)) if patient_ref else None
        if patient is None:  # a result naming no patient of ours: the one check we wait for, if one
            sole = state.sole_wait()
            patient = store.get(sole.patient_id) if sole else None
        error_words = payload.get("reader_error")
        words = error_words if isinstance(error_words, dict) else {}
        # The reader says whether the card or a phone was used (and which phone), also on its errors.
        how = HowChecked.parse(
            payload.get("medium") or words.get("medium"),
            payload.get("platform") or words.get("platform"),
            payload.get("method") or words.get("method"),
        )
        if payload.get("reader_error"):
            check = ConsoleCheck(
                id=new_id(),
                patient_id=patient.id if patient else None,
                kind="card",
                reader_error=dict(payload["reader_error"]),
                decision="auto",
                moment=server_now(),
                reader_how=how,
            )
        elif isinstance(payload.get("result"), dict):
            try:
                outcome = CheckOutcome.from_card_check(payload["result"])
            except (KeyError, ValueError) as exc:
                return reader_result_invalid(str(exc))
            check_id = payload.get("check_id") or outcome.check_id or new_id()
            check = assess(
                ConsoleCheck(
                    id=str(check_id),
                    patient_id=patient.id if patient else None,
                    kind="card",
                    outcome=outcome,
                    file=payload.get("file"),
                    moment=server_now(),
                    reader_how=how,
                ),
                patient,
            )
        else:
            return reader_result_invalid("either 'result' (card-check JSON) or 'reader_error' is required")
        state.add(check)
        import_if_clear(check)
        return JSONResponse(
            {"check_id": check.id, "url": f"/checks/{check.id}", "wrong_link": check.wrong_link is not None}
        )

    @app.get("/api/console/patients/{patient_id}/latest")
    def latest_check(patient_id: str, after: int = 0) -> JSONResponse:
        """The waiting page's poll: the result's URL once it is here; otherwise where the reader is, in
        words, and, when the wait can end no other way, a check that says so (no check is lost)."""
        found = find_patient(patient_id)
        patient_id = found.id if found else patient_id
        check = state.latest(patient_id, after)
        if check is None:
            check = follow_wait(patient_id)
        if check is not None:
            state.end_wait(patient_id)
            return JSONResponse({"check_id": check.id, "url": f"/checks/{check.id}", "waiting": False})
        wait = state.wait_of(patient_id)
        status = wait_status(wait)
        return JSONResponse({"check_id": None, "url": None, "waiting": wait is not None, **status})

    def wait_status(wait: CardWait | None) -> dict[str, Any]:
        if wait is None:
            return {"status_ja": "", "status_en": "", "seconds_left": None}
        now = time.monotonic()
        left = max(0.0, wait.progress_at + settings.reader_wait_seconds - now)
        if wait.unreachable_since is not None:
            ja, en = "カードリーダーから応答がありません…", "The card reader does not answer…"
        elif wait.blocked:
            ja, en = (
                "前の患者さんのカードがカードリーダーに置かれたままです。カードを取り外すと確認を始めます。",
                "The previous patient's card is still on the reader. The check starts when it is removed.",
            )
        else:
            ja, en = READER_STATE_WORDS.get(wait.last_seen[0] if wait.last_seen else "", ("", ""))
        return {"status_ja": ja, "status_en": en, "seconds_left": round(left)}

    def follow_wait(patient_id: str) -> ConsoleCheck | None:
        """Moves a card check the console waits for on; answers the check that ends it, if it ended.

        - the reader refused the start (the last patient's card still on it): starts it again as soon
          as the reader is free;
        - the reader shows our check ended (result or error) but nothing arrived within the grace
          period: a check with the reader's own error, or C602 (the result did not reach the console);
        - no progress at the reader for ``reader_wait_seconds``, or no answer from it for
          ``reader_unreachable_seconds``: C601 / C603, with the next step on the result page.
        """
        wait = state.wait_of(patient_id)
        if wait is None:
            return None
        now = time.monotonic()
        snap = reader_snapshot()
        if snap is None:
            wait.unreachable_since = wait.unreachable_since or now
            if now - wait.unreachable_since >= min(
                settings.reader_unreachable_seconds, settings.reader_wait_seconds
            ):
                return console_reader_error(wait, CONSOLE_READER_ERRORS["C601"])
        else:
            wait.unreachable_since = None
            seen = (str(snap.get("state")), _int_or_none(snap.get("step")) or 0)
            if seen != wait.last_seen:
                wait.last_seen = seen
                wait.progress_at = now
            if wait.blocked:
                if not snap.get("card_present") and snap.get("state") in ("idle", "result", "error"):
                    answer = ask_reader_to_start(patient_id)
                    if answer is not None and answer[0] < 400:
                        wait.blocked = False
                        wait.reader_step = _int_or_none(answer[1].get("step"))
                        wait.progress_at = now
            elif ours(wait, snap) and snap.get("state") in ("result", "error"):
                wait.ended_since = wait.ended_since or now
                if now - wait.ended_since >= settings.reader_delivery_grace_seconds:
                    error = snap.get("error")
                    if snap.get("state") == "error" and isinstance(error, dict) and error.get("code"):
                        words = {k: error.get(k) for k in ("code", "ja", "en")}
                        return console_reader_error(wait, words)
                    return console_reader_error(wait, CONSOLE_READER_ERRORS["C602"])
        if now - wait.progress_at >= settings.reader_wait_seconds:
            return console_reader_error(wait, CONSOLE_READER_ERRORS["C603"])
        return None

    def ours(wait: CardWait, snap: dict[str, Any]) -> bool:
        """The reader's state is this wait's check: our patient, and a step after the start."""
        step = _int_or_none(snap.get("step"))
        if wait.reader_step is not None and step is not None and step <= wait.reader_step:
            return False
        return snap.get("patient_ref") in (wait.patient_id, None)

    def console_reader_error(wait: CardWait, words: dict[str, Any]) -> ConsoleCheck:
        check = ConsoleCheck(
            id=new_id(),
            patient_id=wait.patient_id,
            kind="card",
            reader_error=dict(words),
            decision="auto",
            moment=server_now(),
        )
        state.add(check)
        log.warning("card check for %s ended by the console: %s", wait.patient_id, words.get("code"))
        return check

    @app.get("/api/console/reader-state")
    def reader_state() -> JSONResponse:
        snap = reader_snapshot()
        if snap is None:
            return JSONResponse({"available": False})
        ja, en = READER_STATE_WORDS.get(str(snap.get("state")), ("", ""))
        return JSONResponse({"available": True, "state": snap, "status_ja": ja, "status_en": en})

    @app.get("/api/console/actions")
    def actions(since: str | None = None) -> JSONResponse:
        """The staff actions, oldest first; ``since`` (ISO-8601, JST if no offset) keeps those at or after."""
        moment: datetime | None = None
        if since:
            try:
                moment = datetime.fromisoformat(since.replace(" ", "+").replace("Z", "+00:00"))
            except ValueError:
                return problem(
                    400,
                    "since_invalid",
                    "Invalid since",
                    "since の日時が読み取れません",
                    f"not ISO-8601: {since!r}",
                )
            moment = moment if moment.tzinfo else moment.replace(tzinfo=JST)
        personas = {p.id: p.persona for p in store.all()}  # the rehearsal scores by persona
        return JSONResponse(
            {
                "actions": [
                    {**a.to_json(), "persona": personas.get(a.patient_id or "")}
                    for a in state.actions(moment)
                ]
            }
        )

    @app.delete("/api/console/actions")
    def clear_actions() -> JSONResponse:
        state.clear_actions()
        return JSONResponse({"actions": []})

    @app.get("/api/console/checks/{check_id}")
    def check_json(check_id: str) -> JSONResponse:
        check = check_or_404(check_id)
        outcome, how = check.outcome, check.how
        return JSONResponse(
            {
                "check_id": check.id,
                "patient_id": check.patient_id,
                "kind": check.kind,
                "medium": how.medium.value if how else None,
                "platform": how.platform.value if how and how.platform else None,
                "method": how.method.value if how and how.method else None,
                "valid": bool(outcome and outcome.valid),
                "validity": outcome.validity.value if outcome and outcome.validity else None,
                "failures": list(check.explanation.ids),
                "declaration": check.explanation.declaration,
                "wrong_link": [m.field for m in check.wrong_link.mismatches] if check.wrong_link else None,
                "decision": check.decision,
                "held": check.held,
                "error": check.error.describe() if check.error else None,
            }
        )

    return app
