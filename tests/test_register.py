"""`flowlogs register`: one Kentik cloud export per log bucket, idempotent, previewed, audited, and never
writing the token anywhere. AWS is in-process moto; Kentik is the schema-strict local fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from aws.iam.kentik_role import KENTIK_PRINCIPAL
from aws.sandbox.kentik_fake import KentikFake
from tui import cli

EMAIL = "netops@example.com"
TOKEN = "kt-0123456789abcdef-SECRET"
ACCOUNT = "123456789012"  # moto's
ROLE = f"arn:aws:iam::{ACCOUNT}:role/kentik-ingest"
BUCKET = "acme-flow-logs"


@pytest.fixture
def kentik(monkeypatch: pytest.MonkeyPatch) -> Iterator[KentikFake]:
    with KentikFake(email=EMAIL, token=TOKEN) as fake:
        monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
        monkeypatch.setenv("KENTIK_API_TOKEN", TOKEN)
        monkeypatch.setenv("KENTIK_API_URL", fake.url)
        monkeypatch.setenv("KENTIK_V5_API_URL", fake.url)
        yield fake


@pytest.fixture
def bucket(moto: None) -> str:
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    trust = {"Effect": "Allow", "Principal": {"AWS": KENTIK_PRINCIPAL}, "Action": "sts:AssumeRole"}
    boto3.client("iam").create_role(  # the role registered (register checks that it exists)
        RoleName="kentik-ingest",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )
    return BUCKET


def register(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["register", "--plan-id", "11467", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def writes(fake: KentikFake) -> list[tuple[str, str]]:
    return [r for r in fake.requests if r[0] in ("POST", "PUT", "DELETE")]


def test_register_creates_one_export_for_the_bucket(kentik: KentikFake, bucket: str, capsys) -> None:
    code, out, err = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert code == 0, out + err
    [export] = kentik.exports.values()
    assert {k: export[k] for k in ("name", "enabled", "planId", "type", "cloudProvider")} == {
        "name": BUCKET,
        "enabled": True,
        "planId": "11467",
        "type": "CLOUD_EXPORT_TYPE_KENTIK_MANAGED",
        "cloudProvider": "CLOUD_PROVIDER_AWS",
    }
    assert export["aws"] == {
        "iamRoleArn": ROLE,
        "region": "us-west-2",
        "bucket": BUCKET,
        "collectFlowLogs": True,
        "collectFirewallLogs": False,
        "metadataOnly": False,
    }


def test_a_rerun_creates_nothing(kentik: KentikFake, bucket: str, capsys) -> None:
    register(capsys, "--role", "kentik-ingest", "--bucket", bucket, "--yes")
    before = len(writes(kentik))
    code, out, _ = register(capsys, "--role", "kentik-ingest", "--bucket", bucket, "--yes")
    assert (code, len(writes(kentik)) - before) == (0, 0)
    assert "Nothing to register" in out


def test_a_prefix_and_firewall_logs_are_registered(kentik: KentikFake, bucket: str, capsys) -> None:
    code, _, _ = register(
        capsys, "--role-arn", ROLE, "--bucket", f"{bucket}/net/", "--firewall-logs", "--yes"
    )
    [export] = kentik.exports.values()
    assert (code, export["aws"]["bucketPrefix"], export["aws"]["collectFirewallLogs"]) == (0, "net", True)


def portal_export(fake: KentikFake, role: str) -> str:
    return fake.seed(
        {
            "name": "flow logs (set in the portal)",
            "description": "owned by netops",
            "enabled": True,
            "planId": "11467",
            "type": "CLOUD_EXPORT_TYPE_KENTIK_MANAGED",
            "cloudProvider": "CLOUD_PROVIDER_AWS",
            "aws": {"iamRoleArn": role, "region": "us-west-2", "bucket": BUCKET},
            "sampling": {"samplingEnabled": True, "samplingRate": 10},
        }
    )["id"]


def test_a_differing_export_is_not_updated_without_confirmation(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    export_id = portal_export(kentik, f"arn:aws:iam::{ACCOUNT}:role/old-role")
    code, out, err = register(capsys, "--role-arn", ROLE, "--bucket", bucket)
    assert (code, kentik.exports[export_id]["aws"]["iamRoleArn"]) == (
        2,
        f"arn:aws:iam::{ACCOUNT}:role/old-role",
    )
    assert "aws.iamRoleArn: 'arn:aws:iam::123456789012:role/old-role' -> " in out
    assert "--yes" in err


def test_an_update_changes_our_fields_and_keeps_the_portals(kentik: KentikFake, bucket: str, capsys) -> None:
    export_id = portal_export(kentik, f"arn:aws:iam::{ACCOUNT}:role/old-role")
    code, out, err = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    stored = kentik.exports[export_id]
    assert code == 0, out + err
    assert (stored["aws"]["iamRoleArn"], stored["name"], stored["description"], stored["sampling"]) == (
        ROLE,
        "flow logs (set in the portal)",
        "owned by netops",
        {"samplingEnabled": True, "samplingRate": 10},
    )
    assert len(kentik.exports) == 1


def test_a_matching_export_is_left_alone(kentik: KentikFake, bucket: str, capsys) -> None:
    portal_export(kentik, ROLE)
    code, out, _ = register(capsys, "--role-arn", ROLE, "--bucket", bucket)
    assert (code, writes(kentik)) == (0, [])  # seeding is not a request
    assert "as needed" in out


def test_wrong_credentials_exit_3_and_create_nothing(
    kentik: KentikFake, bucket: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KENTIK_API_TOKEN", "not-the-token")
    code, _, err = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert (code, kentik.exports) == (3, {})
    assert "KENTIK_API_TOKEN" in err


def test_missing_credentials_exit_2(kentik: KentikFake, bucket: str, capsys, monkeypatch) -> None:
    monkeypatch.delenv("KENTIK_API_TOKEN")
    code, _, err = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert (code, kentik.requests) == (2, [])
    assert "KENTIK_API_TOKEN" in err


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--plan-id", "11 467", "plan id"),
        ("--role-arn", "kentik-ingest", "not an IAM role ARN"),
        ("--name-template", "{bucket}-{owner}", "{owner}"[1:-1]),
    ],
)
def test_bad_input_exits_2_before_any_change(
    kentik, bucket, capsys, flag: str, value: str, problem: str
) -> None:
    argv = ["--role-arn", ROLE, "--bucket", bucket, "--yes", flag, value]
    code, _, err = register(capsys, *argv)
    assert (code, writes(kentik)) == (2, [])
    assert problem in err


def test_no_buckets_anywhere_exits_2(kentik: KentikFake, moto: None, capsys) -> None:
    code, _, err = register(capsys, "--role-arn", ROLE, "--yes")
    assert (code, writes(kentik)) == (2, [])
    assert "--bucket" in err


def test_read_only_mode_refuses_and_sends_nothing(kentik: KentikFake, bucket: str, capsys) -> None:
    code, out, _ = register(capsys, "--read-only", "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert (code, writes(kentik)) == (2, [])
    assert "kentik:CreateExport" in out  # the preview is still shown


def test_the_audit_log_records_each_kentik_write(
    kentik: KentikFake, bucket: str, capsys, tmp_path: Path
) -> None:
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    kentik_records = [(r["phase"], r["operation"]) for r in records if r.get("service") == "kentik"]
    assert kentik_records == [("intent", "CreateExport"), ("result", "CreateExport")]


def test_the_token_is_nowhere_on_disk(kentik: KentikFake, bucket: str, capsys, tmp_path: Path) -> None:
    portal_export(kentik, f"arn:aws:iam::{ACCOUNT}:role/old-role")
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "-o", str(tmp_path / "kentik-plan.json"))
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    cli.main(["register", "--plan-id", "bad id", "--role-arn", ROLE, "--bucket", bucket])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 3  # the audit log, the plan file and the apply report at least
    assert [p for p in files if TOKEN.encode() in p.read_bytes()] == []


def test_a_saved_plan_is_applied_by_apply(kentik: KentikFake, bucket: str, capsys, tmp_path: Path) -> None:
    path = tmp_path / "kentik-plan.json"
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "-o", str(path))
    assert kentik.exports == {}
    code = cli.main(["apply", "--plan", str(path), "--yes"])
    assert (code, [e["aws"]["bucket"] for e in kentik.exports.values()]) == (0, [BUCKET])


def test_apply_without_kentik_credentials_changes_nothing(
    kentik: KentikFake, bucket: str, capsys, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "kentik-plan.json"
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "-o", str(path))
    monkeypatch.delenv("KENTIK_EMAIL")
    code = cli.main(["apply", "--plan", str(path), "--yes"])
    assert (code, kentik.exports) == (2, {})


def test_a_tampered_plan_is_refused(kentik: KentikFake, bucket: str, capsys, tmp_path: Path) -> None:
    path = tmp_path / "kentik-plan.json"
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "-o", str(path))
    plan = json.loads(path.read_text())
    plan["changes"][0]["params"]["export"]["aws"]["bucket"] = "someone-elses-bucket"
    path.write_text(json.dumps(plan))
    code = cli.main(["apply", "--plan", str(path), "--yes"])
    _, err = capsys.readouterr()
    assert (code, kentik.exports) == (2, {})
    assert "read set" in err


def test_kentik_rejecting_a_field_exits_2(kentik: KentikFake, bucket: str, capsys) -> None:
    kentik.plans = [{"id": 99, "name": "another plan"}]  # Kentik refuses a plan id it does not have
    code, out, _ = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert (code, kentik.exports) == (2, {})
    assert "Kentik rejected the field 'export.planId'" in out


def test_a_plan_files_kentik_role_is_used(kentik: KentikFake, bucket: str, capsys, tmp_path: Path) -> None:
    from aws.coverage import ReadLocation
    from aws.plans.change import Plan

    path = tmp_path / "plan.json"
    plan = Plan(
        account=ACCOUNT, read_set=[ReadLocation(bucket=bucket)], settings={"kentik_role": "kentik-ingest"}
    )
    path.write_text(plan.to_json())
    code, out, err = register(capsys, "--plan", str(path), "--yes")
    assert code == 0, out + err
    assert [e["aws"]["iamRoleArn"] for e in kentik.exports.values()] == [ROLE]


def test_apply_of_a_plan_kentik_rejects_exits_2(
    kentik: KentikFake, bucket: str, capsys, tmp_path: Path
) -> None:
    path = tmp_path / "kentik-plan.json"
    register(capsys, "--role-arn", ROLE, "--bucket", bucket, "-o", str(path))
    kentik.plans = [{"id": 99, "name": "another plan"}]  # the plan id is no longer Kentik's
    assert (cli.main(["apply", "--plan", str(path), "--yes"]), kentik.exports) == (2, {})


def test_nested_registration_without_known_regions_asks_for_them(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    code, _, err = register(
        capsys,
        "--role-arn",
        ROLE,
        "--bucket",
        bucket,
        "--kentik-spoke-role",
        "spoke",
        "--accounts",
        "210987654321",
    )
    assert (code, writes(kentik)) == (2, [])
    assert "--regions" in err


def test_a_bucket_named_by_hand_keeps_the_exports_firewall_switch(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    export_id = portal_export(kentik, ROLE)
    kentik.exports[export_id]["aws"]["collectFirewallLogs"] = True  # set in the portal
    code, _, _ = register(capsys, "--role-arn", ROLE, "--bucket", bucket, "--yes")
    assert (code, kentik.exports[export_id]["aws"]["collectFirewallLogs"], writes(kentik)) == (0, True, [])


def test_the_saved_wizard_state_names_the_buckets_and_the_role(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    from aws.coverage import ReadLocation, ReadSet
    from tui.config import state_dir
    from tui.resume import ResumeStore, snapshot
    from tui.state import WizardState

    state = WizardState(read_set=ReadSet(locations=[ReadLocation(bucket=bucket)]), kentik_role_arn=ROLE)
    ResumeStore(state_dir() / "resume").save(
        snapshot(state, account=ACCOUNT, endpoint="aws", profile="", step="summary")
    )
    code, out, err = register(capsys, "--yes")
    assert code == 0, out + err
    assert [(e["aws"]["bucket"], e["aws"]["iamRoleArn"]) for e in kentik.exports.values()] == [(BUCKET, ROLE)]


def test_a_bucket_that_does_not_exist_exits_2_naming_it(kentik: KentikFake, bucket: str, capsys) -> None:
    code, _, err = register(capsys, "--role-arn", ROLE, "--bucket", "no-such-bucket-zzz", "--yes")
    assert code == 2 and "There is no bucket named no-such-bucket-zzz." in err
    assert writes(kentik) == []


def test_a_role_that_does_not_exist_exits_2_before_kentik_is_asked(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    code, _, err = register(capsys, "--role", "no-such-role", "--bucket", bucket, "--yes")
    assert code == 2 and "no-such-role" in err and "not found" in err
    assert kentik.requests == []


def test_a_role_that_does_not_trust_kentik_is_registered_with_a_warning(
    kentik: KentikFake, bucket: str, capsys
) -> None:
    trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    boto3.client("iam").create_role(
        RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )
    code, _, err = register(capsys, "--role", "app", "--bucket", bucket, "--yes")
    assert code == 0 and f"Warning: role arn:aws:iam::{ACCOUNT}:role/app does not trust Kentik's" in err
