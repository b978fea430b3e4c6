"""The mapping between the HSF (NoPayloadDB) vocabulary and ours: pure functions, no I/O.

=====================  =====================================================================
NoPayloadDB            juno-conddb
=====================  =====================================================================
global tag             global tag; status ``unlocked`` = open, ``locked``/``frozen`` = frozen
payload type           payload type (listing) / record of a global tag (in lookups)
payload list           tag (one payload type); attached to a global tag = record -> tag
payload IOV            IOV: ``major_iov = since``, ``minor_iov = 0``, ``major_iov_end`` = the
                       next since (exclusive end) or :data:`MAX_IOV` for the open-ended last one
payload_url            ``<payload type>/<sha256>``
checksum               ``sha256:<hex digest>`` (the ``<algorithm>:<digest>`` of the client)
=====================  =====================================================================

The bounds themselves ("greatest since <= run, until = next since - 1") come from
:func:`conditions.resolve.resolve` and :func:`conditions.store.list_iovs`; this module only
renames them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conditions.errors import InvalidIOV, InvalidPayload
from conditions.store import check_run

#: The "forever" of NoPayloadDB (``sys.maxsize``): end of an open-ended IOV, both coordinates.
MAX_IOV = 2**63 - 1

#: Global-tag statuses of NoPayloadDB, with their ids, and the one we report for each state.
STATUSES = ("unlocked", "locked", "frozen")
STATUS_OF_STATE = {
    "open": "unlocked",
    "testing": "unlocked",
    "validated": "locked",  # map fixed while validated (reopen to change it)
    "published": "frozen",
    "invalid": "frozen",
}

#: Statuses that freeze a global tag (we have one immutable state for both).
FREEZING = frozenset({"locked", "frozen"})

CHECKSUM_RE = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")

#: A payload-IOV id is a handle of (since, payload hash[, explicit end]): an IOV of ours is
#: identified by what it says, not by a row, and an IOV created but not yet attached to a
#: payload list needs no storage.  Layout, from the top: a marker 1, end + 1 (0: none; 64 bits),
#: since (64 bits), the SHA-256 (256 bits); so every id is >= 2**384, far above any row id.
_HASH_SPAN = 2**256
_RUN_SPAN = 2**64


def status_of(state: str) -> str:
    """HSF status of one of our global-tag states (issue 18 lifecycle)."""
    return STATUS_OF_STATE[state]


def payload_url(type_name: str, payload_hash: str) -> str:
    """``<type>/<sha256>``: where a payload lives in the file service and in a file tree."""
    return f"{type_name}/{payload_hash}"


def checksum(payload_hash: str) -> str:
    """The client's checksum of a payload: ``sha256:<hex>`` (our hash is the SHA-256)."""
    return f"sha256:{payload_hash}"


def digest_of(value: str) -> str:
    """The lowercase hex SHA-256 named by a client checksum ``sha256:<hex>``."""
    match = CHECKSUM_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidPayload(
            f"checksum {value!r} is not of the form sha256:<64 hex digits>",
            "send the checksum returned by upload_payload",
        )
    return match.group(1).lower()


@dataclass(frozen=True)
class PayloadKey:
    """A parsed ``<type>/<name>`` key of the file service; ``name`` may be the SHA-256."""

    type_name: str
    name: str

    @property
    def digest(self) -> str | None:
        return self.name if HEX64_RE.match(self.name) else None


def parse_key(key: str) -> PayloadKey:
    """``<type>/<name>`` -> :class:`PayloadKey` (exactly two non-empty segments)."""
    parts = key.split("/")
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise InvalidPayload(
            f"payload key {key!r} is not <payload type>/<name>",
            "upload to /upload/<payload type>/<sha256 of the bytes>",
        )
    return PayloadKey(parts[0], parts[1])


def iov_end(until: int | None) -> tuple[int, int]:
    """``(major_iov_end, minor_iov_end)`` of an IOV whose last run is ``until`` (inclusive).

    HSF ends are exclusive points: the next since with minor 0, or (MAX, MAX) when open-ended.
    """
    return (MAX_IOV, MAX_IOV) if until is None else (until + 1, 0)


def check_start(major_iov: int, minor_iov: int) -> int:
    """The since of an HSF IOV start ``(major, 0)``; a sub-run start cannot be represented."""
    check_run(major_iov, "major_iov")
    if minor_iov != 0:
        raise InvalidIOV(
            f"minor_iov {minor_iov} is not 0: our IOVs start at whole runs",
            "use major_iov = the first run and minor_iov = 0",
        )
    return major_iov


def check_end(major_end: int | None, minor_end: int | None) -> int | None:
    """The explicit exclusive end run an HSF IOV asks for, or None for open-ended.

    ``major_end = MAX`` (or no end) is open-ended; any other end must be ``(run, 0)`` and is
    accepted only where it equals the next since of the payload list (see
    :func:`check_end_fits`).
    """
    if major_end is None and minor_end is None:
        return None
    if major_end == MAX_IOV:
        return None
    if major_end is None or minor_end not in (None, 0):
        raise InvalidIOV(
            f"IOV end ({major_end}, {minor_end}) cannot be represented: our IOVs end at whole runs",
            "omit major_iov_end/minor_iov_end (an IOV lasts until the next one starts)",
        )
    return major_end


def check_end_fits(since: int, end: int | None, next_since: int | None) -> None:
    """Refuse an explicit end unless it is where the IOV ends anyway (the next since)."""
    if end is None or end == next_since:
        return
    where = "is open-ended" if next_since is None else f"ends at the next since {next_since}"
    raise InvalidIOV(
        f"explicit IOV end {end} for since {since} cannot be represented: in a since-only tag "
        f"this IOV {where}",
        "omit major_iov_end (an IOV lasts until the next one starts) or start a new IOV at the end",
    )


@dataclass(frozen=True)
class IOVHandle:
    """What a payload-IOV id stands for: since, payload hash, the explicit end if one was asked."""

    since: int
    payload_hash: str
    end: int | None = None

    def encode(self) -> int:
        end_code = 0 if self.end is None else self.end + 1
        head = (1 * _RUN_SPAN + end_code) * _RUN_SPAN + self.since
        return head * _HASH_SPAN + int(self.payload_hash, 16)

    @classmethod
    def decode(cls, value: object) -> IOVHandle:
        """The handle an id names; ids this service never gave out are refused."""
        if not isinstance(value, bool) and isinstance(value, int) and value > 0:
            head, digest = divmod(value, _HASH_SPAN)
            rest, since = divmod(head, _RUN_SPAN)
            marker, end_code = divmod(rest, _RUN_SPAN)
            if marker == 1 and since <= MAX_IOV and end_code <= MAX_IOV + 1:
                return cls(since, f"{digest:064x}", None if end_code == 0 else end_code - 1)
        raise InvalidIOV(
            f"payload IOV id {value!r} is not one this service gave out",
            "use the id returned by create_payload_iov",
        )
