"""The sandbox's log delivery service: writes VPC flow log and Network Firewall log files into moto's S3.

Like AWS it writes gzip objects under AWS's exact key layout (built by aws.logs.keys, the same module
the verification step reads them with), starts only after a first delay, and does
not write (flow log `DeliverLogsStatus` FAILED / "Access error") when the bucket is gone, the bucket
policy does not let `delivery.logs.amazonaws.com` write (or explicitly denies it), or the bucket's
default SSE-KMS key is AWS-managed, disabled, or its key policy does not let the delivery service use it.

Logs of one account into another account's bucket (a central log bucket) are written only when the
bucket policy (and key policy) admit that account, conditions evaluated for it (aws.sandbox.strict_org),
under `AWSLogs/{that account}/`.

It reads and writes moto's in-process backends, so it works for `mock_aws` and a `ThreadedMotoServer`
in the same process. `tick(now)` does one delivery round; the thread calls it every `cadence` seconds.
`settle_delivery_status` sets the FAILED status of flow logs whose delivery has already been tried, as
AWS shows them in an account that has been running (the seed uses it, so the first scan sees it).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import ipaddress
import json
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aws.iam.deny import DELIVERY_SERVICE, delivery_context, delivery_denied_by
from aws.logs.format import FIELD_VERSION, parse_log_format
from aws.logs.keys import firewall_key, flowlog_key, parse_key
from aws.regions import partition_of
from aws.sandbox.moto_fixes import policy_allows_delivery, split_s3_arn
from aws.sandbox.strict_org import delivery_allowed

DEFAULT_CADENCE = 5.0  # seconds between rounds (AWS: about 5 minutes)
ACCESS_ERROR = "Access error"


@dataclass(frozen=True)
class DeliveredObject:
    bucket: str
    key: str
    source: str  # flow log id, or "{firewall name}:{LOG TYPE}"
    records: int


# -- access checks (what log delivery would be allowed to do) ----------------------------------------------


def delivery_error(account_id: str, bucket_name: str, key: str) -> str | None:
    """Why log delivery could not write `key` into `bucket_name`, as AWS reports it on the flow log
    (`DeliverLogsErrorMessage` "Access error"); None if it can. The detailed reason (which policy
    statement denied it): `delivery_refusal`."""
    return ACCESS_ERROR if delivery_refusal(account_id, bucket_name, key) else None


def delivery_refusal(account_id: str, bucket_name: str, key: str) -> str | None:
    """Why, in detail, log delivery could not write `key` into `bucket_name` (None if it can).

    An explicit Deny in the bucket policy or the key policy wins over any Allow, conditions included:
    it is decided by `aws.iam.deny` against the condition keys log delivery's request carries
    (`delivery_context`), the same evaluator the planner uses to warn before apply.
    """
    from moto.kms.models import kms_backends
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    try:
        bucket = s3_backends[account_id]["aws"].get_bucket(bucket_name)
    except MissingBucket:
        return f"{ACCESS_ERROR}: bucket {bucket_name} does not exist"
    info = parse_key(key)
    region = info.region if info else bucket.region_name
    partition = partition_of(region)
    object_arn = f"arn:{partition}:s3:::{bucket_name}/{key}"
    context = delivery_context(account_id, region, action="s3:PutObject", partition=partition)
    deny = delivery_denied_by(bucket.policy, "s3:PutObject", object_arn, context)
    if deny:
        return f"{ACCESS_ERROR}: {deny.describe('s3:PutObject', object_arn, policy='bucket policy')}"
    # Another account's bucket (a central log bucket): its Allow must hold for this account's logs, its
    # conditions (aws:SourceAccount, aws:SourceArn) evaluated for it (aws.sandbox.strict_org).
    foreign = bucket.account_id != account_id
    allowed = (
        delivery_allowed(bucket.policy, "s3:PutObject", object_arn, account_id, region)
        if foreign
        else policy_allows_delivery(bucket.policy, "s3:PutObject", object_arn)
    )
    if not allowed:
        return f"{ACCESS_ERROR}: the bucket policy does not allow {DELIVERY_SERVICE} s3:PutObject on {object_arn}"
    rule = ((bucket.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
    if rule.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
        key_ref = rule.get("KMSMasterKeyID")
        if not key_ref:  # the AWS-managed aws/s3 key: its policy can't admit log delivery
            return f"{ACCESS_ERROR}: the bucket's default encryption uses the AWS-managed aws/s3 key"
        kms_region = key_ref.split(":")[3] if key_ref.startswith("arn:") else bucket.region_name
        key_account = key_ref.split(":")[4] if key_ref.startswith("arn:") else bucket.account_id
        kms = kms_backends[key_account][kms_region]
        try:
            kms_key = kms.keys[kms.any_id_to_key_id(key_ref)]
        except (KeyError, AttributeError, TypeError):
            return f"{ACCESS_ERROR}: KMS key {key_ref} does not exist"
        if kms_key.key_manager != "CUSTOMER" or kms_key.key_state != "Enabled":
            return f"{ACCESS_ERROR}: KMS key {key_ref} is not an enabled customer managed key"
        kms_context = delivery_context(
            account_id, region, action="kms:GenerateDataKey", bucket=bucket_name, partition=partition
        )
        deny = delivery_denied_by(kms_key.policy, "kms:GenerateDataKey", kms_key.arn, kms_context)
        if deny:
            return f"{ACCESS_ERROR}: {deny.describe('kms:GenerateDataKey', kms_key.arn, policy='key policy')}"
        if not (
            delivery_allowed(
                kms_key.policy, "kms:GenerateDataKey", kms_key.arn, account_id, region, bucket=bucket_name
            )
            if foreign
            else policy_allows_delivery(kms_key.policy, "kms:GenerateDataKey", kms_key.arn)
        ):
            return (
                f"{ACCESS_ERROR}: the key policy of {kms_key.arn} does not allow {DELIVERY_SERVICE} to use it"
            )
    return None


# -- record generators -------------------------------------------------------------------------------------


@dataclass
class _Place:
    vpc_id: str
    cidr: str
    subnets: list[tuple[str, str, str, str]]  # (subnet id, cidr, az name, az id)


_PUBLIC_PEERS = [
    ("52.94.236.248", "AMAZON", 443),
    ("52.216.8.147", "S3", 443),
    ("3.5.140.2", "AMAZON", 443),
    ("142.250.72.14", "-", 443),
    ("151.101.1.69", "-", 443),
    ("104.18.32.7", "-", 80),
]
_SCANNERS = ["45.142.212.61", "198.51.100.23", "185.220.101.34", "92.118.39.12"]


def _host(rng: random.Random, cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    size = net.num_addresses
    return str(net.network_address + rng.randrange(4, max(5, size - 1)))


def _place_for(backend: Any, resource_type: str, resource_id: str) -> _Place:
    def subnet_tuple(s: Any) -> tuple[str, str, str, str]:
        return (s.id, s.cidr_block, s.availability_zone, s.availability_zone_id)

    try:
        if resource_type == "VPC":
            vpc = backend.get_vpc(resource_id)
            subnets = [subnet_tuple(s) for s in backend.describe_subnets(filters={"vpc-id": [vpc.id]})]
            return _Place(vpc.id, vpc.cidr_block, subnets)
        if resource_type == "Subnet":
            s = backend.get_subnet(resource_id)
            return _Place(s.vpc_id, backend.get_vpc(s.vpc_id).cidr_block, [subnet_tuple(s)])
        if resource_type == "NetworkInterface":
            s = backend.get_network_interface(resource_id).subnet
            return _Place(s.vpc_id, backend.get_vpc(s.vpc_id).cidr_block, [subnet_tuple(s)])
    except Exception:
        pass
    return _Place("-", "10.0.0.0/16", [])


def _stable_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:17]


def flow_log_lines(
    fields: list[str],
    *,
    rng: random.Random,
    account_id: str,
    region: str,
    place: _Place,
    traffic_type: str,
    interval: int,
    now: datetime,
    count: int,
) -> list[str]:
    """Header line (field names in LogFormat order) plus `count` plausible records."""
    version = str(max((FIELD_VERSION.get(f, 2) for f in fields), default=2))
    subnets = place.subnets or [("-", place.cidr, f"{region}a", "-")]
    end_max = int(now.timestamp())
    lines = [" ".join(fields)]
    for _ in range(count):
        subnet_id, subnet_cidr, _az, az_id = rng.choice(subnets)
        eni = _stable_id("eni-", place.vpc_id, subnet_id, str(rng.randrange(6)))
        instance = _stable_id("i-", eni) if rng.random() < 0.8 else "-"
        end = end_max - rng.randrange(0, 30)
        start = end - rng.randrange(1, interval)
        v: dict[str, str] = {
            "version": version,
            "account-id": account_id,
            "interface-id": eni,
            "vpc-id": place.vpc_id,
            "subnet-id": subnet_id,
            "instance-id": instance,
            "region": region,
            "az-id": az_id,
            "start": str(start),
            "end": str(end),
        }
        if rng.random() < 0.06:  # an interface with nothing to report in the window
            v["log-status"] = "NODATA"
            lines.append(" ".join(v.get(f, "-") for f in fields))
            continue
        local = _host(rng, subnet_cidr)
        kind = rng.random()
        src_svc = dst_svc = "-"
        traffic_path = "-"
        if traffic_type == "REJECT" or (traffic_type == "ALL" and kind < 0.2):
            # inbound probe refused by a security group / NACL
            src, dst = rng.choice(_SCANNERS), local
            proto, dport = "6", rng.choice([22, 23, 3389, 445, 8080, 5900])
            sport, action, direction, flags = rng.randrange(1024, 65535), "REJECT", "ingress", "2"
            packets = rng.randrange(1, 4)
        elif kind < 0.55:
            peer, svc, dport = rng.choice(_PUBLIC_PEERS)
            src, dst, dst_svc = local, peer, svc
            proto, sport, action, direction = "6", rng.randrange(32768, 61000), "ACCEPT", "egress"
            flags, traffic_path, packets = rng.choice(["3", "19", "18", "27"]), "8", rng.randrange(4, 900)
        elif kind < 0.75:
            src, dst = local, str(ipaddress.ip_network(place.cidr, strict=False).network_address + 2)
            proto, sport, dport, action, direction = "17", rng.randrange(32768, 61000), 53, "ACCEPT", "egress"
            flags, traffic_path, packets = "0", "1", rng.randrange(1, 6)
        elif kind < 0.92:
            src, dst = _host(rng, place.cidr), local
            proto, dport = "6", rng.choice([443, 5432, 6379, 8443, 9092])
            sport, action, direction, flags = rng.randrange(32768, 61000), "ACCEPT", "ingress", "19"
            packets = rng.randrange(2, 5000)
        else:
            src, dst = local, _host(rng, place.cidr)
            proto, sport, dport, action, direction = "1", 0, 0, "ACCEPT", "egress"
            flags, traffic_path, packets = "0", "1", rng.randrange(1, 10)
        if traffic_type == "ACCEPT" and action == "REJECT":
            action = "ACCEPT"
        v.update(
            {
                "srcaddr": src,
                "dstaddr": dst,
                "srcport": str(sport),
                "dstport": str(dport),
                "protocol": proto,
                "packets": str(packets),
                "bytes": str(packets * rng.randrange(40, 1400)),
                "action": action,
                "log-status": "OK",
                "tcp-flags": flags,
                "type": "IPv4",
                "pkt-srcaddr": src,
                "pkt-dstaddr": dst,
                "pkt-src-aws-service": src_svc,
                "pkt-dst-aws-service": dst_svc,
                "flow-direction": direction,
                "traffic-path": traffic_path if direction == "egress" else "-",
            }
        )
        lines.append(" ".join(v.get(f, "-") for f in fields))
    return lines


def _eve_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"


def firewall_lines(
    log_type: str,
    *,
    rng: random.Random,
    firewall_name: str,
    azs: list[str],
    cidr: str,
    now: datetime,
    count: int,
) -> list[str]:
    """JSON lines as Network Firewall writes them (Suricata EVE `netflow`, `alert` or `tls` events)."""
    lines = []
    for _ in range(count):
        t = now - timedelta(seconds=rng.randrange(0, 300), microseconds=rng.randrange(0, 999999))
        src = _host(rng, cidr)
        peer, _svc, dport = rng.choice(_PUBLIC_PEERS)
        sport = rng.randrange(32768, 61000)
        event: dict[str, Any] = {
            "timestamp": _eve_time(t),
            "flow_id": rng.randrange(10**14, 10**16),
            "src_ip": src,
            "src_port": sport,
            "dest_ip": peer,
            "dest_port": dport,
            "proto": "TCP",
        }
        if log_type == "FLOW":
            pkts = rng.randrange(2, 400)
            age = rng.randrange(0, 120)
            event.update(
                {
                    "event_type": "netflow",
                    "app_proto": "tls" if dport == 443 else "http",
                    "netflow": {
                        "pkts": pkts,
                        "bytes": pkts * rng.randrange(60, 1400),
                        "start": _eve_time(t - timedelta(seconds=age)),
                        "end": _eve_time(t),
                        "age": age,
                        "min_ttl": 63,
                        "max_ttl": 64,
                    },
                    "tcp": {"tcp_flags": "1b", "syn": True, "fin": True, "psh": True, "ack": True},
                }
            )
        elif log_type == "ALERT":
            blocked = rng.random() < 0.6
            event.update(
                {
                    "event_type": "alert",
                    "app_proto": "tls" if dport == 443 else "http",
                    "alert": {
                        "action": "blocked" if blocked else "allowed",
                        "signature_id": rng.choice([2, 3, 1000001, 1000042]),
                        "rev": 1,
                        "signature": rng.choice(["deny-listed domain", "outbound to unknown TLS SNI", ""]),
                        "category": "",
                        "severity": 3 if blocked else 1,
                    },
                }
            )
        else:
            event.update(
                {
                    "event_type": "tls",
                    "tls": {
                        "sni": rng.choice(["api.example.com", "updates.vendor.io"]),
                        "version": "TLS 1.3",
                    },
                }
            )
        record = {
            "firewall_name": firewall_name,
            "availability_zone": rng.choice(azs),
            "event_timestamp": str(int(t.timestamp())),
            "event": event,
        }
        lines.append(json.dumps(record, separators=(",", ":")))
    return lines


# -- the simulator -----------------------------------------------------------------------------------------


def _snapshot(backend_dict: Any) -> list[tuple[str, str, Any]]:
    """(account, region, backend) of every backend moto has created; safe while other threads add some."""
    out = []
    for account_id, per_region in list(backend_dict.items()):
        for region, backend in list(per_region.items()):
            out.append((account_id, region, backend))
    return out


class DeliverySimulator:
    """Writes flow log and firewall log files for every S3 destination, every `cadence` seconds.

    A source is first delivered `first_delay` seconds after the simulator first sees it (AWS: about
    10 minutes), then once per round.
    """

    def __init__(
        self, cadence: float = DEFAULT_CADENCE, first_delay: float | None = None, seed: int = 0
    ) -> None:
        self.cadence = cadence
        self.first_delay = 2 * cadence if first_delay is None else first_delay
        self._seed = seed
        self._first_seen: dict[str, datetime] = {}
        self._round = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # thread control
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flowlogs-delivery", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.cadence):
            with contextlib.suppress(Exception):  # a delivery round must never take the sandbox down
                self.tick()

    # one round
    def _due(self, source: str, now: datetime) -> bool:
        first = self._first_seen.setdefault(source, now)
        return (now - first).total_seconds() >= self.first_delay

    def _rng(self, source: str, now: datetime) -> random.Random:
        digest = hashlib.sha256(f"{self._seed}|{source}|{now.isoformat()}|{self._round}".encode()).hexdigest()
        return random.Random(int(digest[:16], 16))

    def tick(self, now: datetime | None = None) -> list[DeliveredObject]:
        """One delivery round at time `now` (UTC; default: the current time). Returns what was written."""
        now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        with self._lock:
            self._round += 1
            out = self._flow_logs(now)
            out += self._firewalls(now)
            return out

    def _put(self, account_id: str, bucket: str, key: str, lines: list[str]) -> None:
        from moto.s3.models import s3_backends

        body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
        s3_backends[account_id]["aws"].put_object(bucket, key, body)

    def _flow_logs(self, now: datetime) -> list[DeliveredObject]:
        from moto.ec2.models import ec2_backends

        out = []
        for account_id, region, backend in _snapshot(ec2_backends):
            for fl in list(getattr(backend, "flow_logs", {}).values()):
                if fl.log_destination_type != "s3" or fl.flow_log_status != "ACTIVE":
                    continue
                if not self._due(fl.id, now):
                    continue
                options = getattr(fl, "destination_options", None) or {}
                if options.get("FileFormat", "plain-text") != "plain-text":
                    continue  # parquet files are not simulated (Kentik reads .log.gz text)
                rng = self._rng(fl.id, now)
                bucket, key = _flow_log_key(account_id, region, fl, now, f"{rng.getrandbits(32):08x}")
                error = delivery_error(account_id, bucket, key)
                if error:
                    fl.deliver_logs_status, fl.deliver_logs_error_message = "FAILED", error
                    continue
                resource_type = _resource_type(fl.resource_id)
                lines = flow_log_lines(
                    parse_log_format(fl.log_format),
                    rng=rng,
                    account_id=account_id,
                    region=region,
                    place=_place_for(backend, resource_type, fl.resource_id),
                    traffic_type=fl.traffic_type or "ALL",
                    interval=int(fl.max_aggregation_interval or 600),
                    now=now,
                    count=rng.randrange(20, 60),
                )
                self._put(account_id, bucket, key, lines)
                fl.deliver_logs_status, fl.deliver_logs_error_message = "SUCCESS", None
                out.append(DeliveredObject(bucket, key, fl.id, len(lines) - 1))
        return out

    def _firewalls(self, now: datetime) -> list[DeliveredObject]:
        from moto.ec2.models import ec2_backends
        from moto.networkfirewall.models import networkfirewall_backends

        out = []
        for account_id, region, backend in _snapshot(networkfirewall_backends):
            for fw in list(backend.firewalls.values()):
                configs = (fw.logging_configs or {}).get("LogDestinationConfigs") or []
                for config in configs:
                    if config.get("LogDestinationType") != "S3":
                        continue
                    log_type = config["LogType"]
                    dest = config.get("LogDestination") or {}
                    source = f"{fw.firewall_name}:{log_type}"
                    if not self._due(f"{fw.arn}:{log_type}:{dest.get('bucketName')}", now):
                        continue
                    rng = self._rng(source, now)
                    key = firewall_key(
                        account_id,
                        region,
                        fw.firewall_name,
                        log_type.lower(),
                        now,
                        prefix=dest.get("prefix") or "",
                        suffix=f"{rng.getrandbits(32):08x}",
                    )
                    if delivery_error(account_id, dest["bucketName"], key):
                        continue
                    ec2 = ec2_backends[account_id][region]
                    place = _place_for(ec2, "VPC", fw.vpc_id)
                    azs = sorted({s[2] for s in place.subnets}) or [f"{region}a"]
                    lines = firewall_lines(
                        log_type,
                        rng=rng,
                        firewall_name=fw.firewall_name,
                        azs=azs,
                        cidr=place.cidr,
                        now=now,
                        count=rng.randrange(10, 40),
                    )
                    self._put(account_id, dest["bucketName"], key, lines)
                    out.append(DeliveredObject(dest["bucketName"], key, source, len(lines)))
        return out


def _flow_log_key(account_id: str, region: str, fl: Any, now: datetime, suffix: str) -> tuple[str, str]:
    """(bucket, key) of the file a round at `now` writes for the S3 flow log `fl` (a moto FlowLogs)."""
    options = getattr(fl, "destination_options", None) or {}
    bucket, prefix = split_s3_arn(fl.log_destination)
    key = flowlog_key(
        account_id,
        region,
        fl.id,
        now,
        prefix=prefix,
        hive=bool(options.get("HiveCompatiblePartitions")),
        per_hour=bool(options.get("PerHourPartition")),
        suffix=suffix,
    )
    return bucket, key


def settle_delivery_status(
    account_id: str, flow_log_ids: Iterable[str], now: datetime | None = None
) -> dict[str, str]:
    """What AWS shows for S3 flow logs whose delivery has already been tried (the seeded account has
    been running for a while): `DeliverLogsStatus` FAILED with its `DeliverLogsErrorMessage` for each one
    log delivery could not write to, without waiting for a delivery round. Nothing is written and the
    others are left as they are (SUCCESS). Reads and writes this process's moto backends: flow logs it
    does not hold (a moto server in another process) are skipped. Returns {flow log id: error}."""
    from moto.ec2.models import ec2_backends

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    wanted, failed = set(flow_log_ids), {}
    for acct, region, backend in _snapshot(ec2_backends):
        if acct != account_id:
            continue
        for fl in list(getattr(backend, "flow_logs", {}).values()):
            if fl.id not in wanted or fl.log_destination_type != "s3" or fl.flow_log_status != "ACTIVE":
                continue
            error = delivery_error(account_id, *_flow_log_key(account_id, region, fl, now, "00000000"))
            if error:
                fl.deliver_logs_status, fl.deliver_logs_error_message = "FAILED", error
                failed[fl.id] = error
    return failed


def _resource_type(resource_id: str) -> str:
    for prefix, kind in (("vpc-", "VPC"), ("subnet-", "Subnet"), ("eni-", "NetworkInterface")):
        if resource_id.startswith(prefix):
            return kind
    return "TransitGateway"
