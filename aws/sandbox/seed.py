"""Seed a moto endpoint with a believable AWS account (over HTTP, with boto3, like a real user would).

The account ("northwind", moto's account id) has VPCs in six regions, flow logs in every state the
product must recognise (delivery already tried: the one to the SSE-KMS bucket whose key refuses log
delivery shows DeliverLogsStatus FAILED from the start, as AWS does), Network Firewalls logging and not
logging, a role trusting Kentik's ingest principal with a multi-version managed metadata policy, and a
customer-managed KMS key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from aws.logs.format import REQUIRED_LOG_FORMAT

KENTIK_PRINCIPAL = "arn:aws:iam::834693425129:role/eks-ingest-node"
KENTIK_EXTERNAL_ID = "184372"
OPT_IN_REGION = "ap-east-1"  # an opt-in region this account has not enabled

# region -> [(Name tag, CIDR)]
VPC_LAYOUT: dict[str, list[tuple[str, str]]] = {
    "us-east-1": [
        ("prod-core", "10.0.0.0/16"),
        ("shared-services", "10.1.0.0/16"),
        ("dev-sandbox", "10.50.0.0/16"),
        ("inspection-use1", "10.100.0.0/20"),
    ],
    "us-west-2": [("prod-web-usw2", "10.10.0.0/16"), ("analytics-usw2", "10.11.0.0/16")],
    "eu-west-1": [("payments-eu", "10.20.0.0/16"), ("prod-eu", "10.21.0.0/16")],
    "eu-central-1": [("data-platform-fra", "10.30.0.0/16")],
    "ap-southeast-2": [("apac-edge-syd", "10.40.0.0/16")],
    "ap-northeast-1": [("staging-tokyo", "10.41.0.0/16")],
}

BUCKETS: dict[str, str] = {
    "northwind-flowlogs-use1": "us-east-1",
    "northwind-vpc-logs-usw2": "us-west-2",
    "northwind-secure-logs-fra": "eu-central-1",
    "northwind-flowlogs-apse2": "ap-southeast-2",
}

# Flow log states (keys of SeedSummary.flow_logs).
ALL_FIELDS_S3 = "all-fields-s3"  # compliant: every v2-v5 field, ALL, S3
DEFAULT_S3 = "default-s3"  # default (v2) format to S3
REJECT_ONLY = "reject-only"  # every field but TrafficType REJECT, S3 with a prefix
CLOUDWATCH = "cloudwatch"  # to CloudWatch Logs
KMS_ACCESS_ERROR = "kms-access-error"  # every field to an SSE-KMS bucket whose key refuses delivery
HIVE_HOURLY = "hive-hourly-prefix"  # every field, prefix, hive-compatible hourly partitions, 60 s
SUBNET_ALL_FIELDS = "subnet-all-fields"  # a single subnet's flow log (the VPC itself has none)

FW_LOGGING_FLOW_S3 = "egress-inspection"
FW_NOT_LOGGING = "payments-eu-perimeter"
FW_ALERT_CLOUDWATCH = "usw2-ingress"

METADATA_POLICY_VERSIONS: list[list[dict[str, Any]]] = [
    [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}],
    [
        {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["network-firewall:Describe*", "network-firewall:List*"],
            "Resource": "*",
        },
    ],
    [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "elasticloadbalancing:Describe*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["network-firewall:Describe*", "network-firewall:List*"],
            "Resource": "*",
        },
    ],
    [
        {
            "Sid": "KentikMetadata",
            "Effect": "Allow",
            "Action": [
                "ec2:Describe*",
                "elasticloadbalancing:Describe*",
                "directconnect:Describe*",
                "organizations:List*",
                "organizations:Describe*",
                "ram:List*",
                "ram:Get*",
            ],
            "Resource": "*",
        },
        {
            "Sid": "KentikFirewallMetadata",
            "Effect": "Allow",
            "Action": ["network-firewall:Describe*", "network-firewall:List*"],
            "Resource": "*",
        },
    ],
]


@dataclass(frozen=True)
class SeededVpc:
    name: str
    region: str
    vpc_id: str
    cidr: str
    subnet_ids: tuple[str, ...]


@dataclass
class SeedSummary:
    """Names and ids of what `seed_account` created (tests and the README assert on these)."""

    account_id: str
    enabled_regions: tuple[str, ...]  # regions holding seeded VPCs (all enabled)
    opt_in_region: str  # an opt-in region that is not enabled
    vpcs: dict[str, SeededVpc] = field(default_factory=dict)  # by Name tag
    buckets: dict[str, str] = field(default_factory=dict)  # bucket -> region
    flow_logs: dict[str, str] = field(default_factory=dict)  # state (constants above) -> flow log id
    vpcs_without_flow_logs: tuple[str, ...] = ()  # Name tags
    firewalls: dict[str, str] = field(default_factory=dict)  # firewall name -> ARN
    firewall_logging_flow_s3: str = FW_LOGGING_FLOW_S3
    firewall_not_logging: str = FW_NOT_LOGGING
    firewall_alert_cloudwatch: str = FW_ALERT_CLOUDWATCH
    kentik_role_name: str = ""
    kentik_role_arn: str = ""
    external_id: str = KENTIK_EXTERNAL_ID
    metadata_policy_arn: str = ""
    metadata_policy_versions: int = 0
    kms_key_id: str = ""
    kms_key_arn: str = ""
    kms_alias: str = ""
    flow_logs_cwl_role_arn: str = ""
    log_groups: dict[str, str] = field(default_factory=dict)  # log group -> region


class _Clients:
    def __init__(self, endpoint_url: str | None) -> None:
        self._session = boto3.Session(
            aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1"
        )
        self._endpoint = endpoint_url
        self._config = Config(
            retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30
        )
        self._cache: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        key = (service, region)
        if key not in self._cache:
            self._cache[key] = self._session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self._endpoint,
                config=self._config,
            )
        return self._cache[key]


def _tags(name: str, **extra: str) -> list[dict[str, str]]:
    return [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]


def _subnet_plan(name: str, cidr: str, region: str) -> list[tuple[str, str, str]]:
    """(Name, CIDR, AZ) of the subnets of a VPC: private a/b and public a (firewall /28s for inspection)."""
    base = cidr.split("/")[0].rsplit(".", 2)[0]  # "10.0"
    b = "c" if region == "ap-northeast-1" else "b"  # ap-northeast-1 has no "b" zone
    if cidr.endswith("/20"):
        third = int(cidr.split(".")[2])
        return [
            (f"{name}-firewall-a", f"{base}.{third}.0/28", f"{region}a"),
            (f"{name}-firewall-b", f"{base}.{third}.16/28", f"{region}{b}"),
            (f"{name}-tgw-a", f"{base}.{third + 1}.0/24", f"{region}a"),
        ]
    return [
        (f"{name}-private-a", f"{base}.0.0/20", f"{region}a"),
        (f"{name}-private-b", f"{base}.16.0/20", f"{region}{b}"),
        (f"{name}-public-a", f"{base}.128.0/24", f"{region}a"),
    ]


def seed_account(endpoint_url: str | None) -> SeedSummary:
    """Create the demo account on a moto endpoint (None: boto3's default endpoints, e.g. under `mock_aws`).

    The moto fixes must be applied in the process that runs moto.
    """
    c = _Clients(endpoint_url)
    account_id = c("sts").get_caller_identity()["Account"]
    summary = SeedSummary(
        account_id=account_id, enabled_regions=tuple(VPC_LAYOUT), opt_in_region=OPT_IN_REGION
    )
    env_tag = {"prod": "production", "payments": "production", "dev": "development", "staging": "staging"}

    # VPCs and subnets
    for region, vpcs in VPC_LAYOUT.items():
        ec2 = c("ec2", region)
        for name, cidr in vpcs:
            env = next((v for k, v in env_tag.items() if name.startswith(k)), "shared")
            vpc_id = ec2.create_vpc(
                CidrBlock=cidr,
                TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags(name, Environment=env)}],
            )["Vpc"]["VpcId"]
            subnet_ids = []
            for sub_name, sub_cidr, az in _subnet_plan(name, cidr, region):
                subnet_ids.append(
                    ec2.create_subnet(
                        VpcId=vpc_id,
                        CidrBlock=sub_cidr,
                        AvailabilityZone=az,
                        TagSpecifications=[{"ResourceType": "subnet", "Tags": _tags(sub_name)}],
                    )["Subnet"]["SubnetId"]
                )
            summary.vpcs[name] = SeededVpc(name, region, vpc_id, cidr, tuple(subnet_ids))

    # KMS: a customer-managed key whose (default) key policy does not let log delivery use it
    kms = c("kms", "eu-central-1")
    key = kms.create_key(
        Description="Default encryption for northwind-secure-logs-fra",
        Tags=[{"TagKey": "Owner", "TagValue": "platform-security"}],
    )["KeyMetadata"]
    summary.kms_key_id, summary.kms_key_arn = key["KeyId"], key["Arn"]
    summary.kms_alias = "alias/northwind-secure-logs"
    kms.create_alias(AliasName=summary.kms_alias, TargetKeyId=key["KeyId"])

    # Buckets: SSE-S3 everywhere except the secure bucket (SSE-KMS with the key above)
    for bucket, region in BUCKETS.items():
        s3 = c("s3", region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        rule: dict[str, Any] = {"SSEAlgorithm": "AES256"}
        if bucket == "northwind-secure-logs-fra":
            rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": summary.kms_key_arn}
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]},
        )
        s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": "Purpose", "Value": "network-logs"}]}
        )
        summary.buckets[bucket] = region

    # IAM: Kentik's role with a managed metadata policy that already has several versions
    iam = c("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": KENTIK_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": KENTIK_EXTERNAL_ID}},
            }
        ],
    }
    role = iam.create_role(
        RoleName="kentik-metadata-role",
        AssumeRolePolicyDocument=json.dumps(trust),
        Description="Assumed by Kentik to collect cloud metadata and flow logs",
        Tags=[{"Key": "Vendor", "Value": "kentik"}],
    )["Role"]
    summary.kentik_role_name, summary.kentik_role_arn = role["RoleName"], role["Arn"]
    first, *later = METADATA_POLICY_VERSIONS
    policy = iam.create_policy(
        PolicyName="kentik-metadata-policy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": first}),
        Description="Read-only metadata access for Kentik",
    )["Policy"]
    for statements in later:
        iam.create_policy_version(
            PolicyArn=policy["Arn"],
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            SetAsDefault=True,
        )
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=policy["Arn"])
    summary.metadata_policy_arn = policy["Arn"]
    summary.metadata_policy_versions = len(METADATA_POLICY_VERSIONS)

    cwl_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    cwl_role = iam.create_role(
        RoleName="vpc-flow-logs-to-cloudwatch", AssumeRolePolicyDocument=json.dumps(cwl_trust)
    )
    iam.put_role_policy(
        RoleName="vpc-flow-logs-to-cloudwatch",
        PolicyName="write-flow-logs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                            "logs:DescribeLogGroups",
                            "logs:DescribeLogStreams",
                        ],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    summary.flow_logs_cwl_role_arn = cwl_role["Role"]["Arn"]
    for group, region in (
        ("/vpc/prod-eu/flow-logs", "eu-west-1"),
        ("/network-firewall/usw2-ingress/alert", "us-west-2"),
    ):
        c("logs", region).create_log_group(logGroupName=group)
        summary.log_groups[group] = region

    # Flow logs in every interesting state
    def flow_log(
        state: str, vpc: str, resource_type: str = "VPC", resource_id: str = "", **params: Any
    ) -> None:
        v = summary.vpcs[vpc]
        resp = c("ec2", v.region).create_flow_logs(
            ResourceIds=[resource_id or v.vpc_id],
            ResourceType=resource_type,
            TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": _tags(f"{vpc}-{state}")}],
            **params,
        )
        if resp.get("Unsuccessful"):
            raise RuntimeError(f"seed: flow log {state} for {vpc} failed: {resp['Unsuccessful']}")
        summary.flow_logs[state] = resp["FlowLogIds"][0]

    s3_all = {"LogDestinationType": "s3", "LogFormat": REQUIRED_LOG_FORMAT}
    flow_log(
        ALL_FIELDS_S3,
        "prod-core",
        TrafficType="ALL",
        LogDestination="arn:aws:s3:::northwind-flowlogs-use1",
        **s3_all,
    )
    flow_log(
        DEFAULT_S3,
        "prod-web-usw2",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::northwind-vpc-logs-usw2",
    )
    flow_log(
        REJECT_ONLY,
        "shared-services",
        TrafficType="REJECT",
        LogDestination="arn:aws:s3:::northwind-flowlogs-use1/security/",
        **s3_all,
    )
    flow_log(
        CLOUDWATCH,
        "prod-eu",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName="/vpc/prod-eu/flow-logs",
        DeliverLogsPermissionArn=summary.flow_logs_cwl_role_arn,
    )
    flow_log(
        KMS_ACCESS_ERROR,
        "data-platform-fra",
        TrafficType="ALL",
        LogDestination="arn:aws:s3:::northwind-secure-logs-fra",
        **s3_all,
    )
    flow_log(
        HIVE_HOURLY,
        "apac-edge-syd",
        TrafficType="ALL",
        LogDestination="arn:aws:s3:::northwind-flowlogs-apse2/vpc-flow-logs/",
        MaxAggregationInterval=60,
        DestinationOptions={
            "FileFormat": "plain-text",
            "HiveCompatiblePartitions": True,
            "PerHourPartition": True,
        },
        **s3_all,
    )
    tokyo = summary.vpcs["staging-tokyo"]
    flow_log(
        SUBNET_ALL_FIELDS,
        "staging-tokyo",
        resource_type="Subnet",
        resource_id=tokyo.subnet_ids[0],
        TrafficType="ALL",
        LogDestination="arn:aws:s3:::northwind-flowlogs-use1",
        **s3_all,
    )
    # The account has been running: AWS has tried to deliver, so the flow log to the SSE-KMS bucket whose
    # key refuses log delivery already shows DeliverLogsStatus FAILED / "Access error" on the first scan.
    from aws.sandbox.delivery import settle_delivery_status  # imports moto: only where moto runs

    settle_delivery_status(account_id, summary.flow_logs.values())
    covered = {
        "prod-core",
        "prod-web-usw2",
        "shared-services",
        "prod-eu",
        "data-platform-fra",
        "apac-edge-syd",
    }
    summary.vpcs_without_flow_logs = tuple(n for n in summary.vpcs if n not in covered)

    # Network Firewalls (moto has no CreateFirewallPolicy: the policy ARN is only a reference)
    def firewall(name: str, vpc: str, policy: str) -> str:
        v = summary.vpcs[vpc]
        arn: str = c("network-firewall", v.region).create_firewall(
            FirewallName=name,
            FirewallPolicyArn=f"arn:aws:network-firewall:{v.region}:{account_id}:firewall-policy/{policy}",
            VpcId=v.vpc_id,
            SubnetMappings=[{"SubnetId": s} for s in v.subnet_ids[:2]],
            Description=f"{name} ({vpc})",
            Tags=_tags(name),
        )["Firewall"]["FirewallArn"]
        summary.firewalls[name] = arn
        return arn

    firewall(FW_LOGGING_FLOW_S3, "inspection-use1", "egress-default")
    c("network-firewall", "us-east-1").update_logging_configuration(
        FirewallName=FW_LOGGING_FLOW_S3,
        LoggingConfiguration={
            "LogDestinationConfigs": [
                {
                    "LogType": "FLOW",
                    "LogDestinationType": "S3",
                    "LogDestination": {"bucketName": "northwind-flowlogs-use1", "prefix": "network-firewall"},
                }
            ]
        },
    )
    firewall(FW_NOT_LOGGING, "payments-eu", "pci-perimeter")
    firewall(FW_ALERT_CLOUDWATCH, "prod-web-usw2", "ingress-ips")
    c("network-firewall", "us-west-2").update_logging_configuration(
        FirewallName=FW_ALERT_CLOUDWATCH,
        LoggingConfiguration={
            "LogDestinationConfigs": [
                {
                    "LogType": "ALERT",
                    "LogDestinationType": "CloudWatchLogs",
                    "LogDestination": {"logGroup": "/network-firewall/usw2-ingress/alert"},
                }
            ]
        },
    )
    return summary
