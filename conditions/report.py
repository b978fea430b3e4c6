"""Trend reports: JSON documents, PNG plots and a self-contained HTML page of a drift analysis.

The HTML page (:func:`write_html_report`) holds, for a :class:`~conditions.drift.TrackReport`:

* a table of the latest value of every tracked quantity with its changes and thresholds;
* the flagged drifts (steps and slow drifts, module :mod:`conditions.drift`) and LPMT channel
  outliers;
* per quantity a PNG plot (value vs run with its 1 sigma error bars, flagged points highlighted;
  below it the accumulated drift since the drift reference with the +-threshold band) and the
  provenance of each point (payload hash, insertion time, job/campaign summary).

The plots are written to a folder ``<name>_files/`` next to ``<name>.html`` and referenced by
relative path, so the page and its folder can be moved or archived together.  Matplotlib is used
through its object API with the Agg canvas only (no pyplot, no display): it runs headless.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Callable, Sequence
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


def render_trend_png(trend: Trend, path: Path, *, dpi: int = 100) -> Path:
    """Plot one trend to ``path`` (PNG): the value vs run (since of each IOV) with 1 sigma error
    bars, flagged points marked (step red triangle, slow drift orange square), the reference
    point ringed; below, the accumulated drift (steps excluded) with the +-threshold band."""
    ser, an = trend.series, trend.analysis
    q = ser.quantity
    runs = [p.since for p in ser.points]
    values = [p.value for p in ser.points]
    errors = [p.error if p.error is not None else 0.0 for p in ser.points]
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    top.errorbar(runs, values, yerr=errors, fmt="o", ms=3, color="#1f77b4", ecolor="#7fa7d0",
                 capsize=2, label=q.label)
    if len(runs) > 1:
        top.step(runs, values, where="post", color="#1f77b4", alpha=0.3, lw=1)
    if runs:
        ref = an.reference
        top.plot([runs[ref]], [values[ref]], "o", mfc="none", mec="green", ms=10,
                 label="reference")
    markers: tuple[tuple[FlagKind, str], ...] = (("step", "v"), ("drift", "s"))
    for kind, marker in markers:
        idx = an.flagged(kind)
        if idx:
            top.plot([runs[i] for i in idx], [values[i] for i in idx], marker, ms=9,
                     color=FLAG_COLOURS[kind], label=f"{kind} flagged")
    unit = "" if q.unit == "1" else f" [{q.unit}]"
    top.set_ylabel(f"{q.label}{unit}")
    top.set_title(f"{ser.key} ({ser.tag})")
    top.legend(loc="best", fontsize="small")
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


def _latest_rows(report: TrackReport) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    for t in report.trends:
        q, an, p = t.series.quantity, t.analysis, t.latest
        if p is None:
            continue
        last = len(t.series.points) - 1
        kinds = sorted({f.kind for f in an.flags})
        rows.append(
            (
                " ".join(kinds[:1]),
                [
                    _e(t.series.key),
                    _e(q.unit),
                    _e(p.since),
                    _e("-" if p.until is None else p.until),
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
                ],
            )
        )
    return rows


def _flag_rows(report: TrackReport) -> list[tuple[str, list[str]]]:
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
                    _e(pts[f.reference].since),
                    _e(fmt_change(f.change, q.relative, q.unit)),
                    _e(fmt_threshold(f.threshold, q.relative, q.unit)),
                    _e("-" if f.significance is None else f"{f.significance:.1f}"),
                    f"<code>{_e(pts[f.index].payload_hash[:12])}</code>",
                ],
            )
        )
    return rows


def _provenance_rows(trend: Trend) -> list[tuple[str, list[str]]]:
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
                    _e("-" if p.until is None else p.until),
                    _e(fmt_value(p.value)),
                    _e(fmt_value(p.error, 3)),
                    _e(fmt_change(an.change[i], q.relative, q.unit)),
                    _e(fmt_change(an.drift[i], q.relative, q.unit)),
                    _e(", ".join(flagged) or ""),
                    f'<code title="{_e(p.payload_hash)}">{_e(p.payload_hash[:12])}</code>',
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


def render_html(report: TrackReport, plot_paths: Sequence[str], title: str | None = None) -> str:
    """The HTML page of a report; ``plot_paths[i]`` is the (relative) image of trend i."""
    cfg = report.config
    title = title or f"Drift report: {report.source.describe()}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Generated {_e(_iso(report.created_at))}. Significance guard {cfg.n_sigma:g} sigma; "
        f"drift estimate: {_e('straight-line fit' if cfg.method == 'fit' else 'two points')}; "
        f"reference: {_e('first IOV' if cfg.reference_run is None else cfg.reference_run)}; "
        f"LPMT outliers beyond {cfg.outlier_sigma:g} robust sigma and "
        f"{100 * cfg.outlier_min_change:g} %. A <b>step</b> is a change between consecutive "
        "IOVs above its threshold; a <b>slow drift</b> is an accumulated change since the drift "
        "reference (flagged steps excluded) above its threshold.</p>",
        "<h2>Latest values</h2>",
        _table(
            [
                "series",
                "unit",
                "since",
                "until",
                "value",
                "error",
                "vs previous",
                "vs reference",
                "thresholds step / drift",
                "points",
                "flags",
            ],
            _latest_rows(report),
        ),
        "<h2>Flagged drifts</h2>",
    ]
    flag_rows = _flag_rows(report)
    parts.append(
        _table(
            ["series", "kind", "since", "reference since", "change", "threshold",
             "significance [sigma]", "payload"],
            flag_rows,
        )
        if flag_rows
        else "<p>No drift flagged.</p>"
    )
    if report.outliers:
        parts.append("<h2>LPMT channel outliers (consecutive payloads)</h2>")
        parts.append(
            _table(
                ["record", "since", "outliers", "channel ids", "median / robust sigma of change",
                 "channels compared", "newly bad", "recovered"],
                _outlier_rows(report),
            )
        )
    parts.append("<h2>Quantities</h2>")
    for trend, src in zip(report.trends, plot_paths, strict=True):
        q = trend.series.quantity
        parts.append(f'<h3 id="{_e(trend.series.key)}">{_e(trend.series.key)}: {_e(q.label)}</h3>')
        parts.append(f"<p>{_e(q.description)}; tag <code>{_e(trend.series.tag)}</code>.</p>")
        parts.append(f'<img src="{_e(src)}" alt="{_e(trend.series.key)} vs run">')
        parts.append(
            "<details><summary>Provenance of each point</summary>"
            + _table(
                ["since", "until", "value", "error", "vs previous", "drift", "flags", "payload",
                 "inserted", "provenance"],
                _provenance_rows(trend),
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
    progress: Callable[[int], None] | None = None,
) -> ReportFiles:
    """Write the HTML page to ``html_path`` and one PNG per trend into ``<stem>_files/`` next to
    it (referenced by relative path).  ``progress(1)`` is called after each plot."""
    html_path = Path(html_path).resolve()
    folder = html_path.parent / f"{html_path.stem}_files"
    folder.mkdir(parents=True, exist_ok=True)
    plots: list[Path] = []
    relative: list[str] = []
    for trend in report.trends:
        path = render_trend_png(trend, folder / plot_file_name(trend))
        plots.append(path)
        relative.append(f"{folder.name}/{path.name}")
        if progress is not None:
            progress(1)
    html_path.write_text(render_html(report, relative, title), encoding="utf-8")
    return ReportFiles(html_path, tuple(plots))
