"""Both backends accept exactly the same names and texts (issue 13 item 9).

A ``$``-anchored name pattern let a trailing newline through: ``"a"*100 + "\\n"`` was stored by
SQLite and a raw ``DataError`` (101 characters in varchar(100)) on PostgreSQL, which broke
SQLite -> PostgreSQL transfers.  NUL characters in descriptions and run types: PostgreSQL text
cannot hold them, so both backends refuse them with the same typed error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from conditions import store
from conditions.campaign import upload_campaign
from conditions.db import write_session
from conditions.errors import InvalidInput, InvalidName
from tests.conftest import row_counts
from tests.integration.test_campaign_upload import constants

BAD_NAMES = ["a" * 100 + "\n", "a\n", "tag\n", "a\r\n", "\na", "a\x00", "a" * 101]


def _campaign_named(s: Session, name: str) -> Any:
    base = constants()
    return upload_campaign(s, type(base)(**{**base.__dict__, "name": name}))


def _prepared(s: Session) -> None:
    store.register_payload_type(s, "json")
    store.create_tag(s, "t", "json")
    store.create_global_tag(s, "G")


CREATORS: dict[str, Callable[[Session, str], object]] = {
    "payload type": lambda s, n: store.register_payload_type(s, n),
    "tag": lambda s, n: store.create_tag(s, n, "json"),
    "global tag": lambda s, n: store.create_global_tag(s, n),
    "record": lambda s, n: store.set_record(s, "G", n, "t"),
    "clone": lambda s, n: store.clone_global_tag(s, "G", n),
    "run type": lambda s, n: store.register_run(s, 7, run_type=n),
    "campaign": _campaign_named,
}


@pytest.mark.parametrize("kind", sorted(CREATORS))
def test_names_with_newlines_nul_or_too_long_are_refused(engine: Engine, kind: str) -> None:
    with write_session(engine) as s:
        _prepared(s)
    before = row_counts(engine)
    for name in BAD_NAMES:
        with pytest.raises(InvalidName), write_session(engine) as s:
            CREATORS[kind](s, name)
        assert row_counts(engine) == before, repr(name)
    with write_session(engine) as s:  # the longest valid name is accepted on both backends
        CREATORS[kind](s, "a" * 100)


DESCRIBED: dict[str, Callable[[Session, str], object]] = {
    "payload type": lambda s, d: store.register_payload_type(s, "other", d),
    "tag": lambda s, d: store.create_tag(s, "t2", "json", d),
    "global tag": lambda s, d: store.create_global_tag(s, "G2", d),
    "clone": lambda s, d: store.clone_global_tag(s, "G", "G3", d),
}


@pytest.mark.parametrize("kind", sorted(DESCRIBED))
def test_nul_in_a_description_is_refused(engine: Engine, kind: str) -> None:
    with write_session(engine) as s:
        _prepared(s)
    before = row_counts(engine)
    with pytest.raises(InvalidInput, match="NUL"), write_session(engine) as s:
        DESCRIBED[kind](s, "calibration\x00 of week 3")
    assert row_counts(engine) == before
    with write_session(engine) as s:  # any other text, newlines and unicode included, is fine
        DESCRIBED[kind](s, "calibration\nof week 3 — ü")
