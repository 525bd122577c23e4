"""The gallery, the fault panel and rehearsal mode: a real `onshi gallery` process in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from onshi.catalogue import FailureMode
from onshi.procs import ROOT, free_port, serving
from rehearsal.scenario import READER_FAULTS_OFF
from rehearsal.web import GallerySettings, create_app
from tests.browser import chromium, screenshot
from tests.conftest import LiveServer
from tests.server_helpers import reader_process


@pytest.fixture(scope="module")
def gallery(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("gallery")
    log = ROOT / "var" / "test-logs" / f"gallery-{port}.log"
    try:
        with serving(["gallery", "--port", str(port), "--server", live_server.url,
                      "--admin-token", live_server.admin_token,
                      "--reader", f"http://127.0.0.1:{free_port()}",
                      "--console", f"http://127.0.0.1:{free_port()}", "--data", str(data)],
                     port, log=log) as url:
            yield url
    finally:
        live_server.admin("DELETE", "/faults")
        live_server.reset()


@pytest.mark.browser
def test_gallery_index_and_a_failure_page_run_live(gallery: str) -> None:
    with chromium(viewport={"width": 1600, "height": 900}) as page:
        page.goto(f"{gallery}/")
        assert page.locator(".card").count() == len(FailureMode)
        assert "紐付け誤り" in page.inner_text("main")
        screenshot(page, "gallery-index")
        page.goto(f"{gallery}/failures/F2")
        for heading in ("窓口に見えるもの", "本当に起きたこと", "患者にとっての代償"):
            assert heading in page.inner_text("main")
        button = page.locator(".run-live").first
        assert button.bounding_box()["y"] < 900  # the button is above the fold …
        button.click()
        page.wait_for_selector("#live-top.ok .verdict, #live-top.bad .verdict", timeout=60_000)
        live = page.locator("#live-top")
        text = live.inner_text()
        assert "再現できました" in text and "1962年12月25日" in text  # the stranger's birth date, in words
        assert "19621225" not in text and "フィクスチャ" not in text
        assert "エスシタロプラム" in text  # and her medication
        assert "正しい対応" in text  # what to do, in the same place
        box = live.bounding_box()
        assert box["y"] < 900 and box["y"] > button.bounding_box()["y"]  # … and the result right under it
        verdict_px = float(page.eval_on_selector("#live-top .verdict",
                                                 "e => parseFloat(getComputedStyle(e).fontSize)"))
        assert verdict_px >= 36  # projector-sized
        screenshot(page, "gallery-F2-live")


@pytest.mark.browser
def test_a_trainee_sees_neutral_titles_and_the_whole_reader_at_1600px(gallery: str) -> None:
    with chromium(viewport={"width": 1600, "height": 900}) as page:
        page.goto(f"{gallery}/rehearsal")
        listing = page.inner_text("main")
        assert "木村拓也さん（42歳）、初診" in listing
        assert "保険証利用登録をしていないカード" not in listing and "F9" not in listing
        assert "f09-not-registered" not in listing
        page.goto(f"{gallery}/rehearsal/f09-not-registered")
        assert "保険証利用登録" not in page.inner_text("h1")
        page.wait_for_timeout(500)
        frame = page.locator(".fit iframe").bounding_box()
        box = page.locator(".fit").bounding_box()
        assert frame["width"] <= box["width"] + 1 and frame["height"] <= box["height"] + 1  # shown whole
        screenshot(page, "rehearsal-f09-1600")


def test_a_missing_page_answers_a_page_in_words(gallery: str) -> None:
    for path, words in (("/rehearsal/F1", "研修の場面「F1」はありません"),
                        ("/failures/F99", "失敗「F99」はありません")):
        answer = httpx.get(f"{gallery}{path}", timeout=30)
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert words in answer.text and 'href="/rehearsal"' in answer.text and 'href="/"' in answer.text
    api = httpx.delete(f"{gallery}/api/prepare/f99-nothing", timeout=30)
    assert api.status_code == 404 and api.json()["detail_ja"].startswith("研修の場面")


@pytest.mark.browser
def test_english_toggle_and_the_outage_page(gallery: str) -> None:
    with chromium(viewport={"width": 1600, "height": 900}) as page:
        page.goto(f"{gallery}/failures/F13")
        page.click("#lang-toggle")
        main = page.inner_text("main")
        assert "What it costs the patient" in main and "患者にとっての代償" not in main
        assert "3,400" in main
        page.click(".run-live")
        page.wait_for_selector("#live-top.ok .verdict, #live-top.bad .verdict", timeout=60_000)
        assert "Reproduced" in page.inner_text("#live-top")
        screenshot(page, "gallery-F13-english")
        page.reload()
        assert "What the counter sees" in page.inner_text("main")  # the choice is remembered


@pytest.mark.browser
def test_fault_panel_adds_shows_and_clears_faults(gallery: str, live_server: LiveServer) -> None:
    with chromium(viewport={"width": 1600, "height": 1000}) as page:
        page.goto(f"{gallery}/faults")
        page.wait_for_selector(".fault-ok")
        page.select_option("select[name=kind]", "error")
        page.select_option("select[name=channel]", "clinic")
        page.fill("input[name=clinic]", "1312345678")
        page.fill("input[name=rate]", "0.5")
        page.fill("input[name=seed]", "42")
        page.click("#rule-form button[type=submit]")
        page.wait_for_selector(".rule.active")
        page.wait_for_selector("#fault-banner:not([hidden])", timeout=10_000)
        banner = page.inner_text("#fault-banner")
        assert "エラー" in banner and "受付端末" in banner and "fault-" not in banner
        panel = page.inner_text("#fault-state")
        assert "エラー" in panel and "割合 0.5" in panel and "今から" in panel
        rules = live_server.admin("GET", "/faults")["rules"]
        assert rules[0]["kind"] == "error" and rules[0]["rate"] == 0.5 and rules[0]["clinic"] == "1312345678"
        screenshot(page, "gallery-faults-active")
        page.goto(f"{gallery}/")  # visible on every page
        page.wait_for_selector("#fault-banner:not([hidden])", timeout=10_000)
        page.goto(f"{gallery}/faults")
        page.click("#clear-all")
        page.wait_for_selector(".fault-ok")
        page.wait_for_selector("#fault-banner[hidden]", state="attached", timeout=10_000)
        assert live_server.admin("GET", "/faults")["rules"] == []


@pytest.mark.browser
def test_a_trainer_session_with_a_wrong_and_a_right_answer(gallery: str) -> None:
    with chromium(viewport={"width": 1600, "height": 1000}) as page:
        page.goto(f"{gallery}/trainer")
        page.fill("input[name=trainee]", "山田")
        for box in page.locator("input[name=scenario]").all():
            box.uncheck()
        page.check("input[value=f13-outage]")
        page.check("input[value=f02-wrong-link]")
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r"/trainer/sessions/\w+"))
        session_url = page.url
        page.click("a.primary")
        # f02 (the first chosen, in list order): the trainee uses the stranger's data.
        page.wait_for_selector("form.response")
        assert "加藤" in page.inner_text(".brief")
        screenshot(page, "gallery-rehearsal-brief")
        page.check("fieldset[data-item=stop_on_stranger] input[value=false]")
        page.check("fieldset[data-item=accept_document] input[value=card]")
        page.check("fieldset[data-item=copay_ratio] input[value='30']")
        page.click("form.response button[type=submit]")
        page.wait_for_selector(".verdict")
        assert "要復習" in page.inner_text(".verdict")
        assert "【重大】" in page.inner_text("table.items")
        assert "7,300" in page.inner_text(".debrief")
        screenshot(page, "gallery-score-wrong")
        page.click("text=次のシナリオ")
        # f13: the right response.
        page.wait_for_selector("form.response")
        for item, value in (("use_declaration", "true"), ("accept_document", "declaration"),
                            ("copay_ratio", "30"), ("recheck_later", "true")):
            page.check(f"fieldset[data-item={item}] input[value='{value}']")
        page.click("form.response button[type=submit]")
        page.wait_for_selector(".verdict")
        assert "合格" in page.inner_text(".verdict")
        page.goto(session_url)
        results = page.inner_text("table.results")
        assert "4/4" in results and "stop_on_stranger" in results
        screenshot(page, "gallery-trainer-session")


def test_pages_answer_without_a_browser(live_server: LiveServer, tmp_path: Path) -> None:
    app = create_app(GallerySettings(server_url=live_server.url, admin_token=live_server.admin_token,
                                     reader_url="http://127.0.0.1:9", data_dir=tmp_path))
    with TestClient(app) as client:
        for path in ["/", "/faults", "/rehearsal", "/trainer", *[f"/failures/F{i}" for i in range(1, 16)]]:
            assert client.get(path).status_code == 200, path
        assert client.get("/failures/F99").status_code == 404
        view = client.get("/api/faults").json()
        assert view["reader"] is None and view["server"]["outage"] is False
        answer = client.post("/rehearsal/f01-input-lag/answer",
                             data={"copay_ratio": "100", "accept_document": "none"})
        assert answer.status_code == 200 and "要復習" in answer.text
        created = client.post("/trainer/sessions", data={"name": "s", "scenario": ["f05-name-characters"]},
                              follow_redirects=False)
        session_id = created.headers["location"].rsplit("/", 1)[1]
        client.post("/rehearsal/f05-name-characters/answer",
                    data={"session": session_id, "confirm_name": "true", "accept_document": "card",
                          "copay_ratio": "30"})
        session = client.get(f"/api/sessions/{session_id}").json()
        assert session["results"][0]["passed"] is True
    assert (tmp_path / "sessions.json").exists()
    assert httpx.get(f"{live_server.url}/api/v1/health").status_code == 200


# --- "prepare" puts the scenario's reader faults on the reader; done / reset take them off -----------


def _gallery_app(live_server: LiveServer, reader_url: str, tmp_path: Path) -> TestClient:
    settings = GallerySettings(server_url=live_server.url, admin_token=live_server.admin_token,
                               reader_url=reader_url, data_dir=tmp_path / "data")
    return TestClient(create_app(settings))


@pytest.mark.slow
def test_prepare_sets_the_reader_faults_and_done_or_reset_clears_them(live_server: LiveServer,
                                                                     tmp_path: Path) -> None:
    with reader_process(live_server, tmp_path) as reader_url:
        def on_reader() -> dict[str, object]:
            return dict(httpx.get(f"{reader_url}/api/reader/faults", timeout=30).json())

        try:
            with _gallery_app(live_server, reader_url, tmp_path) as client:
                httpx.post(f"{reader_url}/api/reader/faults", json={"camera_unavailable": True}, timeout=30)
                prepared = client.post("/api/prepare/f06-reader-unplugged")
                assert prepared.status_code == 200, prepared.text
                reader = prepared.json()["reader"]
                assert reader["ok"] and reader["needed"] and "unplug_at=pin" in reader["message_en"]
                assert on_reader() == {**READER_FAULTS_OFF, "unplug_at": "pin"}  # the leftover fault is gone
                # the trainee puts the card on and chooses the PIN: the cable comes out
                httpx.post(f"{reader_url}/api/reader/card", json={"card_id": "healthy-employee"}, timeout=60)
                state = httpx.post(f"{reader_url}/api/reader/method", json={"method": "pin"},
                                   timeout=60).json()
                assert state["error"]["code"] == "R401" and on_reader()["unplugged"] is True
                done = client.delete("/api/prepare/f06-reader-unplugged")
                assert done.status_code == 200 and done.json()["reader"]["ok"]
                assert on_reader() == READER_FAULTS_OFF  # plugged in again
                assert httpx.get(f"{reader_url}/api/reader/state", timeout=30).json()["connected"] is True
                # answering the scenario (done) clears them too
                client.post("/api/prepare/f06-reader-unplugged")
                assert on_reader()["unplug_at"] == "pin"
                response = {"switch_method": "number_check", "accept_document": "eligibility_notice",
                            "copay_ratio": "30", "use_declaration": "false"}
                answer = client.post("/rehearsal/f06-reader-unplugged/answer", data=response)
                assert answer.status_code == 200
                assert on_reader() == READER_FAULTS_OFF
                # so does the fault panel's "clear all" (reset)
                client.post("/api/prepare/f06-reader-unplugged")
                cleared = client.delete("/api/faults")
                assert cleared.status_code == 200 and cleared.json()["reader"] == READER_FAULTS_OFF
                # a scenario without reader faults leaves none behind on the reader
                httpx.post(f"{reader_url}/api/reader/faults", json={"network_down": True}, timeout=30)
                prepared = client.post("/api/prepare/f05-name-characters")
                assert prepared.json()["reader"] == {**prepared.json()["reader"], "ok": True, "needed": False}
                assert on_reader() == READER_FAULTS_OFF
        finally:
            live_server.reset()


def test_prepare_says_clearly_when_the_reader_is_unreachable(live_server: LiveServer, tmp_path: Path) -> None:
    try:
        with _gallery_app(live_server, "http://127.0.0.1:9", tmp_path) as client:
            prepared = client.post("/api/prepare/f06-reader-unplugged")
            assert prepared.status_code == 200  # the server is prepared all the same
            reader = prepared.json()["reader"]
            assert reader["ok"] is False and reader["needed"] is True and reader["faults"] is None
            assert "http://127.0.0.1:9 is not reachable" in reader["message_en"]
            assert "unplug_at=pin" in reader["message_en"] and "NOT set" in reader["message_en"]
            assert "接続できない" in reader["message_ja"]
            quiet = client.post("/api/prepare/f05-name-characters").json()["reader"]
            assert quiet["ok"] is True and quiet["needed"] is False  # nothing to set: not an error
            assert client.delete("/api/prepare/f06-reader-unplugged").status_code == 200
            assert client.delete("/api/prepare/f99-nothing").status_code == 404
    finally:
        live_server.reset()


# --- a live run or a prepared scenario takes off only its own faults ---------------------------------


def test_a_live_run_and_a_prepared_scenario_leave_the_trainers_faults_alone(live_server: LiveServer,
                                                                          tmp_path: Path) -> None:
    trainers = {"id": "trainer-pharmacy-slow", "kind": "latency", "latency_ms": 1, "clinic": "1342000017"}
    try:
        with _gallery_app(live_server, "http://127.0.0.1:9", tmp_path) as client:
            assert client.post("/api/faults/rules", json=trainers).status_code == 200
            run = client.post("/api/run/f13-outage").json()
            assert run["ok"] is True and run["registry_reloaded"] is True
            rules = [r["id"] for r in live_server.admin("GET", "/faults")["rules"]]
            assert rules == ["trainer-pharmacy-slow"]  # the scenario's outage-0905 is gone, the trainer's not
            prepared = client.post("/api/prepare/f13-outage").json()
            assert prepared["fault_rules"] == ["outage-0905"] and prepared["registry_reloaded"] is True
            rules = {r["id"] for r in live_server.admin("GET", "/faults")["rules"]}
            assert rules == {"trainer-pharmacy-slow", "outage-0905"}
            done = client.delete("/api/prepare/f13-outage").json()
            assert done["removed_rules"] == ["outage-0905"]
            assert [r["id"] for r in done["server"]["rules"]] == ["trainer-pharmacy-slow"]
            assert "ライブで実行すると" in client.get("/failures/F13").text  # the page says it reloads
    finally:
        live_server.admin("DELETE", "/faults")
        live_server.reset()


def test_prepare_against_an_unreachable_server_says_so(tmp_path: Path) -> None:
    settings = GallerySettings(server_url="http://127.0.0.1:9", reader_url="http://127.0.0.1:9",
                               data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        prepared = client.post("/api/prepare/f13-outage")
        assert prepared.status_code == 502
        assert "could not prepare f13-outage on http://127.0.0.1:9" in prepared.json()["detail"]
        assert client.get("/api/faults").json()["server"]["error"].startswith("http://127.0.0.1:9")


# --- every failure page and the privacy page at projector size --------------------------------------


PROJECTOR = {"width": 1600, "height": 900}


@pytest.mark.browser
def test_every_failure_page_and_the_privacy_page_fit_a_projector(gallery: str) -> None:
    from onshi.catalogue import FailureMode

    pages = [f"failures/{mode.id}" for mode in FailureMode] + ["privacy"]
    with chromium(viewport=PROJECTOR) as page:
        for path in pages:
            page.goto(f"{gallery}/{path}")
            main = page.inner_text("main")
            assert "一覧" in main, path
            # nothing wider than the screen, and the body text large enough to read from the back
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PROJECTOR["width"], f"{path}: {width}px wide"
            smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('main p, main li')]
                .filter(e => !e.closest('.small, .source') && e.innerText.trim())
                .map(e => parseFloat(getComputedStyle(e).fontSize)))""")
            assert smallest >= 18, f"{path}: body text at {smallest}px"
            screenshot(page, "gallery-" + path.replace("/", "-"))
        privacy = page.inner_text("main")
        for words in ("16%", "44%", "厚生労働省", "シリアル番号", "マイナポータル"):
            assert words in privacy
        page.click("#lang-toggle")
        english = page.inner_text("main")
        assert "Consent is one button at a busy counter" in english and "A record of who looked" in english
        assert "混雑した窓口" not in english
        page.goto(f"{gallery}/")
        page.click("a[href='/privacy'] >> nth=-1")
        page.wait_for_url(re.compile(r"/privacy$"))
