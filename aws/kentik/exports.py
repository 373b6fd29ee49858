"""Which Kentik cloud export reads which bucket: the key (bucket, prefix) and lookups by it.

Kentik treats each log bucket (and, when logs go under one, its prefix) as one device, read by one AWS
cloud export. An export's key is its `aws.bucket` and its `aws.bucketPrefix` without slashes ('' for the
top of the bucket); a read location's key is its bucket and prefix the same way. Pure functions: no call
to Kentik or AWS.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws.kentik.models import CloudExport

AWS_PROVIDER = "CLOUD_PROVIDER_AWS"


def clean_prefix(prefix: str | None) -> str:
    """A key prefix as we compare it: no leading or trailing slashes, '' for none."""
    return (prefix or "").strip().strip("/")


def export_key(export: CloudExport) -> tuple[str, str] | None:
    """(bucket, prefix) an AWS export reads; None for another provider's or one without a bucket."""
    if export.cloud_provider != AWS_PROVIDER or export.aws is None or not export.aws.bucket:
        return None
    return export.aws.bucket, clean_prefix(export.aws.bucket_prefix)


def exports_for(exports: Iterable[CloudExport], bucket: str, prefix: str = "") -> list[CloudExport]:
    """Every AWS export that reads `bucket` at `prefix` (usually none or one)."""
    wanted = (bucket, clean_prefix(prefix))
    return [e for e in exports if export_key(e) == wanted]
