"""Drift tracks constants, not their errors (issue 14 item 7): a tracked quantity's value does not
move when only the uncertainties of a payload change; the errors travel with the constants."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel

from conditions.drift import QUANTITIES, extract, quantities_for
from conditions.payloads import examples, type_of

EXAMPLES = examples.all_payloads()


def _is_error_field(name: str) -> bool:
    return "uncertainty" in name or name == "covariance"


def _inflate_errors(model: BaseModel, factor: float) -> BaseModel:
    """The same payload with every uncertainty x ``factor`` (covariances x factor**2)."""
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    for name, value in fields.items():
        if _is_error_field(name):
            scale = factor**2 if name == "covariance" else factor
            fields[name] = np.asarray(value) * scale if isinstance(value, np.ndarray) else (
                value * scale
            )
    return type(model).model_validate(fields)


def test_no_quantity_is_an_uncertainty() -> None:
    for q in QUANTITIES.values():
        text = f"{q.name} {q.label} {q.description}".lower()
        assert not any(w in text for w in ("error", "sigma(", "uncertainty")), q


#: per-channel payloads: the errors of their quantities come from the channel population
#: (spread / sqrt(N) of 17,612 channels), not from an uncertainty field
POPULATION = ("lpmt_nonlinearity", "lpmt_gain")


@pytest.mark.parametrize("record", sorted(EXAMPLES))
def test_values_ignore_errors_and_errors_follow_them(record: str) -> None:
    model = EXAMPLES[record]
    qs = quantities_for(type_of(model)[0])
    assert qs, record
    assert any(_is_error_field(n) for n in type(model).model_fields) or record in POPULATION

    inflated = _inflate_errors(model, 3.0)
    for q in qs:
        (v1, e1), (v3, e3) = extract(q, model), extract(q, inflated)
        assert v3 == pytest.approx(v1, rel=1e-12, abs=1e-15), q.name
        if e1 is not None and record not in POPULATION:
            # the error of a constant is its payload's uncertainty: it scales with it
            assert e3 == pytest.approx(3.0 * e1, rel=1e-9), q.name
