"""Campaign upload, the ONE write path of a calibration campaign (CLI, HTTP and import call it).

:func:`upload` stores every payload of a campaign, appends its IOVs and writes the campaign
record linking them, all inside the caller's write transaction: it lands whole or not at all.

* Re-uploading the same campaign is idempotent: same name, same manifest and same constants ->
  nothing new (the report says ``created=False``).
* The same campaign name with other inputs or constants is a :class:`~conditions.errors.Conflict`
  (HTTP 409, CLI one-line error).
* Two uploads of one campaign at the same time serialise on the campaign name (advisory lock on
  PostgreSQL, the database lock on SQLite): one writes, the other finds it and does nothing.

Front ends only translate their input into a :class:`CampaignUpload`: the CLI from the typed
payloads of the fitting jobs (:func:`from_constants`, :func:`upload_campaign`), the HTTP
``POST /v1/campaigns`` handler from its JSON items (:meth:`CampaignUpload.of_items`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from .. import store
from ..errors import Conflict, InvalidInput

DEFAULT_TAG_PREFIX = "juno-"


@dataclass(frozen=True)
class UploadItem:
    """One constant of a campaign: canonical payload bytes and the IOV they get."""

    record: str
    tag: str
    type_name: str
    since: int
    data: bytes
    schema_version: int = 1
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        return store.sha256_hex(self.data)


@dataclass(frozen=True)
class CampaignUpload:
    """What one upload writes.

    ``tags``: tag -> (payload type, description) to create when missing (an existing tag of
    another type is refused); ``create_missing_tags``: also create the tag of any item whose tag
    does not exist (else such an item is a ``TagNotFound``); ``register_types``: register the
    items' payload types first (the typed types of the fitting jobs).
    """

    name: str
    kind: str
    first_run: int
    last_run: int
    manifest_sha256: str
    items: tuple[UploadItem, ...]
    info: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    create_missing_tags: bool = True
    register_types: bool = False

    @classmethod
    def of_items(
        cls,
        name: str,
        items: Sequence[tuple[str, int, str, bytes, int, Mapping[str, Any]]],
        *,
        kind: str = "upload",
        tags: Mapping[str, tuple[str, str]] | None = None,
    ) -> CampaignUpload:
        """An upload of ``(tag, since, type, canonical bytes, schema version, provenance)``
        items (the HTTP form).  The record of an item is its tag (``tag.since`` when the tag
        appears more than once); the manifest is the SHA-256 of the sorted item list, so the
        same items give the same manifest."""
        if not items:
            raise InvalidInput(f"campaign {name!r} has no items", "give at least one item")
        count: dict[str, int] = {}
        for tag, *_ in items:
            count[tag] = count.get(tag, 0) + 1
        built = tuple(
            UploadItem(
                tag if count[tag] == 1 else f"{tag}.{since}",
                tag,
                type_name,
                since,
                data,
                version,
                dict(prov),
            )
            for tag, since, type_name, data, version, prov in items
        )
        listing = sorted([i.record, i.tag, i.type_name, i.since, i.hash] for i in built)
        manifest = json.dumps({"items": listing, "tags": sorted((tags or {}).items())})
        sinces = [i.since for i in built]
        return cls(
            name=name,
            kind=kind,
            first_run=min(sinces),
            last_run=max(sinces),
            manifest_sha256=hashlib.sha256(manifest.encode()).hexdigest(),
            items=built,
            tags=dict(tags or {}),
            create_missing_tags=False,
        )


@dataclass(frozen=True)
class RecordUpload:
    record: str
    tag: str
    payload_hash: str
    since: int
    new_payload: bool
    new_iov: bool


@dataclass(frozen=True)
class UploadReport:
    campaign: str
    created: bool
    records: list[RecordUpload]
    created_tags: tuple[str, ...] = ()

    @property
    def iovs_added(self) -> int:
        return sum(r.new_iov for r in self.records)

    @property
    def payloads_added(self) -> int:
        return sum(r.new_payload for r in self.records)


def _check(upload: CampaignUpload) -> None:
    store.check_name("campaign", upload.name)
    store.check_run(upload.first_run, "first run")
    store.check_run(upload.last_run, "last run")
    if upload.last_run < upload.first_run:
        raise InvalidInput(f"campaign {upload.name!r} ends before it starts", "check its runs")
    if not upload.items:
        raise InvalidInput(f"campaign {upload.name!r} produced no constants", "check its jobs")
    records = [i.record for i in upload.items]
    for record in records:
        store.check_name("record", record)
    if len(set(records)) != len(records):
        raise InvalidInput(f"campaign {upload.name!r} names a record twice", "one item per record")


def _existing(s: Session, upload: CampaignUpload) -> UploadReport | None:
    """The no-op report if this campaign is already stored with the same constants."""
    stored = store.find_campaign(s, upload.name)
    if stored is None:
        return None
    have = {link.record: (link.payload_hash, link.since) for link in stored.links}
    wanted = {i.record: (i.hash, i.since) for i in upload.items}
    if stored.manifest_sha256 != upload.manifest_sha256 or have != wanted:
        raise Conflict(
            f"campaign {upload.name!r} is already stored with other inputs or constants",
            "give the re-processed campaign a new name (e.g. a -v2 suffix)",
        )
    return UploadReport(
        upload.name,
        False,
        [
            RecordUpload(x.record, x.tag, x.payload_hash, x.since, False, False)
            for x in stored.links
        ],
    )


def _ensure_tags(s: Session, upload: CampaignUpload) -> list[str]:
    """Create the declared tags that are missing (and refuse declared tags of another type)."""
    created = []
    for name, (type_name, description) in upload.tags.items():
        existing = store.find_tag(s, name)
        if existing is None:
            store.create_tag(s, name, type_name, description, exist_ok=True)
            created.append(name)
        elif existing.type_name != type_name:
            raise InvalidInput(
                f"tag {name!r} exists with type {existing.type_name!r}, not {type_name!r}",
                "use another tag name",
            )
    return created


def upload(
    s: Session,
    upload: CampaignUpload,
    *,
    uploaded_by: str | None = None,
    max_payload_bytes: int = store.DEFAULT_MAX_PAYLOAD_BYTES,
) -> UploadReport:
    """Store every payload of ``upload`` with its IOV and the campaign record, in ``s``'s
    transaction (the caller commits; any error leaves nothing behind)."""
    _check(upload)
    store.lock_campaign(s, upload.name)
    done = _existing(s, upload)
    if done is not None:
        return done
    created_tags = _ensure_tags(s, upload)
    extra = {"campaign": upload.name}
    if uploaded_by is not None:
        extra["uploaded_by"] = uploaded_by  # the authenticated name, never the client's
    puts: dict[str, store.PutResult] = {}
    per_tag: dict[str, list[UploadItem]] = {}
    for item in upload.items:
        if upload.register_types:
            store.register_payload_type(s, item.type_name)
        puts[item.record] = store.put_payload(
            s,
            item.type_name,
            item.data,
            schema_version=item.schema_version,
            provenance={**item.provenance, **extra},
            max_bytes=max_payload_bytes,
        )
        if upload.create_missing_tags and store.find_tag(s, item.tag) is None:
            store.create_tag(
                s,
                item.tag,
                item.type_name,
                f"{item.record} from calibration campaigns",
                exist_ok=True,
            )
            created_tags.append(item.tag)
        per_tag.setdefault(item.tag, []).append(item)
    records: list[RecordUpload] = []
    links: list[tuple[str, str, int, int]] = []
    for tag, items in per_tag.items():
        appended = store.append_iovs(s, tag, [(i.since, puts[i.record].hash) for i in items])
        tag_id = store.get_tag(s, tag).id
        for i in items:
            put = puts[i.record]
            records.append(
                RecordUpload(
                    i.record, tag, put.hash, i.since, put.created, i.since in appended.added_sinces
                )
            )
            links.append((i.record, put.hash, tag_id, i.since))
    info = dict(upload.info)
    if uploaded_by is not None:
        info.setdefault("uploaded_by", uploaded_by)
    store.add_campaign(
        s,
        name=upload.name,
        kind=upload.kind,
        first_run=upload.first_run,
        last_run=upload.last_run,
        manifest_sha256=upload.manifest_sha256,
        info=info,
        links=links,
    )
    order = {i.record: n for n, i in enumerate(upload.items)}
    records.sort(key=lambda r: order[r.record])
    return UploadReport(upload.name, True, records, tuple(created_tags))


# --- the CLI form: typed payloads of the fitting jobs --------------------------------------------
@dataclass(frozen=True)
class CampaignConstants:
    """The output of a campaign's fitting jobs, ready to upload."""

    name: str
    kind: str
    first_run: int
    last_run: int
    manifest_sha256: str
    #: record -> (typed payload, provenance)
    payloads: dict[str, tuple[BaseModel, dict[str, Any]]]
    #: runs, input files and their SHA-256, code version, settings
    info: dict[str, Any] = field(default_factory=dict)


def tag_for(record: str, prefix: str = DEFAULT_TAG_PREFIX) -> str:
    return f"{prefix}{record}"


def plan_upload(
    constants: CampaignConstants, prefix: str = DEFAULT_TAG_PREFIX
) -> list[tuple[str, str, str, int, bytes, int]]:
    """(record, tag, type, since, canonical bytes, schema version) of each payload to write."""
    from ..payloads import encode_payload, type_of  # the service starts without the payload models

    rows = []
    for record, (model, _prov) in sorted(constants.payloads.items()):
        store.check_name("record", record)
        type_name, version = type_of(model)
        rows.append(
            (
                record,
                tag_for(record, prefix),
                type_name,
                constants.first_run,
                encode_payload(model),
                version,
            )
        )
    return rows


def from_constants(
    constants: CampaignConstants, tag_prefix: str = DEFAULT_TAG_PREFIX
) -> CampaignUpload:
    """The :class:`CampaignUpload` of a campaign's typed constants: one IOV per record at the
    campaign's first run, in tag ``<prefix><record>`` (created if missing)."""
    items: Iterable[UploadItem] = (
        UploadItem(record, tag, type_name, since, data, version, constants.payloads[record][1])
        for record, tag, type_name, since, data, version in plan_upload(constants, tag_prefix)
    )
    return CampaignUpload(
        name=constants.name,
        kind=constants.kind,
        first_run=constants.first_run,
        last_run=constants.last_run,
        manifest_sha256=constants.manifest_sha256,
        items=tuple(items),
        info=constants.info,
        register_types=True,
    )


def upload_campaign(
    s: Session,
    constants: CampaignConstants,
    *,
    tag_prefix: str = DEFAULT_TAG_PREFIX,
    max_payload_bytes: int = store.DEFAULT_MAX_PAYLOAD_BYTES,
    uploaded_by: str | None = None,
) -> UploadReport:
    """:func:`upload` of a campaign's typed constants (see :func:`from_constants`)."""
    return upload(
        s,
        from_constants(constants, tag_prefix),
        uploaded_by=uploaded_by,
        max_payload_bytes=max_payload_bytes,
    )
