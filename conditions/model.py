"""Re-export of :mod:`conditions.db.model` (the ORM model moved there); only
:mod:`conditions.store` and :mod:`conditions.db` should import it."""

from .db.model import *  # noqa: F403
from .db.model import Base, utcnow  # noqa: F401
