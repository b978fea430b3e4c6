"""juno-conddb conditions database: payloads, IOVs, tags, global tags; write and read paths.

Importing this package has no side effect: the ORM guard is installed by :mod:`conditions.db`
on the sessions it makes (see ``docs``/the architecture notes in :mod:`conditions.db`).
"""

__version__ = "0.1.0"
