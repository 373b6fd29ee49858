"""Log changes and the bucket they deliver to: which bucket a flow log or firewall logging change names,
and the dependencies that make each wait for its bucket's changes (re-exported by aws.plans.change)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws.plans.change import Change, Plan

# Bucket changes log delivery needs before a log can be pointed at the bucket: the bucket, its policy
# letting delivery write, and its encryption (whose KMS key policy change it depends on, when there is one).
DELIVERY_PREREQUISITES = (
    "s3.create-bucket",
    "s3.put-bucket-policy",
    "s3.put-org-bucket-policy",
    "s3.put-encryption",
    "kms.put-key-policy",
    "kms.put-org-key-policy",
)
LOG_KINDS = ("ec2.create-flow-logs", "network-firewall.s3-log-destination")


def log_destination(change: Change) -> tuple[str, str]:
    """The S3 bucket and key prefix (no slashes; '' for none) a flow log or firewall logging change delivers
    to; ('', '') when not S3 / unknown."""
    params = change.params
    if isinstance(params.get("LogDestination"), str):  # CreateFlowLogs: arn:aws:s3:::bucket/prefix
        resource = params["LogDestination"].split(":::", 1)[-1] if ":::" in params["LogDestination"] else ""
        bucket, _, prefix = resource.partition("/")
        return bucket, prefix.strip("/")
    log_type = change.id.rsplit(":", 1)[-1]
    configs = (params.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or []
    for config in configs:
        if config.get("LogType") == log_type and config.get("LogDestinationType") == "S3":
            destination = config.get("LogDestination") or {}
            return str(destination.get("bucketName", "")), str(destination.get("prefix", "")).strip("/")
    return "", ""


def log_destination_bucket(change: Change) -> str:
    """The S3 bucket a flow log or firewall logging change delivers to ('' when not S3 / unknown)."""
    return log_destination(change)[0]


def link_to_buckets(plan: Plan, keys: dict[str, str] | None = None) -> None:
    """Make every log change (flow logs, firewall logging to S3) depend on the changes of its bucket that
    delivery needs (`DELIVERY_PREREQUISITES`), so a failed bucket change skips only the logs aimed at it.
    `keys`: bucket name -> its SSE-KMS key ARN, for a key policy change that is the bucket's only change."""
    keys = keys or {}
    earlier: list[Change] = []
    for change in plan.changes:
        if change.kind in LOG_KINDS:
            bucket = log_destination_bucket(change)
            needs = [
                c.id
                for c in earlier
                if c.kind in DELIVERY_PREREQUISITES
                and bucket
                and (c.params.get("Bucket") == bucket or (keys.get(bucket) and c.target == keys[bucket]))
            ]
            change.depends_on = list(dict.fromkeys([*change.depends_on, *needs]))
        earlier.append(change)
