"""Bearer tokens with roles, stored hashed in a file, and the audit log of writes.

Tokens file (``CONDDB_TOKENS_FILE``): one JSON object per line::

    {"name": "alice", "role": "uploader", "sha256": "<hex SHA-256 of the token>",
     "revoked": false, "created_at": "2026-01-01T00:00:00+00:00"}

The token itself (``cdb_`` + 43 URL-safe characters = 256 random bits) is shown once when it is
created and never stored or logged: only its SHA-256 is.  An unsalted hash is enough because the
token is random with 256 bits of entropy (nothing to guess from a dictionary).  The file is
replaced atomically on every change and re-read when its inode, modification time or size
changes, so ``conddb token add|revoke`` takes effect on running workers without a restart.

Roles are ordered: ``reader`` < ``uploader`` < ``admin``; a role may do what the lower ones may.

* reader: the read API (which needs no token anyway) and ``whoami``;
* uploader: upload payloads, create tags, append IOVs, campaign uploads;
* admin: lock tags, register payload types, create / set / clone / freeze global tags.

A tokens file that cannot be read is logged (with its path) on the server and answered with 503
to the clients: the path is nobody else's business, and no stale token may stay valid.

The audit log is the ``audit_log`` table (:mod:`conditions.services.audit`).  ``CONDDB_AUDIT_LOG``
names an optional live copy, one JSON object per line, appended after each record is written
(under an exclusive ``flock``, so that several workers never interleave); it is best effort: a
failing file is logged and never changes an answer.
"""

from __future__ import annotations

import datetime as dt
import enum
import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from conditions.errors import AlreadyExists, ConddbError, InvalidInput, InvalidName
from conditions.store import NAME_PATTERN

TOKEN_PREFIX = "cdb_"

_audit_logger = logging.getLogger("conddb.audit")
_log = logging.getLogger("conddb.service")


class Role(enum.IntEnum):
    """Token roles, ordered by what they may do."""

    READER = 1
    UPLOADER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise InvalidInput(
                f"unknown role {value!r}", "use one of: reader, uploader, admin"
            ) from None


class Unauthorized(ConddbError):
    """No token, an unknown token or a revoked one (HTTP 401)."""

    http_status = 401


class Forbidden(ConddbError):
    """A valid token whose role may not do this (HTTP 403)."""

    http_status = 403


class TokensUnavailable(ConddbError):
    """The server's tokens file cannot be read (HTTP 503; the reason is in the server log)."""

    http_status = 503


@dataclass(frozen=True)
class Identity:
    """Who is calling: the token's name and role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenRecord:
    """One line of the tokens file."""

    name: str
    role: Role
    sha256: str
    revoked: bool
    created_at: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "role": self.role.label,
                "sha256": self.sha256,
                "revoked": self.revoked,
                "created_at": self.created_at,
            },
            sort_keys=True,
        )


def token_hash(token: str) -> str:
    """Hex SHA-256 of a token (what the tokens file stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_tokens(path: Path) -> list[TokenRecord]:
    """All records of a tokens file (missing file: none).  Raises InvalidInput on a bad line."""
    if not path.exists():
        return []
    records: list[TokenRecord] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            records.append(
                TokenRecord(
                    name=str(obj["name"]),
                    role=Role.parse(str(obj["role"])),
                    sha256=str(obj["sha256"]),
                    revoked=bool(obj.get("revoked", False)),
                    created_at=str(obj.get("created_at", "")),
                )
            )
        except (ValueError, KeyError, TypeError, InvalidInput) as exc:
            raise InvalidInput(
                f"{path}:{n}: not a token record ({exc})", "fix or remove the line"
            ) from None
    return records


def _write_tokens(path: Path, records: list[TokenRecord]) -> None:
    """Replace the tokens file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(r.to_json() + "\n" for r in records)
    os.replace(tmp, path)


def add_token(path: Path, name: str, role: Role) -> str:
    """Create a token for ``name`` with ``role``; returns the token (shown once, never stored)."""
    if not NAME_PATTERN.match(name):
        raise InvalidName(f"invalid token name {name!r}", "use letters, digits, _ . -")
    records = read_tokens(path)
    if any(r.name == name and not r.revoked for r in records):
        raise AlreadyExists(f"token {name!r} exists", "revoke it first or choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    records.append(TokenRecord(name, role, token_hash(token), False, now))
    _write_tokens(path, records)
    return token


def revoke_token(path: Path, name: str) -> int:
    """Revoke every token called ``name``; returns how many were revoked."""
    records = read_tokens(path)
    changed = 0
    out: list[TokenRecord] = []
    for r in records:
        if r.name == name and not r.revoked:
            r = TokenRecord(r.name, r.role, r.sha256, True, r.created_at)
            changed += 1
        out.append(r)
    if changed:
        _write_tokens(path, out)
    return changed


class TokenStore:
    """Verifies bearer tokens against the tokens file (re-read when the file changes)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._by_hash: dict[str, TokenRecord] = {}
        self._broken = False

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0, -1)
        except OSError as exc:
            self._unreadable(f"{self.path}: {exc.strerror}")
        with self._lock:
            if stamp == self._stamp:
                if self._broken:
                    raise self._refusal()
                return
            self._stamp, self._by_hash, self._broken = stamp, {}, False
            try:
                records = read_tokens(self.path) if stamp[2] >= 0 else []
            except (InvalidInput, OSError, UnicodeDecodeError) as exc:
                self._broken = True
                self._unreadable(exc.one_line() if isinstance(exc, ConddbError) else str(exc))
            self._by_hash = {r.sha256: r for r in records}

    @staticmethod
    def _refusal() -> TokensUnavailable:
        return TokensUnavailable(
            "the server cannot read its tokens file", "retry later, or tell the admins"
        )

    def _unreadable(self, reason: str) -> NoReturn:
        """Log why the tokens file is unusable (server side only) and refuse with 503."""
        _log.error("tokens file unusable, every authenticated request is refused: %s", reason)
        raise self._refusal()

    def identify(self, authorization: str | None) -> Identity:
        """The identity behind an ``Authorization: Bearer <token>`` header, or Unauthorized."""
        if not authorization:
            raise Unauthorized("no token given", "send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("malformed Authorization header", "use 'Bearer <token>'")
        if self.path is None:
            raise Unauthorized(
                "this server accepts no writes (no tokens file)", "set CONDDB_TOKENS_FILE"
            )
        self._refresh()
        record = self._by_hash.get(token_hash(token))
        if record is None or record.revoked:
            raise Unauthorized("invalid or revoked token", "ask an admin for a token")
        return Identity(record.name, record.role)

    def require(self, authorization: str | None, role: Role) -> Identity:
        """The caller's identity if its role is at least ``role``; else Unauthorized/Forbidden."""
        return check_role(self.identify(authorization), role)


def check_role(who: Identity, role: Role) -> Identity:
    """``who`` if its role is at least ``role``, else :class:`Forbidden`."""
    if who.role < role:
        raise Forbidden(
            f"token {who.name!r} has role {who.role.label}, this needs {role.label}",
            "ask an admin for a token with that role",
        )
    return who


class AuditMirror:
    """Best-effort live copy of the audit table: one JSON line per record written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def append(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` (to the ``conddb.audit`` logger without a file); never raises."""
        line = json.dumps(entry, sort_keys=True, default=str) + "\n"
        if self.path is None:
            _audit_logger.info(line.rstrip())
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line.encode("utf-8"))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        except OSError as exc:
            _log.warning(
                "audit file %s not written (%s); the audit_log table has it",
                self.path,
                exc.strerror or exc,
            )


def read_audit(path: Path) -> list[dict[str, Any]]:
    """All records of an audit log, oldest first."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
