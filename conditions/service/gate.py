"""The gate: a pure ASGI middleware that admits or refuses a request from its headers alone,
before one byte of its body is read, and audits every write attempt.

FastAPI reads and parses a JSON body before it runs any dependency, so a token check in a
dependency comes too late: a 400 MB body without a token used to grow a worker by 400 MB before
its 401.  The gate runs first.  For a route that needs a role (``Require``, :mod:`.access`) and
for every write method (POST, PUT, PATCH, DELETE) it refuses, in this order:

1. 429 ``TooManyFailures`` (+ ``Retry-After``) when the client address has used up its failed
   attempts (:mod:`.throttle`) - the token is not even looked at;
2. 411 ``LengthRequired`` for a chunked body without ``Content-Length``;
3. 401 ``Unauthorized`` / 403 ``Forbidden`` / 503 ``TokensUnavailable`` from the token;
4. 413 ``PayloadTooLarge`` when ``Content-Length`` exceeds the body limit.

A refusal is answered at once with ``Connection: close`` when a body was announced, so the
server stops reading the connection.  An admitted request's body is still capped at the limit
while it streams in (413).  The identity is left in ``request.state.who`` for ``Require``.

Audit: a write that succeeds is recorded by :func:`.write_api.apply` inside its own transaction;
every other outcome of a write attempt (a refusal of the gate, 404, 405, 422, a domain error,
a 5xx) is recorded here in a small transaction of its own, with the error line of the answer.
Of a throttled client only the first 429 is recorded.  Refusals of anonymous callers also count
as failed attempts of their address (so they cannot flood the audit table either).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conditions.errors import ConddbError, PayloadTooLarge
from conditions.services import audit

from .access import required_role
from .auth import Identity, Role, check_role
from .responses import error_body, error_response
from .state import ServiceState

#: HTTP methods that change something: every attempt is audited.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: A JSON request body may be this many times larger than the payload limit (nested lists of
#: numbers take ~4-8x the bytes of their binary form).
JSON_OVERHEAD = 8

#: Bytes of an error answer kept to audit its message.
_ERROR_BODY_BYTES = 8192


class TooManyFailures(ConddbError):
    """Too many failed authentications from one client address (HTTP 429)."""

    http_status = 429


class LengthRequired(ConddbError):
    """A chunked body without ``Content-Length`` (HTTP 411)."""

    http_status = 411


def body_limit(state: ServiceState) -> int:
    """Largest request body accepted [bytes]."""
    return state.settings.max_payload_bytes * JSON_OVERHEAD


@dataclass
class Attempt:
    """One request as the audit sees it."""

    client: str
    action: str
    target: str
    write: bool
    audited: bool = False

    @classmethod
    def of(cls, scope: Scope, route: BaseRoute | None = None) -> Attempt:
        client = scope.get("client")
        route = route or scope.get("route")
        name = getattr(route, "name", None)
        return cls(
            client=client[0] if client else "unknown",
            action=name or f"{scope['method']} {scope['path']}",
            target=scope["path"],
            write=scope["method"] in WRITE_METHODS,
        )

    def entry(
        self,
        who: Identity | None,
        status: int,
        detail: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> audit.Entry:
        return audit.Entry(
            action=self.action,
            target=self.target,
            status=status,
            who=None if who is None else who.name,
            role=None if who is None else who.role.label,
            client=self.client,
            detail=detail or {},
            error=error,
        )


def attempt_of(request: Request) -> Attempt:
    """The :class:`Attempt` the gate made of ``request`` (made now if it did not pass the gate)."""
    state = request.scope.setdefault("state", {})
    found = state.get("conddb_attempt")
    if not isinstance(found, Attempt):
        found = state["conddb_attempt"] = Attempt.of(request.scope)
    return found


class _Refused(Exception):
    def __init__(self, error: ConddbError, who: Identity | None = None, **headers: str) -> None:
        self.error, self.who, self.headers = error, who, headers


class _Recorder:
    """Passes the answer through, keeping its status and the start of an error body; calls
    ``on_end`` just before the last body message goes out (the audit precedes the answer)."""

    def __init__(self, send: Send, on_end: Callable[[_Recorder], Awaitable[None]]) -> None:
        self._send = send
        self._on_end = on_end
        self.status = 500
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            if self.status >= 400:
                self.body = (self.body + message.get("body", b""))[:_ERROR_BODY_BYTES]
            if not message.get("more_body", False):
                await self._on_end(self)
        await self._send(message)

    def error(self) -> str | None:
        if self.status < 400:
            return None
        try:
            doc = json.loads(self.body)
            message, hint = str(doc["message"]), str(doc.get("hint") or "")
        except (ValueError, KeyError, TypeError):
            return self.body.decode("utf-8", "replace")[:200] or f"HTTP {self.status}"
        return f"{message} - {hint}" if hint else message


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses (413) a body growing past ``limit`` bytes."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"request body exceeds the limit of {limit} bytes")
        return message

    return capped


def _flat(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The routes of a router with its included routers' routes in place (FastAPI >= 0.16x
    keeps an included router as one lazy entry holding ``original_router``)."""
    out: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out.extend(_flat(inner.routes) if inner is not None else [route])
    return out


#: An error body (our shape) -> the same body with the fields another API's clients read.
ErrorShape = Callable[[dict[str, Any]], dict[str, Any]]


class Gate:
    """ASGI middleware: admission from headers, body cap, audit of write attempts.

    ``routers``: the routers whose routes the app serves (the gate reads each route's role from
    them; the app's own route table is FastAPI's business and may resolve lazily)."""

    def __init__(
        self,
        app: ASGIApp,
        routers: Sequence[APIRouter],
        error_shapes: Sequence[tuple[str, ErrorShape]] = (),
    ) -> None:
        self.app = app
        self._error_shapes = tuple(error_shapes)
        self._routes: list[tuple[BaseRoute, Role | None]] = [
            (route, required_role(route)) for router in routers for route in _flat(router.routes)
        ]

    def _route(self, scope: Scope, write: bool) -> tuple[BaseRoute | None, Role | None]:
        """The route ``scope`` goes to and the role it needs (reads: only routes with a role)."""
        method = scope["method"]
        for route, role in self._routes:
            if (role is None and not write) or method not in getattr(route, "methods", ()):
                continue
            if route.matches(scope)[0] is Match.FULL:
                return route, role
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        write = scope["method"] in WRITE_METHODS
        route, role = self._route(scope, write)
        if role is None and not write:
            await self.app(scope, receive, send)
            return
        st: ServiceState = scope["app"].state.conddb
        attempt = Attempt.of(scope, route)
        headers = Headers(scope=scope)
        try:
            who = self._admit(st, attempt.client, headers, role)
        except _Refused as refused:
            exc = refused.error
            await self._settle(st, attempt, refused.who, exc.http_status, exc.one_line())
            await self._refuse(scope, receive, send, headers, refused)
            return
        state = scope.setdefault("state", {})
        state["conddb_attempt"] = attempt
        if who is not None:
            state["who"] = who

        async def on_end(answer: _Recorder) -> None:
            await self._settle(st, attempt, state.get("who", who), answer.status, answer.error())

        try:
            await self.app(scope, _capped(receive, body_limit(st)), _Recorder(send, on_end).send)
        except Exception:
            await self._settle(st, attempt, who, 500, "internal error (see the server log)")
            raise

    def _admit(
        self, st: ServiceState, client: str, headers: Headers, role: Role | None
    ) -> Identity | None:
        """The caller's identity (None: the route needs no role) or :class:`_Refused`."""
        wait = st.throttle.retry_after(client)
        if wait:
            raise _Refused(
                TooManyFailures(
                    "too many failed authentications from this address",
                    f"retry in {wait} s with a valid token",
                ),
                retry_after=str(wait),
            )
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if chunked and "content-length" not in headers:
            raise _Refused(
                LengthRequired(
                    "a chunked request body has no Content-Length",
                    "send the body with its length (not chunked)",
                )
            )
        who: Identity | None = None
        if role is None:  # e.g. a write to no route (404, 405): name a valid caller, if any
            with contextlib.suppress(ConddbError):
                who = st.tokens.identify(headers.get("authorization"))
        try:
            if role is not None:
                who = st.tokens.identify(headers.get("authorization"))
                check_role(who, role)
            length = headers.get("content-length", "")
            limit = body_limit(st)
            if length.isdigit() and int(length) > limit:
                raise PayloadTooLarge(
                    f"request body of {length} bytes exceeds the limit of {limit} bytes",
                    "split the upload (or raise CONDDB_MAX_PAYLOAD_BYTES)",
                )
        except ConddbError as exc:
            raise _Refused(exc, who) from None
        return who

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, refused: _Refused
    ) -> None:
        exc = refused.error
        extra: dict[str, Any] = {}
        for prefix, shape in self._error_shapes:  # e.g. the HSF clients' error fields
            if scope["path"].startswith(prefix):
                base = error_body(exc.http_status, type(exc).__name__, exc.message, exc.hint)
                extra = {k: v for k, v in shape(base).items() if k not in base}
        response = error_response(
            exc.http_status, type(exc).__name__, exc.message, exc.hint, **extra
        )
        if "retry_after" in refused.headers:
            response.headers["Retry-After"] = refused.headers["retry_after"]
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            response.headers["Connection"] = "close"  # do not read the announced body
        await response(scope, receive, send)

    async def _settle(
        self,
        st: ServiceState,
        attempt: Attempt,
        who: Identity | None,
        status: int,
        error: str | None,
    ) -> None:
        """Count an anonymous failure against the client; audit a write not audited yet."""
        if status >= 400 and who is None and status not in (429, 503):
            st.throttle.failed(attempt.client)
        if not attempt.write or attempt.audited:
            return
        if status == 429 and not st.throttle.first_refusal(attempt.client):
            return
        attempt.audited = True
        await run_in_threadpool(_record_alone, st, attempt.entry(who, status, error=error))


def _record_alone(st: ServiceState, entry: audit.Entry) -> None:
    row = audit.record_alone(st.write_engine, entry)
    if row is not None:
        st.mirror.append(row)
