"""Python client of the conditions service for reconstruction jobs.

    client = ConditionsClient("http://conddb.example:8080", cache_dir="~/.cache/conddb")
    scale = client.energy_scale("JUNO-2026-v1", run=1234)   # conditions.energy.EnergyScale
    e = scale.reconstruct(pe, x, y, z)

On-disk cache (``cache_dir``):

* ``payloads/<h[:2]>/<h>``: payload bytes by hash, written atomically (temp file + rename) after
  their SHA-256 has been checked, and checked again when read back.  Payloads are immutable, so
  a restarted job, or another job on the same node, fetches nothing again.
* ``resolutions/<key>.json``: lookup answers with their ETag.  Under a frozen global tag the
  answer never changes and is reused without any request; under an open one it is revalidated
  with ``If-None-Match`` (``304 Not Modified`` costs no body).

Segments in memory: every answer holds, per record, the bounds of its IOV, so it holds for the
whole *segment* where all of them overlap (first = the greatest ``since``, last = the smallest
``until``).  :meth:`ConditionsClient.resolve` answers a run inside a known segment from memory,
and ``client.prefetch(gt, runs=range(a, b + 1))`` learns every segment of a run range with one
batch request (``GET /v1/resolve/{gt}?first=a&last=b``): a job that resolves thousands of runs,
or thousands of jobs behind one HTTP cache, send one request, not thousands.  Segments of a
frozen global tag are kept for good (learnt from any answer); those of an open one only when
prefetched, and only while the batch answer's ``max-age`` lasts (the staleness an HTTP cache
allows): a plain ``resolve`` under an open global tag still revalidates, so it sees a new IOV
at once.

Errors come back as the same typed errors as the library's (:mod:`conditions.errors`), built
from the service's JSON error body; a service that cannot be reached after ``retries`` attempts
raises :class:`ServiceUnavailable`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from conditions import errors
from conditions.iov import Resolution, ResolvedIOV
from conditions.lru import LRU
from conditions.states import Deprecation, check_required_state

from . import wire

if TYPE_CHECKING:
    from conditions.energy import EnergyScale, OutsideMap, OutsideRange


class ServiceUnavailable(errors.ConddbError):
    """The service could not be reached (or answered 5xx) after every retry."""

    http_status = 503


class DeprecatedGlobalTag(UserWarning):
    """An answer came from an ``invalid`` global tag (issued once per global tag and client)."""


class ServiceError(errors.ConddbError):
    """An error status of the service without a known error type."""


def _error_class(name: str, status: int) -> type[errors.ConddbError]:
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, errors.ConddbError):
        return found
    if name in ("Unauthorized", "Forbidden"):
        from .auth import Forbidden, Unauthorized

        return Unauthorized if name == "Unauthorized" else Forbidden
    by_status: dict[int, type[errors.ConddbError]] = {
        404: errors.NotFound,
        409: errors.Conflict,
        413: errors.PayloadTooLarge,
        422: errors.InvalidInput,
    }
    return by_status.get(status, ServiceError)


def raise_for_error(response: httpx.Response) -> None:
    """Raise the typed error described by an error response (no-op for 2xx and 304)."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
        name, message, hint = body["error"], body["message"], body.get("hint", "")
    except (ValueError, KeyError, TypeError):
        name, message, hint = "", f"HTTP {response.status_code}: {response.text[:200]}", ""
    if response.status_code >= 500:
        raise ServiceUnavailable(message, hint or "retry later")
    cls = _error_class(name, response.status_code)
    exc = cls(message, hint)
    if cls is ServiceError:
        exc.http_status = response.status_code
    raise exc


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age=(\d+)")

#: Runs per batch request of :meth:`ConditionsClient.prefetch` (the service's default
#: ``CONDDB_MAX_BATCH_RUNS``).
PREFETCH_CHUNK = 10_000


def fresh_for(response: httpx.Response, frozen: bool) -> float:
    """Seconds an answer may be reused without asking: forever under a frozen global tag, else
    the response's ``max-age`` (0 without one, ``no-cache`` or ``no-store``)."""
    if frozen:
        return math.inf
    control = response.headers.get("cache-control", "")
    found = _MAX_AGE.search(control)
    if found is None or "no-cache" in control or "no-store" in control:
        return 0.0
    return float(found.group(1))


@dataclass(frozen=True)
class KnownSegment:
    """Runs ``first``..``last`` (None: open-ended) resolve to ``records`` until ``expires``
    (``time.monotonic()`` seconds; inf: frozen global tag)."""

    first: int
    last: int | None
    records: Mapping[str, ResolvedIOV]
    frozen: bool
    expires: float

    def covers(self, run: int) -> bool:
        return self.first <= run and (self.last is None or run <= self.last)


def segment_of(records: Mapping[str, ResolvedIOV]) -> tuple[int, int | None]:
    """The runs over which every record keeps its IOV: (greatest since, smallest until)."""
    first = max(r.since for r in records.values())
    untils = [r.until for r in records.values() if r.until is not None]
    return first, min(untils) if untils else None


class Segments:
    """Known segments of one (global tag, record filter), sorted by first run, never overlapping
    (a newer answer replaces the segments it overlaps)."""

    def __init__(self) -> None:
        self._firsts: list[int] = []
        self._segments: list[KnownSegment] = []

    def __len__(self) -> int:
        return len(self._segments)

    def find(self, run: int, now: float) -> KnownSegment | None:
        k = bisect.bisect_right(self._firsts, run) - 1
        if k < 0 or not self._segments[k].covers(run):
            return None
        seg = self._segments[k]
        if now >= seg.expires:
            del self._firsts[k], self._segments[k]
            return None
        return seg

    def add(self, seg: KnownSegment) -> None:
        lo = bisect.bisect_right(self._firsts, seg.first) - 1
        if lo < 0 or not self._segments[lo].covers(seg.first):
            lo += 1  # the segment before does not reach into the new one
        hi = len(self._firsts) if seg.last is None else bisect.bisect_right(self._firsts, seg.last)
        self._firsts[lo:hi] = [seg.first]
        self._segments[lo:hi] = [seg]


class ConditionsClient:
    """Resolve and fetch conditions over HTTP with an on-disk cache by payload hash.

    Parameters
    ----------
    url : str
        Base URL of the service (or of the HTTP cache in front of it).
    cache_dir : path, optional
        Folder of the on-disk cache (created); None keeps everything in memory only.
    token : str, optional
        Bearer token for the write methods.
    timeout : float
        Seconds per request.
    retries : int
        Attempts per request on connection errors and 5xx (exponential back-off from 0.2 s).
    memory_bytes : int
        Bound of the in-memory payload cache [bytes] (least recently used payloads go first).
    """

    def __init__(
        self,
        url: str,
        cache_dir: str | Path | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        memory_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.url = url.rstrip("/")
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.retries = max(1, retries)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers=headers, transport=transport
        )
        # payload bytes in memory: an LRU bounded by total size (was an unbounded dict)
        self._memory: LRU[bytes] = LRU(100_000, memory_bytes)
        #: HTTP requests sent, and how many of them came back 304 (for tests and monitoring)
        self.requests = 0
        self.not_modified = 0
        #: (global tag, record) -> segments learnt from answers (see the module docstring)
        self._segments: dict[tuple[str, str | None], Segments] = {}
        #: global tag -> its deprecation, for every invalid global tag an answer came from
        #: (a :class:`DeprecatedGlobalTag` warning is issued once per global tag)
        self.deprecations: dict[str, Deprecation] = {}

    # -- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConditionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        delay = 0.2
        for attempt in range(self.retries):
            try:
                self.requests += 1
                response = self._http.request(
                    method, path, params=params, headers=headers, **kwargs
                )
            except httpx.TransportError as exc:
                if attempt + 1 == self.retries:
                    raise ServiceUnavailable(
                        f"cannot reach the conditions service at {self.url} ({exc})",
                        "check the URL and that the service is running",
                    ) from None
            else:
                if response.status_code < 500 or attempt + 1 == self.retries:
                    raise_for_error(response)
                    return response
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # -- payloads ------------------------------------------------------------------------------
    def _payload_path(self, payload_hash: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / "payloads" / payload_hash[:2] / payload_hash

    def payload(self, payload_hash: str) -> bytes:
        """Canonical bytes of a payload: from memory, the disk cache, else the service.

        The bytes are checked against their SHA-256 before they are used or cached.
        """
        data = self._memory.get(payload_hash)
        if data is not None:
            return data
        path = self._payload_path(payload_hash)
        if path is not None and path.exists():
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == payload_hash:
                self._memory.put(payload_hash, data, len(data))
                return data
            path.unlink(missing_ok=True)  # corrupt cache entry: fetch again
        data = self._send("GET", f"/v1/payloads/{payload_hash}").content
        if hashlib.sha256(data).hexdigest() != payload_hash:
            raise errors.InvalidPayload(
                f"bytes fetched for payload {payload_hash} do not hash to it",
                "a cache on the way may be corrupt; retry or report it",
            )
        if path is not None:
            _atomic_write(path, data)
        self._memory.put(payload_hash, data, len(data))
        return data

    def payload_json(self, payload_hash: str) -> Any:
        """The JSON view of a payload (decoded content)."""
        return self._send("GET", f"/v1/payloads/{payload_hash}/json").json()

    # -- lookups -------------------------------------------------------------------------------
    def _cached_get(self, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """GET a lookup, reusing frozen answers and revalidating open ones by ETag; returns the
        body and the seconds it may be reused (:func:`fresh_for`)."""
        params = {k: v for k, v in params.items() if v is not None}
        key = hashlib.sha256(wire.dumps([path, params])).hexdigest()
        file = None if self.cache_dir is None else self.cache_dir / "resolutions" / f"{key}.json"
        entry: dict[str, Any] | None = None
        if file is not None and file.exists():
            try:
                entry = json.loads(file.read_bytes())
            except ValueError:
                entry = None
        if entry is not None and entry["body"].get("frozen"):
            return dict(entry["body"]), math.inf
        headers = {"If-None-Match": entry["etag"]} if entry is not None else None
        response = self._send("GET", path, params=params, headers=headers)
        if response.status_code == 304 and entry is not None:
            self.not_modified += 1
            body = dict(entry["body"])
        else:
            body = dict(response.json())
            if file is not None and response.headers.get("etag"):
                _atomic_write(file, wire.dumps({"etag": response.headers["etag"], "body": body}))
        return body, fresh_for(response, bool(body.get("frozen")))

    def _learn(self, global_tag: str, record: str | None, res: Resolution, seconds: float) -> None:
        """Remember the segment of an answer (as long as it may be reused)."""
        if seconds <= 0 or not res.records or res.as_of is not None:
            return
        first, last = segment_of(res.records)
        seg = KnownSegment(first, last, res.records, res.frozen, time.monotonic() + seconds)
        self._segments.setdefault((global_tag, record), Segments()).add(seg)

    def known(self, global_tag: str, run: int, record: str | None = None) -> Resolution | None:
        """The resolution of ``run`` from a known, still fresh segment (no request), or None."""
        now = time.monotonic()
        for key in ((global_tag, record), (global_tag, None)):
            segments = self._segments.get(key)
            seg = None if segments is None else segments.find(run, now)
            if seg is None or (record is not None and record not in seg.records):
                continue
            recs = seg.records if record is None else {record: seg.records[record]}
            dep = self.deprecations.get(global_tag)
            return Resolution(global_tag, run, None, seg.frozen, recs, dep)
        return None

    def prefetch(
        self,
        global_tag: str,
        runs: range | tuple[int, int],
        *,
        record: str | None = None,
    ) -> int:
        """Learn the segments covering a run range with one batch request (one per
        :data:`PREFETCH_CHUNK` runs); later :meth:`resolve` calls inside them send nothing.

        ``runs``: a ``range`` (step 1) or ``(first, last)``, both inclusive.  Returns the number
        of segments known for the global tag afterwards.  A run not covered by every record
        raises the service's error (``RunNotCovered``), like :meth:`resolve_many`.
        """
        if isinstance(runs, range):
            if runs.step != 1:
                raise errors.InvalidInput("prefetch takes a range of step 1", "e.g. range(a, b)")
            if not runs:
                return len(self._segments.get((global_tag, record), ()))
            first, last = runs.start, runs.stop - 1
        else:
            first, last = (int(r) for r in runs)
        if last < first:
            raise errors.InvalidInput(f"last run {last} is before first run {first}", "swap them")
        start = first
        while start <= last:
            stop = min(last, start + PREFETCH_CHUNK - 1)
            params = {"first": start, "last": stop, "record": record}
            self._batch(global_tag, params, None, keep_open=True)
            start = stop + 1
        return len(self._segments.get((global_tag, record), ()))

    def _batch(
        self,
        global_tag: str,
        params: dict[str, Any],
        wanted: list[int] | None,
        *,
        keep_open: bool = False,
    ) -> dict[int, Resolution]:
        """One batch lookup; its segments are learnt (open global tag: if ``keep_open``);
        returns the resolutions of the runs ``wanted``."""
        body, seconds = self._cached_get(f"/v1/resolve/{global_tag}", params)
        as_of = wire.parse_time(body.get("as_of"))
        frozen = bool(body["frozen"])
        deprecation = Deprecation.from_json(body.get("deprecation"))
        self._note(deprecation)
        if not (frozen or keep_open):
            seconds = 0.0
        segments = body["segments"]
        record = params.get("record")
        if as_of is None and seconds > 0:
            for seg in segments:
                first = int(seg["first_run"])
                res = wire.segments_from_json(
                    global_tag, None, frozen, [seg], [first], deprecation
                )
                self._learn(global_tag, record, res[first], seconds)
        if wanted is None:
            return {}
        return wire.segments_from_json(
            body["global_tag"], as_of, frozen, segments, wanted, deprecation
        )

    def resolve(
        self,
        global_tag: str,
        run: int,
        *,
        record: str | None = None,
        as_of: dt.datetime | None = None,
        require: str | None = None,
    ) -> Resolution:
        """The payload of each record of ``global_tag`` for ``run`` (see conditions.resolve);
        ``require="published"`` refuses any other global tag (issue 18).  A run inside a known
        segment (module docstring) is answered from memory."""
        result = None if as_of is not None else self.known(global_tag, int(run), record)
        if result is None:
            body, seconds = self._cached_get(
                f"/v1/resolve/{global_tag}/{int(run)}",
                {"record": record, "as_of": wire.fmt_time(as_of)},
            )
            result = wire.resolution_from_json(body)
            self._learn(global_tag, record, result, seconds if result.frozen else 0.0)
        check_required_state(result, require, global_tag)  # an invalid one is refused too
        self._note(result.deprecation)
        return result

    def _note(self, deprecation: Deprecation | None) -> None:
        """Warn once per invalid global tag (the answers carry ``deprecation`` too)."""
        if deprecation is not None and deprecation.global_tag not in self.deprecations:
            self.deprecations[deprecation.global_tag] = deprecation
            warnings.warn(deprecation.message(), DeprecatedGlobalTag, stacklevel=3)

    def resolve_many(
        self,
        global_tag: str,
        runs: Iterable[int],
        *,
        record: str | None = None,
        as_of: dt.datetime | None = None,
    ) -> dict[int, Resolution]:
        """Resolve many runs with one request per contiguous range (runs are deduplicated)."""
        wanted = sorted({int(r) for r in runs})
        if not wanted:
            return {}
        contiguous = wanted[-1] - wanted[0] + 1 == len(wanted)
        params: dict[str, Any] = {"record": record, "as_of": wire.fmt_time(as_of)}
        if contiguous:
            params.update(first=wanted[0], last=wanted[-1])
        else:
            params["runs"] = ",".join(map(str, wanted))
        return self._batch(global_tag, params, wanted)

    def energy_scale(
        self,
        global_tag: str,
        run: int,
        *,
        outside_map: OutsideMap = "nan",
        outside_range: OutsideRange = "nan",
    ) -> EnergyScale:
        """The :class:`~conditions.energy.EnergyScale` of ``run`` under ``global_tag``
        (Eq. 3.3 and 2.4 with the payloads the service resolves; built once per set of hashes)."""
        from conditions.energy import EnergyScale

        res = self.resolve(global_tag, run)
        return EnergyScale.from_resolved(
            res.records, self.payload, outside_map=outside_map, outside_range=outside_range
        )

    # -- writes (need a token) -------------------------------------------------------------------
    def post(self, path: str, body: Any = None, *, method: str = "POST") -> dict[str, Any]:
        """Send a JSON write request; returns the JSON answer or raises the typed error."""
        result: dict[str, Any] = self._send(method, path, json=body).json()
        return result

    def put_document(
        self, type_name: str, document: Any, provenance: dict[str, Any] | None = None
    ) -> str:
        """Upload a payload document; returns its hash."""
        body = {"type": type_name, "document": document, "provenance": provenance or {}}
        return str(self.post("/v1/payloads", body)["hash"])

    def put_bytes(
        self, type_name: str, data: bytes, provenance: dict[str, Any] | None = None
    ) -> str:
        """Upload canonical payload bytes; returns their hash."""
        headers = {"Content-Type": wire.OCTET_STREAM}
        if provenance:
            headers["X-Conddb-Provenance"] = json.dumps(provenance)
        response = self._send(
            "POST", "/v1/payloads/raw", params={"type": type_name}, headers=headers, content=data
        )
        return str(response.json()["hash"])

    def append_iovs(self, tag: str, iovs: Iterable[tuple[int, str]]) -> dict[str, Any]:
        body = {"iovs": [{"since": s, "payload_hash": h} for s, h in iovs]}
        return self.post(f"/v1/tags/{tag}/iovs", body)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
