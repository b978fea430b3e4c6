"""ORM-level immutability guard.

Refuses, at flush time, every change that the conditions semantics forbid, whichever code path tries
it through a :class:`~sqlalchemy.orm.Session` (the library, the CLI, a script setting attributes):

* updating or deleting a payload, an IOV, a global-tag map row or a campaign record;
* adding an IOV to a locked tag, or changing / deleting a locked tag;
* changing / deleting a frozen global tag, or adding a map row to it.

Core statements (``session.execute(insert(...))``) bypass ORM events; for them (and for raw SQL)
the database triggers installed by migration 0001 are the backstop.

The guard is installed explicitly on the sessions :mod:`conditions.db` makes (:func:`install`),
never on the :class:`~sqlalchemy.orm.Session` class: importing :mod:`conditions` changes nothing
for the other SQLAlchemy sessions of a process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from ..errors import GlobalTagFrozen, ImmutableObject, TagLocked
from .model import (
    IOV,
    Campaign,
    CampaignPayload,
    GlobalTag,
    GlobalTagMap,
    GlobalTagState,
    Payload,
    Tag,
    TagState,
)

#: Rows that are never updated nor deleted once written.
IMMUTABLE = (Payload, IOV, GlobalTagMap, Campaign, CampaignPayload)


def _was(obj: Any, attribute: str) -> Any:
    """The value an attribute had when loaded (before this flush's changes)."""
    history = inspect(obj).attrs[attribute].history
    if history.deleted:
        return history.deleted[0]
    return getattr(obj, attribute)


_IMMUTABLE = (GlobalTagState.PUBLISHED, GlobalTagState.INVALID)
#: The one change of a published global tag: published -> invalid, with reason and replacement.
_INVALIDATION = {"state", "invalid_reason", "replaced_by"}


def _invalidating(obj: Any) -> bool:
    changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
    return (
        _was(obj, "state") is GlobalTagState.PUBLISHED
        and obj.state is GlobalTagState.INVALID
        and changed <= _INVALIDATION
    )


def _check_dirty(obj: Any) -> None:
    if not inspect(obj).modified or not Session.object_session(obj):
        return
    session = Session.object_session(obj)
    assert session is not None
    if not session.is_modified(obj, include_collections=False):
        return
    if isinstance(obj, IMMUTABLE):
        raise ImmutableObject(
            f"{type(obj).__name__} rows are immutable", "store a new payload or append a new IOV"
        )
    if isinstance(obj, Tag) and _was(obj, "state") is TagState.LOCKED:
        raise TagLocked(f"tag {_was(obj, 'name')!r} is locked", "locked tags never change")
    if isinstance(obj, GlobalTag) and _was(obj, "state") in _IMMUTABLE and not _invalidating(obj):
        raise GlobalTagFrozen(
            f"global tag {_was(obj, 'name')!r} is frozen", "clone it and change the clone"
        )


def _check_deleted(obj: Any) -> None:
    if isinstance(obj, IMMUTABLE):
        raise ImmutableObject(f"{type(obj).__name__} rows cannot be deleted", "history is kept")
    if isinstance(obj, Tag) and _was(obj, "state") is TagState.LOCKED:
        raise TagLocked(f"tag {obj.name!r} is locked", "locked tags cannot be deleted")
    if isinstance(obj, GlobalTag) and _was(obj, "state") in _IMMUTABLE:
        raise GlobalTagFrozen(f"global tag {obj.name!r} is frozen", "frozen global tags stay")


def _check_new(session: Session, obj: Any) -> None:
    if isinstance(obj, IOV):
        tag_state = session.scalar(select(Tag.state).where(Tag.id == obj.tag_id))
        if tag_state is TagState.LOCKED:
            raise TagLocked("the tag of this IOV is locked", "append to an open tag")
    if isinstance(obj, GlobalTagMap):
        gt_state = session.scalar(
            select(GlobalTag.state).where(GlobalTag.id == obj.global_tag_id)
        )
        if gt_state in _IMMUTABLE:
            raise GlobalTagFrozen("the global tag of this map row is frozen", "clone it first")


def install(session: Session) -> Session:
    """Install the guard on ``session`` (idempotent) and return it."""
    if not event.contains(session, "before_flush", refuse_forbidden_changes):
        event.listen(session, "before_flush", refuse_forbidden_changes)
    return session


def refuse_forbidden_changes(session: Session, _context: Any, _instances: Any) -> None:
    with session.no_autoflush:
        for obj in session.dirty:
            _check_dirty(obj)
        for obj in session.deleted:
            _check_deleted(obj)
        for obj in session.new:
            _check_new(session, obj)
