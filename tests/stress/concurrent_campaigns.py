"""8 writer processes x 8 different campaigns each, uploaded at once into one fresh database.

Every campaign carries the same records (light yield, dark noise, energy non-linearity,
resolution, non-uniformity map), so all writers race to create the payload types and the tags of
the empty database (issue 13 item 7: check-then-insert failed with ``duplicate key ...
"uq_tag_name"``).  The light yield differs per campaign, the other payloads are the same content
in every campaign (one stored row each, shared).  Writer k uploads campaigns ``k*C .. k*C+C-1``,
one transaction each (``services``' upload, what ``conddb campaign run`` calls), since = the
campaign's first run.  Printed: campaigns / IOVs / payloads / links found vs expected,
duplicates, missing, wrong payloads, resolve mismatches, failed uploads, hung writers, wall time.

    createdb -h 127.0.0.1 -U postgres conddb_stress_campaigns
    .venv/bin/python -m tests.stress.concurrent_campaigns \\
        --db postgresql://postgres@127.0.0.1/conddb_stress_campaigns
    .venv/bin/python -m tests.stress.concurrent_campaigns          # a temporary SQLite file
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter

from sqlalchemy import select

from conditions import migrate, store
from conditions.campaign import CampaignConstants, tag_for, upload_campaign
from conditions.db import make_engine, read_session, write_session
from conditions.errors import ConddbError
from conditions.model import IOV, Campaign, CampaignPayload, Payload, PayloadType, Tag
from conditions.payloads import encode_payload, examples
from conditions.resolve import resolve

RUN_STRIDE = 100  # first runs of consecutive campaigns


def campaign(i: int) -> CampaignConstants:
    """Campaign ``i`` (deterministic: every process builds the same one for the same i)."""
    ly = examples.light_yield().model_copy(update={"y0": 1300.0 + 0.25 * i})
    shared = {
        "dark_noise": examples.dark_noise(),
        "energy_nonlinearity": examples.energy_nonlinearity(),
        "energy_resolution": examples.energy_resolution(),
        "nonuniformity_map": examples.nonuniformity_map(),
    }
    payloads = {"light_yield": (ly, {"job": "lightyield", "campaign_index": i})}
    payloads.update({rec: (model, {"job": rec}) for rec, model in shared.items()})
    return CampaignConstants(
        name=f"stress-{i:03d}",
        kind="weekly",
        first_run=1000 + RUN_STRIDE * i,
        last_run=1000 + RUN_STRIDE * i + RUN_STRIDE - 1,
        manifest_sha256=f"{i:064x}",
        payloads=payloads,  # type: ignore[arg-type]
        info={"stress": True},
    )


def _writer(url: str, k: int, per_writer: int, start: float, failures: mp.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)
    while time.time() < start:  # all writers start together
        time.sleep(0.001)
    for j in range(per_writer):
        i = k * per_writer + j
        try:
            with write_session(engine) as s:
                upload_campaign(s, campaign(i))
        except Exception as exc:  # counted and printed by the parent
            failures.put(f"campaign {i}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    engine.dispose()


def check(url: str, n: int) -> dict[str, object]:
    """Compare the store with the union of the n campaigns."""
    expected = {i: campaign(i) for i in range(n)}
    want_iov = {
        (tag_for(rec), c.first_run): store.sha256_hex(encode_payload(model))
        for c in expected.values()
        for rec, (model, _p) in c.payloads.items()
    }
    engine = make_engine(url)
    with read_session(engine) as s:
        iovs = s.execute(
            select(Tag.name, IOV.since, IOV.payload_hash).join(Tag, Tag.id == IOV.tag_id)
        ).all()
        campaigns = list(s.scalars(select(Campaign.name)))
        links = s.execute(select(CampaignPayload.campaign_id, CampaignPayload.record)).all()
        payloads = list(s.scalars(select(Payload.hash)))
        types = list(s.scalars(select(PayloadType.name)))
        tags = list(s.scalars(select(Tag.name)))
    seen = Counter((t, since) for t, since, _h in iovs)
    records = sorted(expected[0].payloads)
    with write_session(engine) as s:  # one global tag over the stress tags, to resolve through
        store.create_global_tag(s, "stress-G")
        for rec in records:
            store.set_record(s, "stress-G", rec, tag_for(rec))
    mismatches = 0
    for c in expected.values():
        try:
            got = resolve(engine, "stress-G", c.first_run + RUN_STRIDE // 2)
        except ConddbError:  # a campaign that did not land: every record is a mismatch
            mismatches += len(records)
            continue
        for rec in records:
            mismatches += got[rec].payload_hash != want_iov[(tag_for(rec), c.first_run)]
    engine.dispose()
    return {
        "campaigns": f"{len(set(campaigns))}/{n}",
        "iov_rows": f"{len(iovs)}/{len(want_iov)}",
        "payloads": f"{len(payloads)}/{len(set(want_iov.values()))}",
        "links": f"{len(links)}/{len(want_iov)}",
        "types": f"{len(types)}/{len(records)}",
        "tags": f"{len(tags)}/{len(records)}",
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
        "missing": len(set(want_iov) - set(seen)),
        "wrong_payload": sum(1 for t, since, h in iovs if want_iov.get((t, since)) != h),
        "resolve_mismatches": mismatches,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="URL of an EMPTY database (default: SQLite)")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--campaigns", type=int, default=8, help="different campaigns per writer")
    parser.add_argument("--timeout", type=float, default=600.0, help="[s] before a writer hangs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/stress.sqlite"
        engine = make_engine(url)
        if migrate.current_revision(engine) is not None:
            print(f"{url} is not empty: give a fresh database", file=sys.stderr)
            return 2
        migrate.upgrade(engine)
        engine.dispose()
        ctx = mp.get_context("spawn")
        failures = ctx.Queue()
        start = time.time() + 3.0  # spawn start-up time
        workers = [
            ctx.Process(target=_writer, args=(url, k, args.campaigns, start, failures))
            for k in range(args.writers)
        ]
        for w in workers:
            w.start()
        hung = 0
        for w in workers:
            w.join(timeout=max(1.0, start + args.timeout - time.time()))
            if w.is_alive():
                hung += 1
                w.kill()
                w.join()
        wall = time.time() - start
        failed = []
        while not failures.empty():
            failed.append(failures.get())
        n = args.writers * args.campaigns
        result = {
            "backend": make_engine(url).dialect.name,
            "writers": args.writers,
            "campaigns_per_writer": args.campaigns,
            "wall_s": round(wall, 1),
            "failed_uploads": len(failed),
            "hung_writers": hung,
            **check(url, n),
        }
        print("  ".join(f"{k}={v}" for k, v in result.items()))
        for line in failed[:10]:
            print("  failure:", line)
        ok = not failed and not hung and result["duplicates"] == result["missing"] == 0
        return 0 if ok and result["wrong_payload"] == result["resolve_mismatches"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
