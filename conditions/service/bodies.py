"""Request bodies of the write API (pydantic, frozen, no extra fields)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PayloadIn(_Body):
    """A payload as a JSON document (typed types: their schema; other types: any JSON)."""

    type: str = Field(description="payload type name")
    document: Any = Field(description="the content (`GET /v1/schemas/{type}` for typed types)")
    provenance: dict[str, Any] = Field(default_factory=dict, description="job, code, inputs...")


class TypeIn(_Body):
    name: str
    description: str = ""


class TagIn(_Body):
    name: str
    type: str = Field(description="payload type of the tag")
    description: str = ""


class IOVIn(_Body):
    since: int = Field(description="first valid run (inclusive)")
    payload_hash: str = Field(description="full hash of a stored payload of the tag's type")


class IOVsIn(_Body):
    iovs: list[IOVIn] = Field(description="appended in one transaction")


class GlobalTagIn(_Body):
    name: str
    description: str = ""


class RecordIn(_Body):
    tag: str = Field(description="tag the record points to")


class FreezeIn(_Body):
    snapshot_time: dt.datetime | None = Field(
        default=None, description="resolve as of this time forever (default: now)"
    )


class CloneIn(_Body):
    destination: str
    description: str = ""


class CampaignItem(_Body):
    """One payload of a campaign and the IOV it gets: a document or canonical bytes (base64)."""

    tag: str
    since: int
    type: str
    document: Any = None
    data_base64: str | None = Field(default=None, description="canonical bytes, base64")
    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> CampaignItem:
        if (self.document is None) == (self.data_base64 is None):
            raise ValueError("give exactly one of document and data_base64")
        return self


class CampaignIn(_Body):
    """A campaign upload: tags created if missing, payloads stored, IOVs appended, atomically."""

    campaign: str = Field(description="campaign name, recorded in every payload's provenance")
    create_tags: list[TagIn] = Field(default_factory=list)
    items: list[CampaignItem] = Field(min_length=1)
