"""Typed domain errors of the conditions database.

The library raises these; the CLI turns them into one line ``Error: <message> - <hint>`` and exit
code 1, and the HTTP service maps them to 404 / 409 / 422.  ``message`` says what is wrong,
``hint`` says what to do about it.
"""

from __future__ import annotations

import re


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
    """A run with no IOV in force in a tag of a global tag; ``reason`` tells why.

    Build it with :meth:`because`, which words the message and the hint for each reason:

    * ``EMPTY_TAG``: the tag has no IOV at all;
    * ``BEFORE_FIRST``: the run lies before the first IOV of the tag;
    * ``AFTER_SNAPSHOT``: an IOV covers the run but was inserted after the global tag's snapshot
      time (or after ``--at``): it is invisible by design; clone the global tag to see it.
    """

    EMPTY_TAG = "empty tag"
    BEFORE_FIRST = "before the first IOV"
    AFTER_SNAPSHOT = "inserted after the snapshot"

    reason: str = BEFORE_FIRST
    #: the run, record and tag the lookup found uncovered (None when not known)
    run: int | None = None
    record: str | None = None
    tag: str | None = None

    @classmethod
    def because(
        cls,
        reason: str,
        *,
        run: int,
        global_tag: str,
        record: str,
        tag: str,
        first_since: int | None = None,
        cutoff: str | None = None,
        cutoff_is_snapshot: bool = True,
    ) -> RunNotCovered:
        """The error for ``run`` in ``record`` (tag ``tag``) of ``global_tag`` for ``reason``.

        ``first_since`` is the first since the lookup saw (BEFORE_FIRST); ``cutoff`` the snapshot
        or ``--at`` time, as text, that hid the covering IOV (AFTER_SNAPSHOT)."""
        where = f"run {run} is not covered by global tag {global_tag!r} for {record} (tag {tag})"
        if reason == cls.EMPTY_TAG:
            err = cls(
                f"{where}: the tag has no IOV",
                f"append one with `conddb iov add {tag} --since RUN --payload HASH`",
            )
        elif reason == cls.AFTER_SNAPSHOT:
            what = "snapshot time" if cutoff_is_snapshot else "--at time"
            fix = (
                f"clone it to see the newer IOVs: `conddb gt clone {global_tag} NEW`"
                if cutoff_is_snapshot
                else "use a later --at (or none)"
            )
            err = cls(f"{where}: the IOVs covering it were inserted after the {what} {cutoff}", fix)
        else:
            first = "" if first_since is None else f" ({first_since})"
            err = cls(
                f"{where}: the run lies before the first IOV{first}",
                f"append an IOV with `conddb iov add {tag} --since {run} ...` or use a later run",
            )
        err.reason, err.run, err.record, err.tag = reason, run, record, tag
        return err


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


# --- the database said no ------------------------------------------------------------------------
class DatabaseUnavailable(ConddbError):
    """The database cannot be reached (or is busy): try again later."""

    http_status = 503


class RefusedByDatabase(Conflict):
    """A constraint or a guard trigger of the database refused the change."""


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def from_db_error(exc: BaseException) -> ConddbError:
    """The ONE mapping of a database error (SQLAlchemy ``DBAPIError``) to a typed domain error.

    * a guard trigger of the migrations (message ``conddb: ...``): :class:`TagLocked`,
      :class:`GlobalTagFrozen` or :class:`ImmutableObject` (409);
    * a missing table (schema not created or not migrated): :class:`SchemaOutdated` with the hint
      "run `conddb db upgrade`" (409);
    * a connection failure or busy database (``OperationalError``): :class:`DatabaseUnavailable`
      (503, "retry later");
    * any other refusal (``IntegrityError`` and the like): :class:`RefusedByDatabase` (409).

    Used by the CLI, the HTTP app and its write API; never imports SQLAlchemy at module level.
    """
    from sqlalchemy.exc import OperationalError

    reason = _reason(exc)
    lowered = reason.lower()
    nothing = "nothing was written"
    if "conddb:" in lowered:
        if "tag is locked" in lowered:
            return TagLocked(f"the database refused the change ({reason})", nothing)
        if "global tag is frozen" in lowered:
            return GlobalTagFrozen(f"the database refused the change ({reason})", nothing)
        return ImmutableObject(f"the database refused the change ({reason})", nothing)
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return SchemaOutdated(
            f"the database has no conddb schema ({reason})", "run `conddb db upgrade`"
        )
    missing = re.search(r'database "([^"]+)" does not exist', reason)
    if missing:
        return DatabaseUnavailable(
            f"the PostgreSQL database {missing.group(1)!r} does not exist",
            f"create it with `createdb {missing.group(1)}`, then run `conddb db upgrade`",
        )
    if isinstance(exc, OperationalError):
        return DatabaseUnavailable(
            f"cannot use the database ({reason})",
            "check --db / CONDDB_URL and that the server is running, then retry",
        )
    return RefusedByDatabase(f"the database refused the change ({reason})", nothing)
