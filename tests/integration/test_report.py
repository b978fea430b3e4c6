"""The trend report renders headless: PNG plots exist, are PNGs, are referenced by the HTML; the
JSON document carries the same flags as the analysis."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from conditions import drift, store
from conditions.db import read_session, write_session
from conditions.payloads.examples import dark_noise, energy_resolution
from conditions.report import report_dict, write_html_report

from .test_drift_support import perturb, put_series, weekly_runs, y0_models, y0_truth

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
START = dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.UTC)


def _build(engine: Engine) -> drift.TrackReport:
    n = 12
    runs = weekly_runs(n)
    put_series(
        engine,
        "ly",
        y0_models(y0_truth(n, step_at=6, step=-0.004)),
        runs,
        provenance=[{"campaign": f"weekly-{k:02d}", "job": "lightyield <fit>"} for k in range(n)],
    )
    base = energy_resolution()
    res = [perturb(base, a=a, a_tilde=drift.QUANTITIES["a_tilde"].extract(perturb(base, a=a))[0])
           for a in (0.0257, 0.0258)]
    put_series(engine, "res", res, runs[:2])
    put_series(engine, "dn", [dark_noise()], runs[:1])  # a single IOV
    with write_session(engine) as s:
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "light_yield", "ly")
        store.set_record(s, "GT", "energy_resolution", "res")
        store.set_record(s, "GT", "dark_noise", "dn")
        # dates: the run registry for the first run, a campaign's start time for the second
        store.register_run(s, runs[0], start_time=START)
        store.add_campaign(
            s, name="weekly-x", kind="weekly", first_run=runs[1], last_run=runs[2] - 1,
            manifest_sha256="0" * 64, info={"start_time": "2027-01-08T00:00:00+00:00"},
            links=[],
        )
    with read_session(engine) as s:
        return drift.track(s, drift.SeriesSource(global_tag="GT"))


def test_html_report_with_plots(engine: Engine, tmp_path: Path) -> None:
    report = _build(engine)
    files = write_html_report(report, tmp_path / "out" / "report.html", browser_url="http://b:1/")
    assert files.html == (tmp_path / "out" / "report.html").resolve()
    # Y0, a, b, c, a_tilde are plotted; the two single-IOV dark-noise offsets are a table
    assert len(report.trends) == 7 and len(files.plots) == 5
    page = files.html.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(files.plots)
    for src, plot in zip(sources, files.plots, strict=True):
        assert not Path(src).is_absolute()
        assert (files.html.parent / src).resolve() == plot
        data = plot.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
    # the flagged step is in the flags table and highlighted in the provenance table
    (flag,) = [(t, f) for t, f in report.flags()]
    step_since = flag[0].series.points[flag[1].index].since
    assert flag[1].kind == "step"
    assert f'<tr class="step"><td>light_yield/Y0</td><td>step</td><td>{step_since}</td>' in page
    assert "campaign=weekly-06" in page
    assert "job=lightyield &lt;fit&gt;" in page  # provenance is escaped
    assert page.count('<tr class="step"><td>' + str(step_since)) == 1  # Y0 provenance row


def test_html_report_contents_links_dates_singles(engine: Engine, tmp_path: Path) -> None:
    report = _build(engine)
    files = write_html_report(report, tmp_path / "report.html", browser_url="http://b:1/")
    page = files.html.read_text(encoding="utf-8")
    # a table of contents whose every link lands on an element of the page
    toc = page[page.index('<nav id="contents">'):page.index("</nav>")]
    targets = re.findall(r'href="#([^"]+)"', toc)
    assert {"latest", "flags", "single", "quantities"} <= set(targets)
    assert all(f'id="{t}"' in page for t in targets)
    plotted = [t for t in report.trends if len(t.series.points) > 1]
    assert len([t for t in targets if t.startswith("q-")]) == len(plotted)
    # every point of every series links to its payload's browser page (no double slash)
    for t in report.trends:
        for p in t.series.points:
            assert f'href="http://b:1/payload/{p.payload_hash}"' in page
    assert 'href="http://b:1/gt/GT"' in page and 'href="http://b:1/tag/ly"' in page
    # single-IOV quantities: rows of one table, no plot
    single = page[page.index('<h2 id="single">'):page.index('<h2 id="quantities">')]
    assert "dark_noise/dQ_DR_LPMT" in single and "dark_noise/dQ_DR_SPMT" in single
    assert "<img" not in single and "dark_noise" not in " ".join(re.findall(r'<img[^>]+>', page))
    # dates: from the run registry (first IOV) and the campaign start time (second IOV)
    assert report.context.dates[weekly_runs()[0]] == START
    assert "2027-01-01&nbsp;06:30" in page and "2027-01-08&nbsp;00:00" in page
    assert report.context.campaigns == {weekly_runs()[1]: "weekly-x"}
    assert ">open<" in page  # the last IOV is open-ended


def test_report_json_document(engine: Engine) -> None:
    report = _build(engine)
    doc = json.loads(json.dumps(report_dict(report)))  # strictly JSON-able
    assert doc["source"] == {"tag": None, "global_tag": "GT", "record": None}
    y0 = next(t for t in doc["trends"] if t["key"] == "light_yield/Y0")
    assert [p["value"] for p in y0["points"]] == [
        t.value for t in next(t for t in report.trends if t.series.key == "light_yield/Y0")
        .series.points
    ]
    assert [p["flags"] for p in y0["points"]].count(["step"]) == 1
    assert [f["key"] for f in doc["flags"]] == ["light_yield/Y0"]
    (flag,) = doc["flags"]
    assert flag["kind"] == "step" and flag["since"] == weekly_runs()[6]
    assert np.isclose(flag["change"], 0.996 - 1.0)
    assert y0["latest"]["since"] == weekly_runs()[11]
    assert y0["thresholds"] == {"step": 0.003, "drift": 0.003}


def test_degenerate_series_render(tmp_path: Path) -> None:
    # one point, a point without a value (NaN) and points without errors must still plot
    now = dt.datetime.now(dt.UTC)

    def point(since: int, value: float, error: float | None) -> drift.SeriesPoint:
        return drift.SeriesPoint(since, None, value, error, "ab" * 32, now, now, {})

    q = drift.QUANTITIES["g_mean"]
    config = drift.DriftConfig()
    trends = tuple(
        drift.analyse_series(drift.Series(q, f"t{k}", None, tuple(points)), config)
        for k, points in enumerate(
            [
                [point(5, 1.03, 1e-4)],
                [point(5, 1.03, None), point(9, float("nan"), None), point(12, 1.04, None)],
            ]
        )
    )
    report = drift.TrackReport(drift.SeriesSource(tag="t0"), config, trends, (), now)
    files = write_html_report(report, tmp_path / "r.html")
    assert len(files.plots) == 1  # the one-point series is a table row
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in files.plots)
    doc = json.loads(json.dumps(report_dict(report), allow_nan=False))
    second = doc["trends"][1]["points"]
    assert second[1]["value"] is None and second[1]["change"] is None
    assert second[2]["change"] == pytest.approx(1.04 / 1.03 - 1)
    assert [f["kind"] for f in doc["flags"]] == ["step"]  # +0.97 % > 0.2 %, no errors: no guard
