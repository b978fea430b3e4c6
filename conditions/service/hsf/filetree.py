"""The payload file tree of a global tag, for CVMFS-style deployments (``conddb export-files``).

The C++ ``nopayloadclient`` never downloads: it looks for each ``payload_url`` under local
directories.  :func:`export_files` writes, under ``out``:

* ``<type>/<sha256>``: the canonical bytes of every payload in force in the global tag (for a
  frozen one: as of its snapshot time), i.e. every ``payload_url`` its lookups can answer;
* ``<global tag>.sha256``: the manifest, one ``<sha256>  <type>/<sha256>`` line per file, sorted
  (``sha256sum -c <global tag>.sha256`` checks the tree).

Idempotent: a file already present with the right SHA-256 is left alone (a re-run writes
nothing).  Verified: the bytes read from the database must hash to their name (else
:class:`~conditions.errors.HashCollision` and nothing more is written); an existing file whose
content does not match its name (damaged, truncated, edited) is detected and rewritten, and
counted as ``repaired``.  Every file is written to a temporary name and renamed into place, so a
reader never sees a half-written payload.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from conditions import store
from conditions.errors import HashCollision

from . import mapping


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_files` did: files of the global tag, and how many it wrote."""

    global_tag: str
    files: int
    written: int
    repaired: int
    unchanged: int
    manifest: Path
    manifest_written: bool


def _file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of a file's bytes, or None if it is not a regular file."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _publish(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def payload_urls(s: Session, global_tag: str) -> dict[str, str]:
    """``payload_url -> sha256`` of every payload in force in ``global_tag``."""
    gt = store.get_global_tag(s, global_tag)
    urls: dict[str, str] = {}
    for tag in store.global_tag_map(s, gt).values():
        for row in store.list_iovs(s, tag.name, as_of=gt.snapshot_time):
            urls[mapping.payload_url(tag.type_name, row.payload_hash)] = row.payload_hash
    return urls


def export_files(s: Session, global_tag: str, out: Path) -> ExportReport:
    """Write (or check) the payload file tree and manifest of ``global_tag`` under ``out``."""
    urls = payload_urls(s, global_tag)
    written = repaired = unchanged = 0
    for url, payload_hash in sorted(urls.items()):
        path = out / url
        on_disk = _file_sha256(path)
        if on_disk == payload_hash:
            unchanged += 1
            continue
        data = store.payload_bytes(s, payload_hash)
        if store.sha256_hex(data) != payload_hash:
            raise HashCollision(
                f"payload {payload_hash} read from the database does not hash to its name",
                "the database may be corrupt; nothing more was written - contact the admins",
            )
        _publish(path, data)
        if on_disk is None:
            written += 1
        else:
            repaired += 1
    manifest = out / f"{global_tag}.sha256"
    text = "".join(f"{h}  {url}\n" for url, h in sorted(urls.items())).encode()
    manifest_written = not manifest.is_file() or manifest.read_bytes() != text
    if manifest_written:
        _publish(manifest, text)
    return ExportReport(
        global_tag, len(urls), written, repaired, unchanged, manifest, manifest_written
    )
