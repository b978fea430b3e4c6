"""Trend reports: JSON documents, PNG plots and a self-contained HTML page of a drift analysis.

The HTML page (:func:`write_html_report`) holds, for a :class:`~conditions.drift.TrackReport`:

* a table of contents;
* a table of the latest value of every tracked quantity with its changes and thresholds;
* the flagged drifts (steps and slow drifts, module :mod:`conditions.drift`) and LPMT channel
  outliers;
* the quantities with a single IOV as one table (a plot of one lone point says nothing);
* per other quantity a PNG plot (each IOV a segment with its 1 sigma error band, the open last
  IOV ending in an arrow, flagged points highlighted, campaign names on the points, run numbers
  below and dates above; under it the accumulated drift since the drift reference with the
  +-threshold band) and the provenance of each point (date, campaign, payload, insertion time,
  job summary).

Every payload hash links to the conditions browser page ``{browser_url}/payload/{hash}`` (tags
to ``/tag/{name}``, global tags to ``/gt/{name}``); dates come from the run registry, else from
the start time of the campaign whose first run the IOV starts at.

The plots are written to a folder ``<name>_files/`` next to ``<name>.html`` and referenced by
relative path, so the page and its folder can be moved or archived together.  Matplotlib is used
through its object API with the Agg canvas only (no pyplot, no display): it runs headless.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .drift import Flag, FlagKind, GlobalTagDiff, TrackReport, Trend

#: Colours of the flag kinds in plots and tables.
FLAG_COLOURS = {"step": "#d62728", "drift": "#ff7f0e"}


# ------------------------------------------------------------------------------------------------
# Formatting helpers
# ------------------------------------------------------------------------------------------------
def fmt_value(value: float | None, digits: int = 6) -> str:
    """A value with ``digits`` significant digits ('-' for None / NaN)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def fmt_change(change: float | None, relative: bool, unit: str = "") -> str:
    """A change as signed percent (relative quantities, stored as fractions) or signed value."""
    if change is None or not math.isfinite(change):
        return "-"
    if relative:
        return f"{100.0 * change:+.3f} %"
    return f"{change:+.4g}" + (f" {unit}" if unit and unit != "1" else "")


def fmt_threshold(value: float, relative: bool, unit: str = "") -> str:
    if not math.isfinite(value):
        return "off"
    if relative:
        return f"{100.0 * value:.3g} %"
    return f"{value:.4g}" + (f" {unit}" if unit and unit != "1" else "")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _num(value: float | None) -> float | None:
    """JSON-safe number: None for NaN/inf."""
    return value if value is not None and math.isfinite(value) else None


# ------------------------------------------------------------------------------------------------
# JSON documents
# ------------------------------------------------------------------------------------------------
def _flag_dict(trend: Trend, flag: Flag) -> dict[str, Any]:
    points = trend.series.points
    return {
        "key": trend.series.key,
        "quantity": trend.series.quantity.name,
        "record": trend.series.record,
        "tag": trend.series.tag,
        "kind": flag.kind,
        "since": points[flag.index].since,
        "index": flag.index,
        "change": _num(flag.change),
        "threshold": _num(flag.threshold),
        "relative": trend.series.quantity.relative,
        "significance": _num(flag.significance),
        "reference_since": points[flag.reference].since,
        "payload": points[flag.index].payload_hash,
    }


def trend_dict(trend: Trend) -> dict[str, Any]:
    """A JSON-able description of one trend: points with their changes, flags, thresholds."""
    ser, an = trend.series, trend.analysis
    q = ser.quantity
    kinds: dict[int, list[str]] = {}
    for f in an.flags:
        kinds.setdefault(f.index, []).append(f.kind)
    points = [
        {
            "since": p.since,
            "until": p.until,
            "value": _num(p.value),
            "error": _num(p.error),
            "payload": p.payload_hash,
            "insertion_time": _iso(p.insertion_time),
            "created_at": _iso(p.created_at),
            "provenance": dict(p.provenance),
            "change": _num(an.change[i]),
            "change_sigma": _num(an.change_sigma[i]),
            "to_reference": _num(an.to_reference[i]),
            "drift": _num(an.drift[i]),
            "flags": kinds.get(i, []),
        }
        for i, p in enumerate(ser.points)
    ]
    return {
        "key": ser.key,
        "quantity": q.name,
        "label": q.label,
        "unit": q.unit,
        "description": q.description,
        "payload_type": q.payload_type,
        "record": ser.record,
        "tag": ser.tag,
        "relative": q.relative,
        "thresholds": {"step": _num(an.thresholds.step), "drift": _num(an.thresholds.drift)},
        "n_sigma": an.n_sigma,
        "reference_since": ser.points[an.reference].since if ser.points else None,
        "points": points,
        "latest": points[-1] if points else None,
        "flags": [_flag_dict(trend, f) for f in an.flags],
    }


def report_dict(report: TrackReport) -> dict[str, Any]:
    """The whole drift analysis as a JSON-able document (what ``conddb trend --json`` prints)."""
    src = report.source
    cfg = report.config
    return {
        "source": {"tag": src.tag, "global_tag": src.global_tag, "record": src.record},
        "created_at": _iso(report.created_at),
        "config": {
            "n_sigma": cfg.n_sigma,
            "outlier_sigma": cfg.outlier_sigma,
            "outlier_min_change": cfg.outlier_min_change,
            "reference_run": cfg.reference_run,
            "drift_method": cfg.method,
        },
        "trends": [trend_dict(t) for t in report.trends],
        "flags": [_flag_dict(t, f) for t, f in report.flags()],
        "channel_outliers": [
            {
                "record": o.record,
                "tag": o.tag,
                "since": o.since,
                "n_outliers": len(o.outliers.channel_ids),
                "channel_ids": list(o.outliers.channel_ids),
                "delta": list(o.outliers.delta),
                "median": o.outliers.median,
                "robust_sigma": o.outliers.robust_sigma,
                "n_compared": o.outliers.n_compared,
                "newly_bad": list(o.outliers.newly_bad),
                "recovered": list(o.outliers.recovered),
            }
            for o in report.outliers
        ],
    }


def gt_diff_dict(diff: GlobalTagDiff) -> dict[str, Any]:
    """A JSON-able description of a global-tag diff (what ``conddb gt diff --json`` prints)."""
    return {
        "a": diff.a,
        "b": diff.b,
        "runs": None if diff.runs is None else {"first": diff.runs[0], "last": diff.runs[1]},
        "records": [
            {
                "record": r.record,
                "status": r.status,
                "tag_a": r.tag_a,
                "tag_b": r.tag_b,
                "type_a": r.type_a,
                "type_b": r.type_b,
                "segments": [
                    {
                        "first": s.first,
                        "last": s.last,
                        "payload_a": s.hash_a,
                        "payload_b": s.hash_b,
                        "scalars": [
                            {
                                "quantity": c.quantity,
                                "value_a": _num(c.value_a),
                                "value_b": _num(c.value_b),
                                "change": _num(c.change),
                                "relative": c.relative,
                            }
                            for c in s.scalars
                        ],
                    }
                    for s in r.segments
                ],
            }
            for r in diff.records
        ],
    }


# ------------------------------------------------------------------------------------------------
# Plots
# ------------------------------------------------------------------------------------------------
def plot_file_name(trend: Trend) -> str:
    """File name of a trend's plot: the series key with unsafe characters replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", trend.series.key.replace("/", "__")) + ".png"


def _segments(runs: Sequence[int], untils: Sequence[int | None]) -> tuple[list[float], float]:
    """Right ends of the IOV segments on the run axis and the length drawn for an open last one
    (a tenth of the span, at least one run)."""
    span = float(runs[-1] - runs[0]) if len(runs) > 1 else 1.0
    open_len = max(span / 10.0, 1.0)
    ends: list[float] = []
    for i, run in enumerate(runs):
        until = untils[i]
        if i + 1 < len(runs):
            ends.append(float(runs[i + 1]))
        elif until is not None:
            ends.append(float(until) + 1.0)  # inclusive last run
        else:
            ends.append(float(run) + open_len)
    return ends, open_len


def _date_axis(top: Any, runs: Sequence[int], dates: Mapping[int, dt.datetime]) -> None:
    """A second x axis above the plot labelling the runs that have a date (run registry or
    campaign start time) with that date (at most eight labels)."""
    known = [r for r in runs if r in dates]
    if not known:
        return
    step = max(1, math.ceil(len(known) / 8))
    shown = known[::step]
    axis = top.twiny()
    axis.set_xlim(top.get_xlim())
    axis.set_xticks(shown)
    axis.set_xticklabels([dates[r].strftime("%Y-%m-%d") for r in shown], fontsize="x-small",
                         rotation=30, ha="left")
    axis.set_xlabel("date (UTC, start of the IOV's first run)", fontsize="small")


def render_trend_png(
    trend: Trend,
    path: Path,
    *,
    dpi: int = 100,
    dates: Mapping[int, dt.datetime] | None = None,
    campaigns: Mapping[int, str] | None = None,
) -> Path:
    """Plot one trend to ``path`` (PNG): each IOV as a segment from its since to the next since
    with its 1 sigma error as a band (the open last IOV ends in an arrow), flagged points marked
    (step red triangle, slow drift orange square), the reference ringed, campaign names on the
    points and the dates of the runs on a second axis; below, the accumulated drift (steps
    excluded) with the +-threshold band."""
    ser, an = trend.series, trend.analysis
    q = ser.quantity
    dates = dates or {}
    campaigns = campaigns or {}
    runs = [p.since for p in ser.points]
    values = [p.value for p in ser.points]
    errors = [p.error if p.error is not None else 0.0 for p in ser.points]
    fig = Figure(figsize=(8.0, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    colour = "#1f77b4"
    if runs:
        ends, open_len = _segments(runs, [p.until for p in ser.points])
        for i, (run, end, v, e) in enumerate(zip(runs, ends, values, errors, strict=True)):
            if not math.isfinite(v):
                continue
            top.fill_between([run, end], [v - e] * 2, [v + e] * 2, color=colour, alpha=0.18,
                             lw=0, label="1 sigma" if i == 0 else None)
            top.plot([run, end], [v, v], color=colour, lw=1.5,
                     label=q.label if i == 0 else None)
        last, v_last = runs[-1], values[-1]
        if ser.points[-1].until is None and math.isfinite(v_last):
            top.annotate("", xy=(last + open_len * 1.15, v_last), xytext=(last + open_len, v_last),
                         arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5})
            top.text(last + open_len * 1.2, v_last, "open", fontsize="x-small", va="center",
                     color=colour)
        top.plot(runs, values, "o", ms=3, color=colour)
        ref = an.reference
        top.plot([runs[ref]], [values[ref]], "o", mfc="none", mec="green", ms=10,
                 label="reference")
        for run, v in zip(runs, values, strict=True):
            name = campaigns.get(run)
            if name and math.isfinite(v):
                top.annotate(name, (run, v), xytext=(2, 4), textcoords="offset points",
                             fontsize=6, rotation=45, color="#444444")
        top.set_xlim(runs[0] - open_len * 0.3, ends[-1] + open_len * 0.5)
        if campaigns:  # head room for the campaign names above the points
            lo, hi = top.get_ylim()
            top.set_ylim(lo, hi + 0.3 * (hi - lo))
    markers: tuple[tuple[FlagKind, str], ...] = (("step", "v"), ("drift", "s"))
    for kind, marker in markers:
        idx = an.flagged(kind)
        if idx:
            top.plot([runs[i] for i in idx], [values[i] for i in idx], marker, ms=9,
                     color=FLAG_COLOURS[kind], label=f"{kind} flagged")
    unit = "" if q.unit == "1" else f" [{q.unit}]"
    top.set_ylabel(f"{q.label}{unit}")
    top.set_title(f"{ser.key} ({ser.tag})", fontsize="medium")
    top.legend(loc="best", fontsize="x-small")
    top.grid(alpha=0.3)
    scale = 100.0 if q.relative else 1.0
    drift_runs = [r for r, d in zip(runs, an.drift, strict=True) if d is not None]
    drift_vals = [scale * d for d in an.drift if d is not None]
    bottom.plot(drift_runs, drift_vals, ".-", color="#555555", lw=1, ms=3)
    limit = an.thresholds.drift
    if math.isfinite(limit):
        bottom.axhspan(-scale * limit, scale * limit, color="green", alpha=0.08)
        bottom.axhline(scale * limit, color="green", lw=0.8, ls="--")
        bottom.axhline(-scale * limit, color="green", lw=0.8, ls="--")
    for i in an.flagged("drift"):
        d = an.drift[i]
        if d is not None:
            bottom.plot([runs[i]], [scale * d], "s", color=FLAG_COLOURS["drift"], ms=7)
    bottom.set_ylabel("drift [%]" if q.relative else f"drift{unit}")
    bottom.set_xlabel("run (first run of the IOV)")
    bottom.grid(alpha=0.3)
    _date_axis(top, runs, dates)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi)
    return path


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------
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
