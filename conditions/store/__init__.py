"""Repository: the only package that imports the ORM model (:mod:`conditions.db.model`).

Every function takes an open :class:`~sqlalchemy.orm.Session` inside a write transaction (see
:func:`conditions.db.write_session`), so several calls compose into one atomic unit: a campaign
upload either lands whole or not at all.  The functions check the domain rules themselves and
raise typed errors from :mod:`conditions.errors`.

Modules: :mod:`.common` (names, runs, hashes, the database clock), :mod:`.payloads`,
:mod:`.tags` (tags and IOVs), :mod:`.global_tags`, :mod:`.runs`, :mod:`.campaigns`,
:mod:`.reader` (the lookup SQL).  ``from conditions import store; store.put_payload(...)`` keeps
working: every public name of the former ``store.py`` is re-exported here.
"""

from __future__ import annotations

from .campaigns import (
    CampaignLink,
    CampaignRecord,
    add_campaign,
    find_campaign,
    get_campaign,
    list_campaigns,
    lock_campaign,
)
from .common import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_RUN,
    NAME_PATTERN,
    check_name,
    check_run,
    check_text,
    db_now,
    sha256_hex,
    utcnow,
    valid_name,
)
from .global_tags import (
    clone_global_tag,
    create_global_tag,
    freeze_global_tag,
    get_global_tag,
    global_tag_map,
    list_global_tags,
    set_record,
)
from .payloads import (
    PutResult,
    ensure_payload_type,
    find_payload,
    get_payload,
    get_payload_type,
    list_payload_types,
    payload_bytes,
    put_payload,
    put_payloads,
    register_payload_type,
)
from .runs import register_run, run_at, run_start_times
from .tags import (
    AppendResult,
    IOVRow,
    append_iovs,
    create_tag,
    find_tag,
    get_tag,
    iov_rows,
    list_iovs,
    list_tags,
    lock_tag,
)

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_RUN",
    "NAME_PATTERN",
    "AppendResult",
    "CampaignLink",
    "CampaignRecord",
    "IOVRow",
    "PutResult",
    "add_campaign",
    "append_iovs",
    "check_name",
    "check_run",
    "check_text",
    "clone_global_tag",
    "create_global_tag",
    "create_tag",
    "db_now",
    "ensure_payload_type",
    "find_campaign",
    "find_payload",
    "find_tag",
    "freeze_global_tag",
    "get_campaign",
    "get_global_tag",
    "get_payload",
    "get_payload_type",
    "get_tag",
    "global_tag_map",
    "iov_rows",
    "list_campaigns",
    "list_global_tags",
    "list_iovs",
    "list_payload_types",
    "list_tags",
    "lock_campaign",
    "lock_tag",
    "payload_bytes",
    "put_payload",
    "put_payloads",
    "register_payload_type",
    "register_run",
    "run_at",
    "run_start_times",
    "set_record",
    "sha256_hex",
    "utcnow",
    "valid_name",
]
