"""The HSF conditions API (NoPayloadDB v5.1 and the legacy ``/api/cdb_rest/`` read routes).

A thin adapter: clients written for NoPayloadDB (the ``nopayloaddb-client`` Python package, the
C++ ``nopayloadclient`` of sPHENIX) talk to ``conddb serve`` unchanged.  Every answer is computed
by the library (:mod:`conditions.store`, :mod:`conditions.resolve`); the mapping between the two
vocabularies is :mod:`.mapping` and is documented in ``docs/HSF.md``.

* :mod:`.v51` - the v5.1 metadata routes (reads and writes) under ``/api/cdb_rest/``;
* :mod:`.legacy` - the older read routes of the C++ client, same prefix;
* :mod:`.files` - payload bytes at ``/dbstore/<type>/<sha256>``, uploads at ``/upload/<key>``;
* :mod:`.errors` - every non-200 answer as JSON with the message where the clients read it;
* :mod:`.filetree` - the payload file tree of ``conddb export-files`` (CVMFS-style deployments).
"""

from __future__ import annotations

from fastapi import APIRouter

from .errors import fallback_router, hsf_fields
from .files import router as files_router
from .legacy import router as legacy_router
from .v51 import router as v51_router

router = APIRouter()
router.include_router(v51_router)
router.include_router(legacy_router)
router.include_router(files_router)
router.include_router(fallback_router)  # last: unknown HSF paths answer in the HSF error shape

#: Path prefixes of the HSF API and the error shape its clients read (for the app's gate).
ERROR_SHAPES = tuple((prefix, hsf_fields) for prefix in ("/api/cdb_rest", "/dbstore", "/upload"))

__all__ = ["ERROR_SHAPES", "router"]
