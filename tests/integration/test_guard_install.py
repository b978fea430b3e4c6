"""The ORM guard is installed on the sessions conditions.db makes, never on import.

A process that imports ``conditions`` and has SQLAlchemy sessions of its own (its own model, its
own engine) must see no change: no listener on the ``Session`` class, and its flushes work.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conditions import db, store
from conditions.db import guards
from conditions.db.model import Payload
from conditions.errors import ImmutableObject


def test_importing_conditions_leaves_foreign_sessions_untouched(tmp_path: Path) -> None:
    """In a fresh interpreter: import every conditions module that used to install the guard,
    then update a row of an unrelated mapped class through a plain Session."""
    script = textwrap.dedent(
        f"""
        from sqlalchemy import Integer, String, create_engine, event
        from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

        import conditions, conditions.db, conditions.store, conditions.resolve  # noqa: F401
        from conditions.db import guards

        class Base(DeclarativeBase):
            pass

        class Thing(Base):
            __tablename__ = "thing"
            id: Mapped[int] = mapped_column(Integer, primary_key=True)
            name: Mapped[str] = mapped_column(String(10))

        assert not event.contains(Session, "before_flush", guards.refuse_forbidden_changes)
        engine = create_engine("sqlite:///{tmp_path / 'foreign.sqlite'}")
        Base.metadata.create_all(engine)
        with Session(engine) as s, s.begin():
            s.add(Thing(id=1, name="a"))
        with Session(engine) as s, s.begin():
            thing = s.get(Thing, 1)
            thing.name = "b"          # an update the guard would look at
        with Session(engine) as s:
            assert s.get(Thing, 1).name == "b"
            assert not s.dispatch.before_flush
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _first_payload(s: Session) -> Payload:
    found = s.scalars(select(Payload)).first()
    assert found is not None
    return found


def test_sessions_of_conditions_db_carry_the_guard(engine: Engine) -> None:
    with db.write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.put_payload(s, "json", b'{"v":1}')
    assert not event.contains(Session, "before_flush", guards.refuse_forbidden_changes)
    with pytest.raises(ImmutableObject), db.session(engine) as s, s.begin():
        assert event.contains(s, "before_flush", guards.refuse_forbidden_changes)
        _first_payload(s).provenance = {"x": 1}
    # a plain Session on the same database: no ORM guard, the database trigger still refuses
    with pytest.raises(DBAPIError, match="conddb"), Session(engine) as s, s.begin():
        _first_payload(s).provenance = {"x": 1}
