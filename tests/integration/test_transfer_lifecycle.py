"""Export / import carry the global-tag lifecycle (issue 18): SQLite -> PostgreSQL -> SQLite keeps
every state (published, invalid with its reason and replacement, validated), validation report,
approval, acknowledged drift flag, tag synchronisation and processed run; the imported database
answers with the same deprecation and its gates see the same map hashes and approvals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import InvalidInput
from conditions.payloads import encode_payload, examples
from conditions.resolve import resolve
from conditions.services import lifecycle, validation
from conditions.services.transfer import codecs
from conditions.states import Deprecation
from conditions.transfer import TransferError, export_file, import_file
from tests.integration.test_transfer import both  # noqa: F401  (the three-database fixture)

GTS = ("BAD", "PUB", "VAL")


def _opts(who: str) -> validation.Options:
    return validation.Options(who=who)


def populate(engine: Engine) -> None:
    """PUB: validated, approved by bob, published by alice.  BAD: published then invalid
    (replaced by PUB).  VAL: a failing report (an unreviewed drift step), the flag acknowledged,
    a passing report, validated and approved by carol (not published).  A prompt tag, a processed
    run."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.register_payload_type(s, "light_yield")
        store.create_tag(s, "ta", "json")
        store.append_iovs(s, "ta", [(0, store.put_payload(s, "json", b'{"v":1}').hash)])
        hashes = [
            store.put_payload(s, "light_yield", encode_payload(
                examples.light_yield().model_copy(update={"y0": y0}))).hash
            for y0 in (1345.0, 1346.0, 1400.0)  # a 4 % step at since 300: one drift flag
        ]
        store.create_tag(s, "ly", "light_yield")
        store.append_iovs(s, "ly", [(100 * (k + 1), h) for k, h in enumerate(hashes)])
        store.create_tag(s, "tp", "json")
        store.set_tag_sync(s, "tp", store.TagSync.PROMPT)
        store.register_run(s, 5)
        store.mark_processed(s, 5, "prompt-reco")
        for name in GTS:
            store.create_global_tag(s, name, f"global tag {name}")
            store.set_record(s, name, "a", "ta")
        store.set_record(s, "VAL", "light_yield", "ly")
    for name in ("PUB", "BAD"):
        with write_session(engine) as s:
            assert validation.validate_and_mark(s, name, (0, 10), _opts("alice"))[1] == "validated"
            lifecycle.approve(s, name, "bob")
            lifecycle.publish(s, name, "alice", approvals_required=1)
    with write_session(engine) as s:
        lifecycle.invalidate(s, "BAD", "light yield off by 3 %", "PUB")
    with write_session(engine) as s:
        report, state = validation.validate_and_mark(s, "VAL", (100, 400), _opts("alice"))
        assert state == "open" and not report.passed
        (flag,) = validation.drift_flags(s, "VAL")
        validation.acknowledge(s, "VAL", flag, "dave", "a known PMT high-voltage change")
    with write_session(engine) as s:
        assert validation.validate_and_mark(s, "VAL", (100, 400), _opts("alice"))[1] == "validated"
        lifecycle.approve(s, "VAL", "carol")


def dump(engine: Engine) -> dict[str, Any]:
    """The lifecycle as a user sees it, keyed by names (never surrogate ids)."""
    with read_session(engine) as s:
        out: dict[str, Any] = {"fcsr": store.fcsr(s), "processed": [
            (r.run, r.who, r.processed_at) for r in store.processed_runs(s)]}
        out["sync"] = {t: store.get_tag(s, t).synchronization.value for t in ("ta", "ly", "tp")}
        for name in GTS:
            g = store.get_global_tag(s, name)
            digest = store.map_hash(s, g)
            out[name] = {
                "row": (g.state.value, g.snapshot_time, g.frozen_at, g.invalid_reason,
                        g.replaced_by, g.description, g.created_at),
                "map_hash": digest,
                "reports": [json.dumps(validation.report_json(r, name), sort_keys=True)
                            for r in store.validation_reports(s, g)],
                "approvers": sorted(store.approvers(s, g, digest)),
                "acks": sorted(validation.acknowledged(s, name)),
                "deprecation": lifecycle.deprecation(s, name),
            }
            for r in out[name]["reports"]:  # the report ids are the target's own
                assert '"id": ' in r
            out[name]["reports"] = [_without_id(r) for r in out[name]["reports"]]
        return out


def _without_id(report_text: str) -> str:
    doc = json.loads(report_text)
    doc.pop("id")
    return json.dumps(doc, sort_keys=True)


def test_lifecycle_round_trip_sqlite_postgresql_sqlite(
    both: list[Engine], tmp_path: Path  # noqa: F811
) -> None:
    src, pg, back = both
    populate(src)
    reference = dump(src)
    assert [reference[g]["row"][0] for g in GTS] == ["invalid", "published", "validated"]
    assert len(reference["VAL"]["reports"]) == 2 and reference["VAL"]["acks"]
    assert reference["PUB"]["approvers"] == ["bob"] and reference["VAL"]["approvers"] == ["carol"]
    assert reference["fcsr"] == 6 and reference["sync"]["tp"] == "prompt"
    export_file(src, tmp_path / "a.zip")
    report = import_file(pg, tmp_path / "a.zip")
    assert report.added["validation_report"] == 4 and report.added["drift_ack"] == 1
    assert report.added["global_tag_approval"] == 3 and report.added["processed_run"] == 1
    export_file(pg, tmp_path / "b.zip")
    import_file(back, tmp_path / "b.zip")
    for target in (pg, back):
        assert dump(target) == reference
        res = resolve(target, "BAD", 7)
        assert res.deprecation == Deprecation("BAD", "light yield off by 3 %", "PUB") and res.frozen
        assert resolve(target, "PUB", 7).deprecation is None
    again = import_file(pg, tmp_path / "b.zip")  # identical: everything reused, nothing added
    assert not any(again.added.values()) and again.reused["validation_report"] == 4
    # the gates of the target see the imported report and approval: VAL publishes there
    with write_session(back) as s:
        assert lifecycle.publish(s, "VAL", "alice", approvals_required=1).state.value == "published"
    with write_session(pg) as s, pytest.raises(Exception, match="approval"):
        lifecycle.publish(s, "VAL", "carol", approvals_required=1)  # carol's own approval: no


def test_global_tag_export_carries_its_lifecycle(
    both: list[Engine], tmp_path: Path  # noqa: F811
) -> None:
    src, pg, back = both
    populate(src)
    reference = dump(src)
    export_file(src, tmp_path / "val.zip", global_tag="VAL")
    report = import_file(pg, tmp_path / "val.zip")
    assert report.rows["validation_report"] == 2 and report.rows["drift_ack"] == 1
    assert report.rows["processed_run"] == 0  # prompt processing belongs to whole exports
    with read_session(pg) as s:
        g = store.get_global_tag(s, "VAL")
        assert store.map_hash(s, g) == reference["VAL"]["map_hash"]
        assert validation.acknowledged(s, "VAL") == set(reference["VAL"]["acks"])
    # an invalid global tag whose replacement is in neither the file nor the target: refused
    export_file(src, tmp_path / "bad.zip", global_tag="BAD")
    with pytest.raises(TransferError, match="replaced by 'PUB', which is in neither"):
        import_file(back, tmp_path / "bad.zip")
    with read_session(back) as s:
        assert not store.list_global_tags(s)  # nothing written
    export_file(src, tmp_path / "pub.zip", global_tag="PUB")
    import_file(pg, tmp_path / "pub.zip")
    import_file(pg, tmp_path / "bad.zip")  # the replacement is in the target now
    assert resolve(pg, "BAD", 7).deprecation == reference["BAD"]["deprecation"]
    with read_session(pg) as s:
        assert store.get_global_tag(s, "BAD").replaced_by == "PUB"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"invalid_reason": None}, "needs an invalid_reason"),
        ({"invalid_reason": "  "}, "needs an invalid_reason"),
        ({"state": "published"}, "has an invalid_reason or replaced_by"),
        ({"replaced_by": "G"}, "cannot replace itself"),
    ],
)
def test_forged_lifecycle_rows_are_refused(change: dict[str, Any], message: str) -> None:
    row = {"name": "G", "state": "invalid", "snapshot_time": "2026-01-01T00:00:00.000000+00:00",
           "description": "", "created_at": "2026-01-01T00:00:00.000000+00:00",
           "frozen_at": "2026-01-01T00:00:00.000000+00:00", "invalid_reason": "bad",
           "replaced_by": None}
    assert codecs.GLOBAL_TAG.decode(row)["invalid_reason"] == "bad"
    with pytest.raises(InvalidInput, match=message):
        codecs.GLOBAL_TAG.decode({**row, **change})
    report = {"global_tag": "G", "map_hash": "0" * 64, "first_run": 9, "last_run": 3, "who": "a",
              "code_version": "x", "created_at": row["created_at"], "passed": True, "checks": []}
    with pytest.raises(InvalidInput, match="ends before it starts"):
        codecs.VALIDATION_REPORT.decode(report)
    with pytest.raises(TransferError, match="bad 'passed'"):
        codecs.VALIDATION_REPORT.decode({**report, "last_run": 9, "passed": "yes"})
