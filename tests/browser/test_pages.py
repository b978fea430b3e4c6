"""The browser's HTML pages over HTTP (httpx) on both backends, against the real service.

Every route answers 200 with HTML; every link and image of every page reached from ``/`` resolves;
each page's JSON twin is the existing ``/v1`` API; unknown names give an HTML 404 page (not the
API's JSON) to a browser; the "as of" replay and the search agree with the store.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conditions import store
from conditions.db import make_engine, read_session
from conditions.resolve import resolve
from conditions.service.testing import RunningService

from .dataset import GT, GT_NEXT, NOTES, REPROCESSED, Dataset

HTML = {"Accept": "text/html,application/xhtml+xml"}
LINK = re.compile(r'(?:href|src)="([^"#]+)')
ALTERNATE = re.compile(r'<link rel="alternate" type="application/json" href="([^"]+)"')

Served = tuple[RunningService, Dataset]


def _get(svc: RunningService, path: str, **kw: object) -> httpx.Response:
    return httpx.get(svc.base_url + path, headers=HTML, timeout=60, **kw)  # type: ignore[arg-type]


def _pages(data: Dataset) -> list[str]:
    return [
        "/",
        "/tags",
        "/tags?type=light_yield",
        f"/gt/{GT}",
        f"/gt/{GT_NEXT}",
        f"/gt/{GT}/diff?other={GT_NEXT}",
        f"/gt/{GT}/trend",
        f"/gt/{GT}/run/1500",
        f"/gt/{GT_NEXT}/run/2000",
        *(f"/tag/{t}" for t in data.tags),
        f"/tag/{REPROCESSED}",
        f"/tag/{NOTES}",
        "/tag/juno-light_yield/trend",
        f"/payload/{data.nonlinearity_hash}",
        f"/payload/{data.lpmt_hash}?channel=17611",
        f"/payload/{data.notes_hash}",
        "/search?q=juno",
        "/docs",
    ]


def test_every_route_is_html(served: Served) -> None:
    svc, data = served
    for path in _pages(data):
        r = _get(svc, path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
        assert "<h1>" in r.text or "swagger-ui" in r.text, path


def test_links_images_and_json_twins_resolve(served: Served) -> None:
    """Crawl every page reachable from / (browser pages to depth 3) and fetch every link and
    image once: all answer 2xx; JSON twins answer JSON."""
    svc, _ = served
    seen: set[str] = set()
    queue = deque([("/", 0)])
    checked = 0
    with httpx.Client(base_url=svc.base_url, headers=HTML, timeout=60) as client:
        while queue:
            path, depth = queue.popleft()
            r = client.get(path)
            checked += 1
            assert r.status_code < 400, (path, r.status_code, r.text[:200])
            if not r.headers["content-type"].startswith("text/html") or path.startswith("/v1"):
                continue
            twin = ALTERNATE.search(r.text)
            if twin and "/docs" not in path:
                j = client.get(twin.group(1).replace("&amp;", "&"), headers={"Accept": "*/*"})
                assert j.status_code == 200, (path, twin.group(1))
                assert j.headers["content-type"].startswith("application/json")
            for raw in LINK.findall(r.text):
                link = urljoin(path, raw.replace("&amp;", "&"))
                parts = urlsplit(link)
                assert not parts.netloc, f"{path} links off the service: {raw}"
                if link in seen:
                    continue
                seen.add(link)
                browse = not link.startswith(("/v1", "/static")) and not link.endswith(".svg")
                if browse and depth >= 3:
                    continue
                queue.append((link, depth + 1 if browse else 99))
    assert checked > 40  # the crawl really went through the pages


@pytest.mark.parametrize(
    "path",
    [
        "/gt/NO-SUCH-GT",
        "/gt/NO-SUCH-GT/trend",
        f"/gt/{GT}/diff?other=NO-SUCH-GT",
        "/tag/no-such-tag",
        "/tag/no-such-tag/trend",
        "/payload/" + "0" * 64,
        "/payload/00000000",
        "/no/such/page",
        f"/gt/{GT}/run/5",  # before the first IOV
    ],
)
def test_unknown_names_are_html_404(served: Served, path: str) -> None:
    svc, _ = served
    r = _get(svc, path)
    assert r.status_code == 404, (path, r.text[:200])
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in r.text and "Traceback" not in r.text
    assert r.headers["cache-control"] == "no-store"


def test_api_errors_stay_json(served: Served) -> None:
    svc, _ = served
    for path in ("/v1/globaltags/NO-SUCH-GT", "/no/such/page"):
        r = httpx.get(svc.base_url + path, headers={"Accept": "application/json"})
        assert r.status_code == 404 and r.json()["status"] == 404


@pytest.mark.parametrize(
    "path",
    [f"/tag/{REPROCESSED}?as_of=yesterday", "/payload/{lpmt}?channel=99999", "/tags?type=nope"],
)
def test_bad_input_is_an_html_page(served: Served, path: str) -> None:
    svc, data = served
    r = _get(svc, path.format(lpmt=data.lpmt_hash))
    assert r.status_code in (404, 422), r.text[:200]
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in r.text


def _iov_rows(page: str) -> list[str]:
    table = page.split('id="iovs"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr( class=\"superseded\")?>\s*<td class=\"num\">(\d+)</td>", table)


def test_tag_page_and_as_of_replay_agree_with_the_store(served: Served) -> None:
    svc, _ = served
    engine = make_engine(svc.settings.url)
    try:
        with read_session(engine) as s:
            now = store.list_iovs(s, REPROCESSED, history=True)
            first_time = min(i.insertion_time for i in now)
            then = store.list_iovs(s, REPROCESSED, as_of=first_time, history=True)
    finally:
        engine.dispose()
    assert len(then) < len(now)  # the dataset has a later append that supersedes a row
    for rows, query in ((now, ""), (then, f"?as_of={first_time.isoformat()}")):
        page = _get(svc, f"/tag/{REPROCESSED}{query.replace('+', '%2B')}").text
        shown = _iov_rows(page)
        assert [(bool(sup), int(since)) for sup, since in shown] == [
            (i.superseded, i.since) for i in rows
        ]
        for i in rows:
            assert i.payload_hash[:16] in page


def test_lookup_page_agrees_with_resolve(served: Served) -> None:
    svc, _ = served
    for gt, run in ((GT, 1500), (GT_NEXT, 1500), (GT_NEXT, 99)):
        engine = make_engine(svc.settings.url)
        try:
            with read_session(engine) as s:
                expected = resolve(s, gt, run) if run >= 100 else None
        finally:
            engine.dispose()
        r = _get(svc, f"/gt/{gt}/run?run={run}", follow_redirects=True)  # to the stable URL
        assert str(r.url).endswith(f"/gt/{gt}/run/{run}")
        if expected is None:
            assert r.status_code == 404 and 'id="error-message"' in r.text
            continue
        table = r.text.split('id="lookup"', 1)[1].split("</table>", 1)[0]
        for rec in expected.records.values():
            until = "open" if rec.until is None else str(rec.until)
            assert re.search(
                rf"<td>{rec.record}</td>.*?{rec.payload_hash[:16]}.*?"
                rf'<td class="num">{rec.since}</td>\s*<td class="num">{until}</td>',
                table,
                re.S,
            ), rec


def test_payload_page_shows_provenance_and_users(served: Served) -> None:
    svc, data = served
    engine = make_engine(svc.settings.url)
    try:
        with read_session(engine) as s:
            provenance = dict(store.get_payload(s, data.nonlinearity_hash).provenance)
    finally:
        engine.dispose()
    page = _get(svc, f"/payload/{data.nonlinearity_hash}").text
    assert provenance["inputs"], "the campaign jobs record their input files"
    for f in provenance["inputs"]:
        assert f["sha256"] in page and f["file"] in page
    assert provenance["job"] in page and provenance["code_version"] in page
    assert f"/payload/{data.nonlinearity_hash}/plots/f_nonlin.svg" in page
    assert f'href="/gt/{GT}"' in page and f'href="/gt/{GT_NEXT}"' in page  # used by both


def test_plots_are_svg(served: Served) -> None:
    svc, data = served
    for path in (
        f"/payload/{data.nonlinearity_hash}/plots/f_nonlin.svg",
        f"/payload/{data.lpmt_hash}/plots/lpmt_channel.svg?channel=3",
        f"/payload/{data.lpmt_hash}/plots/lpmt_corrections.svg",
        "/tag/juno-light_yield/plots/Y0.svg",
        "/tag/juno-dark_noise/plots/dQ_DR_LPMT.svg",
    ):
        r = _get(svc, path)
        assert r.status_code == 200, (path, r.text[:200])
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.lstrip().startswith("<?xml") and "<svg" in r.text
    r = _get(svc, f"/payload/{data.lpmt_hash}/plots/f_nonlin.svg")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")


def test_search_by_name_and_hash_prefix(served: Served) -> None:
    svc, data = served
    page = _get(svc, "/search?q=JUNO-TEST").text
    assert f'href="/gt/{GT}"' in page and f'href="/gt/{GT_NEXT}"' in page
    assert 'href="/tag/' not in page.split('id="hits"', 1)[1]  # no tag is named so
    r = _get(svc, f"/search?q={data.lpmt_hash[:10]}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/payload/{data.lpmt_hash}"
    r = _get(svc, f"/payload/{data.lpmt_hash[:12]}", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"/payload/{data.lpmt_hash}"
    assert "nothing matches" in _get(svc, "/search?q=100%25_no_such").text


def test_global_tag_page_has_map_history_and_diff(served: Served) -> None:
    svc, _ = served
    page = _get(svc, f"/gt/{GT_NEXT}").text
    history = page.split('id="map-history"', 1)[1].split("</table>", 1)[0]
    assert "juno-light_yield" in history and REPROCESSED in history and "superseded" in history
    diff = _get(svc, f"/gt/{GT}/diff?other={GT_NEXT}").text
    cell = r'<td(?: rowspan="\d+")?>(\w+)</td>'
    rows = dict(re.findall(cell + cell, diff))
    assert rows["light_yield"] == "changed"
    assert all(v == "unchanged" for k, v in rows.items() if k != "light_yield"), rows


def test_docs_are_offline(served: Served) -> None:
    svc, _ = served
    for path in ("/docs",):
        page = _get(svc, path).text
        urls = re.findall(r'(?:href|src)\s*=\s*["\']([^"\']+)', page)
        urls += re.findall(r"url:\s*'([^']+)'", page)
        assert urls
        for u in urls:
            assert not urlsplit(u).netloc, f"{path} loads {u}"
            assert httpx.get(svc.base_url + u).status_code == 200, u
        assert "http://" not in page.replace(svc.base_url, "") and "https://" not in page
        assert '"validatorUrl": null' in page  # Swagger UI would ask validator.swagger.io
