"""Re-export of :mod:`conditions.services.documents` (moved there)."""

from .services.documents import (  # noqa: F401
    canonical_json,
    decode_document,
    encode_document,
    parse_json_bytes,
    put_document,
    read_document_file,
    summarise_arrays,
    typed_types,
)
