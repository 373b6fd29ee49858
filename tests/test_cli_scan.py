"""`flowlogs scan` through `tui.cli.main`: the readable report, --json, and the exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from aws.inventory import Inventory, RegionStatus, Verdict
from aws.logs.format import REQUIRED_LOG_FORMAT
from aws.session import AwsSession, SessionOptions
from tui.cli import main
from tui.config import SessionFactory
from tui.factory import make_session

HOME, OTHER = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def vpcs() -> Iterator[dict[str, str]]:
    """us-east-1: a compliant VPC and one logging to CloudWatch (plus moto's default VPCs)."""
    from moto import mock_aws

    from aws.sandbox.moto_fixes import apply_moto_fixes

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        apply_moto_fixes()
        with mock_aws():
            boto3.client("s3", region_name=HOME).create_bucket(Bucket="kentik-logs")
            boto3.client("logs", region_name=HOME).create_log_group(logGroupName="flows")
            ec2 = boto3.client("ec2", region_name=HOME)
            ok = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
            cw = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
            common = {"ResourceType": "VPC", "TrafficType": "ALL", "LogFormat": REQUIRED_LOG_FORMAT}
            ec2.create_flow_logs(
                ResourceIds=[ok], LogDestinationType="s3", LogDestination="arn:aws:s3:::kentik-logs", **common
            )
            ec2.create_flow_logs(
                ResourceIds=[cw],
                LogDestinationType="cloud-watch-logs",
                LogGroupName="flows",
                DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs",
                **common,
            )
            yield {"ok": ok, "cloudwatch": cw}


def run(
    capsys: pytest.CaptureFixture[str], *argv: str, factory: SessionFactory = make_session
) -> tuple[int, str, str]:
    code = main(["scan", *argv], session_factory=factory)
    out, err = capsys.readouterr()
    return code, out, err


def failing(**errors: tuple[str, str, str, int, str]) -> SessionFactory:
    """A session factory for the CLI: its session's named calls fail with an injected AWS error response."""
    session = AwsSession(SessionOptions(region=HOME, read_only=True))
    for service, region, operation, status, body in errors.values():

        def respond(body: str = body, status: int = status, **_: Any) -> AWSResponse:
            raw = type("Raw", (), {"stream": lambda self, **_: iter([body.encode()])})()
            return AWSResponse("https://example.invalid/", status, {"Content-Type": "text/xml"}, raw)

        session.client(service, region).meta.events.register(f"before-send.{service}.{operation}", respond)
    return lambda settings, endpoint_url=None: session


def xml_error(code: str, message: str) -> str:
    return (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>r</RequestID></Response>"
    )


def test_report_lists_regions_and_vpcs_needing_action(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--regions", f"{HOME},{OTHER}", "--read-only")
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert lines[0].startswith("Account 123456789012 (aws), caller arn:aws:")
    header = next(i for i, line in enumerate(lines) if line.startswith("REGION"))
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1 : header + 3]}
    # VPCS OK CHANGE MISSING FW FW-OK: us-east-1 has ok + cloudwatch + its default VPC.
    assert rows[HOME] == ["scanned", "3", "1", "1", "1", "0", "0"]
    assert rows[OTHER] == ["scanned", "1", "0", "0", "1", "0", "0"]
    assert "Not enabled (opt-in): af-south-1" in out
    todo = out.split("VPCs needing action (3):", 1)[1]
    assert f"{HOME}  {vpcs['cloudwatch']}  needs-change" in todo
    assert "delivers to CloudWatch Logs (flows); Kentik reads S3" in todo
    assert vpcs["ok"] not in todo
    assert "Candidate Kentik roles: none found" in out


def test_json_is_the_inventory(vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--regions", HOME, "--json", "--workers", "3")
    assert code == 0
    inv = Inventory.model_validate(json.loads(out))
    assert inv.workers == 3
    region = inv.region(HOME)
    assert region is not None and region.status is RegionStatus.SCANNED
    verdicts = {v.vpc_id: v.verdict for v in region.vpcs}
    assert verdicts[vpcs["ok"]] is Verdict.COMPLIANT
    assert verdicts[vpcs["cloudwatch"]] is Verdict.NEEDS_CHANGE
    assert json.loads(out)["regions"][0]["counts"]["vpcs"] in (0, 1)  # computed counts are serialised
    assert inv.region(OTHER).status is RegionStatus.SKIPPED  # type: ignore[union-attr]


def test_skip_flag_skips(vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--regions", f"{HOME},{OTHER}", "--skip", OTHER)
    assert code == 0
    assert f"Skipped: {OTHER}" not in out  # the skipped list also holds every region not in --regions
    skipped = out.split("Skipped: ", 1)[1].split("\n\n", 1)[0]
    assert OTHER in skipped and HOME not in skipped


def test_failed_region_is_reported_and_exits_1(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    auth = xml_error("AuthFailure", "AWS was not able to validate the provided access credentials")
    factory = failing(auth=("ec2", OTHER, "DescribeVpcs", 401, auth))
    code, out, _ = run(capsys, "--regions", f"{HOME},{OTHER}", factory=factory)
    assert code == 1
    assert all(len(line) <= 80 for line in out.splitlines())
    assert f"{OTHER}       FAILED" in out
    assert "Regions: 1 scanned, 1 failed, 0 partial, 17 not enabled, 15 skipped" in out
    assert "! ec2:DescribeVpcs AuthFailure: AWS was not able to validate" in out
    assert f"fix: region {OTHER} is not enabled" in out
    assert re.search(rf"^{HOME} +scanned +3 +1 +1 +1 ", out, re.M)  # the other region still scanned


def test_failed_region_in_json_exits_1(vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    denied = xml_error("UnauthorizedOperation", "You are not authorized to perform this operation.")
    factory = failing(denied=("ec2", OTHER, "DescribeFlowLogs", 403, denied))
    code, out, _ = run(capsys, "--regions", f"{HOME},{OTHER}", "--json", factory=factory)
    assert code == 1
    inv = Inventory.model_validate_json(out)
    failed = inv.region(OTHER)
    assert failed is not None and failed.status is RegionStatus.FAILED and failed.error is not None
    assert failed.error.hint == "grant ec2:DescribeFlowLogs"
    assert inv.region(HOME).status is RegionStatus.SCANNED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--regions", "us-east-1,nowhere"], "Unknown region 'nowhere' (--regions)."),
        (["--skip", "EU-WEST-1"], "Unknown region 'EU-WEST-1' (--skip). Did you mean eu-west-1?"),
        (["--regions", "xx-north-9"], "Unknown region 'xx-north-9' (--regions). Did you mean eu-north-1?"),
        (["--workers", "0"], "--workers must be between 1 and 64"),
    ],
)
def test_usage_errors_exit_2(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and out == ""


def test_rejected_credentials_exit_2(vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token "
        "included in the request is expired</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
    factory = failing(sts=("sts", HOME, "GetCallerIdentity", 403, body))
    code, out, err = run(capsys, "--json", factory=factory)
    assert code == 2
    assert "ExpiredToken" in err and "Refresh the credentials" in err
    assert out == ""


def test_schema_needs_no_aws(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--schema", factory=lambda *a, **k: pytest.fail("no session for --schema"))
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "Inventory"
    assert {"identity", "regions", "roles"} <= set(schema["properties"])


# -- region lists: commas, spaces, repeats --------------------------------------------------------------


def test_regions_separated_by_spaces_are_all_scanned(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--regions", HOME, OTHER, "--json")
    inv = Inventory.model_validate_json(out)
    assert (code, sorted(r.name for r in inv.scanned_regions)) == (0, sorted([HOME, OTHER]))


# -- --fail-on: the drift gate ------------------------------------------------------------------------


def test_fail_on_missing_exits_1_while_a_vpc_has_no_flow_log(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """us-east-1's default VPC has no flow log: a scan that would exit 0 exits 1."""
    assert run(capsys, "--regions", HOME, "--fail-on", "missing")[0] == 1


def test_fail_on_names_each_source_with_those_verdicts(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = run(capsys, "--regions", HOME, "--fail-on", "missing,needs-change")
    assert f"  {HOME} {vpcs['cloudwatch']} needs-change" in err.splitlines()[1:]


def test_fail_on_leaves_exit_0_when_no_source_has_those_verdicts(
    vpcs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--regions", HOME, "--fail-on", "unknown")[0] == 0


def test_fail_on_an_unknown_verdict_is_a_usage_error_naming_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "--fail-on", "missin", factory=lambda *a, **k: pytest.fail("no AWS call"))
    assert (code, err.strip()) == (
        2,
        "flowlogs scan: --fail-on: unknown verdict(s) 'missin'; the verdicts are needs-change, missing, "
        "unknown.",
    )
