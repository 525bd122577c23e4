"""Every share the gallery shows names its base: what it is a share *of*. A 77.2% quoted "of clinics" when it
is of the clinics WITH trouble is the fastest way for an advocate to lose an argument."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from lxml import html as lxml_html

from onshi.catalogue import BASES, FIGURES, FailureMode
from rehearsal.assumptions import ASSUMPTIONS
from rehearsal.web import GallerySettings, create_app

PERCENT = re.compile(r"\d+(?:\.\d+)?\s?%")
# Not shares of anything: a 95% interval, and paying 100% (the full cost) at the counter.
INTERVAL = re.compile(
    r"95\s?%\s?の?(?:区間|範囲|interval|range|spread|=)|(?:pay|pays|paid|charged|charge)\s100\s?%"
    r"|100\s?%\s(?:payment|w/o)"
)
MARKERS = (
    *(b.ja for b in BASES.values()),
    *(b.en for b in BASES.values()),
    # The simulation's own assumptions (where nothing is published) state their base too.
    *(item.base_ja for item in ASSUMPTIONS.values() if item.base_ja),
    *(item.base_en for item in ASSUMPTIONS.values() if item.base_en),
    "回答施設",
    "responding clinics",
    "トラブルのあった施設",
    "clinics with trouble",
    "カードでの確認",
    "card checks",
    "確認件数",
    "of checks",
    "of patients",
    "患者の",
)
# Co-pay ratios (the normal 30%, 20% owed, 100% charged) are prices, not shares of anything.
COPAY = re.compile(r"pay|owes|負担|割|受給者証|recipient certificate")
COPAY_RATIOS = {"10", "20", "30", "100"}
BLOCKS = {"li", "p", "td", "th", "figcaption", "dd", "h1", "h2", "h3", "section", "div"}


def unbased_shares(page: str) -> list[str]:
    """Text blocks with a percentage and no base. A block is the nearest language span (ja/en) around the
    percentage, or else the nearest block element."""
    tree = lxml_html.fromstring(page)
    for bad in tree.xpath("//script|//style"):
        bad.getparent().remove(bad)
    problems = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        own = (element.text or "") + "".join(child.tail or "" for child in element)
        if not PERCENT.search(INTERVAL.sub("", own)):
            continue
        block = element
        while block is not None:
            classes = (block.get("class") or "").split()
            if block.tag == "span" and ({"ja", "en"} & set(classes)):
                break
            if block.tag in BLOCKS:
                break
            block = block.getparent()
        text = " ".join((block if block is not None else element).text_content().split())
        numbers = {m.group(0).rstrip("% ") for m in PERCENT.finditer(text)}
        if COPAY.search(text) and numbers <= COPAY_RATIOS:
            continue
        context = text
        if block is not None and block.tag in ("td", "th"):  # a table's header row names the base
            table = next(block.iterancestors("table"), None)
            rows = table.xpath(".//tr") if table is not None else []
            context += " " + (rows[0].text_content() if rows else "")
        if not any(marker in context for marker in MARKERS):
            problems.append(text)
    return problems


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = GallerySettings(
        server_url="http://127.0.0.1:9",
        console_url="http://127.0.0.1:9",
        reader_url="http://127.0.0.1:9",
        data_dir=tmp_path_factory.mktemp("gallery"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_scan_catches_a_share_without_its_base() -> None:
    assert unbased_shares("<ul><li>● in names: 77.2% of clinics</li></ul>") == [
        "● in names: 77.2% of clinics"
    ]
    assert unbased_shares(
        "<p><span class='ja'>●表示 77.2%</span><span class='en'>53.9% of 10,519 responding clinics</span></p>"
    ) == ["●表示 77.2%"]
    assert unbased_shares("<p>53.9% of 10,519 responding clinics; 95% intervals</p>") == []


@pytest.mark.parametrize(
    "path", ["/", "/privacy", "/calibration", "/methods", *(f"/failures/{mode.id}" for mode in FailureMode)]
)
def test_every_share_on_the_gallery_names_its_base(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    assert unbased_shares(page.text) == []


def test_the_survey_kinds_lead_with_the_all_clinics_base() -> None:
    names = FailureMode.by_id("F5").value
    assert "53.9%" in names.figure_en and "of 10,519 responding clinics" in names.figure_en
    assert "77.2% of the clinics with trouble" in names.figure_en
    assert "77.2% of clinics" not in names.figure_en
    assert FIGURES["survey_2025_names"].share_of_all == pytest.approx(0.772 * 0.698)


def test_the_gallery_shows_the_national_month_as_a_plot(client: TestClient) -> None:
    index = client.get("/").text
    assert 'src="/national.svg"' in index and 'href="/methods"' in index
    svg = client.get("/national.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.count("<path") > 100  # drawn, with the Japanese labels as glyph outlines
    assert client.get("/calibration/2030.svg").status_code == 404
