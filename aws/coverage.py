"""Coverage: a log source counts only when Kentik can read it.

A *source* is one stream of logs: the flow log of a VPC, subnet, network interface or transit gateway,
or one log type (FLOW, ALERT, TLS) of a Network Firewall. It is *covered* when it delivers a complete
format to a bucket (and prefix) in Kentik's *read set* and Kentik's role may read it there.

The read set starts with Kentik's own buckets (the bucket step's: read whole, deletion optional). A
source that already delivers a complete format to another bucket of this account either joins the read
set (`existing_destinations="read"`, the default: that bucket and prefix are added, read only, limited to
the prefix's `AWSLogs/` folder; no second flow log, no second vended-log charge, one more Kentik
"device") or gets a new flow log to Kentik's bucket (`"duplicate"`). A bucket that is not this
account's cannot join the read set until multi-account support exists, so such a source is duplicated.

Pure models and rules: the planner feeds them, the plan records them, the IAM step, verify and the
summary read them. The only AWS calls here read an existing bucket's region and encryption.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from aws.errors import ValidationFailed, error_code
from aws.names import folder_problem, kms_key_arn, log_folder
from aws.permissions import declare
from aws.regions import region_of_location
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=["s3:GetBucketLocation", "s3:GetBucketEncryption", "kms:DescribeKey"],
)

ExistingDestinations = Literal["read", "duplicate"]

Decision = Literal["covered", "read", "duplicate", "new", "not-owned", "kept"]
DECISION_TEXT: dict[str, str] = {
    "covered": "already delivers to a bucket Kentik reads",
    "read": "its bucket joins Kentik's read set",
    "duplicate": "a flow log to Kentik's bucket is added beside it",
    "new": "gets a log to Kentik's bucket",
    "not-owned": "owned by another account: not planned",
    "kept": "kept as it is: Kentik does not read it",
}
DEVICE_NOTE = (
    "Kentik treats each bucket as one device: every bucket added to the read set is one more device "
    "to register in Kentik."
)


class ReadLocation(BaseModel):
    """One place Kentik reads: a whole bucket (Kentik's own) or a prefix of an existing log bucket."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    prefix: str = Field(default="", description="Key prefix without slashes; '' = the whole bucket")
    account: str = Field(default="", description="The bucket owner's account id, when known")
    kentik: bool = Field(default=True, description="One of Kentik's own buckets (whole-bucket read)")
    region: str = Field(default="", description="The bucket's region, when known")
    kms_key_arn: str = Field(default="", description="The bucket's SSE-KMS key, when it has one")
    reason: str = Field(default="", description="Why it is in the read set")

    @property
    def path(self) -> str:
        """`bucket` or `bucket/prefix/`, as the CLI takes it."""
        return f"{self.bucket}/{self.prefix}/" if self.prefix else self.bucket

    @property
    def shown(self) -> str:
        """For people: `s3://bucket/` (Kentik's, whole) or `s3://bucket/prefix/AWSLogs/` (existing)."""
        return f"s3://{self.bucket}/" if self.kentik else f"s3://{self.bucket}/{self.logs_prefix}"

    @property
    def logs_prefix(self) -> str:
        """The key prefix Kentik reads: `prefix/AWSLogs/` (or `AWSLogs/`) for existing buckets."""
        return f"{self.prefix}/AWSLogs/" if self.prefix else "AWSLogs/"

    def covers(self, bucket: str, prefix: str = "") -> bool:
        """Whether logs delivered to (bucket, prefix) lie inside this location: anywhere in one of
        Kentik's buckets; for an existing bucket only that exact prefix (AWS writes below
        `prefix/AWSLogs/`, and Kentik's grant there is limited to that folder)."""
        if bucket != self.bucket:
            return False
        return self.kentik or log_folder(prefix) == self.prefix

    @classmethod
    def parse(cls, text: str, *, kentik: bool = False) -> ReadLocation:
        """`bucket` or `bucket/prefix/` (an `s3://` scheme is accepted)."""
        value = text.strip()
        if value.startswith("s3://"):
            value = value[len("s3://") :]
        bucket, _, prefix = value.partition("/")
        if not bucket:
            raise ValidationFailed(f"Not a bucket or bucket/prefix: {text!r}.")
        cleaned = log_folder(prefix)
        problem = folder_problem(cleaned)
        if problem:
            raise ValidationFailed(f"The prefix in {text!r} cannot be read as it is: {problem}.")
        return cls(bucket=bucket, prefix=cleaned, kentik=kentik and not cleaned)


class ReadSet(BaseModel):
    """Every location Kentik must read, Kentik's own buckets first."""

    locations: list[ReadLocation] = Field(default_factory=list)

    def find(self, bucket: str | None, prefix: str = "") -> ReadLocation | None:
        if not bucket:
            return None
        return next((loc for loc in self.locations if loc.covers(bucket, prefix)), None)

    def add(self, location: ReadLocation) -> ReadLocation:
        """Add a location unless one already covers it; returns the covering location."""
        found = self.find(location.bucket, location.prefix)
        if found is not None:
            return found
        if location.kentik:  # Kentik's whole bucket makes narrower locations in it redundant
            self.locations = [loc for loc in self.locations if loc.bucket != location.bucket]
        self.locations.append(location)
        return location

    @property
    def kentik_buckets(self) -> list[str]:
        return [loc.bucket for loc in self.locations if loc.kentik]

    @property
    def existing(self) -> list[ReadLocation]:
        """Locations of existing log buckets (not Kentik's own)."""
        return [loc for loc in self.locations if not loc.kentik]

    @property
    def buckets(self) -> list[str]:
        return list(dict.fromkeys(loc.bucket for loc in self.locations))

    @property
    def paths(self) -> list[str]:
        return [loc.path for loc in self.locations]

    @classmethod
    def of_buckets(
        cls, buckets: Iterable[str], *, account: str = "", regions: dict[str, str] | None = None
    ) -> ReadSet:
        """Kentik's own buckets, read whole."""
        regions = regions or {}
        out = cls()
        for name in dict.fromkeys(buckets):
            out.add(
                ReadLocation(
                    bucket=name,
                    account=account,
                    kentik=True,
                    region=regions.get(name, ""),
                    reason="Kentik's log bucket",
                )
            )
        return out

    @classmethod
    def parse(cls, texts: Iterable[str]) -> ReadSet:
        """From CLI words: `bucket` (Kentik's own bucket, read whole) or `bucket/prefix/` (an existing
        log bucket's prefix, read only below `prefix/AWSLogs/`)."""
        out = cls()
        for text in texts:
            out.add(ReadLocation.parse(text, kentik=True))
        return out


class SourceCoverage(BaseModel):
    """What the plan does for one source, and why (recorded in the plan, shown by the checklist)."""

    source: str = Field(description="vpc-…, subnet-…, eni-…, tgw-…, or 'firewall NAME TYPE'")
    kind: Literal["flowlog", "firewall"] = "flowlog"
    region: str
    decision: Decision
    bucket: str = Field(default="", description="Where its complete logs go today, when they go to S3")
    prefix: str = ""
    flow_log_id: str = ""
    reason: str = ""


def judge_existing(
    bucket: str,
    prefix: str,
    *,
    read_set: ReadSet,
    owned: set[str] | None,
    mode: ExistingDestinations,
    account: str,
    what: str,
) -> tuple[Decision, str, ReadLocation | None]:
    """The decision for a source whose logs are complete and go to S3 `bucket`/`prefix` today.

    Returns (decision, reason, location to add to the read set or None). `what` names the source in
    the reason ("flow log fl-1", "FLOW logs")."""
    where = f"s3://{bucket}/{log_folder(prefix) + '/' if log_folder(prefix) else ''}"
    if read_set.find(bucket, prefix) is not None:
        return "covered", f"{what} already delivers every field to {where}, which Kentik reads", None
    if mode == "duplicate":
        return (
            "duplicate",
            f"{what} delivers to {where}, which Kentik does not read; you chose to add a log to Kentik's "
            "bucket (--existing-destinations duplicate)",
            None,
        )
    if owned is None or bucket not in owned:
        why = (
            "this account's buckets could not be listed (s3:ListAllMyBuckets), so it may belong to another "
            "account"
            if owned is None
            else "that bucket belongs to another account"
        )
        return (
            "duplicate",
            f"{what} delivers to {where}, but {why}: a bucket in another account can join Kentik's read "
            "set only once multi-account support lands, so a log to Kentik's bucket is added instead",
            None,
        )
    location = ReadLocation(
        bucket=bucket,
        prefix=log_folder(prefix),
        account=account,
        kentik=False,
        reason=f"existing destination of {what}",
    )
    return (
        "read",
        f"{what} already delivers every field to {where}: Kentik's role gets read access there "
        f"(below {location.logs_prefix}) instead of a second log",
        location,
    )


class BucketMissing(ValidationFailed):
    """There is no bucket of that name (GetBucketLocation: NoSuchBucket): a usage error, the name was
    mistyped. Raised by `named_bucket_region`."""


def bucket_region(session: AwsSession, bucket: str) -> str:
    """The region of a bucket Kentik reads (GetBucketLocation; its ClientError as it is)."""
    return region_of_location(
        session.client("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
    )


def named_bucket_region(session: AwsSession, bucket: str) -> str:
    """`bucket_region` of a bucket the user named: BucketMissing when there is no such bucket."""
    try:
        return bucket_region(session, bucket)
    except ClientError as err:
        if error_code(err) == "NoSuchBucket":
            raise BucketMissing(
                f"There is no bucket named {bucket}.", hint="Check the name (S3 bucket names are global)."
            ) from None
        raise


def bucket_regions(session: AwsSession, buckets: Iterable[str]) -> dict[str, str]:
    """The region of each bucket (one GetBucketLocation each, in order)."""
    return {bucket: bucket_region(session, bucket) for bucket in dict.fromkeys(buckets)}


def bucket_kms_key(session: AwsSession, bucket: str, region: str, account: str, partition: str) -> str:
    """The KMS key ARN of a bucket's default SSE-KMS encryption ('' for SSE-S3 or none).

    A key id is turned into its ARN; an alias is resolved with DescribeKey (an alias ARN does not
    authorise use of the key in IAM)."""
    s3 = session.client("s3", region)
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as err:
        if "ServerSideEncryptionConfigurationNotFound" in str(err):
            return ""
        raise
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if not str(default.get("SSEAlgorithm", "")).startswith("aws:kms"):
            continue
        key = str(default.get("KMSMasterKeyID") or "")
        if not key:
            return ""  # the AWS-managed aws/s3 key: usable by principals of the account through S3
        if ":key/" in key:
            return key
        if "alias/" in key:
            meta = session.client("kms", region).describe_key(KeyId=key)["KeyMetadata"]
            return str(meta["Arn"])
        return kms_key_arn(key, region=region, account=account, partition=partition)
    return ""


def inspect_location(
    session: AwsSession, location: ReadLocation, *, partition: str = "aws"
) -> tuple[ReadLocation, str, list[str]]:
    """Read an existing log bucket Kentik is to read: its region and KMS key (read calls only).

    Returns (the location with its region, the KMS key ARN or '', warnings)."""
    warnings: list[str] = []
    region = location.region
    key = ""
    try:
        if not region:
            region = bucket_region(session, location.bucket)
        key = bucket_kms_key(session, location.bucket, region, location.account, partition)
    except (ClientError, BotoCoreError) as err:
        warnings.append(
            f"s3://{location.path}: could not read its region or encryption ({err}); if it uses SSE-KMS, "
            "Kentik's role also needs kms:Decrypt on its key"
        )
    return location.model_copy(update={"region": region, "kms_key_arn": key}), key, warnings
