"""One plan across many accounts (AWS Organizations): one central bucket (or one per region) in a chosen
account, and each member's flow logs and firewall logging pointed at it.

`build_org_plan` reuses the one-account planner's parts (`aws.plans.build`): the bucket part runs in the
bucket account (the caller's, or a log-archive member reached through the same role), with bucket and
key policies letting log delivery write for every member that sends logs to each bucket
(`aws.s3.org_policy`); the flow log and firewall part runs per member, judged against Kentik's read set
(the central bucket is Kentik's, so a member's complete flow log to it is "covered"). Every change
carries its `account`, its id names the account, and a log aimed at another account's bucket records
that bucket's account in its basis. The plan records (settings.org) the members, the role assumed in
them (its name) and the bucket account. Read calls only.

Every account of the run that is not a member of the plan (not reached, or not one of its regions
scanned) is left out, with a warning saying why and what to check (`OrgPlanBuild.left_out`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from aws.coverage import ReadSet, inspect_location
from aws.errors import AccessDeniedError, CredentialsError, EndpointError, FlowlogsError, ValidationFailed
from aws.iam.nested import KentikRoles, NestedSetup, nested_setup, spoke_policy_changes
from aws.inventory import Inventory
from aws.logs.flowlogs import FlowLogOptions, flowlog_changes
from aws.org import AccountError
from aws.org_scan import AccountScan, OrgInventory
from aws.plans.build import PlanBuild, _note_coverage, bucket_for_region, kentik_read_set, resources_by_region
from aws.plans.change import LOG_KINDS, Change, Plan, link_to_buckets
from aws.plans.choices import LogChoices
from aws.plans.org_settings import ORG_KEY, OrgSettings
from aws.plans.targets import CoverageJudge, firewall_plan, firewall_targets, flow_targets
from aws.s3.setup import plan_buckets
from aws.s3.strategy import BucketChoice, bucket_targets
from aws.session import AwsSession
from aws.tags import tag_plan


class OrgPlanBuild(PlanBuild):
    left_out: dict[str, str] = Field(
        default_factory=dict, description="Accounts not in the plan -> why (and what to check)"
    )
    members: list[str] = Field(default_factory=list, description="Accounts whose logs the plan sets up")
    nested: NestedSetup | None = Field(
        default=None, description="What Kentik's portal needs for the nested setup (with Kentik's roles)"
    )


def _region_errors(inventory: Inventory | None) -> list[str]:
    """Why each region of the account's scan failed: the call, the error and what to try."""
    out = []
    for region in inventory.failed_regions if inventory is not None else []:
        err = region.error
        if err is None:
            out.append(f"{region.name} was not scanned.")
            continue
        call = f"{err.service}:{err.operation}" if err.operation else err.service or "a call"
        text = f"{region.name}: {call} failed" + (f" ({err.code})" if err.code else "") + f": {err.message}"
        out.append(f"{text} Next: {err.hint}" if err.hint else text)
    return out


def _why(entry: AccountScan) -> str:
    """Why an account of the run is not in the plan, and what to check."""
    who = f"account {entry.account}{f' ({entry.name})' if entry.name else ''}"
    err = entry.error
    if err is not None:
        text = f"{who} is not in this plan: {err.message}"
        return f"{text} Next: {err.hint}" if err.hint else text
    regions = _region_errors(entry.inventory)
    if entry.status == "failed" and regions:
        return f"{who} is not in this plan: not one of its regions could be scanned. " + " ".join(regions)
    if entry.status in ("scanned", "partial"):
        return f"{who} is not in this plan: no session there was kept from its scan."
    return f"{who} is not in this plan: its scan ended {entry.status}."


def unreached_bucket_account(account: str, error: AccountError | None, why: str = "") -> FlowlogsError:
    """The bucket account could not be reached: an error of the failure's kind (access denied or an SCP:
    AccessDeniedError; AWS unreachable: EndpointError; credentials: CredentialsError), naming the account,
    why (`why`, else the failure's message) and what to check."""
    reason = why or (error.message if error is not None else "")
    message = f"The bucket account {account} could not be reached, so its bucket cannot be planned." + (
        f" {reason}" if reason else ""
    )
    hint = (error.hint if error is not None and error.hint and not why else "") or (
        "Check the role (--assume-role) in that account, or choose another --bucket-account."
    )
    kind = error.kind if error is not None else ""
    if kind in ("access", "scp"):
        return AccessDeniedError(message, action="sts:AssumeRole", hint=hint)
    if kind == "network":
        return EndpointError(message, hint=hint)
    if kind == "credentials":
        return CredentialsError(message, hint=hint)
    return ValidationFailed(message, hint=hint)


def _for_account(changes: list[Change], account: str, bucket_account: str) -> list[Change]:
    """The member's changes with its account, account-unique ids (dependencies renamed with them) and, for
    logs aimed at another account's bucket, that account in the basis."""
    renamed = {c.id: f"{c.id.split(':', 1)[0]}:{account}:{c.id.split(':', 1)[1]}" for c in changes}
    out = []
    for change in changes:
        basis = dict(change.basis)
        if change.kind in LOG_KINDS and bucket_account != account:
            basis["bucket_owner"] = bucket_account
        out.append(
            change.model_copy(
                update={
                    "id": renamed[change.id],
                    "account": account,
                    "basis": basis,
                    "depends_on": [renamed.get(d, d) for d in change.depends_on],
                }
            )
        )
    return out


def _folders(bucket: BucketChoice, logs: LogChoices) -> list[str]:
    """The folders the members' logs are delivered below ('' = the bucket's top `AWSLogs/`): the flow
    logs' prefix, the firewall logs' (when firewalls are planned), each prefix of the bucket choice."""
    firewall = [logs.firewall_prefix] if logs.firewalls else []
    return list(dict.fromkeys([logs.prefix, *firewall, *bucket.prefixes]))


def _senders(org: OrgInventory, members: list[str], sources: list[str]) -> list[str]:
    """The members with VPCs or firewalls in any of `sources` (the regions a bucket receives logs from)."""
    out = []
    for account in members:
        entry = org.account(account)
        inv = entry.inventory if entry else None
        if inv is not None and set(resources_by_region(inv)) & set(sources):
            out.append(account)
    return out


def build_org_plan(
    session: AwsSession,
    org: OrgInventory,
    accesses: Mapping[str, AwsSession],
    bucket: BucketChoice,
    logs: LogChoices,
    *,
    bucket_account: str,
    kentik: KentikRoles | None = None,
    allow_delete: bool = False,
    allow_delete_objects: bool = False,
) -> OrgPlanBuild:
    """The plan across the accounts of `org` (see the module docstring). `accesses`: account -> session
    (the caller's own account may be left out: `session` is used; an account missing from it uses the
    session it was scanned through, `org.session_of`). Raises ValidationFailed for choices that cannot
    be planned (no member reached, a policy over its limit: `aws.s3.org_policy.OrgPolicyTooLarge`); the
    bucket account not reached raises the failure's kind (access denied: AccessDeniedError, ...)."""
    caller = org.caller.account
    partition = org.caller.partition

    def session_of(account: str) -> AwsSession | None:
        if account == caller:
            return session
        return accesses.get(account) or org.session_of(account)

    members = sorted(
        e.account for e in org.scanned if e.inventory is not None and session_of(e.account) is not None
    )
    # Every account of the run that is not a member is named: unreached, or not one region scanned.
    left_out = {e.account: _why(e) for e in org.accounts if e.account not in members}
    if not members:
        raise ValidationFailed(
            "Not one account of the run could be reached and scanned, so there is nothing to plan.",
            hint="Each account's line above says what to check.",
        )
    bucket_session = session_of(bucket_account)
    if bucket_session is None:
        entry = org.account(bucket_account)
        raise unreached_bucket_account(
            bucket_account, entry.error if entry else None, left_out.get(bucket_account, "")
        )
    wanted = [*bucket.prefixes, *(p for p in (logs.prefix, logs.firewall_prefix) if p)]
    bucket = bucket.model_copy(update={"prefixes": list(dict.fromkeys(wanted))})
    targets_b = bucket_targets(bucket, bucket_account)
    senders = {t.name: _senders(org, members, t.sources) for t in targets_b}
    setup = plan_buckets(
        bucket_session, bucket, bucket_account, members=senders, folders=_folders(bucket, logs)
    )
    plan = Plan(account=caller, partition=partition)
    plan.extend([c.model_copy(update={"account": bucket_account}) for c in setup.changes])
    mapping = bucket_for_region(bucket, bucket_account)
    read_set = kentik_read_set(bucket, bucket_account)
    build = OrgPlanBuild(
        plan=plan,
        warnings=[*setup.delivery_blocked, *setup.warnings, *left_out.values()],
        notes=list(setup.notes),
        buckets=mapping,
        delivery_blocked=list(setup.delivery_blocked),
        left_out=left_out,
        members=members,
    )
    plan.notes.extend(setup.delivery_blocked)
    keys = [t.kms_key_arn for t in targets_b if t.kms_key_arn]
    judges = [
        _plan_member(plan, org, m, session_of(m), read_set, logs, mapping, bucket_account) for m in members
    ]
    checked = sum(n for n, _ in judges)
    build.notes.append(f"{checked} resource(s) checked in {len(members)} account(s).")
    for _, judge in judges:
        build.coverage.extend(judge.decisions)
    # One set of notes for the whole run (the read set is shared: per member it would repeat itself).
    _note_coverage(
        build, CoverageJudge(read_set, None, logs.existing_destinations, caller, decisions=build.coverage)
    )
    for location in read_set.existing:  # a member's own log bucket Kentik is to read: in that account
        owner = session_of(location.account) or session
        found, key, warnings = inspect_location(owner, location, partition=partition)
        read_set.locations = [found if loc == location else loc for loc in read_set.locations]
        keys += [key] if key else []
        build.warnings.extend(warnings)
    build.read_set = read_set
    build.kms_keys = list(dict.fromkeys(keys))
    if kentik is not None and kentik.spoke:
        # Kentik's nested setup: the read statement goes into the spoke policy of each account that owns a
        # bucket Kentik reads; its primary role is left alone.
        spoke, spoke_warnings = spoke_policy_changes(
            session_of,
            read_set.locations,
            build.kms_keys,
            spoke_role=kentik.spoke,
            default_account=bucket_account,
            partition=partition,
            allow_delete=allow_delete,
            allow_delete_objects=allow_delete_objects,
        )
        plan.extend(spoke)
        build.warnings.extend(spoke_warnings)
    if kentik is not None:
        build.nested = nested_setup(
            kentik,
            caller_account=caller,
            partition=partition,
            members=members,
            locations=read_set.locations,
            excluded=org.excluded,
        )
    touched = sorted({plan.account_of(c) for c in plan.changes} | {bucket_account} | set(members))
    plan.settings.update(
        bucket=bucket.model_dump(),
        logs=logs.model_dump(),
        **{
            ORG_KEY: OrgSettings(
                members=[a for a in touched if a != caller],
                role=org.assume_role,
                bucket_account=bucket_account,
            ).model_dump()
        },
    )
    plan.read_set = read_set.locations
    plan.coverage = build.coverage
    link_to_buckets(plan, {t.name: t.kms_key_arn for t in targets_b})
    tag_plan(plan)
    return build


def _plan_member(
    plan: Plan,
    org: OrgInventory,
    account: str,
    session: AwsSession | None,
    read_set: ReadSet,
    logs: LogChoices,
    mapping: dict[str, str],
    bucket_account: str,
) -> tuple[int, CoverageJudge]:
    """Add one member's flow log and firewall changes to the plan; (resources checked, its judge)."""
    entry = org.account(account)
    assert entry is not None and entry.inventory is not None and session is not None
    inventory: Inventory = entry.inventory
    owned = set(inventory.buckets) if inventory.buckets is not None else None
    judge = CoverageJudge(read_set, owned, logs.existing_destinations, account)
    regions = sorted(set(mapping) & set(resources_by_region(inventory)))
    targets = flow_targets(session, inventory, logs, regions, judge)
    if logs.selected is not None:
        picked = set(logs.selected)
        targets = [t for t in targets if t.resource_id in picked]
    options = FlowLogOptions(
        buckets=mapping,
        prefix=logs.prefix,
        extra_fields=tuple(logs.extra_fields),
        aggregation=logs.aggregation,
        replace_existing=logs.replace_existing,
    )
    changes = flowlog_changes(targets, options, account, plan.partition)
    if logs.firewalls:
        changes += firewall_plan(judge, firewall_targets(inventory, logs, regions), logs, mapping)
    plan.extend(_for_account(changes, account, bucket_account))
    return len(targets), judge
