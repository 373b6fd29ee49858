"""The `flowlogs` command: the TUI by default, or a headless sub-command (`scan`, `plan`, `apply`,
`policy`, `verify`, `demo-server`) with `--json` output and meaningful exit codes.

Exit codes, the same for every command (`EXIT_CODES`, shown by `flowlogs --help` and in the README):
0 done and converged; 1 done but not converged; 2 usage, bad or refused input; 3 AWS access denied;
4 AWS unreachable. A command stopped by an error exits with that error's code (`_KIND_EXIT`); one that
finished with some parts failed exits 1, or 3 / 4 when no part succeeded and every failure was access
denied / unreachable (`exit_for`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from aws.limits import DEFAULT_ACCOUNT_WORKERS, MAX_ACCOUNT_WORKERS, ORG_ACCESS_ROLE
from tui.commands import COMMAND_MODULES

if TYPE_CHECKING:
    from aws.kentik.api import KentikClient
    from aws.org import AccountSelection
    from aws.plans.change import ApplyReport
    from aws.session import AwsSession
    from tui.config import SessionFactory, Settings

# `flowlogs --help`, `flowlogs COMMAND --help` and usage errors import neither the engine nor boto3, pydantic
# or Textual (tests/test_startup.py): this module and the command modules import those where they are
# used, after the arguments are parsed.

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ACCESS = 0, 1, 2, 3
EXIT_UNREACHABLE = 4
# FlowlogsError.kind -> exit code; any other kind (an AWS error that is none of these) exits 1.
_KIND_EXIT = {
    "usage": EXIT_USAGE,
    "credentials": EXIT_USAGE,
    "read-only": EXIT_USAGE,
    "access": EXIT_ACCESS,
    "network": EXIT_UNREACHABLE,
}
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "done and converged"),
    (
        EXIT_PARTIAL,
        "done but not converged: changes failed or skipped, regions failed, sources still waiting",
    ),
    (
        EXIT_USAGE,
        "usage, bad or refused input: tampered, stale or foreign plan, read-only, held lock, credentials",
    ),
    (EXIT_ACCESS, "AWS access denied"),
    (EXIT_UNREACHABLE, "AWS unreachable: connection refused, timeouts, throttled beyond the retry budget"),
)
EXIT_RULE = (
    "A command stopped by an error exits with its code (2, 3 or 4). One that finished with some regions, "
    "changes or sources failed exits 1, or 3 / 4 when none succeeded and every failure was access denied "
    "/ AWS unreachable (e.g. a scan whose every region was unreachable: 4)."
)


DEMO_SERVER_HELP = (
    "Serve the seeded demo sandbox (an in-memory AWS account on 127.0.0.1, with simulated log deliveries) "
    "until interrupted. The first line printed is its endpoint URL; point any command at it with "
    "AWS_ENDPOINT_URL=URL AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo (the second line shows it). "
    "It also serves a local fake of Kentik's Cloud Export API and plan list, whose export statuses are "
    "Kentik's view of the sandbox (can it assume the role, read the bucket, find log files); the third "
    "line shows the KENTIK_API_URL, KENTIK_V5_API_URL, KENTIK_EMAIL and KENTIK_API_TOKEN to use with it. "
    "Needs the demo extra (moto)."
)


def exit_code_help(width: int = 79) -> str:
    """The exit-code table for `flowlogs --help` (lines of at most `width` columns)."""
    rows = [
        textwrap.fill(text, width, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
        for code, text in EXIT_CODES
    ]
    return "\n".join(["Exit codes (every command):", *rows, "", textwrap.fill(EXIT_RULE, width)])


def exit_for_kind(kind: str) -> int:
    """The exit code of a command stopped by an error of this `FlowlogsError.kind`."""
    return _KIND_EXIT.get(kind, EXIT_PARTIAL)


def exit_for(failed_kinds: Sequence[str], *, succeeded: int) -> int:
    """The exit code of a command that finished: 0 when nothing failed; when nothing succeeded and every
    failure has the same access / network kind, that kind's code (3 / 4); otherwise 1."""
    if not failed_kinds:
        return EXIT_OK
    kinds = set(failed_kinds)
    if succeeded == 0 and len(kinds) == 1:
        code = _KIND_EXIT.get(kinds.pop())
        if code in (EXIT_ACCESS, EXIT_UNREACHABLE):
            return code
    return EXIT_PARTIAL


def exit_for_report(report: ApplyReport) -> int:
    """The exit code of an apply: 2 when a change was refused as stale or altered (plan again) or every
    failure was refused input (e.g. Kentik rejecting a field, HTTP 400), else from the kinds of the failed
    changes (`exit_for`)."""
    from aws.plans.change import DONE

    if report.stale:
        return EXIT_USAGE
    if report.problems and all(r.error_kind == "usage" for r in report.problems):
        return EXIT_USAGE
    done = sum(1 for r in report.results if r.status in DONE)
    return exit_for([r.error_kind or "error" for r in report.problems], succeeded=done)


# -- list options -----------------------------------------------------------------------------------
def add_list_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, *, metavar: str, help: str
) -> None:
    """An option taking a list, the same way in every command: comma- or space-separated, repeatable
    (`--regions a,b c --regions d`). Read it with `split_list`."""
    parser.add_argument(
        flag,
        nargs="+",
        action="extend",
        default=None,
        metavar=metavar,
        help=f"{help} (comma- or space-separated)",
    )


def split_list(values: Iterable[str] | None) -> list[str]:
    """The items of a list option (`add_list_option`, or any comma-separated option): split on commas,
    stripped, blanks dropped, in the order given."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


# -- accounts (AWS Organizations) ---------------------------------------------------------------------
def add_account_options(
    parser: argparse.ArgumentParser, *, accounts: bool = True, role_default: str = ORG_ACCESS_ROLE
) -> None:
    """The flags that make a command cover many accounts, the same in every command. `accounts=False`
    leaves out --accounts / --assume-role / --external-id for a command that has its own (policy)."""
    g = parser.add_argument_group("accounts (AWS Organizations)")
    g.add_argument(
        "--org",
        action="store_true",
        help="every ACTIVE account of the organization (organizations:ListAccounts: run from the "
        "management account or a delegated administrator)",
    )
    if accounts:
        add_list_option(g, "--accounts", metavar="ID", help="these member accounts (12-digit ids)")
    add_list_option(g, "--exclude-accounts", metavar="ID", help="leave these accounts out")
    if accounts:
        g.add_argument(
            "--assume-role",
            metavar="NAME",
            default=None,
            help=f"our access role in each member account (default {role_default}); not Kentik's role",
        )
        g.add_argument("--external-id", default="", metavar="ID", help="sts:ExternalId that role requires")
    g.add_argument(
        "--account-workers",
        type=int,
        default=DEFAULT_ACCOUNT_WORKERS,
        metavar="N",
        help=f"accounts worked on at once, 1-{MAX_ACCOUNT_WORKERS} (default {DEFAULT_ACCOUNT_WORKERS}); each "
        "scans its regions with its own region workers (the scan_workers setting, or --workers)",
    )


def account_selection(args: argparse.Namespace) -> AccountSelection:
    """The validated account selection of a command's flags (a one-account run when none is given)."""
    from aws.org import AccountSelection

    return AccountSelection.parse(
        org=bool(getattr(args, "org", False)),
        accounts=split_list(getattr(args, "accounts", None)),
        exclude=split_list(getattr(args, "exclude_accounts", None)),
        assume_role=getattr(args, "assume_role", None),
        external_id=getattr(args, "external_id", "") or "",
    )


# -- Kentik ----------------------------------------------------------------------------------------------
def add_kentik_options(parser: argparse.ArgumentParser) -> None:
    """Where Kentik's API is, the same in every command that calls it. The credentials are never flags:
    KENTIK_EMAIL and KENTIK_API_TOKEN come from the environment only."""
    g = parser.add_argument_group("Kentik (credentials from KENTIK_EMAIL and KENTIK_API_TOKEN)")
    g.add_argument(
        "--kentik-region",
        choices=("us", "eu"),
        default="us",
        help="Kentik's US or EU API hosts (default us)",
    )
    g.add_argument(
        "--kentik-api-url",
        default=None,
        metavar="URL",
        help="the Cloud Export API base URL (wins over KENTIK_API_URL; KENTIK_V5_API_URL sets the plans API)",
    )


def kentik_client(ctx: CliContext) -> KentikClient:
    """A Kentik client for a command's --kentik-* flags: credentials from the environment (exit 2 when
    they are not set), read-only mode and the audit log of the command's AWS session."""
    from aws.kentik.access import KentikCredentials
    from aws.kentik.api import KentikClient

    session = ctx.session()
    return KentikClient(
        KentikCredentials.from_env(),
        region=ctx.args.kentik_region,
        api_url=ctx.args.kentik_api_url,
        read_only=ctx.settings.read_only,
        audit=session.audit,
    )


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error that says how to pass a value starting with '-' (`--bucket=-x`):
    argparse reads `--bucket -x` as an option with its value missing."""

    _argv: list[str]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        match = re.match(r"argument (\S+): expected (?:one|at least one) argument", message)
        argv = getattr(self, "_argv", [])
        if match:
            flags = match[1].split("/")
            for i, word in enumerate(argv[:-1]):
                value = argv[i + 1]
                if word in flags and value.startswith("-"):
                    message += (
                        f" ({value!r} starts with '-', so it was read as an option; to give it as the "
                        f"value, write {word}={value})"
                    )
                    break
        super().error(message)


def make_session(settings: Settings, *, endpoint_url: str | None = None) -> AwsSession:
    """The real session factory, `tui.factory.make_session`, imported when the first session is made."""
    from tui.factory import make_session as factory

    return factory(settings, endpoint_url=endpoint_url)


@dataclass
class CliContext:
    args: argparse.Namespace
    settings: Settings
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    session_factory: SessionFactory = make_session
    _session: AwsSession | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def session(self) -> AwsSession:
        if self._session is None:
            endpoint_url = getattr(self.args, "endpoint_url", None)
            self._session = self.session_factory(self.settings, endpoint_url=endpoint_url)
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


def _tui_options(parser: argparse.ArgumentParser) -> None:
    """Options of the TUI alone (no sub-command): how to treat saved wizard state, the demo's changes, and
    the accounts discovery scans (the same flags as the headless commands')."""
    tui = parser.add_argument_group("the TUI (no COMMAND)")
    saved = tui.add_mutually_exclusive_group()
    saved.add_argument(
        "--resume",
        dest="resume",
        action="store_const",
        const=True,
        default=None,
        help="resume the saved wizard state without asking (default: ask when there is some)",
    )
    saved.add_argument(
        "--fresh",
        dest="resume",
        action="store_const",
        const=False,
        help="start fresh without asking (the saved wizard state is not resumed)",
    )
    tui.add_argument(
        "--keep",
        action="store_true",
        help="with --demo: re-apply the demo's recorded changes to the fresh sandbox on start",
    )
    # --org / --accounts ...: discovery scans every account (an account column, a summary per account);
    # the later steps set up one account (the caller's own when it is among them).
    add_account_options(parser)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    common = ArgumentParser(add_help=False)
    _common_options(common, suppress=True)

    parser = ArgumentParser(
        prog="flowlogs",
        description="Set up VPC flow logs and Network Firewall logs into S3 for Kentik.",
        epilog=exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser, suppress=False)
    _tui_options(parser)
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
        description=DEMO_SERVER_HELP,
        parents=[common],
    )
    demo.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--cadence", type=float, default=None, help="seconds between simulated log deliveries")
    demo.add_argument(
        "--org-members",
        type=int,
        default=0,
        metavar="N",
        help="also make the demo account an organization's management account with N member accounts "
        "(each with VPCs, reached through OrganizationAccountAccessRole), to try --org",
    )
    demo.add_argument(
        "--org-refusing",
        type=int,
        default=0,
        metavar="K",
        help="with --org-members: the last K members' roles refuse the management account (the failure path)",
    )
    return parser, modules


ACCOUNT_FLAGS = (
    "--org",
    "--accounts",
    "--exclude-accounts",
    "--assume-role",
    "--external-id",
    "--account-workers",
)


def _check_account_flags_place(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> None:
    """The account flags belong after the command (`flowlogs scan --org`): before it they would be the
    TUI's and the command's own defaults would silently win. A usage error (exit 2) says where they go."""
    if args.command is None or args.command not in argv:
        return
    before = argv[: list(argv).index(args.command)]
    given = [f for f in ACCOUNT_FLAGS if any(word == f or word.startswith(f + "=") for word in before)]
    if given:
        parser.error(f"{', '.join(given)}: put it after the command (flowlogs {args.command} {given[0]} ...)")


def _check_tui_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--resume / --fresh / --keep are the TUI's; --keep needs --demo. Otherwise a usage error (exit 2)."""
    given = [
        flag
        for flag, on in (
            ("--resume", args.resume is True),
            ("--fresh", args.resume is False),
            ("--keep", args.keep),
        )
        if on
    ]
    if args.command is not None and given:
        parser.error(f"{', '.join(given)}: only for the TUI, not with {args.command}")
    if args.keep and not args.demo:
        parser.error("--keep needs --demo: it re-applies the demo's recorded changes to the fresh sandbox")


def main(argv: Sequence[str] | None = None, *, session_factory: SessionFactory = make_session) -> int:
    """The `flowlogs` command. `session_factory` makes the AWS session (tests pass one on moto)."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    _check_tui_options(parser, args)
    _check_account_flags_place(parser, args, list(sys.argv[1:] if argv is None else argv))
    from tui.config import load_settings

    try:
        settings = load_settings(profile=args.profile, region=args.region, read_only=args.read_only)
    except ValueError as err:
        print(f"flowlogs: invalid settings: {err}", file=sys.stderr)
        return EXIT_USAGE
    if settings.region is not None:
        from aws.errors import FlowlogsError
        from aws.regions import validate_region

        # Before any session or AWS call (and before the TUI starts): a mistyped home region is a usage
        # error that names the closest valid region, never a botocore parser error.
        try:
            validate_region(settings.region, what="--region" if args.region else "region setting")
        except FlowlogsError as err:
            print(f"flowlogs: {err}", file=sys.stderr)
            return EXIT_USAGE
    if (args.command == "demo-server" or args.demo) and importlib.util.find_spec("moto") is None:
        print(
            "flowlogs: the demo sandbox needs moto, which is not installed.\n"
            "Install the demo extra: pipx install '.[demo]' (or pip install 'flowlogs-tui[demo]').",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "demo-server":
        return _serve_demo(args)
    if args.command is None:
        # The TUI. With --demo it starts the sandbox itself, in the background: its first frame does not
        # wait for moto to start and the account to be seeded.
        from tui.factory import run_app

        if args.demo:
            settings = settings.model_copy(update={"profile": None})
        from aws.errors import ValidationFailed

        try:  # before the app starts: a mistyped account id is a usage error, printed
            accounts = account_selection(args)
            if not 1 <= args.account_workers <= MAX_ACCOUNT_WORKERS:
                raise ValidationFailed(
                    f"--account-workers must be between 1 and {MAX_ACCOUNT_WORKERS}, not {args.account_workers}."
                )
        except ValidationFailed as err:
            print(f"flowlogs: {err}", file=sys.stderr)
            return EXIT_USAGE
        return run_app(
            settings,
            demo=bool(args.demo),
            session_factory=session_factory,
            resume=args.resume,
            keep=bool(args.keep),
            accounts=accounts,
            account_workers=args.account_workers,
        )
    with ExitStack() as stack:
        if args.demo:  # a headless command runs against the sandbox once it is seeded
            from aws.sandbox.server import start_sandbox

            sandbox = stack.enter_context(start_sandbox())
            sandbox.export_env(os.environ)
            settings = settings.model_copy(update={"profile": None})
        ctx = CliContext(args=args, settings=settings, session_factory=session_factory)
        return _run_command(ctx, modules[args.command])


def _run_command(ctx: CliContext, module: ModuleType) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from aws.errors import FlowlogsError, explain

    command = ctx.args.command
    try:
        return int(module.run(ctx))
    except FlowlogsError as err:
        ctx.err(f"flowlogs {command}: {err}")
        return exit_for_kind(err.kind)
    except (ClientError, BotoCoreError) as err:  # an AWS error no engine code explained: explain it
        explained = explain(err, profile=ctx.settings.profile)
        ctx.err(f"flowlogs {command}: {explained}")
        return exit_for_kind(explained.kind)
    except KeyboardInterrupt:
        ctx.err("interrupted")
        return 130


def _serve_demo(args: argparse.Namespace) -> int:
    from aws.sandbox.server import DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY, start_sandbox

    if not 0 <= args.org_refusing <= args.org_members:
        print("flowlogs demo-server: --org-refusing must be between 0 and --org-members", file=sys.stderr)
        return EXIT_USAGE
    with start_sandbox(port=args.port, cadence=args.cadence) as sandbox:
        if args.org_members:
            from aws.sandbox.org_seed import seed_organization

            n, k = args.org_members, args.org_refusing
            seed_organization(sandbox.endpoint_url, members=n, refusing=list(range(n - k, n)))
        print(sandbox.endpoint_url, flush=True)
        aws_env = {
            "AWS_ENDPOINT_URL": sandbox.endpoint_url,
            "AWS_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEMO_SECRET_ACCESS_KEY,
        }
        print(
            f"# demo sandbox for account {sandbox.account_id}; use: "
            + " ".join(f"{k}={v}" for k, v in aws_env.items()),
            flush=True,
        )
        print(
            "# demo Kentik Cloud Export API and plan list; use: "
            + " ".join(f"{k}={v}" for k, v in sandbox.kentik_env().items()),
            flush=True,
        )
        with suppress(KeyboardInterrupt):
            sandbox.wait()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
