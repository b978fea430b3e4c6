"""Bulk appends: the IOV insert guards once per statement (PostgreSQL), one tag probe (SQLite).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Issue 15 (800k IOVs with distinct payloads through the public write path in < 60 s): the two
per-row ``BEFORE INSERT`` guards of ``iov`` cost more than the insert itself (PostgreSQL, 100k
rows: ``iov_tag_locked`` 0.9 s, ``iov_sync_guard`` 0.7 s, of 4.4 s).  The rules, messages and
locks stay exactly those of 0001/0003/0006; what changes is how often they run:

* **PostgreSQL**: both row triggers are replaced by one statement-level ``AFTER INSERT`` trigger
  over the transition table (``REFERENCING NEW TABLE``), ``iov_append_guard``.  Per distinct tag of
  the statement (in id order) it reads the tag row ``FOR SHARE`` — the lock-vs-append race of
  0003 stays closed: a lock waits for the uncommitted append, an append waits for an uncommitted
  lock and then sees ``locked`` — and refuses ``tag is locked``; for a prompt / express tag it
  reads the FCSR ``FOR SHARE`` (0006) and refuses the lowest ``since`` below the first
  condition-safe run with 0006's message.  An ``AFTER`` statement trigger still aborts the whole
  statement (nothing of it stays), and it fires for ``INSERT`` and ``COPY`` alike, whoever the
  writer is.  Its name sorts before ``iov_bump_insert`` (0005): PostgreSQL fires triggers of one
  event in name order, so the tag row is share-locked before the change counter is, the order a
  concurrent ``lock`` takes them in (tag row, then its counter), which keeps the two from
  deadlocking.  The row functions ``conddb_iov_guard`` / ``conddb_iov_sync_guard`` stay, unused,
  so that the downgrade re-attaches the very bodies 0003/0006 wrote.
* **SQLite** has row triggers only: ``iov_tag_locked`` and ``iov_sync_guard`` (three probes of
  the tag row per IOV for an offline tag) become one trigger, ``iov_append_guard``, whose
  ``WHEN`` probes the tag row once and is false for an open offline tag; its body raises the
  same messages under the same conditions as the two triggers it replaces.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SYNC_MSG = "prompt or express tag append below the first condition-safe run"
LOCKED_MSG = "conddb: iov change refused: tag is locked"
#: 0006's condition of a prompt / express append below the FCSR (SQLite).
SQLITE_SYNC_CONDITION = """((SELECT synchronization FROM tag WHERE id = NEW.tag_id) = 'prompt'
       AND NEW.since < (SELECT fcsr FROM sync_state WHERE id = 1))
  OR ((SELECT synchronization FROM tag WHERE id = NEW.tag_id) = 'express'
       AND NEW.since < MAX((SELECT fcsr FROM sync_state WHERE id = 1),
                           (SELECT COALESCE(MAX(run) + 1, 0) FROM run)))"""

SQLITE_GUARD = f"""
CREATE TRIGGER iov_append_guard BEFORE INSERT ON iov FOR EACH ROW
WHEN (SELECT state = 'locked' OR synchronization <> 'offline' FROM tag WHERE id = NEW.tag_id)
BEGIN
    SELECT RAISE(ABORT, '{LOCKED_MSG}')
        WHERE (SELECT state FROM tag WHERE id = NEW.tag_id) = 'locked';
    SELECT RAISE(ABORT, 'conddb: INSERT on iov refused: {SYNC_MSG}')
        WHERE {SQLITE_SYNC_CONDITION};
END
"""
#: The two row triggers as 0001 and 0006 made them (for the downgrade).
SQLITE_OLD = [
    "CREATE TRIGGER iov_tag_locked BEFORE INSERT ON iov FOR EACH ROW WHEN "
    f"(SELECT state FROM tag WHERE id = NEW.tag_id) = 'locked' BEGIN SELECT RAISE(ABORT, "
    f"'{LOCKED_MSG}'); END",
    f"""
CREATE TRIGGER iov_sync_guard BEFORE INSERT ON iov FOR EACH ROW
WHEN {SQLITE_SYNC_CONDITION}
BEGIN SELECT RAISE(ABORT, 'conddb: INSERT on iov refused: {SYNC_MSG}'); END
""",
]

PG_GUARD = """
CREATE FUNCTION conddb_iov_append_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t record;
    safe bigint;
    low bigint;
BEGIN
    -- Once per statement: the distinct tags of the new rows, share-locked in id order (0003:
    -- the lock-vs-append race), then the rules of conddb_iov_guard and conddb_iov_sync_guard.
    FOR t IN
        SELECT tag.id, tag.state::text AS state, tag.synchronization::text AS sync
        FROM tag WHERE tag.id IN (SELECT n.tag_id FROM new_rows n)
        ORDER BY tag.id FOR SHARE
    LOOP
        IF t.state = 'locked' THEN
            RAISE EXCEPTION 'conddb: INSERT on iov refused: tag is locked'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        CONTINUE WHEN t.sync = 'offline';
        SELECT fcsr INTO safe FROM sync_state WHERE id = 1 FOR SHARE;
        IF t.sync = 'express' THEN
            safe := GREATEST(safe, (SELECT COALESCE(MAX(run) + 1, 0) FROM run));
        END IF;
        SELECT min(n.since) INTO low FROM new_rows n WHERE n.tag_id = t.id;
        IF low < safe THEN
            RAISE EXCEPTION 'conddb: INSERT on iov refused: % tag append at since % is below the '
                'first condition-safe run (FCSR) %', t.sync, low, safe
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
DROP TRIGGER iov_tag_locked ON iov;
DROP TRIGGER iov_sync_guard ON iov;
CREATE TRIGGER iov_append_guard AFTER INSERT ON iov
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION conddb_iov_append_guard();
"""
PG_GUARD_DROP = """
DROP TRIGGER IF EXISTS iov_append_guard ON iov;
DROP FUNCTION IF EXISTS conddb_iov_append_guard();
CREATE TRIGGER iov_tag_locked BEFORE INSERT ON iov
    FOR EACH ROW EXECUTE FUNCTION conddb_iov_guard();
CREATE TRIGGER iov_sync_guard BEFORE INSERT ON iov
    FOR EACH ROW EXECUTE FUNCTION conddb_iov_sync_guard();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARD)
        return
    op.execute("DROP TRIGGER IF EXISTS iov_tag_locked")
    op.execute("DROP TRIGGER IF EXISTS iov_sync_guard")
    op.execute(SQLITE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARD_DROP)
        return
    op.execute("DROP TRIGGER IF EXISTS iov_append_guard")
    for statement in SQLITE_OLD:
        op.execute(statement)
