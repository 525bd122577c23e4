"""The server's own pages work in a closed network: the landing page at / and the API docs at /docs.

Debian's Chromium with every request outside the server refused (as in a clinic without internet):
the pages must render from the server alone. Screenshots under var/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.browser import chromium, screenshot
from tests.conftest import LiveServer


@pytest.fixture
def offline_page(live_server: LiveServer) -> Iterator[tuple[Any, list[str]]]:
    """A page that can reach the server and nothing else; yields it and the refused addresses."""
    server = urlparse(live_server.url).netloc
    refused: list[str] = []

    def only_the_server(route: Any) -> None:
        if urlparse(route.request.url).netloc == server:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with chromium(viewport={"width": 1280, "height": 900}) as page:
        page.route("**/*", only_the_server)
        yield page, refused


def test_landing_page_says_what_this_is_japanese_first(live_server: LiveServer,
                                                      offline_page: tuple[Any, list[str]]) -> None:
    page, refused = offline_page
    response = page.goto(f"{live_server.url}/")
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "ja"
    heading = page.locator("h1").inner_text()
    assert "中央システム（模擬）" in heading
    body = page.locator("body").inner_text()
    assert body.index("オンライン資格確認等システムの模擬サーバー") < body.index("A mock of Japan")
    links = {page.locator("a").nth(i).get_attribute("href") for i in range(page.locator("a").count())}
    port = int(urlparse(live_server.url).port or 0)
    assert {"/docs", "/redoc", "/openapi.json", "/api/v1/health"} <= links
    assert {f"http://127.0.0.1:{port + n}/" for n in (1, 2, 3)} <= links  # reader, console, gallery
    screenshot(page, "server-landing")
    assert refused == []


def test_api_docs_render_without_internet(live_server: LiveServer,
                                          offline_page: tuple[Any, list[str]]) -> None:
    page, refused = offline_page
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 20
    assert "onshi-sim" in page.locator(".swagger-ui .info .title").inner_text()
    # An operation opens with its copy-paste example (the number check's JSON request).
    page.locator("#operations-clinic-number_check .opblock-summary").first.click()
    page.wait_for_selector("#operations-clinic-number_check .body-param__example, "
                           "#operations-clinic-number_check .highlight-code", timeout=15_000)
    assert "QualificationConfirmSearchInfo" in page.locator("#operations-clinic-number_check").inner_text()
    screenshot(page, "server-docs-offline")
    assert refused == [], refused


def test_redoc_renders_without_internet(live_server: LiveServer, offline_page: tuple[Any, list[str]]) -> None:
    page, refused = offline_page
    page.goto(f"{live_server.url}/redoc")
    page.wait_for_selector("h1:has-text('onshi-sim')", timeout=30_000)
    assert page.get_by_text("Number check (OQSsiquc01req → OQSsiquc01res)").count() >= 1
    screenshot(page, "server-redoc-offline")
    # ReDoc's own bundle asks for its "powered by" logo from its CDN; refused, the page is unaffected.
    assert [url for url in refused if not url.endswith("/redoc/logo-mini.svg")] == [], refused
