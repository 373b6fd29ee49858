"""Settings precedence, the CLI's plan/apply contract (exit codes, nothing changed on bad input), app
factory details (keymap, command palette)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from aws.sandbox.seed import SeedSummary
from tui.cli import main
from tui.config import load_settings


def test_settings_file_env_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "flowlogs-config.toml"
    config.write_text(
        'profile = "from-file"\nread_only = true\nskip_regions = ["ap-east-1"]\n[keymap]\n"app.next_step" = "f6"\n'
    )
    monkeypatch.setenv("FLOWLOGS_CONFIG", str(config))
    settings = load_settings()
    assert settings.profile == "from-file" and settings.read_only and settings.skip_regions == ["ap-east-1"]
    assert settings.keymap == {"app.next_step": "f6"}
    monkeypatch.setenv("FLOWLOGS_PROFILE", "from-env")
    assert load_settings().profile == "from-env"
    assert load_settings(profile="from-flag").profile == "from-flag"
    assert load_settings(read_only=None).read_only  # an absent flag keeps the file's value


def test_invalid_settings_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "flowlogs-config.toml"
    config.write_text("scan_workers = 0\n")
    monkeypatch.setenv("FLOWLOGS_CONFIG", str(config))
    assert main(["scan"]) == 2
    assert "invalid settings" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("scan", "plan", "apply", "policy", "verify", "demo-server"):
        assert command in out


def test_plan_with_an_empty_include_list_is_a_usage_error(
    seeded: SeedSummary, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["plan", "--strategy", "central", "--bucket", "kentik-x", "--regions", "us-east-1", "--include", ","]
    )
    message = (
        "flowlogs plan: --include names no ids: give VPC, subnet, ENI or transit gateway ids, or leave it out"
    )
    assert (code, message in capsys.readouterr().err.splitlines()) == (2, True)  # the line, whole


def test_plan_with_bad_bucket_name_exits_2_and_creates_nothing(
    seeded: SeedSummary, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    code = main(["plan", "--strategy", "central", "--bucket", "Bad_Name..x", "--regions", "us-east-1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Character rule" in err and "Adjacent-dots rule" in err  # both broken rules, named
    assert {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]} == before


def test_plan_apply_rerun_via_cli(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.json"
    args = [
        "plan",
        "--strategy",
        "central",
        "--bucket",
        "kentik-cli-test",
        "--regions",
        "us-east-1,eu-west-1",
    ]
    assert main([*args, "-o", str(plan_file)]) == 0
    plan = json.loads(plan_file.read_text())
    kinds = {c["kind"] for c in plan["changes"]}
    assert {"s3.create-bucket", "ec2.create-flow-logs", "network-firewall.s3-log-destination"} <= kinds
    capsys.readouterr()
    assert main(["apply", "--plan", str(plan_file)]) == 2  # no terminal, no --yes: refused
    assert "kentik-cli-test" not in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    capsys.readouterr()
    assert main(["apply", "--plan", str(plan_file), "--yes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["results"]
    ids = [r["outputs"].get("flow_log_ids") for r in report["results"] if r["outputs"].get("flow_log_ids")]
    assert ids and all(v.startswith("fl-") for d in ids for v in d.values())
    assert main(["apply", "--plan", str(plan_file), "--yes", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in again["results"]} == {"satisfied"}
    assert main([*args, "--json"]) == 0
    replanned = json.loads(capsys.readouterr().out)
    assert replanned["plan"]["changes"] == []


def test_apply_refuses_destructive_without_flag(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.json"
    args = [
        "plan",
        "--strategy",
        "central",
        "--bucket",
        "kentik-cli-destr",
        "--regions",
        "us-east-1",
        "--replace-existing",
        "-o",
        str(plan_file),
    ]
    assert main(args) == 0
    plan = json.loads(plan_file.read_text())
    assert any(c["destructive"] for c in plan["changes"])
    capsys.readouterr()
    assert main(["apply", "--plan", str(plan_file), "--yes"]) == 2
    assert "--allow-destructive" in capsys.readouterr().err
    assert "kentik-cli-destr" not in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


def test_apply_bad_plan_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert main(["apply", "--plan", str(missing), "--yes"]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["apply", "--plan", str(broken), "--yes"]) == 2
    assert "not complete JSON" in capsys.readouterr().err


def test_read_only_plan_still_works_and_apply_is_blocked(
    seeded: SeedSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.json"
    args = [
        "plan",
        "--read-only",
        "--strategy",
        "central",
        "--bucket",
        "kentik-ro-test",
        "--regions",
        "us-east-1",
    ]
    assert main([*args, "-o", str(plan_file)]) == 0
    capsys.readouterr()
    assert main(["apply", "--read-only", "--plan", str(plan_file), "--yes"]) == 2
    assert "kentik-ro-test" not in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


def test_read_only_apply_refuses_up_front_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No preview and no AWS call: the refusal comes before the plan file is even read."""
    assert main(["apply", "--read-only", "--plan", str(tmp_path / "absent.json"), "--yes"]) == 2
    out, err = capsys.readouterr()
    assert (out, "Read-only mode is on (--read-only)" in err) == ("", True)


def test_read_only_from_the_settings_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "flowlogs-config.toml"
    config.write_text("read_only = true\n")
    monkeypatch.setenv("FLOWLOGS_CONFIG", str(config))
    assert main(["apply", "--plan", str(tmp_path / "absent.json"), "--yes"]) == 2
    assert f"read_only = true in {config}" in capsys.readouterr().err


async def test_keymap_and_palette_commands(seeded: SeedSummary, tmp_path: Path) -> None:
    from app_fixtures import make_app

    app = make_app(tmp_path)
    app.set_keymap({"discovery.rescan": "f5"})
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Switch AWS profile", "Rescan account", "Toggle read-only", "Theme"} <= set(titles)
        keys = {
            b.binding.key for b in app.screen.active_bindings.values() if b.binding.id == "discovery.rescan"
        }
        assert keys == {"f5"}


def test_demo_without_moto_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    assert main(["--demo", "scan"]) == 2
    assert "pipx install '.[demo]'" in capsys.readouterr().err


# -- the TUI's flags: what `flowlogs [--demo] [--resume | --fresh] [--keep]` hands to run_app -------------
class _RunApp:
    """Stands in for `tui.factory.run_app` (tui/cli.py imports it when the TUI starts)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, settings: Any, **kwargs: Any) -> int:
        self.calls.append((settings, kwargs))
        return 0


@pytest.fixture
def run_app(monkeypatch: pytest.MonkeyPatch) -> _RunApp:
    fake = _RunApp()
    monkeypatch.setattr("tui.factory.run_app", fake)
    return fake


def _no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the CLI must not start the sandbox for the TUI")

    monkeypatch.setattr("aws.sandbox.server.start_sandbox", refuse)


@pytest.mark.parametrize(
    ("argv", "resume", "keep", "demo"),
    [
        ([], None, False, False),
        (["--resume"], True, False, False),
        (["--fresh"], False, False, False),
        (["--demo"], None, False, True),
        (["--demo", "--keep"], None, True, True),
        (["--demo", "--fresh", "--keep"], False, True, True),
    ],
)
def test_tui_flags_reach_run_app(
    run_app: _RunApp, argv: list[str], resume: bool | None, keep: bool, demo: bool
) -> None:
    assert main(argv) == 0
    [(_, kwargs)] = run_app.calls
    assert (kwargs["resume"], kwargs["keep"], kwargs["demo"]) == (resume, keep, demo)


def test_tui_demo_leaves_the_sandbox_to_the_app(run_app: _RunApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """`flowlogs --demo` runs the app at once: no sandbox started (or exported) by the CLI, no profile."""
    _no_sandbox(monkeypatch)
    monkeypatch.setenv("FLOWLOGS_PROFILE", "prod")
    assert main(["--demo"]) == 0
    [(settings, kwargs)] = run_app.calls
    assert (kwargs["demo"], settings.profile, "AWS_ENDPOINT_URL" in os.environ) == (True, None, False)


def test_tui_gets_the_session_factory_passed_to_main(run_app: _RunApp) -> None:
    def factory(settings: Any, *, endpoint_url: str | None = None) -> Any:
        raise AssertionError("not called by the CLI itself")

    assert main(["--fresh"], session_factory=factory) == 0
    assert run_app.calls[0][1]["session_factory"] is factory


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--keep"], "--keep needs --demo"),
        (["--resume", "--fresh"], "argument --fresh: not allowed with argument --resume"),
        (["--resume", "scan"], "--resume: only for the TUI, not with scan"),
        (["--demo", "--keep", "permissions"], "--keep: only for the TUI, not with permissions"),
    ],
)
def test_misused_tui_flags_are_usage_errors(
    run_app: _RunApp, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert (info.value.code, message in capsys.readouterr().err, run_app.calls) == (2, True, [])


def test_demo_sub_command_still_starts_the_sandbox_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`flowlogs --demo COMMAND` starts (and exports) the sandbox before the command runs, and stops it."""
    events: list[str] = []

    class FakeSandbox:
        def __enter__(self) -> FakeSandbox:
            events.append("started")
            return self

        def __exit__(self, *exc: object) -> None:
            events.append("stopped")

        def export_env(self, env: dict[str, str]) -> None:
            events.append("exported")

    def permissions_run(ctx: Any) -> int:
        events.append("ran")
        return 0

    monkeypatch.setattr("aws.sandbox.server.start_sandbox", lambda: FakeSandbox())
    monkeypatch.setattr("tui.commands.permissions.run", permissions_run)
    assert main(["--demo", "permissions"]) == 0
    assert events == ["started", "exported", "ran", "stopped"]
