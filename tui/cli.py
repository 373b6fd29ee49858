"""The `flowlogs` command: the TUI by default, or a headless sub-command (`scan`, `plan`, `apply`,
`policy`, `verify`, `demo-server`) with `--json` output and meaningful exit codes.

Exit codes: 0 success; 1 done but not converged (some regions failed, sources still waiting, changes
failed or skipped); 2 usage or credential errors, a held lock; 3 AWS access errors (where a command
distinguishes them).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

from aws.errors import FlowlogsError
from aws.regions import validate_region
from aws.session import AwsSession
from tui.commands import COMMAND_MODULES
from tui.config import Settings, load_settings
from tui.factory import make_session

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ACCESS = 0, 1, 2, 3
_KIND_EXIT = {"usage": EXIT_USAGE, "credentials": EXIT_USAGE, "access": EXIT_ACCESS, "read-only": EXIT_USAGE}


@dataclass
class CliContext:
    args: argparse.Namespace
    settings: Settings
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _session: AwsSession | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def session(self) -> AwsSession:
        if self._session is None:
            self._session = make_session(self.settings, endpoint_url=getattr(self.args, "endpoint_url", None))
        return self._session

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def err(self, text: str) -> None:
        print(text, file=self.stderr)

    def emit_json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, default=str), file=self.stdout)


def _command_modules() -> list[ModuleType]:
    mods = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(f"tui.commands.{name}"))
        except ModuleNotFoundError as err:
            if err.name != f"tui.commands.{name}":
                raise
    return mods


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted both before and after the sub-command (`flowlogs --demo scan` and
    `flowlogs scan --demo`). After it, defaults are suppressed so they don't undo the ones before."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--profile", default=default(None), help="AWS profile (SSO, assume-role and credential_process work)"
    )
    parser.add_argument(
        "--region", default=default(None), help="home region (default: the profile's, else us-east-1)"
    )
    parser.add_argument(
        "--read-only", action="store_true", default=default(None), help="refuse every mutating AWS call"
    )
    parser.add_argument(
        "--demo", action="store_true", default=default(False), help="run against the embedded demo sandbox"
    )


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, suppress=True)

    parser = argparse.ArgumentParser(
        prog="flowlogs",
        description="Set up VPC flow logs and Network Firewall logs into S3 for Kentik.",
        epilog="Exit codes: 0 ok, 1 partial, 2 usage/credentials, 3 AWS access.",
    )
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP, parents=[common])
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        mod.add_arguments(p)
        modules[mod.NAME] = mod
    demo = sub.add_parser(
        "demo-server",
        help="serve the seeded demo sandbox; prints its endpoint URL on the first line",
        parents=[common],
    )
    demo.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--cadence", type=float, default=None, help="seconds between simulated log deliveries")
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(profile=args.profile, region=args.region, read_only=args.read_only)
    except ValueError as err:
        print(f"flowlogs: invalid settings: {err}", file=sys.stderr)
        return EXIT_USAGE
    if settings.region is not None:
        # Before any session or AWS call (and before the TUI starts): a mistyped home region is a usage
        # error that names the closest valid region, never a botocore parser error.
        try:
            validate_region(settings.region, what="--region" if args.region else "region setting")
        except FlowlogsError as err:
            print(f"flowlogs: {err}", file=sys.stderr)
            return EXIT_USAGE
    with ExitStack() as stack:
        if (args.command == "demo-server" or args.demo) and importlib.util.find_spec("moto") is None:
            print(
                "flowlogs: the demo sandbox needs moto, which is not installed.\n"
                "Install the demo extra: pipx install '.[demo]' (or pip install 'flowlogs-tui[demo]').",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if args.command == "demo-server":
            return _serve_demo(args)
        if args.demo:
            from aws.sandbox.server import start_sandbox

            sandbox = stack.enter_context(start_sandbox())
            sandbox.export_env(os.environ)
            settings = settings.model_copy(update={"profile": None})
        if args.command is None:
            from tui.app import run_app

            return run_app(settings, demo=bool(args.demo))
        ctx = CliContext(args=args, settings=settings)
        try:
            return int(modules[args.command].run(ctx))
        except FlowlogsError as err:
            ctx.err(f"flowlogs {args.command}: {err}")
            return _KIND_EXIT.get(err.kind, EXIT_PARTIAL)
        except KeyboardInterrupt:
            ctx.err("interrupted")
            return 130
    return EXIT_OK


def _serve_demo(args: argparse.Namespace) -> int:
    from aws.sandbox.server import start_sandbox

    with start_sandbox(port=args.port, cadence=args.cadence) as sandbox:
        print(sandbox.endpoint_url, flush=True)
        print(
            f"# demo sandbox for account {sandbox.account_id}; use: "
            f"AWS_ENDPOINT_URL={sandbox.endpoint_url} AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo",
            flush=True,
        )
        with suppress(KeyboardInterrupt):
            sandbox.wait()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
