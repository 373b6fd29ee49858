"""Fixtures for TUI tests: a seeded, deterministic demo account on in-process moto.

`mock_random.seed` makes moto's ids repeatable, and touching every region's EC2 backend in a fixed order
before any concurrent scan keeps default-VPC ids repeatable too, so snapshots show the same ids each run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.audit import AuditLog
from aws.inventory import Inventory
from aws.sandbox.seed import SeedSummary
from aws.session import AwsSession, SessionOptions
from tui.app import FlowlogsApp
from tui.config import Settings
from tui.factory import create_app


@dataclass
class _Snapshot:
    """moto's whole state after seeding and one scan: every backend in use (all accounts, and attributes
    such as S3's bucket registry) and moto's random state, so ids made later repeat too; a deep copy."""

    backends: list[Any]  # moto's BackendDicts in use
    inventory: str  # the whole account's scan (JSON), made before the snapshot was taken
    state: tuple[list[tuple[dict[str, Any], dict[str, Any]]], Any, SeedSummary]


_SEEDED: list[_Snapshot] = []  # one per process (each xdist worker seeds once)


def _seed_fresh() -> SeedSummary:
    from moto.ec2.models import ec2_backends
    from moto.moto_api._internal import mock_random

    from aws.sandbox.seed import seed_account

    mock_random.seed(20261126)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    enabled = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
    for region in enabled:  # default VPCs are made on first use: make them in a fixed order
        ec2_backends["123456789012"][region]
    return seed_account(None)


def _take_snapshot(summary: SeedSummary) -> _Snapshot:
    """Scan the account once (moto makes some backends and ids only when first asked), then copy it all."""
    from moto.core.base_backend import BackendDict
    from moto.moto_api._internal import mock_random

    from aws.discovery import scan

    inventory = scan(AwsSession(SessionOptions(region="us-east-1"))).model_dump_json()
    backends = list(BackendDict._instances)
    contents = [(dict(bd), dict(vars(bd))) for bd in backends]
    return _Snapshot(backends, inventory, copy.deepcopy((contents, mock_random.getstate(), summary)))


def _restore(snapshot: _Snapshot) -> SeedSummary:
    from moto.core.base_backend import BackendDict
    from moto.moto_api._internal import mock_random

    contents, random_state, summary = copy.deepcopy(snapshot.state)
    for bd, (accounts, attributes) in zip(snapshot.backends, contents, strict=True):
        bd.update(accounts)
        vars(bd).update(attributes)
        if bd not in BackendDict._instances:
            BackendDict._instances.append(bd)
    mock_random.setstate(random_state)
    return summary


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[SeedSummary]:
    """The demo account on in-process moto, the same in every test. Seeding takes seconds, so the first
    test of a process seeds and snapshots moto's state and later tests get a copy of it."""
    from moto import mock_aws

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    with mock_aws():
        if not _SEEDED:
            _SEEDED.append(_take_snapshot(_seed_fresh()))
        yield _restore(_SEEDED[0])  # the first test too: every test runs on a copy, never the originals


def seeded_inventory(session: AwsSession) -> Inventory:
    """`scan(session)` of the untouched seeded account, as scanned once when it was seeded (the seed and
    so the scan are deterministic; only the scan's own timings would differ)."""
    assert _SEEDED, "seeded_inventory needs the seeded fixture"
    return Inventory.model_validate_json(_SEEDED[0].inventory)


def make_app(
    tmp_path: Path,
    *,
    read_only: bool = False,
    start_step: str | None = None,
    resume: bool | None = False,
) -> FlowlogsApp:
    settings = Settings(audit_log=tmp_path / "audit.jsonl", read_only=read_only)
    session = AwsSession(
        SessionOptions(region="us-east-1", read_only=read_only), audit=AuditLog(settings.audit_path)
    )
    return create_app(settings, session=session, start_step=start_step, resume=resume)
