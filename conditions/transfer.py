"""Export and import of a conditions database: moved to :mod:`conditions.services.transfer`.

Kept so that ``from conditions import transfer`` and ``conditions.transfer.export_file`` keep
working.
"""

from conditions.services.transfer import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    TABLES,
    TransferConflict,
    TransferError,
    TransferReport,
    export_file,
    import_file,
    read_manifest,
    table_counts,
    verify_file,
)

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
