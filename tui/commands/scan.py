"""`flowlogs scan`: discover regions, VPCs, flow logs, firewalls and candidate Kentik roles (read-only).

A readable report by default (fits 80 columns), the whole inventory as JSON with `--json` (schema:
`aws.inventory.inventory_json_schema()`). Exit 0 when every region was scanned, 1 when some failed
(they are in the output, each with the call that failed and what to do), 3 / 4 when not one region could
be scanned and every failure was access denied / AWS unreachable (refused, timed out, throttled beyond
the retry budget), 2 for usage or credential errors (the exit-code table in tui/cli.py).

`--fail-on missing,needs-change` makes it a drift gate for CI and cron: exit 1 also when a VPC or
firewall has one of those verdicts (a VPC added since the set-up, a flow log changed).
"""

from __future__ import annotations

import argparse
import textwrap
import threading
from typing import TYPE_CHECKING

from aws.limits import MAX_SCAN_WORKERS
from tui.cli import (
    EXIT_OK,
    EXIT_PARTIAL,
    account_selection,
    add_account_options,
    add_list_option,
    exit_for,
    split_list,
)

if TYPE_CHECKING:
    from aws.inventory import Firewall, Inventory, RegionResult, ScanError, Verdict, Vpc
    from aws.org import AccountSelection
    from aws.org_scan import OrgInventory
    from tui.cli import CliContext

NAME = "scan"
HELP = "discover regions, VPCs, flow logs, firewalls and Kentik roles, and assess them (read-only)"

WIDTH = 80
_COLUMNS = (
    ("REGION", 15),
    ("STATUS", 12),
    ("VPCS", 5),
    ("OK", 5),
    ("CHANGE", 7),
    ("MISSING", 8),
    ("FW", 4),
    ("FW OK", 6),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_list_option(
        parser, "--regions", metavar="REGION", help="only scan these regions (default: every enabled region)"
    )
    add_list_option(parser, "--skip", metavar="REGION", help="never scan these regions")
    add_list_option(
        parser,
        "--fail-on",
        metavar="VERDICT",
        help="exit 1 when a VPC or firewall has one of these verdicts: missing, needs-change, unknown "
        "(a drift gate for CI and cron)",
    )
    parser.add_argument(
        "--schema",
        action="store_true",
        help="print the JSON schema of the --json output and exit (no AWS calls)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"regions scanned at once, 1-{MAX_SCAN_WORKERS} (default: the scan_workers setting, 12)",
    )
    add_account_options(parser)


def fail_on_verdicts(values: list[str] | None) -> set[Verdict]:
    """The verdicts `--fail-on` names; a usage error (ValidationFailed) naming the valid ones otherwise."""
    from aws.errors import ValidationFailed
    from aws.inventory import Verdict

    valid = [v.value for v in Verdict if v is not Verdict.COMPLIANT]
    names = split_list(values)
    bad = [name for name in names if name not in valid]
    if bad:
        raise ValidationFailed(
            f"--fail-on: unknown verdict(s) {', '.join(map(repr, bad))}; the verdicts are {', '.join(valid)}."
        )
    return {Verdict(name) for name in names}


def drift(inventory: Inventory, verdicts: set[Verdict]) -> list[str]:
    """One line per VPC or firewall whose verdict is one of `verdicts`."""
    lines = [
        f"{region} {vpc.vpc_id} {vpc.verdict.value}"
        for region, vpc in inventory.vpcs()
        if vpc.verdict in verdicts
    ]
    lines += [
        f"{r.name} firewall {fw.name} {fw.verdict.value}"
        for r in inventory.regions
        for fw in r.firewalls
        if fw.verdict in verdicts
    ]
    return lines


def run(ctx: CliContext) -> int:
    from aws.discovery import scan
    from aws.discovery_api import validate_region_names
    from aws.inventory import inventory_json_schema

    if ctx.args.schema:
        if getattr(ctx.args, "org", False) or ctx.args.accounts:
            from aws.org_scan import OrgInventory

            ctx.emit_json(OrgInventory.model_json_schema(mode="serialization"))
        else:
            ctx.emit_json(inventory_json_schema())
        return 0
    fail_on = fail_on_verdicts(ctx.args.fail_on)  # before any AWS call
    include = validate_region_names(split_list(ctx.args.regions), what="--regions")
    skip = validate_region_names(split_list(ctx.args.skip), what="--skip")
    if not include:
        include = validate_region_names(ctx.settings.include_regions, what="include_regions setting")
    skip += [
        r
        for r in validate_region_names(ctx.settings.skip_regions, what="skip_regions setting")
        if r not in include and r not in skip
    ]
    workers = ctx.args.workers if ctx.args.workers is not None else ctx.settings.scan_workers
    selection = account_selection(ctx.args)  # before any AWS call
    if selection.many:
        return run_accounts(ctx, selection, include=include, skip=skip, workers=workers, fail_on=fail_on)

    on_region = None
    if not ctx.json and ctx.stderr.isatty():
        lock = threading.Lock()

        def on_region(region: RegionResult) -> None:
            with lock:
                ctx.err(f"  {region.name}: {region.status.value} ({region.duration_s:.1f} s)")

    inventory = scan(ctx.session(), include=include, skip=skip, workers=workers, on_region=on_region)
    if ctx.json:
        ctx.emit_json(inventory.model_dump(mode="json"))
    else:
        for line in render(inventory):
            ctx.out(line)
    code = exit_for(
        [r.error.kind if r.error else "error" for r in inventory.failed_regions],
        succeeded=len(inventory.scanned_regions),
    )
    return with_drift(ctx, code, drift(inventory, fail_on), fail_on)


def with_drift(ctx: CliContext, code: int, drifted: list[str], fail_on: set[Verdict]) -> int:
    """`--fail-on`: name each source with one of those verdicts on stderr; exit 1 when there is one."""
    if not drifted:
        return code
    names = ",".join(sorted(v.value for v in fail_on))
    ctx.err(f"flowlogs scan: --fail-on {names}: {len(drifted)} source(s) with those verdicts:")
    for line in drifted:
        ctx.err(f"  {line}")
    return EXIT_PARTIAL if code == EXIT_OK else code


def run_accounts(
    ctx: CliContext,
    selection: AccountSelection,
    *,
    include: list[str],
    skip: list[str],
    workers: int,
    fail_on: set[Verdict],
) -> int:
    """`scan --org` / `--accounts`: every account, each through its assumed role. Exit 0 when every account
    and region was scanned; 1 when some were not (each is listed with the reason), 3 / 4 when none could
    be and every failure was access denied / AWS unreachable."""
    from aws.org_scan import AccountScan, scan_accounts

    on_account = None
    if not ctx.json and ctx.stderr.isatty():
        lock = threading.Lock()

        def on_account(entry: AccountScan) -> None:
            with lock:
                ctx.err(f"  {entry.account}: {entry.status}")

    org = scan_accounts(
        ctx.session(),
        selection,
        account_workers=ctx.args.account_workers,
        workers=workers,
        include=include,
        skip=skip,
        on_account=on_account,
    )
    if ctx.json:
        ctx.emit_json(org.model_dump(mode="json"))
    else:
        for line in render_accounts(org):
            ctx.out(line)
    kinds: list[str] = []
    for entry in org.accounts:
        if entry.error is not None:  # not reached, or its scan stopped as a whole
            kinds.append("access" if entry.error.kind == "scp" else entry.error.kind)
        elif entry.inventory is not None:  # every region failed ("failed"), or some ("partial")
            kinds += [r.error.kind if r.error else "error" for r in entry.inventory.failed_regions]
    code = exit_for(kinds, succeeded=len(org.scanned))
    drifted = [
        f"{entry.account} {line}"
        for entry in org.scanned
        if entry.inventory is not None
        for line in drift(entry.inventory, fail_on)
    ]
    return with_drift(ctx, code, drifted, fail_on)


_ACCOUNT_COLUMNS = (
    ("ACCOUNT", 13),
    ("NAME", 16),
    ("STATUS", 11),
    ("VPCS", 5),
    ("OK", 5),
    ("TODO", 5),
    ("FW", 4),
    ("FW OK", 6),
)


def _account_row(values: list[str]) -> str:
    cells = [
        value[:width].ljust(width) if i < 3 else value.rjust(width)
        for i, ((_, width), value) in enumerate(zip(_ACCOUNT_COLUMNS, values, strict=True))
    ]
    return " ".join(cells).rstrip()


def render_accounts(org: OrgInventory) -> list[str]:
    """The organization report: one row per account, the accounts that could not be scanned with the
    reason and what to check, then each account's VPCs and firewalls needing action."""
    from aws.inventory import Verdict

    who = org.caller
    source = "the organization" if org.org else "the accounts named"
    lines = _wrap(
        f"{len(org.accounts)} account(s) from {source}, each through role {org.assume_role}; caller {who.arn}",
        "",
    )
    if org.excluded:
        lines += _wrap(f"Left out (--exclude-accounts): {', '.join(org.excluded)}", "")
    lines += _wrap(
        f"{len(org.scanned)} scanned, {len(org.failed)} not scanned ({org.duration_s:.1f} s, "
        f"{org.account_workers} account(s) at once).",
        "",
    )
    lines += ["", _account_row([name for name, _ in _ACCOUNT_COLUMNS])]
    for entry in org.accounts:
        c = entry.counts
        if entry.inventory is None:
            lines.append(_account_row([entry.account, entry.name, entry.status.upper(), *["-"] * 5]))
            continue
        todo = c.vpcs - c.compliant
        lines.append(
            _account_row(
                [
                    entry.account,
                    entry.name,
                    entry.status,
                    str(c.vpcs),
                    str(c.compliant),
                    str(todo),
                    str(c.firewalls),
                    str(c.firewalls_compliant),
                ]
            )
        )
    t = org.totals
    lines.append(
        _account_row(
            [
                "TOTAL",
                "",
                "",
                str(t.vpcs),
                str(t.compliant),
                str(t.vpcs - t.compliant),
                str(t.firewalls),
                str(t.firewalls_compliant),
            ]
        )
    )
    failed = org.failed
    if failed:
        lines += ["", f"Accounts not scanned ({len(failed)}):"]
        for entry in failed:
            lines += _wrap(f"{entry.account}{f' ({entry.name})' if entry.name else ''}: {entry.status}", "  ")
            if entry.error is not None:
                lines += _wrap(entry.error.message, "    ", first="    ! ")
                if entry.error.hint:
                    lines += _wrap(entry.error.hint, "      ", first="    ")
    for entry in org.scanned:
        inv = entry.inventory
        assert inv is not None
        todo_v = [(n, v) for n, v in inv.vpcs() if v.verdict is not Verdict.COMPLIANT]
        todo_f = [(r.name, f) for r in inv.regions for f in r.firewalls if f.verdict is not Verdict.COMPLIANT]
        broken = [r for r in inv.regions if r.error is not None and r.status.value == "failed"]
        if not (todo_v or todo_f or broken):
            continue
        lines += ["", f"Account {entry.account}{f' ({entry.name})' if entry.name else ''}:"]
        for region in broken:
            assert region.error is not None
            lines += _wrap(f"{region.name}: FAILED", "  ")
            lines += _error_lines(region.error, "    ")
        for name, vpc in todo_v:
            lines += _vpc_lines(name, vpc)
        for name, fw in todo_f:
            lines += _firewall_lines(name, fw)
    return lines


# -- the readable report ---------------------------------------------------------------------------
def _wrap(text: str, indent: str, *, first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
    ) or [indent]


def _row(values: list[str]) -> str:
    cells: list[str] = []
    for (_, width), value in zip(_COLUMNS, values, strict=True):
        cells.append(value.ljust(width) if not cells or len(cells) == 1 else value.rjust(width))
    return " ".join(cells).rstrip()


def _error_lines(err: ScanError, indent: str) -> list[str]:
    where = f"{err.service}:{err.operation} " if err.operation else ""
    text = f"{where}{err.code}: {err.message}" if err.code else f"{where}{err.message}"
    lines = _wrap(text, indent, first=indent + "! ")
    if err.hint:
        lines += _wrap(f"fix: {err.hint}", indent + "  ")
    return lines


def _vpc_lines(region: str, vpc: Vpc) -> list[str]:
    head = f"{region}  {vpc.vpc_id}"
    if vpc.name:
        head += f" ({vpc.name})"
    if vpc.is_default:
        head += " [default]"
    lines = _wrap(f"{head}  {vpc.verdict.value}", "  ")
    for reason in vpc.reasons:
        lines += _wrap(reason.message, "      ", first="    - ")
    return lines


def _firewall_lines(region: str, fw: Firewall) -> list[str]:
    head = f"{region}  {fw.name}" + (f" ({fw.vpc_id})" if fw.vpc_id else "")
    lines = _wrap(f"{head}  {fw.verdict.value}", "  ")
    for reason in fw.reasons:
        lines += _wrap(reason.message, "      ", first="    - ")
    return lines


def render(inv: Inventory) -> list[str]:
    """The report as lines of at most 80 columns (ids longer than a line are never cut)."""
    from aws.inventory import RegionStatus, Verdict

    ident = inv.identity
    lines = _wrap(f"Account {ident.account} ({ident.partition}), caller {ident.arn}", "")
    by_status = {s: [r for r in inv.regions if r.status is s] for s in RegionStatus}
    summary = (
        f"Regions: {len(inv.scanned_regions)} scanned, "
        f"{len(by_status[RegionStatus.FAILED])} failed, "
        f"{len(by_status[RegionStatus.PARTIAL])} partial, "
        f"{len(by_status[RegionStatus.NOT_ENABLED])} not enabled, "
        f"{len(by_status[RegionStatus.SKIPPED])} skipped ({inv.duration_s:.1f} s)."
    )
    lines += _wrap(summary, "")
    lines += ["", _row([name for name, _ in _COLUMNS])]
    total = [0] * 6
    for region in inv.regions:
        if region.status in (RegionStatus.NOT_ENABLED, RegionStatus.SKIPPED):
            continue
        if region.scanned:
            c = region.counts
            numbers = [c.vpcs, c.compliant, c.needs_change, c.missing, c.firewalls, c.firewalls_compliant]
            total = [a + b for a, b in zip(total, numbers, strict=True)]
            lines.append(_row([region.name, region.status.value, *map(str, numbers)]))
        else:
            lines.append(_row([region.name, region.status.value.upper(), *["-"] * 6]))
        if region.error is not None:
            lines += _error_lines(region.error, "  ")
        for err in region.partial_errors:
            lines += _error_lines(err, "  ")
    lines.append(_row(["TOTAL", "", *map(str, total)]))

    for status, label in (
        (RegionStatus.NOT_ENABLED, "Not enabled (opt-in)"),
        (RegionStatus.SKIPPED, "Skipped"),
    ):
        if by_status[status]:
            lines += ["", *_wrap(f"{label}: " + ", ".join(r.name for r in by_status[status]), "")]

    todo = [(name, v) for name, v in inv.vpcs() if v.verdict is not Verdict.COMPLIANT]
    lines += ["", f"VPCs needing action ({len(todo)}):" if todo else "VPCs needing action: none"]
    for name, vpc in todo:
        lines += _vpc_lines(name, vpc)

    firewalls = [(r.name, f) for r in inv.regions for f in r.firewalls if f.verdict is not Verdict.COMPLIANT]
    if firewalls:
        lines += ["", f"Firewalls needing action ({len(firewalls)}):"]
        for name, fw in firewalls:
            lines += _firewall_lines(name, fw)

    lines.append("")
    if inv.roles_error is not None:
        lines.append("Candidate Kentik roles: not readable")
        lines += _error_lines(inv.roles_error, "  ")
    elif not inv.roles:
        lines.append("Candidate Kentik roles: none found")
    else:
        lines.append(f"Candidate Kentik roles ({len(inv.roles)}):")
        for role in inv.roles:
            why = []
            if role.trusts_kentik:
                why.append("trusts Kentik (834693425129)")
            if role.external_ids:
                why.append("ExternalId " + ", ".join(role.external_ids))
            lines += _wrap(f"{role.name}: {'; '.join(why)}", "  ")
            attached = ", ".join(
                f"{p.name} ({p.default_version_id})" if p.default_version_id else p.name
                for p in role.attached_policies
            )
            lines += _wrap(f"attached: {attached or 'none'}", "      ", first="    ")
            lines += _wrap(f"inline: {', '.join(role.inline_policies) or 'none'}", "      ", first="    ")
            if role.error:
                lines += _wrap(f"! {role.error}", "      ", first="    ")
    return lines
