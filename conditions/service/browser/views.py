"""What each browser page shows, read through the public library functions.

One function per page, each taking an open read session and returning the template context (plain
data: rows, names, links).  Reads go through ``conditions.store``, ``conditions.drift`` and
``conditions.payloads``; the few queries they lack live in :mod:`.queries`.
:mod:`conditions.drift`, numpy, the payload models and :mod:`.plots` are imported by the functions
that use them, not with the app (each ``conddb serve`` worker imports the app before its first
health check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from conditions import store
from conditions.documents import decode_document, summarise_arrays, typed_types
from conditions.errors import InvalidInput
from conditions.resolve import resolve

from . import queries
from .pages import seg

if TYPE_CHECKING:
    from conditions.drift import SeriesSource, Trend
    from conditions.payloads import LpmtNonlinearityV1


def global_tags(s: Session) -> dict[str, Any]:
    """The index: every global tag with its state, snapshot time and number of records."""
    counts = queries.global_tag_summaries(s)
    rows = [
        {
            "name": g.name,
            "state": g.state.value,
            "snapshot_time": g.snapshot_time,
            "created_at": g.created_at,
            "frozen_at": g.frozen_at,
            "description": g.description,
            "records": counts.get(g.name, 0),
        }
        for g in store.list_global_tags(s)
    ]
    return {"global_tags": rows}


def tags(s: Session, type_name: str | None) -> dict[str, Any]:
    """Every tag (optionally of one payload type) with its state and number of IOV rows."""
    rows = [
        {
            "name": t.name,
            "type": t.type_name,
            "state": t.state.value,
            "iovs": n,
            "created_at": t.created_at,
            "description": t.description,
        }
        for t, n in store.list_tags(s, type_name)
    ]
    return {"tags": rows, "type": type_name}


def global_tag(s: Session, name: str, as_of: dt.datetime | None) -> dict[str, Any]:
    """A global tag: its record -> tag map (now or at ``as_of``), its map history, the other
    global tags to diff against."""
    from conditions import drift

    g = store.get_global_tag(s, name)
    mapping = store.global_tag_map(s, g, as_of=as_of)
    iov_counts = {t.name: n for t, n in store.list_tags(s)}
    records = [
        {
            "record": record,
            "tag": t.name,
            "type": t.type_name,
            "tag_state": t.state.value,
            "iovs": iov_counts.get(t.name, 0),
            "tracked": bool(drift.quantities_for(t.type_name)),
        }
        for record, t in sorted(mapping.items())
    ]
    others = [o.name for o in store.list_global_tags(s) if o.name != g.name]
    return {
        "gt": g,
        "as_of": as_of,
        "records": records,
        "history": queries.map_history(s, g.name),
        "others": others,
    }


def gt_diff(s: Session, a: str, b: str) -> dict[str, Any]:
    """Record-by-record comparison of two global tags (``conditions.drift.gt_diff``)."""
    from conditions import drift

    diff = drift.gt_diff(s, a, b)
    return {"a": a, "b": b, "diff": diff, "changed": len(diff.changed())}


def lookup(s: Session, name: str, run: int, as_of: dt.datetime | None) -> dict[str, Any]:
    """What a job gets for ``run`` under global tag ``name``: per record the payload in force and
    its IOV bounds (``conditions.resolve.resolve``, snapshot time respected)."""
    res = resolve(s, name, run, as_of=as_of)
    return {"resolution": res, "records": [res.records[r] for r in sorted(res.records)]}


def tag(s: Session, name: str, as_of: dt.datetime | None) -> dict[str, Any]:
    """A tag: every IOV row (superseded ones too) as it was at ``as_of`` (default: now), and the
    global tags whose records point at it."""
    from conditions import drift

    t = store.get_tag(s, name)
    rows = store.list_iovs(s, name, as_of=as_of, history=True)
    return {
        "tag": t,
        "as_of": as_of,
        "iovs": rows,
        "in_force": sum(not r.superseded for r in rows),
        "used_by": queries.global_tags_using_tags(s, [name]),
        "quantities": drift.quantities_for(t.type_name),
        "typed": t.type_name in typed_types(),
    }


@dataclass(frozen=True)
class Field:
    """One scalar (or summarised array) of a payload's content, in its schema's words."""

    name: str
    value: Any
    description: str


def _fields(model: BaseModel) -> list[Field]:
    doc = summarise_arrays(model.model_dump())
    described = type(model).model_fields
    return [
        Field(k, v, (described[k].description or "") if k in described else "")
        for k, v in doc.items()
    ]


def payload_model(s: Session, payload_hash: str) -> tuple[str, BaseModel]:
    """The decoded typed payload (refuses untyped JSON payloads, which have no plots)."""
    from conditions.payloads import decode_payload

    p = store.get_payload(s, payload_hash)
    if p.type_name not in typed_types():
        raise InvalidInput(f"payload {payload_hash[:12]} is untyped JSON", "it has no plots")
    return p.type_name, decode_payload(p.type_name, store.payload_bytes(s, payload_hash))


def _lpmt_summary(m: LpmtNonlinearityV1) -> dict[str, Any]:
    import numpy as np

    from conditions import drift
    from conditions.payloads import ChannelStatus

    counts = {st.name: int(np.count_nonzero(m.status == st)) for st in ChannelStatus}
    cc = drift.channel_corrections(m)
    x = cc.correction[cc.good]
    bad = [
        {"channel": int(c), "status": ChannelStatus(int(st)).name}
        for c, st in zip(m.channel_ids, m.status, strict=True)
        if st != ChannelStatus.GOOD
    ]
    return {
        "status_counts": counts,
        "n_channels": int(m.channel_ids.size),
        "charge_nodes": int(m.charge_grid.size),
        "q_ref": drift.LPMT_REFERENCE_CHARGE,
        "corr_mean": float(x.mean()) if x.size else None,
        "corr_rms": float(x.std()) if x.size else None,
        "bad_channels": bad[:200],
        "n_bad": len(bad),
        "first_channel": int(m.channel_ids[int(np.argmax(m.status == ChannelStatus.GOOD))]),
    }


#: The quantities drawn on a payload's page across its tag's IOVs (all of them: trend page).
HEADLINE = {
    "light_yield": ("Y0",),
    "dark_noise": ("dQ_DR_LPMT", "dQ_DR_SPMT"),
    "energy_nonlinearity": ("p0", "E_vis_anni"),
    "energy_resolution": ("a_tilde",),
    "nonuniformity_map": ("g_mean",),
    "lpmt_nonlinearity": ("lpmt_corr_mean", "lpmt_bad_channels"),
}


def payload(
    s: Session, payload_hash: str, tag_name: str | None, channel: int | None
) -> dict[str, Any]:
    """A payload: metadata, provenance, content in the schema's words, plots, the tags and
    global tags that use it, and the tag whose IOV history is drawn (``tag_name`` or the first
    tag holding it)."""
    from conditions import drift
    from conditions.payloads import LpmtNonlinearityV1, decode_payload

    from . import plots

    p = store.get_payload(s, payload_hash)
    provenance = dict(p.provenance or {})
    uses = queries.tags_using_payload(s, p.hash)
    tag_names = sorted({u.tag for u in uses})
    if tag_name is not None and tag_name not in tag_names:
        store.get_tag(s, tag_name)  # an unknown tag is a 404
        raise InvalidInput(
            f"tag {tag_name!r} holds no IOV of payload {p.hash[:12]}",
            "follow the payload link from one of its tags",
        )
    history_tag = tag_name or (tag_names[0] if tag_names else None)
    points = len(store.list_iovs(s, history_tag)) if history_tag else 0
    tracked = drift.quantities_for(p.type_name)
    headline = [q for q in tracked if q.name in HEADLINE.get(p.type_name, ())]
    context: dict[str, Any] = {
        "p": p,
        "provenance": provenance,
        "inputs": provenance.pop("inputs", None),
        "settings": provenance.pop("settings", None),
        "fit_quality": provenance.pop("fit_quality", None),
        "uses": uses,
        "used_by": queries.global_tags_using_tags(s, tag_names),
        "history_tag": history_tag,
        "history_points": points,
        "tracked": bool(tracked),
        "quantities": headline if points >= 2 else [],
        "fields": [],
        "plots": [],
        "document": None,
        "lpmt": None,
        "channel": None,
    }
    if p.type_name not in typed_types():
        context["document"] = decode_document(p.type_name, store.payload_bytes(s, p.hash))
        return context
    model = decode_payload(p.type_name, store.payload_bytes(s, p.hash))
    context["fields"] = _fields(model)
    context["plots"] = [k for k in plots.plot_kinds(model) if k != "lpmt_channel"]
    if isinstance(model, LpmtNonlinearityV1):
        lpmt = _lpmt_summary(model)
        chosen = lpmt["first_channel"] if channel is None else channel
        check_channel(model, chosen)
        context["lpmt"], context["channel"] = lpmt, chosen
    return context


def check_channel(m: LpmtNonlinearityV1, channel: int) -> int:
    """``channel`` if the payload has it, else an :class:`InvalidInput` naming the range."""
    import numpy as np

    if not np.any(m.channel_ids == channel):
        lo, hi = int(m.channel_ids.min()), int(m.channel_ids.max())
        raise InvalidInput(f"no LPMT channel {channel} in this payload", f"give {lo}..{hi}")
    return channel


def trend(s: Session, source: SeriesSource) -> dict[str, Any]:
    """The drift analysis of a tag or a global tag: every tracked quantity with its flags."""
    from conditions import drift

    report = drift.track(s, source)
    rows = []
    for t in report.trends:
        pts = t.series.points
        rows.append(
            {
                "trend": t,
                "key": t.series.key,
                "tag": t.series.tag,
                "quantity": t.series.quantity,
                "latest": t.latest,
                "flags": [(f, pts[f.index], pts[f.reference]) for f in t.analysis.flags],
            }
        )
    snapshot = None
    if source.global_tag is not None:
        snapshot = store.get_global_tag(s, source.global_tag).snapshot_time
    return {"source": source, "rows": rows, "outliers": report.outliers, "snapshot": snapshot}


def history_trend(
    s: Session, tag_name: str, quantity_name: str, as_of: dt.datetime | None
) -> Trend:
    """One tracked quantity across the IOVs of a tag, with its drift analysis."""
    from conditions import drift

    ser = drift.series(s, tag_name, quantity_name, as_of=as_of)
    return drift.analyse_series(ser, drift.DriftConfig())


def search(s: Session, text: str) -> dict[str, Any]:
    """Global tags and tags by name, payloads by hash prefix."""
    hits = queries.search(s, text)
    links = {
        "global tag": lambda n: f"/gt/{seg(n)}",
        "tag": lambda n: f"/tag/{seg(n)}",
        "payload": lambda n: f"/payload/{n}",
    }
    return {"q": text, "hits": [(h, links[h.kind](h.name)) for h in hits]}
