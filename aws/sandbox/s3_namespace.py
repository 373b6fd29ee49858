"""S3's account-regional bucket namespace (since 2026-03), enforced in moto the way AWS enforces it.

A bucket in the account-regional namespace is named `{prefix}-{account}-{region}-an` and is created with
CreateBucket's `BucketNamespace=account-regional` (header `x-amz-bucket-namespace`). Only that account
can create such a name, so nobody else can take it.

moto 5.2.5 refuses the header with a name that lacks the caller's `-{account}-{region}-an` suffix
(InvalidNamespaceHeader, as AWS). It is lenient the other way round, which lets any account take any
other account's account-regional name. `apply()` (called from `apply_moto_fixes()`) adds AWS's rules:

* a name in the account-regional shape created WITHOUT the header is refused with
  `MissingNamespaceHeader` (the code and message real S3 returns; seen in
  ansible-collections/amazon.aws#2935);
* any other name ending in `-an` is refused too: AWS documents that a bucket name may end with `-an`
  only when it is created in the account-regional namespace. The error code for that case is not
  documented: `InvalidBucketName` here (unverified).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from moto.s3 import models as s3_models
from moto.s3.exceptions import InvalidBucketName, S3ClientError

ACCOUNT_REGIONAL = "account-regional"
SUFFIX = "-an"
# {prefix}-{12-digit account}-{region}-an; the prefix is what the user chose.
SHAPE = re.compile(r"^(?P<prefix>.+)-(?P<account>\d{12})-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)-an$")
MISSING_HEADER = (
    "The requested bucket is an account-regional namespace bucket, but your request is missing the "
    "required x-amz-bucket-namespace header."
)

_lock = threading.Lock()
_applied = False


class MissingNamespaceHeader(S3ClientError):
    def __init__(self) -> None:
        super().__init__("MissingNamespaceHeader", MISSING_HEADER)


def namespace_error(name: str, namespace: str | None) -> S3ClientError | None:
    """The error AWS gives for creating `name` outside the account-regional namespace, or None.

    With `namespace == "account-regional"` moto itself checks the suffix against the caller's account and
    the bucket's region before the backend is reached.
    """
    if namespace == ACCOUNT_REGIONAL or not name.endswith(SUFFIX):
        return None
    if SHAPE.match(name):
        return MissingNamespaceHeader()
    return InvalidBucketName()


def apply() -> None:
    """Patch moto's S3 backend once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        original = s3_models.S3Backend.create_bucket

        def create_bucket(self: Any, bucket_name: str, region_name: str, *args: Any, **kwargs: Any) -> Any:
            namespace = kwargs.get("bucket_namespace", args[0] if args else None)
            error = namespace_error(bucket_name, namespace)
            if error is not None:
                raise error
            return original(self, bucket_name, region_name, *args, **kwargs)

        s3_models.S3Backend.create_bucket = create_bucket  # type: ignore[method-assign]
        _applied = True
