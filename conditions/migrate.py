"""Re-export of :mod:`conditions.db.migrate` (schema migrations moved there)."""

from .db.migrate import (  # noqa: F401
    alembic_config,
    check,
    current_revision,
    downgrade,
    head_revision,
    require_head,
    upgrade,
)
