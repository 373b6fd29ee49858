"""The checklist's rows, built from discovery's inventory and the engine's verdicts (pure: no AWS calls).

VPC rows (verdict, reason, and what the plan would do, from `flowlog_action`) and firewall rows (FLOW/ALERT
status against the chosen bucket, and the logging steps `firewall_changes` would take), grouped by region;
`filter_rows` keeps the rows a filter matches with their region rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws.coverage import ReadSet, SourceCoverage
from aws.inventory import Firewall, Inventory, Verdict, Vpc
from aws.logs.firewall import REMOVE_KIND, FirewallOptions, FirewallTarget, assess_firewall, firewall_changes
from aws.logs.flowlogs import ACTION_TEXT, FlowLogOptions, FlowLogTarget, flowlog_action
from aws.plans.choices import RESOURCE_NOUN, LogChoices, ResourceKind
from aws.plans.targets import (
    ResourceTarget,
    default_judge,
    firewall_coverage,
    firewall_options,
    firewall_targets,
    flow_targets,
)
from aws.session import AwsSession
from screens.checklist_table import ChecklistRow
from screens.discovery import VERDICT_STYLE, short_reasons
from tui.palette import INFO, OK, WARN

ACTION_LABEL = {"none": "none", "create": "create", "add-beside": "add beside", "replace": "replace"}
_DEST_SHORT = {"CloudWatchLogs": "CWL", "KinesisDataFirehose": "KDF", "S3": "S3"}
_STATUS_SHORT = {"ok": "S3✓", "missing": "off", "other-s3": "S3≠"}
KIND_SHORT: dict[str, str] = {"vpc": "VPC", "subnet": "subnet", "eni": "ENI", "tgw": "TGW"}
RESOURCE_OPTIONS: tuple[tuple[ResourceKind, str], ...] = (
    ("vpc", "VPCs (default)"),
    ("subnet", "Subnets (of the scanned VPCs)"),
    ("eni", "Network interfaces (of the scanned VPCs)"),
    ("tgw", "Transit gateways (AWS: always 60 s, no traffic type)"),
)


# -- building the rows (pure: no AWS calls) -----------------------------------------------------------


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _firewall_status(fw: Firewall) -> dict[str, str]:
    """Short per-log-type status from discovery alone (no bucket chosen)."""
    out = {}
    for status in (fw.flow, fw.alert):
        if status.to_s3:
            out[status.log_type] = "S3"
        elif status.other:
            kinds = {d.destination_type for d in fw.destinations if d.log_type == status.log_type}
            out[status.log_type] = "/".join(sorted(_DEST_SHORT.get(k, k) for k in kinds)) or "other"
        else:
            out[status.log_type] = "off"
    return out


def firewall_row(
    region: str, fw: Firewall, target: FirewallTarget, options: FirewallOptions | None
) -> ChecklistRow:
    label, style = VERDICT_STYLE[fw.verdict]
    reason = "; ".join(r.message for r in fw.reasons) or fw.error or "FLOW and ALERT go to S3"
    if options is None:  # no bucket yet: discovery's view only
        status = _firewall_status(fw)
        steps = [f"+{t}" for t, s in status.items() if s == "off"]
        action_text = (
            "choose the bucket first (ctrl+b) to plan its logging" if steps else "nothing: already in S3"
        )
    else:
        assessment = assess_firewall(target, options)
        status = {}
        for item in assessment.types:
            if item.status == "non-s3":
                kind = (item.current or {}).get("LogDestinationType", "")
                status[item.log_type] = _DEST_SHORT.get(kind, kind)
            else:
                status[item.log_type] = _STATUS_SHORT[item.status]
        changes = firewall_changes([target], options)
        steps = []
        for change in changes:
            log_type = change.id.rsplit(":", 1)[-1]
            if change.kind == REMOVE_KIND:
                steps.append(f"move {log_type}")
            elif change.destructive:
                steps.append(f"repoint {log_type}")
            elif f"move {log_type}" not in steps:
                steps.append(f"+{log_type}")
        kept = [t.note for t in assessment.conflicts if not any(s.endswith(t.log_type) for s in steps)]
        named = f" of firewall {fw.name} ({region})"  # the detail pane's heading names it already
        parts = [c.title.replace(named, "") for c in changes] or ["nothing to change"]
        action_text = "; ".join(parts + [f"kept: {n} (o: options)" for n in kept])
    ident = " ".join(f"{t} {s}" for t, s in status.items())
    return ChecklistRow(
        key=f"fw:{region}:{fw.name}",
        kind="firewall",
        region=region,
        name=fw.name,
        ident=ident,
        verdict=label,
        verdict_style=style,
        action=" ".join(steps) or "none",
        action_text=action_text,
        needs_action=bool(steps),
        compliant=fw.verdict is Verdict.COMPLIANT,
        reason=reason,
        short_reason=short_reasons(fw.reasons) or reason,
    )


def build_rows(
    session: AwsSession,
    inventory: Inventory,
    choices: LogChoices,
    buckets: dict[str, str],
    *,
    replace_non_s3: bool = False,
    flow_log_ids: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    resources: list[ResourceTarget] | None = None,
) -> list[ChecklistRow]:
    """The checklist rows: per scanned region with resources, a region row, its VPCs, its firewalls.

    With `choices.resources` other than "vpc", the flow log rows are `resources` (subnets, ENIs or transit
    gateways, listed by `aws.plans.targets.resource_targets` in a worker; None while not listed yet)."""
    flow_log_ids = flow_log_ids or {}
    errors = errors or {}
    kind = choices.resources
    by_region: dict[str, list[ResourceTarget]] = {}
    for res in resources or []:
        by_region.setdefault(res.target.region, []).append(res)
    regions = [
        r
        for r in inventory.scanned_regions
        if r.firewalls or (r.vpcs if kind == "vpc" or resources is None else by_region.get(r.name))
    ]
    names = [r.name for r in regions]
    judge = default_judge(inventory, ReadSet.of_buckets(sorted(set(buckets.values()))), choices)
    every = LogChoices(existing_destinations=choices.existing_destinations)
    targets = {t.resource_id: t for t in flow_targets(session, inventory, every, names, judge)}
    fw_list = firewall_targets(inventory, every, names)
    fw_targets = {(t.region, t.name): t for t in fw_list}
    firewall_coverage(judge, fw_list, choices)  # existing destinations join the read set
    coverage = {d.source: d for d in judge.decisions}
    flow_opts = FlowLogOptions(buckets=buckets, replace_existing=choices.replace_existing)
    rows: list[ChecklistRow] = []
    for region in regions:
        bucket = buckets.get(region.name)
        fw_opts = firewall_options(judge.read_set, choices, buckets, replace_non_s3) if bucket else None
        where = f"→ s3://{bucket}/{choices.prefix}" if bucket else "→ no bucket chosen"
        if kind == "vpc":
            counted = plural(len(region.vpcs), "VPC")
        elif resources is None:
            counted = f"listing {RESOURCE_NOUN[kind]}s…"
        else:
            counted = plural(len(by_region.get(region.name, [])), RESOURCE_NOUN[kind])
        head = ChecklistRow(
            key=f"region:{region.name}",
            kind="region",
            region=region.name,
            name=f"{region.name}  {counted}, {plural(len(region.firewalls), 'firewall')}  {where}",
        )
        rows.append(head)
        vpc_names = {v.vpc_id: v.name or ("(default VPC)" if v.is_default else v.vpc_id) for v in region.vpcs}
        listed = sorted(
            by_region.get(region.name, []) if kind != "vpc" else [],
            key=lambda r: (vpc_names.get(r.vpc_id, r.vpc_id), r.vpc_id, r.name, r.target.resource_id),
        )
        for res in listed:  # a VPC's subnets/ENIs together, under its name
            head.children.append(len(rows))
            rows.append(resource_row(res, vpc_names, flow_opts, bucket, choices.prefix, flow_log_ids, errors))
        for vpc in region.vpcs if kind == "vpc" else []:
            head.children.append(len(rows))
            rows.append(
                vpc_row(
                    region.name,
                    vpc,
                    targets.get(vpc.vpc_id),
                    coverage.get(vpc.vpc_id),
                    flow_opts,
                    bucket,
                    choices.prefix,
                    flow_log_ids,
                    errors,
                )
            )
        for fw in region.firewalls:
            head.children.append(len(rows))
            rows.append(firewall_row(region.name, fw, fw_targets[(region.name, fw.name)], fw_opts))
    return rows


COVERAGE_LABEL: dict[str, tuple[str, str]] = {
    "covered": ("compliant", OK),
    "read": ("read set", OK),
    "duplicate": ("other bkt", WARN),
    "not-owned": ("not owned", INFO),  # another account's: nothing to do here
}


def vpc_row(
    region: str,
    vpc: Vpc,
    target: FlowLogTarget | None,
    coverage: SourceCoverage | None,
    flow_opts: FlowLogOptions,
    bucket: str | None,
    prefix: str,
    flow_log_ids: Mapping[str, str],
    errors: Mapping[str, str],
) -> ChecklistRow:
    """A VPC row, judged by coverage: compliant only when Kentik reads where its flow log goes."""
    decision = coverage.decision if coverage else "new"
    label, style = COVERAGE_LABEL.get(decision) or VERDICT_STYLE[vpc.verdict]
    action = flowlog_action(target, flow_opts) if target is not None else "none"
    if target is None:  # another account owns it: nothing to plan here
        text = coverage.reason if coverage else "not planned"
    elif decision == "read" and coverage is not None:
        text = f"nothing: Kentik will read s3://{coverage.bucket}/{coverage.prefix + '/' if coverage.prefix else ''}"
    else:
        text = ACTION_TEXT[action]
        if action != "none" and bucket:
            text += f" → s3://{bucket}/{prefix}"
        elif action != "none":
            text += " (choose the bucket first: ctrl+b)"
    by_coverage = bool(coverage) and decision != "new"
    reason = coverage.reason if coverage and by_coverage else "; ".join(r.message for r in vpc.reasons)
    return ChecklistRow(
        key=vpc.vpc_id,
        kind="vpc",
        region=region,
        name=vpc.name or ("(default VPC)" if vpc.is_default else ""),
        ident=vpc.vpc_id,
        verdict=label,
        verdict_style=style,
        action=ACTION_LABEL[action],
        action_text=text,
        needs_action=action != "none",
        compliant=decision in ("covered", "read"),
        reason=reason,
        short_reason=reason if by_coverage else short_reasons(vpc.reasons) or reason,
        flow_log_id=flow_log_ids.get(vpc.vpc_id) or (coverage.flow_log_id if coverage else "") or "",
        new_flow_log=vpc.vpc_id in flow_log_ids,
        error=errors.get(vpc.vpc_id, ""),
    )


def resource_row(
    res: ResourceTarget,
    vpc_names: Mapping[str, str],
    flow_opts: FlowLogOptions,
    bucket: str | None,
    prefix: str,
    flow_log_ids: Mapping[str, str],
    errors: Mapping[str, str],
) -> ChecklistRow:
    """A subnet, ENI or transit gateway row; subnets and ENIs are named after their VPC."""
    target = res.target
    label, style = VERDICT_STYLE[Verdict(target.verdict)]
    action = flowlog_action(target, flow_opts)
    text = ACTION_TEXT[action]
    if action != "none" and bucket:
        text += f" → s3://{bucket}/{prefix}"
    elif action != "none":
        text += " (choose the bucket first: ctrl+b)"
    if res.vpc_id:
        where = vpc_names.get(res.vpc_id, res.vpc_id)
        short = res.name.removeprefix(f"{where}-") if where != res.vpc_id else res.name
        name = f"{where} › {short}" if short else where
    else:
        name = res.name
    rid = target.resource_id
    return ChecklistRow(
        key=rid,
        kind="resource",
        region=target.region,
        name=name,
        ident=rid,
        verdict=label,
        verdict_style=style,
        action=ACTION_LABEL[action],
        action_text=text,
        needs_action=action != "none",
        compliant=target.verdict == "compliant",
        reason="; ".join(target.reasons) or (f"in {res.vpc_id}" if res.vpc_id else ""),
        flow_log_id=flow_log_ids.get(rid, ""),
        new_flow_log=rid in flow_log_ids,
        error=errors.get(rid, ""),
    )


def filter_rows(rows: list[ChecklistRow], needle: str) -> list[int]:
    """Indexes of the rows to show: matching rows, each under its region row."""
    needle = needle.strip().lower()
    if not needle:
        return list(range(len(rows)))
    shown: list[int] = []
    for index, row in enumerate(rows):
        if row.kind != "region":
            continue
        hits = [i for i in row.children if needle in rows[i].haystack]
        if hits:
            shown.append(index)
            shown.extend(hits)
    return shown
