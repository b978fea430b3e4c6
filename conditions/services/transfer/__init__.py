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

What import trusts and what it checks: the file is untrusted input.  Import re-applies every rule
of the library to every row (names, text without NUL, run numbers 0..2**63-1, sizes and the
payload limit, canonical encoding and decoding of payloads, payload hash = SHA-256 of its bytes,
type agreement of IOVs and their payloads, references to existing payloads and tags, states and
their timestamps, no time in the future, runs and campaigns that end after they start), streams
members with size caps, and refuses with one :class:`TransferError` naming the first bad row.
What it cannot know without a key is *who* wrote the file: a forged file that obeys every rule
(e.g. other payload values under new hashes) is accepted.  Sign exports with a shared key
(``conddb export --key FILE``, HMAC-SHA256 of the manifest, which lists every member's SHA-256) and
import with the same key to refuse any file not made by a key holder.

Import writes everything in one transaction (all or nothing); an object already present with
other content is a :class:`TransferConflict` and nothing is written.
"""

from .archive import FORMAT, FORMAT_VERSION, MANIFEST, TransferError, read_key, read_manifest
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
    "read_key",
    "read_manifest",
    "table_counts",
    "verify_file",
]
