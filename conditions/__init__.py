"""juno-conddb conditions database: payloads, IOVs, tags, global tags; write and read paths.

Importing this package has no side effect: the ORM immutability guard is installed by
:mod:`conditions.db` on the sessions it makes, never on the SQLAlchemy ``Session`` class.
"""

__version__ = "0.1.0"
