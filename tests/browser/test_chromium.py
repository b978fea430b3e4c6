"""The browser in a real browser: Debian's Chromium driven by playwright (never `playwright
install`; ``scripts/install-browser`` installs /usr/bin/chromium).

Clicks from the global-tag list to a global tag, a tag, a payload and its f_nonlin band plot, and
through the other pages; checks every page loads with no console error and that no request leaves
127.0.0.1; saves a screenshot of each page to ``$CONDDB_ARTIFACTS`` (default: a temporary folder).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conditions.service.testing import RunningService

from .dataset import GT, GT_NEXT, REPROCESSED, Dataset

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("served", ["sqlite"], indirect=True)]


def _require_chromium() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    else:
        if Path(CHROMIUM).exists():
            return sync_playwright
        reason = f"{CHROMIUM} is missing (scripts/install-browser)"
    if IN_CI:
        pytest.fail(reason + " (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("CONDDB_ARTIFACTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class Watch:
    """What the page did: every request URL, console errors, page errors, failed responses."""

    base_url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        local = ("data:", "about:", "blob:", self.base_url + "/")
        return [u for u in self.requests if not u.startswith(local) and u != self.base_url]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_playwright = _require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, served: tuple[RunningService, Dataset]) -> Iterator[tuple[Any, Watch]]:
    svc, _ = served
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    watch = Watch(svc.base_url)
    pg.on("request", lambda r: watch.requests.append(r.url))
    pg.on("console", lambda m: m.type == "error" and watch.console_errors.append(m.text))
    pg.on("pageerror", lambda e: watch.page_errors.append(str(e)))
    pg.on("response", lambda r: r.status >= 400 and watch.failed.append(f"{r.status} {r.url}"))
    yield pg, watch
    context.close()


def _shot(pg: Any, artifacts: Path, name: str) -> None:
    pg.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _images_loaded(pg: Any) -> None:
    """Wait until every <img> of the page is decoded (the SVG plots are drawn by the server)."""
    pg.wait_for_function(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)",
        timeout=60_000,
    )


def _clean(watch: Watch, allowed_failures: tuple[str, ...] = ()) -> None:
    assert not watch.console_errors, watch.console_errors
    assert not watch.page_errors, watch.page_errors
    assert not watch.foreign(), f"requests left 127.0.0.1: {watch.foreign()}"
    failed = [f for f in watch.failed if not f.startswith(allowed_failures)]
    assert not failed, failed


def test_click_from_global_tags_to_the_f_nonlin_band(
    page: tuple[Any, Watch], served: tuple[RunningService, Dataset], artifacts: Path
) -> None:
    pg, watch = page
    svc, data = served
    timings: dict[str, float] = {}

    def timed(name: str, action: Any) -> None:
        t0 = time.perf_counter()
        action()
        pg.wait_for_load_state("load")
        _images_loaded(pg)
        timings[name] = time.perf_counter() - t0
        _shot(pg, artifacts, name)

    timed("01-global-tags", lambda: pg.goto(svc.base_url + "/"))
    assert pg.locator("#global-tags").is_visible()
    timed("02-global-tag", lambda: pg.click(f"#global-tags a:text-is('{GT}')"))
    assert pg.url == f"{svc.base_url}/gt/{GT}"
    assert pg.locator("#map tr").count() == 1 + len(data.tags)
    timed("03-tag", lambda: pg.click("#map a:text-is('juno-energy_nonlinearity')"))
    assert pg.url.endswith("/tag/juno-energy_nonlinearity")
    timed("04-payload", lambda: pg.click("#iovs a.hash >> nth=0"))
    assert data.nonlinearity_hash in pg.url
    assert pg.locator("#payload-hash").inner_text() == data.nonlinearity_hash
    assert pg.locator("#inputs tbody tr").count() >= 5  # the source runs the fit used
    plot = pg.locator("#plot-f_nonlin")
    plot.scroll_into_view_if_needed()
    assert plot.evaluate("i => i.naturalWidth") > 300
    plot.screenshot(path=str(artifacts / "05-f_nonlin-band.png"))
    svg = pg.goto(svc.base_url + plot.get_attribute("src"))  # the plot's own stable URL
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    _clean(watch)
    (artifacts / "timings.txt").write_text(
        "".join(f"{k}\t{v * 1000:.0f} ms\n" for k, v in timings.items())
    )


def test_every_page_loads_clean(
    page: tuple[Any, Watch], served: tuple[RunningService, Dataset], artifacts: Path
) -> None:
    pg, watch = page
    svc, data = served
    pages = {
        "10-tags": "/tags",
        "11-global-tag-next": f"/gt/{GT_NEXT}",
        "12-diff": f"/gt/{GT}/diff?other={GT_NEXT}",
        "13-trend-global-tag": f"/gt/{GT}/trend",
        "14-lookup": f"/gt/{GT}/run/1500",
        "15-tag-superseded": f"/tag/{REPROCESSED}",
        "16-payload-lpmt": f"/payload/{data.lpmt_hash}",
        "17-payload-g-map": "/tag/juno-nonuniformity_map",
        "18-payload-dark-noise": "/tag/juno-dark_noise",
        "19-payload-notes": f"/payload/{data.notes_hash}",
        "20-search": "/search?q=juno",
    }
    for name, path in pages.items():
        pg.goto(svc.base_url + path)
        if name in ("17-payload-g-map", "18-payload-dark-noise"):
            pg.click("#iovs a.hash >> nth=-1")  # the newest IOV's payload
        _images_loaded(pg)
        assert pg.locator("h1").is_visible(), name
        _shot(pg, artifacts, name)
    # the LPMT page: choose another channel with the form
    pg.goto(svc.base_url + f"/payload/{data.lpmt_hash}")
    pg.fill("#channel-form input[name=channel]", "4242")
    pg.click("#channel-form button")
    _images_loaded(pg)
    assert "channel=4242" in pg.url and pg.locator("#plot-lpmt_channel").is_visible()
    _shot(pg, artifacts, "21-lpmt-channel-4242")
    # "as of" replay through the form: the first row's insertion time hides the later append
    pg.goto(svc.base_url + f"/tag/{REPROCESSED}")
    before = pg.locator("#iovs tbody tr").count()
    pg.click("#iovs a:text-is('as of then') >> nth=0")
    assert "as_of=" in pg.url and pg.locator("#iovs tbody tr").count() < before
    _shot(pg, artifacts, "22-tag-as-of")
    # diff through the form on the global tag page
    pg.goto(svc.base_url + f"/gt/{GT}")
    pg.select_option("#diff-form select", GT_NEXT)
    pg.click("#diff-form button")
    assert pg.url.endswith(f"/gt/{GT}/diff?other={GT_NEXT}")
    # search box in the header, by hash prefix
    pg.fill("header input[name=q]", data.lpmt_hash[:10])
    pg.press("header input[name=q]", "Enter")
    pg.wait_for_url(f"**/payload/{data.lpmt_hash}")
    _clean(watch)


def test_unknown_page_is_an_html_404(
    page: tuple[Any, Watch], served: tuple[RunningService, Dataset], artifacts: Path
) -> None:
    pg, watch = page
    svc, _ = served
    response = pg.goto(svc.base_url + "/tag/no-such-tag")
    assert response.status == 404
    assert "no tag named" in pg.locator("#error-message").inner_text()
    _shot(pg, artifacts, "30-not-found")
    assert not watch.foreign()


def test_docs_render_offline(
    page: tuple[Any, Watch], served: tuple[RunningService, Dataset], artifacts: Path
) -> None:
    pg, watch = page
    svc, _ = served
    pg.goto(svc.base_url + "/docs")
    pg.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "JUNO conditions service" in pg.locator(".swagger-ui .info .title").inner_text()
    pg.wait_for_selector(".opblock-tag", timeout=60_000)
    _shot(pg, artifacts, "40-docs")
    _clean(watch)
