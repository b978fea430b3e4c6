"""juno-conddb conditions database: payloads, IOVs, tags, global tags; write and read paths."""

from . import guards as _guards  # noqa: F401  (registers the ORM immutability guard)

__version__ = "0.1.0"
