"""Times, one policy everywhere (library, HTTP, CLI, export/import): timezone-aware UTC.

Policy (the library's rule, now also the rule of the HTTP service and the CLI):

* A time must say its zone: ``2026-11-29T12:00:00Z`` or ``...+01:00``.  A time **without a
  zone is refused** with :class:`~conditions.errors.InvalidInput` (HTTP 422, CLI one-line error):
  "12:00" on a laptop in Beijing and on a server in Paris are different instants, and guessing
  would replay a lookup at the wrong time without anyone noticing.
* Every time is converted to UTC.  A time whose UTC value falls outside the representable range
  (``0001-01-01T00:00:00+01:00``, ``9999-12-31T23:59:59-01:00``) is refused with the same error,
  never an ``OverflowError``.
* Times are formatted as ISO 8601 UTC with microseconds (:func:`format_utc`).
"""

from __future__ import annotations

import datetime as dt

from .errors import InvalidInput

#: What the error hint shows as an example of a valid time.
EXAMPLE = "2026-11-29T12:00:00Z"


def as_utc(value: dt.datetime | None, what: str = "time") -> dt.datetime | None:
    """``value`` converted to UTC (None stays None); naive or out-of-range times are refused."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise InvalidInput(f"{what} is not a date and time", f"give an ISO time, e.g. {EXAMPLE}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{what} {value.isoformat()} has no time zone", f"give the zone, e.g. {EXAMPLE}"
        )
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(
            f"{what} {value.isoformat()} is outside the years 1-9999 in UTC",
            f"give a time within that range, e.g. {EXAMPLE}",
        ) from None


def parse_utc(text: str | None, what: str = "time") -> dt.datetime | None:
    """ISO 8601 text -> aware UTC datetime (None or "" -> None).  See the policy above."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise InvalidInput(f"{what} is not text", f"give an ISO time, e.g. {EXAMPLE}")
    try:
        parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is not an ISO 8601 time", f"use e.g. {EXAMPLE}"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(
            f"{what} {text!r} has no time zone", f"add Z (UTC) or an offset, e.g. {EXAMPLE}"
        )
    return as_utc(parsed, what)


def format_utc(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with microseconds (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is dt.UTC:  # already UTC (the stores' times): as_utc would return it
        return value.isoformat(timespec="microseconds")
    utc = as_utc(value)
    assert utc is not None
    return utc.isoformat(timespec="microseconds")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)
