"""HTTP conditions service: a cacheable read API and a token-protected write API.

* :func:`conditions.service.app.create_app` - the ASGI app (FastAPI on uvicorn, ``conddb serve``);
* :class:`conditions.service.settings.ServiceSettings` - configuration from ``CONDDB_*``;
* :mod:`conditions.service.auth` - hashed bearer tokens with roles, the audit log;
* :class:`conditions.service.client.ConditionsClient` - resolve + fetch with an on-disk cache.

The submodules are imported on use, so that a batch job importing the client does not pay for
FastAPI.
"""
