"""`flowlogs apply --plan FILE`: apply a plan made by `flowlogs plan` (or saved by the TUI).

The plan is shown first. Without `--yes` it asks on a terminal and refuses when there is none.
Destructive changes (deleting or overwriting existing configuration) also need `--allow-destructive`.
Changes already in place are skipped, so a rerun converges. The report is saved in the state dir.

A change whose prerequisites failed (or were refused) is skipped, naming the change that blocked it;
every unrelated change still runs. Only one apply per account runs at a time on this machine: a second
one refuses at once naming the holder, or waits up to `--wait SECONDS` for it.

A plan across accounts (`flowlogs plan --org/--accounts`) names the role assumed in each member (never
credentials): apply assumes it for the changes of that account (`--external-id` when its trust requires
one), takes one lock per account touched (in sorted order), and the audit log records each call's account.

The plan file is validated whole before anything is sent (kinds, parameters, targets, documents), and
the preview is derived from the validated changes, not from their titles. A document that no longer
derives from AWS's current state as previewed is refused (stale or altered).

Exit codes follow the table in `flowlogs --help`: 0 when every change is applied or already satisfied;
1 when a change failed (the failed change and the ones it blocked are listed); 2 for a bad, tampered,
stale or foreign plan file, a refusal, or an apply already running; 3 / 4 when nothing could be done
and every failure was access denied / AWS unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from tui.cli import add_kentik_options, add_list_option, exit_for_report, kentik_client, split_list

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws.plans.change import ApplyReport, Change, ChangeResult, Plan
    from aws.session import AwsSession
    from tui.cli import CliContext

NAME = "apply"
HELP = "apply a plan file: preview, confirm, apply idempotently, report ids"

MARK = {
    "applied": "+",
    "satisfied": "=",
    "failed": "!",
    "not-run": " ",
    "refused": "x",
    "pending": "?",
    "skipped": "-",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", type=Path, required=True, metavar="FILE", help="plan JSON from `flowlogs plan -o`"
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help="also apply changes that delete or overwrite existing configuration (shown in the preview)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when another apply against the same account is running here, wait up to SECONDS for it "
        "(default: refuse at once, exit 2)",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--org",
        action="store_true",
        help="a plan across accounts: apply it only if every account it changes or grants delivery to is an "
        "ACTIVE account of the caller's organization",
    )
    add_list_option(
        who,
        "--accounts",
        metavar="ID",
        help="a plan across accounts: the accounts you allow it to change or grant delivery to (every one "
        "the plan names must be here)",
    )
    parser.add_argument(
        "--external-id",
        default="",
        metavar="ID",
        help="a plan across accounts: the sts:ExternalId the member role it names requires (never in the "
        "plan file)",
    )
    add_kentik_options(parser)  # a plan that registers in Kentik (flowlogs register -o) needs its API


def load_plan(path: Path) -> Plan:
    from aws.errors import ValidationFailed
    from aws.plans.change import Plan

    try:
        text = path.read_text()
    except OSError as err:
        raise ValidationFailed(f"Cannot read plan file {path}: {err.strerror}") from err
    return Plan.from_json(text)


def save_report(report: ApplyReport) -> Path:
    from tui.config import state_dir

    runs = state_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"apply-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(report.model_dump_json(indent=2))
    return path


def result_line(change: Change, result: ChangeResult) -> str:
    from aws.plans.change import executor_for

    line = f"[{MARK[result.status]}] {result.status:<9} {executor_for(change.kind).preview(change).splitlines()[0]}"
    ids = result.outputs.get("flow_log_ids") if result.outputs else None
    if ids:
        line += "\n" + "\n".join(f"      {rid}: {fid}" for rid, fid in sorted(ids.items()))
    errors = result.outputs.get("errors") if result.outputs else None
    if errors:
        line += "\n" + "\n".join(f"      ! {rid}: {msg}" for rid, msg in sorted(errors.items()))
    if result.status in ("failed", "refused", "skipped"):
        line += "\n      " + result.detail.replace("\n", "\n      ")
    return line


def read_only_source(ctx: CliContext) -> str:
    """Which flag or setting turned read-only mode on, for the refusal message."""
    from tui import config

    if getattr(ctx.args, "read_only", None):
        return "--read-only"
    if os.environ.get("FLOWLOGS_READ_ONLY", "").strip():
        return f"FLOWLOGS_READ_ONLY={os.environ['FLOWLOGS_READ_ONLY']}"
    return f"read_only = true in {config.settings_file()}"


def run(ctx: CliContext) -> int:
    from aws.errors import ReadOnlyViolation, ValidationFailed
    from aws.org import AccountSelection
    from aws.plans.change import ApplyReport, executor_for
    from aws.plans.org_settings import org_settings

    if ctx.settings.read_only:  # refuse up front: no preview, no half-run
        raise ReadOnlyViolation(
            f"Read-only mode is on ({read_only_source(ctx)}): apply would change AWS. Nothing was changed.",
            hint="Run apply without read-only mode to make the changes.",
        )
    plan = load_plan(ctx.args.plan)  # validated whole: nothing unchecked reaches AWS
    if not ctx.json:
        ctx.out(plan.summary())
        for n, change in enumerate(plan.changes, 1):
            ctx.out(f"{n:>3}. {executor_for(change.kind).preview(change)}")
    if not plan.changes:
        if ctx.json:
            ctx.emit_json(ApplyReport(account=plan.account).model_dump(mode="json"))
        return 0
    # Kentik changes need Kentik credentials: missing ones stop the apply here, before any change.
    providers = {"kentik": kentik_client(ctx)} if any(c.provider == "kentik" for c in plan.changes) else {}
    org = org_settings(plan)
    accounts = sorted({plan.account_of(c) for c in plan.changes})
    if org is None and ctx.args.external_id:
        raise ValidationFailed("--external-id goes with a plan across accounts; this plan has one account.")
    if org is None and (ctx.args.org or ctx.args.accounts):
        raise ValidationFailed(
            "--org / --accounts go with a plan across accounts; this plan has one account."
        )
    if org is not None:  # the role and external id are checked before any AWS call
        AccountSelection.parse(accounts=org.members, assume_role=org.role, external_id=ctx.args.external_id)
        # The caller's own account is checked against the credentials by apply_plan; the others are not
        # the file's to decide.
        named = sorted({*org.members, org.bucket_account} - {"", plan.account})
        if not ctx.json:
            ctx.out(f"Accounts this plan changes or grants log delivery to, through role {org.role}:")
            ctx.out(f"  {', '.join([plan.account, *named])} (the first is the caller's)")
        allowed_accounts(ctx, named)
    if plan.destructive and not ctx.args.allow_destructive:
        names = "\n".join(f"  - {executor_for(c.kind).preview(c).splitlines()[0]}" for c in plan.destructive)
        raise ValidationFailed(
            f"The plan has {len(plan.destructive)} destructive change(s):\n{names}\n"
            "Rerun with --allow-destructive to apply them. Nothing was changed."
        )
    if not ctx.args.yes:
        if not sys.stdin.isatty():
            raise ValidationFailed("Refusing to apply without confirmation: pass --yes. Nothing was changed.")
        where = f"{len(accounts)} accounts" if len(accounts) > 1 else f"account {plan.account}"
        answer = input(f"Apply {len(plan.changes)} change(s) to {where}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            ctx.err("Not applied. Nothing was changed.")
            return 2
    session = ctx.session()
    report, path = run_plan(
        ctx,
        plan,
        session,
        confirm_destructive=ctx.args.allow_destructive,
        providers=providers,
        accounts=[plan.account, *accounts] if org is not None else None,
        sessions=member_sessions(session, org.role, ctx.args.external_id) if org is not None else None,
    )
    if ctx.json:
        ctx.emit_json({**report.model_dump(mode="json"), "report_path": str(path), "ok": report.ok})
    else:
        if not report.ok and not report.stale:
            ctx.out(
                "Fix the problem above and rerun the same command: finished changes are skipped, and "
                "the skipped ones run once what blocked them succeeds."
            )
    if report.stale:
        ctx.err(
            f"{len(report.stale)} change(s) refused: the document derived from AWS now is not the one the plan "
            "previewed (AWS changed, or the file was edited). Make the plan again."
        )
    return exit_for_report(report)


def run_plan(
    ctx: CliContext,
    plan: Plan,
    session: AwsSession,
    *,
    confirm_destructive: bool,
    providers: Mapping[str, object] | None = None,
    accounts: list[str] | None = None,
    sessions: Callable[[str], AwsSession] | None = None,
) -> tuple[ApplyReport, Path]:
    """Apply a validated, confirmed plan as every command does: under the lock of its account (or of each of
    `accounts`, in sorted order; `--wait` when the command has it), each result printed as it comes (not
    with --json), the report saved in the state dir, and a closing line of counts."""
    from aws.lock import account_lock, account_locks
    from aws.plans.change import apply_plan
    from tui.config import state_dir

    def progress(change: Change, result: ChangeResult) -> None:
        if not ctx.json:
            ctx.out(result_line(change, result))

    wait = max(float(getattr(ctx.args, "wait", 0.0) or 0.0), 0.0)
    lock = (
        account_locks(state_dir(), accounts, wait=wait)
        if accounts
        else account_lock(state_dir(), plan.account or session.identity().account, wait=wait)
    )
    with lock:
        report = apply_plan(
            plan,
            session,
            confirm_destructive=confirm_destructive,
            on_progress=progress,
            sessions=sessions,
            providers=providers,
        )
    path = save_report(report)
    if not ctx.json:
        counts = ", ".join(f"{n} {s}" for s, n in report.counts().items())
        ctx.out(f"\n{counts}. Report: {path}. Audit log: {session.audit.path if session.audit else '-'}")
    return report, path


def allowed_accounts(ctx: CliContext, named: list[str]) -> None:
    """A plan file alone never decides which accounts are changed: the user names them again, with
    --accounts (checked before any AWS call) or --org (each must be an ACTIVE account of the caller's
    organization). Raises ValidationFailed (exit 2, nothing changed) otherwise."""
    from aws.errors import ValidationFailed
    from aws.org import AccountSelection, list_org_accounts

    if ctx.args.org:
        active = {m.account for m in list_org_accounts(ctx.session())} | {ctx.session().identity().account}
        outside = [a for a in named if a not in active]
        if outside:
            raise ValidationFailed(
                f"The plan names accounts that are not ACTIVE accounts of this organization: "
                f"{', '.join(outside)}. Nothing was changed.",
                hint="Make the plan again from this organization (flowlogs plan --org).",
            )
        return
    given = set(AccountSelection.parse(accounts=split_list(ctx.args.accounts)).accounts)
    missing = [a for a in named if a not in given]
    if missing:
        raise ValidationFailed(
            f"This plan changes or grants log delivery to accounts you did not name: {', '.join(missing)}. "
            "Nothing was changed.",
            hint=f"Check the list above, then rerun with --accounts {','.join(named)} (or --org, to apply "
            "it only within your organization).",
        )


def member_sessions(session: AwsSession, role: str, external_id: str) -> Callable[[str], AwsSession]:
    """account -> a session there through the role the plan names (assumed when first needed, by
    `aws.org.reach_account`); an account it cannot be reached in raises the failure with what to check
    (the role's trust policy, --external-id, an SCP)."""
    from aws.errors import FlowlogsError
    from aws.org import AccountSelection, MemberAccount, reach_account

    selection = AccountSelection(assume_role=role, external_id=external_id)

    def reach(account: str) -> AwsSession:
        access = reach_account(session, session.identity(), MemberAccount(account=account), selection)
        if access.session is None:
            raise access.failure or FlowlogsError(f"Account {account} could not be reached.")
        return access.session

    return reach
