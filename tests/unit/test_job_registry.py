"""The job registry: run order derived from needs/uses, tests parametrised from the registry."""

from __future__ import annotations

import pytest

from conditions.services.jobs import JOBS, RECORDS
from conditions.services.jobs.registry import JobSpec, closure, run_order


def _noop(_: object) -> None:
    return None


@pytest.mark.parametrize("record", list(JOBS))
def test_every_job_runs_after_what_it_needs_and_uses(record: str) -> None:
    spec = JOBS[record]
    pos = RECORDS.index(record)
    for dep in (*spec.needs, *spec.uses):
        assert RECORDS.index(dep) < pos, f"{record} runs before {dep}"


@pytest.mark.parametrize("record", list(JOBS))
def test_closure_contains_the_dependencies(record: str) -> None:
    deps = closure({record})
    assert record in deps and set(JOBS[record].needs) <= deps


def test_cycles_and_unknown_dependencies_are_refused() -> None:
    cyc = {"a": JobSpec("a", ("b",), (), _noop), "b": JobSpec("b", ("a",), (), _noop)}
    with pytest.raises(ValueError, match="cycle"):
        run_order(cyc)
    unknown = {"a": JobSpec("a", ("zz",), (), _noop)}
    with pytest.raises(ValueError, match="unknown"):
        run_order(unknown)


def test_order_is_topological_with_registration_ties() -> None:
    table = {
        "c": JobSpec("c", ("a",), (), _noop),
        "a": JobSpec("a", (), (), _noop),
        "b": JobSpec("b", (), ("c",), _noop),
    }
    assert run_order(table) == ["a", "c", "b"]


def test_conditions_jobs_reexports_the_registry() -> None:
    import conditions.jobs as legacy

    assert legacy.RECORDS == RECORDS and legacy.run_campaign_jobs is not None
    assert {"dark_noise", "lpmt_nonlinearity", "lpmt_gain", "energy_nonlinearity"} <= set(JOBS)
