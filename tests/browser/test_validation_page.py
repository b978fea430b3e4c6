"""The validation page (issue 18): reports and the coverage timeline with its gaps."""

from __future__ import annotations

import httpx

from conditions import store
from conditions.db import make_engine, write_session
from conditions.service.testing import RunningService
from conditions.services import validation

from .dataset import GT, Dataset

Served = tuple[RunningService, Dataset]
HTML = {"Accept": "text/html"}


def test_validation_page_shows_reports_and_gaps(served: Served) -> None:
    svc, _data = served
    engine = make_engine(svc.settings.url)
    try:
        with write_session(engine) as s:
            g = store.get_global_tag(s, GT)
            tags = store.global_tag_map(s, g).values()
            first = min(store.list_iovs(s, t.name)[0].since for t in tags)
            assert first > 0  # the dataset's runs start above 0: 0..first-1 is a gap
            report = validation.validate(s, GT, (0, first + 5), validation.Options(who="page"))
    finally:
        engine.dispose()
    page = httpx.get(f"{svc.base_url}/gt/{GT}/validation", headers=HTML, timeout=60)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert f"<td>{report.id}</td>" in page.text and "FAILED" in page.text  # runs 0.. not covered
    assert f"0-{first - 1}" in page.text and 'class="gap"' in page.text
    bad = httpx.get(f"{svc.base_url}/gt/{GT}/validation?runs=x", headers=HTML, timeout=60)
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
