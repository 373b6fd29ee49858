"""`flowlogs plan`: make the plan (bucket part, flow logs and firewall part, IAM part) without changing
anything. Read calls only; works in read-only mode. The plan is printed and, with `-o`, written as JSON
for `flowlogs apply --plan FILE`.

Exit 0 when the plan covers every scanned region, 1 when some regions could not be scanned (the plan
does not cover them; a warning per region names the call that failed and what to try), 2 for invalid
choices (nothing is created), 3 / 4 when not one region could be scanned because access was denied / AWS
was unreachable (refused, timed out, or throttled beyond the retry budget), or when another read the plan
needs failed that way.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from aws.limits import EXISTING_DESTINATIONS, MAX_SCAN_WORKERS
from aws.logs.format import EXTRA_FIELDS  # pure: no boto3
from tui.cli import account_selection, add_account_options, add_list_option, split_list

if TYPE_CHECKING:
    from aws.coverage import ReadSet
    from aws.inventory import Inventory
    from aws.org import AccountSelection
    from aws.org_scan import OrgInventory
    from aws.plans.build import PlanBuild, PolicyPart
    from aws.plans.change import Change
    from aws.plans.choices import LogChoices
    from aws.plans.org_build import OrgPlanBuild
    from aws.s3.strategy import BucketChoice
    from tui.cli import CliContext

NAME = "plan"
HELP = "plan the bucket(s), flow logs, firewall logging and Kentik policy change; changes nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    b = parser.add_argument_group("bucket")
    b.add_argument("--strategy", choices=["central", "regional"], required=True)
    b.add_argument(
        "--bucket",
        required=True,
        metavar="NAME_OR_TEMPLATE",
        help="e.g. kentik-logs-{region}; with --account-regional the name prefix, e.g. kentik-logs",
    )
    b.add_argument(
        "--account-regional",
        action="store_true",
        help="new buckets in the account-regional namespace: --bucket is a name prefix and each bucket is "
        "PREFIX-ACCOUNT-REGION-an (nobody else can take such a name)",
    )
    b.add_argument("--bucket-region", metavar="R", help="the central bucket's region (default: home region)")
    b.add_argument(
        "--kms-key", action="append", metavar="ARN", help="SSE-KMS key ARN (one per bucket region)"
    )
    b.add_argument("--lifecycle-days", type=int, metavar="N", help="expire delivered logs after N days")
    r = parser.add_argument_group("flow logs and firewalls")
    add_list_option(r, "--regions", metavar="REGION", help="only these regions (default: every enabled one)")
    r.add_argument(
        "--resources",
        choices=["vpc", "subnet", "eni", "tgw"],
        default="vpc",
        help="what gets flow logs: VPCs (default), their subnets or network interfaces, or transit "
        "gateways (tgw: always 60 s aggregation, no traffic type)",
    )
    r.add_argument(
        "--include",
        action="append",
        metavar="IDS",
        help="only these ids: VPC ids; for subnet/eni also their own ids; for tgw transit gateway ids",
    )
    r.add_argument("--exclude", action="append", metavar="IDS", help="never these ids (as --include)")
    r.add_argument("--prefix", default="", help="flow log S3 prefix (not AWSLogs, no leading /)")
    r.add_argument(
        "--extra-fields",
        action="append",
        metavar="F1,F2",
        help=f"newer fields to add after the 29 v2-v5 fields, or 'all' ({', '.join(EXTRA_FIELDS)})",
    )
    r.add_argument("--aggregation", type=int, choices=[60, 600], default=600, help="seconds (default 600)")
    r.add_argument(
        "--replace-existing",
        action="store_true",
        help="also delete non-compliant flow logs after creating compliant ones (destructive)",
    )
    r.add_argument("--no-firewalls", action="store_true", help="leave Network Firewall logging alone")
    r.add_argument("--firewall-prefix", default="", help="e.g. firewall-logs/")
    r.add_argument("--firewall-logs", default="flow,alert", metavar="flow,alert[,tls]")
    r.add_argument(
        "--repoint-firewall-logs",
        action="store_true",
        help="repoint FLOW/ALERT logs that go to another S3 bucket (destructive)",
    )
    r.add_argument(
        "--existing-destinations",
        choices=EXISTING_DESTINATIONS,
        default="read",
        help="a complete flow or firewall log that goes to another bucket of this account: add that bucket "
        "(read only, below its AWSLogs/) to what Kentik reads (read, the default; one more Kentik device "
        "per bucket), or create a flow log to Kentik's bucket beside it (duplicate)",
    )
    r.add_argument(
        "--move-firewall-logs-to-s3",
        action="store_true",
        help="switch FLOW/ALERT logs that go to CloudWatch Logs or Firehose over to S3 (destructive)",
    )
    p = parser.add_argument_group("Kentik role policy (optional)")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--role", metavar="NAME", help="the role Kentik assumes: add its S3 (and KMS) read access"
    )
    who.add_argument("--policy-arn", metavar="ARN", help="the managed policy to extend")
    p.add_argument("--policy-name", metavar="NAME", help="which inline policy of --role")
    delete = p.add_mutually_exclusive_group()
    delete.add_argument("--allow-delete", action="store_true", help="grant s3:* (the spec's deletion option)")
    delete.add_argument(
        "--allow-delete-objects", action="store_true", help="grant only s3:DeleteObject on BUCKET/*"
    )
    parser.add_argument("--inventory", type=Path, metavar="FILE", help="use `flowlogs scan --json` output")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"regions scanned at once, 1-{MAX_SCAN_WORKERS} (default: the scan_workers setting, 12); fewer "
        "when AWS throttles",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the plan JSON here")
    add_account_options(parser)
    nested = parser.add_argument_group("Kentik's nested configuration (with --org / --accounts)")
    nested.add_argument(
        "--kentik-spoke-role",
        metavar="NAME",
        help="Kentik's secondary (spoke) role in each member: the S3 read statement goes into its policy in "
        "the account that owns each bucket",
    )
    nested.add_argument(
        "--kentik-role",
        metavar="NAME|ARN",
        help="Kentik's primary (hub) role, for the summary of what Kentik needs; never changed",
    )
    parser.add_argument(
        "--bucket-account",
        metavar="ID",
        default=None,
        help="with --org/--accounts: the account the central (or regional) bucket(s) live in, e.g. a "
        "log-archive account, reached through --assume-role (default: the caller's account)",
    )


def choices_from_args(
    args: argparse.Namespace, inventory: Inventory, home_region: str
) -> tuple[BucketChoice, LogChoices]:
    from aws.errors import ValidationFailed
    from aws.plans.build import resources_by_region
    from aws.plans.choices import LogChoices
    from aws.s3.strategy import BucketChoice

    resources = resources_by_region(inventory)
    extra = split_list(args.extra_fields)
    if extra == ["all"]:
        extra = list(EXTRA_FIELDS)
    log_types = [t.upper() for t in split_list([args.firewall_logs])]
    bad = [t for t in log_types if t not in ("FLOW", "ALERT", "TLS")]
    if bad:
        raise ValidationFailed(f"--firewall-logs takes flow, alert and tls, not: {', '.join(bad)}")
    bucket = BucketChoice(
        strategy=args.strategy,
        bucket=args.bucket,
        account_regional=args.account_regional,
        regions=sorted(resources),
        central_region=args.bucket_region or home_region,
        encryption="SSE-KMS" if args.kms_key else "SSE-S3",
        kms_key_arns=split_list(args.kms_key),
        prefixes=[p for p in (args.prefix, args.firewall_prefix) if p],
        lifecycle_days=args.lifecycle_days,
    )
    include = split_list(args.include) if args.include is not None else None
    if include == []:  # `--include ""` would plan no flow log at all: say so instead
        raise ValidationFailed(
            "--include names no ids: give VPC, subnet, ENI or transit gateway ids, or leave it out"
        )
    logs = LogChoices(
        resources=args.resources,
        include=include,
        exclude=split_list(args.exclude),
        prefix=args.prefix,
        extra_fields=extra,
        aggregation=args.aggregation,
        replace_existing=args.replace_existing,
        firewalls=not args.no_firewalls,
        firewall_prefix=args.firewall_prefix,
        firewall_logs=log_types,  # type: ignore[arg-type]
        repoint_existing=args.repoint_firewall_logs,
        replace_non_s3=args.move_firewall_logs_to_s3,
        existing_destinations=args.existing_destinations,
    )
    return bucket, logs


def load_inventory(ctx: CliContext) -> Inventory:
    from aws.discovery import scan
    from aws.discovery_api import validate_region_names
    from aws.errors import ValidationFailed
    from aws.inventory import Inventory

    if ctx.args.inventory:
        try:
            return Inventory.model_validate_json(ctx.args.inventory.read_text())
        except (OSError, ValueError) as err:
            raise ValidationFailed(f"--inventory {ctx.args.inventory}: not a scan result ({err})") from err
    regions = validate_region_names(split_list(ctx.args.regions), what="--regions")
    return scan(
        ctx.session(),
        include=regions or None,
        skip=ctx.settings.skip_regions or None,
        workers=ctx.args.workers if ctx.args.workers is not None else ctx.settings.scan_workers,
    )


def region_failures(inventory: Inventory) -> list[str]:
    """One line per region that could not be scanned: the call that failed, why, and what to try."""
    lines = []
    for region in inventory.failed_regions:
        err = region.error
        if err is None:
            lines.append(f"{region.name} not scanned.")
            continue
        if err.kind == "network":  # the message names the call, the region and the endpoint
            text = f"{region.name} not scanned: {err.message}"
        else:
            call = f"{err.service}:{err.operation}" if err.operation else err.service or "a call"
            text = f"{region.name} not scanned: {call} failed ({err.code}): {err.message}"
        lines.append(f"{text} Next: {err.hint}" if err.hint else text)
    return lines


def require_scanned(inventory: Inventory) -> None:
    """Refuse to plan when regions were to be scanned and not one could be: raised as the failures' kind
    (AWS unreachable: exit 4; access denied: exit 3), naming each region's failed call and what to try."""
    from aws.errors import AccessDeniedError, EndpointError, FlowlogsError

    failed = inventory.failed_regions
    if not failed or inventory.scanned_regions:
        return
    message = "Not one region could be scanned, so there is nothing to plan:\n" + "\n".join(
        f"  {line}" for line in region_failures(inventory)
    )
    kinds = {r.error.kind if r.error else "error" for r in failed}
    if kinds == {"network"}:
        raise EndpointError(
            message, hint="Rerun the plan once AWS answers; each line above says what to try."
        )
    if kinds == {"access"}:
        action = next((r.error.action for r in failed if r.error and r.error.action), "")
        raise AccessDeniedError(message, action=action, hint="Grant the actions named above and plan again.")
    raise FlowlogsError(message)


def render(build: PlanBuild) -> str:
    plan_id = (
        f"Plan {build.plan.id} (its resources are tagged flowlogs-plan={build.plan.id})"
        if build.plan.id
        else ""
    )
    lines = [build.plan.summary(), *([plan_id] if plan_id else []), ""]
    for n, change in enumerate(build.plan.changes, 1):
        lines.append(f"{n:>3}. {change.describe()}")
    if build.read_set.locations:
        lines += ["", "Kentik reads:"] + [
            f"  {loc.shown}" + ("" if loc.kentik else f"  (read only; {loc.reason})")
            for loc in build.read_set.locations
        ]
    if build.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in build.warnings]
    if build.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in build.notes]
    return "\n".join(lines)


def check_bucket_region(inventory: Inventory, region: str, *, what: str) -> str:
    """The central bucket's region must be a region of the account's partition that it has enabled."""
    from aws.inventory import RegionStatus
    from aws.regions import validate_region

    listed = [r.name for r in inventory.regions]
    enabled = [r.name for r in inventory.regions if r.status is not RegionStatus.NOT_ENABLED]
    return validate_region(
        region,
        partition=inventory.identity.partition,
        available=listed or None,
        enabled=enabled if listed else None,
        what=what,
    )


def check_bucket_name(args: argparse.Namespace) -> None:
    """Before any AWS call: refuse a --bucket no region or account could make valid (the naming rules,
    `aws.names.template_problems_anywhere`); the rest is checked once the scan gives the regions."""
    from aws.errors import ValidationFailed
    from aws.names import account_regional_template, template_problems_anywhere

    name = args.bucket.strip()
    if not name:
        return  # the full check asks for a name
    template = account_regional_template(name) if args.account_regional else name
    problems = template_problems_anywhere(template)
    if problems:
        raise ValidationFailed(f"--bucket {args.bucket!r} cannot name a bucket:\n- " + "\n- ".join(problems))


def run(ctx: CliContext) -> int:
    from aws.errors import ValidationFailed
    from aws.limits import MAX_LIFECYCLE_DAYS
    from aws.plans.build import build_plan
    from aws.regions import validate_region

    if ctx.args.lifecycle_days is not None and not 1 <= ctx.args.lifecycle_days <= MAX_LIFECYCLE_DAYS:
        raise ValidationFailed(f"--lifecycle-days must be from 1 to {MAX_LIFECYCLE_DAYS}")
    if ctx.args.bucket_region is not None:
        ctx.args.bucket_region = validate_region(ctx.args.bucket_region, what="--bucket-region")
    check_bucket_name(ctx.args)
    selection = account_selection(ctx.args)  # before any AWS call
    if selection.many:
        return run_accounts(ctx, selection)
    if ctx.args.bucket_account is not None:
        raise ValidationFailed("--bucket-account goes with --org or --accounts (a plan across accounts).")
    inventory = load_inventory(ctx)
    require_scanned(inventory)
    session = ctx.session()
    if ctx.args.strategy == "central":
        check_bucket_region(
            inventory,
            ctx.args.bucket_region or session.home_region,
            what="--bucket-region" if ctx.args.bucket_region else "--region, the bucket region by default",
        )
    try:
        bucket, logs = choices_from_args(ctx.args, inventory, session.home_region)
    except ValueError as err:  # pydantic validation
        raise ValidationFailed(f"invalid choice: {err}") from err
    if not bucket.regions:
        raise ValidationFailed("No region with VPCs or firewalls was found: nothing to send logs from.")
    build = build_plan(session, inventory, bucket, logs, policy_changes=policy_part(ctx))
    if ctx.args.role:  # Kentik's role, for `flowlogs register --plan` (a name: the plan's account's)
        build.plan.settings["kentik_role"] = ctx.args.role
    failed = [r.name for r in inventory.failed_regions]
    if failed:
        build.warnings.append(f"Regions not scanned, so not in this plan: {', '.join(failed)}")
        build.warnings.extend(region_failures(inventory))
    if ctx.args.output:
        ctx.args.output.write_text(build.plan.to_json())
    if ctx.json:
        ctx.emit_json(build.model_dump(mode="json"))
    else:
        ctx.out(render(build))
        if ctx.args.output:
            ctx.out(
                f"\nPlan written to {ctx.args.output}; apply with: flowlogs apply --plan {ctx.args.output}"
            )
    if build.delivery_blocked and not ctx.json:
        ctx.err("flowlogs plan: log delivery will fail until these policy statements change:")
        for line in build.delivery_blocked:
            ctx.err(f"  ! {line}")
    return 1 if failed or build.delivery_blocked else 0


def policy_part(ctx: CliContext) -> PolicyPart | None:
    """The IAM part joins the plan when --role / --policy-arn is given: every location Kentik must read."""
    args = ctx.args
    if not (args.role or args.policy_arn):
        return None

    def changes(read_set: ReadSet, keys: list[str]) -> list[Change]:
        from aws.iam.proposal import policy_changes
        from aws.iam.requirements import Requirements

        session = ctx.session()
        need = Requirements(
            buckets=tuple(read_set.kentik_buckets),
            existing=tuple((loc.bucket, loc.prefix) for loc in read_set.existing),
            kms_keys=tuple(keys),
            allow_delete=args.allow_delete,
            allow_delete_objects=args.allow_delete_objects,
            partition=session.partition,
        )
        return policy_changes(
            session, need, role_name=args.role, policy_arn=args.policy_arn, policy_name=args.policy_name
        )

    return changes


# -- plans across accounts (--org / --accounts) ------------------------------------------------------


def check_account_flags(ctx: CliContext, selection: AccountSelection) -> str:
    """Before any AWS call: what a plan across accounts does not take, and a valid --bucket-account."""
    import re

    from aws.errors import ValidationFailed

    args = ctx.args
    problems = []
    if args.inventory:
        problems.append(
            "--inventory takes one account's scan; with --org/--accounts the accounts are scanned"
        )
    if args.role or args.policy_arn:
        problems.append(
            "--role/--policy-arn name a policy in one account; across accounts, name Kentik's spoke role "
            "with --kentik-spoke-role (its policy changes in each bucket's account)"
        )
    account = (args.bucket_account or "").strip()
    if account and not re.fullmatch(r"\d{12}", account):
        problems.append(f"--bucket-account {account!r} is not an account id (12 digits)")
    if account and account in selection.exclude:
        problems.append(f"--bucket-account {account} is excluded with --exclude-accounts")
    if problems:
        raise ValidationFailed("Invalid choices for a plan across accounts:\n- " + "\n- ".join(problems))
    return account


def run_accounts(ctx: CliContext, selection: AccountSelection) -> int:
    """`plan --org` / `--accounts`: scan every account through its role, then one plan with the bucket(s)
    in the bucket account and each member's logs pointed there. Exit 0 when every account and region is
    in the plan, 1 when some account could not be reached or scanned (each is named, with the reason and
    what to check, and left out: not reached, or not one of its regions scanned) or a region failed, 2
    for invalid choices, 3 / 4 when the bucket account cannot be reached because access was denied / AWS
    was unreachable."""
    from aws.discovery_api import validate_region_names
    from aws.errors import ValidationFailed
    from aws.iam.nested import KentikRoles
    from aws.org import MemberAccount, reach_account
    from aws.org_scan import scan_accounts
    from aws.plans.build import resources_by_region
    from aws.plans.org_build import build_org_plan, unreached_bucket_account

    bucket_account = check_account_flags(ctx, selection)
    session = ctx.session()
    regions = validate_region_names(split_list(ctx.args.regions), what="--regions")
    workers = ctx.args.workers if ctx.args.workers is not None else ctx.settings.scan_workers
    org = scan_accounts(
        session,
        selection,
        account_workers=ctx.args.account_workers,
        workers=workers,
        include=regions or None,
        skip=ctx.settings.skip_regions or None,
    )
    caller = org.caller.account
    bucket_account = bucket_account or caller
    inventories = [e.inventory for e in org.scanned if e.inventory is not None]
    if not inventories:
        raise_unreached(org)
    # The scan assumed each member's role once: its sessions are reused. Only a bucket account outside
    # the run (a log-archive account not in --accounts) is reached here.
    accesses = {e.account: s for e in org.scanned if (s := org.session_of(e.account)) is not None}
    if bucket_account != caller and org.account(bucket_account) is None:
        access = reach_account(session, session.identity(), MemberAccount(account=bucket_account), selection)
        if access.session is None:
            raise unreached_bucket_account(bucket_account, access.error)
        accesses[bucket_account] = access.session
    all_regions = sorted({r for inv in inventories for r in resources_by_region(inv)})
    try:
        bucket, logs = choices_from_args(ctx.args, inventories[0], session.home_region)
    except ValueError as err:  # pydantic validation
        raise ValidationFailed(f"invalid choice: {err}") from err
    bucket = bucket.model_copy(update={"regions": all_regions})
    if not bucket.regions:
        raise ValidationFailed("No account has a region with VPCs or firewalls: nothing to send logs from.")
    kentik = KentikRoles.parse(ctx.args.kentik_role, ctx.args.kentik_spoke_role)
    build = build_org_plan(
        session,
        org,
        accesses,
        bucket,
        logs,
        bucket_account=bucket_account,
        kentik=kentik if (kentik.spoke or kentik.primary) else None,
        allow_delete=ctx.args.allow_delete,
        allow_delete_objects=ctx.args.allow_delete_objects,
    )
    failed = [  # regions that failed in the members of the plan (the accounts left out are named apart)
        (e.account, r)
        for e in org.accounts
        if e.account in build.members
        for r in (e.inventory.failed_regions if e.inventory else [])
    ]
    for account, region in failed:
        build.warnings.append(f"account {account}: region {region.name} not scanned, so not in this plan")
    if ctx.args.output:
        ctx.args.output.write_text(build.plan.to_json())
    if ctx.json:
        ctx.emit_json(build.model_dump(mode="json"))
    else:
        ctx.out(render_accounts(build))
        if ctx.args.output:
            ctx.out(
                f"\nPlan written to {ctx.args.output}; apply with: flowlogs apply --plan {ctx.args.output}"
            )
    for line in build.left_out.values():
        ctx.err(f"flowlogs plan: {line}")
    return 1 if build.left_out or failed or build.delivery_blocked else 0


def raise_unreached(org: OrgInventory) -> None:
    """No account could be scanned: stop with the failures' kind (access: 3, network: 4), each named."""
    from aws.errors import AccessDeniedError, EndpointError, FlowlogsError

    lines = [f"  {e.account}: {e.error.message if e.error else e.status}" for e in org.accounts]
    message = "Not one account could be reached and scanned, so there is nothing to plan:\n" + "\n".join(
        lines
    )
    kinds = {
        "access" if e.error and e.error.kind == "scp" else e.error.kind if e.error else "error"
        for e in org.accounts
    }
    if kinds == {"access"}:
        raise AccessDeniedError(message, hint="Check the role (--assume-role) in each account and its trust.")
    if kinds == {"network"}:
        raise EndpointError(message, hint="Plan again once AWS answers.")
    raise FlowlogsError(message)


def render_accounts(build: OrgPlanBuild) -> str:
    """The plan across accounts: its summary (one line per account), then the changes grouped by account."""
    plan = build.plan
    lines = [plan.summary()]
    if plan.id:
        lines.append(f"Plan {plan.id} (its resources are tagged flowlogs-plan={plan.id})")
    n = 0
    for account in dict.fromkeys(plan.account_of(c) for c in plan.changes):
        lines += ["", f"Account {account}:"]
        for change in (c for c in plan.changes if plan.account_of(c) == account):
            n += 1
            lines.append(f"{n:>3}. {change.describe()}")
    if build.read_set.locations:
        lines += ["", "Kentik reads:"] + [f"  {loc.shown}" for loc in build.read_set.locations]
    if build.nested is not None:
        lines += ["", "For Kentik's nested configuration (the portal asks for these):"]
        lines += [f"  {line}" for line in build.nested.lines()]
    if build.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in build.warnings]
    if build.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in build.notes]
    return "\n".join(lines)
