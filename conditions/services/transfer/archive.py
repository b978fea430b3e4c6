"""The export file: a zip archive with a manifest of SHA-256 checked members.

* ``manifest.json`` – format name and version, schema revision, scope, creation time, and for every
  other member its SHA-256, size [bytes] and number of rows;
* ``tables/<table>.jsonl`` – one JSON object per row (see :mod:`.codecs`);
* ``payloads/<sha256>`` – the canonical payload bytes; the member name is their SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from conditions.errors import InvalidInput
from conditions.store import DEFAULT_MAX_PAYLOAD_BYTES

#: Name and version of the file format written by :func:`.export.export_file`.
FORMAT = "juno-conddb-export"
#: 2: the global-tag lifecycle (issue 18): states, reasons, reports, approvals, drift acks,
#: tag synchronisation and processed runs.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

_CHUNK = 1 << 20  # bytes read at a time when hashing a member

#: Largest manifest and largest table line [bytes] an import reads (a forged file cannot make it
#: hold more in memory); payload members are capped by the payload limit of the import.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024


class TransferError(InvalidInput):
    """The export file is unreadable, of another format, or fails its SHA-256 checks."""


#: The manifest key holding the signature (HMAC-SHA256 of the rest of the manifest, hex).
SIGNATURE = "hmac_sha256"


def _signed_bytes(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(manifest: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The manifest with its HMAC-SHA256 under ``key``.  The manifest lists the SHA-256 of every
    member, so the signature covers every table row and payload byte."""
    digest = hmac.new(key, _signed_bytes(manifest), hashlib.sha256).hexdigest()
    return {**manifest, SIGNATURE: digest}


def check_signature(manifest: dict[str, Any], key: bytes, path: Path) -> None:
    """Refuse an unsigned file, or one signed with another key or altered after signing."""
    given = manifest.get(SIGNATURE)
    if not isinstance(given, str):
        raise TransferError(
            f"{path} is not signed, and a key was given",
            "import it without --key only if you "
            "trust where it comes from, or ask for a signed export",
        )
    wanted = hmac.new(key, _signed_bytes(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, wanted):
        raise TransferError(
            f"{path}: signature check failed (another key, or the file was altered)",
            "ask the exporter for the file again and check the key",
        )


def read_key(path: str | Path) -> bytes:
    """The signing key: the bytes of a key file (at least 16 bytes; surrounding whitespace
    ignored)."""
    p = Path(path)
    try:
        key = p.read_bytes().strip()
    except OSError as exc:
        raise TransferError(f"cannot read key file {p} ({exc.strerror})", "check --key") from None
    if len(key) < 16:
        raise TransferError(
            f"key file {p} holds {len(key)} bytes",
            "use a key of at least 16 bytes, e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))' > key`",
        )
    return key


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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes | str) -> Any:
    """Strict JSON (NaN / Infinity refused); ValueError for anything else."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def manifest_of(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        info = zf.getinfo(MANIFEST)
        if info.file_size > MAX_MANIFEST_BYTES:
            raise TransferError(
                f"{path}: manifest of {info.file_size} bytes (limit {MAX_MANIFEST_BYTES})",
                "it is not a conddb export",
            )
        with zf.open(info) as member:
            manifest = loads(member.read(MAX_MANIFEST_BYTES + 1))
    except KeyError:
        raise TransferError(f"{path} has no {MANIFEST}", "it is not a conddb export") from None
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
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


def _check_sizes(
    zf: zipfile.ZipFile, path: Path, listed: dict[str, Any], max_payload_bytes: int
) -> None:
    """Every member's declared size agrees with the manifest and payloads are within the limit,
    checked before a byte is inflated (zipfile never inflates past the declared size)."""
    for name, entry in sorted(listed.items()):
        info = zf.getinfo(name)
        if not isinstance(entry, dict) or entry.get("bytes") != info.file_size:
            raise TransferError(
                f"{path}: size of {name} differs from the manifest", "the file is damaged"
            )
        if name.startswith("payloads/") and info.file_size > max_payload_bytes:
            raise TransferError(
                f"{path}: {name} inflates to {info.file_size} bytes, over the payload limit of "
                f"{max_payload_bytes} bytes",
                "payloads that large are refused by the library too; split it at the source",
            )


def verify(
    zf: zipfile.ZipFile,
    path: Path,
    manifest: dict[str, Any],
    tables: Iterable[str],
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> None:
    listed: dict[str, Any] = manifest["members"]
    present = set(zf.namelist()) - {MANIFEST}
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise TransferError(f"{path}: member {unlisted[0]} is not in the manifest", "damaged file")
    for table in tables:
        if table_member(table) not in listed:
            raise TransferError(f"{path}: table {table} missing from the manifest", "damaged file")
    missing = sorted(set(listed) - present)
    if missing:
        raise TransferError(f"{path}: member {missing[0]} is missing", "the file is damaged")
    _check_sizes(zf, path, listed, max_payload_bytes)
    for name, entry in sorted(listed.items()):
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
        n = 0
        while line := member.readline(MAX_LINE_BYTES + 1):
            n += 1
            if len(line) > MAX_LINE_BYTES:
                raise TransferError(
                    f"{name} line {n} is longer than {MAX_LINE_BYTES} bytes", "damaged file"
                )
            try:
                row = loads(line.decode("utf-8"))
            except ValueError as exc:  # UnicodeDecodeError too
                raise TransferError(
                    f"{name} line {n} is not JSON ({exc})", "damaged file"
                ) from None
            if not isinstance(row, dict):
                raise TransferError(f"{name} line {n} is not an object", "damaged")
            yield row
