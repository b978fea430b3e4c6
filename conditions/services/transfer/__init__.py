"""Export and import of a conditions database (whole, or one global tag with all it references).

The export file is one zip archive (:mod:`.archive`: manifest, ``tables/<table>.jsonl``,
``payloads/<sha256>``); each table's JSON lines are written and read by one codec
(:mod:`.codecs`).  :mod:`.export` selects and writes the rows; :mod:`.importer` verifies a file and
writes it in one transaction.

What is kept: payload types; payloads (bytes, type, schema version, size, provenance, created
time); tags with *every* IOV row (since, insertion time, payload) – superseded rows included, so
``as_of`` replays answer the same after a round trip; global tags with their whole map history and
states (a frozen global tag keeps its snapshot time); the run registry (whole-database exports);
campaign records and their links.

Import verifies the manifest and every SHA-256 before it writes anything, then writes everything in
one transaction (all or nothing); an object already present with other content is a
:class:`TransferConflict` and nothing is written.
"""

from .archive import FORMAT, FORMAT_VERSION, MANIFEST, TransferError, read_manifest
from .codecs import TABLES
from .export import TransferReport, export_file
from .importer import TransferConflict, import_file, table_counts, verify_file

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "TABLES",
    "TransferConflict",
    "TransferError",
    "TransferReport",
    "export_file",
    "import_file",
    "read_manifest",
    "table_counts",
    "verify_file",
]
