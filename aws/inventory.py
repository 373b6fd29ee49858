"""The inventory a scan produces: identity, regions, VPCs, flow logs, firewalls, candidate Kentik roles.

These pydantic models are the contract between the discovery engine (`aws.discovery`), the assessment
rules (`aws.assess`), the discovery screen and `flowlogs scan --json`. `Inventory.model_json_schema()`
is the documented JSON schema of the `--json` output (`inventory_json_schema()` returns it with the
computed counts included, as serialised).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field, computed_field

INVENTORY_FORMAT = 1


class Verdict(str, Enum):
    """How far a VPC or firewall is from what the spec wants."""

    COMPLIANT = "compliant"
    NEEDS_CHANGE = "needs-change"
    MISSING = "missing"
    UNKNOWN = "unknown"  # the configuration could not be read (see the region's errors)


class RegionStatus(str, Enum):
    PENDING = "pending"  # planned, not finished yet (only seen in streaming callbacks)
    SCANNED = "scanned"  # everything read
    PARTIAL = "partial"  # scanned, but one service could not be read (see `partial_errors`)
    FAILED = "failed"  # the region could not be scanned (see `error`)
    NOT_ENABLED = "not-enabled"  # an opt-in region the account has not opted in to
    SKIPPED = "skipped"  # excluded by the user's include/skip lists
    CANCELLED = "cancelled"  # the scan was cancelled before this region started


class ReasonCode(str, Enum):
    INACTIVE = "inactive"  # FlowLogStatus is not ACTIVE
    NOT_S3 = "not-s3"  # CloudWatch Logs or Firehose destination
    TRAFFIC_TYPE = "traffic-type"  # ACCEPT or REJECT only
    PARQUET = "parquet"  # DestinationOptions.FileFormat parquet
    MISSING_FIELDS = "missing-fields"  # LogFormat lacks some v2-v5 fields
    DELIVERY_FAILED = "delivery-failed"  # DeliverLogsStatus FAILED
    NO_FLOW_LOG = "no-flow-log"  # no VPC-level flow log at all
    PARTIAL_COVERAGE = "partial-coverage"  # only subnet/ENI-level flow logs
    FIREWALL_FLOW = "firewall-flow"  # firewall FLOW logs not to S3
    FIREWALL_ALERT = "firewall-alert"  # firewall ALERT logs not to S3
    UNREADABLE = "unreadable"  # configuration could not be read


class Reason(BaseModel):
    """One thing that keeps a VPC or firewall from being compliant (or a note about its coverage)."""

    code: ReasonCode
    message: str = Field(description="One line for a person, e.g. 'fl-1: missing 15 fields: vpc-id, ...'")
    flow_log_id: str | None = Field(default=None, description="The flow log the reason is about")
    missing_fields: list[str] = Field(default_factory=list, description="For code missing-fields")


class ScanError(BaseModel):
    """A failed AWS call, with a fix a person can act on."""

    service: str = Field(description="boto3 service name, e.g. ec2, network-firewall, iam")
    operation: str = Field(default="", description="API operation, e.g. DescribeFlowLogs")
    code: str = Field(default="", description="AWS error code, e.g. AuthFailure, UnauthorizedOperation")
    message: str = Field(description="What went wrong")
    hint: str = Field(default="", description="How to fix it, e.g. 'grant ec2:DescribeFlowLogs'")
    action: str = Field(default="", description="The IAM action that was denied, when known")
    kind: str = Field(
        default="",
        description="What kind of failure (aws.errors FlowlogsError.kind): access (denied), network "
        "(AWS unreachable: refused, timed out, throttled beyond the retry budget), credentials, error",
    )


class CallerIdentity(BaseModel):
    account: str
    arn: str
    user_id: str = ""
    partition: str = Field(description="aws, aws-cn or aws-us-gov")


class FlowLog(BaseModel):
    """An existing flow log, as DescribeFlowLogs reports it."""

    flow_log_id: str
    resource_id: str = Field(description="vpc-…, subnet-…, eni-… (or a transit gateway id)")
    resource_type: str = Field(
        description="VPC, Subnet, NetworkInterface, TransitGateway, TransitGatewayAttachment or Other"
    )
    vpc_id: str | None = Field(default=None, description="The VPC the resource belongs to, when known")
    status: str = Field(default="", description="FlowLogStatus, ACTIVE when working")
    deliver_status: str | None = Field(default=None, description="DeliverLogsStatus: SUCCESS or FAILED")
    deliver_error: str | None = Field(default=None, description="DeliverLogsErrorMessage")
    traffic_type: str | None = Field(default=None, description="ALL, ACCEPT or REJECT")
    destination_type: str = Field(default="", description="s3, cloud-watch-logs or kinesis-data-firehose")
    destination: str | None = Field(default=None, description="LogDestination ARN")
    bucket: str | None = Field(default=None, description="S3 bucket name (s3 destinations)")
    prefix: str = Field(default="", description="S3 key prefix, '' when none")
    bucket_account: str | None = Field(
        default=None,
        description="Account that owns the destination bucket: this account's id when the bucket is one "
        "of its own, None when it is another account's or could not be told",
    )
    log_group: str | None = Field(default=None, description="CloudWatch Logs group name")
    file_format: str | None = Field(
        default=None, description="DestinationOptions.FileFormat; None = plain-text"
    )
    hive_partitions: bool = False
    per_hour_partition: bool = False
    log_format: str | None = Field(default=None, description="LogFormat as returned; None = AWS default")
    fields: list[str] = Field(default_factory=list, description="Field names of the format, in order")
    max_aggregation_interval: int | None = None
    created: datetime | None = None
    problems: list[Reason] = Field(default_factory=list, description="Why it does not meet the spec")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compliant(self) -> bool:
        return not self.problems


class Vpc(BaseModel):
    vpc_id: str
    name: str = Field(default="", description="Value of the Name tag, '' when none")
    cidr: str = ""
    cidrs: list[str] = Field(default_factory=list, description="Every associated IPv4 CIDR")
    is_default: bool = False
    owner_id: str = Field(
        default="", description="OwnerId: the account that owns the VPC (another one for a shared VPC)"
    )
    subnet_count: int = 0
    flow_logs: list[FlowLog] = Field(default_factory=list, description="VPC-level flow logs")
    partial_flow_logs: list[FlowLog] = Field(
        default_factory=list, description="Subnet- and ENI-level flow logs inside this VPC (partial coverage)"
    )
    verdict: Verdict = Verdict.UNKNOWN
    reasons: list[Reason] = Field(default_factory=list)
    compliant_flow_log_id: str | None = Field(default=None, description="The flow log that meets the spec")

    @property
    def label(self) -> str:
        return f"{self.vpc_id} ({self.name})" if self.name else self.vpc_id


class FirewallLogDestination(BaseModel):
    """One entry of a firewall's LoggingConfiguration.LogDestinationConfigs."""

    log_type: str = Field(description="FLOW, ALERT or TLS")
    destination_type: str = Field(description="S3, CloudWatchLogs or KinesisDataFirehose")
    bucket: str | None = None
    prefix: str = ""
    bucket_account: str | None = Field(
        default=None, description="Owner of the bucket: this account's id when it is its own, else None"
    )
    log_group: str | None = None
    delivery_stream: str | None = None
    raw: dict[str, str] = Field(default_factory=dict, description="LogDestination as returned")

    def describe(self) -> str:
        if self.destination_type == "S3":
            return f"S3 s3://{self.bucket}/{self.prefix}"
        if self.destination_type == "CloudWatchLogs":
            return f"CloudWatch Logs {self.log_group}"
        if self.destination_type == "KinesisDataFirehose":
            return f"Firehose {self.delivery_stream}"
        return f"{self.destination_type} {self.raw}"


class FirewallLogStatus(BaseModel):
    """Where one log type (FLOW or ALERT) of a firewall goes."""

    log_type: str
    to_s3: bool = False
    bucket: str | None = None
    prefix: str = ""
    bucket_account: str | None = None
    other: list[str] = Field(
        default_factory=list, description="Non-S3 destinations, e.g. 'CloudWatch Logs /x'"
    )


class Firewall(BaseModel):
    name: str
    arn: str
    vpc_id: str | None = None
    destinations: list[FirewallLogDestination] = Field(default_factory=list)
    flow: FirewallLogStatus = Field(default_factory=lambda: FirewallLogStatus(log_type="FLOW"))
    alert: FirewallLogStatus = Field(default_factory=lambda: FirewallLogStatus(log_type="ALERT"))
    verdict: Verdict = Verdict.UNKNOWN
    reasons: list[Reason] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why its details could not be read")


class RegionCounts(BaseModel):
    vpcs: int = 0
    compliant: int = 0
    needs_change: int = 0
    missing: int = 0
    unknown: int = 0
    firewalls: int = 0
    firewalls_compliant: int = 0


class RegionResult(BaseModel):
    name: str
    opt_in_status: str = Field(default="", description="opt-in-not-required, opted-in or not-opted-in")
    status: RegionStatus = RegionStatus.PENDING
    error: ScanError | None = Field(default=None, description="Why the region failed / was not scanned")
    partial_errors: list[ScanError] = Field(
        default_factory=list, description="Parts that could not be read (e.g. network-firewall denied)"
    )
    vpcs: list[Vpc] = Field(default_factory=list)
    firewalls: list[Firewall] = Field(default_factory=list)
    other_flow_logs: list[FlowLog] = Field(
        default_factory=list, description="Flow logs not tied to a VPC here (transit gateways, gone ENIs)"
    )
    duration_s: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> RegionCounts:
        c = RegionCounts(vpcs=len(self.vpcs), firewalls=len(self.firewalls))
        for vpc in self.vpcs:
            if vpc.verdict is Verdict.COMPLIANT:
                c.compliant += 1
            elif vpc.verdict is Verdict.NEEDS_CHANGE:
                c.needs_change += 1
            elif vpc.verdict is Verdict.MISSING:
                c.missing += 1
            else:
                c.unknown += 1
        c.firewalls_compliant = sum(fw.verdict is Verdict.COMPLIANT for fw in self.firewalls)
        return c

    @property
    def scanned(self) -> bool:
        return self.status in (RegionStatus.SCANNED, RegionStatus.PARTIAL)


class AttachedPolicy(BaseModel):
    name: str
    arn: str
    default_version_id: str | None = None


class KentikRole(BaseModel):
    """An IAM role that may be the one Kentik assumes."""

    name: str
    arn: str
    trusts_kentik: bool = Field(description="The trust policy names Kentik's account 834693425129")
    external_ids: list[str] = Field(default_factory=list, description="sts:ExternalId values required")
    principals: list[str] = Field(default_factory=list, description="AWS principals the trust policy allows")
    attached_policies: list[AttachedPolicy] = Field(default_factory=list)
    inline_policies: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why its policies could not be listed")


class Inventory(BaseModel):
    """Everything a scan found. Regions are sorted by name and include skipped / not-enabled ones."""

    format: int = INVENTORY_FORMAT
    identity: CallerIdentity
    home_region: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float = 0.0
    workers: int = 12
    regions: list[RegionResult] = Field(default_factory=list)
    roles: list[KentikRole] = Field(default_factory=list, description="Candidate Kentik roles")
    roles_error: ScanError | None = Field(default=None, description="Why IAM roles could not be listed")
    buckets: list[str] | None = Field(
        default=None, description="This account's own S3 buckets (ListBuckets); None when not listed"
    )

    @property
    def failed_regions(self) -> list[RegionResult]:
        return [r for r in self.regions if r.status is RegionStatus.FAILED]

    @property
    def scanned_regions(self) -> list[RegionResult]:
        return [r for r in self.regions if r.scanned]

    def region(self, name: str) -> RegionResult | None:
        return next((r for r in self.regions if r.name == name), None)

    def vpcs(self) -> list[tuple[str, Vpc]]:
        """Every (region, VPC) pair of the scanned regions."""
        return [(r.name, v) for r in self.regions for v in r.vpcs]


def inventory_json_schema() -> dict[str, Any]:
    """The JSON schema of `flowlogs scan --json` output (serialisation mode: computed fields included)."""
    return Inventory.model_json_schema(mode="serialization")
