"""Benchmark of `flowlogs scan --json` against a loopback moto server with injected per-request latency.

    .venv/bin/python bench/bench_scan.py --latency 0.05 --latency 0.2

One moto server (a child process, so its CPU does not share the client's GIL) is seeded once with every
enabled region x N VPCs (flow logs of every kind, subnet/ENI flow logs, firewalls with logging, IAM
roles). Then, per latency, three things run against it, each in a fresh child process (imports done
before the clock starts; the child reports its wall time and peak RSS):

* scan       - `tui.cli.main(["scan", "--json"])` in-process with AWS_ENDPOINT_URL: the CLI path.
* sequential - a plain boto3 loop, region by region, call by call (what a user would script).
* parallel   - the reference floor: clients made up front, then every region and every independent
               call at once (a thread per call), dependent calls as soon as their input arrives.

All three read the same data (identity, regions, VPCs, subnets, flow logs, ENIs of ENI flow logs,
firewalls + logging, IAM roles + policies). Results go to bench/results/scan.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import (  # noqa: E402 - bench/machine.py, beside this script
    ServerProcess,
    client_env,
    machine,
    read_account,
    run_child,
    start_latency_server,
    trusted,
)

ACCOUNT = "123456789012"
KENTIK = "arn:aws:iam::834693425129:role/eks-ingest-node"


# -- the server (child process) --------------------------------------------------------------------
def serve() -> None:
    """Run a threaded moto server whose every request first sleeps `latency` seconds.

    GET /__bench__?latency=S sets the latency; GET /__bench__ returns {"latency", "requests"} and
    /__bench__?reset=1 zeroes the request counter. Prints the port on stdout, then serves until stdin
    closes.
    """
    server = start_latency_server({"latency": 0.0, "requests": 0})
    print(server.get_host_and_port()[1], flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    server.stop()


# -- seeding ---------------------------------------------------------------------------------------
def seed(vpcs_per_region: int) -> dict[str, int]:
    """Seed every enabled region through the server (latency 0). Runs with client_env() applied."""
    import boto3

    session = boto3.Session()
    regions = [
        r["RegionName"]
        for r in session.client("ec2").describe_regions(AllRegions=True)["Regions"]
        if r.get("OptInStatus") in ("opt-in-not-required", "opted-in")
    ]
    totals = {"regions": len(regions), "vpcs": 0, "firewalls": 0, "flow_logs": 0}
    fmt = " ".join(
        "${" + f + "}" for f in __import__("aws.logs.format", fromlist=["REQUIRED_FIELDS"]).REQUIRED_FIELDS
    )
    for i, region in enumerate(sorted(regions)):
        ec2 = session.client("ec2", region_name=region)
        s3 = session.client("s3", region_name=region)
        nfw = session.client("network-firewall", region_name=region)
        bucket = f"bench-flow-logs-{region}"
        kwargs = (
            {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        s3.create_bucket(Bucket=bucket, **kwargs)
        dest = f"arn:aws:s3:::{bucket}"
        vpc_ids, subnet_ids = [], []
        for v in range(vpcs_per_region):
            vpc = ec2.create_vpc(
                CidrBlock=f"10.{v}.0.0/16",
                TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"vpc-{v}"}]}],
            )["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{v}.{s}.0/24")["Subnet"]["SubnetId"]
                for s in range(2)
            ]
            vpc_ids.append(vpc)
            subnet_ids.append(subnets)
        common = {"TrafficType": "ALL", "LogDestinationType": "s3", "LogDestination": dest}
        # vpc-0 compliant, vpc-1 REJECT-only default format, vpc-2 missing fields with a prefix,
        # vpc-3 subnet-level only, vpc-4 ENI-level only (every third region), the rest nothing.
        ec2.create_flow_logs(ResourceIds=[vpc_ids[0]], ResourceType="VPC", LogFormat=fmt, **common)
        ec2.create_flow_logs(
            ResourceIds=[vpc_ids[1]], ResourceType="VPC", **{**common, "TrafficType": "REJECT"}
        )
        ec2.create_flow_logs(
            ResourceIds=[vpc_ids[2]],
            ResourceType="VPC",
            LogFormat=" ".join(fmt.split()[:20]),
            **{**common, "LogDestination": f"{dest}/flows/"},
        )
        ec2.create_flow_logs(ResourceIds=[subnet_ids[3][0]], ResourceType="Subnet", LogFormat=fmt, **common)
        totals["flow_logs"] += 4
        if i % 3 == 0:
            eni = ec2.create_network_interface(SubnetId=subnet_ids[4][0])["NetworkInterface"][
                "NetworkInterfaceId"
            ]
            ec2.create_flow_logs(ResourceIds=[eni], ResourceType="NetworkInterface", LogFormat=fmt, **common)
            totals["flow_logs"] += 1
        policy = f"arn:aws:network-firewall:{region}:{ACCOUNT}:firewall-policy/bench"
        for f in range(2 if i % 4 == 0 else 1):
            arn = nfw.create_firewall(
                FirewallName=f"fw-{region}-{f}",
                FirewallPolicyArn=policy,
                VpcId=vpc_ids[f],
                SubnetMappings=[{"SubnetId": subnet_ids[f][1]}],
            )["Firewall"]["FirewallArn"]
            configs: list[dict[str, Any]] = []
            for log_type in ("FLOW", "ALERT")[: 2 - f]:  # fw-0: FLOW+ALERT, fw-1: FLOW only
                configs.append(
                    {
                        "LogType": log_type,
                        "LogDestinationType": "S3",
                        "LogDestination": {"bucketName": bucket, "prefix": "firewall"},
                    }
                )
                nfw.update_logging_configuration(
                    FirewallArn=arn, LoggingConfiguration={"LogDestinationConfigs": list(configs)}
                )
            totals["firewalls"] += 1
        totals["vpcs"] += vpcs_per_region + 1  # + moto's default VPC
    iam = session.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    for name, principal, condition in (
        ("kentik-ingest", {"AWS": KENTIK}, {"StringEquals": {"sts:ExternalId": "1234"}}),
        ("kentik-metadata", {"AWS": KENTIK}, None),
        ("ec2-app", {"Service": "ec2.amazonaws.com"}, None),
        ("ci-deploy", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, None),
    ):
        stmt = {
            **trust["Statement"][0],
            "Principal": principal,
            **({"Condition": condition} if condition else {}),
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({**trust, "Statement": [stmt]}))
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
        }
    )
    arn = iam.create_policy(PolicyName="kentik-read", PolicyDocument=doc)["Policy"]["Arn"]
    for role in ("kentik-ingest", "kentik-metadata"):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        iam.put_role_policy(RoleName=role, PolicyName="inline-s3", PolicyDocument=doc)
    return totals


# -- the three contenders (each runs in its own child process) -------------------------------------
def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_scan(workers: int | None) -> dict[str, Any]:
    from tui.cli import build_parser, main

    build_parser()  # imports every sub-command module: import time is outside the clock for all contenders
    argv = ["scan", "--json"] + (["--workers", str(workers)] if workers else [])
    out = io.StringIO()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    inv = json.loads(out.getvalue())
    vpcs = [v for r in inv["regions"] for v in r["vpcs"]]
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "exit": code,
        "regions": sum(r["status"] == "scanned" for r in inv["regions"]),
        "vpcs": len(vpcs),
        "compliant": sum(v["verdict"] == "compliant" for v in vpcs),
        "firewalls": sum(len(r["firewalls"]) for r in inv["regions"]),
        "roles": len(inv["roles"]),
    }


def run_sequential() -> dict[str, Any]:
    import boto3

    cpu0 = _cpu()
    t0 = time.perf_counter()
    counts = {"regions": 0, "vpcs": 0, "firewalls": 0, "roles": 0}
    read_account(boto3.Session(), counts, buckets=False)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": _cpu() - cpu0,
        "regions": counts["regions"],
        "vpcs": counts["vpcs"],
        "firewalls": counts["firewalls"],
    }


def run_parallel(expected_regions: list[str]) -> dict[str, Any]:
    """The floor: every client made up front, every independent call at once (a thread per call)."""
    import boto3
    from botocore.config import Config

    cpu0 = _cpu()
    t0 = time.perf_counter()
    session = boto3.Session()
    config = Config(max_pool_connections=64)
    sts, iam, home = (session.client(s, config=config) for s in ("sts", "iam", "ec2"))
    ec2 = {r: session.client("ec2", region_name=r, config=config) for r in expected_regions}
    nfw = {r: session.client("network-firewall", region_name=r, config=config) for r in expected_regions}
    pool = ThreadPoolExecutor(max_workers=512)
    counts = {"vpcs": 0, "firewalls": 0}
    lock = threading.Lock()
    pending: list[Future[Any]] = []

    def submit(fn: Any, *args: Any, then: Any = None, **kwargs: Any) -> None:
        """Run fn(*args, **kwargs) on its own thread; `then(result)` runs on that thread right after, so
        a finished future's follow-up calls are already submitted."""

        def task() -> None:
            result = fn(*args, **kwargs)
            if then is not None:
                then(result)

        fut = pool.submit(task)
        with lock:
            pending.append(fut)

    def region_calls(region: str) -> None:
        submit(
            ec2[region].describe_vpcs,
            MaxResults=1000,
            then=lambda r: _add(counts, lock, "vpcs", len(r["Vpcs"])),
        )
        submit(ec2[region].describe_subnets, MaxResults=1000)

        def enis(resp: dict[str, Any]) -> None:
            ids = [f["ResourceId"] for f in resp["FlowLogs"] if f["ResourceId"].startswith("eni-")]
            if ids:
                submit(ec2[region].describe_network_interfaces, NetworkInterfaceIds=ids)

        submit(ec2[region].describe_flow_logs, MaxResults=1000, then=enis)

        def details(resp: dict[str, Any]) -> None:
            for fw in resp["Firewalls"]:
                _add(counts, lock, "firewalls", 1)
                submit(nfw[region].describe_firewall, FirewallArn=fw["FirewallArn"])
                submit(nfw[region].describe_logging_configuration, FirewallArn=fw["FirewallArn"])

        submit(nfw[region].list_firewalls, MaxResults=100, then=details)

    def regions_done(resp: dict[str, Any]) -> None:
        for r in resp["Regions"]:
            if r.get("OptInStatus") in ("opt-in-not-required", "opted-in"):
                region_calls(r["RegionName"])

    def roles_done(resp: dict[str, Any]) -> None:
        for role in filter(trusted, resp["Roles"]):

            def attached(r: dict[str, Any]) -> None:
                for p in r["AttachedPolicies"]:
                    submit(iam.get_policy, PolicyArn=p["PolicyArn"])

            submit(iam.list_attached_role_policies, RoleName=role["RoleName"], then=attached)
            submit(iam.list_role_policies, RoleName=role["RoleName"])

    submit(sts.get_caller_identity)
    submit(home.describe_regions, AllRegions=True, then=regions_done)
    submit(iam.list_roles, MaxItems=1000, then=roles_done)
    done = 0
    while True:  # wait until no call is left, including those submitted by follow-ups
        with lock:
            batch = pending[done:]
        if not batch:
            break
        for fut in batch:
            fut.result()
        done += len(batch)
    pool.shutdown()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_s": _cpu() - cpu0, "regions": len(expected_regions), **counts}


def _add(counts: dict[str, int], lock: threading.Lock, key: str, n: int) -> None:
    with lock:
        counts[key] += n


def child(kind: str, arg: str) -> None:
    """Entry of a measurement child: run one contender, print its result as JSON."""
    if kind == "scan":
        result = run_scan(int(arg) if arg else None)
    elif kind == "sequential":
        result = run_sequential()
    else:
        result = run_parallel(arg.split(","))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


def measure(kind: str, arg: str, env: dict[str, str], server: ServerProcess) -> dict[str, Any]:
    return run_child(__file__, kind, arg, env, server)


# -- report ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, action="append", help="seconds per AWS call (repeatable)")
    parser.add_argument("--vpcs", type=int, default=5, help="VPCs per region (default 5, at least 5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender and latency (median kept)")
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        help="--workers for flowlogs scan (repeatable: one scan contender each; default: the default, 12)",
    )
    parser.add_argument(
        "--contenders", default="scan,sequential,parallel", help="comma-separated subset (for quick checks)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scan.md")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    if args.child:
        child(*args.child)
        return 0
    latencies = args.latency or [0.05, 0.2]
    if args.vpcs < 5:
        parser.error("--vpcs must be at least 5")

    server = ServerProcess(__file__)
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = client_env(server.url, Path(tmp))
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                t = time.perf_counter()
                totals = seed(args.vpcs)
                import boto3

                regions = sorted(
                    r["RegionName"]
                    for r in boto3.client("ec2").describe_regions(AllRegions=True)["Regions"]
                    if r.get("OptInStatus") in ("opt-in-not-required", "opted-in")
                )
            finally:
                os.environ.clear()
                os.environ.update(saved)
            print(f"seeded {totals} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            scans = [f"scan:{w}" for w in (args.workers or [0])]
            wanted = args.contenders.split(",")
            for latency in latencies:
                server.control(latency=latency)
                load = os.getloadavg()[0]
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in [*scans, "sequential", "parallel"]}
                for i in range(args.repeat):
                    for kind in runs:
                        if kind.split(":")[0] not in wanted:
                            continue
                        arg = kind.split(":")[1] if kind.startswith("scan") else ""
                        arg = ",".join(regions) if kind == "parallel" else arg
                        result = measure(kind.split(":")[0], arg, env, server)
                        runs[kind].append(result)
                        print(f"latency {latency}s run {i + 1} {kind}: {json.dumps(result)}", file=sys.stderr)
                if not all(runs.values()):  # a quick check of some contenders: no report row
                    for kind, results in runs.items():
                        if results:
                            median = statistics.median(r["seconds"] for r in results)
                            print(f"latency {latency}s {kind}: median {median:.2f} s", file=sys.stderr)
                    continue
                med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
                for kind in scans:
                    first = runs[kind][0]
                    if first["exit"] != 0 or first["vpcs"] != totals["vpcs"]:
                        raise SystemExit(f"scan result does not match the seed: {first} vs {totals}")
                    rows.append(
                        {
                            "latency": latency,
                            "workers": int(kind.split(":")[1]) or 12,
                            "load": load,
                            "scan_s": med[kind],
                            "sequential_s": med["sequential"],
                            "parallel_s": med["parallel"],
                            "scan_rss": max(r["peak_rss_mb"] for r in runs[kind]),
                            "sequential_rss": max(r["peak_rss_mb"] for r in runs["sequential"]),
                            "parallel_rss": max(r["peak_rss_mb"] for r in runs["parallel"]),
                            "scan_cpu": statistics.median(r["cpu_s"] for r in runs[kind]),
                            "sequential_cpu": statistics.median(r["cpu_s"] for r in runs["sequential"]),
                            "parallel_cpu": statistics.median(r["cpu_s"] for r in runs["parallel"]),
                            "scan_calls": first["requests"],
                            "sequential_calls": runs["sequential"][0]["requests"],
                            "parallel_calls": runs["parallel"][0]["requests"],
                            "speedup": med["sequential"] / med[kind],
                            "vs_floor": med[kind] / med["parallel"],
                        }
                    )
    finally:
        server.stop()
    if not rows:
        return 0
    report = render(rows, totals, args, machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


def render(
    rows: list[dict[str, Any]], totals: dict[str, int], args: argparse.Namespace, m: dict[str, str]
) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# `flowlogs scan` benchmark",
        "",
        f"Measured {when} with `bench/bench_scan.py` (median of {args.repeat} runs per cell).",
        "",
        f"Seed: {totals['regions']} enabled regions, {totals['vpcs']} VPCs ({args.vpcs} per region + the "
        f"default VPC), {totals['flow_logs']} flow logs (VPC, subnet and ENI level), {totals['firewalls']} "
        "Network Firewalls with logging, 4 IAM roles (2 Kentik candidates).",
        "",
        "| latency per call | scan --workers | `flowlogs scan --json` | sequential boto3 | parallel reference "
        "| speed-up vs sequential | scan / reference | AWS calls (scan / seq / ref) "
        "| client CPU s (scan / seq / ref) | peak RSS MB (scan / seq / ref) | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['latency'] * 1000:.0f} ms | {r['workers']} | {r['scan_s']:.2f} s | {r['sequential_s']:.2f} s "
            f"| {r['parallel_s']:.2f} s | {r['speedup']:.1f}x | {r['vs_floor']:.2f}x "
            f"| {r['scan_calls']} / {r['sequential_calls']} / {r['parallel_calls']} "
            f"| {r['scan_cpu']:.2f} / {r['sequential_cpu']:.2f} / {r['parallel_cpu']:.2f} "
            f"| {r['scan_rss']:.0f} / {r['sequential_rss']:.0f} / {r['parallel_rss']:.0f} | {r['load']:.1f} |"
        )
    lines += [
        "",
        "Targets at 200 ms: at least 4x faster than the sequential loop, at most 1.3x the parallel reference.",
        "",
        "Machine:",
        "",
        f"- nproc: {m['nproc']}",
        f"- CPU: {m['cpu']}",
        f"- Python {m['python']}, boto3 {m['boto3']}, moto {m['moto']}",
        f"- OS: {m['os']}",
        "",
        "Each contender runs in a fresh child process (imports done before the clock starts; boto3 sessions,"
        " clients and service models are created inside the timed part). The moto server runs in its own"
        " process and sleeps the given latency before answering each request.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
