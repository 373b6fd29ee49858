"""`flowlogs policy`: the exact change to the Kentik role's IAM policy, previewed, applied, rolled back.

With `--current FILE` it works offline (no AWS session is created): it reads a policy document and
shows the change to it (summary, diff, size); `--document` (or `--json`) prints exactly the merged
document instead, JSON to feed back or to paste. With `--role`/`--policy-arn` it finds the policy in AWS,
shows the diff (`--document`: the merged document), and with `--apply` applies it (CreatePolicyVersion
or PutRolePolicy) after re-reading the policy; `--rollback` undoes the last applied change.

With `--create-role NAME --external-id ID` (the Kentik company id) it makes Kentik's role from nothing
(aws.iam.kentik_role): the role trusted by Kentik's principal with that sts:ExternalId, a managed metadata
policy with the describe permissions of Kentik's Terraform module, attached, and the S3 read statement for
the buckets named. The Changes are previewed; `-o FILE` writes them as a plan file for `flowlogs apply
--plan`; `--apply` applies them (asking, or `--yes`; refused without a terminal and in read-only mode)
through `tui.commands.apply.run_plan`: the account lock, the audit log and the report saved as `flowlogs
apply` does. A role of that name with another trust policy is refused, never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws.limits import ORG_ACCESS_ROLE
from tui.cli import EXIT_OK, EXIT_PARTIAL, add_list_option, exit_for, exit_for_report, split_list

if TYPE_CHECKING:
    from aws.iam.documents import PolicyTarget
    from aws.iam.merge import MergeResult
    from aws.iam.requirements import Requirements
    from aws.plans.change import ApplyReport, Change
    from aws.session import AwsSession
    from tui.cli import CliContext

NAME = "policy"
HELP = (
    "Show, apply or roll back the change to the Kentik role's IAM policy for the log buckets; or create "
    "Kentik's role when none exists (--create-role NAME --external-id ID)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--role", metavar="NAME", help="the role Kentik assumes (its metadata policy is found)"
    )
    source.add_argument("--policy-arn", metavar="ARN", help="the customer-managed policy to change")
    source.add_argument(
        "--current", metavar="FILE", help="offline: read the current policy document from FILE ('-': stdin)"
    )
    source.add_argument(
        "--create-role",
        metavar="NAME",
        help="no role trusts Kentik yet: create role NAME trusted by Kentik "
        "(arn:aws:iam::834693425129:role/eks-ingest-node) with --external-id (your Kentik company id), a "
        "managed metadata policy with the describe permissions of Kentik's Terraform module, and the S3 "
        "read statement for --bucket; previewed, applied with --apply, or written as a plan with -o",
    )
    parser.add_argument("--policy-name", metavar="NAME", help="with --role: the inline policy to change")
    parser.add_argument(
        "--bucket", metavar="NAME", action="append", default=[], help="log bucket (repeat for each bucket)"
    )
    parser.add_argument(
        "--read-existing",
        metavar="BUCKET[/PREFIX/]",
        action="append",
        default=[],
        help="an existing log bucket (and prefix) Kentik must also read: read only, below PREFIX/AWSLogs/ "
        "(repeatable; `flowlogs plan` adds these itself)",
    )
    parser.add_argument(
        "--kms-key", metavar="ARN", action="append", default=[], help="SSE-KMS key of a bucket (repeatable)"
    )
    delete = parser.add_mutually_exclusive_group()
    delete.add_argument(
        "--allow-delete",
        action="store_true",
        help="the spec's deletion option: s3:* on the buckets (risky: also bucket policy, encryption, deletion)",
    )
    delete.add_argument(
        "--allow-delete-objects",
        action="store_true",
        help="least-privilege deletion: s3:DeleteObject on the buckets' objects only",
    )
    parser.add_argument(
        "--replace-buckets",
        action="store_true",
        help="make flowlogs' own statements name exactly these buckets/keys (default: add to them)",
    )
    nested = parser.add_argument_group("nested configuration (a spoke role in each member account)")
    nested.add_argument(
        "--accounts", action="append", metavar="ID,ID", help="member account ids: each gets its own diff"
    )
    nested.add_argument(
        "--org",
        action="store_true",
        help="every ACTIVE account of the organization (from the management or a delegated administrator "
        f"account); our access role defaults to {ORG_ACCESS_ROLE} then",
    )
    add_list_option(nested, "--exclude-accounts", metavar="ID", help="leave these accounts out")
    nested.add_argument(
        "--assume-role",
        metavar="NAME",
        help=f"our role to assume in each member account (default: --role; with --org {ORG_ACCESS_ROLE})",
    )
    nested.add_argument(
        "--external-id",
        default="",
        metavar="ID",
        help="sts:ExternalId for that role; with --create-role: Kentik's external id (the Kentik company id)",
    )
    nested.add_argument(
        "--kentik-spoke-role",
        metavar="NAME",
        help="Kentik's secondary (spoke) role in each member, whose policy changes (default: --role)",
    )
    nested.add_argument(
        "--kentik-role",
        metavar="NAME|ARN",
        help="Kentik's primary (hub) role: named in the summary of what Kentik needs; never changed",
    )
    parser.add_argument(
        "--document",
        action="store_true",
        help="print the merged policy document (JSON) instead of the diff; not with --apply, --rollback "
        "or --accounts",
    )
    parser.add_argument("--apply", action="store_true", help="apply the change (asks unless --yes)")
    parser.add_argument("--yes", action="store_true", help="confirm --apply/--rollback, including deletions")
    parser.add_argument("--rollback", action="store_true", help="undo the last change flowlogs applied")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="with --create-role: write the Changes as a plan file (apply it with flowlogs apply --plan FILE)",
    )


def _requirements(args: argparse.Namespace, partition: str) -> Requirements:
    from aws.coverage import ReadLocation
    from aws.errors import ValidationFailed
    from aws.iam.requirements import Requirements

    if not args.bucket and not args.read_existing:
        raise ValidationFailed("Name at least one log bucket with --bucket NAME.")
    existing = [ReadLocation.parse(text) for text in args.read_existing]
    return Requirements(
        buckets=tuple(args.bucket),
        existing=tuple((loc.bucket, loc.prefix) for loc in existing),
        kms_keys=tuple(args.kms_key),
        allow_delete=args.allow_delete,
        allow_delete_objects=args.allow_delete_objects,
        partition=partition,
        keep_existing=not args.replace_buckets,
    )


def _read(path: str) -> str:
    from aws.errors import ValidationFailed

    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ValidationFailed(f"Cannot read {path}: {err.strerror or err}.") from None
    except UnicodeDecodeError:
        raise ValidationFailed(f"{path} is not a UTF-8 text file.") from None


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _records_path(ctx: CliContext) -> Path:
    from aws.iam.rollback import records_path

    return records_path(ctx.settings.audit_path)


def _show_merge(ctx: CliContext, merge: MergeResult, label: str) -> None:
    from aws.iam.diff import policy_diff, unified_text

    ctx.out(f"Policy: {label}")
    ctx.out(f"Change: {merge.summary()}")
    for line in merge.explanations():
        ctx.out(f"  + {line}")
    for note in merge.notes:
        ctx.out(f"Note: {note}")
    for problem in merge.problems:
        ctx.err(f"{'BLOCKING' if problem.blocking else 'Warning'}: {problem.message}")
    text = unified_text(policy_diff(merge.current, merge.proposed))
    if text:
        ctx.out("")
        ctx.out(text)
        ctx.out("")
    ctx.out(f"Size: {merge.size.describe()}")


def _merge_json(merge: MergeResult) -> dict[str, Any]:
    return {
        "summary": merge.summary(),
        "noop": merge.noop,
        "statements": [
            {"action": c.action, "sid": c.sid, "explanation": c.explanation, "after": c.after}
            for c in merge.changes
        ],
        "problems": [{"message": p.message, "blocking": p.blocking} for p in merge.problems],
        "notes": merge.notes,
        "size": {"chars": merge.size.total, "limit": merge.size.limit, "ok": merge.size.ok},
        "proposed": merge.proposed,
    }


def _target_json(target: PolicyTarget) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "policy_arn": target.policy_arn,
        "role_name": target.role_name,
        "policy_name": target.policy_name,
        "default_version": target.version_id,
        "account": target.account,
    }


def _print_document(ctx: CliContext, merge: MergeResult) -> None:
    """The merged document alone on stdout (problems on stderr): what `--document` and offline `--json`
    print."""
    from aws.iam.diff import pretty_json

    ctx.out(pretty_json(merge.proposed))
    for problem in merge.problems:
        ctx.err(f"{'BLOCKING' if problem.blocking else 'Warning'}: {problem.message}")


def _check_document(args: argparse.Namespace) -> None:
    from aws.errors import ValidationFailed

    if args.document and (args.apply or args.rollback or args.accounts or args.org):
        raise ValidationFailed(
            "--document prints the merged document of one policy; it does not go with --apply, --rollback "
            "or --accounts."
        )


def _offline(ctx: CliContext) -> int:
    from aws.errors import ValidationFailed
    from aws.iam.eval import load_policy_text
    from aws.iam.merge import merge_policy
    from aws.regions import partition_of

    args = ctx.args
    if args.apply or args.rollback:
        raise ValidationFailed("--current works offline; to apply or roll back, use --role or --policy-arn.")
    _requirements(args, "aws")  # the flags first (bucket names, key ARNs; no rule depends on the partition)
    source = "standard input" if args.current == "-" else args.current
    current = load_policy_text(_read(args.current), source=source)
    # Offline, no identity: the partition of a KMS key given, else of --region (aws without one).
    partition = args.kms_key[0].split(":")[1] if args.kms_key else partition_of(ctx.settings.region or "")
    merge = merge_policy(current, _requirements(args, partition))
    merge.size.require_ok()
    if ctx.json or args.document:
        _print_document(ctx, merge)
    else:
        _show_merge(ctx, merge, source)
    return EXIT_PARTIAL if merge.blocking else EXIT_OK


def _approve(ctx: CliContext, changes: list[Change], what: str) -> bool:
    """True to go ahead; False when declined. Raises without --yes when nobody can be asked."""
    from aws.errors import ValidationFailed

    if ctx.args.yes:
        return True
    if ctx.json or not _interactive():
        raise ValidationFailed(
            f"{what} needs --yes when not run interactively. Nothing was changed.",
            hint="Review the change shown above, then run again with --yes.",
        )
    for change in changes:
        ctx.out(change.describe())
    if not _confirm(f"{what}?"):
        return False
    return all(_confirm(f"{c.title}: this is destructive. Go ahead?") for c in changes if c.destructive)


def _approved(ctx: CliContext, changes: list[Change], what: str, data: dict[str, Any] | None = None) -> bool:
    """`_approve`, saying "Nothing was changed." when declined. A refusal (no --yes where nobody can be
    asked) still shows `data`, what would change, with --json."""
    from aws.errors import ValidationFailed

    try:
        approved = _approve(ctx, changes, what)
    except ValidationFailed:
        if ctx.json and data is not None:
            ctx.emit_json(data)
        raise
    if not approved:
        ctx.out("Nothing was changed.")
    return approved


def _report_lines(ctx: CliContext, report: ApplyReport) -> None:
    for result in report.results:
        ctx.out(f"  {result.status:9} {result.change_id}: {result.detail}")


def _rollback(ctx: CliContext, target: PolicyTarget) -> int:
    from aws.iam.rollback import rollback_plan
    from aws.plans.change import apply_plan

    session = ctx.session()
    plan = rollback_plan(session, target, _records_path(ctx))
    changes = plan.changes
    if not ctx.json:
        ctx.out(f"Policy: {target.label}")
        for change in changes:
            ctx.out(change.describe())
    if not _approved(ctx, changes, "Roll back"):
        return EXIT_PARTIAL
    report = apply_plan(plan, session, confirm_destructive=True)
    if ctx.json:
        ctx.emit_json({"target": _target_json(target), "rollback": report.model_dump()})
    else:
        _report_lines(ctx, report)
    return exit_for_report(report)


def _online(ctx: CliContext) -> int:
    from aws.errors import ValidationFailed
    from aws.iam.documents import find_policy
    from aws.iam.proposal import PolicyProposal, prepare
    from aws.iam.rollback import apply_proposal

    args = ctx.args
    session = ctx.session()
    if args.rollback:
        if args.apply:
            raise ValidationFailed("Use either --apply or --rollback.")
        target = find_policy(
            session, role_name=args.role, policy_arn=args.policy_arn, policy_name=args.policy_name
        )
        return _rollback(ctx, target)
    need = _requirements(args, session.identity().partition)
    proposal: PolicyProposal = prepare(
        session, need, role_name=args.role, policy_arn=args.policy_arn, policy_name=args.policy_name
    )
    merge = proposal.merge
    data: dict[str, Any] = {"target": _target_json(proposal.target), **_merge_json(merge)}
    data["changes"] = [c.model_dump() for c in proposal.changes]
    if args.document:
        _print_document(ctx, merge)
        return EXIT_PARTIAL if merge.blocking else EXIT_OK
    if not ctx.json:
        _show_merge(ctx, merge, proposal.target.label)
        for change in proposal.changes:
            ctx.out(change.describe())
    code = EXIT_PARTIAL if merge.blocking else EXIT_OK
    if args.apply and proposal.changes:
        if not _approved(ctx, proposal.changes, "Apply", data):
            return EXIT_PARTIAL
        report, record = apply_proposal(
            session, proposal, confirm_destructive=True, records=_records_path(ctx)
        )
        data["applied"] = report.model_dump()
        if not ctx.json:
            _report_lines(ctx, report)
            if record is not None:
                ctx.out("Applied. Undo with: flowlogs policy --rollback " + _source_flags(args))
        code = max(code, exit_for_report(report))
    if ctx.json:
        ctx.emit_json(data)
    return code


def _source_flags(args: argparse.Namespace) -> str:
    if args.policy_arn:
        return f"--policy-arn {args.policy_arn}"
    flags = f"--role {args.role}"
    return flags + (f" --policy-name {args.policy_name}" if args.policy_name else "")


def _nested(ctx: CliContext) -> int:
    """One diff (and, with --apply, one change) per member account, through an assumed role there."""
    from aws.errors import ValidationFailed
    from aws.iam.accounts import nested_targets
    from aws.iam.nested import KentikRoles, NestedSetup
    from aws.iam.proposal import propose
    from aws.iam.rollback import apply_proposal
    from aws.org import AccountSelection, select_accounts

    args = ctx.args
    roles = KentikRoles.parse(args.kentik_role, args.kentik_spoke_role or args.role)
    if not roles.spoke or args.rollback or args.policy_arn:
        raise ValidationFailed(
            "--accounts / --org need the spoke role's name (--role or --kentik-spoke-role), and go with "
            "neither --policy-arn nor --rollback."
        )
    selection = AccountSelection.parse(
        org=args.org,
        accounts=split_list(args.accounts),
        exclude=split_list(args.exclude_accounts),
        assume_role=args.assume_role or (None if args.org else roles.spoke),
        external_id=args.external_id,
    )
    session = ctx.session()
    need = _requirements(args, session.identity().partition)
    accounts = [m.account for m in select_accounts(session, selection)]
    found = nested_targets(
        session,
        accounts,
        assume_role_name=selection.assume_role,
        spoke_role_name=roles.spoke,
        external_id=selection.external_id,
        policy_name=args.policy_name,
    )
    code, out, unreached = EXIT_OK, [], []
    for item in found:
        entry: dict[str, Any] = {"account": item.account, "assumed_role": item.role_arn}
        out.append(entry)
        if item.error or item.target is None or item.session is None:
            entry["error"] = item.error
            unreached.append(item.error_kind or "error")
            if not ctx.json:
                ctx.out(f"== account {item.account}: {item.error}")
            continue
        proposal = propose(item.session, item.target, need)
        entry.update({"target": _target_json(proposal.target), **_merge_json(proposal.merge)})
        if not ctx.json:
            ctx.out(f"== account {item.account}")
            _show_merge(ctx, proposal.merge, proposal.target.label)
        if proposal.merge.blocking:
            code = EXIT_PARTIAL
        if args.apply and proposal.changes:
            if not _approve(ctx, proposal.changes, f"Apply in account {item.account}"):
                entry["applied"] = None
                code = EXIT_PARTIAL
                continue
            report, _ = apply_proposal(
                item.session, proposal, confirm_destructive=True, records=_records_path(ctx)
            )
            entry["applied"] = report.model_dump()
            if not ctx.json:
                _report_lines(ctx, report)
            code = max(code, exit_for_report(report))
    me = session.identity()
    reached = [session, *(item.session for item in found if item.session is not None)]
    setup = NestedSetup(
        primary_role_arn=roles.primary_arn(account=me.account, partition=me.partition),
        secondary_accounts=sorted(a for a in accounts if a != me.account),
        secondary_role_suffix=roles.spoke,
        regions=sorted(set(_bucket_regions(reached, args.bucket).values())),
        blocked_accounts=sorted(selection.exclude),
    )
    if ctx.json:
        ctx.emit_json({"accounts": out, "kentik_nested": setup.model_dump()})
    else:
        ctx.out("\nFor Kentik's nested configuration (the portal asks for these):")
        for line in setup.lines():
            ctx.out(f"  {line}")
    # Accounts that could not be reached: 3 / 4 when no account was and every one was denied / unreachable.
    return max(code, exit_for(unreached, succeeded=len(found) - len(unreached)))


def _bucket_regions(sessions: list[AwsSession], buckets: list[str]) -> dict[str, str]:
    """Each bucket's region, asked in the accounts reached until one answers (a bucket is readable from
    its own account; one no account can read is left out)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from aws.coverage import bucket_region
    from aws.errors import FlowlogsError

    out: dict[str, str] = {}
    for bucket in dict.fromkeys(buckets):
        for session in sessions:
            try:
                out[bucket] = bucket_region(session, bucket)
                break
            except (ClientError, BotoCoreError, FlowlogsError):
                continue
    return out


def _create_role_conflicts(args: argparse.Namespace) -> None:
    from aws.errors import ValidationFailed

    given = [
        flag
        for flag, on in (
            ("--accounts", args.accounts),
            ("--org", args.org),
            ("--exclude-accounts", args.exclude_accounts),
            ("--assume-role", args.assume_role),
            ("--kentik-spoke-role", args.kentik_spoke_role),
            ("--kentik-role", args.kentik_role),
            ("--policy-name", args.policy_name),
            ("--document", args.document),
            ("--rollback", args.rollback),
            ("--replace-buckets", args.replace_buckets),
        )
        if on
    ]
    if given:
        raise ValidationFailed(
            f"--create-role makes Kentik's role in this account; it does not go with {', '.join(given)}."
        )


def _create_role(ctx: CliContext) -> int:
    """`--create-role NAME --external-id ID`: plan Kentik's role, preview it, write it (-o), apply it."""
    from aws.errors import ReadOnlyViolation, ValidationFailed
    from aws.iam.kentik_role import KENTIK_PRINCIPAL, KentikRoleSpec, plan_kentik_role
    from aws.plans.change import executor_for
    from tui.commands.apply import read_only_source, run_plan

    args = ctx.args
    _create_role_conflicts(args)
    spec = KentikRoleSpec(args.create_role, args.external_id)  # every input checked before any AWS call
    _requirements(args, "aws")
    if args.apply and ctx.settings.read_only:
        raise ReadOnlyViolation(
            f"Read-only mode is on ({read_only_source(ctx)}): creating Kentik's role would change AWS. "
            "Nothing was changed.",
            hint="Preview it without --apply, or write it as a plan file with -o FILE.",
        )
    session = ctx.session()
    made = plan_kentik_role(session, spec, _requirements(args, session.identity().partition))
    plan = made.plan
    data: dict[str, Any] = {
        "role": {
            "role_arn": made.role_arn,
            "policy_arn": made.policy_arn,
            "trusted_principal": KENTIK_PRINCIPAL,
            "external_id": made.external_id,
            "exists": made.role_exists,
        },
        "plan": plan.model_dump(mode="json"),
    }
    if not ctx.json:
        state = "exists already, with Kentik's trust" if made.role_exists else "to be created"
        ctx.out(f"Kentik's role: {made.role_arn} ({state})")
        ctx.out(f"  trusted by {KENTIK_PRINCIPAL} with sts:ExternalId {made.external_id}")
        ctx.out(plan.summary())
        for n, change in enumerate(plan.changes, 1):
            ctx.out(f"{n:>3}. {executor_for(change.kind).preview(change)}")
    if args.output is not None:
        try:
            args.output.write_text(plan.to_json())
        except OSError as err:
            raise ValidationFailed(f"Cannot write {args.output}: {err.strerror or err}.") from None
        data["plan_file"] = str(args.output)
        if not ctx.json:
            ctx.out(f"Plan written to {args.output}; apply it with: flowlogs apply --plan {args.output}")
    if not args.apply:
        if ctx.json:
            ctx.emit_json(data)
        elif args.output is None:
            ctx.out(
                "Nothing was changed. Apply with --apply (asks first), or write a plan file with -o FILE."
            )
        return EXIT_OK
    if not _approved(ctx, plan.changes, f"Create Kentik's role {spec.role_name}", data):
        return EXIT_PARTIAL
    report, path = run_plan(ctx, plan, session, confirm_destructive=False)  # no change here is destructive
    data["applied"] = {**report.model_dump(mode="json"), "report_path": str(path), "ok": report.ok}
    if ctx.json:
        ctx.emit_json(data)
    elif report.ok:
        ctx.out(f"Kentik's role is {made.role_arn}, external id {made.external_id}.")
    return exit_for_report(report)


def run(ctx: CliContext) -> int:
    if ctx.args.create_role is not None:
        return _create_role(ctx)
    from aws.errors import ValidationFailed

    if ctx.args.output is not None:
        raise ValidationFailed(
            "-o writes the plan of --create-role; the policy change is applied with --apply."
        )
    _check_document(ctx.args)  # before any AWS call
    if ctx.args.current is not None:
        return _offline(ctx)
    if not ctx.args.rollback:
        _requirements(ctx.args, "aws")  # bad bucket names and keys: refused before any AWS call
    if ctx.args.accounts or ctx.args.org:
        return _nested(ctx)
    return _online(ctx)
