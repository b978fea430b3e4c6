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

Modules: :mod:`.format` (number formatting), :mod:`.documents` (JSON), :mod:`.plots` (PNG),
:mod:`.page` (HTML); every public name is re-exported here.
"""

from __future__ import annotations

from .documents import gt_diff_dict, report_dict, trend_dict
from .format import FLAG_COLOURS, fmt_change, fmt_threshold, fmt_value
from .page import (
    DEFAULT_BROWSER_URL,
    Links,
    ReportFiles,
    is_single,
    render_html,
    write_html_report,
)
from .plots import plot_file_name, render_trend_png

__all__ = [
    "DEFAULT_BROWSER_URL",
    "FLAG_COLOURS",
    "Links",
    "ReportFiles",
    "fmt_change",
    "fmt_threshold",
    "fmt_value",
    "gt_diff_dict",
    "is_single",
    "plot_file_name",
    "render_html",
    "render_trend_png",
    "report_dict",
    "trend_dict",
    "write_html_report",
]
