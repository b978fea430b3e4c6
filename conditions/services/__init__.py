"""Application layer: one function per use case, one transaction each, called alike by the CLI,
the HTTP service and import.

* :mod:`.campaigns` - the one campaign upload (:func:`~.campaigns.upload`);
* :mod:`.documents` - payloads from and to user documents (typed schemas or plain JSON).
"""
