"""The change engine: every change to AWS is a `Change` inside a `Plan`.

A Change says what it does, why, to which ARN, and exactly which API call with which parameters. Each
Change has a `kind`, and each kind has an `Executor` registered here that knows how to check whether the
change is already satisfied (read calls only) and how to apply it (idempotently). `apply_plan` runs the
changes in order and skips satisfied ones. A change runs only when every change it `depends_on` is
satisfied or applied; otherwise it is `skipped` with `blocked_by` naming the failed (or refused) change at
the root, so a conflict on one resource does not stop unrelated changes. The state of every change is
recorded; running the same plan again converges without duplicates.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from botocore import xform_name
from pydantic import BaseModel, Field

from aws.coverage import ReadLocation, SourceCoverage
from aws.errors import FlowlogsError, ValidationFailed, explain
from aws.session import AwsSession

PLAN_FORMAT = 1

# Modules that register executors. A plan loaded from JSON can name any of their kinds.
EXECUTOR_MODULES = ("aws.buckets", "aws.flowlogs", "aws.firewall", "aws.iam_policy")


class Change(BaseModel):
    """One change to AWS, previewed before it runs."""

    id: str = Field(description="Stable id, unique in the plan, e.g. 's3.create-bucket:my-bucket'")
    kind: str = Field(description="Executor that checks and applies it")
    title: str = Field(description="What it does, one line")
    reason: str = Field(description="Why, tied to the spec")
    target: str = Field(description="ARN of the resource changed")
    service: str
    region: str
    operation: str = Field(description="The AWS API call, e.g. CreateBucket")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters, as sent")
    destructive: bool = Field(default=False, description="Deletes or overwrites existing configuration")
    depends_on: list[str] = Field(default_factory=list)
    group: str = Field(default="", description="Part of the plan: bucket, flowlogs, firewall, iam")

    def describe(self) -> str:
        flag = " [DESTRUCTIVE]" if self.destructive else ""
        return f"{self.title}{flag}\n    why: {self.reason}\n    call: {self.service}:{self.operation} in {self.region}"


class Plan(BaseModel):
    format: int = PLAN_FORMAT
    account: str = ""
    partition: str = "aws"
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    changes: list[Change] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict, description="Choices the plan was made from")
    read_set: list[ReadLocation] = Field(
        default_factory=list, description="Every bucket (and prefix) Kentik must read once applied"
    )
    coverage: list[SourceCoverage] = Field(
        default_factory=list, description="What the plan does for each log source, and why"
    )

    def add(self, change: Change) -> None:
        if any(c.id == change.id for c in self.changes):
            raise ValueError(f"duplicate change id {change.id}")
        unknown = [d for d in change.depends_on if not any(c.id == d for c in self.changes)]
        if unknown:
            raise ValueError(f"{change.id} depends on changes not earlier in the plan: {unknown}")
        self.changes.append(change)

    def extend(self, changes: list[Change]) -> None:
        for change in changes:
            self.add(change)

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    def summary(self) -> str:
        if not self.changes:
            return "Nothing to change: everything is already as required."
        groups: dict[str, int] = {}
        for change in self.changes:
            groups[change.group or "other"] = groups.get(change.group or "other", 0) + 1
        parts = ", ".join(f"{n} {g}" for g, n in groups.items())
        text = f"{len(self.changes)} change(s) in account {self.account or '?'}: {parts}"
        if self.destructive:
            text += f"; {len(self.destructive)} destructive (need explicit confirmation)"
        return text

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            plan = cls.model_validate_json(text)
        except ValueError as err:
            raise ValidationFailed(f"Not a flowlogs plan file: {err}") from err
        if plan.format != PLAN_FORMAT:
            raise ValidationFailed(f"Plan format {plan.format} is not supported (expected {PLAN_FORMAT}).")
        return plan


class Executor:
    """Checks and applies one kind of Change. Subclasses register themselves with `kind = ...`."""

    kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Executor]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Executor.registry[cls.kind] = cls

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        """True when AWS already is as the change wants it. Read calls only."""
        raise NotImplementedError

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        """Make the change; return outputs worth showing (ids, ARNs). Must be safe to repeat."""
        raise NotImplementedError

    @staticmethod
    def call(session: AwsSession, change: Change) -> dict[str, Any]:
        """Make exactly the API call the change names, with its parameters."""
        client = session.client(change.service, change.region)
        method = getattr(client, xform_name(change.operation))
        response: dict[str, Any] = method(**change.params)
        response.pop("ResponseMetadata", None)
        return response


def executor_for(kind: str) -> Executor:
    if kind not in Executor.registry:
        for module in EXECUTOR_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise
    try:
        return Executor.registry[kind]()
    except KeyError:
        raise ValidationFailed(f"Unknown change kind {kind!r} in plan.") from None


Status = Literal["pending", "satisfied", "applied", "failed", "not-run", "refused", "skipped"]
DONE: tuple[Status, ...] = ("satisfied", "applied")  # a dependant may run after these
PROBLEMS: tuple[Status, ...] = ("failed", "refused")  # the change itself went wrong (not a dependency)


class ChangeResult(BaseModel):
    change_id: str
    status: Status = "pending"
    detail: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    blocked_by: str = Field(
        default="", description="skipped: the id of the failed or refused change it (transitively) needs"
    )


class ApplyReport(BaseModel):
    account: str = ""
    started: str = ""
    finished: str = ""
    results: list[ChangeResult] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status in DONE for r in self.results)

    @property
    def failed(self) -> ChangeResult | None:
        """The first change that failed or was refused (skipped ones name it in `blocked_by`)."""
        return next((r for r in self.results if r.status in PROBLEMS), None)

    @property
    def problems(self) -> list[ChangeResult]:
        """Every change that failed or was refused, in plan order."""
        return [r for r in self.results if r.status in PROBLEMS]

    @property
    def skipped(self) -> list[ChangeResult]:
        return [r for r in self.results if r.status == "skipped"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


Progress = Callable[[Change, ChangeResult], None]


def apply_plan(
    plan: Plan,
    session: AwsSession,
    *,
    confirm_destructive: bool = False,
    on_progress: Progress | None = None,
    on_begin: Callable[[Change], object] | None = None,
) -> ApplyReport:
    """Run the plan's changes in order. A change whose prerequisites (`depends_on`) did not all end
    satisfied or applied is `skipped`, with `blocked_by` the root failed/refused change; every other change
    still runs. Raises ValidationFailed, before any change, for a dependency that is not an earlier change.

    `on_begin(change)` is called before each change is checked (not for skipped ones),
    `on_progress(change, result)` after every change, skipped ones included."""
    now = lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")  # noqa: E731
    _check_order(plan)
    report = ApplyReport(
        account=plan.account,
        started=now(),
        results=[ChangeResult(change_id=c.id, status="not-run") for c in plan.changes],
    )
    if plan.account:
        actual = session.identity().account
        if actual != plan.account:
            raise ValidationFailed(
                f"This plan was made for account {plan.account}, but the credentials are for {actual}. "
                "Nothing was changed."
            )
    by_id: dict[str, ChangeResult] = {}
    for change, result in zip(plan.changes, report.results, strict=True):
        blocker = next((by_id[d] for d in change.depends_on if by_id[d].status not in DONE), None)
        if blocker is not None:
            root = blocker.blocked_by or blocker.change_id
            result.status, result.blocked_by = "skipped", root
            result.detail = f"not run: it needs {root}, which {_ended(by_id[root])}"
        else:
            if on_begin:
                on_begin(change)
            _run_one(change, result, session, confirm_destructive)
        by_id[change.id] = result
        if on_progress:
            on_progress(change, result)
    report.finished = now()
    return report


def _run_one(change: Change, result: ChangeResult, session: AwsSession, confirm_destructive: bool) -> None:
    try:
        executor = executor_for(change.kind)
        if executor.satisfied(session, change):
            result.status, result.detail = "satisfied", "already as required"
        elif change.destructive and not confirm_destructive:
            result.status = "refused"
            result.detail = "destructive change not confirmed; nothing was changed"
        else:
            result.outputs = executor.apply(session, change)
            result.status, result.detail = "applied", "done"
    except Exception as err:
        problem = err if isinstance(err, FlowlogsError) else explain(err, service=change.service)
        result.status, result.detail = "failed", str(problem)
        result.outputs = dict(getattr(err, "outputs", None) or {})  # partial successes are kept


def _ended(result: ChangeResult) -> str:
    return "was refused (not confirmed)" if result.status == "refused" else "failed"


def _check_order(plan: Plan) -> None:
    """Every dependency names an earlier change (a plan file may have been edited by hand)."""
    seen: set[str] = set()
    for change in plan.changes:
        unknown = [d for d in change.depends_on if d not in seen]
        if unknown:
            raise ValidationFailed(
                f"Change {change.id} depends on {', '.join(unknown)}, which is not an earlier change of the "
                "plan. Nothing was changed."
            )
        seen.add(change.id)


# Bucket changes log delivery needs before a log can be pointed at the bucket: the bucket, its policy
# letting delivery write, and its encryption (whose KMS key policy change it depends on, when there is one).
DELIVERY_PREREQUISITES = (
    "s3.create-bucket",
    "s3.put-bucket-policy",
    "s3.put-encryption",
    "kms.put-key-policy",
)
LOG_KINDS = ("ec2.create-flow-logs", "network-firewall.s3-log-destination")


def log_destination_bucket(change: Change) -> str:
    """The S3 bucket a flow log or firewall logging change delivers to ('' when not S3 / unknown)."""
    params = change.params
    if isinstance(params.get("LogDestination"), str):  # CreateFlowLogs: arn:aws:s3:::bucket/prefix
        resource = params["LogDestination"].split(":::", 1)[-1] if ":::" in params["LogDestination"] else ""
        return resource.split("/", 1)[0]
    log_type = change.id.rsplit(":", 1)[-1]
    configs = (params.get("LoggingConfiguration") or {}).get("LogDestinationConfigs") or []
    for config in configs:
        if config.get("LogType") == log_type and config.get("LogDestinationType") == "S3":
            return str((config.get("LogDestination") or {}).get("bucketName", ""))
    return ""


def link_to_buckets(plan: Plan, keys: dict[str, str] | None = None) -> None:
    """Make every log change (flow logs, firewall logging to S3) depend on the changes of its bucket that
    delivery needs (`DELIVERY_PREREQUISITES`), so a failed bucket change skips only the logs aimed at it.
    `keys`: bucket name -> its SSE-KMS key ARN, for a key policy change that is the bucket's only change."""
    keys = keys or {}
    earlier: list[Change] = []
    for change in plan.changes:
        if change.kind in LOG_KINDS:
            bucket = log_destination_bucket(change)
            needs = [
                c.id
                for c in earlier
                if c.kind in DELIVERY_PREREQUISITES
                and bucket
                and (c.params.get("Bucket") == bucket or (keys.get(bucket) and c.target == keys[bucket]))
            ]
            change.depends_on = list(dict.fromkeys([*change.depends_on, *needs]))
        earlier.append(change)
