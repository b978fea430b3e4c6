"""Configuration of the conditions service, read from the environment (prefix ``CONDDB_``).

===============================  =========================================================  ========
variable                         meaning                                                    default
===============================  =========================================================  ========
CONDDB_URL                       database URL (writes; reads unless a replica is given)     embedded
CONDDB_READ_URL                  optional read-replica URL for GET traffic                  (none)
CONDDB_TOKENS_FILE               hashed bearer tokens, JSON lines (see :mod:`.auth`)        (none)
CONDDB_AUDIT_LOG                 live JSON-lines copy of the audit_log table (best effort)  (none)
CONDDB_FORWARDED_ALLOW_IPS       proxies trusted for X-Forwarded-For (IPs/CIDRs, comma)     (none)
CONDDB_AUTH_FAILURES_PER_MINUTE  failed authentications per client address per minute       60
CONDDB_FROZEN_MAX_AGE            ``max-age`` [s] of lookups under a frozen global tag       86400
CONDDB_OPEN_MAX_AGE              ``max-age`` [s] of lookups under an open global tag        5
CONDDB_LIST_MAX_AGE              ``max-age`` [s] of tag, global-tag, IOV, trend listings    5
CONDDB_SCHEMA_MAX_AGE            ``max-age`` [s] of JSON schemas (change with the code)     300
CONDDB_MAX_PAYLOAD_BYTES         largest payload accepted by the write API [bytes]          64 MiB
CONDDB_MAX_BATCH_RUNS            most runs one batch lookup may span                        10000
CONDDB_PAYLOAD_CACHE_BYTES       in-process cache of payload bytes per worker [bytes]       256 MiB
CONDDB_CHECK_SCHEMA              refuse to start unless the schema is at head               true
===============================  =========================================================  ========

Without a tokens file every write is refused (401): the read API alone is served.  Every write
attempt is recorded in the ``audit_log`` table (:mod:`conditions.services.audit`); without an
audit log file its live copy goes to the ``conddb.audit`` Python logger.  Without
``CONDDB_FORWARDED_ALLOW_IPS`` the client address is the peer of the TCP connection, whatever
``X-Forwarded-For`` says; behind a reverse proxy, name the proxy's address(es) there.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from conditions.store import DEFAULT_MAX_PAYLOAD_BYTES

#: One year [s]: the conventional "forever" of HTTP caches (RFC 9111 recommends at most a year).
ONE_YEAR = 31_536_000


class ServiceSettings(BaseSettings):
    """Settings of one service process (every uvicorn worker reads the same environment)."""

    model_config = SettingsConfigDict(env_prefix="CONDDB_", frozen=True, extra="ignore")

    url: str | None = Field(default=None, description="database URL (None: the embedded SQLite)")
    read_url: str | None = Field(default=None, description="read-replica URL for GET traffic")
    tokens_file: Path | None = Field(default=None, description="hashed tokens, JSON lines")
    audit_log: Path | None = Field(default=None, description="live copy of the audit, JSON lines")
    forwarded_allow_ips: str | None = Field(
        default=None, description="trusted proxy addresses (comma-separated IPs/CIDRs, or *)"
    )
    auth_failures_per_minute: int = Field(
        default=60, gt=0, description="failed authentications per client address per minute"
    )
    frozen_max_age: int = Field(default=86_400, ge=0, description="[s] frozen-GT lookups")
    open_max_age: int = Field(default=5, ge=0, description="[s] open-GT lookups")
    list_max_age: int = Field(default=5, ge=0, description="[s] listings for dashboards")
    schema_max_age: int = Field(default=300, ge=0, description="[s] JSON schemas")
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, gt=0, description="[bytes]")
    max_batch_runs: int = Field(default=10_000, gt=0, description="runs per batch lookup")
    payload_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0, description="[bytes]")
    check_schema: bool = Field(default=True, description="require the head schema revision")
