"""`onshi gallery` (port 8003): the failure gallery, the fault control panel, and rehearsal mode.

- ``/``                 the gallery: one card per failure F1–F17
- ``/failures/F1``      one failure, projector-sized: what the counter sees, what really happened, what it
                        costs the patient, the figures and sources, and a button that runs it live
- ``/privacy``          consent at a busy counter, the no-provide flag, serial numbers, access records
- ``/national.svg``     the national month by cause with 95% intervals (the gallery's plot)
- ``/calibration``      the model against the 2024 and 2025 surveys (``onshi calibrate``), ``/methods`` how
- ``/faults``           the fault control panel (central-system faults and, when reachable, the reader's)
- ``/rehearsal``        scenarios for a trainee; ``/rehearsal/{id}`` brief, console and reader side by side,
                        the response form, then the score and debrief
- ``/trainer``          sessions of several scenarios and their results (kept in ``var/rehearsal/``)

Every page shows the faults in force in a banner (polled), so nobody forgets one is on.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from clinic_client.client import ClientSettings, OnshiClient
from clinic_client.errors import OnshiError
from onshi import defaults
from onshi.catalogue import FIGURES, FailureMode
from onshi.procs import ROOT
from onshi.timeutil import JST
from rehearsal.calibrate import sig3
from rehearsal.observe import Observation, merge, observe
from rehearsal.privacy import THEMES
from rehearsal.runner import ScenarioRunner, Target
from rehearsal.scenario import (
    COPAYS,
    DOCUMENTS,
    METHODS,
    READER_FAULTS_OFF,
    RESPONSE_ITEMS,
    Scenario,
    load_all,
)
from rehearsal.scoring import DEBRIEF_FIGURES, debrief, model_response, score

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
# The model's own assumptions a failure's page shows beside the published figures (keys of
# rehearsal.assumptions.ASSUMPTIONS): where no figure is published, what we assumed, with its range.
MODEL_ASSUMPTIONS: dict[str, tuple[str, ...]] = {
    "F16": ("phone_share", "phone_only_share", "general_reader_share"),
    "F17": ("phone_share", "general_reader_share", "rate_F17"),
}


class NotFound(HTTPException):
    """A page or an API object that does not exist, said in both languages: pages answer a Japanese-first
    404 page with links on, the JSON API a problem JSON."""

    def __init__(self, ja: str, en: str) -> None:
        super().__init__(404, en)
        self.ja, self.en = ja, en


@dataclass(frozen=True)
class Problem:
    """Why something could not be done, in both languages (the pages show the one chosen)."""

    ja: str
    en: str


@dataclass(frozen=True)
class GallerySettings:
    server_url: str = defaults.SERVER_URL
    admin_token: str = defaults.ADMIN_TOKEN
    console_url: str = defaults.CONSOLE_URL
    reader_url: str = defaults.READER_URL
    data_dir: Path = field(default_factory=lambda: ROOT / "var" / "rehearsal")

    @property
    def target(self) -> Target:
        return Target(self.server_url, self.admin_token)


class SessionStore:
    """Training sessions in one JSON file: ``{id: {name, trainee, scenarios, results, created}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text(encoding="utf-8")))

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)

    def all(self) -> dict[str, Any]:
        with self._lock:
            return self._load()

    def get(self, session_id: str) -> dict[str, Any] | None:
        return self.all().get(session_id)

    def create(self, name: str, trainee: str, scenarios: list[str]) -> str:
        with self._lock:
            data = self._load()
            session_id = uuid.uuid4().hex[:8]
            data[session_id] = {"id": session_id, "name": name, "trainee": trainee, "scenarios": scenarios,
                                "results": [], "created": datetime.now(JST).isoformat(timespec="seconds")}
            self._save(data)
            return session_id

    def record(self, session_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            data = self._load()
            if session_id not in data:
                raise KeyError(session_id)
            data[session_id]["results"].append(result)
            self._save(data)


def create_app(settings: GallerySettings | None = None) -> FastAPI:
    settings = settings or GallerySettings()
    app = FastAPI(title="onshi-sim 失敗ギャラリー / failure gallery")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["sig3"] = sig3
    scenarios = load_all()
    store = SessionStore(settings.data_dir / "sessions.json")
    runner = ScenarioRunner(settings.target)
    failures = [mode.value for mode in FailureMode]

    def by_failure(failure_id: str) -> list[Scenario]:
        return [s for s in scenarios.values() if s.failure_id == failure_id]

    def scenario_or_404(scenario_id: str) -> Scenario:
        if scenario_id not in scenarios:
            raise NotFound(f"研修の場面「{scenario_id}」はありません。下の一覧から選んでください。",
                           f"There is no rehearsal scenario {scenario_id!r}. Pick one from the lists below.")
        return scenarios[scenario_id]

    @app.exception_handler(StarletteHTTPException)
    async def not_found_page(request: Request, exc: StarletteHTTPException) -> Response:
        """404 on a page: a page in words with the way back; the JSON API keeps its JSON."""
        if exc.status_code != 404 or request.url.path.startswith("/api/"):
            body: dict[str, Any] = {"detail": exc.detail}
            if isinstance(exc, NotFound):
                body["detail_ja"] = exc.ja
            return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))
        ja, en = ((exc.ja, exc.en) if isinstance(exc, NotFound) else
                  ("お探しのページはありません。下のリンクから選んでください。",
                   "There is no such page. Pick one of the links below."))
        context = {"settings": settings, "failures": failures, "what_ja": ja, "what_en": en}
        return templates.TemplateResponse(request, "not_found.html", context, status_code=404)

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        context = {"settings": settings, "failures": failures, **context}
        return templates.TemplateResponse(request, name, context)

    def admin(do: Callable[[OnshiClient], T]) -> T:
        """One admin call with the typed client; the server's own error, or why it is unreachable, as is."""
        client_settings = ClientSettings(settings.server_url, admin_token=settings.admin_token, timeout=30,
                                         retries=0)
        with OnshiClient(client_settings) as client:
            try:
                return do(client)
            except OnshiError as exc:
                detail = f"{settings.server_url}: {exc.describe('en')}"
                raise HTTPException(exc.status or 502, detail) from exc

    # The fault rules each prepared scenario added: "done" removes those and leaves the trainer's own.
    prepared_rules: dict[str, list[str]] = {}
    # When the trainee started each scenario: the console's actions since then are their response.
    started: dict[str, str] = {}

    def console_log(method: str, since: str | None = None) -> tuple[list[dict[str, Any]], Problem | None]:
        """The console's action log (GET) or clears it (DELETE); answers (actions, why not, if it failed)."""
        url = f"{settings.console_url}/api/console/actions"
        try:
            response = httpx.request(method, url, params={"since": since} if since else None, timeout=5)
        except httpx.HTTPError as exc:
            return [], Problem(
                f"受付画面（{settings.console_url}）に接続できません",
                f"the console at {settings.console_url} is not reachable ({type(exc).__name__})")
        if response.status_code != 200:
            return [], Problem(
                f"受付画面の操作記録を読めませんでした（応答 {response.status_code}）",
                f"the console's action log answered {response.status_code}: {response.text[:200]}")
        return list(response.json().get("actions") or []), None

    def start(scenario_id: str) -> dict[str, Any]:
        """The trainee starts: note the moment and clear the console's log (the last trainee's actions)."""
        started[scenario_id] = datetime.now(JST).isoformat()
        _, problem = console_log("DELETE")
        return {"started_at": started[scenario_id], "console_ok": problem is None,
                "console_problem": problem.en if problem else None,
                "console_problem_ja": problem.ja if problem else None}

    def observed(scenario: Scenario) -> tuple[Observation, Problem | None]:
        since = started.get(scenario.id)
        if since is None:
            return Observation(), Problem(
                "このページで開始していないため、受付画面の記録は取り込んでいません",
                "not started on this page: nothing taken from the console")
        actions, problem = console_log("GET", since)
        # Staff see カルテ番号; the console's log names the persona behind each (the card they carry).
        mine = [a for a in actions if (a.get("persona") or a.get("patient_id")) == scenario.persona]
        return observe(mine), problem

    # --- gallery ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        from rehearsal.calibrate import national_picture

        return render(request, "index.html", by_failure=by_failure, figures=FIGURES,
                      national=national_picture())

    @app.get("/national.svg")
    def national_svg() -> Response:
        from rehearsal.calibrate import national_picture, national_plot

        buffer = io.BytesIO()
        national_plot(national_picture(), buffer)
        return Response(buffer.getvalue(), media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/calibration/{survey}.svg")
    def calibration_svg(survey: str) -> Response:
        from rehearsal.calibrate import calibration_cached
        from rehearsal.plots import calibration_plot

        if survey not in ("2024", "2025"):
            raise HTTPException(404, f"no survey {survey}: 2024 or 2025 / 調査は2024か2025")
        buffer = io.BytesIO()
        calibration_plot(calibration_cached(survey), buffer)
        return Response(buffer.getvalue(), media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/calibration", response_class=HTMLResponse)
    def calibration_page(request: Request) -> HTMLResponse:
        from rehearsal.assumptions import markdown_table
        from rehearsal.calibrate import calibration_cached, calibration_markdown
        from rehearsal.simulate import markdown_to_html

        pages = [(s, markdown_to_html(calibration_markdown(calibration_cached(s), with_assumptions=False)))
                 for s in ("2025", "2024")]
        pages.append(("", markdown_to_html("## 前提 / Assumptions\n\n" + markdown_table())))
        return render(request, "markdown.html", title="調査との照合 / Calibration", pages=pages)

    @app.get("/methods", response_class=HTMLResponse)
    def methods(request: Request) -> HTMLResponse:
        from rehearsal.simulate import markdown_to_html

        path = ROOT / "docs" / "methods.md"
        if not path.exists():
            raise HTTPException(404, f"{path} is missing / 方法の説明が見つかりません")
        return render(request, "markdown.html", title="方法 / Methods",
                      pages=[("", markdown_to_html(path.read_text(encoding="utf-8")))])

    @app.get("/privacy", response_class=HTMLResponse)
    def privacy(request: Request) -> HTMLResponse:
        return render(request, "privacy.html", themes=THEMES, figures=FIGURES,
                      failure_by_id={f.id: f for f in failures})

    @app.get("/failures/{failure_id}", response_class=HTMLResponse)
    def failure_page(request: Request, failure_id: str) -> HTMLResponse:
        from rehearsal.assumptions import ASSUMPTIONS
        from rehearsal.calibrate import BASIS_LABELS, national_picture, rate_basis

        ids = [f.id for f in failures]
        try:
            mode = FailureMode.by_id(failure_id)
        except KeyError as exc:
            raise NotFound(
                f"失敗「{failure_id}」はありません（{ids[0]}〜{ids[-1]}）。下の一覧から選んでください。",
                f"There is no failure {failure_id!r} ({ids[0]}–{ids[-1]}). Pick one from the lists below.",
            ) from exc
        related = by_failure(mode.id)
        position = ids.index(mode.id)
        shown = [FIGURES[k] for k in DEBRIEF_FIGURES.get(mode.id, ()) if k in FIGURES]
        sources = tuple(dict.fromkeys([*mode.value.sources, *(f.source for f in shown)]))
        picture = national_picture()
        return render(request, "failure.html", failure=mode.value, scenarios=related,
                      debrief=debrief(related[0]) if related else None,
                      shown_figures=shown, sources=sources,
                      assumed=[ASSUMPTIONS[k] for k in MODEL_ASSUMPTIONS.get(mode.id, ())],
                      national=picture, estimate=picture["by_cause"].get(mode.id),
                      national_source=FIGURES["monthly_checks"].source,
                      basis=BASIS_LABELS[rate_basis(mode.id)],
                      previous=ids[position - 1] if position else None,
                      next=ids[position + 1] if position + 1 < len(ids) else None)

    @app.post("/api/run/{scenario_id}")
    def run_live(scenario_id: str) -> JSONResponse:
        """Runs a scenario against the configured server (blocking; FastAPI runs it in a thread). The run
        reloads the registry (fixture personas and the scenario's events); faults set here stay."""
        result = runner.run(scenario_or_404(scenario_id))
        return JSONResponse({**result.to_json(), "registry_reloaded": True})

    @app.post("/api/prepare/{scenario_id}")
    def prepare(scenario_id: str) -> dict[str, Any]:
        """Sets the server up for a trainee to play the scenario at the console and the reader, and puts
        the scenario's reader faults on the reader (every other reader fault off)."""
        scenario = scenario_or_404(scenario_id)
        for previous, rules in list(prepared_rules.items()):  # a scenario left without "done"
            runner.remove_rules(scenarios[previous], rules)
            del prepared_rules[previous]
        try:
            prepared_rules[scenario_id] = runner.prepare(scenario)
        except OnshiError as exc:  # unreachable server, refused event or fault rule: the server's words
            raise HTTPException(exc.status if exc.status and exc.status >= 500 else 502,
                                f"could not prepare {scenario_id} on {settings.server_url}: "
                                f"{exc.describe('en')}") from exc
        reader = set_reader_faults(scenario.reader_faults)
        return {"prepared": scenario_id, "persona": scenario.persona, "registry_reloaded": True,
                "console": start(scenario_id),
                "fault_rules": prepared_rules[scenario_id], "arrive_at": scenario.arrive_at.isoformat(),
                "reader": reader}

    @app.delete("/api/prepare/{scenario_id}")
    def prepared_done(scenario_id: str) -> dict[str, Any]:
        """The scenario is over: the fault rules it added and the reader's faults come off (others stay)."""
        scenario = scenario_or_404(scenario_id)
        rules = prepared_rules.pop(scenario_id, [])
        problem = runner.remove_rules(scenario, rules)
        if problem:
            raise HTTPException(502, problem)
        return {"cleared": scenario_id, "removed_rules": rules, "server": admin(lambda c: c.get_faults()),
                "reader": set_reader_faults({})}

    # --- faults ----------------------------------------------------------------------------

    def set_reader_faults(faults: Mapping[str, Any]) -> dict[str, Any]:
        """Puts exactly these faults on the reader (the others off; ``{}`` clears them all).

        Answers ``{"ok", "needed", "faults", "message_ja", "message_en", "reader_url"}``: ``faults`` is
        what the reader now has (None when it could not be reached), the messages what that means.
        """
        url = settings.reader_url
        wanted = ", ".join(f"{k}={v}" for k, v in faults.items())
        answer: dict[str, Any] = {"ok": True, "needed": bool(faults), "faults": None, "message_ja": "",
                                  "message_en": "", "reader_url": url}
        try:
            response = httpx.post(f"{url}/api/reader/faults", json={**READER_FAULTS_OFF, **faults}, timeout=5)
        except httpx.HTTPError as exc:
            if not faults:
                answer.update(
                    message_ja=f"カードリーダー（{url}）に接続できません"
                               "（このシナリオに読み取り機の障害はありません）。",
                    message_en=f"The reader at {url} is not reachable (no reader fault in this scenario).")
                return answer
            answer.update(
                ok=False,
                message_ja=f"カードリーダー（{url}）に接続できないため、読み取り機の障害（{wanted}）を"
                           "設定できませんでした。カードリーダーを起動して（onshi reader）"
                           "もう一度準備してください。",
                message_en=f"The reader at {url} is not reachable ({type(exc).__name__}), so the reader "
                           f"fault ({wanted}) is NOT set. Start the reader (`onshi reader`) and prepare "
                           "again.")
            return answer
        if response.status_code != 200:
            answer.update(ok=False,
                          message_ja=f"カードリーダーが障害の設定を拒否しました: {response.text[:300]}",
                          message_en=f"The reader refused the faults ({response.status_code}): "
                                     f"{response.text[:300]}")
            return answer
        answer["faults"] = response.json()
        if faults:
            answer.update(message_ja=f"カードリーダーに障害を設定しました: {wanted}",
                          message_en=f"Reader fault set: {wanted}")
        return answer

    def reader_faults() -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{settings.reader_url}/api/reader/faults", timeout=1.5)
            return dict(response.json()) if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    @app.get("/faults", response_class=HTMLResponse)
    def faults_page(request: Request) -> HTMLResponse:
        return render(request, "faults.html")

    @app.get("/api/faults")
    def faults_view() -> dict[str, Any]:
        try:
            server: Any = admin(lambda c: c.get_faults())
        except HTTPException as exc:
            server = {"error": exc.detail}
        return {"server": server, "reader": reader_faults(), "server_url": settings.server_url,
                "reader_url": settings.reader_url}

    @app.post("/api/faults")
    async def faults_global(request: Request) -> Any:
        body = await request.json()
        return admin(lambda c: c.set_faults(outage=body.get("outage"), latency_ms=body.get("latency_ms"),
                                            rules=body.get("rules"), clear=bool(body.get("clear"))))

    @app.post("/api/faults/rules")
    async def faults_add(request: Request) -> Any:
        body = {k: v for k, v in (await request.json()).items() if v not in ("", None)}
        return admin(lambda c: c.add_fault_rule(body))

    @app.delete("/api/faults/rules/{rule_id}")
    def faults_remove(rule_id: str) -> Any:
        return admin(lambda c: c.remove_fault_rule(rule_id))

    @app.delete("/api/faults")
    def faults_clear() -> Any:
        cleared: dict[str, Any] = dict(admin(lambda c: c.clear_faults()))
        reader = set_reader_faults({})
        if reader["faults"] is not None:
            cleared["reader"] = reader["faults"]
        return cleared

    @app.post("/api/reader-faults")
    async def reader_faults_set(request: Request) -> Any:
        try:
            response = httpx.post(f"{settings.reader_url}/api/reader/faults", json=await request.json(),
                                  timeout=3)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"the reader at {settings.reader_url} is not reachable") from exc
        return JSONResponse(response.json(), status_code=response.status_code)

    # --- rehearsal -------------------------------------------------------------------------

    @app.get("/rehearsal", response_class=HTMLResponse)
    def rehearsal_index(request: Request) -> HTMLResponse:
        return render(request, "rehearsal_index.html", scenarios=list(scenarios.values()))

    @app.get("/rehearsal/{scenario_id}", response_class=HTMLResponse)
    def rehearsal_page(request: Request, scenario_id: str, session: str | None = None) -> HTMLResponse:
        scenario = scenario_or_404(scenario_id)
        return render(request, "rehearsal.html", scenario=scenario, items=RESPONSE_ITEMS, documents=DOCUMENTS,
                      methods=METHODS, copays=COPAYS, session=store.get(session) if session else None)

    @app.post("/api/rehearsal/{scenario_id}/start")
    def rehearsal_start(scenario_id: str) -> dict[str, Any]:
        scenario_or_404(scenario_id)
        return start(scenario_id)

    @app.get("/api/rehearsal/{scenario_id}/observed")
    def rehearsal_observed(scenario_id: str) -> dict[str, Any]:
        """What the console's log shows of the trainee's response so far (to pre-fill the form)."""
        observation, problem = observed(scenario_or_404(scenario_id))
        return {"started_at": started.get(scenario_id), "response": observation.response,
                "evidence": observation.evidence, "actions": observation.actions,
                "problem": problem.en if problem else None, "problem_ja": problem.ja if problem else None}

    @app.post("/rehearsal/{scenario_id}/answer", response_class=HTMLResponse)
    async def rehearsal_answer(request: Request, scenario_id: str) -> HTMLResponse:
        scenario = scenario_or_404(scenario_id)
        form = await request.form()
        reported = {key: form.get(key) for key in RESPONSE_ITEMS if form.get(key) not in (None, "")}
        observation, console_problem = observed(scenario)
        response, from_console = merge(observation, reported)
        result = score(scenario, response, from_console)
        started.pop(scenario_id, None)
        if scenario.reader_faults:  # the scenario is done: its reader faults come off the reader
            set_reader_faults({})
        session_id = str(form.get("session") or "")
        session = store.get(session_id) if session_id else None
        if session is not None:
            at = datetime.now(JST).isoformat(timespec="seconds")
            store.record(session_id, {"scenario": scenario.id, "at": at, **result.to_json()})
            session = store.get(session_id)
        return render(request, "score.html", scenario=scenario, result=result, items=RESPONSE_ITEMS,
                      console_problem=console_problem if observation.actions == 0 else None,
                      model=model_response(scenario), session=session, next_id=_next(session, scenario.id))

    def _next(session: dict[str, Any] | None, current: str) -> str | None:
        if not session:
            return None
        done = {r["scenario"] for r in session["results"]}
        return next((s for s in session["scenarios"] if s not in done and s != current), None)

    @app.get("/trainer", response_class=HTMLResponse)
    def trainer(request: Request) -> HTMLResponse:
        sessions = sorted(store.all().values(), key=lambda s: s["created"], reverse=True)
        return render(request, "trainer.html", sessions=sessions, scenarios=list(scenarios.values()))

    @app.post("/trainer/sessions")
    def create_session(name: Annotated[str, Form()], scenario: Annotated[list[str], Form()],
                       trainee: Annotated[str, Form()] = "") -> RedirectResponse:
        unknown = [s for s in scenario if s not in scenarios]
        if unknown:
            raise HTTPException(400, f"unknown scenarios: {unknown}")
        session_id = store.create(name, trainee, scenario)
        return RedirectResponse(f"/trainer/sessions/{session_id}", status_code=303)

    @app.get("/trainer/sessions/{session_id}", response_class=HTMLResponse)
    def session_page(request: Request, session_id: str) -> HTMLResponse:
        session = store.get(session_id)
        if session is None:
            raise NotFound("この研修セッションはありません。トレーナーのページから選んでください。",
                           f"There is no session {session_id!r}. Pick one on the trainer's page.")
        latest = {r["scenario"]: r for r in session["results"]}
        return render(request, "session.html", session=session, latest=latest, scenarios=scenarios)

    @app.get("/api/sessions/{session_id}")
    def session_json(session_id: str) -> Any:
        session = store.get(session_id)
        if session is None:
            raise HTTPException(404, f"no session {session_id}")
        return session

    return app
