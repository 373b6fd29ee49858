"""Account and region discovery: who am I, which regions are enabled, which VPCs, flow logs and Network
Firewalls exist there, how far each is from the spec, and which IAM roles may be Kentik's.

`scan()` is read-only (Describe/List/Get calls only) and works with `session.read_only = True`.

Concurrency: a bounded pool of `workers` threads scans regions (one region per worker at a time). Each
region's independent calls (DescribeVpcs, DescribeSubnets, DescribeFlowLogs, ListFirewalls, and then the
per-firewall DescribeFirewall + DescribeLoggingConfiguration) run at once on a second pool of leaf-call
threads, so a region costs about two round trips whatever the latency. Identity, DescribeRegions and the
IAM role search start together at the beginning. Only region coordinators (and the one IAM coordinator)
ever wait on leaf calls, and leaf calls never wait on anything, so the pools cannot deadlock.

Failures: a region whose EC2 calls fail (AuthFailure in a disabled region, UnauthorizedOperation,
timeouts, throttling that outlasted the retries) is recorded as `failed` with a fix hint and the other
regions complete. A failing network-firewall or DescribeNetworkInterfaces call only degrades that part
(`partial`, listed in `partial_errors`). Credential errors and an unreadable region list stop the scan
(raised as `FlowlogsError`); invalid include/skip names raise `ValidationFailed` before any region scan.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from typing import Any

from aws.assess import assess_firewall, assess_vpc
from aws.discovery_api import (
    firewall_destinations_from_api,
    flow_log_from_api,
    name_tag,
    paginate,
    resource_type,
    scan_error,
    validate_region_names,
)
from aws.errors import (
    ValidationFailed,
    explain,
)
from aws.inventory import (
    CallerIdentity,
    Firewall,
    Inventory,
    RegionResult,
    RegionStatus,
    ScanError,
    Vpc,
)
from aws.kentik_roles import discover_roles
from aws.limits import MAX_SCAN_WORKERS
from aws.permissions import declare
from aws.session import AwsSession, partition_of

PERMISSIONS = declare(
    __name__,
    read=[
        "ec2:DescribeRegions",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeFlowLogs",
        "ec2:DescribeNetworkInterfaces",
        "network-firewall:ListFirewalls",
        "network-firewall:DescribeFirewall",
        "network-firewall:DescribeLoggingConfiguration",
        "s3:ListBuckets",
    ],
)

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 12
ENABLED_OPT_IN = ("opt-in-not-required", "opted-in")
_DISABLED_REGION_CODES = {
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
}
_ENI_FILTER_CHUNK = 200  # values per filter

RegionCallback = Callable[[RegionResult], object]


# -- regions ---------------------------------------------------------------------------------------
def describe_regions(session: AwsSession) -> list[tuple[str, str]]:
    """(name, OptInStatus) of every region, enabled or not, sorted by name."""
    try:
        regions = session.client("ec2").describe_regions(AllRegions=True)["Regions"]
    except Exception as err:
        raise explain(err, service="ec2") from err
    return sorted((r["RegionName"], r.get("OptInStatus", "opt-in-not-required")) for r in regions)


def scan_region(session: AwsSession, region: str, *, calls: Executor | None = None) -> RegionResult:
    """Scan one region: VPCs, subnets (counts), flow logs, Network Firewalls and their logging.

    Independent calls run concurrently on `calls` (a private pool when None). Never raises for AWS errors:
    they are recorded on the result.
    """
    if calls is None:
        with ThreadPoolExecutor(max_workers=6, thread_name_prefix=f"scan-{region}") as own:
            return scan_region(session, region, calls=own)
    started = time.perf_counter()
    result = RegionResult(name=region, status=RegionStatus.SCANNED)
    try:
        ec2 = session.client("ec2", region)
        nfw = session.client("network-firewall", region)
    except Exception as err:
        result.status = RegionStatus.FAILED
        result.error = scan_error(err, service="ec2", region=region)
        return result

    f_vpcs = calls.submit(paginate, ec2, "describe_vpcs", "Vpcs", page_size=1000)
    f_subnets = calls.submit(paginate, ec2, "describe_subnets", "Subnets", page_size=1000)
    f_flows = calls.submit(paginate, ec2, "describe_flow_logs", "FlowLogs", page_size=1000)
    f_fw_list = calls.submit(paginate, nfw, "list_firewalls", "Firewalls", page_size=100)

    f_enis: list[Future[list[dict[str, Any]]]] = []
    fw_details: list[tuple[dict[str, Any], Future[Any], Future[Any]]] = []
    for fut in as_completed([f_flows, f_fw_list]):
        if fut.exception() is not None:
            continue
        if fut is f_flows:
            eni_ids = sorted(
                {fl["ResourceId"] for fl in f_flows.result() if fl.get("ResourceId", "").startswith("eni-")}
            )
            for i in range(0, len(eni_ids), _ENI_FILTER_CHUNK):
                chunk = eni_ids[i : i + _ENI_FILTER_CHUNK]
                f_enis.append(
                    calls.submit(
                        paginate,
                        ec2,
                        "describe_network_interfaces",
                        "NetworkInterfaces",
                        page_size=1000,
                        Filters=[{"Name": "network-interface-id", "Values": chunk}],
                    )
                )
        else:
            for item in f_fw_list.result():
                arn = item["FirewallArn"]
                fw_details.append(
                    (
                        item,
                        calls.submit(nfw.describe_firewall, FirewallArn=arn),
                        calls.submit(nfw.describe_logging_configuration, FirewallArn=arn),
                    )
                )

    # EC2 core: without VPCs, subnets and flow logs there is nothing to assess.
    for fut, op in (
        (f_vpcs, "DescribeVpcs"),
        (f_subnets, "DescribeSubnets"),
        (f_flows, "DescribeFlowLogs"),
    ):
        exc = fut.exception()
        if exc is not None:
            result.status = RegionStatus.FAILED
            result.error = scan_error(exc, service="ec2", operation=op, region=region)
            # Wait for the other calls so none outlives the scan.
            for other in [f_fw_list, *f_enis] + [f for _, a, b in fw_details for f in (a, b)]:
                other.exception()
            result.duration_s = round(time.perf_counter() - started, 3)
            return result

    subnets = f_subnets.result()
    subnet_vpc = {s["SubnetId"]: s.get("VpcId") for s in subnets}
    eni_vpc: dict[str, str | None] = {}
    for fut in f_enis:
        exc = fut.exception()
        if exc is not None:
            result.partial_errors.append(
                scan_error(exc, service="ec2", operation="DescribeNetworkInterfaces", region=region)
            )
            continue
        eni_vpc.update({e["NetworkInterfaceId"]: e.get("VpcId") for e in fut.result()})

    vpcs: dict[str, Vpc] = {}
    for item in f_vpcs.result():
        cidrs = [
            a["CidrBlock"]
            for a in item.get("CidrBlockAssociationSet", [])
            if a.get("CidrBlockState", {}).get("State", "associated") == "associated"
        ]
        vpcs[item["VpcId"]] = Vpc(
            vpc_id=item["VpcId"],
            name=name_tag(item.get("Tags")),
            cidr=item.get("CidrBlock", ""),
            cidrs=cidrs or ([item["CidrBlock"]] if item.get("CidrBlock") else []),
            is_default=bool(item.get("IsDefault")),
            owner_id=item.get("OwnerId", ""),
        )
    for s in subnets:
        if s.get("VpcId") in vpcs:
            vpcs[s["VpcId"]].subnet_count += 1

    for item in f_flows.result():
        resource_id = item.get("ResourceId", "")
        kind = resource_type(resource_id)
        owner = {"VPC": resource_id, "Subnet": subnet_vpc.get(resource_id)}.get(
            kind, eni_vpc.get(resource_id)
        )
        fl = flow_log_from_api(item, owner)
        if kind == "VPC" and resource_id in vpcs:
            vpcs[resource_id].flow_logs.append(fl)
        elif kind in ("Subnet", "NetworkInterface") and owner in vpcs:
            vpcs[str(owner)].partial_flow_logs.append(fl)
        else:
            result.other_flow_logs.append(fl)
    result.vpcs = [assess_vpc(v) for v in sorted(vpcs.values(), key=lambda v: v.vpc_id)]

    exc = f_fw_list.exception()
    if exc is not None:
        result.partial_errors.append(
            scan_error(exc, service="network-firewall", operation="ListFirewalls", region=region)
        )
    for item, f_desc, f_log in fw_details:
        fw = Firewall(name=item.get("FirewallName", ""), arn=item["FirewallArn"])
        exc = f_desc.exception()
        if exc is None:
            fw.vpc_id = f_desc.result().get("Firewall", {}).get("VpcId")
        else:
            result.partial_errors.append(
                scan_error(exc, service="network-firewall", operation="DescribeFirewall", region=region)
            )
        exc = f_log.exception()
        if exc is None:
            fw.destinations = firewall_destinations_from_api(f_log.result().get("LoggingConfiguration"))
        else:
            log_err = scan_error(
                exc, service="network-firewall", operation="DescribeLoggingConfiguration", region=region
            )
            fw.error = log_err.message
            result.partial_errors.append(log_err)
        result.firewalls.append(assess_firewall(fw))
    result.firewalls.sort(key=lambda f: f.name)
    if result.partial_errors:
        result.status = RegionStatus.PARTIAL
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


def mark_bucket_owners(result: RegionResult, account: str, owned: set[str] | None) -> RegionResult:
    """Set `bucket_account` on every S3 destination of the region: `account` for its own buckets."""
    if owned is None:
        return result
    logs = [fl for v in result.vpcs for fl in (*v.flow_logs, *v.partial_flow_logs)] + result.other_flow_logs
    for fl in logs:
        if fl.bucket:
            fl.bucket_account = account if fl.bucket in owned else None
    for fw in result.firewalls:
        for dest in fw.destinations:
            if dest.bucket:
                dest.bucket_account = account if dest.bucket in owned else None
        for status in (fw.flow, fw.alert):
            if status.bucket:
                status.bucket_account = account if status.bucket in owned else None
    return result


def list_own_buckets(session: AwsSession) -> tuple[list[str] | None, ScanError | None]:
    """This account's bucket names (ListBuckets), or the reason they could not be listed."""
    try:
        s3 = session.client("s3")
        names = [b["Name"] for page in s3.get_paginator("list_buckets").paginate() for b in page["Buckets"]]
    except Exception as err:
        return None, scan_error(err, service="s3", operation="ListBuckets")
    return sorted(names), None


# -- the scan --------------------------------------------------------------------------------------
def _emit(callback: Callable[[Any], object] | None, value: Any) -> None:
    if callback is None:
        return
    try:
        callback(value)
    except Exception:  # a broken listener must not break the scan
        log.exception("scan callback failed")


def _owned(future: Future[tuple[list[str] | None, ScanError | None]]) -> set[str] | None:
    names, _ = future.result()
    return set(names) if names is not None else None


def plan_regions(
    regions: list[tuple[str, str]],
    *,
    partition: str,
    include: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
) -> list[RegionResult]:
    """Every region of the partition with its starting status: pending (to scan), not-enabled or skipped.

    Raises `UnknownRegion` for include/skip names that are not regions of this account (other partition,
    typo: the closest region is named) and `RegionNotEnabled` for an include name the account has not
    enabled. A not-enabled region that is not asked for stays a NOT_ENABLED row.
    """
    ours = [(n, s) for n, s in regions if partition_of(n) == partition]
    available = [n for n, _ in ours]
    enabled = [n for n, s in ours if s in ENABLED_OPT_IN]
    include_l = validate_region_names(
        include or [], what="--regions", partition=partition, available=available, enabled=enabled
    )
    skip_l = validate_region_names(skip or [], what="--skip", partition=partition, available=available)
    planned: list[RegionResult] = []
    for name, opt_in in ours:
        r = RegionResult(name=name, opt_in_status=opt_in)
        if opt_in not in ENABLED_OPT_IN:
            r.status = RegionStatus.NOT_ENABLED
            r.error = ScanError(
                service="ec2",
                code="not-opted-in",
                message=f"{name} is an opt-in region this account has not enabled",
                hint="region not enabled: enable it under Account > AWS Regions to scan it",
            )
        elif (include_l and name not in include_l) or name in skip_l:
            r.status = RegionStatus.SKIPPED
            r.error = ScanError(
                service="",
                code="skipped",
                message="skipped by --skip" if name in skip_l else "not in --regions",
            )
        planned.append(r)
    return planned


def scan(
    session: AwsSession,
    *,
    include: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
    workers: int = DEFAULT_WORKERS,
    on_region: RegionCallback | None = None,
    on_start: Callable[[Inventory], object] | None = None,
    cancel: threading.Event | None = None,
) -> Inventory:
    """Scan the account: identity, regions, per-region resources and verdicts, candidate Kentik roles.

    * `include` / `skip`: region names (validated; unknown names raise `ValidationFailed`).
    * `workers`: regions scanned at once (1..64); leaf calls use up to 4x that many threads.
    * `on_start(inventory)`: called once, from the calling thread, when identity and the region plan are
      known: `inventory.regions` lists every region with status pending / not-enabled / skipped.
    * `on_region(result)`: called once per region when it is finished — from a WORKER THREAD (in a
      Textual app, hop to the UI thread with `call_from_thread`). Not called for not-enabled/skipped
      regions (they are in `on_start`). Exceptions raised by callbacks are logged and ignored.
    * `cancel`: when set, regions not started yet are reported as `cancelled`.

    Raises `CredentialsError` (no/expired credentials), `ValidationFailed` (bad region names) or another
    `FlowlogsError` when DescribeRegions itself fails. Per-region problems never raise.
    """
    if not 1 <= workers <= MAX_SCAN_WORKERS:
        raise ValidationFailed(f"--workers must be between 1 and {MAX_SCAN_WORKERS}, not {workers}.")
    include = validate_region_names(include or [], what="--regions")
    skip = validate_region_names(skip or [], what="--skip")
    started_at = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    calls = ThreadPoolExecutor(max_workers=min(MAX_SCAN_WORKERS, workers * 4), thread_name_prefix="scan-call")
    region_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan-region")
    iam_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-iam")
    try:
        f_identity = calls.submit(session.identity)
        f_regions = calls.submit(describe_regions, session)
        f_roles = iam_pool.submit(discover_roles, session, calls=calls)
        f_buckets = calls.submit(list_own_buckets, session)
        try:
            who = f_identity.result()
        except Exception as err:
            raise explain(err, service="sts") from err
        identity = CallerIdentity(
            account=who.account, arn=who.arn, user_id=who.user_id, partition=who.partition
        )
        planned = plan_regions(f_regions.result(), partition=identity.partition, include=include, skip=skip)
        inventory = Inventory(
            identity=identity,
            home_region=session.home_region,
            started_at=started_at,
            workers=workers,
            regions=planned,
        )
        _emit(on_start, inventory.model_copy(deep=True))

        def run_region(planned_region: RegionResult) -> RegionResult:
            if cancel is not None and cancel.is_set():
                done = planned_region.model_copy(update={"status": RegionStatus.CANCELLED})
            else:
                done = scan_region(session, planned_region.name, calls=calls)
                done.opt_in_status = planned_region.opt_in_status
                mark_bucket_owners(done, identity.account, _owned(f_buckets))
            _emit(on_region, done)
            return done

        todo = [r for r in planned if r.status is RegionStatus.PENDING]
        # Home region first: it is the one a user looks at first.
        todo.sort(key=lambda r: (r.name != session.home_region, r.name))
        futures: dict[str, Future[RegionResult]] = {}
        for r in todo:
            # Clients are made here, one region at a time, before its task is queued: client creation is
            # CPU-bound and serialised by the session's lock, so doing it inside the workers would hold
            # their slots (and the lock) while other regions' calls wait.
            if cancel is None or not cancel.is_set():
                with contextlib.suppress(Exception):  # the region task records the error
                    session.client("ec2", r.name)
                    session.client("network-firewall", r.name)
            futures[r.name] = region_pool.submit(run_region, r)
        by_name = {r.name: r for r in planned}
        for name, fut in futures.items():
            try:
                by_name[name] = fut.result()
            except Exception as err:  # a bug, not an AWS error: keep the other regions
                log.exception("region %s crashed", name)
                by_name[name] = by_name[name].model_copy(
                    update={
                        "status": RegionStatus.FAILED,
                        "error": scan_error(err, service="ec2", region=name),
                    }
                )
        inventory.regions = [by_name[r.name] for r in planned]
        inventory.roles, inventory.roles_error = f_roles.result()
        inventory.buckets, buckets_error = f_buckets.result()
        if buckets_error is not None:
            log.info("own buckets not listed: %s", buckets_error.message)
    finally:
        for pool in (region_pool, iam_pool, calls):
            pool.shutdown(wait=True, cancel_futures=True)
    inventory.finished_at = datetime.now(timezone.utc)
    inventory.duration_s = round(time.perf_counter() - t0, 3)
    return inventory
