"""The export file: a zip archive with a manifest of SHA-256 checked members.

* ``manifest.json`` – format name and version, schema revision, scope, creation time, and for every
  other member its SHA-256, size [bytes] and number of rows;
* ``tables/<table>.jsonl`` – one JSON object per row (see :mod:`.codecs`);
* ``payloads/<sha256>`` – the canonical payload bytes; the member name is their SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from conditions.errors import InvalidInput

#: Name and version of the file format written by :func:`.export.export_file`.
FORMAT = "juno-conddb-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

_CHUNK = 1 << 20  # bytes read at a time when hashing a member


class TransferError(InvalidInput):
    """The export file is unreadable, of another format, or fails its SHA-256 checks."""


def table_member(table: str) -> str:
    return f"tables/{table}.jsonl"


def payload_member(payload_hash: str) -> str:
    return f"payloads/{payload_hash}"


class MemberWriter:
    """Writes JSON lines into one zip member while hashing them."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self._out: IO[bytes] = archive.open(name, "w", force_zip64=True)
        self._sha = hashlib.sha256()
        self.size = 0
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n").encode()
        self._out.write(line)
        self._sha.update(line)
        self.size += len(line)
        self.rows += 1

    def close(self) -> dict[str, Any]:
        """Close the member; its manifest entry (SHA-256, bytes, rows)."""
        self._out.close()
        return {"sha256": self._sha.hexdigest(), "bytes": self.size, "rows": self.rows}


def open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TransferError(
            f"{path} is not a conddb export (not a zip file)", "check the file"
        ) from None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of an export file (checked for format and version, not yet for hashes)."""
    path = Path(path)
    with open_archive(path) as zf:
        return manifest_of(zf, path)


def manifest_of(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise TransferError(f"{path} has no {MANIFEST}", "it is not a conddb export") from None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise TransferError(f"{path}: unreadable manifest ({exc})", "the file is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TransferError(f"{path} is not a {FORMAT} file", "give a file made by `conddb export`")
    if manifest.get("version") != FORMAT_VERSION:
        raise TransferError(
            f"{path} has format version {manifest.get('version')!r}, this conddb reads "
            f"{FORMAT_VERSION}",
            "use the conddb version that wrote it",
        )
    members = manifest.get("members")
    if not isinstance(members, dict):
        raise TransferError(f"{path}: manifest lists no members", "the file is damaged")
    return manifest


def _member_sha256(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with zf.open(name) as member:
        while chunk := member.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def verify(
    zf: zipfile.ZipFile, path: Path, manifest: dict[str, Any], tables: Iterable[str]
) -> None:
    listed: dict[str, Any] = manifest["members"]
    present = set(zf.namelist()) - {MANIFEST}
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise TransferError(f"{path}: member {unlisted[0]} is not in the manifest", "damaged file")
    for table in tables:
        if table_member(table) not in listed:
            raise TransferError(f"{path}: table {table} missing from the manifest", "damaged file")
    for name, entry in sorted(listed.items()):
        if name not in present:
            raise TransferError(f"{path}: member {name} is missing", "the file is damaged")
        try:
            digest, size = _member_sha256(zf, name)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise TransferError(
                f"{path}: member {name} unreadable ({exc})", "damaged file"
            ) from None
        if (
            not isinstance(entry, dict)
            or entry.get("sha256") != digest
            or entry.get("bytes") != size
        ):
            raise TransferError(
                f"{path}: SHA-256 check of {name} failed", "the file is damaged or was altered"
            )
        if name.startswith("payloads/") and name != payload_member(digest):
            raise TransferError(
                f"{path}: payload member {name} does not hold the bytes of its hash",
                "the file is damaged or was altered",
            )


def member_rows(zf: zipfile.ZipFile, table: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``tables/<table>.jsonl``, in file order."""
    name = table_member(table)
    with zf.open(name) as member:
        for n, line in enumerate(io.TextIOWrapper(member, encoding="utf-8"), 1):
            try:
                row = json.loads(line)
            except ValueError:
                raise TransferError(f"{name} line {n} is not JSON", "damaged file") from None
            if not isinstance(row, dict):
                raise TransferError(f"{name} line {n} is not an object", "damaged")
            yield row
