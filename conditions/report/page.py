"""The self-contained HTML page of a drift analysis and its plot folder (see
:mod:`conditions.report`)."""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conditions.drift import TrackReport, Trend

from .format import _iso, fmt_change, fmt_threshold, fmt_value
from .plots import plot_file_name, render_trend_png


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_html_report` wrote: the page and its plots (absolute paths)."""

    html: Path
    plots: tuple[Path, ...]


_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; }
th { background: #f0f0f0; }
td.num { text-align: right; font-family: monospace; }
tr.step td { background: #fde0e0; }
tr.drift td { background: #fff0dd; }
code { font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #ddd; }
nav ul { margin: 0.2em 0; }
a { color: #1f5fa0; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """An HTML table; each row is (css class, cells already escaped)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for cls, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Default base URL of the conditions browser (``conddb serve``) the report links to.
DEFAULT_BROWSER_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Links:
    """Links into the conditions browser (stable URLs ``/payload/{hash}``, ``/tag/{name}``,
    ``/gt/{name}``) relative to ``base``."""

    base: str = DEFAULT_BROWSER_URL

    def _url(self, kind: str, name: str) -> str:
        return f"{self.base.rstrip('/')}/{kind}/{urllib.parse.quote(name, safe='')}"

    def payload(self, payload_hash: str) -> str:
        short = _e(payload_hash[:12])
        href = _e(self._url("payload", payload_hash))
        return f'<a href="{href}" title="{_e(payload_hash)}"><code>{short}</code></a>'

    def tag(self, name: str) -> str:
        return f'<a href="{_e(self._url("tag", name))}"><code>{_e(name)}</code></a>'

    def global_tag(self, name: str) -> str:
        return f'<a href="{_e(self._url("gt", name))}"><code>{_e(name)}</code></a>'


def _date(report: TrackReport, run: int) -> str:
    when = report.context.dates.get(run)
    if when is None:
        return "-"
    return _e(when.astimezone(dt.UTC).strftime("%Y-%m-%d")) + "&nbsp;" + _e(
        when.astimezone(dt.UTC).strftime("%H:%M")
    )


def _campaign(report: TrackReport, run: int, provenance: Mapping[str, str]) -> str:
    return _e(provenance.get("campaign") or report.context.campaigns.get(run) or "-")


def _anchor(key: str) -> str:
    return "q-" + re.sub(r"[^A-Za-z0-9_-]+", "-", key)


def is_single(trend: Trend) -> bool:
    """A series of one IOV: shown as a table row, not as a plot of one lone point."""
    return len(trend.series.points) == 1


def _latest_rows(report: TrackReport, links: Links) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    for t in report.trends:
        q, an, p = t.series.quantity, t.analysis, t.latest
        if p is None or is_single(t):
            continue
        last = len(t.series.points) - 1
        kinds = sorted({f.kind for f in an.flags})
        rows.append(
            (
                " ".join(kinds[:1]),
                [
                    f'<a href="#{_anchor(t.series.key)}">{_e(t.series.key)}</a>',
                    _e(q.unit),
                    _e(p.since),
                    _e("open" if p.until is None else p.until),
                    _date(report, p.since),
                    _e(fmt_value(p.value)),
                    _e(fmt_value(p.error, 3)),
                    _e(fmt_change(an.change[last], q.relative, q.unit)),
                    _e(fmt_change(an.to_reference[last], q.relative, q.unit)),
                    _e(
                        fmt_threshold(an.thresholds.step, q.relative, q.unit)
                        + " / "
                        + fmt_threshold(an.thresholds.drift, q.relative, q.unit)
                    ),
                    _e(len(t.series.points)),
                    _e(len(an.flags)),
                    links.payload(p.payload_hash),
                ],
            )
        )
    return rows


def _single_rows(report: TrackReport, links: Links) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    for t in report.trends:
        if not is_single(t):
            continue
        q, p = t.series.quantity, t.series.points[0]
        rows.append(
            (
                "",
                [
                    _e(t.series.key),
                    _e(q.description),
                    _e(fmt_value(p.value)),
                    _e(fmt_value(p.error, 3)),
                    _e(q.unit),
                    _e(p.since),
                    _e("open" if p.until is None else p.until),
                    _date(report, p.since),
                    _campaign(report, p.since, p.provenance),
                    links.tag(t.series.tag),
                    links.payload(p.payload_hash),
                ],
            )
        )
    return rows


def _flag_rows(report: TrackReport, links: Links) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    for t, f in report.flags():
        q = t.series.quantity
        pts = t.series.points
        rows.append(
            (
                f.kind,
                [
                    _e(t.series.key),
                    _e(f.kind),
                    _e(pts[f.index].since),
                    _date(report, pts[f.index].since),
                    _e(pts[f.reference].since),
                    _e(fmt_change(f.change, q.relative, q.unit)),
                    _e(fmt_threshold(f.threshold, q.relative, q.unit)),
                    _e("-" if f.significance is None else f"{f.significance:.1f}"),
                    links.payload(pts[f.index].payload_hash),
                ],
            )
        )
    return rows


def _provenance_rows(
    report: TrackReport, trend: Trend, links: Links
) -> list[tuple[str, list[str]]]:
    q, an = trend.series.quantity, trend.analysis
    kinds: dict[int, list[str]] = {}
    for f in an.flags:
        kinds.setdefault(f.index, []).append(f.kind)
    rows: list[tuple[str, list[str]]] = []
    for i, p in enumerate(trend.series.points):
        prov = "; ".join(f"{k}={v}" for k, v in p.provenance.items()) or "-"
        flagged = kinds.get(i, [])
        rows.append(
            (
                flagged[0] if flagged else "",
                [
                    _e(p.since),
                    _e("open" if p.until is None else p.until),
                    _date(report, p.since),
                    _campaign(report, p.since, p.provenance),
                    _e(fmt_value(p.value)),
                    _e(fmt_value(p.error, 3)),
                    _e(fmt_change(an.change[i], q.relative, q.unit)),
                    _e(fmt_change(an.drift[i], q.relative, q.unit)),
                    _e(", ".join(flagged) or ""),
                    links.payload(p.payload_hash),
                    _e(_iso(p.insertion_time)),
                    _e(prov),
                ],
            )
        )
    return rows


def _outlier_rows(report: TrackReport) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    for o in report.outliers:
        ids = o.outliers.channel_ids
        shown = ", ".join(str(c) for c in ids[:20]) + (" ..." if len(ids) > 20 else "")
        rows.append(
            (
                "step" if ids else "",
                [
                    _e(o.record or o.tag),
                    _e(o.since),
                    _e(len(ids)),
                    _e(shown or "-"),
                    _e(f"{o.outliers.median:+.2e} / {o.outliers.robust_sigma:.2e}"),
                    _e(o.outliers.n_compared),
                    _e(len(o.outliers.newly_bad)),
                    _e(len(o.outliers.recovered)),
                ],
            )
        )
    return rows


def _toc(entries: Sequence[tuple[str, str, int]]) -> str:
    """A table of contents: (anchor, text, level) entries, level 2 nested under level 1."""
    out = ['<nav id="contents"><h2>Contents</h2><ul>']
    nested = False
    for anchor, text, level in entries:
        if level == 2 and not nested:
            out.append("<ul>")
            nested = True
        elif level == 1 and nested:
            out.append("</ul>")
            nested = False
        out.append(f'<li><a href="#{_e(anchor)}">{text}</a></li>')
    if nested:
        out.append("</ul>")
    out.append("</ul></nav>")
    return "".join(out)


def render_html(
    report: TrackReport,
    plot_paths: Mapping[str, str],
    title: str | None = None,
    *,
    browser_url: str = DEFAULT_BROWSER_URL,
) -> str:
    """The HTML page of a report; ``plot_paths[key]`` is the (relative) image of the trend with
    series key ``key`` (single-IOV trends have none: they are listed in a table).  Payload,
    tag and global-tag names link to the conditions browser at ``browser_url``."""
    cfg = report.config
    links = Links(browser_url)
    src = report.source
    title = title or f"Drift report: {src.describe()}"
    plotted = [t for t in report.trends if not is_single(t)]
    singles = _single_rows(report, links)
    flag_rows = _flag_rows(report, links)
    toc: list[tuple[str, str, int]] = [("latest", "Latest values", 1)]
    toc.append(("flags", f"Flagged drifts ({len(flag_rows)})", 1))
    if report.outliers:
        toc.append(("outliers", "LPMT channel outliers", 1))
    if singles:
        toc.append(("single", f"Quantities with a single IOV ({len(singles)})", 1))
    if plotted:
        toc.append(("quantities", "Quantities across IOVs", 1))
        toc.extend(
            (_anchor(t.series.key), f"{_e(t.series.key)}: {_e(t.series.quantity.label)}"
             + (f" ({len(t.analysis.flags)} flagged)" if t.analysis.flags else ""), 2)
            for t in plotted
        )
    where = (
        f"tag {links.tag(src.tag)}" if src.tag is not None
        else f"global tag {links.global_tag(src.global_tag or '')}"
        + (f" record <code>{_e(src.record)}</code>" if src.record else "")
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Source: {where}. Generated {_e(_iso(report.created_at))}. Significance guard "
        f"{cfg.n_sigma:g} sigma; "
        f"drift estimate: {_e('straight-line fit' if cfg.method == 'fit' else 'two points')}; "
        f"reference: {_e('first IOV' if cfg.reference_run is None else cfg.reference_run)}; "
        f"LPMT outliers beyond {cfg.outlier_sigma:g} robust sigma and "
        f"{100 * cfg.outlier_min_change:g} %. A <b>step</b> is a change between consecutive "
        "IOVs above its threshold; a <b>slow drift</b> is an accumulated change since the drift "
        "reference (flagged steps excluded) above its threshold. Tracked quantities are "
        "constants; their 1 sigma errors are the bands of the plots. Dates are the start times "
        "of the IOVs' first runs (run registry, else the campaign's start time); payload hashes "
        f"link to the conditions browser at <code>{_e(browser_url)}</code> "
        "(<code>conddb serve</code>).</p>",
        _toc(toc),
        '<h2 id="latest">Latest values</h2>',
        _table(
            ["series", "unit", "since", "until", "date", "value", "error", "vs previous",
             "vs reference", "thresholds step / drift", "points", "flags", "payload"],
            _latest_rows(report, links),
        )
        if plotted
        else "<p>No quantity has more than one IOV.</p>",
        '<h2 id="flags">Flagged drifts</h2>',
    ]
    parts.append(
        _table(
            ["series", "kind", "since", "date", "reference since", "change", "threshold",
             "significance [sigma]", "payload"],
            flag_rows,
        )
        if flag_rows
        else "<p>No drift flagged.</p>"
    )
    if report.outliers:
        parts.append('<h2 id="outliers">LPMT channel outliers (consecutive payloads)</h2>')
        parts.append(
            _table(
                ["record", "since", "outliers", "channel ids", "median / robust sigma of change",
                 "channels compared", "newly bad", "recovered"],
                _outlier_rows(report),
            )
        )
    if singles:
        parts.append('<h2 id="single">Quantities with a single IOV</h2>')
        parts.append(
            _table(
                ["series", "what", "value", "error", "unit", "since", "until", "date",
                 "campaign", "tag", "payload"],
                singles,
            )
        )
    if plotted:
        parts.append('<h2 id="quantities">Quantities across IOVs</h2>')
    for trend in plotted:
        q = trend.series.quantity
        key = trend.series.key
        parts.append(f'<h3 id="{_anchor(key)}">{_e(key)}: {_e(q.label)}</h3>')
        parts.append(f"<p>{_e(q.description)}; tag {links.tag(trend.series.tag)}. "
                     '<a href="#contents">contents</a></p>')
        parts.append(f'<img src="{_e(plot_paths[key])}" alt="{_e(key)} vs run">')
        parts.append(
            "<details><summary>Provenance of each point</summary>"
            + _table(
                ["since", "until", "date", "campaign", "value", "error", "vs previous", "drift",
                 "flags", "payload", "inserted", "provenance"],
                _provenance_rows(report, trend, links),
            )
            + "</details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(
    report: TrackReport,
    html_path: Path,
    *,
    title: str | None = None,
    browser_url: str = DEFAULT_BROWSER_URL,
    progress: Callable[[int], None] | None = None,
) -> ReportFiles:
    """Write the HTML page to ``html_path`` and one PNG per trend of more than one IOV into
    ``<stem>_files/`` next to it (referenced by relative path).  ``progress(1)`` is called after
    each trend."""
    html_path = Path(html_path).resolve()
    folder = html_path.parent / f"{html_path.stem}_files"
    folder.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    relative: dict[str, str] = {}
    ctx = report.context
    for trend in report.trends:
        if not is_single(trend):
            path = render_trend_png(
                trend, folder / plot_file_name(trend), dates=ctx.dates, campaigns=ctx.campaigns
            )
            plots.append(path)
            relative[trend.series.key] = f"{folder.name}/{path.name}"
        if progress is not None:
            progress(1)
    html_path.write_text(
        render_html(report, relative, title, browser_url=browser_url), encoding="utf-8"
    )
    return ReportFiles(html_path, tuple(plots))
