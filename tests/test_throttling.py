"""Throttled and unreachable AWS, end to end through `tui.cli.main` on loopback.

The demo account is seeded into a moto server behind `aws.sandbox.faults.FaultInjector`, which answers a
seeded, reproducible fraction of requests with each service's own throttling error (EC2
RequestLimitExceeded 503, S3 SlowDown 503, IAM/STS Throttling 400, JSON ThrottlingException 400).

The retry budget is the default one (aws/retry.py): 10 attempts when throttled, 4 for other failures,
25 s per call. `aws.retry.sleep` is a no-op here, so backoffs and the adaptive rate cost no time; the
deadline and read timeout, measured on the real clock, are raised (600 s, 120 s) so a loaded machine never
binds them; the jitter seed is fixed (FLOWLOGS_RETRY_SEED) and the
injector's choice of requests depends only on its seed and the requests, so every run is the same. At
30% and 10 attempts a call fails for good with chance 0.3**10 = 6e-6.

Unreachable endpoints use small timeouts (FLOWLOGS_READ_TIMEOUT and friends) so nothing waits long;
the default budget's arithmetic (< 30 s against a silent endpoint) is in tests/test_retry.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aws.retry
from aws.sandbox.faults import Faults, FaultServer, refused_endpoint, silent_endpoint, start_fault_server
from aws.session import is_mutating
from tui.cli import EXIT_OK, EXIT_PARTIAL, EXIT_UNREACHABLE, main

SEED = 20261126
REGIONS = "us-east-1,eu-west-1"
BUCKET = "kentik-throttle-test"
TIMING = ("started_at", "finished_at", "duration_s")


def _server() -> FaultServer:
    with pytest.MonkeyPatch.context() as env:  # seeding runs before the per-test environment exists
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        return start_fault_server(Faults(seed=SEED))


@pytest.fixture(scope="module")
def shared() -> Iterator[FaultServer]:
    """One seeded server for the read-only tests (scan, plan)."""
    server = _server()
    yield server
    server.stop()


@pytest.fixture
def faults(shared: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    use(shared, monkeypatch)
    yield shared.faults
    shared.faults.throttle, shared.faults.only = 0.0, None
    shared.faults.reset_counts()


def use(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("FLOWLOGS_RETRY_SEED", "1")
    monkeypatch.setattr(aws.retry, "sleep", lambda _: None)
    # the deadline and read timeout are real time: generous here, so a loaded machine cannot bind them
    monkeypatch.setenv("FLOWLOGS_CALL_DEADLINE", "600")
    monkeypatch.setenv("FLOWLOGS_READ_TIMEOUT", "120")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def without_timing(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_timing(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [without_timing(v) for v in data]
    return data


def mutating(call: str) -> bool:
    service, operation = call.split(":", 1)
    return operation.startswith(("PUT", "POST", "DELETE")) if service == "s3" else is_mutating(operation)


def plan_args(path: Path) -> list[str]:
    return ["plan", "--strategy", "central", "--bucket", BUCKET, "--regions", REGIONS, "-o", str(path)]


# -- 30% throttling: the same results, in one run -----------------------------------------------------


def test_scan_at_30_percent_throttling_equals_the_clean_scan(
    faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    code, clean, _ = cli(capsys, "scan", "--json", "--regions", REGIONS)
    assert code == EXIT_OK
    faults.throttle = 0.3
    code, throttled, err = cli(capsys, "scan", "--json", "--regions", REGIONS)
    assert (code, err) == (EXIT_OK, "")
    assert without_timing(json.loads(throttled)) == without_timing(json.loads(clean))
    # It was really throttled, in more than one service.
    assert faults.total_throttled >= 5 and len({call.split(":")[0] for call in faults.throttled}) >= 3


def test_plan_at_30_percent_throttling_equals_the_clean_plan(
    faults: Faults, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, *plan_args(tmp_path / "clean.json"))[0] == EXIT_OK
    faults.throttle = 0.3
    code, _, err = cli(capsys, *plan_args(tmp_path / "throttled.json"))
    assert (code, err) == (EXIT_OK, "")
    clean = json.loads((tmp_path / "clean.json").read_text())
    throttled = json.loads((tmp_path / "throttled.json").read_text())
    assert throttled["changes"] == clean["changes"] and clean["changes"]
    assert faults.total_throttled > 0


def test_apply_at_30_percent_throttling_completes_in_one_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _server() as server:  # its own account: this test changes it
        use(server, monkeypatch)
        server.faults.throttle = 0.3
        plan = tmp_path / "plan.json"
        assert cli(capsys, *plan_args(plan))[0] == EXIT_OK
        code, out, err = cli(capsys, "apply", "--plan", str(plan), "--yes", "--json")
        assert (code, err) == (EXIT_OK, "")
        report = json.loads(out)
        assert report["ok"] and {r["status"] for r in report["results"]} <= {"applied", "satisfied"}
        assert len(report["results"]) == len(json.loads(plan.read_text())["changes"])
        thrown = server.faults.total_throttled
        assert thrown > 0 and any(mutating(call) for call in server.faults.throttled)  # writes too
        # Converged: planning again (still throttled) finds nothing left to do.
        code, out, _ = cli(
            capsys, "plan", "--strategy", "central", "--bucket", BUCKET, "--regions", REGIONS, "--json"
        )
        assert code == EXIT_OK and json.loads(out)["plan"]["changes"] == []


# -- throttled beyond the budget -------------------------------------------------------------------------


def test_apply_whose_every_failure_is_throttling_exits_4(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _server() as server:  # its own account: this test changes it
        use(server, monkeypatch)
        plan = tmp_path / "plan.json"
        assert cli(capsys, *plan_args(plan))[0] == EXIT_OK
        server.faults.throttle, server.faults.only = (
            1.0,
            frozenset({"s3"}),
        )  # every log change needs its bucket
        code, out, _ = cli(capsys, "apply", "--plan", str(plan), "--yes", "--json")
        statuses = {r["status"] for r in json.loads(out)["results"]}
        assert (code, statuses) == (EXIT_UNREACHABLE, {"failed", "skipped"})


def test_throttled_beyond_the_budget_exits_4_naming_the_call(
    faults: Faults, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.throttle, faults.only = 1.0, frozenset({"ec2:DescribeRegions"})
    code, _, err = cli(capsys, "scan", "--regions", REGIONS)
    assert code == EXIT_UNREACHABLE
    assert (
        "AWS throttled ec2:DescribeRegions in us-east-1 beyond the retry budget (RequestLimitExceeded)" in err
    )
    assert "10 attempts" in err and "--workers" in err
    assert faults.throttled["ec2:DescribeRegions"] == 10


def test_plan_names_the_region_whose_reads_stayed_throttled(
    faults: Faults, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.throttle, faults.only = 1.0, frozenset({"ec2@eu-west-1"})
    code, out, _ = cli(capsys, *plan_args(tmp_path / "plan.json"))
    assert code == EXIT_PARTIAL  # planned for us-east-1; eu-west-1 is not in the plan
    warnings = out.split("Warnings:", 1)[1]
    assert "Regions not scanned, so not in this plan: eu-west-1" in warnings
    line = next(ln for ln in warnings.splitlines() if "eu-west-1 not scanned" in ln)
    assert "AWS throttled ec2:Describe" in line and "in eu-west-1 beyond the retry budget" in line
    assert "Next: AWS kept throttling" in line and "--workers" in line


def test_plan_with_every_region_throttled_exits_4_and_says_what_to_try(
    faults: Faults, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.throttle, faults.only = 1.0, frozenset({"ec2@eu-west-1"})
    args = ["plan", "--strategy", "central", "--bucket", BUCKET, "--regions", "eu-west-1"]
    code, _, err = cli(capsys, *args, "-o", str(tmp_path / "plan.json"))
    assert code == EXIT_UNREACHABLE
    assert "Not one region could be scanned, so there is nothing to plan" in err
    assert "eu-west-1 not scanned: AWS throttled ec2:Describe" in err and "--workers" in err
    assert not (tmp_path / "plan.json").exists()


def test_scan_exit_code_for_unreachable_regions(faults: Faults, capsys: pytest.CaptureFixture[str]) -> None:
    """Some regions unreachable: 1 (the others are in the report); every region unreachable: 4."""
    faults.throttle, faults.only = 1.0, frozenset({"ec2@eu-west-1"})
    code, out, _ = cli(capsys, "scan", "--json", "--regions", REGIONS)
    assert code == EXIT_PARTIAL
    regions = {r["name"]: r for r in json.loads(out)["regions"]}
    assert regions["eu-west-1"]["status"] == "failed" and regions["eu-west-1"]["error"]["kind"] == "network"
    assert regions["us-east-1"]["status"] == "scanned"
    assert cli(capsys, "scan", "--regions", "eu-west-1")[0] == EXIT_UNREACHABLE


# -- unreachable endpoints ----------------------------------------------------------------------------


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLOGS_CONNECT_TIMEOUT", "0.2")
    monkeypatch.setenv("FLOWLOGS_READ_TIMEOUT", "0.2")
    monkeypatch.setenv("FLOWLOGS_CALL_DEADLINE", "1")
    monkeypatch.setattr(aws.retry, "sleep", lambda _: None)


@pytest.mark.parametrize("command", [["scan"], ["plan", "--strategy", "central", "--bucket", BUCKET]])
def test_a_silent_endpoint_exits_4_naming_it(
    command: list[str],
    short_timeouts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with silent_endpoint() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        code, _, err = cli(capsys, *command, "--regions", "us-east-1")
    assert code == EXIT_UNREACHABLE
    assert f"No answer from {url} to sts:GetCallerIdentity in us-east-1 within the 0.2 s read timeout" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["scan"], ["plan", "--strategy", "central", "--bucket", BUCKET]])
def test_a_refused_connection_exits_4_with_another_message(
    command: list[str],
    short_timeouts: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with refused_endpoint() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        code, _, err = cli(capsys, *command, "--regions", "us-east-1")
    assert code == EXIT_UNREACHABLE
    assert f"Connection refused by {url} for sts:GetCallerIdentity in us-east-1: nothing listens there" in err
    assert "No answer" not in err and "timeout" not in err.split("\n", 1)[0]


def test_help_shows_the_exit_code_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("0  done and converged", "3  AWS access denied", "4  AWS unreachable: connection refused"):
        assert line in out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert (
        "| 4 | AWS unreachable: connection refused, timeouts, throttled beyond the retry budget |" in readme
    )
