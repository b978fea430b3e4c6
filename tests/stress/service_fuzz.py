"""Hypothesis-driven fuzzing of the conditions service from its OpenAPI document.

Two requests in three are built to be VALID (:func:`valid_strategy`: real tokens of the right role,
existing tags / global tags / payload hashes of the right type, fresh names, canonical payloads;
one in six of them slightly spoiled), so the real code paths of every write are reached; the
others follow the OpenAPI document.  Every operation of ``/openapi.json`` gets requests built
from its parameter and body schemas:
names drawn from the seeded database, SQL-injection strings, random text, extreme integers,
bodies that follow the schema, miss required fields, carry extra ones, have wrong types, or are
not JSON at all; and every kind of ``Authorization`` header (none, reader, uploader, admin,
revoked, garbage).  After each request the checks are: status < 500, no traceback in the body
or the service's log, and — for a rejected request (status >= 400) — no change of the database
(row counts of every table, tag and global-tag states).

CI runs a few hundred requests (tests/integration/test_hostile_input.py); the long run:

    .venv/bin/python -m tests.stress.service_fuzz --db sqlite:///tmp/fuzz.sqlite --requests 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from conditions import migrate, store
from conditions.db import make_engine, read_session, write_session
from conditions.documents import typed_types
from conditions.model import (
    GlobalTag,
    Tag,
)
from conditions.payloads import encode_payload, examples
from conditions.service.auth import Role, add_token, revoke_token
from conditions.service.testing import running_service
from tests.conftest import row_counts
from tests.support.lifecycle import publish

INJECTIONS = [
    "x'; DROP TABLE tag; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM iov",
    "G' UNION SELECT hash FROM payload --",
    "%' --",
    "../../etc/passwd",
    "%00",
    "<script>alert(1)</script>",
    "{{7*7}}",
]
NAMES = ["t0", "tl", "G", "GF", "a", "json", "light_yield", "dark_noise", "new-tag", "x" * 101]
PAYLOAD_LIMIT = 64 * 1024  # [bytes] max_payload_bytes of the fuzzed service


@dataclass
class FuzzStats:
    """Figures of one fuzzing run."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    tracebacks: int = 0
    rejected: int = 0
    rejected_writes: int = 0
    valid_generated: int = 0  # requests built to be valid (the rest follow/break the schema)
    accepted: int = 0  # status < 400
    accepted_valid: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Errors(logging.Handler):
    """Counts log records that carry a traceback or report an error of the service."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.name.startswith(("uvicorn", "conddb.service")):
            self.records.append(record)


def seed_database(url: str) -> dict[str, str]:
    """Schema, types, payloads, an open and a locked tag, an open and a frozen global tag."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        for name in ["json", *sorted(typed_types())]:
            store.register_payload_type(s, name)
        h0 = store.put_payload(s, "json", b'{"v":0}').hash
        ly = store.put_payload(s, "light_yield", encode_payload(examples.light_yield())).hash
        store.create_tag(s, "t0", "json")
        store.append_iovs(s, "t0", [(0, h0)])
        store.create_tag(s, "tl", "json")
        store.append_iovs(s, "tl", [(0, h0)])
        store.lock_tag(s, "tl")
        store.create_tag(s, "tly", "light_yield")
        store.append_iovs(s, "tly", [(0, ly)])
        for gt in ("G", "GF"):
            store.create_global_tag(s, gt)
            store.set_record(s, gt, "a", "t0")
        publish(s, "GF")
    engine.dispose()
    return {"h0": h0, "ly": ly}


def database_state(engine: Any) -> tuple[Any, ...]:
    """Row counts of every table plus tag and global-tag states: a rejected request's footprint."""
    with read_session(engine) as s:
        counts = tuple(row_counts(engine).items())
        tags = tuple(s.execute(select(Tag.name, Tag.state).order_by(Tag.name)).tuples())
        gts = tuple(
            s.execute(select(GlobalTag.name, GlobalTag.state).order_by(GlobalTag.name)).tuples()
        )
    return counts, tags, gts


def _strings(hashes: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NAMES + hashes + [h[:12] for h in hashes]),
        st.sampled_from(INJECTIONS),
        st.text(max_size=30),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True),
        st.sampled_from(["2026-01-01T00:00:00Z", "2030-01-01", "yesterday", "", "1,2,3", "5-9"]),
    )


INTEGERS = st.one_of(
    st.integers(-5, 50),
    st.sampled_from([2**31, 2**63 - 1, 2**63, -(2**63), 10**30]),
    st.integers(),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | INTEGERS | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _from_schema(
    schema: dict[str, Any], spec: dict[str, Any], strings: Any, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values that mostly follow ``schema`` (a small subset of JSON Schema), sometimes not."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _from_schema(spec["components"]["schemas"][name], spec, strings, depth)
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, spec, strings, depth) for s in schema["anyOf"]])
    kind = schema.get("type")
    if depth > 4:
        return st.none()
    if kind == "object":
        props = schema.get("properties", {})
        if not props:  # free-form document: any JSON, or a valid typed document
            docs = [
                m.model_dump(mode="json")
                for r, m in examples.all_payloads().items()
                if r != "lpmt_nonlinearity"
            ]
            return st.one_of(ANY_JSON, st.sampled_from(docs))
        required = set(schema.get("required", []))
        fields = {k: _from_schema(v, spec, strings, depth + 1) for k, v in props.items()}

        @st.composite
        def obj(draw: st.DrawFn) -> dict[str, Any]:
            out = {}
            for key, strat in fields.items():
                if key in required or draw(st.booleans()):
                    out[key] = draw(strat)
            return out

        return obj()
    if kind == "array":
        items = _from_schema(schema.get("items", {}), spec, strings, depth + 1)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=3)
    if kind == "string":
        return strings
    if kind == "integer":
        return INTEGERS
    if kind == "number":
        return st.floats()
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return ANY_JSON


def _mutate(draw: st.DrawFn, body: Any) -> Any:
    """Sometimes break a schema-following body: drop or add a key, change a value's type."""
    choice = draw(st.integers(0, 9))
    if choice >= 6 or not isinstance(body, dict):
        return body
    if choice == 0:
        return draw(ANY_JSON)
    if choice in (1, 2) and body:
        body = dict(body)
        body.pop(draw(st.sampled_from(sorted(body))))
    elif choice == 3:
        body = {**body, draw(st.text(max_size=8)): draw(ANY_JSON)}
    elif choice in (4, 5) and body:
        body = {**body, draw(st.sampled_from(sorted(body))): draw(ANY_JSON)}
    return body


@dataclass(frozen=True)
class Request:
    operation: str
    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes | None
    valid: bool = False  # built by :func:`valid_strategy` to be accepted
    effect: tuple[str, ...] = ()  # how the world changes when it is accepted


@dataclass
class World:
    """What the fuzzer knows the service holds, so that valid writes use real names: tags with
    their type and state, global tags with their state, payload hashes by type."""

    tags: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (type, locked)
    gts: dict[str, bool] = field(default_factory=dict)  # name -> frozen
    payloads: dict[str, list[str]] = field(default_factory=dict)  # type -> hashes
    made: int = 0

    def fresh(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}-{self.made}"

    def apply(self, effect: tuple[str, ...], answer: Any) -> None:
        kind, *args = effect
        if kind == "payload" and isinstance(answer, dict) and "hash" in answer:
            hashes = self.payloads.setdefault(args[0], [])
            if answer["hash"] not in hashes:
                hashes.append(answer["hash"])
        elif kind == "tag":
            self.tags[args[0]] = (args[1], False)
        elif kind == "lock":
            self.tags[args[0]] = (self.tags[args[0]][0], True)
        elif kind == "gt":
            self.gts[args[0]] = False
        elif kind == "freeze":
            self.gts[args[0]] = True


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


KINDS = (
    "doc", "doc", "typed", "raw", "tag", "iov", "iov", "iov", "gt", "record",
    "clone", "campaign", "lock", "freeze", "resolve", "read_tag",
)  # fmt: skip


def valid_strategy(world: World, tokens: dict[str, str]) -> st.SearchStrategy[Request]:
    """Requests built to be accepted: the right role, existing names, fresh names where a new
    object is made, canonical payloads of the right type; one in six is made slightly wrong
    (a locked tag, a frozen global tag, a payload of another type, a negative since...) so that
    the refusals deep in the use cases are reached too.

    The same fixed set of values is drawn every time and the request is then built from them and
    the :class:`World` in plain Python, so the draws do not depend on the service's state."""
    ly = examples.light_yield().model_dump(mode="json")
    primitives = st.tuples(
        st.integers(0, 5),
        st.sampled_from(KINDS),
        st.lists(st.integers(0, 2**31), min_size=8, max_size=8),
        st.text(max_size=12),
        st.floats(1000, 2000),
        st.floats(0.1, 5),
        st.integers(-(2**53), 2**53),
    )
    return primitives.map(lambda p: _valid_request(world, tokens, ly, *p))


def _valid_request(
    world: World,
    tokens: dict[str, str],
    ly: dict[str, Any],
    spoil_draw: int,
    kind: str,
    n: list[int],
    text: str,
    y0: float,
    y0_err: float,
    big: int,
) -> Request:
    spoil = spoil_draw == 0

    def pick(options: Any, i: int) -> Any:
        options = list(options)
        return options[n[i] % len(options)]

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}", "Content-Type": "application/json"}

    def q(name: str) -> str:
        return quote(name, safe="")

    open_tags = sorted(t for t, (_ty, locked) in world.tags.items() if not locked)
    open_gts = sorted(g for g, frozen in world.gts.items() if not frozen)
    if kind == "doc":
        body: dict[str, Any] = {"type": "json", "document": {"v": big, "k": text}}
        if spoil:
            body["type"] = pick(["light_yield", "nosuch", "json\n"], 0)
        return Request("valid POST /v1/payloads", "POST", "/v1/payloads", {}, auth("uploader"),
                       _json(body), True, ("payload", "json"))  # fmt: skip
    if kind == "typed":
        doc = {**ly, "y0": y0, "y0_uncertainty": y0_err}
        if spoil:
            doc["y0"] = pick([-1.0, "1345", True, 2**80], 0)
        return Request("valid POST /v1/payloads", "POST", "/v1/payloads", {}, auth("uploader"),
                       _json({"type": "light_yield", "document": doc}), True,
                       ("payload", "light_yield"))  # fmt: skip
    if kind == "raw":
        data = json.dumps({"r": n[0]}, separators=(",", ":")).encode()
        if spoil:
            data = data.replace(b":", b": ")  # not canonical
        headers = {**auth("uploader"), "Content-Type": "application/octet-stream"}
        return Request("valid POST /v1/payloads/raw", "POST", "/v1/payloads/raw",
                       {"type": "json"}, headers, data, True, ("payload", "json"))  # fmt: skip
    if kind == "tag" or not open_tags:
        name = world.fresh("fz")
        type_name = pick(["json", "light_yield"], 0)
        if spoil:
            name = pick([*world.tags, name + "\n", "../" + name], 1)
        body = {"name": name, "type": type_name, "description": text}
        return Request("valid POST /v1/tags", "POST", "/v1/tags", {}, auth("uploader"),
                       _json(body), True, ("tag", name, type_name))  # fmt: skip
    if kind == "iov":
        tag = pick(open_tags, 0)
        type_name = world.tags[tag][0]
        hashes = world.payloads.get(type_name) or ["0" * 64]
        iovs = [
            {"since": n[1 + k] % 10**6, "payload_hash": pick(hashes, 4 + k)}
            for k in range(1 + n[7] % 3)
        ]
        if spoil:
            other = "light_yield" if type_name == "json" else "json"
            iovs[-1] = pick(
                [
                    {"since": -1, "payload_hash": hashes[0]},
                    {"since": 2**63, "payload_hash": hashes[0]},
                    {"since": 5, "payload_hash": (world.payloads.get(other) or ["1" * 64])[0]},
                ],
                1,
            )
            if n[2] % 2:
                tag = pick(sorted(world.tags), 3)  # maybe a locked one
        return Request("valid POST /v1/tags/{tag}/iovs", "POST", f"/v1/tags/{q(tag)}/iovs", {},
                       auth("uploader"), _json({"iovs": iovs}), True)  # fmt: skip
    if kind == "gt" or not open_gts:
        name = world.fresh("FZ")
        role = "reader" if spoil else "admin"
        return Request("valid POST /v1/globaltags", "POST", "/v1/globaltags", {}, auth(role),
                       _json({"name": name}), True, ("gt", name))  # fmt: skip
    if kind == "record":
        gt = pick(sorted(world.gts) if spoil else open_gts, 0)
        record = pick(["a", "b", "light_yield", "dark_noise"], 1)
        url = f"/v1/globaltags/{q(gt)}/records/{record}"
        body = {"tag": pick(sorted(world.tags), 2)}
        return Request("valid PUT /v1/globaltags/{gt}/records/{r}", "PUT", url, {},
                       auth("admin"), _json(body), True)  # fmt: skip
    if kind == "clone":
        src = pick(sorted(world.gts), 0)
        dst = pick(sorted(world.gts), 1) if spoil else world.fresh("FZ")
        return Request("valid POST /v1/globaltags/{gt}/clone", "POST",
                       f"/v1/globaltags/{q(src)}/clone", {}, auth("admin"),
                       _json({"destination": dst}), True, ("gt", dst))  # fmt: skip
    if kind == "campaign":
        json_tags = [t for t in open_tags if world.tags[t][0] == "json"] or ["nosuch"]
        name = world.fresh("camp")
        if spoil:
            name = pick(["../../x; DROP", name + "\n", ""], 0)
        items = [{"tag": pick(json_tags, 1), "since": n[2] % 10**6, "type": "json",
                  "document": {"c": n[3]}}]  # fmt: skip
        return Request("valid POST /v1/campaigns", "POST", "/v1/campaigns", {}, auth("uploader"),
                       _json({"campaign": name, "items": items}), True)  # fmt: skip
    if kind == "lock":
        tag = pick(sorted(world.tags) if spoil else open_tags, 0)
        return Request("valid POST /v1/tags/{tag}/lock", "POST", f"/v1/tags/{q(tag)}/lock", {},
                       auth("admin"), None, True, ("lock", tag))  # fmt: skip
    if kind == "freeze":  # well-formed; refused (409) unless validated: freeze = publish (issue 18)
        gt = pick(sorted(world.gts) if spoil else open_gts, 0)
        freeze: dict[str, Any] = {"snapshot_time": "2999-01-01T00:00:00Z"} if spoil else {}
        return Request("valid POST /v1/globaltags/{gt}/freeze", "POST",
                       f"/v1/globaltags/{q(gt)}/freeze", {}, auth("admin"), _json(freeze), True,
                       ("freeze", gt))  # fmt: skip
    if kind == "resolve":
        gt = pick(sorted(world.gts), 0)
        url = f"/v1/resolve/{q(gt)}/{n[1] % 10**6}"
        return Request("valid GET /v1/resolve/{gt}/{run}", "GET", url, {}, auth("reader"), None,
                       True)  # fmt: skip
    tag = pick(sorted(world.tags), 0)
    return Request("valid GET /v1/tags/{tag}", "GET", f"/v1/tags/{q(tag)}", {}, auth("reader"),
                   None, True)  # fmt: skip


def request_strategy(
    spec: dict[str, Any], tokens: dict[str, str], hashes: list[str]
) -> st.SearchStrategy[Request]:
    strings = _strings(hashes)
    operations = [
        (method.upper(), path, op)
        for path, ops in sorted(spec["paths"].items())
        for method, op in sorted(ops.items())
    ]

    @st.composite
    def build(draw: st.DrawFn) -> Request:
        method, path, op = draw(st.sampled_from(operations))
        url = path
        params: dict[str, str] = {}
        headers: dict[str, str] = {}
        for p in op.get("parameters", []):
            value = draw(_from_schema(p.get("schema", {}), spec, strings))
            if draw(st.integers(0, 5)) == 0:
                value = draw(strings)  # wrong type for the parameter
            text = json.dumps(value) if isinstance(value, bool) else str(value)
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", quote(text, safe="") or "%20")
            elif p["in"] == "query" and (p.get("required") or draw(st.booleans())):
                if value is not None:
                    params[p["name"]] = text
            elif p["in"] == "header" and draw(st.booleans()):
                printable = "".join(c for c in text if 32 <= ord(c) < 127).strip()
                if printable:  # a header value cannot be empty or start/end with a space
                    headers[p["name"]] = printable
        auth = draw(
            st.sampled_from(["none", "reader", "uploader", "admin", "admin", "revoked", "garbage"])
        )
        if auth == "garbage":
            headers["Authorization"] = draw(
                st.sampled_from(
                    ["Bearer", "Bearer ' OR 1=1 --", "Basic YWRtaW46YWRtaW4=", "bearer x" * 50]
                )
            )
        elif auth != "none":
            headers["Authorization"] = f"Bearer {tokens[auth]}"
        content: bytes | None = None
        body = op.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            value = _mutate(
                draw, draw(_from_schema(body["application/json"]["schema"], spec, strings))
            )
            try:
                content = json.dumps(value).encode()  # NaN/inf become the invalid NaN token
            except (TypeError, ValueError):
                content = b"{"
            if draw(st.integers(0, 15)) == 0:
                content = draw(st.binary(max_size=64))
            headers["Content-Type"] = "application/json"
        elif "application/octet-stream" in body:
            content = draw(
                st.one_of(
                    st.binary(max_size=256),
                    st.sampled_from(
                        [
                            encode_payload(examples.light_yield()),
                            b'{"v":1}',
                            b"x" * (PAYLOAD_LIMIT + 1),
                        ]
                    ),
                )
            )
            headers["Content-Type"] = "application/octet-stream"
        return Request(f"{method} {path}", method, url, params, headers, content)

    return build()


def fuzz_service(
    url: str,
    workdir: Path,
    *,
    requests: int,
    seed: int = 0,
    raise_on_failure: bool = False,
    progress_every: int = 0,
) -> FuzzStats:
    """Seed the database at ``url``, serve it, send ``requests`` generated requests, count
    (``progress_every``: print the running figures every so many requests)."""
    hashes = list(seed_database(url).values())
    engine = make_engine(url)
    stats = FuzzStats()
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    start = time.monotonic()
    try:
        with (
            running_service(  # no throttling: every fuzzed bad token must reach the code
                url, workdir, max_payload_bytes=PAYLOAD_LIMIT, auth_failures_per_minute=10**9
            ) as svc,
            httpx.Client(base_url=svc.base_url, timeout=60) as http,
        ):
            tokens = dict(svc.tokens)
            tokens["revoked"] = add_token(svc.tokens_file, "revoked", Role.ADMIN)
            revoke_token(svc.tokens_file, "revoked")
            spec = http.get("/openapi.json").json()
            world = World(
                tags={"t0": ("json", False), "tl": ("json", True), "tly": ("light_yield", False)},
                gts={"G": False, "GF": True},
                payloads={"json": [hashes[0]], "light_yield": [hashes[1]]},
            )
            strategy = st.one_of(  # two valid requests for one schema-driven
                valid_strategy(world, tokens),
                valid_strategy(world, tokens),
                request_strategy(spec, tokens, hashes),
            )

            def check(req: Request) -> None:
                before = database_state(engine)
                seen = len(errors.records)
                response = http.request(
                    req.method, req.url, params=req.params, headers=req.headers, content=req.content
                )
                stats.requests += 1
                if progress_every and stats.requests % progress_every == 0:
                    print(summary(stats), flush=True)
                stats.by_status[response.status_code] += 1
                stats.operations[req.operation] += 1
                stats.valid_generated += req.valid
                if response.status_code < 400:
                    stats.accepted += 1
                    stats.accepted_valid += req.valid
                    if req.effect:
                        try:
                            answer = response.json()
                        except ValueError:
                            answer = None
                        world.apply(req.effect, answer)
                problems = []
                if response.status_code >= 500:
                    stats.server_errors += 1
                    problems.append(f"status {response.status_code}")
                if "Traceback" in response.text or len(errors.records) > seen:
                    stats.tracebacks += 1
                    problems.append("traceback")
                if response.status_code >= 400:
                    stats.rejected += 1
                    if database_state(engine) != before:
                        stats.rejected_writes += 1
                        problems.append("rejected request changed the database")
                if problems:
                    text = f"{req} -> {response.status_code} {response.text[:300]}: {problems}"
                    if len(stats.failures) < 10:
                        stats.failures.append(text)
                    if raise_on_failure:
                        raise AssertionError(text)

            phases = [Phase.generate, Phase.shrink] if raise_on_failure else [Phase.generate]
            runner = settings(
                max_examples=requests,
                deadline=None,
                database=None,
                phases=phases,
                suppress_health_check=list(HealthCheck),
            )(given(strategy)(check))
            hypothesis.seed(seed)(runner)()
    finally:
        logging.getLogger().removeHandler(errors)
        engine.dispose()
    stats.seconds = time.monotonic() - start
    return stats


def summary(stats: FuzzStats) -> str:
    """One line of running figures."""
    return (
        f"{stats.requests} requests: accepted {stats.accepted} "
        f"({stats.accepted / max(stats.requests, 1):.1%}), built valid {stats.valid_generated} "
        f"(accepted {stats.accepted_valid}), 5xx {stats.server_errors}, tracebacks "
        f"{stats.tracebacks}, rejected {stats.rejected}, rows from rejected {stats.rejected_writes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/fuzz.sqlite"
        stats = fuzz_service(
            url, Path(tmp), requests=args.requests, seed=args.seed, progress_every=500
        )
    print(
        f"seed {args.seed}  backend {make_engine(url).dialect.name}  "
        f"at {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"
    )
    print(
        f"requests {stats.requests} in {stats.seconds:.1f} s "
        f"({stats.requests / max(stats.seconds, 1e-9):.0f}/s), operations {len(stats.operations)}"
    )
    print("status  " + "  ".join(f"{k}:{v}" for k, v in sorted(stats.by_status.items())))
    print(
        f"accepted {stats.accepted}/{stats.requests} "
        f"({stats.accepted / max(stats.requests, 1):.1%});"
        f" built valid {stats.valid_generated}, of which accepted {stats.accepted_valid} "
        f"({stats.accepted_valid / max(stats.valid_generated, 1):.1%})"
    )
    print(
        f"5xx {stats.server_errors}  tracebacks {stats.tracebacks}  rejected {stats.rejected}  "
        f"rows written by rejected requests {stats.rejected_writes}"
    )
    for failure in stats.failures:
        print("FAIL", failure)


if __name__ == "__main__":
    main()
