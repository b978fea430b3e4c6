"""Export: the whole database, or one global tag with all it references, to one zip file."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from conditions import migrate
from conditions.db import read_session
from conditions.store import sha256_hex
from conditions.store import transfer as rows_of
from conditions.store.transfer import Selection, select_global_tag

from . import codecs
from .archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MemberWriter,
    payload_member,
    sign,
    table_member,
)
from .codecs import encode_time


@dataclass(frozen=True)
class TransferReport:
    """What an export wrote or an import found.

    ``rows``: rows per table in the file.  ``added`` / ``reused`` (import only): rows per table
    that were written / found already identical in the target.
    """

    path: Path
    scope: str
    rows: dict[str, int]
    added: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)


def scope_text(global_tag: str | None) -> str:
    return "database" if global_tag is None else f"global tag {global_tag}"


def export_file(
    engine: Engine, path: str | Path, *, global_tag: str | None = None, key: bytes | None = None
) -> TransferReport:
    """Write the whole database, or ``global_tag`` with all it references, to the zip ``path``.

    The export reads in one transaction (a consistent snapshot on PostgreSQL; on SQLite the read
    transaction holds its WAL snapshot).  An existing file is overwritten only once the new one is
    complete (written to ``path.part`` first, then renamed).  With ``key`` the manifest is
    signed (HMAC-SHA256, :func:`.archive.sign`).
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    members: dict[str, dict[str, Any]] = {}
    revision = migrate.current_revision(engine)
    snapshot = engine
    if engine.dialect.name == "postgresql":  # one consistent snapshot for every table
        snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
    with read_session(snapshot) as s, s.begin():
        sel = Selection() if global_tag is None else select_global_tag(s, global_tag)
        rows = rows_of.export_rows(s, sel)
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for codec in codecs.CODECS:
                writer = MemberWriter(zf, table_member(codec.table))
                hashes: list[str] = []
                for values in rows.of(codec.table):
                    row = codec.encode(values)
                    writer.write(row)
                    if codec.table == "payload":
                        hashes.append(row["hash"])
                members[writer.name] = writer.close()
                for h in hashes:
                    data = rows_of.payload_data(s, h)
                    zf.writestr(payload_member(h), data)
                    members[payload_member(h)] = {
                        "sha256": sha256_hex(data),
                        "bytes": len(data),
                        "rows": 1,
                    }
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "schema_revision": revision,
                "scope": {"global_tag": global_tag},
                "created_at": encode_time(dt.datetime.now(dt.UTC)),
                "members": members,
            }
            if key is not None:
                manifest = sign(manifest, key)
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    part.replace(path)
    counts = {t: members[table_member(t)]["rows"] for t in codecs.TABLES}
    return TransferReport(path, scope_text(global_tag), counts)
