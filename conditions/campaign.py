"""Re-export of :mod:`conditions.services.campaigns` (the one campaign upload moved there)."""

from .services.campaigns import (  # noqa: F401
    DEFAULT_TAG_PREFIX,
    CampaignConstants,
    CampaignUpload,
    RecordUpload,
    UploadItem,
    UploadReport,
    plan_upload,
    tag_for,
    upload,
    upload_campaign,
)
