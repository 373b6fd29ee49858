"""Benchmark of `flowlogs scan --json --org` against a loopback moto server with injected per-request latency.

    .venv/bin/python bench/bench_org_scan.py                  # 50 ms per request
    .venv/bin/python bench/bench_org_scan.py --slow           # 50 ms and 200 ms

One moto server runs in a child process (its CPU does not share the client's GIL), with the sandbox's
AWS-strictness fixes (aws.sandbox.moto_fixes) and a WSGI wrapper that sleeps the chosen latency before
every request and counts them. Before it prints its port it seeds itself at zero latency: an AWS
Organization (the caller's account, 123456789012, is the management account) with 20 member accounts
(moto creates OrganizationAccountAccessRole in each, trusting the management account), and in each
member, through that role, a few VPCs with subnets and flow logs in 3 of the 17 enabled regions, one
Network Firewall with logging in every fourth member and a Kentik candidate role in every fifth.

Then, per latency, three contenders run against it, each in a fresh child process (imports done before
the clock starts; the child reports its wall time, CPU and peak RSS; the server counts the requests):

* scan       - `tui.cli.main(["scan", "--json", "--org"])` in-process with AWS_ENDPOINT_URL: the CLI
               path, default --account-workers and --workers unless given.
* sequential - a plain boto3 loop: ListAccounts, then account by account (AssumeRole for members),
               region by region, call by call - what a user would script.
* parallel   - the reference floor: every member's AssumeRole at once, then, as each answers, that
               account's clients and every region and independent call at once (a thread per call),
               dependent calls as soon as their input arrives.

All three make the same reads as the scan: identity and ListAccounts in the management account; per
member AssumeRole and identity; per account (the management account too, with the caller's own
credentials) regions, ListBuckets, IAM roles (+ policies of Kentik candidates), and per enabled region
VPCs, subnets, flow logs, ENIs of ENI flow logs, firewalls + logging. Results go to bench/results/org_scan.md.
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
    ENABLED_REGIONS,
    ServerProcess,
    client_env,
    machine,
    read_account,
    run_child,
    start_latency_server,
    trusted,
)

MANAGEMENT = "123456789012"  # moto's default account: the bench's fake credentials land there
ACCESS_ROLE = "OrganizationAccountAccessRole"
KENTIK = "arn:aws:iam::834693425129:role/eks-ingest-node"
SEEDED_REGIONS_PER_ACCOUNT = 3


# -- the server (child process) --------------------------------------------------------------------
def serve(members: int) -> None:
    """Run a threaded moto server whose every request first sleeps `latency` seconds; seed it; print
    its port; serve until stdin closes.

    GET /__bench__?latency=S sets the latency; GET /__bench__ returns {"latency", "requests", "seed"}
    and /__bench__?reset=1 zeroes the request counter.
    """
    state: dict[str, Any] = {"latency": 0.0, "requests": 0, "seed": {}}
    server = start_latency_server(state)
    port = server.get_host_and_port()[1]
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    t = time.perf_counter()
    state["seed"] = seed(members)
    state["seed"]["seconds"] = round(time.perf_counter() - t, 1)
    print(port, flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    server.stop()


# -- seeding (in the server child, through its own port, latency 0) --------------------------------
def seed(members: int) -> dict[str, Any]:
    """The organization, its members, and a few resources in each member (see the module docstring)."""
    import boto3

    import aws.session  # noqa: F401 - shares botocore client classes: cheap clients for the seeding
    from aws.logs.format import REQUIRED_FIELDS

    session = boto3.Session()
    orgs = session.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    ids = []
    for i in range(members):
        status = orgs.create_account(Email=f"member{i:02d}@example.com", AccountName=f"member-{i:02d}")
        ids.append(status["CreateAccountStatus"]["AccountId"])
    regions = sorted(
        r["RegionName"]
        for r in session.client("ec2").describe_regions(AllRegions=True)["Regions"]
        if r.get("OptInStatus") in ENABLED_REGIONS
    )
    fmt = " ".join("${" + f + "}" for f in REQUIRED_FIELDS)
    sts = session.client("sts")
    totals: dict[str, Any] = {
        "members": len(ids),
        "regions": len(regions),
        "seeded_vpcs": 0,
        "flow_logs": 0,
        "firewalls": 0,
        "kentik_roles": 0,
    }
    for i, account in enumerate(ids):
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}", RoleSessionName="bench-seed"
        )["Credentials"]
        keys = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        mine = [
            regions[(i * SEEDED_REGIONS_PER_ACCOUNT + k) % len(regions)]
            for k in range(SEEDED_REGIONS_PER_ACCOUNT)
        ]
        for k, region in enumerate(mine):
            ec2 = session.client("ec2", region_name=region, **keys)
            s3 = session.client("s3", region_name=region, **keys)
            bucket = f"bench-org-{account}-{region}"
            where = (
                {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=bucket, **where)
            common = {
                "TrafficType": "ALL",
                "LogDestinationType": "s3",
                "LogDestination": f"arn:aws:s3:::{bucket}",
            }
            vpcs, subnets = [], []
            for v in range(3):
                vpc = ec2.create_vpc(CidrBlock=f"10.{v}.0.0/16")["Vpc"]["VpcId"]
                vpcs.append(vpc)
                subnets.append(
                    [
                        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{v}.{s}.0/24")["Subnet"]["SubnetId"]
                        for s in range(2)
                    ]
                )
            # vpc-0 compliant, vpc-1 REJECT-only default format, vpc-2 a subnet-level one (first region)
            # or an ENI-level one (second region) or nothing.
            ec2.create_flow_logs(ResourceIds=[vpcs[0]], ResourceType="VPC", LogFormat=fmt, **common)
            ec2.create_flow_logs(
                ResourceIds=[vpcs[1]], ResourceType="VPC", **{**common, "TrafficType": "REJECT"}
            )
            totals["flow_logs"] += 2
            if k == 0:
                ec2.create_flow_logs(
                    ResourceIds=[subnets[2][0]], ResourceType="Subnet", LogFormat=fmt, **common
                )
                totals["flow_logs"] += 1
            elif k == 1:
                eni = ec2.create_network_interface(SubnetId=subnets[2][0])["NetworkInterface"][
                    "NetworkInterfaceId"
                ]
                ec2.create_flow_logs(
                    ResourceIds=[eni], ResourceType="NetworkInterface", LogFormat=fmt, **common
                )
                totals["flow_logs"] += 1
            totals["seeded_vpcs"] += len(vpcs)
            if k == 0 and i % 4 == 0:
                nfw = session.client("network-firewall", region_name=region, **keys)
                arn = nfw.create_firewall(
                    FirewallName=f"fw-{account}",
                    FirewallPolicyArn=f"arn:aws:network-firewall:{region}:{account}:firewall-policy/bench",
                    VpcId=vpcs[0],
                    SubnetMappings=[{"SubnetId": subnets[0][1]}],
                )["Firewall"]["FirewallArn"]
                nfw.update_logging_configuration(
                    FirewallArn=arn,
                    LoggingConfiguration={
                        "LogDestinationConfigs": [
                            {
                                "LogType": "FLOW",
                                "LogDestinationType": "S3",
                                "LogDestination": {"bucketName": bucket, "prefix": "firewall"},
                            }
                        ]
                    },
                )
                totals["firewalls"] += 1
        if i % 5 == 0:
            iam = session.client("iam", **keys)
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": KENTIK},
                        "Condition": {"StringEquals": {"sts:ExternalId": f"bench-{i}"}},
                    }
                ],
            }
            iam.create_role(RoleName="kentik-ingest", AssumeRolePolicyDocument=json.dumps(trust))
            doc = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
            }
            arn = iam.create_policy(PolicyName="kentik-read", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
            iam.attach_role_policy(RoleName="kentik-ingest", PolicyArn=arn)
            totals["kentik_roles"] += 1
    return totals


# -- the three contenders (each runs in its own child process) -------------------------------------
def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_scan(account_workers: int | None, workers: int | None) -> dict[str, Any]:
    from tui.cli import build_parser, main

    build_parser()  # imports every sub-command module: import time is outside the clock for all contenders
    argv = ["scan", "--json", "--org"]
    argv += ["--account-workers", str(account_workers)] if account_workers else []
    argv += ["--workers", str(workers)] if workers else []
    out = io.StringIO()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    seconds = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    org = json.loads(out.getvalue())
    invs = [a["inventory"] for a in org["accounts"] if a.get("inventory")]
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "exit": code,
        "accounts": len(org["accounts"]),
        "accounts_scanned": sum(a["status"] == "scanned" for a in org["accounts"]),
        "regions": sum(r["status"] == "scanned" for inv in invs for r in inv["regions"]),
        "vpcs": sum(len(r["vpcs"]) for inv in invs for r in inv["regions"]),
        "firewalls": sum(len(r["firewalls"]) for inv in invs for r in inv["regions"]),
        "roles": sum(len(inv["roles"]) for inv in invs),
    }


def run_sequential() -> dict[str, Any]:
    import boto3

    cpu0 = _cpu()
    t0 = time.perf_counter()
    session = boto3.Session()
    me = session.client("sts").get_caller_identity()["Account"]
    orgs = session.client("organizations")
    accounts = sorted(
        a["Id"]
        for page in orgs.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
        if a["Status"] == "ACTIVE"
    )
    counts = {"accounts": len(accounts), "regions": 0, "vpcs": 0, "firewalls": 0, "roles": 0}
    for account in accounts:
        if account == me:
            read_account(session, counts, identity=False)
            continue
        creds = session.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ACCESS_ROLE}",
            RoleSessionName="bench",
            DurationSeconds=3600,
        )["Credentials"]
        member = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        read_account(member, counts)
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - cpu0, **counts}


def run_parallel() -> dict[str, Any]:
    """The floor: every independent call at once (a thread per call), each dependent one as soon as its
    input arrives; one boto3 session for all accounts (clients get each account's keys)."""
    import boto3
    from botocore.config import Config

    cpu0 = _cpu()
    t0 = time.perf_counter()
    session = boto3.Session()
    config = Config(max_pool_connections=64)
    make_lock = threading.Lock()  # boto3 sessions are not thread-safe for client creation

    def client(service: str, region: str | None = None, keys: dict[str, str] | None = None) -> Any:
        with make_lock:
            return session.client(service, region_name=region, config=config, **(keys or {}))

    sts, orgs = client("sts"), client("organizations")
    pool = ThreadPoolExecutor(max_workers=512)
    counts = {"accounts": 0, "regions": 0, "vpcs": 0, "firewalls": 0, "roles": 0}
    lock = threading.Lock()
    pending: list[Future[Any]] = []

    def add(key: str, n: int) -> None:
        with lock:
            counts[key] += n

    def submit(fn: Any, *args: Any, then: Any = None, **kwargs: Any) -> None:
        """Run fn(*args, **kwargs) on its own thread; `then(result)` runs on that thread right after."""

        def task() -> None:
            result = fn(*args, **kwargs)
            if then is not None:
                then(result)

        fut = pool.submit(task)
        with lock:
            pending.append(fut)

    def account_calls(keys: dict[str, str] | None) -> None:
        """Every read in one account (`keys` None: the caller's own, whose identity is already read)."""
        home, iam, s3 = (client(s, keys=keys) for s in ("ec2", "iam", "s3"))
        if keys is not None:
            submit(client("sts", keys=keys).get_caller_identity)
        submit(s3.list_buckets)

        def roles_done(resp: dict[str, Any]) -> None:
            for role in filter(trusted, resp["Roles"]):
                add("roles", 1)

                def attached(r: dict[str, Any]) -> None:
                    for p in r["AttachedPolicies"]:
                        submit(iam.get_policy, PolicyArn=p["PolicyArn"])

                submit(iam.list_attached_role_policies, RoleName=role["RoleName"], then=attached)
                submit(iam.list_role_policies, RoleName=role["RoleName"])

        submit(iam.list_roles, MaxItems=1000, then=roles_done)

        def regions_done(resp: dict[str, Any]) -> None:
            names = [r["RegionName"] for r in resp["Regions"] if r.get("OptInStatus") in ENABLED_REGIONS]
            clients = {r: (client("ec2", r, keys), client("network-firewall", r, keys)) for r in names}
            for ec2, nfw in clients.values():
                region_calls(ec2, nfw)

        submit(home.describe_regions, AllRegions=True, then=regions_done)

    def region_calls(ec2: Any, nfw: Any) -> None:
        add("regions", 1)
        submit(ec2.describe_vpcs, MaxResults=1000, then=lambda r: add("vpcs", len(r["Vpcs"])))
        submit(ec2.describe_subnets, MaxResults=1000)

        def enis(resp: dict[str, Any]) -> None:
            ids = [f["ResourceId"] for f in resp["FlowLogs"] if f["ResourceId"].startswith("eni-")]
            if ids:
                submit(ec2.describe_network_interfaces, NetworkInterfaceIds=ids)

        submit(ec2.describe_flow_logs, MaxResults=1000, then=enis)

        def details(resp: dict[str, Any]) -> None:
            for fw in resp["Firewalls"]:
                add("firewalls", 1)
                submit(nfw.describe_firewall, FirewallArn=fw["FirewallArn"])
                submit(nfw.describe_logging_configuration, FirewallArn=fw["FirewallArn"])

        submit(nfw.list_firewalls, MaxResults=100, then=details)

    def assumed(resp: dict[str, Any]) -> None:
        c = resp["Credentials"]
        account_calls(
            {
                "aws_access_key_id": c["AccessKeyId"],
                "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"],
            }
        )

    def accounts_done(resp: dict[str, Any]) -> None:
        me = f_me.result()["Account"]
        for a in resp["Accounts"]:
            if a["Status"] != "ACTIVE":
                continue
            add("accounts", 1)
            if a["Id"] == me:
                account_calls(None)
            else:
                submit(
                    sts.assume_role,
                    RoleArn=f"arn:aws:iam::{a['Id']}:role/{ACCESS_ROLE}",
                    RoleSessionName="bench",
                    DurationSeconds=3600,
                    then=assumed,
                )

    f_me = pool.submit(sts.get_caller_identity)
    with lock:
        pending.append(f_me)
    submit(orgs.list_accounts, then=accounts_done)
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
    return {"seconds": time.perf_counter() - t0, "cpu_s": _cpu() - cpu0, **counts}


def child(kind: str, arg: str) -> None:
    """Entry of a measurement child: run one contender, print its result as JSON."""
    if kind == "scan":
        account_workers, workers = (int(x) if x else None for x in arg.split(":"))
        result = run_scan(account_workers, workers)
    elif kind == "sequential":
        result = run_sequential()
    else:
        result = run_parallel()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


def measure(kind: str, arg: str, env: dict[str, str], server: ServerProcess) -> dict[str, Any]:
    return run_child(__file__, kind, arg, env, server)


def check(kind: str, result: dict[str, Any], expected: dict[str, int]) -> None:
    got = {k: result.get(k) for k in expected}
    if got != expected or result.get("exit", 0) != 0:
        raise SystemExit(
            f"{kind} does not match the seed: {got} (exit {result.get('exit', 0)}) vs {expected}"
        )


# -- report ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--latency", type=float, action="append", help="seconds per request (repeatable; default 0.05)"
    )
    parser.add_argument("--slow", action="store_true", help="also measure at 200 ms per request")
    parser.add_argument("--members", type=int, default=20, help="member accounts (default 20)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of scan and reference per latency (median)"
    )
    parser.add_argument(
        "--sequential-repeat",
        type=int,
        default=1,
        help="runs of the sequential loop per latency (default 1: it is slow)",
    )
    parser.add_argument(
        "--account-workers", type=int, help="--account-workers for the scan (default: the default, 8)"
    )
    parser.add_argument("--workers", type=int, help="--workers for the scan (default: the default, 12)")
    parser.add_argument(
        "--contenders",
        default="scan,sequential,parallel",
        help="comma-separated subset (quick checks; no report)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "org_scan.md")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(os.environ.get("BENCH_ORG_MEMBERS", "20")))
        return 0
    if args.child:
        child(*args.child)
        return 0
    latencies = args.latency or [0.05]
    if args.slow and 0.2 not in latencies:
        latencies.append(0.2)
    wanted = args.contenders.split(",")
    scan_arg = f"{args.account_workers or ''}:{args.workers or ''}"

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = client_env("", Path(tmp))
        t = time.perf_counter()
        server = ServerProcess(
            __file__, env={**env, "BENCH_ORG_MEMBERS": str(args.members)}, control_timeout=60
        )
        try:
            totals = server.control()["seed"]
            print(f"seeded {totals} (server up in {time.perf_counter() - t:.1f} s)", file=sys.stderr)
            env = client_env(server.url, Path(tmp))
            accounts = totals["members"] + 1  # + the management account
            expected = {
                "accounts": accounts,
                "regions": accounts * totals["regions"],
                "vpcs": totals["seeded_vpcs"] + accounts * totals["regions"],  # + moto's default VPCs
                "firewalls": totals["firewalls"],
                "roles": totals["kentik_roles"],
            }
            # Warm-up at zero latency (not measured): moto makes each account's backends on first use.
            warm = measure("scan", scan_arg, env, server)
            check("scan (warm-up)", warm, expected)
            print(f"warm-up scan: {json.dumps(warm)}", file=sys.stderr)
            for latency in latencies:
                server.control(latency=latency)
                loads = [os.getloadavg()[0]]
                runs: dict[str, list[dict[str, Any]]] = {"scan": [], "sequential": [], "parallel": []}
                for i in range(max(args.repeat, args.sequential_repeat)):
                    for kind in runs:
                        times = args.sequential_repeat if kind == "sequential" else args.repeat
                        if kind not in wanted or i >= times:
                            continue
                        result = measure(kind, scan_arg if kind == "scan" else "", env, server)
                        check(kind, result, expected)
                        runs[kind].append(result)
                        loads.append(os.getloadavg()[0])
                        print(f"latency {latency}s run {i + 1} {kind}: {json.dumps(result)}", file=sys.stderr)
                if not all(runs.values()):  # a quick check of some contenders: no report row
                    for kind, results in runs.items():
                        if results:
                            median = statistics.median(r["seconds"] for r in results)
                            print(f"latency {latency}s {kind}: median {median:.2f} s", file=sys.stderr)
                    continue
                med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
                row: dict[str, Any] = {"latency": latency, "load": (min(loads), max(loads))}
                for k, v in runs.items():
                    row[f"{k}_s"] = med[k]
                    row[f"{k}_range"] = (min(r["seconds"] for r in v), max(r["seconds"] for r in v))
                    row[f"{k}_cpu"] = statistics.median(r["cpu_s"] for r in v)
                    row[f"{k}_rss"] = max(r["peak_rss_mb"] for r in v)
                    row[f"{k}_calls"] = v[0]["requests"]
                row["speedup"] = med["sequential"] / med["scan"]
                row["vs_floor"] = med["scan"] / med["parallel"]
                rows.append(row)
        finally:
            server.stop()
    if not rows:
        return 0
    report = render(rows, totals, expected, args, machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


def render(
    rows: list[dict[str, Any]],
    totals: dict[str, Any],
    expected: dict[str, int],
    args: argparse.Namespace,
    m: dict[str, str],
) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def cell(r: dict[str, Any], k: str) -> str:
        lo, hi = r[f"{k}_range"]
        return f"{r[f'{k}_s']:.2f} s" + (f" ({lo:.2f}-{hi:.2f})" if hi > lo else "")

    lines = [
        "# `flowlogs scan --org` benchmark",
        "",
        f"Measured {when} with `bench/bench_org_scan.py` (scan and reference: median of {args.repeat} runs, "
        f"min-max in brackets; sequential loop: {args.sequential_repeat} run(s)).",
        "",
        f"Seed: an organization of {expected['accounts']} accounts (the management account + {totals['members']}"
        f" members, each reached through {ACCESS_ROLE}), {totals['regions']} enabled regions each, so "
        f"{expected['regions']} account-regions; {expected['vpcs']} VPCs ({totals['seeded_vpcs']} seeded in "
        f"{SEEDED_REGIONS_PER_ACCOUNT} regions per member + moto's default VPC in every account-region), "
        f"{totals['flow_logs']} flow logs (VPC, subnet and ENI level), {totals['firewalls']} Network Firewalls "
        f"with logging, {totals['kentik_roles']} Kentik candidate roles.",
        "",
        f"scan: `flowlogs scan --json --org` with --account-workers {args.account_workers or 8} and --workers "
        f"{args.workers or 12}.",
        "",
        "| latency per request | `flowlogs scan --json --org` | sequential boto3 | parallel reference "
        "| loop / scan | scan / reference | requests (scan / seq / ref) "
        "| client CPU s (scan / seq / ref) | peak RSS MB (scan / seq / ref) | load avg (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lo, hi = r["load"]
        lines.append(
            f"| {r['latency'] * 1000:.0f} ms | {cell(r, 'scan')} | {cell(r, 'sequential')} | {cell(r, 'parallel')} "
            f"| {r['speedup']:.1f}x | {r['vs_floor']:.2f}x "
            f"| {r['scan_calls']} / {r['sequential_calls']} / {r['parallel_calls']} "
            f"| {r['scan_cpu']:.2f} / {r['sequential_cpu']:.2f} / {r['parallel_cpu']:.2f} "
            f"| {r['scan_rss']:.0f} / {r['sequential_rss']:.0f} / {r['parallel_rss']:.0f} | {lo:.1f}-{hi:.1f} |"
        )
    verdicts = [
        f"{r['latency'] * 1000:.0f} ms: loop / scan {r['speedup']:.1f}x "
        f"({'met' if r['speedup'] >= 4 else 'MISSED'}), scan / reference {r['vs_floor']:.2f}x "
        f"({'met' if r['vs_floor'] <= 1.5 else 'MISSED'})"
        for r in rows
    ]
    lines += [
        "",
        "Targets (issue 14): at least 4x faster than the sequential loop, at most 1.5x the parallel reference. "
        + "; ".join(verdicts)
        + ".",
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
        " process and sleeps the given latency before answering each request; one unmeasured scan at zero"
        " latency first makes moto create every account's backends. The load average is the 1-minute"
        " figure before and after each run (other work on the machine shows there).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
