"""Fixtures for TUI tests: a seeded, deterministic demo account on in-process moto.

`mock_random.seed` makes moto's ids repeatable, and touching every region's EC2 backend in a fixed order
before any concurrent scan keeps default-VPC ids repeatable too, so snapshots show the same ids each run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from aws.audit import AuditLog
from aws.sandbox.seed import SeedSummary
from aws.session import AwsSession, SessionOptions
from tui.app import FlowlogsApp
from tui.config import Settings
from tui.factory import create_app


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[SeedSummary]:
    from moto import mock_aws
    from moto.moto_api._internal import mock_random

    from aws.sandbox.moto_fixes import apply_moto_fixes
    from aws.sandbox.seed import seed_account

    apply_moto_fixes()
    with mock_aws():
        mock_random.seed(20261126)
        from moto.ec2.models import ec2_backends

        ec2 = boto3.client("ec2", region_name="us-east-1")
        enabled = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
        for region in enabled:  # default VPCs are made on first use: make them in a fixed order
            ec2_backends["123456789012"][region]
        yield seed_account(None)


def make_app(tmp_path: Path, *, read_only: bool = False, start_step: str | None = None) -> FlowlogsApp:
    settings = Settings(audit_log=tmp_path / "audit.jsonl", read_only=read_only)
    session = AwsSession(
        SessionOptions(region="us-east-1", read_only=read_only), audit=AuditLog(settings.audit_path)
    )
    return create_app(settings, session=session, start_step=start_step)
