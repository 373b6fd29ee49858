"""`flowlogs verify`: watch the bucket(s) until every flow log and firewall log delivers readable files.

Exit codes: 0 every source delivered readable files; 1 timeout (or --once) with sources still waiting,
stale or failed (or none found); 2 usage errors, a name no bucket can have, a bucket that does not exist;
3 a bucket of another account or one that denies this identity, or this identity may not read its files.
Every bucket is checked before the watch starts (its name before any AWS call, then HeadBucket).

With --kentik, each poll also asks Kentik for its cloud exports (one list call) and reports, per location
watched, the export reading it and its `currentStatus` (aws.kentik.status). The command exits 0 only when
every source delivers readable files AND every location's export has found flows; 1 while one has not
found flows yet, reports no access, is disabled, or a location has no export; 2 without KENTIK_EMAIL /
KENTIK_API_TOKEN (before any AWS call); 3 when Kentik refuses the credentials; 4 when it cannot be reached.
Only that first ask (before any AWS call) can stop the command: a later one that fails is said once on
stderr and retried on the next poll, the last answer kept; a watch that ends while Kentik still fails
exits 1 unless that last answer had every export reading (the JSON "kentik" block has the "error").
"""

from __future__ import annotations

import argparse
import textwrap
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tui.cli import (
    account_selection,
    add_account_options,
    add_kentik_options,
    add_list_option,
    kentik_client,
    split_list,
)

if TYPE_CHECKING:
    from aws.coverage import ReadLocation
    from aws.errors import FlowlogsError
    from aws.kentik.api import KentikClient
    from aws.kentik.status import ExportStatus, KentikReport
    from aws.logs.report import SourceStatus
    from aws.logs.sources import LogSource
    from aws.org import AccountSelection
    from aws.session import AwsSession
    from tui.cli import CliContext

NAME = "verify"
HELP = "watch the bucket(s) until every flow log and firewall log delivers readable files"


# Injectable for tests: the CLI's clock and sleep.
def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


clock: Callable[[], datetime] = _utcnow
sleep: Callable[[float], None] = time.sleep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bucket",
        action="append",
        required=True,
        metavar="NAME[/PREFIX/]",
        help="bucket to watch (repeatable); bucket/prefix/ watches only sources writing below that prefix",
    )
    parser.add_argument("--prefix", default=None, help="only sources writing under this prefix")
    add_list_option(parser, "--regions", metavar="REGION", help="regions to discover (default: all enabled)")
    parser.add_argument("--since", default="1h", help="count files delivered since DURATION ago (default 1h)")
    parser.add_argument("--timeout", default="20m", help="give up after DURATION (default 20m)")
    parser.add_argument("--interval", default="30s", help="time between polls (default 30s)")
    parser.add_argument("--once", action="store_true", help="poll once and report")
    parser.add_argument(
        "--role",
        metavar="NAME_OR_ARN",
        help="Kentik's role: also check that its policies (and the KMS key policy) let it read each file",
    )
    add_account_options(parser)
    parser.add_argument(
        "--bucket-account",
        metavar="ID",
        help="with --org / --accounts: the account that owns the bucket(s), e.g. a log archive (default: "
        "the caller's); it is reached through --assume-role like the members",
    )
    parser.add_argument(
        "--kentik",
        action="store_true",
        help="also ask Kentik, on every poll, whether its cloud export for each bucket (or bucket/prefix/) "
        "can use the role, read the bucket and has found flows; exit 0 only once every export found flows",
    )
    add_kentik_options(parser)


def _regions(values: list[str] | None) -> list[str] | None:
    from aws.regions import validate_regions

    out = validate_regions(split_list(values), what="--regions")  # before any AWS call
    return out or None


def _refusal(problems: dict[str, FlowlogsError]) -> FlowlogsError:
    """The error that stops the watch: a bucket's own when one is at fault; for several, one listing each,
    a usage error (exit 2) unless every bucket only denied access (exit 3)."""
    from aws.errors import AccessDeniedError, ValidationFailed

    errors = list(problems.values())
    if len(errors) == 1:
        return errors[0]
    message = "These buckets cannot be watched:\n" + "\n".join(f"  {err.message}" for err in errors)
    if all(err.kind == "access" for err in errors):
        return AccessDeniedError(message, action="s3:ListBucket", hint=errors[0].hint)
    return ValidationFailed(message, hint="Nothing was watched: fix or leave out these buckets.")


def run(ctx: CliContext) -> int:
    from aws.errors import AccessDeniedError, ValidationFailed
    from aws.logs.report import parse_duration
    from aws.logs.sources import bucket_problems, parse_locations, sources_from_account
    from aws.logs.watch import Watcher
    from aws.names import log_folder
    from aws.reader import RoleReaderCheck, resolve_role

    args = ctx.args
    since = parse_duration(args.since)
    timeout = parse_duration(args.timeout)
    interval = parse_duration(args.interval)
    if interval.total_seconds() <= 0:
        raise ValidationFailed("--interval must be more than 0.")
    buckets = [b.strip() for b in args.bucket if b.strip()]
    if not buckets:
        raise ValidationFailed("--bucket needs a bucket name.")
    regions = _regions(args.regions)
    locations = parse_locations(buckets).locations  # a name no bucket can have: refused before any AWS call

    selection = account_selection(args)  # before any AWS call
    if args.bucket_account and not selection.many:
        raise ValidationFailed("--bucket-account goes with --org or --accounts.")
    if args.bucket_account and not (args.bucket_account.isdigit() and len(args.bucket_account) == 12):
        raise ValidationFailed(f"--bucket-account takes a 12-digit account id, not {args.bucket_account!r}.")
    # Kentik first: missing credentials (2), refused ones (3) or no answer (4) stop it before any AWS call.
    kentik = _Kentik(kentik_client(ctx), locations) if args.kentik else None
    if kentik is not None:
        kentik.poll()
    session = ctx.session()
    warnings: list[str] = []
    unreached: list[str] = []
    source_sessions: dict[str, AwsSession] = {}
    if selection.many:
        session, sources, source_sessions, unreached = _sources_in_accounts(
            session, selection, buckets, regions, warnings, args.bucket_account, args.account_workers
        )
    else:
        # The regions are checked against the account first (a usage error), then each bucket (HeadBucket).
        sources = sources_from_account(session, buckets, regions, warnings=warnings)
    problems = bucket_problems(session, buckets)
    if problems:
        if ctx.json:
            ctx.emit_json(
                {
                    "ok": False,
                    "sources": [],
                    "buckets": [
                        {
                            "bucket": name,
                            "problem": type(err).__name__,
                            "kind": err.kind,
                            "message": err.message,
                        }
                        for name, err in problems.items()
                    ],
                    **_kentik_json(kentik),
                }
            )
        raise _refusal(problems)
    check = RoleReaderCheck(session, resolve_role(session, args.role)) if args.role else None
    if args.prefix is not None:
        want = log_folder(args.prefix)
        sources = [s for s in sources if log_folder(s.prefix) == want]
    if not ctx.json:
        for line in warnings:
            ctx.err(f"warning: {line}")
    if not sources:
        where = ", ".join(buckets) + (f" (prefix {args.prefix!r})" if args.prefix is not None else "")
        if ctx.json:
            ctx.emit_json(
                {
                    "ok": False,
                    "sources": [],
                    "warnings": warnings,
                    "message": f"nothing delivers to {where}",
                    **_kentik_json(kentik),
                }
            )
        else:
            ctx.err(f"No flow log or firewall log delivers to {where}.")
            if kentik is not None:
                _kentik_report(ctx, kentik.report)
        return 1

    start = clock() - since
    watcher = Watcher(session, sources, start, check, source_sessions=source_sessions)
    deadline = clock() + timeout
    previous: dict[str, str] = {}
    statuses: list[SourceStatus] = []
    while True:
        now = clock()
        statuses = watcher.poll(now)
        change = ""
        if kentik is not None and watcher.polls > 1:  # the first poll's answer is the one asked above
            change = kentik.retry()  # a Kentik failure now is kept and retried, not raised
        if not ctx.json:
            _progress(ctx, watcher.polls, now, statuses, previous)
            if kentik is not None:
                _kentik_progress(ctx, kentik, previous, change)
        kentik_done = kentik is None or kentik.report.done
        if (all(s.ready for s in statuses) and kentik_done) or any(s.access_denied for s in statuses):
            break
        if args.once or clock() >= deadline:
            break
        sleep(max(0.0, min(interval, deadline - clock()).total_seconds()))

    _report(ctx, statuses, warnings, start, kentik)
    denied = [s for s in statuses if s.access_denied]
    if denied:
        raise AccessDeniedError(
            f"Cannot read the bucket: {denied[0].detail}", action="s3", hint=denied[0].next_step
        )
    if unreached and not ctx.json:
        ctx.out(f"{len(unreached)} account(s) not reached, their sources not watched: {', '.join(unreached)}")
    kentik_done = kentik is None or kentik.report.done
    return 0 if all(s.ready for s in statuses) and kentik_done and not unreached else 1


class _Kentik:
    """Kentik's view of the watched locations, asked again on every poll, the last answer kept.

    `poll` raises Kentik's error (the first ask, which may stop the command); `retry` (every later poll)
    keeps it in `error` instead, the last good report staying in `report`, until an ask succeeds again."""

    def __init__(self, client: KentikClient, locations: list[ReadLocation]) -> None:
        self.client = client
        self.locations = locations
        self._report: KentikReport | None = None
        self.error: FlowlogsError | None = None  # the last ask's failure; None once Kentik answered again

    def poll(self) -> KentikReport:
        from aws.kentik.status import export_statuses

        self._report = export_statuses(self.client, self.locations, now=clock())
        self.error = None
        return self._report

    def retry(self) -> str:
        """Ask again without raising: "failed" when this ask failed and the one before did not, "recovered"
        when it answered after failing, '' when nothing changed."""
        from aws.errors import FlowlogsError

        failing = self.error is not None
        try:
            self.poll()
        except FlowlogsError as err:
            self.error = err
            return "" if failing else "failed"
        return "recovered" if failing else ""

    @property
    def report(self) -> KentikReport:
        return self._report if self._report is not None else self.poll()


def _kentik_json(kentik: _Kentik | None) -> dict[str, Any]:
    """The "kentik" key of the --json output (nothing without --kentik)."""
    if kentik is None:
        return {}
    report = kentik.report
    return {
        "kentik": {
            "ok": report.done,
            "checked_at": report.checked_at.isoformat(timespec="seconds"),  # the last answer's time
            "error": kentik.error.message if kentik.error is not None else None,  # the last ask's failure
            "invalid_exports": report.invalid_exports,
            "exports": [
                {**s.model_dump(mode="json"), "location": s.path, "done": s.done} for s in report.statuses
            ],
        }
    }


def _kentik_label(st: ExportStatus) -> str:
    return f"kentik {st.path}" + (f" (export {st.export_id})" if st.export_id else "")


def _kentik_progress(ctx: CliContext, kentik: _Kentik, previous: dict[str, str], change: str = "") -> None:
    """Like `_progress`: each export's state when it changes, then one line of counts. A failed ask is
    said when it starts failing (and when Kentik answers again), not on every poll."""
    report = kentik.report
    if change == "failed" and kentik.error is not None:
        ctx.err(f"  kentik: asking failed, retried on the next poll: {kentik.error.message}")
    elif change == "recovered":
        ctx.err("  kentik: answering again")
    for st in report.statuses:
        key = f"kentik:{st.path}:{st.export_id}"
        if previous.get(key) != st.state:
            before = previous.get(key)
            change = f"{before} -> {st.state}" if before else st.state
            said = f": {st.error_message}" if st.error_message else ""
            ctx.err(f"  {_kentik_label(st)}: {change}{said}")
            previous[key] = st.state
    summary = ", ".join(f"{n} {state}" for state, n in report.counts().items())
    stale = f" (as of {report.checked_at:%H:%M:%S}: Kentik not answering)" if kentik.error else ""
    ctx.err(f"  kentik: {summary or 'nothing to read'}{stale}")


def _sources_in_accounts(
    session: AwsSession,
    selection: AccountSelection,
    buckets: list[str],
    regions: list[str] | None,
    warnings: list[str],
    bucket_account: str | None,
    workers: int,
) -> tuple[AwsSession, list[LogSource], dict[str, AwsSession], list[str]]:
    """Every member's sources delivering to the bucket(s), read in the member through its role, and the
    session that reads the bucket(s) (its owner's). Members not reached are warned about and listed."""
    from aws.errors import FlowlogsError
    from aws.logs.sources import sources_from_account
    from aws.org import MemberAccount, reach_accounts, select_accounts

    members = select_accounts(session, selection)
    if bucket_account and bucket_account not in [m.account for m in members]:
        members.append(MemberAccount(account=bucket_account))
    accesses = {a.account: a for a in reach_accounts(session, members, selection, workers=workers)}
    sources: list[LogSource] = []
    sessions: dict[str, AwsSession] = {}
    unreached: list[str] = []
    for account, access in sorted(accesses.items()):
        if access.session is None:
            unreached.append(account)
            if access.error is not None:
                warnings.append(f"account {account} not reached: {access.error.message} {access.error.hint}")
            continue
        sessions[account] = access.session
        found: list[str] = []
        try:
            sources += sources_from_account(access.session, buckets, regions, warnings=found)
        except FlowlogsError as err:
            unreached.append(account)
            warnings.append(f"account {account}: sources not read: {err.message}")
        warnings.extend(f"account {account}: {line}" for line in found)
    me = session.identity().account
    owner = bucket_account or me
    reader = sessions.get(owner) or (session if owner == me else None)
    if reader is None:  # the owner's own failure (its kind gives the exit code: denied 3, unreachable 4)
        failure = accesses[owner].failure
        if failure is not None:
            raise failure
        raise FlowlogsError(f"The bucket account {owner} could not be read, so the bucket(s) cannot be.")
    sources.sort(key=lambda s: (s.bucket, s.account, s.kind, s.region, s.id))
    return reader, sources, sessions, unreached


def _progress(
    ctx: CliContext, poll: int, now: datetime, statuses: list[SourceStatus], previous: dict[str, str]
) -> None:
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st.state] = counts.get(st.state, 0) + 1
        label = _label(st)
        if previous.get(st.source.key) != st.state:
            before = previous.get(st.source.key)
            change = f"{before} -> {st.state}" if before else st.state
            ctx.err(f"  {label}: {change}: {st.detail}")
            previous[st.source.key] = st.state
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    ctx.err(f"[{now:%H:%M:%S}] poll {poll}: {summary}")


def _label(st: SourceStatus) -> str:
    s = st.source
    return (
        f"{s.flow_log_id} {s.region}" if s.kind == "flowlog" else f"{s.firewall_name}/{s.log_type} {s.region}"
    )


def _check(st: SourceStatus) -> str:
    if st.reader is not None and not st.reader.ok:
        return "reader denied"
    c = st.content
    if c is None:
        return "-"
    if not c.ok:
        return "unreadable"
    if c.kind == "flowlog":
        return f"{len(c.missing_fields)} missing" if c.missing_fields else f"ok {c.records} rec"
    return f"ok {c.records} ev"


def _wrap(text: str, first: str, rest: str) -> str:
    """Fill to 80 columns without splitting names and ARNs (a longer word keeps its own line)."""
    return textwrap.fill(
        text, 80, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False, break_long_words=False
    )


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _report(
    ctx: CliContext,
    statuses: list[SourceStatus],
    warnings: list[str],
    start: datetime,
    kentik: _Kentik | None = None,
) -> None:
    from aws.logs.report import age

    if ctx.json:
        data: dict[str, Any] = {
            "ok": all(s.ready for s in statuses) and (kentik is None or kentik.report.done),
            "since": start.isoformat(timespec="seconds"),
            "warnings": warnings,
            "sources": [{**s.model_dump(mode="json"), "ready": s.ready} for s in statuses],
            **_kentik_json(kentik),
        }
        ctx.emit_json(data)
        return
    now = clock()
    # 28 + 1 + 14 + 1 + 9 + 1 + 5 + 1 + 6 + 1 + 13 = 80 columns
    ctx.out(f"{'SOURCE':<28} {'REGION':<14} {'STATE':<9} {'FILES':>5} {'NEWEST':>6} CHECK")
    several = len({st.source.account for st in statuses}) > 1
    account = ""
    for st in statuses:
        s = st.source
        if several and s.account != account:
            account = s.account
            ctx.out(f"account {account}:")
        name = s.label if s.kind == "flowlog" else f"{s.firewall_name}/{s.log_type}"
        if len(name) > 28 and s.kind == "flowlog":
            name = s.flow_log_id
        newest = age(now - st.newest.last_modified) if st.newest else "-"
        row = (
            f"{_cut(name, 28):<28} {_cut(s.region, 14):<14} {st.state:<9} {st.files:>5} "
            f"{newest:>6} {_cut(_check(st), 13):<13}"
        )
        ctx.out(row.rstrip())
    for st in statuses:
        if st.ready and not st.next_step:
            continue
        ctx.out("")
        where = f"{st.source.account} " if several else ""
        ctx.out(_wrap(f"{where}{_label(st)}: {st.detail}", "", "  "))
        if st.next_step:
            ctx.out(_wrap(f"next: {st.next_step}", "  ", "    "))
    ready = sum(1 for s in statuses if s.ready)
    ctx.out("")
    ctx.out(f"{ready} of {len(statuses)} source(s) delivered readable files.")
    if kentik is not None:
        _kentik_report(ctx, kentik.report, kentik.error)


def _yes(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def _kentik_report(ctx: CliContext, report: KentikReport, error: FlowlogsError | None = None) -> None:
    """Kentik's view of each location: the export, its state and what Kentik says (80 columns)."""
    ctx.out("")
    # 30 + 1 + 10 + 1 + 14 + 1 + 3 + 1 + 6 + 1 + 5 = 73 columns
    ctx.out(f"{'KENTIK READS':<30} {'EXPORT':<10} {'STATE':<14} {'API':<3} {'BUCKET':<6} FLOWS")
    for st in report.statuses:
        row = (
            f"{_cut(st.path, 30):<30} {_cut(st.export_id or '-', 10):<10} {st.state:<14} "
            f"{_yes(st.api_access) if st.registered else '-':<3} "
            f"{_yes(st.bucket_access) if st.registered else '-':<6} "
            f"{_yes(st.flow_found) if st.registered else '-'}"
        )
        ctx.out(row.rstrip())
    for st in report.statuses:
        if st.done and not st.error_message:
            continue
        ctx.out("")
        export = (
            f" (export {st.export_id} {st.export_name or ''})".replace(" )", ")") if st.registered else ""
        )
        status = f", Kentik status {st.status}" if st.status else ""
        ctx.out(_wrap(f"{st.path}{export}: {st.state}{status}", "", "  "))
        if st.error_message:
            ctx.out(_wrap(f"Kentik says: {st.error_message}", "  ", "    "))
        if step := st.next_step():
            ctx.out(_wrap(f"next: {step}", "  ", "    "))
    reading = sum(1 for s in report.statuses if s.done)
    ctx.out("")
    extra = (
        f" ({report.invalid_exports} invalid export(s) left out by Kentik)" if report.invalid_exports else ""
    )
    ctx.out(_wrap(f"{reading} of {len(report.statuses)} Kentik export(s) found flows.{extra}", "", ""))
    if error is not None:
        ctx.out(
            _wrap(f"Kentik's last poll failed; shown is its answer of {report.checked_at:%H:%M:%S}.", "", "")
        )
        ctx.out(_wrap(error.message, "  ", "    "))
