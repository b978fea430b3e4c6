"""Application layer: one function per use case (campaign upload, documents, jobs, transfer)."""
