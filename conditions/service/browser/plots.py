"""Server-side SVG plots of payload content and of quantity histories.

Matplotlib is imported lazily (the service starts without it) and used through its object API
with the Agg canvas only, so it runs headless and thread-safe per figure.  Every function returns
the SVG document as bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from conditions.payloads import (
    ChannelStatus,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from conditions.drift import Trend

#: Colours of the drift flag kinds (as in the trend report).
FLAG_COLOURS = {"step": "#d62728", "drift": "#ff7f0e"}
BLUE = "#1f5fa0"


def _figure(width: float = 7.5, height: float = 4.2) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _svg(fig: Figure) -> bytes:
    """The figure as SVG; text stays text (half the bytes of glyph paths, and selectable), no
    date in the metadata (equal content, equal bytes)."""
    from matplotlib import rc_context

    out = io.BytesIO()
    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def f_nonlin_band(m: EnergyNonlinearityV1) -> bytes:
    """f_nonlin(E) of Eq. 2.5 with the stored +-1 sigma band: solid on the valid range, dashed
    outside it; below it the band's half-width relative to f_nonlin [%]."""
    fig = _figure(7.5, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
    e_hi = max(m.e_max, float(m.band_energy[-1]))
    e_lo = max(min(m.e_min, float(m.band_energy[0])), 0.02 * e_hi)
    e = np.linspace(e_lo, e_hi, 500)
    inside = (e >= m.e_min) & (e <= m.e_max)
    top.fill_between(m.band_energy, m.band_lower, m.band_upper, color=BLUE, alpha=0.25,
                     lw=0, label="±1σ band")
    f = m.f_nonlin(e)
    top.plot(e[inside], f[inside], color=BLUE, lw=1.6, label="f_nonlin (Eq. 2.5)")
    top.plot(e, np.where(inside, np.nan, f), color=BLUE, lw=1.0, ls="--",
             label="outside the valid range")
    for edge in (m.e_min, m.e_max):
        top.axvline(edge, color="grey", lw=0.8, ls=":")
        bottom.axvline(edge, color="grey", lw=0.8, ls=":")
    top.set_ylabel("f_nonlin = E_vis / E")
    top.set_title(
        f"f_nonlin, valid {m.e_min:g}–{m.e_max:g} MeV, χ²/ndf = {m.chi2:.1f}/{m.ndf}"
    )
    top.legend(loc="lower right", fontsize="small")
    top.grid(alpha=0.3)
    centre = m.f_nonlin(m.band_energy)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = 50.0 * (m.band_upper - m.band_lower) / centre
    bottom.plot(m.band_energy, half, color=BLUE, lw=1.2)
    bottom.set_ylim(bottom=0.0)
    bottom.set_ylabel("band ½-width [%]")
    bottom.set_xlabel("electron kinetic energy E [MeV]")
    bottom.grid(alpha=0.3)
    return _svg(fig)


def resolution_curve(m: EnergyResolutionV1) -> bytes:
    """sigma/E = sqrt(a^2/E + b^2 + c^2/E^2) of Eq. 3.1 on 0.5-10 MeV [%]."""
    fig = _figure(7.5, 3.6)
    ax = fig.subplots()
    e = np.linspace(0.5, 10.0, 300)
    ax.plot(e, 100.0 * np.sqrt(m.a**2 / e + m.b**2 + (m.c / e) ** 2), color=BLUE)
    ax.set_xlabel("visible energy E [MeV]")
    ax.set_ylabel("σ/E [%]")
    ax.set_title(f"energy resolution (Eq. 3.1)  ã = {100 * m.a_tilde:.3f} %")
    ax.grid(alpha=0.3)
    return _svg(fig)


def g_map(m: NonuniformityMapV1) -> bytes:
    """g(r, theta) of Eq. 3.3 in the vertical half-plane (rho = r sin theta, z = r cos theta)
    with the calibration points the spline was built from."""
    fig = _figure(5.8, 6.0)
    ax = fig.subplots()
    r_max = m.r_max
    r = np.linspace(0.0, r_max, 120)
    theta = np.linspace(0.0, math.pi, 121)
    rr, tt = np.meshgrid(r, theta, indexing="ij")
    if m.coordinates == "r3_costheta":
        u, v = (rr / m.r_ref) ** 3, np.cos(tt)
    else:
        u, v = rr / m.r_ref, tt
    g = np.asarray(m.spline(u.ravel(), v.ravel())).reshape(rr.shape)
    mesh = ax.pcolormesh(rr * np.sin(tt), rr * np.cos(tt), g, shading="gouraud", cmap="viridis",
                         rasterized=True)
    vmin = min(float(np.nanmin(g)), float(m.points_g.min()))
    vmax = max(float(np.nanmax(g)), float(m.points_g.max()))
    mesh.set_clim(vmin, vmax)
    ax.scatter(m.points_r * np.sin(m.points_theta), m.points_r * np.cos(m.points_theta),
               c=m.points_g, cmap="viridis", vmin=vmin, vmax=vmax, s=22,
               edgecolors="white", linewidths=0.7,
               label=f"{m.points_r.size} calibration points")
    ax.set_aspect("equal")
    ax.set_xlabel("ρ = r sin θ [m]")
    ax.set_ylabel("z = r cos θ [m]")
    ax.set_title(f"g(r, θ), {m.source} {m.particle} at {m.energy:g} MeV")
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)  # outside the half-disc
    fig.colorbar(mesh, ax=ax, label="g (relative light yield)")
    return _svg(fig)


def lpmt_channel(m: LpmtNonlinearityV1, channel: int) -> bytes:
    """The correction curve of one LPMT channel: true vs measured charge, and their ratio."""
    rows = np.flatnonzero(m.channel_ids == channel)
    row = int(rows[0])
    status = ChannelStatus(int(m.status[row])).name
    q = m.charge_grid
    true = m.true_charge[row].astype(np.float64)
    fig = _figure(7.5, 4.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1.0])
    top.plot(q, true, "o-", ms=3, color=BLUE, label=f"channel {channel}")
    top.plot(q, q, "--", color="grey", lw=0.8, label="linear")
    top.set_ylabel("true charge [PE]")
    top.set_title(f"LPMT channel {channel}: status {status}")
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q > 0, true / q, np.nan)
    bottom.plot(q, ratio, "o-", ms=3, color=BLUE)
    bottom.set_ylabel("true / measured")
    bottom.set_xlabel("measured charge [PE]")
    bottom.grid(alpha=0.3)
    return _svg(fig)


def lpmt_corrections(correction: np.ndarray, q_ref: float) -> bytes:
    """Histogram over GOOD channels of the correction true/measured at ``q_ref`` [PE]."""
    fig = _figure(7.5, 3.2)
    ax = fig.subplots()
    ax.hist(correction, bins=80, color=BLUE, alpha=0.8)
    ax.set_xlabel(f"correction true/measured at {q_ref:g} PE")
    ax.set_ylabel("GOOD channels")
    ax.grid(alpha=0.3)
    return _svg(fig)


def history(trend: Trend, mark: str | None = None) -> bytes:
    """A quantity across the IOVs of a tag: each value drawn over its IOV (since..until; the open
    last IOV as an arrow), 1 sigma error bars, drift flags, ``mark`` (a payload hash) ringed;
    below it the accumulated drift with the +-threshold band."""
    ser, an = trend.series, trend.analysis
    q = ser.quantity
    pts = ser.points
    fig = _figure(7.5, 4.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    sinces = [p.since for p in pts]
    last_run = max([p.until or p.since for p in pts] + sinces) if pts else 1
    span = max(last_run - (sinces[0] if sinces else 0), 1)
    open_end = last_run + 0.15 * span
    for p in pts:
        end = open_end if p.until is None else p.until + 1
        top.hlines(p.value, p.since, end, color=BLUE, lw=2, alpha=0.6)
        if p.until is None:
            top.annotate("", (open_end + 0.03 * span, p.value), (end - 0.001 * span, p.value),
                         arrowprops={"arrowstyle": "->", "color": BLUE, "lw": 1.2})
    errors = [p.error if p.error is not None else 0.0 for p in pts]
    top.errorbar(sinces, ser.values(), yerr=errors, fmt="o", ms=4, color=BLUE, ecolor="#7fa7d0",
                 capsize=2, label=q.label)
    for kind, marker in (("step", "v"), ("drift", "s")):
        idx = an.flagged(kind)  # type: ignore[arg-type]
        if idx:
            top.plot([sinces[i] for i in idx], [pts[i].value for i in idx], marker, ms=9,
                     color=FLAG_COLOURS[kind], label=f"{kind} flagged")
    marked = [i for i, p in enumerate(pts) if mark is not None and p.payload_hash == mark]
    if marked:
        top.plot([sinces[i] for i in marked], [pts[i].value for i in marked], "o", mfc="none",
                 mec="black", ms=12, label="this payload")
    unit = "" if q.unit == "1" else f" [{q.unit}]"
    top.set_ylabel(f"{q.label}{unit}")
    top.set_title(f"{q.label} across the IOVs of {ser.tag}")
    top.legend(loc="best", fontsize="small")
    top.grid(alpha=0.3)
    scale = 100.0 if q.relative else 1.0
    drift = [(s, scale * d) for s, d in zip(sinces, an.drift, strict=True) if d is not None]
    if drift:
        bottom.plot(*zip(*drift, strict=True), ".-", color="#555555", lw=1, ms=4)
    limit = an.thresholds.drift
    if math.isfinite(limit):
        bottom.axhspan(-scale * limit, scale * limit, color="green", alpha=0.08)
    bottom.set_ylabel("drift [%]" if q.relative else f"drift{unit}")
    bottom.set_xlabel("run (IOV since … until)")
    bottom.grid(alpha=0.3)
    return _svg(fig)


def plot_kinds(model: Any) -> Sequence[str]:
    """The content plots a payload model has (names used in the plot URLs)."""
    if isinstance(model, EnergyNonlinearityV1):
        return ("f_nonlin",)
    if isinstance(model, NonuniformityMapV1):
        return ("g_map",)
    if isinstance(model, EnergyResolutionV1):
        return ("resolution",)
    if isinstance(model, LpmtNonlinearityV1):
        return ("lpmt_channel", "lpmt_corrections")
    return ()
