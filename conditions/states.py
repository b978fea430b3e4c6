"""Pure global-tag state words (issue 18): no SQLAlchemy, so the HTTP client can use them.

``STATES`` in lifecycle order; ``frozen`` is accepted for ``published`` (its former name).
:class:`Deprecation`: what every answer under an ``invalid`` global tag carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


#: States whose global tags never change again: answers under them are cached forever.
IMMUTABLE = frozenset({"published", "invalid"})


@dataclass(frozen=True)
class Deprecation:
    """Why an ``invalid`` global tag should no longer be used, and what replaces it (if any)."""

    global_tag: str
    reason: str
    replaced_by: str | None = None

    def message(self) -> str:
        """One line: ``global tag G is invalid: REASON; use G2``."""
        instead = f"; use {self.replaced_by}" if self.replaced_by else ""
        return f"global tag {self.global_tag} is invalid: {self.reason}{instead}"

    def json(self) -> dict[str, Any]:
        return {"global_tag": self.global_tag, "reason": self.reason,
                "replaced_by": self.replaced_by, "message": self.message()}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> Deprecation | None:
        if not obj:
            return None
        replaced = obj.get("replaced_by")
        return cls(str(obj["global_tag"]), str(obj.get("reason") or ""),
                   None if replaced is None else str(replaced))


def check_required_state(state: Any, require: str | None, name: str = "") -> None:
    """Refuse a lookup under a global tag whose state does not meet ``require`` (None: any).

    ``require="published"`` (or ``"frozen"``) accepts only published global tags (not an invalid
    one).  ``state`` is a state word, or a resolution (``frozen``: immutable, ``deprecation``:
    set exactly when the tag is invalid).
    """
    if require is None:
        return
    if parse_state(require) != "published":
        raise InvalidInput(f"require={require!r} is not supported", "use require='published'")
    if hasattr(state, "frozen"):
        deprecated = getattr(state, "deprecation", None) is not None
        word = "invalid" if deprecated else "published" if state.frozen else "not published"
        ok = word == "published"
    elif isinstance(state, bool):
        ok, word = state, "published" if state else "not published"
    else:
        word = parse_state(str(getattr(state, "value", state)))
        ok = word == "published"
    if not ok:
        raise Conflict(
            f"global tag {name or '?'} is {word}, the configuration requires published",
            "use a published global tag",
        )
