"""Compatibility name: the campaign jobs live in :mod:`conditions.services.jobs`."""

from conditions.services import jobs as _jobs
from conditions.services.jobs import *  # noqa: F403  (the re-exported names are its __all__)

__all__ = list(_jobs.__all__)
