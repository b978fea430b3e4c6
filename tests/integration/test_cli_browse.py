"""``conddb search``, ``tag diff``, ``tag where``, ``payload where``, ``payload dump`` and
``gt download`` on both backends (in process, through the same parsing and error mapping)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conditions.payloads.dump import FIELDS_MEMBER
from tests.support.cli import assert_one_line_error, run
from tests.support.seed_cli import Seeded, seed


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Seeded:
    return seed(db_url, tmp_path)


def _json(url: str, *args: str) -> object:
    return json.loads(run(url, *args, "--json").stdout)


def test_search_names_types_and_hash_prefixes(seeded: Seeded) -> None:
    url = seeded.url
    hits = _json(url, "search", "LY-")
    assert {(h["kind"], h["name"]) for h in hits} == {
        ("tag", "ly-a"),
        ("tag", "ly-b"),
        ("tag", "ly-empty"),
    }
    assert {h["name"] for h in _json(url, "search", "gt-")} == {"GT-A", "GT-B", "GT-E"}
    assert ("type", "energy_nonlinearity") in {
        (h["kind"], h["name"]) for h in _json(url, "search", "nonlin")
    }
    prefix = [h for h in _json(url, "search", seeded.nl[:6]) if h["kind"] == "payload"]
    assert [h["name"] for h in prefix] == [seeded.nl]
    assert _json(url, "search", "no-such-thing") == []
    assert "(none)" in run(url, "search", "no-such-thing").stdout


def test_tag_diff_lists_the_runs_that_resolve_differently(seeded: Seeded) -> None:
    out = _json(seeded.url, "tag", "diff", "ly-a", "ly-b")
    assert out["segments"] == [
        {"first": 150, "last": 199, "ly-a": seeded.a, "ly-b": seeded.b, "same": False}
    ]
    every = _json(seeded.url, "tag", "diff", "ly-a", "ly-b", "--all")["segments"]
    assert [(s["first"], s["last"], s["same"]) for s in every] == [
        (100, 149, True),
        (150, 199, False),
        (200, None, True),
    ]
    # the oracle: each segment's runs really resolve as the diff says
    for seg in every:
        for run_no in {seg["first"], seg["last"] or seg["first"] + 1000}:
            got = [
                _json(seeded.url, "get", "--gt", gt, "--run", str(run_no))["records"][
                    "light_yield"
                ]["payload_hash"]
                for gt in ("GT-A", "GT-B")
            ]
            assert got == [seg["ly-a"], seg["ly-b"]]
    text = run(seeded.url, "tag", "diff", "ly-a", "ly-b").stdout
    assert "1 run range(s) differ, 2 agree" in text
    assert_one_line_error(run(seeded.url, "tag", "diff", "ly-a", "nope", ok=False), "nope")


def test_reverse_lookups(seeded: Seeded) -> None:
    where = _json(seeded.url, "tag", "where", "ly-a")
    assert [(w["global_tag"], w["record"], w["current"]) for w in where] == [
        ("GT-A", "light_yield", True)
    ]
    run(seeded.url, "gt", "set", "GT-A", "light_yield", "ly-b")  # ly-a now superseded in GT-A
    where = _json(seeded.url, "tag", "where", "ly-a")
    assert [(w["global_tag"], w["current"]) for w in where] == [("GT-A", False)]
    assert {w["global_tag"] for w in _json(seeded.url, "tag", "where", "ly-b")} == {
        "GT-A",
        "GT-B",
    }
    used = _json(seeded.url, "payload", "where", seeded.b[:10])
    assert used["hash"] == seeded.b
    assert {(i["tag"], i["since"]) for i in used["iovs"]} == {("ly-a", 200), ("ly-b", 150)}
    assert {(g["global_tag"], g["tag"]) for g in used["global_tags"]} == {
        ("GT-A", "ly-a"),
        ("GT-A", "ly-b"),
        ("GT-B", "ly-b"),
    }
    assert_one_line_error(run(seeded.url, "tag", "where", "nope", ok=False), "nope")


def test_payload_dump_json_round_trips_and_npz_holds_the_arrays(
    seeded: Seeded, tmp_path: Path
) -> None:
    out = tmp_path / "nl-dump.json"
    run(seeded.url, "payload", "dump", seeded.nl[:12], "--out", str(out))
    assert json.loads(out.read_text()) == json.loads(seeded.nl_file.read_text())
    again = run(seeded.url, "payload", "put", "energy_nonlinearity", str(out)).stdout.strip()
    assert again == seeded.nl  # the full content: the same canonical bytes
    npz = tmp_path / "nl.npz"
    run(seeded.url, "payload", "dump", seeded.nl, "--out", str(npz))
    doc = json.loads(seeded.nl_file.read_text())
    with np.load(npz) as z:
        fields = json.loads(str(z[FIELDS_MEMBER]))
        arrays = {k: z[k] for k in z.files if k != FIELDS_MEMBER}
    assert arrays, "the typed payload has arrays"
    for path, values in arrays.items():
        node: object = doc
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        np.testing.assert_array_equal(values, np.asarray(node))
        assert fields[path.split(".")[0]] is not None
    plain = tmp_path / "a.json"
    run(seeded.url, "payload", "dump", seeded.a, "--out", str(plain))
    assert json.loads(plain.read_text()) == {"y0": 1345.0}
    assert_one_line_error(
        run(seeded.url, "payload", "dump", seeded.a, "--out", str(tmp_path / "a.npz"), ok=False),
        "plain JSON",
    )
    assert not (tmp_path / "a.npz").exists()
    bad = run(seeded.url, "payload", "dump", seeded.a, "--out", str(tmp_path / "a.txt"), ok=False)
    assert bad.returncode == 2 and ".json or .npz" in bad.stderr


def test_gt_download_makes_a_snapshot_that_answers_like_the_source(
    seeded: Seeded, tmp_path: Path
) -> None:
    snap = tmp_path / "snapshot.sqlite"
    said = run(seeded.url, "gt", "download", "GT-A", "--runs", "100-250", "--out", str(snap))
    assert "written to" in said.stdout
    local = f"sqlite:///{snap}"
    for run_no in ("100", "160", "250"):
        want = _json(seeded.url, "get", "--gt", "GT-A", "--run", run_no, "--content")
        assert _json(local, "get", "--gt", "GT-A", "--run", run_no, "--content") == want
    assert "up to date" in run(local, "db", "current").stdout
    assert {t["name"] for t in _json(local, "tag", "list")} == {"ly-a", "nl-v1"}
    # an existing file is kept; an uncovered range writes nothing
    assert_one_line_error(
        run(seeded.url, "gt", "download", "GT-A", "--runs", "1-250", "--out", str(snap), ok=False),
        "already exists",
    )
    other = tmp_path / "other.sqlite"
    assert_one_line_error(
        run(seeded.url, "gt", "download", "GT-A", "--runs", "5-250", "--out", str(other), ok=False),
        "before the first IOV",
    )
    assert not other.exists() and not list(tmp_path.glob("other.sqlite*"))
