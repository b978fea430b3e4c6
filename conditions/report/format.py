"""Number formatting shared by the trend report's tables, its JSON documents and the CLI."""

from __future__ import annotations

import datetime as dt
import math

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
