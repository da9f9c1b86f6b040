"""The catalog and dataset pages in headless Chromium (Debian's), offline: Chinese renders,
search and filters work, downloads are local links. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from jinshu.settings import REPO_DIR

CHROMIUM = Path("/usr/bin/chromium")  # apt-get install chromium fonts-noto-cjk (.ci/run does)
ARTIFACTS = REPO_DIR / "test-artifacts" / "open-data"


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), "Chromium is required: apt-get install -y chromium fonts-noto-cjk"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, published):
    """A page that may load files of the open-data folder and nothing else."""
    _, store = published
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    blocked: list[str] = []

    def offline(route) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", offline)
    tab = context.new_page()
    tab.root = Path(store.url)
    tab.blocked = blocked
    yield tab
    context.close()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def glyph(page: Page, text: str) -> bytes:
    """A screenshot of ``text`` alone, large, in the page's font."""
    page.evaluate("""text => {
        const span = document.createElement('span');
        span.id = 'probe'; span.textContent = text;
        span.style.cssText = 'font-size:64px;position:fixed;top:0;left:0;background:#fff;color:#000';
        document.getElementById('probe')?.remove();
        document.body.appendChild(span);
    }""", text)
    return page.locator("#probe").screenshot()


def visible_cards(page: Page) -> list[str]:
    return page.locator("#cards .card:visible h3 .en").all_inner_texts()


def test_the_catalog_page_renders_chinese_and_search_works_offline(page):
    page.goto((page.root / "index.html").as_uri())
    assert page.title().startswith("山西省公共数据开放目录")
    assert sorted(visible_cards(page)) == ["enterprise_registration", "minimum_living_allowance",
                                           "vaccination_sites"]
    # Chinese renders with real glyphs: two different characters look different, and unlike a
    # character no font has (both would be the same empty box without a CJK font)
    shan, xi, missing = glyph(page, "山"), glyph(page, "西"), glyph(page, "\U000f0000")
    assert shan != xi and shan != missing and xi != missing
    page.evaluate("document.getElementById('probe').remove()")
    shot(page, "catalog")

    page.fill("#q", "疫苗")  # a keyword of one dataset
    assert visible_cards(page) == ["vaccination_sites"]
    assert "显示 1 / 3" in page.inner_text("#count")
    page.fill("#q", "sum_allowance_yuan")  # a field name finds its dataset
    assert visible_cards(page) == ["minimum_living_allowance"]
    page.fill("#q", "没有这样的数据")
    assert visible_cards(page) == [] and page.is_visible("#none")
    page.fill("#q", "")
    page.check("#livelihood")
    assert sorted(visible_cards(page)) == ["minimum_living_allowance", "vaccination_sites"]
    page.uncheck("#livelihood")
    page.select_option("#theme", "ECON")
    assert visible_cards(page) == ["enterprise_registration"]
    shot(page, "catalog-filtered")
    assert page.blocked == []  # nothing asked for the network


def test_the_dataset_page_shows_source_fields_versions_and_local_downloads(page):
    page.goto((page.root / "minimum_living_allowance" / "index.html").as_uri())
    text = page.inner_text("main")
    assert "山西省民政厅" in text and "获取日期" in text and "k ≥ 5" in text
    assert "CC-BY-4.0" in page.content() or "知识共享署名" in text
    rows = page.locator("#fields tbody tr")
    assert rows.count() == 8
    page.fill("#fq", "合计")
    assert page.locator("#fields tbody tr:visible").count() == 2
    for link in page.locator("a[download]").all():
        target = (page.root / "minimum_living_allowance" / link.get_attribute("href")).resolve()
        assert target.is_file(), target
    shot(page, "dataset")
    assert page.blocked == []


def test_pages_load_no_script_or_style_from_elsewhere(page):
    page.goto((page.root / "vaccination_sites" / "index.html").as_uri())
    path = shot(page, "vaccination-sites")
    assert path.stat().st_size > 10_000
    assert page.locator("script").count() == 1 and not page.locator("script[src], link[href^=http]").count()
