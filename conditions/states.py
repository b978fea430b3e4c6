"""Pure global-tag state words (issue 18): no SQLAlchemy, so the HTTP client can use them.

``STATES`` in lifecycle order; ``frozen`` is accepted for ``published`` (its former name).
"""

from __future__ import annotations

from .errors import Conflict, InvalidInput

STATES = ("open", "testing", "validated", "published", "invalid")
ALIASES = {"frozen": "published"}


def parse_state(word: str) -> str:
    """A state from user input (``frozen`` = ``published``)."""
    key = str(word).strip().lower()
    key = ALIASES.get(key, key)
    if key not in STATES:
        raise InvalidInput(
            f"unknown global-tag state {word!r}", f"use one of {', '.join((*STATES, *ALIASES))}"
        )
    return key


def check_required_state(state: str | bool, require: str | None, name: str = "") -> None:
    """Refuse a lookup under a global tag whose state does not meet ``require`` (None: any).

    ``require="published"`` (or ``"frozen"``) accepts only published global tags.  ``state`` is
    a state word, or a resolution's ``frozen`` flag (True exactly when the tag is published).
    """
    if require is None:
        return
    if parse_state(require) != "published":
        raise InvalidInput(f"require={require!r} is not supported", "use require='published'")
    if isinstance(state, bool):
        ok, word = state, "published" if state else "not published"
    else:
        word = parse_state(str(getattr(state, "value", state)))
        ok = word == "published"
    if not ok:
        raise Conflict(
            f"global tag {name or '?'} is {word}, the configuration requires published",
            "use a published global tag",
        )
