"""The README's main job (``conddb demo``) end to end, at reduced statistics, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cli.demo import DemoConfig, run_demo, summary

pytestmark = pytest.mark.slow


def test_demo_end_to_end(engine: Engine, tmp_path: Path) -> None:
    cfg = DemoConfig(
        out=tmp_path, weeks=2, comprehensive_scale=0.05, weekly_scale=0.2, band_toys=5,
        positron_tolerance=0.02,  # the loose tolerance of the reduced statistics (below)
    )
    lines: list[str] = []
    result = run_demo(engine, cfg, lines.append)
    assert len(result.uploads) == 3 and all(u.created for u in result.uploads)
    assert result.resolution is not None
    assert set(result.resolution.records) == {
        "dark_noise",
        "light_yield",
        "lpmt_gain",
        "lpmt_nonlinearity",
        "nonuniformity_map",
        "energy_resolution",
        "energy_nonlinearity",
    }
    # a loose check at a twentieth of Table 5's statistics: the chain is wired right if the
    # positron energy comes back within 2 % (the full-statistics figures are in the issue notes)
    assert all(abs(b) < 0.02 for b in result.positron_bias.values()), result.positron_bias
    assert result.report_path is not None and result.report_path.stat().st_size > 1000
    pngs = list(result.report_path.parent.glob("report_files/*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    text = result.report_path.read_text()
    assert all(f"report_files/{p.name}" in text for p in pngs)
    assert any("trend report" in line for line in summary(result))
    # issue 18: the global tag went through validate -> publish, and the summary shows the report
    assert result.validation is not None and result.validation["passed"], result.validation
    assert result.resolution.frozen
    assert any(line.startswith("validation report") for line in summary(result))
