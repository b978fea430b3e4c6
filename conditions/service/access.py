"""Who may call a route: the ``Require(role)`` dependency and its ``Reader``/``Uploader``/``Admin``
shorthands (re-exported by :mod:`.write_api`).

A route declares the role it needs by depending on ``Require(role)``; :func:`required_role`
reads that declaration back, so that the gate (:mod:`.gate`) authenticates the caller *before*
the body is read, from the same single declaration.  The dependency itself returns the identity
the gate admitted (and checks the token itself in an app built without the gate).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from .auth import Identity, Role, TokenStore, check_role

bearer = HTTPBearer(auto_error=False, description="token from `conddb token add`")


class Require:
    """Dependency: the caller's identity if its token has at least ``role``."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(
        self,
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Identity:
        who: Identity | None = getattr(request.state, "who", None)
        if who is None:  # not admitted by the gate: check the token here
            tokens: TokenStore = request.app.state.conddb.tokens
            who = tokens.identify(request.headers.get("authorization"))
            request.state.who = who
        return check_role(who, self.role)


def required_role(route: Any) -> Role | None:
    """The role a route needs (its ``Require`` dependency, searched depth first), or None."""
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        if isinstance(dependant.call, Require):
            return dependant.call.role
        stack.extend(dependant.dependencies)
    return None


Reader = Annotated[Identity, Depends(Require(Role.READER))]
Uploader = Annotated[Identity, Depends(Require(Role.UPLOADER))]
Admin = Annotated[Identity, Depends(Require(Role.ADMIN))]
