"""The threshold syntax of ``conddb trend --threshold Q=STEP[:DRIFT]`` (what the CLI calls)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from ..errors import InvalidInput
from .quantities import Thresholds, quantity

_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_THRESHOLD = re.compile(rf"^\s*({_NUMBER})?\s*(%?)\s*$")


def _parse_value(text: str, what: str) -> float | None:
    if text.strip().lower() == "off":
        return math.inf
    match = _THRESHOLD.match(text)
    if match is None:
        raise InvalidInput(
            f"invalid {what} threshold {text!r}", "give a number, optionally with %, e.g. 0.5%"
        )
    number, percent = match.groups()
    if number is None:
        if percent:
            raise InvalidInput(f"invalid {what} threshold {text!r}", "a number is missing")
        return None
    value = float(number)
    return value / 100.0 if percent else value


def parse_threshold(
    text: str, base: Mapping[str, Thresholds] | None = None
) -> tuple[str, Thresholds]:
    """Parse ``Q=STEP[:DRIFT]`` (e.g. ``Y0=0.5%``, ``Y0=0.3%:1%``, ``Y0=:1%``, ``p3=0.002``,
    ``Y0=off:1%``).

    ``%`` divides by 100; ``off`` disables the check; a plain number is in the quantity's
    threshold unit (a fraction for relative quantities, the quantity's unit otherwise).  A part
    left empty keeps the value from ``base`` (earlier overrides) or the quantity's default.
    Returns (quantity name, thresholds).
    """
    name, sep, rest = text.partition("=")
    if not sep:
        raise InvalidInput(
            f"invalid threshold {text!r}", "write QUANTITY=STEP[:DRIFT], e.g. Y0=0.5%:1%"
        )
    q = quantity(name.strip())
    current = (base or {}).get(q.name, q.thresholds)
    step_text, _, drift_text = rest.partition(":")
    step = _parse_value(step_text, "step")
    drift = _parse_value(drift_text, "drift") if drift_text.strip() else None
    if step is None and drift is None:
        raise InvalidInput(f"threshold {text!r} sets nothing", "give STEP, :DRIFT or both")
    return q.name, Thresholds(
        current.step if step is None else step, current.drift if drift is None else drift
    )


def override_thresholds(
    texts: Iterable[str], base: Mapping[str, Thresholds] | None = None
) -> dict[str, Thresholds]:
    """Apply ``Q=STEP[:DRIFT]`` overrides in order (see :func:`parse_threshold`)."""
    out = dict(base or {})
    for text in texts:
        name, value = parse_threshold(text, out)
        out[name] = value
    return out
