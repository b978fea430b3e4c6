"""Typed payloads through the CLI: validated by their schema; one-line errors name the field."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from conditions.db import make_engine
from tests.support.cli import assert_one_line_error, run


def test_typed_payload_put_validates(db_url: str, tmp_path: Path) -> None:
    run(db_url, "db", "upgrade")
    schema = json.loads(run(db_url, "schema", "show", "light_yield").stdout)
    assert schema["x-payload-type"] == "light_yield" and "y0" in schema["properties"]
    good = {
        "schema_version": 1,
        "y0": 1345.0,
        "y0_uncertainty": 0.4,
        "n_events": 100000,
        "chi2": 90.0,
        "ndf": 97,
    }
    doc = tmp_path / "y0.json"
    doc.write_text(json.dumps(good))
    h = run(db_url, "payload", "put", "light_yield", str(doc)).stdout.strip()
    shown = json.loads(run(db_url, "payload", "show", h, "--json").stdout)
    assert shown["type"] == "light_yield" and shown["content"]["y0"] == 1345.0
    # the same content written differently (key order, spacing) is the same payload
    doc.write_text(json.dumps(dict(reversed(list(good.items()))), indent=4))
    assert run(db_url, "payload", "put", "light_yield", str(doc)).stdout.strip() == h
    for bad, field in [
        ({**good, "y0": -3.0}, "y0"),
        ({**good, "colour": "red"}, "colour"),
        ({**good, "schema_version": 99}, "schema_version"),
    ]:
        doc.write_text(json.dumps(bad))
        assert_one_line_error(
            run(db_url, "payload", "put", "light_yield", str(doc), ok=False), field
        )
    engine = make_engine(db_url)
    with engine.connect() as conn:  # the rejected documents wrote nothing
        assert conn.scalar(text("SELECT count(*) FROM payload")) == 1
    engine.dispose()
