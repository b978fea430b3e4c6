"""What every request handler of one service process shares: engines, caches, tokens, throttle."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from starlette.requests import Request

from conditions.db import make_engine

from .auth import AuditMirror, TokenStore
from .lookup import Lookups
from .settings import ServiceSettings
from .throttle import FailureThrottle


@dataclass
class ServiceState:
    """Per-process state: the write engine, the read engine (replica or the same), caches."""

    settings: ServiceSettings
    write_engine: Engine
    read_engine: Engine
    lookups: Lookups
    tokens: TokenStore
    mirror: AuditMirror
    throttle: FailureThrottle

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ServiceState:
        write_engine = make_engine(settings.url)
        read_engine = make_engine(settings.read_url) if settings.read_url else write_engine
        lookups = Lookups(
            read_engine,
            payload_cache_bytes=settings.payload_cache_bytes,
            max_batch_runs=settings.max_batch_runs,
        )
        return cls(
            settings=settings,
            write_engine=write_engine,
            read_engine=read_engine,
            lookups=lookups,
            tokens=TokenStore(settings.tokens_file),
            mirror=AuditMirror(settings.audit_log),
            throttle=FailureThrottle(settings.auth_failures_per_minute),
        )

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


async def get_state(request: Request) -> ServiceState:
    """The :class:`ServiceState` of the app serving ``request`` (async: no thread-pool hop)."""
    return state_of(request)


def state_of(request: Request) -> ServiceState:
    """The :class:`ServiceState` of the app serving ``request`` (plain function)."""
    state: ServiceState = request.app.state.conddb
    return state
