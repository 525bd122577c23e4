"""The gallery's smartphone pages (F16, F17): what the counter sees, the right response, the sources, and —
where nothing is published — the simulation's assumptions with their base, range and source, and the
model's national month as an interval. A real `onshi gallery` process in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onshi.catalogue import FailureMode
from onshi.procs import ROOT, free_port, serving
from rehearsal.assumptions import ASSUMPTIONS
from rehearsal.web import MODEL_ASSUMPTIONS
from tests.browser import chromium, screenshot
from tests.test_figure_bases import unbased_shares

pytestmark = pytest.mark.browser
PHONES = (FailureMode.PHONE_WITHOUT_GENERAL_READER, FailureMode.PHONE_CERTIFICATE)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gallery alone: its failure pages need no server (the fault banner says it cannot reach one)."""
    port = free_port()
    nowhere = f"http://127.0.0.1:{free_port()}"
    log = ROOT / "var" / "test-logs" / f"gallery-phone-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with serving(["gallery", "--port", str(port), "--server", nowhere, "--reader", nowhere,
                  "--console", nowhere, "--data", str(tmp_path_factory.mktemp("gallery-phone"))],
                 port, log=log) as url:
        yield url


@pytest.mark.parametrize("mode", PHONES, ids=lambda m: m.id)
def test_the_phone_pages_say_what_to_do_and_where_the_numbers_come_from(gallery: str,
                                                                       mode: FailureMode) -> None:
    failure = mode.value
    with chromium(viewport={"width": 1600, "height": 900}) as page:
        page.goto(f"{gallery}/failures/{mode.id}")
        main = page.inner_text("main")
        assert failure.name_ja in main and failure.response_ja in main and failure.reality_ja in main
        assert "10割負担にしない" in main
        # The sources: the catalogue's (the MHLW / Digital Agency notices with the dates).
        sources = page.locator("[data-test=sources]").inner_text()
        assert all(source in sources for source in failure.sources)
        # No published count: the simulation's assumptions, each with its base, range and source.
        items = page.locator("[data-test=assumed] li")
        assert items.count() == len(MODEL_ASSUMPTIONS[mode.id])
        for i, key in enumerate(MODEL_ASSUMPTIONS[mode.id]):
            item, text = ASSUMPTIONS[key], items.nth(i).inner_text()
            assert item.label_ja in text and item.base_ja in text and "幅" in text
            assert "本プロジェクトの仮定" in text
        # The model's national month: an interval, with its base (all checks a month) and source.
        estimate = page.locator("[data-test=estimate]").inner_text()
        assert "95%区間" in estimate and "百万件" in estimate and "厚生労働省" in estimate
        assert "仮定の率" in estimate
        assert unbased_shares(page.content()) == []
        screenshot(page, f"gallery-phone-{mode.id}")
        page.click("#lang-toggle")
        english = page.inner_text("main")
        assert failure.name_en in english and "Never charge 100%" in english
        assert "our assumption" in english and "95% interval" in english
        assert "本プロジェクトの仮定" not in english
        screenshot(page, f"gallery-phone-{mode.id}-en")
        page.click("#lang-toggle")


def test_the_index_counts_every_failure_and_links_the_phone_pages(gallery: str) -> None:
    with chromium(viewport={"width": 1600, "height": 900}) as page:
        page.goto(f"{gallery}/")
        assert page.locator(".card").count() == len(FailureMode)
        assert f"{len(FailureMode)}の失敗" in page.inner_text(".intro")
        for mode in PHONES:
            assert page.locator(f"a[href='/failures/{mode.id}']").count() == 1
        page.goto(f"{gallery}/failures/F15")
        page.click("text=F16 →")
        page.wait_for_url("**/failures/F16")
        screenshot(page, "gallery-phone-index-to-F16")
