"""Typed domain errors of the conditions database.

The library raises these; the CLI turns them into one line ``Error: <message> - <hint>`` and exit
code 1, and the HTTP service maps them to 404 / 409 / 422.  ``message`` says what is wrong,
``hint`` says what to do about it.
"""

from __future__ import annotations


class ConddbError(Exception):
    """Base class of every error the conditions database reports to a user."""

    #: HTTP status the service answers with for this error.
    http_status: int = 400

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The error as one line: ``what is wrong - what to do``."""
        return f"{self.message} - {self.hint}" if self.hint else self.message


# --- not found (404) -------------------------------------------------------------------------
class NotFound(ConddbError):
    http_status = 404


class PayloadTypeNotFound(NotFound):
    pass


class PayloadNotFound(NotFound):
    pass


class TagNotFound(NotFound):
    pass


class GlobalTagNotFound(NotFound):
    pass


class RecordNotFound(NotFound):
    pass


class RunNotCovered(NotFound):
    """The run lies before the first IOV of a tag (or the tag has no IOV at that time)."""


class RunNotFound(NotFound):
    pass


class CampaignNotFound(NotFound):
    pass


# --- conflicts with the stored state (409) ----------------------------------------------------
class Conflict(ConddbError):
    http_status = 409


class AlreadyExists(Conflict):
    pass


class TagLocked(Conflict):
    pass


class GlobalTagFrozen(Conflict):
    pass


class ImmutableObject(Conflict):
    """Someone tried to change or delete a row that is immutable by design (payload, IOV)."""


class HashCollision(Conflict):
    """The same SHA-256 with different bytes: corruption or a forged payload."""


class SchemaOutdated(Conflict):
    """The database schema is not at the revision this code expects."""


# --- invalid input (422) ----------------------------------------------------------------------
class InvalidInput(ConddbError):
    http_status = 422


class InvalidPayload(InvalidInput):
    pass


class InvalidIOV(InvalidInput):
    pass


class InvalidName(InvalidInput):
    pass


class PayloadTooLarge(InvalidInput):
    http_status = 413
