"""Count the CreateFlowLogs calls needed for 900 VPCs in one region (issue 5's target: 3).

Runs in-process against moto (with aws.sandbox.moto_fixes). The VPCs are created straight in moto's
backend to keep set-up short; planning and applying go through the real engine and an AwsSession, whose
call statistics give the count. A second apply must make no mutating call.

    .venv/bin/python bench/bench_flowlogs_calls.py [--vpcs 900]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "kentik-flow-logs-bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vpcs", type=int, default=900)
    args = parser.parse_args()
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(var, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)

    import boto3
    from moto import mock_aws
    from moto.ec2.models import ec2_backends

    from aws.logs.flowlogs import FlowLogOptions, FlowLogTarget, flowlog_changes
    from aws.plans.change import Plan, apply_plan
    from aws.sandbox.moto_fixes import apply_moto_fixes
    from aws.session import AwsSession, SessionOptions

    apply_moto_fixes()
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        backend = ec2_backends[ACCOUNT][REGION]
        started = time.perf_counter()
        vpcs = [backend.create_vpc(cidr_block=f"10.{i // 256}.{i % 256}.0/24").id for i in range(args.vpcs)]
        setup = time.perf_counter() - started

        session = AwsSession(SessionOptions(region=REGION))
        targets = [FlowLogTarget(resource_id=v, region=REGION, verdict="missing") for v in vpcs]
        plan = Plan(changes=flowlog_changes(targets, FlowLogOptions(buckets={REGION: BUCKET}), ACCOUNT))
        started = time.perf_counter()
        report = apply_plan(plan, session)
        elapsed = time.perf_counter() - started
        calls = session.stats.calls[("ec2", "CreateFlowLogs")]
        ids = sum(len(r.outputs.get("flow_log_ids", {})) for r in report.results)
        mutating = session.stats.mutating()
        again = apply_plan(plan, session)
        extra = session.stats.mutating() - mutating

    expected = -(-args.vpcs // 300)
    print(f"VPCs: {args.vpcs} (set-up {setup:.1f} s)")
    print(f"changes planned: {len(plan.changes)}; apply: {report.counts()} in {elapsed:.2f} s")
    print(f"CreateFlowLogs calls: {calls} (expected {expected}); flow log ids returned: {ids}")
    print(f"second apply: {again.counts()}, mutating calls {extra}")
    ok = report.ok and calls == expected and ids == args.vpcs and extra == 0
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
