"""The hostile-input fuzzer (tests/stress/service_fuzz.py) at CI size: 500 generated requests per
backend, two in three built to be valid writes, against the real HTTP service.  0 5xx, 0
tracebacks, 0 rows from rejected requests; most valid requests are accepted, so the real write
paths were reached.  The 10,000-request run: ``python -m tests.stress.service_fuzz``."""

from __future__ import annotations

from pathlib import Path

from tests.stress.service_fuzz import fuzz_service


def test_fuzzed_mostly_valid_writes(db_url: str, tmp_path: Path) -> None:
    stats = fuzz_service(db_url, tmp_path, requests=500, seed=7, raise_on_failure=True)
    assert stats.requests >= 500
    assert stats.server_errors == 0 and stats.tracebacks == 0 and stats.rejected_writes == 0
    # two thirds are built valid (one in six of those spoiled on purpose): most are accepted
    assert stats.valid_generated > 0.5 * stats.requests
    assert stats.accepted_valid > 0.6 * stats.valid_generated
    assert stats.rejected > 0.1 * stats.requests  # refusals were exercised too
    writes = {op for op in stats.operations if op.startswith("valid ") and " GET " not in op}
    assert len(writes) >= 10  # every write use case was reached with valid input
