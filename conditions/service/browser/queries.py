"""Read queries of the browser: they live in :mod:`conditions.store.search` (re-exported here so
the browser's imports keep working)."""

from __future__ import annotations

from conditions.store.search import (  # noqa: F401
    MapRow,
    NameHit,
    PayloadUse,
    global_tag_summaries,
    global_tags_using_tags,
    map_history,
    search,
    tags_using_payload,
)
