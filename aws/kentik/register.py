"""What to register in Kentik, and the Changes that do it.

Kentik reads each log bucket (and prefix) through one AWS cloud export. From where the logs go (a plan's
log changes and the sources it found already delivering, or buckets named by the user) this module works
out one `ExportTarget` per bucket and prefix, with whether flow logs and firewall logs land there. Flow and
firewall logs of one bucket under different prefixes get one export each: an export reads one prefix.

`plan_registration` compares the targets with the exports Kentik already has (one list call, made by the
caller) and returns Changes of two kinds (aws.kentik.executors): `kentik.create-export` for a bucket no
export reads yet, `kentik.update-export` for one whose export differs in a field we own. An export that
already matches is left alone, so a rerun plans nothing. We own only the fields this setup decides
(`OWN_FIELDS`, and the nested ones when the setup is nested); an update starts from the export as Kentik
returns it, so a name, description or sampling set in the portal is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aws.coverage import ReadLocation, named_bucket_region
from aws.errors import ValidationFailed
from aws.iam.nested import ROLE_ARN
from aws.kentik.exports import AWS_PROVIDER, clean_prefix, exports_for
from aws.kentik.models import CloudExport, ExportList
from aws.org import ROLE_NAME
from aws.plans.change import Change, Plan
from aws.plans.links import log_destination
from aws.session import AwsSession

CREATE_KIND = "kentik.create-export"
UPDATE_KIND = "kentik.update-export"
EXPORT_TYPE = "CLOUD_EXPORT_TYPE_KENTIK_MANAGED"
NAME_FIELDS = ("bucket", "region", "account", "prefix")
DEFAULT_NAME = "{bucket}"
MAX_NAME = 256  # characters: our cap on a name (a longer one is refused before anything is sent)
PLAN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXPORT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

# The fields this setup decides, as dotted paths into the export (aws.* inside its AWS properties).
OWN_FIELDS = (
    "enabled",
    "planId",
    "type",
    "cloudProvider",
    "aws.iamRoleArn",
    "aws.region",
    "aws.bucket",
    "aws.bucketPrefix",
    "aws.collectFlowLogs",
    "aws.collectFirewallLogs",
    "aws.metadataOnly",  # true would make Kentik read metadata only, never the logs
)
NESTED_FIELDS = (
    "aws.awsIamRoleArnIsOrg",
    "aws.secondaryAwsAccounts",
    "aws.secondaryAwsBlockedAccounts",
    "aws.secondaryAwsRegions",
    "aws.secondaryAwsSuffix",
)
# What Kentik means when a field is absent (so an absent field and its default compare equal).
DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "aws.bucketPrefix": "",
    "aws.collectFlowLogs": True,
    "aws.collectFirewallLogs": False,
    "aws.metadataOnly": False,
    "aws.awsIamRoleArnIsOrg": False,
    "aws.secondaryAwsAccounts": [],
    "aws.secondaryAwsBlockedAccounts": [],
    "aws.secondaryAwsRegions": [],
    "aws.secondaryAwsSuffix": "",
}
_LISTS = {"aws.secondaryAwsAccounts", "aws.secondaryAwsBlockedAccounts", "aws.secondaryAwsRegions"}


class ExportFields(BaseModel):
    """The fields we own of one export, by dotted path (a change's parameters and basis)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False, frozen=True)

    enabled: bool | None = None
    plan_id: str | None = Field(default=None, alias="planId")
    type: str | None = None
    cloud_provider: str | None = Field(default=None, alias="cloudProvider")
    iam_role_arn: str | None = Field(default=None, alias="aws.iamRoleArn")
    region: str | None = Field(default=None, alias="aws.region")
    bucket: str | None = Field(default=None, alias="aws.bucket")
    bucket_prefix: str | None = Field(default=None, alias="aws.bucketPrefix")
    collect_flow_logs: bool | None = Field(default=None, alias="aws.collectFlowLogs")
    collect_firewall_logs: bool | None = Field(default=None, alias="aws.collectFirewallLogs")
    metadata_only: bool | None = Field(default=None, alias="aws.metadataOnly")
    is_org: bool | None = Field(default=None, alias="aws.awsIamRoleArnIsOrg")
    secondary_accounts: list[str] | None = Field(default=None, alias="aws.secondaryAwsAccounts")
    blocked_accounts: list[str] | None = Field(default=None, alias="aws.secondaryAwsBlockedAccounts")
    secondary_regions: list[str] | None = Field(default=None, alias="aws.secondaryAwsRegions")
    secondary_suffix: str | None = Field(default=None, alias="aws.secondaryAwsSuffix")


class ExportTarget(BaseModel):
    """One export we want: the bucket and prefix it reads and which logs land there."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    prefix: str = ""
    region: str = ""
    account: str = ""
    flow: bool = True
    firewall: bool | None = Field(
        default=False, description="Firewall logs land there; None: not known (an export's switch is kept)"
    )
    why: str = Field(default="", description="Why this bucket has more than one export")

    @property
    def shown(self) -> str:
        return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"


class Nested(BaseModel):
    """Kentik's nested (organization) setup: the spoke role's name in each member account."""

    model_config = ConfigDict(frozen=True)

    org: bool = False  # the primary role is the organization's (awsIamRoleArnIsOrg)
    accounts: list[str] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    suffix: str = ""


@dataclass(frozen=True)
class Registration:
    """How every export of this setup is registered. Build it with `parse` (validated whole)."""

    plan_id: str
    role_arn: str
    name_template: str = DEFAULT_NAME
    nested: Nested | None = None

    @classmethod
    def parse(
        cls,
        *,
        plan_id: str,
        role_arn: str,
        name_template: str | None = None,
        nested: Nested | None = None,
    ) -> Registration:
        """Every problem at once (ValidationFailed), before any call to Kentik or AWS."""
        problems: list[str] = []
        plan_id, role_arn = (plan_id or "").strip(), (role_arn or "").strip()
        template = (name_template or DEFAULT_NAME).strip()
        if not PLAN_ID.match(plan_id):
            problems.append(
                f"the Kentik plan id {plan_id!r} is not one (letters, digits, '-' and '_'; Kentik's plan "
                "list shows them)"
                if plan_id
                else "no Kentik plan id given (--plan-id)"
            )
        if not ROLE_ARN.match(role_arn):
            problems.append(
                f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
                if role_arn
                else "no Kentik role given (--role NAME or --role-arn ARN)"
            )
        problems += template_problems(template)
        if nested is not None:
            bad = [a for a in (*nested.accounts, *nested.blocked) if not _ACCOUNT.match(a)]
            if bad:
                problems.append(f"not account ids: {', '.join(bad)}")
            if not ROLE_NAME.match(nested.suffix):
                problems.append(
                    f"the spoke role name {nested.suffix!r} is not a role name (1-64 letters, digits and "
                    "+=,.@_-)"
                )
            problems += [f"{r!r} is not an AWS region" for r in nested.regions if not _REGION.match(r)]
        if problems:
            raise ValidationFailed("Cannot register in Kentik:\n- " + "\n- ".join(problems))
        return cls(plan_id=plan_id, role_arn=role_arn, name_template=template, nested=nested)

    def name_for(self, target: ExportTarget) -> str:
        return self.name_template.format(
            bucket=target.bucket, region=target.region, account=target.account, prefix=target.prefix
        ).strip()


def template_problems(template: str) -> list[str]:
    """Why a name template cannot be used: fields other than {bucket} {region} {account} {prefix}, bad
    braces, formats, or an empty result."""
    try:
        names = [name for _, name, spec, conv in Formatter().parse(template) if name is not None]
        specs = [(spec, conv) for _, name, spec, conv in Formatter().parse(template) if name is not None]
    except ValueError as err:
        return [f"the name template {template!r} is not valid: {err}"]
    unknown = sorted({n for n in names if n not in NAME_FIELDS})
    if unknown:
        known = " ".join("{" + f + "}" for f in NAME_FIELDS)
        return [f"the name template {template!r} uses {', '.join(unknown) or '{}'}: it may use {known}"]
    if any(spec or conv for spec, conv in specs):
        return [f"the name template {template!r}: give fields without formats or conversions"]
    if not template.format(bucket="b", region="r", account="a", prefix="").strip():
        return [f"the name template {template!r} gives an empty name"]
    return []


# -- where the logs go ---------------------------------------------------------------------------------
_FLOW_KINDS = ("ec2.create-flow-logs",)
_FIREWALL_KINDS = ("network-firewall.s3-log-destination", "network-firewall.repoint-log-destination")


def deliveries(plans: Iterable[Plan]) -> dict[tuple[str, str], set[str]]:
    """(bucket, prefix) -> the kinds of logs ('flowlog', 'firewall') that go there: the plans' log
    changes, and the sources they found already delivering where Kentik reads."""
    out: dict[tuple[str, str], set[str]] = {}
    for plan in plans:
        for change in plan.changes:
            kind = (
                "flowlog"
                if change.kind in _FLOW_KINDS
                else "firewall"
                if change.kind in _FIREWALL_KINDS
                else ""
            )
            bucket, prefix = log_destination(change) if kind else ("", "")
            if bucket:
                out.setdefault((bucket, clean_prefix(prefix)), set()).add(kind)
        for source in plan.coverage:
            if source.decision in ("covered", "read") and source.bucket:
                out.setdefault((source.bucket, clean_prefix(source.prefix)), set()).add(source.kind)
    return out


def targets_for(
    locations: Sequence[ReadLocation],
    delivered: dict[tuple[str, str], set[str]] | None = None,
    *,
    account: str = "",
    regions: dict[str, str] | None = None,
    firewall: bool = False,
) -> list[ExportTarget]:
    """One target per bucket and prefix Kentik reads. A location of Kentik's own (read whole) gets one
    per prefix logs are delivered under; an existing bucket's location its own prefix. Flow logs are
    assumed where nothing says what lands; firewall logs then are not known (None: an existing export's
    switch is kept, a new one collects none) unless `firewall` says they land there too (buckets named by
    hand with --firewall-logs).
    `regions`: bucket -> region where the location does not say."""
    delivered = delivered or {}
    regions = regions or {}
    out: list[ExportTarget] = []
    seen: set[tuple[str, str]] = set()
    for location in locations:
        if location.kentik:
            prefixes = sorted({p for b, p in delivered if b == location.bucket}) or [""]
        else:
            prefixes = [clean_prefix(location.prefix)]
        for prefix in prefixes:
            if (location.bucket, prefix) in seen:
                continue
            seen.add((location.bucket, prefix))
            kinds = delivered.get((location.bucket, prefix), set())
            out.append(
                ExportTarget(
                    bucket=location.bucket,
                    prefix=prefix,
                    region=location.region or regions.get(location.bucket, ""),
                    account=location.account or account,
                    flow="flowlog" in kinds or not kinds,
                    firewall=("firewall" in kinds) if kinds else (True if firewall else None),
                )
            )
    return [t.model_copy(update={"why": _why(t.bucket, out)}) for t in out]


def _why(bucket: str, targets: list[ExportTarget]) -> str:
    """Why a bucket has several exports ('' when it has one)."""
    prefixes = [t.prefix for t in targets if t.bucket == bucket]
    if len(prefixes) < 2:
        return ""
    shown = ", ".join(f"'{p}/'" if p else "the top" for p in prefixes)
    return (
        f"logs go under {len(prefixes)} prefixes of {bucket} ({shown}) and a Kentik export reads one "
        "prefix, so each gets its own export"
    )


def source_regions(plans: Iterable[Plan]) -> list[str]:
    """The regions the plans' log sources are in (their log changes and the sources they found), sorted:
    where Kentik reads metadata in the member accounts of a nested setup."""
    return sorted(
        {c.region for plan in plans for c in plan.changes if c.kind in _FLOW_KINDS + _FIREWALL_KINDS}
        | {source.region for plan in plans for source in plan.coverage if source.region}
    )


def plan_regions(plans: Iterable[Plan]) -> dict[str, str]:
    """bucket -> region, for the buckets the plans create (their read set may not say)."""
    return {
        str(c.params.get("Bucket")): c.region
        for plan in plans
        for c in plan.changes
        if c.kind == "s3.create-bucket" and c.params.get("Bucket")
    }


def targets_in(
    session: AwsSession,
    locations: Sequence[ReadLocation],
    plans: Sequence[Plan] = (),
    *,
    account: str,
    firewall: bool = False,
) -> list[ExportTarget]:
    """`targets_for` the read locations and the plans' deliveries, asking AWS (GetBucketLocation) for
    the region of each bucket neither the location nor a plan's bucket creation names."""
    regions = plan_regions(plans)
    missing = {loc.bucket for loc in locations if not loc.region and loc.bucket not in regions}
    regions.update({bucket: named_bucket_region(session, bucket) for bucket in sorted(missing)})
    return targets_for(locations, deliveries(plans), account=account, regions=regions, firewall=firewall)


# -- fields -------------------------------------------------------------------------------------------
def wanted_fields(target: ExportTarget, registration: Registration) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "enabled": True,
        "planId": registration.plan_id,
        "type": EXPORT_TYPE,
        "cloudProvider": AWS_PROVIDER,
        "aws.iamRoleArn": registration.role_arn,
        "aws.region": target.region,
        "aws.bucket": target.bucket,
        "aws.bucketPrefix": target.prefix,
        "aws.collectFlowLogs": target.flow,
        "aws.collectFirewallLogs": target.firewall,  # None: not ours (left out below)
        "aws.metadataOnly": False,
    }
    if target.firewall is None:
        del fields["aws.collectFirewallLogs"]
    if registration.nested is not None:
        fields.update(nested_fields(registration.nested))
    return fields


def nested_fields(nested: Nested | None) -> dict[str, Any]:
    """The nested fields a setup sends (None: not nested, Kentik's defaults)."""
    if nested is None:
        return {name: DEFAULTS[name] for name in NESTED_FIELDS}
    return {
        "aws.awsIamRoleArnIsOrg": nested.org,
        "aws.secondaryAwsAccounts": sorted(set(nested.accounts)),
        "aws.secondaryAwsBlockedAccounts": sorted(set(nested.blocked)),
        "aws.secondaryAwsRegions": sorted(set(nested.regions)),
        "aws.secondaryAwsSuffix": nested.suffix,
    }


def current_fields(export: CloudExport, names: Iterable[str]) -> dict[str, Any]:
    """The export's values of `names`, an absent field as Kentik's default; lists sorted."""
    data = export.to_api()
    out: dict[str, Any] = {}
    for name in names:
        head, _, tail = name.partition(".")
        value = (data.get(head) or {}).get(tail) if tail else data.get(head)
        if value is None:
            value = DEFAULTS.get(name, "")
        if name == "aws.bucketPrefix":
            value = clean_prefix(value)
        if name in _LISTS:
            value = sorted({str(v) for v in value or []})
        out[name] = value
    return out


def differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, now, wanted) for every owned field that differs."""
    return [(k, current.get(k, DEFAULTS.get(k, "")), v) for k, v in wanted.items() if current.get(k) != v]


def with_fields(data: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Kentik's JSON of an export with `fields` set (a default value is left out, as a create sends it)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, value in fields.items():
        head, _, tail = name.partition(".")
        where = out.setdefault(head, {}) if tail else out
        key = tail or head
        if name in DEFAULTS and value == DEFAULTS[name] and not isinstance(value, bool):
            where.pop(key, None)  # '' and [] are sent as absent
        else:
            where[key] = value
    return out


def new_export(target: ExportTarget, registration: Registration) -> CloudExport:
    fields = {"aws.collectFirewallLogs": False, **wanted_fields(target, registration)}  # a new one says
    data = with_fields({"name": registration.name_for(target)}, fields)
    return CloudExport.model_validate(data)


def merged_export(existing: CloudExport, fields: dict[str, Any]) -> CloudExport:
    """The export to PUT: Kentik's current one with only `fields` changed (everything else kept)."""
    return CloudExport.model_validate(with_fields(existing.to_api(), fields))


# -- the changes --------------------------------------------------------------------------------------
class AmbiguousExports(ValidationFailed):
    """More than one Kentik export reads one bucket and prefix, and none matches: we do not pick one."""


def field_problems(fields: dict[str, Any]) -> list[str]:
    """Why owned field values (dotted names, as a change sets them) are not what this setup ever sends:
    a plan file is checked with this, so an edited one cannot register what its preview does not show."""
    from aws.names import validate_bucket_name

    problems: list[str] = []
    fixed = {"enabled": True, "type": EXPORT_TYPE, "cloudProvider": AWS_PROVIDER, "aws.metadataOnly": False}
    problems += [f"{k} must be {v!r}" for k, v in fixed.items() if k in fields and fields[k] != v]
    if "planId" in fields and not PLAN_ID.match(str(fields["planId"])):
        problems.append(f"planId {fields['planId']!r} is not a plan id")
    if "aws.iamRoleArn" in fields and not ROLE_ARN.match(str(fields["aws.iamRoleArn"])):
        problems.append(f"{fields['aws.iamRoleArn']!r} is not an IAM role ARN")
    if "aws.region" in fields and not _REGION.match(str(fields["aws.region"])):
        problems.append(f"{fields['aws.region']!r} is not an AWS region")
    if "aws.bucket" in fields:
        problems += [f"aws.bucket: {p}" for p in validate_bucket_name(str(fields["aws.bucket"]))]
    prefix = fields.get("aws.bucketPrefix")
    if prefix is not None and (clean_prefix(prefix) != prefix or "//" in prefix):
        problems.append(f"aws.bucketPrefix {prefix!r} is not a prefix without leading or trailing '/'")
    if fields.get("aws.collectFlowLogs") is False and fields.get("aws.collectFirewallLogs") is not True:
        problems.append("it collects neither flow logs nor firewall logs")
    suffix = fields.get("aws.secondaryAwsSuffix")
    nested = {k: fields[k] for k in NESTED_FIELDS if fields.get(k) not in (None, "", [], False)}
    if nested and not (isinstance(suffix, str) and ROLE_NAME.match(suffix)):
        problems.append("nested settings need a spoke role name (aws.secondaryAwsSuffix)")
    for name in ("aws.secondaryAwsAccounts", "aws.secondaryAwsBlockedAccounts"):
        bad = [a for a in fields.get(name) or [] if not _ACCOUNT.match(a)]
        problems += [f"{name}: not account ids: {', '.join(bad)}"] if bad else []
    bad = [r for r in fields.get("aws.secondaryAwsRegions") or [] if not _REGION.match(r)]
    problems += [f"aws.secondaryAwsRegions: not AWS regions: {', '.join(bad)}"] if bad else []
    return problems


def export_target_id(bucket: str, prefix: str) -> str:
    """A change's `target`: the bucket and prefix read (exports have no ARN)."""
    return f"kentik:export:{bucket}/{prefix}" if prefix else f"kentik:export:{bucket}"


@dataclass
class RegistrationPlan:
    """What registering needs: the changes, the exports already right, and notes for the user."""

    changes: list[Change] = field(default_factory=list)
    unchanged: list[tuple[ExportTarget, CloudExport]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_registration(
    exports: ExportList | Sequence[CloudExport],
    targets: Sequence[ExportTarget],
    registration: Registration,
    *,
    account: str,
) -> RegistrationPlan:
    """Changes that make Kentik read every target as `registration` says (no call: `exports` is
    Kentik's list, fetched by the caller). Raises ValidationFailed for a target without a region and
    AmbiguousExports for a bucket two differing exports read."""
    missing = [t.shown for t in targets if not _REGION.match(t.region)]
    if missing:
        raise ValidationFailed(f"The region of {', '.join(missing)} is not known; nothing was registered.")
    long = [registration.name_for(t) for t in targets if len(registration.name_for(t)) > MAX_NAME]
    if long:
        raise ValidationFailed(
            f"The name template gives a name longer than {MAX_NAME} characters: {long[0][:60]}…",
            hint="Use a shorter --name-template.",
        )
    out = RegistrationPlan()
    invalid = getattr(exports, "invalid_count", 0)
    if invalid:
        out.notes.append(
            f"Kentik left {invalid} export(s) it finds invalid out of its list: one may read these buckets "
            "already (check the portal)."
        )
    whys = sorted({t.why for t in targets if t.why})
    out.notes += [w[0].upper() + w[1:] + "." for w in whys]
    names_used = {e.name for e in exports}
    for target in targets:
        wanted = wanted_fields(target, registration)
        found = exports_for(list(exports), target.bucket, target.prefix)
        same = [e for e in found if current_fields(e, wanted) == wanted]
        where = export_target_id(target.bucket, target.prefix)
        if same:
            out.unchanged.append((target, same[0]))
            extra = ", ".join(f"{e.id} ({e.name})" for e in found if e is not same[0])
            if extra:  # each export is a device in Kentik: the others read it twice, or fail
                out.notes.append(
                    f"{target.shown} is also read by Kentik export {extra}: remove it in the portal."
                )
        elif not found:
            export = new_export(target, registration)
            if export.name in names_used:  # Kentik's export names are unique: tell this one apart
                which = (
                    f"{target.prefix}/"
                    if target.prefix and target.bucket in export.name
                    else target.shown[5:]
                )
                export = export.model_copy(update={"name": f"{export.name} ({which})"})
            if export.name in names_used:
                raise ValidationFailed(
                    f"The export name {export.name!r} is taken in Kentik; nothing was registered.",
                    hint="Give --name-template with {bucket} (and {prefix}) so every export's name differs.",
                )
            names_used.add(export.name)
            out.changes.append(
                Change(
                    id=f"{CREATE_KIND}:{target.bucket}/{target.prefix}",
                    kind=CREATE_KIND,
                    title=f"Register {target.shown} in Kentik as {export.name!r}",
                    reason=target.why
                    or "Kentik reads each log bucket (and prefix) through one cloud export of its own",
                    target=where,
                    account=account,
                    region=target.region,
                    params={"export": export.to_api()},
                    group="kentik",
                )
            )
        elif len(found) > 1:
            ids = ", ".join(f"{e.id} ({e.name})" for e in found)
            raise AmbiguousExports(
                f"{len(found)} Kentik exports read {target.shown} and none is as this setup needs: {ids}. "
                "Nothing was registered.",
                hint="Delete or fix the extra ones in Kentik's portal, then register again.",
            )
        else:
            export = found[0]
            now = current_fields(export, wanted)
            changed = {k: v for k, v in wanted.items() if now.get(k) != v}
            out.changes.append(
                Change(
                    id=f"{UPDATE_KIND}:{export.id}",
                    kind=UPDATE_KIND,
                    title=f"Update Kentik export {export.name!r} ({export.id}) for {target.shown}",
                    reason="its settings differ from this setup's: "
                    + ", ".join(k for k, _, _ in differences(now, changed)),
                    target=where,
                    account=account,
                    region=target.region,
                    params={"id": str(export.id), "set": wanted},
                    basis={"was": now},
                    group="kentik",
                )
            )
    return out


def registration_plan(
    exports: ExportList | Sequence[CloudExport],
    targets: Sequence[ExportTarget],
    registration: Registration,
    *,
    account: str,
    partition: str = "aws",
) -> tuple[Plan, RegistrationPlan]:
    """The plan that registers `targets` (validated like any plan file: `validate_plan`), with what
    `plan_registration` found. Its read set is the targets; its settings say how they are registered."""
    from aws.plans.change import validate_plan

    found = plan_registration(exports, targets, registration, account=account)
    plan = Plan(
        account=account,
        partition=partition,
        notes=list(found.notes),
        read_set=[
            ReadLocation(bucket=t.bucket, prefix=t.prefix, account=t.account, region=t.region, kentik=False)
            for t in targets
        ],
        settings={
            "kentik": {
                "plan_id": registration.plan_id,
                "role_arn": registration.role_arn,
                "name_template": registration.name_template,
                "nested": registration.nested.model_dump() if registration.nested else None,
            }
        },
    )
    plan.extend(found.changes)
    validate_plan(plan)
    return plan, found
