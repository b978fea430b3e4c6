"""JSON documents of a drift analysis: one trend, a whole report, a global-tag diff."""

from __future__ import annotations

from typing import Any

from conditions.drift import Flag, GlobalTagDiff, TrackReport, Trend

from .format import _iso, _num


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
