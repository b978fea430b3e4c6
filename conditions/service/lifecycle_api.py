"""HTTP routes of the global-tag lifecycle and of prompt processing (issue 18).

Thin: each route parses its input, calls one use case of :mod:`conditions.services.lifecycle`
/ :mod:`conditions.services.validation` / the run store, and writes its audit row in the same
transaction (:func:`conditions.service.write_api.apply`).  Reads need a reader token, the
lifecycle an admin token, ``runs/{run}/processed`` an uploader (prompt reconstruction).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse

from conditions import store
from conditions.db import read_session
from conditions.services import lifecycle, validation
from conditions.store import TagSync

from . import wire
from .access import Admin, Uploader
from .bodies import FreezeIn
from .caching import NO_STORE
from .state import state_of
from .write_api import apply

router = APIRouter(prefix="/v1", tags=["lifecycle"])


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValidateIn(_Body):
    runs: str = Field(description="run range A-B (inclusive)")
    samples: int = Field(default=5, ge=1, le=100, description="sample runs for the energy scale")
    tolerance: float = Field(default=validation.DEFAULT_TOLERANCE, ge=0)


class InvalidateIn(_Body):
    reason: str
    replaced_by: str | None = None


def _state(name: str, state: str, **more: Any) -> dict[str, Any]:
    return {"global_tag": name, "state": state, **more}


@router.post("/globaltags/{global_tag}/submit", summary="open -> testing")
def submit(request: Request, who: Admin, global_tag: str) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        return 200, _state(global_tag, lifecycle.submit(s, global_tag).state.value)

    return apply(request, who, work)


@router.post("/globaltags/{global_tag}/reopen", summary="testing | validated -> open")
def reopen(request: Request, who: Admin, global_tag: str) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        return 200, _state(global_tag, lifecycle.reopen(s, global_tag).state.value)

    return apply(request, who, work)


@router.post("/globaltags/{global_tag}/validate", summary="run the checks, store the report")
def validate(request: Request, who: Admin, global_tag: str, body: ValidateIn) -> JSONResponse:
    runs = lifecycle.parse_runs(body.runs)
    opts = validation.Options(who=who.name, sample_runs=body.samples, tolerance=body.tolerance)

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        report, state = validation.validate_and_mark(s, global_tag, runs, opts)
        return 200, {**validation.report_json(report, global_tag), "state": state}

    return apply(request, who, work)


@router.post("/globaltags/{global_tag}/approve", summary="approve publishing (second person)")
def approve(request: Request, who: Admin, global_tag: str) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        lifecycle.approve(s, global_tag, who.name)
        return 200, _state(global_tag, "validated", approved_by=who.name)

    return apply(request, who, work)


@router.post("/globaltags/{global_tag}/publish", summary="validated -> published (immutable)")
@router.post(
    "/globaltags/{global_tag}/freeze", name="freeze_global_tag",
    summary="alias of publish (the former word): the same gates",
)
def publish(
    request: Request, who: Admin, global_tag: str, body: FreezeIn | None = None
) -> JSONResponse:
    """Needs ``validated`` with a passing report of the current map, and the approvals of
    ``$CONDDB_PUBLISH_APPROVALS`` other people; ``snapshot_time`` defaults to now."""
    snapshot = None if body is None else body.snapshot_time

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        g = lifecycle.publish(
            s, global_tag, who.name, approvals_required=lifecycle.approvals_required(),
            snapshot_time=snapshot,
        )
        return 200, _state(
            global_tag, g.state.value, snapshot_time=wire.fmt_time(g.snapshot_time)
        )

    return apply(request, who, work)


@router.post("/globaltags/{global_tag}/invalidate", summary="published -> invalid (deprecated)")
def invalidate(request: Request, who: Admin, global_tag: str, body: InvalidateIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        g = lifecycle.invalidate(s, global_tag, body.reason, body.replaced_by)
        return 200, _state(global_tag, g.state.value, reason=g.invalid_reason,
                           replaced_by=g.replaced_by)

    answer = apply(request, who, work)
    # this process cached the published answers for good: from now on they carry the deprecation
    state_of(request).lookups.clear()
    hsf_bodies = getattr(request.app.state, "hsf_bodies", None)
    if hsf_bodies is not None:
        hsf_bodies.clear()
    return answer


@router.get("/globaltags/{global_tag}/validation", summary="validation reports, newest first")
def reports(request: Request, global_tag: str) -> JSONResponse:
    with read_session(state_of(request).read_engine) as s:
        g = store.get_global_tag(s, global_tag)
        current = store.map_hash(s, g)
        docs = [
            {**validation.report_json(r, global_tag), "current_map": r.map_hash == current}
            for r in store.validation_reports(s, g)
        ]
        dep = lifecycle.deprecation(s, global_tag)
    body = {"global_tag": global_tag, "state": g.state.value, "reports": docs,
            "deprecation": None if dep is None else dep.message()}
    return JSONResponse(body, headers={"Cache-Control": NO_STORE})


@router.get("/globaltags/{global_tag}/coverage", summary="covered runs and gaps per record")
def coverage(
    request: Request, global_tag: str, runs: str = Query(description="A-B")
) -> JSONResponse:
    span = lifecycle.parse_runs(runs)
    with read_session(state_of(request).read_engine) as s:
        found = lifecycle.coverage(s, global_tag, span)
    body = [{"record": c.record, "tag": c.tag, "covered": c.covered, "gaps": c.gaps}
            for c in found]
    return JSONResponse(body, headers={"Cache-Control": NO_STORE})


@router.post("/runs/{run}/processed", summary="prompt reconstruction used run's conditions")
def processed(request: Request, who: Uploader, run: int) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        _, fcsr = store.mark_processed(s, run, who.name)
        return 200, {"run": run, "fcsr": fcsr}

    return apply(request, who, work)


@router.get("/fcsr", summary="first condition-safe run and next run to be taken")
def fcsr(request: Request) -> JSONResponse:
    with read_session(state_of(request).read_engine) as s:
        body = {"fcsr": store.fcsr(s), "next_run": store.next_run(s)}
    return JSONResponse(body, headers={"Cache-Control": NO_STORE})


@router.put("/tags/{tag}/sync/{mode}", summary="tag synchronisation: offline|prompt|express")
def sync(request: Request, who: Admin, tag: str, mode: TagSync) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.set_tag_sync(s, tag, mode)
        return 200, {"tag": tag, "synchronization": mode.value}

    return apply(request, who, work)
