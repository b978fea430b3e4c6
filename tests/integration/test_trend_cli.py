"""``conddb trend`` and ``conddb gt diff`` from the shell side (in-process click runner)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import Engine

from cli.commands import trend
from cli.commands.gt import parse_runs
from cli.main import conddb
from conditions import store
from conditions.db import write_session
from conditions.errors import ConddbError, GlobalTagNotFound, InvalidInput, TagNotFound
from conditions.report import DEFAULT_BROWSER_URL

from .test_drift_support import put_series, weekly_runs, y0_models, y0_truth

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(db_url: str, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(conddb, ["--db", db_url, *args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def stored(engine: Engine, db_url: str) -> str:
    """A light-yield tag with a -0.4 % step at week 6 of 10, in global tags A (first 5 weeks)
    and B (all 10)."""
    runs = weekly_runs(10)
    put_series(engine, "ly", y0_models(y0_truth(10, step_at=6, step=-0.004)), runs)
    put_series(engine, "ly-head", y0_models(y0_truth(5)), runs[:5])
    with write_session(engine) as s:
        store.create_global_tag(s, "A")
        store.set_record(s, "A", "light_yield", "ly-head")
        store.create_global_tag(s, "B")
        store.set_record(s, "B", "light_yield", "ly")
    return db_url


def test_trend_table_and_flags(stored: str) -> None:
    out = invoke(stored, "trend", "--tag", "ly").output
    # constants are tracked, not their errors (issue 14 item 7): no sigma(Y0) series
    assert "ly/Y0" in out and "Y0_error" not in out
    assert "1 flagged:" in out
    flagged = [line for line in out.splitlines() if line.startswith("ly/Y0 ") and "step" in line]
    assert len(flagged) == 1 and str(weekly_runs()[6]) in flagged[0]
    # a 0.4 % change under a 0.5 % step threshold is not a step: it accumulates as drift, seen
    # by the straight-line fit once enough points follow it (the point-to-point estimate sees
    # it at once)
    for method, weeks in (("fit", range(6, 10)), ("points", [6])):
        loose = invoke(
            stored, "trend", "--tag", "ly", "--threshold", "Y0=0.5%", "--drift-method", method
        ).output
        (line,) = [x for x in loose.splitlines() if x.startswith("ly/Y0 ")][-1:]
        assert line.split()[1] == "drift" and int(line.split()[2]) in [
            weekly_runs()[w] for w in weeks
        ]
    both = invoke(stored, "trend", "--tag", "ly", "--threshold", "Y0=0.5%:1%").output
    assert "no drift flagged" in both


def test_trend_json_and_html(stored: str, tmp_path: Path) -> None:
    html = tmp_path / "rep.html"
    out = invoke(
        stored, "trend", "--gt", "B", "--record", "light_yield", "--quantity", "Y0", "--json",
        "--html", str(html),
    ).stdout
    doc = json.loads(out)  # progress output goes to stderr, stdout is pure JSON
    assert [t["key"] for t in doc["trends"]] == ["light_yield/Y0"]
    assert [(f["kind"], f["since"]) for f in doc["flags"]] == [("step", weekly_runs()[6])]
    (plot,) = doc["plots"]
    assert Path(plot).read_bytes().startswith(PNG_MAGIC)
    assert f'src="rep_files/{Path(plot).name}"' in html.read_text()
    # every point links to its payload's page in the browser given by --browser-url
    other = tmp_path / "other.html"
    invoke(stored, "trend", "--tag", "ly", "--html", str(other), "--browser-url", "http://h:7")
    page = other.read_text()
    for p in doc["trends"][0]["points"]:
        assert f'href="http://h:7/payload/{p["payload"]}"' in page
        assert f'href="{DEFAULT_BROWSER_URL}/payload/{p["payload"]}"' in html.read_text()


def test_gt_diff_text_and_json(stored: str) -> None:
    out = invoke(stored, "gt", "diff", "A", "B").output
    assert "1 of 1 records differ" in out
    assert "light_yield  changed" in out
    # both tags hold the same 1345 PE/MeV payload up to week 5 (A's last IOV is open-ended);
    # from week 6 (the step) B puts another payload in force
    doc = json.loads(invoke(stored, "gt", "diff", "A", "B", "--json").stdout)
    (rec,) = doc["records"]
    assert (rec["tag_a"], rec["tag_b"], rec["status"]) == ("ly-head", "ly", "changed")
    (seg,) = rec["segments"]
    assert seg["first"] == weekly_runs()[6] and seg["last"] is None
    assert seg["payload_a"] is not None and seg["payload_b"] is not None
    same = json.loads(
        invoke(stored, "gt", "diff", "A", "B", "--runs", f"0-{weekly_runs()[4]}", "--json").stdout
    )
    assert same["records"][0]["status"] == "retagged"


def test_usage_and_domain_errors(stored: str) -> None:
    assert invoke(stored, "trend", ok=False).exit_code == 2
    assert invoke(stored, "trend", "--tag", "ly", "--gt", "B", ok=False).exit_code == 2
    assert invoke(stored, "trend", "--tag", "ly", "--record", "x", ok=False).exit_code == 2
    cases: list[tuple[tuple[str, ...], type[ConddbError]]] = [
        (("trend", "--tag", "nope"), TagNotFound),
        (("trend", "--tag", "ly", "--threshold", "Y0"), InvalidInput),
        (("trend", "--tag", "ly", "--quantity", "p0"), InvalidInput),
        (("gt", "diff", "A", "nope"), GlobalTagNotFound),
        (("gt", "diff", "A", "B", "--runs", "9-1"), InvalidInput),
    ]
    for args, error in cases:
        result = invoke(stored, *args, ok=False)
        # typed errors reach cli.main, which prints them as one line
        assert isinstance(result.exception, error), (args, result.exception)
        assert result.exception.hint


def test_parse_runs() -> None:
    assert parse_runs(5, None) == 5
    assert parse_runs(None, "10-20") == (10, 20)
    assert parse_runs(None, "10-") == (10, None)
    assert parse_runs(None, None) is None
    with pytest.raises(InvalidInput):
        parse_runs(None, "ten")
    with pytest.raises(click.UsageError):
        parse_runs(1, "1-2")


def test_trend_defaults_are_the_library_s() -> None:
    from conditions import drift

    assert trend.DEFAULT_N_SIGMA == drift.DEFAULT_N_SIGMA
    assert trend.DEFAULT_OUTLIER_SIGMA == drift.DEFAULT_OUTLIER_SIGMA
    (option,) = [p for p in trend.trend.params if p.name == "browser_url"]
    assert option.default == DEFAULT_BROWSER_URL


def test_commands_have_help() -> None:
    for args in (["trend", "--help"], ["gt", "diff", "--help"]):
        result = CliRunner().invoke(conddb, ["--db", "sqlite://", *args])
        assert result.exit_code == 0 and "Usage:" in result.output
