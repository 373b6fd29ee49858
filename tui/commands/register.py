"""`flowlogs register`: register the log buckets in Kentik (one AWS cloud export per bucket and prefix).

    flowlogs register --plan-id ID [--role NAME | --role-arn ARN] [--bucket NAME[/PREFIX] … | --plan FILE]

Which buckets: `--bucket` (with `--firewall-logs` when firewall logs land there too), else the read set of
a plan file (`--plan`: where its logs go decides flow and firewall, one export per prefix), else the saved
wizard state of this account; with none of these, exit 2. The Kentik role: `--role-arn`, or `--role` (a
name in the caller's account), else the one the plan or the saved state names.

Kentik's exports are listed first: one that already reads a bucket as needed is left alone (a rerun
registers nothing); one that differs is shown as a diff and updated only when confirmed (`--yes`, or y on
a terminal), keeping what was set in the portal. Every call is a Change like an AWS change (previewed,
audited without the token, refused in read-only mode); `-o FILE` saves them as a plan that `flowlogs apply
--plan FILE` runs. Credentials: KENTIK_EMAIL and KENTIK_API_TOKEN, from the environment only.

Exit codes as every command: 0 registered (or nothing to do); 1 a change failed; 2 bad input, missing
credentials, read-only, not confirmed, or Kentik rejected a field (HTTP 400); 3 Kentik refused the
credentials (401/403) or AWS access denied; 4 Kentik or AWS unreachable.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tui.cli import (
    EXIT_OK,
    EXIT_USAGE,
    add_kentik_options,
    add_list_option,
    exit_for_report,
    kentik_client,
    split_list,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws.coverage import ReadLocation
    from aws.kentik.api import KentikClient
    from aws.kentik.models import CloudExport
    from aws.kentik.register import ExportTarget, Nested, Registration
    from aws.plans.change import ApplyReport, Plan
    from aws.session import AwsSession
    from tui.cli import CliContext

NAME = "register"
HELP = "register the log buckets in Kentik (one cloud export per bucket), idempotently"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan-id", default=None, metavar="ID", help="the Kentik billing plan (see --list-plans)"
    )
    parser.add_argument("--list-plans", action="store_true", help="list Kentik's plans (the v5 API) and exit")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--role", default=None, metavar="NAME", help="Kentik's role in this account")
    role.add_argument("--role-arn", default=None, metavar="ARN", help="Kentik's role, by ARN")
    where = parser.add_mutually_exclusive_group()
    add_list_option(
        where, "--bucket", metavar="NAME[/PREFIX]", help="the log buckets (and prefixes) to register"
    )
    where.add_argument(
        "--plan", type=Path, default=None, metavar="FILE", help="register the read set of this plan file"
    )
    parser.add_argument(
        "--firewall-logs",
        action="store_true",
        help="with --bucket: firewall logs land there too (collectFirewallLogs)",
    )
    parser.add_argument(
        "--name-template",
        default=None,
        metavar="T",
        help="name of each new export, from {bucket} {region} {account} {prefix} (default {bucket}); "
        "existing exports keep their name",
    )
    nested = parser.add_argument_group("Kentik's nested setup (AWS Organizations)")
    nested.add_argument(
        "--kentik-spoke-role",
        default=None,
        metavar="NAME",
        help="the role Kentik assumes in each member account (secondaryAwsSuffix): makes it nested",
    )
    nested.add_argument(
        "--org",
        action="store_true",
        help="the members are the organization's ACTIVE accounts, and the role is the organization's",
    )
    add_list_option(nested, "--accounts", metavar="ID", help="the member accounts (default: the plan's)")
    add_list_option(nested, "--exclude-accounts", metavar="ID", help="accounts Kentik leaves out")
    add_list_option(nested, "--regions", metavar="REGION", help="regions Kentik reads in the members")
    parser.add_argument("--yes", action="store_true", help="do not ask; also update differing exports")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, metavar="FILE", help="save the plan; do not apply"
    )
    add_kentik_options(parser)


def run(ctx: CliContext) -> int:
    from aws.kentik.access import KentikCredentials

    args = ctx.args
    if not args.list_plans:
        check_inputs(args)  # bad input: exit 2 before any call, credentials or not
    KentikCredentials.from_env()  # missing credentials: exit 2 before any call
    client = kentik_client(ctx)
    if args.list_plans:
        kentik_plans = client.list_plans()
        if ctx.json:
            ctx.emit_json([p.model_dump(mode="json") for p in kentik_plans])
        else:
            for p in kentik_plans:
                ctx.out(f"{p.id:>10}  {p.name}" + ("" if p.active in (None, True) else "  (inactive)"))
        return EXIT_OK
    plans, targets_of, saved_role = _sources(ctx)
    session = ctx.session()
    identity = session.identity()
    role_arn = args.role_arn or (
        f"arn:{identity.partition}:iam::{identity.account}:role/{args.role}" if args.role else saved_role
    )
    _check_role(ctx, session, role_arn, identity.account)
    targets = targets_of(session, identity.account)
    registration = _registration(ctx, role_arn, plans, targets, session)
    from aws.kentik.register import registration_plan

    plan, found = registration_plan(
        client.list_exports(), targets, registration, account=identity.account, partition=identity.partition
    )
    _preview(ctx, plan, found.unchanged, found.notes)
    if args.output:
        args.output.write_text(plan.to_json())
        ctx.err(f"Plan written to {args.output}; apply it with: flowlogs apply --plan {args.output}")
        return EXIT_OK
    if not plan.changes:
        if ctx.json:
            ctx.emit_json(_json(plan, found.unchanged, None))
        return EXIT_OK
    if ctx.settings.read_only:
        from aws.errors import ReadOnlyViolation

        raise ReadOnlyViolation(
            "Read-only mode is on: registering would change Kentik. Nothing was changed.",
            hint="Run without read-only mode to register.",
        )
    if not args.yes and not _confirmed(ctx, plan):
        return EXIT_USAGE
    report = _apply(ctx, plan, session, client)
    if ctx.json:
        ctx.emit_json(_json(plan, found.unchanged, report))
    return exit_for_report(report)


def check_inputs(args: argparse.Namespace) -> None:
    """Every flag that can be checked without a call, all problems at once (ValidationFailed)."""
    from aws.coverage import ReadLocation
    from aws.errors import FlowlogsError, ValidationFailed
    from aws.iam.nested import ROLE_ARN
    from aws.kentik.register import PLAN_ID, template_problems
    from aws.names import validate_bucket_name
    from aws.org import ROLE_NAME
    from aws.regions import validate_regions

    problems: list[str] = []
    plan_id = (args.plan_id or "").strip()
    if not PLAN_ID.match(plan_id):
        problems.append(
            f"--plan-id {plan_id!r} is not a Kentik plan id (see --list-plans)"
            if plan_id
            else "--plan-id is missing (flowlogs register --list-plans shows Kentik's plans)"
        )
    if args.role is not None and not ROLE_NAME.match(args.role):
        problems.append(f"--role {args.role!r} is not a role name (give an ARN with --role-arn)")
    if args.role_arn is not None and not ROLE_ARN.match(args.role_arn):
        problems.append(
            f"--role-arn {args.role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        )
    if args.kentik_spoke_role is not None and not ROLE_NAME.match(args.kentik_spoke_role):
        problems.append(f"--kentik-spoke-role {args.kentik_spoke_role!r} is not a role name")
    problems += [
        p.replace("the name template", "--name-template")
        for p in template_problems(args.name_template or "{bucket}")
    ]
    for text in split_list(args.bucket):
        try:
            location = ReadLocation.parse(text)
        except FlowlogsError as err:
            problems.append(f"--bucket: {err.message}")
            continue
        problems += [f"--bucket {location.bucket!r}: {p}" for p in validate_bucket_name(location.bucket)]
    try:
        validate_regions(split_list(args.regions))
    except FlowlogsError as err:
        problems.append(f"--regions: {err.message}")
    if args.firewall_logs and not args.bucket:
        problems.append("--firewall-logs goes with --bucket (a plan says where firewall logs go)")
    if (args.org or args.accounts or args.exclude_accounts or args.regions) and not args.kentik_spoke_role:
        problems.append("--org, --accounts, --exclude-accounts and --regions need --kentik-spoke-role")
    if args.org and args.accounts:
        problems.append("--org and --accounts: give one of them")
    bad = [
        a
        for a in split_list(args.accounts) + split_list(args.exclude_accounts)
        if not re.fullmatch(r"\d{12}", a)
    ]
    if bad:
        problems.append(f"not account ids (12 digits): {', '.join(bad)}")
    if problems:
        raise ValidationFailed("Cannot register in Kentik:\n- " + "\n- ".join(problems))


def _sources(ctx: CliContext) -> tuple[list[Plan], Callable[[AwsSession, str], list[ExportTarget]], str]:
    """The plans the buckets come from, a function (session, account) -> targets, and the Kentik role the
    plans or the saved state name ('' when none)."""
    from aws.coverage import ReadLocation
    from aws.errors import ValidationFailed
    from aws.kentik.register import targets_in
    from tui.commands.apply import load_plan

    args = ctx.args
    plans: list[Plan] = []
    if args.bucket:
        try:
            given = [ReadLocation.parse(text) for text in split_list(args.bucket)]
        except ValueError as err:
            raise ValidationFailed(f"--bucket: {err}") from None
        # A bucket given whole is read at its top AWSLogs/ folder; with a prefix, at that prefix.
        locations = [loc.model_copy(update={"kentik": False}) for loc in given]
        role = ""
    elif args.plan:
        plans = [load_plan(args.plan)]
        locations, role = list(plans[0].read_set), _plan_role(plans)
        if not locations:
            raise ValidationFailed(f"The plan {args.plan} reads no bucket: nothing to register.")
    else:
        plans, locations, role = _saved_state(ctx)

    def of(session: AwsSession, account: str) -> list[ExportTarget]:
        return targets_in(session, locations, plans, account=account, firewall=args.firewall_logs)

    return plans, of, role


def _plan_role(plans: list[Plan]) -> str:
    """The Kentik role a plan names (`flowlogs plan --role`, or the role whose inline policy it writes), as
    an ARN in the plan's own account; '' when none or several."""
    from aws.org import ROLE_NAME

    arns = {
        f"arn:{plan.partition}:iam::{plan.account}:role/{name}"
        for plan in plans
        for name in [
            plan.settings.get("kentik_role"),
            *(c.params.get("RoleName") for c in plan.changes if c.kind == "iam.put-role-policy"),
        ]
        if isinstance(name, str) and ROLE_NAME.match(name)
    }
    return arns.pop() if len(arns) == 1 else ""


def _saved_state(ctx: CliContext) -> tuple[list[Plan], list[ReadLocation], str]:
    import os

    from aws.errors import ValidationFailed
    from aws.session import custom_endpoint
    from tui.config import state_dir
    from tui.resume import ResumeStore, UnreadableState

    session = ctx.session()
    endpoint = custom_endpoint(session.options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")) or "aws"
    store = ResumeStore(state_dir() / "resume")
    account = session.identity().account
    try:
        saved = store.load(account, endpoint, session.options.profile or "")
    except UnreadableState as err:
        raise ValidationFailed(str(err).replace("; starting fresh.", ".")) from None
    state = saved.wizard_state() if saved else None
    locations = state.read_locations() if state else []
    if not locations:
        raise ValidationFailed(
            f"No buckets to register: give --bucket NAME or --plan FILE (no saved wizard state for account "
            f"{account} names any)."
        )
    plans = [applied.plan for applied in state.applied] if state else []
    return plans, list(locations), (state.kentik_role_arn if state else "") or _plan_role(plans)


def _check_role(ctx: CliContext, session: AwsSession, role_arn: str, account: str) -> None:
    """A role of this account must exist (else a usage error, exit 2); one that does not trust Kentik's
    account is registered with a warning (Kentik will report no API access until it does)."""
    from aws.iam.accounts import role_trust

    parts = role_arn.split(":")
    if len(parts) < 6 or parts[4] != account:
        return  # another account's role: only Kentik can tell (its status shows API access)
    trust = role_trust(session, parts[5].split("/")[-1])
    if not trust.kentik:
        ctx.err(
            f"Warning: role {trust.arn} does not trust Kentik's AWS account (834693425129): Kentik will report "
            "no API access until it does (flowlogs policy --create-role makes a role that does)."
        )


def _registration(
    ctx: CliContext, role_arn: str, plans: list[Plan], targets: list[ExportTarget], session: AwsSession
) -> Registration:
    from aws.kentik.register import Registration

    args = ctx.args
    nested: Nested | None = None
    if args.kentik_spoke_role:
        nested = _nested(ctx, plans, targets, session)
    return Registration.parse(
        plan_id=args.plan_id or "", role_arn=role_arn, name_template=args.name_template, nested=nested
    )


def _nested(ctx: CliContext, plans: list[Plan], targets: list[ExportTarget], session: AwsSession) -> Nested:
    from aws.errors import ValidationFailed
    from aws.kentik.register import Nested, source_regions
    from aws.org import list_org_accounts
    from aws.plans.org_settings import org_settings

    args = ctx.args
    caller = session.identity().account
    blocked = split_list(args.exclude_accounts)
    if args.accounts:
        members = split_list(args.accounts)
    elif args.org:
        members = [m.account for m in list_org_accounts(session)]
    else:
        members = sorted({a for p in plans if (org := org_settings(p)) for a in org.members})
    regions = split_list(args.regions) or source_regions(plans)
    if not regions:
        raise ValidationFailed(
            "--regions: say which regions Kentik reads in the member accounts (no plan names the regions "
            "of the log sources)."
        )
    return Nested(
        org=bool(args.org),
        accounts=sorted({a for a in members if a != caller and a not in blocked}),
        blocked=sorted(set(blocked)),
        regions=regions,
        suffix=args.kentik_spoke_role,
    )


def _preview(
    ctx: CliContext, plan: Plan, unchanged: list[tuple[ExportTarget, CloudExport]], notes: list[str]
) -> None:
    from aws.plans.change import executor_for

    if ctx.json:
        return
    for target, export in unchanged:
        ctx.out(f"= {target.shown} is read by Kentik export {export.name!r} ({export.id}): as needed")
    for note in notes:
        ctx.out(f"note: {note}")
    if not plan.changes:
        ctx.out("Nothing to register: Kentik already reads every bucket as this setup needs.")
        return
    ctx.out(plan.summary())
    for n, change in enumerate(plan.changes, 1):
        ctx.out(f"{n:>3}. {executor_for(change.kind).preview(change)}")


def _confirmed(ctx: CliContext, plan: Plan) -> bool:
    updates = [c for c in plan.changes if c.destructive]
    if not sys.stdin.isatty():
        ctx.err(
            "Refusing to register without confirmation: pass --yes"
            + (f" (it also updates {len(updates)} existing export(s), shown above)" if updates else "")
            + ". Nothing was changed."
        )
        return False
    what = f"{len(plan.changes) - len(updates)} new, {len(updates)} updated"
    answer = input(f"Register in Kentik ({what})? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        ctx.err("Not registered. Nothing was changed.")
        return False
    return True


def _apply(ctx: CliContext, plan: Plan, session: AwsSession, client: KentikClient) -> ApplyReport:
    from tui.commands.apply import run_plan

    report, _ = run_plan(ctx, plan, session, confirm_destructive=True, providers={"kentik": client})
    return report


def _json(
    plan: Plan, unchanged: list[tuple[ExportTarget, CloudExport]], report: ApplyReport | None
) -> dict[str, object]:
    return {
        "plan": plan.model_dump(mode="json"),
        "unchanged": [{**t.model_dump(), "export_id": e.id, "name": e.name} for t, e in unchanged],
        "report": report.model_dump(mode="json") if report else None,
        "ok": report.ok if report else True,
    }
