"""Rehearsal mode takes the trainee's response from the real console's action log, over HTTP.

Real processes: the server (`live_server`), the reception console (`onshi console`, from
tests/test_console_browser.py), and the gallery app in-process. The trainee works at the console;
the score says which answers were observed there and which were self-reported.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from rehearsal.web import GallerySettings, create_app
from tests.conftest import LiveServer
from tests.test_console_browser import console, console_home  # noqa: F401 (fixtures)


def test_what_the_trainee_does_at_the_console_is_what_gets_scored(live_server: LiveServer, console: str,  # noqa: F811
                                                                  tmp_path: Path) -> None:
    settings = GallerySettings(server_url=live_server.url, admin_token=live_server.admin_token,
                               console_url=console, reader_url="http://127.0.0.1:9", data_dir=tmp_path)
    httpx.post(f"{console}/patients/healthy-employee/card-check", timeout=30)  # an earlier trainee's action
    try:
        with TestClient(create_app(settings)) as gallery:
            prepared = gallery.post("/api/prepare/f01-input-lag").json()
            assert prepared["console"]["console_ok"] is True  # the log was cleared at the start
            assert httpx.get(f"{console}/api/console/actions", timeout=10).json() == {"actions": []}
            # F1 at the console: the new numbers find nothing, so the declaration and the normal 30%.
            web = httpx.Client(base_url=console, timeout=30, follow_redirects=True)
            memo = {"insurer_number": "01130012", "symbol": "31058888", "number": "41", "branch": "00",
                    "birthdate": "1968-11-03", "document": "other"}
            checked = web.post("/patients/healthy-national/number-check", data=memo)
            assert checked.status_code == 200
            check_id = str(checked.url).rsplit("/", 1)[-1]
            web.get(f"/patients/healthy-national/declaration?check={check_id}")
            web.post("/patients/healthy-national/copay", data={"percent": "30", "check": check_id})

            seen = gallery.get("/api/rehearsal/f01-input-lag/observed").json()
            assert seen["response"] == {"accept_document": "declaration", "use_declaration": True,
                                        "copay_ratio": 30}
            # The trainee reports what the console cannot see, and (wrongly) 100%: the console's 30% counts.
            answer = gallery.post("/rehearsal/f01-input-lag/answer",
                                  data={"ask_documents": "true", "copay_ratio": "100"})
            assert answer.status_code == 200 and "合格" in answer.text
            assert answer.text.count('data-observed="yes"') == 3  # declaration, its use, the co-pay
            assert answer.text.count('data-observed="no"') == 1  # asked for documents: self-reported
    finally:
        live_server.reset()


def test_without_a_console_every_answer_is_self_reported(live_server: LiveServer, tmp_path: Path) -> None:
    settings = GallerySettings(server_url=live_server.url, admin_token=live_server.admin_token,
                               console_url="http://127.0.0.1:9", reader_url="http://127.0.0.1:9",
                               data_dir=tmp_path)
    try:
        with TestClient(create_app(settings)) as gallery:
            prepared = gallery.post("/api/prepare/f01-input-lag").json()
            assert prepared["console"]["console_ok"] is False
            answer = gallery.post("/rehearsal/f01-input-lag/answer",
                                  data={"ask_documents": "true", "accept_document": "declaration",
                                        "use_declaration": "true", "copay_ratio": "30"})
            assert "合格" in answer.text and 'data-observed="yes"' not in answer.text
            assert "http://127.0.0.1:9 is not reachable" in answer.text
    finally:
        live_server.reset()
