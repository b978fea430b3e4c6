"""PNG plot of one trend (matplotlib object API, Agg canvas only: headless, no pyplot)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from conditions.drift import FlagKind, Trend

from .format import FLAG_COLOURS


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
