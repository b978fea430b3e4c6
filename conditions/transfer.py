"""Export and import of a conditions database: moved to :mod:`conditions.services.transfer`.

Kept so that ``from conditions import transfer`` and ``conditions.transfer.export_file`` keep
working.
"""

from conditions.services.transfer import *  # noqa: F403
from conditions.services.transfer import __all__ as __all__
