"""Executors of the Kentik change kinds: register a bucket (create an export) and update an export.

They run like every AWS change (previewed, checked, idempotent, audited: aws.kentik.api audits each
write), with a `KentikClient` instead of an AWS session: `apply_plan(..., providers={"kentik": client})`
binds it. A plan holding them needs Kentik credentials to apply.

- `kentik.create-export`: satisfied when an export already reads the bucket and prefix with our fields;
  when one reads it with other settings (made since the plan), the change is refused as stale.
- `kentik.update-export` (overwrites an export's settings: destructive, confirmed): starts from the export
  as Kentik returns it and changes only the fields the change sets (`aws.kentik.register.with_fields`),
  so names and settings made in the portal are kept. Refused as stale when the export changed since the
  plan in a field we set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aws.errors import ValidationFailed
from aws.iam.nested import ROLE_ARN
from aws.kentik.access import KentikCredentialsMissing, KentikNotFound
from aws.kentik.api import KentikClient
from aws.kentik.exports import clean_prefix, export_key, exports_for
from aws.kentik.models import CloudExport
from aws.kentik.register import (
    AWS_PROVIDER,
    CREATE_KIND,
    DEFAULTS,
    EXPORT_ID,
    EXPORT_TYPE,
    MAX_NAME,
    NESTED_FIELDS,
    PLAN_ID,
    UPDATE_KIND,
    ExportFields,
    Nested,
    Registration,
    current_fields,
    differences,
    export_target_id,
    field_problems,
    merged_export,
    nested_fields,
)
from aws.plans.change import Change, Executor, Params, Plan, StaleChange
from aws.session import AwsSession


class _AwsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    iamRoleArn: str
    region: str
    bucket: str
    bucketPrefix: str | None = None
    collectFlowLogs: bool
    collectFirewallLogs: bool
    metadataOnly: bool | None = None
    awsIamRoleArnIsOrg: bool | None = None
    secondaryAwsAccounts: list[str] | None = None
    secondaryAwsBlockedAccounts: list[str] | None = None
    secondaryAwsRegions: list[str] | None = None
    secondaryAwsSuffix: str | None = None


class _ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    enabled: bool
    planId: str = Field(pattern=PLAN_ID.pattern)
    type: str = Field(pattern=f"^{EXPORT_TYPE}$")
    cloudProvider: str = Field(pattern=f"^{AWS_PROVIDER}$")
    aws: _AwsBody


class CreateParams(Params):
    export: _ExportBody


class UpdateParams(Params):
    id: str = Field(pattern=EXPORT_ID.pattern)
    set: ExportFields


class UpdateBasis(Params):
    was: ExportFields


def _settings_problems(plan: Plan, fields: Mapping[str, Any], *, create: bool) -> list[str]:
    """The change against the plan's own Kentik settings (`flowlogs register` writes them): the plan id,
    the role and the nested setup it sends are the ones the plan says it registers with, in every export.
    An update is checked on the fields it sets; a create on all of them (absent = Kentik's default)."""
    kentik = plan.settings.get("kentik")
    if not isinstance(kentik, dict):
        return ["the plan has no Kentik settings (plans that register are made by `flowlogs register`)"]
    try:
        nested = kentik.get("nested")
        registration = Registration.parse(
            plan_id=str(kentik.get("plan_id") or ""),
            role_arn=str(kentik.get("role_arn") or ""),
            nested=Nested.model_validate(nested) if nested is not None else None,
        )
    except (ValidationFailed, ValidationError) as err:
        return [f"the plan's Kentik settings are not valid ({err})"]
    expected = {"planId": registration.plan_id, "aws.iamRoleArn": registration.role_arn}
    expected.update(nested_fields(registration.nested))
    problems = []
    for name, want in expected.items():
        if name not in fields and not create:
            continue
        got = fields.get(name, DEFAULTS.get(name))
        got = sorted(got) if isinstance(got, list) else got
        if got != want:
            problems.append(f"{name} is {_shown(got)}, not the plan's Kentik settings' {_shown(want)}")
    return problems  # the role may be another account's (a central security account's): Kentik checks it


def _location_problems(
    change: Change, plan: Plan, bucket: str, prefix: str, region: str, role: str
) -> list[str]:
    problems = []
    if change.target != export_target_id(bucket, prefix):
        problems.append(f"its target {change.target!r} is not the bucket it registers ({bucket})")
    if change.region != region:
        problems.append(f"its region {change.region!r} is not the bucket's region in the export ({region!r})")
    if not ROLE_ARN.match(role):
        problems.append(f"{role!r} is not an IAM role ARN")
    covering = [location for location in plan.read_set if location.covers(bucket, prefix)]
    if not covering:
        problems.append(f"s3://{bucket}/{prefix} is not in the plan's read set")
    elif all(location.region and location.region != region for location in covering):
        problems.append(
            f"{region!r} is not the bucket's region in the plan's read set ({covering[0].region})"
        )
    return problems


class _KentikExecutor(Executor):
    provider = "kentik"
    service = "kentik"
    client: KentikClient | None = None
    in_plan_files: ClassVar[bool] = True

    def bind(self, providers: Mapping[str, Any]) -> Executor:
        client = providers.get("kentik")
        if client is None:
            raise KentikCredentialsMissing(
                "This plan registers in Kentik, which needs Kentik credentials.",
                hint="Export KENTIK_EMAIL and KENTIK_API_TOKEN (read from the environment only), then rerun.",
            )
        self.client = client
        return self

    def kentik(self) -> KentikClient:
        if self.client is None:
            raise KentikCredentialsMissing("No Kentik client for this change (internal: not bound).")
        return self.client

    def call(self, session: AwsSession, change: Change) -> dict[str, Any]:  # not an AWS call
        raise NotImplementedError("Kentik changes are applied by their executor")


class CreateExport(_KentikExecutor):
    kind = CREATE_KIND
    operation = "CreateExport"
    Params = CreateParams

    def check(self, change: Change, plan: Plan) -> list[str]:
        body = CreateParams.model_validate(change.params).export
        prefix = clean_prefix(body.aws.bucketPrefix)
        fields = _body_fields(change.params["export"])
        return (
            field_problems(fields)
            + _settings_problems(plan, fields, create=True)
            + _location_problems(change, plan, body.aws.bucket, prefix, body.aws.region, body.aws.iamRoleArn)
        )

    def details(self, change: Change) -> list[str]:
        """Every field sent (a plan file's preview hides nothing it would register)."""
        body = change.params["export"]
        lines = [f"name {body.get('name')!r}"]
        lines += [f"{name}: {_shown(value)}" for name, value in _body_fields(body).items()]
        return lines

    def _wanted(self, change: Change) -> tuple[str, str, dict[str, Any]]:
        export = CloudExport.model_validate(change.params["export"])
        if export.aws is None:  # the params schema requires it
            raise StaleChange(f"{change.id}: the export has no AWS properties")
        names = list(_flatten(change.params["export"]))
        return export.aws.bucket or "", clean_prefix(export.aws.bucket_prefix), current_fields(export, names)

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        bucket, prefix, wanted = self._wanted(change)
        found = exports_for(self.kentik().list_exports(), bucket, prefix)
        if any(current_fields(e, wanted) == wanted for e in found):
            return True
        if found:
            ids = ", ".join(str(e.id) for e in found)
            raise StaleChange(
                f"Kentik now has an export for s3://{bucket}/{prefix} ({ids}) with other settings than this "
                "plan previewed. Nothing was sent for this change.",
                hint="Register again to review the difference.",
            )
        return False

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        created = self.kentik().create_export(CloudExport.model_validate(change.params["export"]))
        return {"export_id": created.id, "name": created.name}


def _body_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A create body's fields by dotted name, name and description aside."""
    fields = {k: v for k, v in body.items() if k not in ("name", "description", "aws")}
    fields.update({f"aws.{k}": v for k, v in (body.get("aws") or {}).items()})
    return fields


def _flatten(body: Mapping[str, Any]) -> list[str]:
    """The dotted names a create body owns: those it sets, the prefix ('' is sent as absent) and, for a
    nested setup, every nested field."""
    names = [*_body_fields(body), "aws.bucketPrefix"]
    if "secondaryAwsSuffix" in (body.get("aws") or {}):
        names += NESTED_FIELDS
    return list(dict.fromkeys(names))


class UpdateExport(_KentikExecutor):
    kind = UPDATE_KIND
    operation = "UpdateExport"
    destructive = True
    Params = UpdateParams
    Basis = UpdateBasis

    @staticmethod
    def _fields(change: Change) -> tuple[str, dict[str, Any], dict[str, Any]]:
        params = UpdateParams.model_validate(change.params)
        was = UpdateBasis.model_validate(change.basis).was
        return (
            params.id,
            params.set.model_dump(by_alias=True, exclude_none=True),
            was.model_dump(by_alias=True, exclude_none=True),
        )

    def check(self, change: Change, plan: Plan) -> list[str]:
        _, wanted, _ = self._fields(change)
        missing = [k for k in ("aws.bucket", "aws.region", "aws.iamRoleArn") if k not in wanted]
        if missing:
            return [f"it does not set {', '.join(missing)}"]
        return (
            field_problems(wanted)
            + _settings_problems(plan, wanted, create=False)
            + _location_problems(
                change,
                plan,
                wanted["aws.bucket"],
                clean_prefix(wanted.get("aws.bucketPrefix")),
                wanted["aws.region"],
                wanted["aws.iamRoleArn"],
            )
        )

    def details(self, change: Change) -> list[str]:
        export_id, wanted, was = self._fields(change)
        changed = [f"{name}: {_shown(old)} -> {_shown(new)}" for name, old, new in differences(was, wanted)]
        return [f"export {export_id}: only these fields change; the rest stays as set in Kentik", *changed]

    def checked(self, session: AwsSession, change: Change) -> object:
        return self._current(change)

    def _current(self, change: Change) -> CloudExport:
        """The export as Kentik has it now; StaleChange when it changed since the plan in a field we set."""
        export_id, wanted, was = self._fields(change)
        export = self._fetch(export_id)
        target = (wanted["aws.bucket"], clean_prefix(wanted.get("aws.bucketPrefix")))
        reads = export_key(export)
        if reads != target:  # an update never moves an export: this id reads another bucket
            shown = f"s3://{reads[0]}/{reads[1]}" if reads else "no S3 bucket"
            raise StaleChange(
                f"Kentik export {export_id} reads {shown}, not s3://{target[0]}/{target[1]} that this change "
                "updates. Nothing was sent for this change.",
                hint="Register again to review what Kentik has now.",
            )
        now = current_fields(export, wanted)
        if now != wanted and now != {k: was.get(k) for k in wanted}:
            raise StaleChange(
                f"Kentik export {export_id} changed since the plan was made "
                f"({', '.join(k for k, _, _ in differences(now, {k: was.get(k) for k in wanted}))}). Nothing was "
                "sent for this change.",
                hint="Register again to review the new difference.",
            )
        return export

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        export_id, wanted, _ = self._fields(change)
        return current_fields(self._fetch(export_id), wanted) == wanted

    def _fetch(self, export_id: str) -> CloudExport:
        try:
            return self.kentik().get_export(export_id)
        except KentikNotFound:
            raise StaleChange(
                f"Kentik export {export_id} no longer exists (deleted since the plan). Nothing was sent for "
                "this change.",
                hint="Register again: the bucket gets a new export.",
            ) from None

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        export_id, wanted, _ = self._fields(change)
        export = self._current(change)
        updated = self.kentik().update_export(export_id, merged_export(export, wanted))
        return {"export_id": updated.id, "name": updated.name}


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]" if value else "[]"
    return (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
