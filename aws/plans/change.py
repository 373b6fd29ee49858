"""The change engine: every change to AWS is a `Change` inside a `Plan`.

A Change says what it does, why, to which ARN, and exactly which API call with which parameters. Each
Change has a `kind`, and each kind has an `Executor` registered here that knows how to check whether the
change is already satisfied (read calls only) and how to apply it (idempotently). The kind alone decides
the service, the one API operation and whether the change is destructive; its executor declares the
schema of the parameters (and of the `basis` a document is derived from) and checks that they agree
with the change's target, account and region. A plan file is validated whole (`validate_plan`) before the
first AWS call, and an executor that writes a document (bucket, key or IAM policy, logging or lifecycle
configuration) derives it again from live state at apply time and refuses the change (`StaleChange`)
when the result is not the document the plan previewed. `apply_plan` runs the
changes in order and skips satisfied ones. A change runs only when every change it `depends_on` is
satisfied or applied; otherwise it is `skipped` with `blocked_by` naming the failed (or refused) change at
the root, so a conflict on one resource does not stop unrelated changes. The state of every change is
recorded; running the same plan again converges without duplicates.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore import xform_name
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aws.coverage import ReadLocation, SourceCoverage
from aws.errors import FlowlogsError, ValidationFailed, explain
from aws.plans.problems import plain_error, region_problems
from aws.session import AwsSession

if TYPE_CHECKING:
    from aws.plans.sessions import SessionSource

# 2: per-change account, provider and basis; kind-bound operations. 3: in settings.logs an include list
# of None means all and [] means none (2 wrote [] for all). 1 and 2 are still read (aws.plans.file).
PLAN_FORMAT = 3
READABLE_FORMATS = (1, 2, 3)

# Modules that register executors. A plan loaded from JSON can name any of their kinds.
EXECUTOR_MODULES = (
    "aws.s3.executors",
    "aws.s3.policy_executors",
    "aws.s3.org_policy_executors",
    "aws.logs.flowlog_executors",
    "aws.logs.firewall_executors",
    "aws.iam.executors",
    "aws.iam.role_executors",
    "aws.kentik.executors",
)

Provider = Literal["aws", "kentik"]
_ACCOUNT = re.compile(r"^\d{12}$")


class StaleChange(ValidationFailed):
    """The document a change would write now differs from the one the plan previewed: AWS changed since
    the plan was made, or the plan file was edited. Nothing was sent for it."""


class PlanRejected(ValidationFailed):
    """A plan file that apply will not run, with every problem found (plain sentences)."""

    def __init__(self, problems: list[str], *, what: str = "The plan file") -> None:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            f"{what} was refused; nothing was sent to AWS:\n{shown}{more}",
            hint="Make the plan again with -o FILE (`flowlogs plan`, `register` or `policy --create-role`, or save "
            "it from the app); do not edit it.",
        )
        self.problems = problems


class Params(BaseModel):
    """Base of every kind's parameter schema: unknown keys and loose types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Change(BaseModel):
    """One change to AWS (or, later, to Kentik), previewed before it runs.

    `provider`, `service`, `operation` and `destructive` follow from `kind` (its executor); a value given
    that disagrees is refused, so neither code nor a plan file can pair a kind with another call."""

    id: str = Field(description="Stable id, unique in the plan, e.g. 's3.create-bucket:my-bucket'")
    kind: str = Field(description="Executor that checks and applies it")
    title: str = Field(description="What it does, one line")
    reason: str = Field(description="Why, tied to the spec")
    target: str = Field(description="ARN (or, for another provider, id) of the resource changed")
    account: str = Field(default="", description="AWS account the change runs in ('' = the plan's)")
    provider: Provider = "aws"
    service: str = ""
    region: str
    operation: str = Field(default="", description="The API call, e.g. CreateBucket (from the kind)")
    params: dict[str, Any] = Field(default_factory=dict, description="Its parameters, as sent")
    basis: dict[str, Any] = Field(
        default_factory=dict, description="What a document is derived from (prefixes, requirements)"
    )
    destructive: bool = Field(default=False, description="Deletes or overwrites existing configuration")
    depends_on: list[str] = Field(default_factory=list)
    group: str = Field(default="", description="Part of the plan: bucket, flowlogs, firewall, iam")

    @model_validator(mode="after")
    def _bind_to_kind(self) -> Change:
        executor = executor_class(self.kind)
        if executor is None:
            return self  # unknown kinds are refused by validate_plan
        for name, wanted in executor.bound().items():
            if name in self.model_fields_set and getattr(self, name) != wanted:
                raise ValueError(
                    f"change {self.id}: kind {self.kind} means {name} {wanted!r}, not {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, wanted)
        return self

    def describe(self) -> str:
        flag = " [DESTRUCTIVE]" if self.destructive else ""
        return f"{self.title}{flag}\n    why: {self.reason}\n    call: {self.service}:{self.operation} in {self.region}"


class Plan(BaseModel):
    format: int = PLAN_FORMAT
    id: str = Field(default="", description="What the plan tags its resources with (aws.tags); '' = none")
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

    @model_validator(mode="after")
    def _changes_run_in_the_plans_account(self) -> Plan:
        for change in self.changes:
            if not change.account:
                change.account = self.account
        return self

    def add(self, change: Change) -> None:
        if not change.account:
            change.account = self.account
        if any(c.id == change.id for c in self.changes):
            raise ValueError(f"duplicate change id {change.id}")
        unknown = [d for d in change.depends_on if not any(c.id == d for c in self.changes)]
        if unknown:
            raise ValueError(f"{change.id} depends on changes not earlier in the plan: {unknown}")
        self.changes.append(change)

    def extend(self, changes: list[Change]) -> None:
        for change in changes:
            self.add(change)

    def account_of(self, change: Change) -> str:
        return change.account or self.account

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    def summary(self) -> str:
        if not self.changes:
            return "Nothing to change: everything is already as required."
        by_account: dict[str, dict[str, int]] = {}
        for change in self.changes:
            groups = by_account.setdefault(self.account_of(change), {})
            groups[change.group or "other"] = groups.get(change.group or "other", 0) + 1
        if len(by_account) > 1:  # a plan across accounts: one group per account
            lines = [
                f"  account {a}: " + ", ".join(f"{n} {g}" for g, n in by_account[a].items())
                for a in sorted(by_account)
            ]
            text = f"{len(self.changes)} change(s) in {len(by_account)} accounts:\n" + "\n".join(lines)
        else:
            parts = ", ".join(f"{n} {g}" for g, n in next(iter(by_account.values())).items())
            text = f"{len(self.changes)} change(s) in account {self.account or '?'}: {parts}"
        if self.destructive:
            text += f"; {len(self.destructive)} destructive (need explicit confirmation)"
        return text

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Read a plan file (format 1 or 2) and validate it whole: nothing in it reaches AWS unchecked.
        Raises ValidationFailed (PlanRejected) with plain sentences; makes no AWS call."""
        from aws.plans.file import read_plan  # the file format's rules live there

        return read_plan(text)


class Executor:
    """Checks and applies one kind of Change. Subclasses register themselves with `kind = ...` and
    declare what the kind means: its provider, service and one API `operation`, whether it is
    `destructive`, the schema of its `params` (`Params`) and of its `basis` (`Basis`, for documents), and
    `in_plan_files` (False for kinds only the app builds in-process, such as rollbacks)."""

    kind: ClassVar[str] = ""
    provider: ClassVar[Provider] = "aws"
    service: ClassVar[str] = ""
    operation: ClassVar[str] = ""
    destructive: ClassVar[bool] = False
    in_plan_files: ClassVar[bool] = True
    Params: ClassVar[type[BaseModel] | None] = None
    Basis: ClassVar[type[BaseModel] | None] = None
    registry: ClassVar[dict[str, type[Executor]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Executor.registry[cls.kind] = cls

    @classmethod
    def bound(cls) -> dict[str, Any]:
        """The Change fields the kind decides."""
        return {
            "provider": cls.provider,
            "service": cls.service,
            "operation": cls.operation,
            "destructive": cls.destructive,
        }

    @classmethod
    def basis_from_v1(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The basis of a format 1 change (which had none), read back from its params where the engine
        can; ValidationFailed where it cannot."""
        if cls.Basis is None:
            return {}
        raise ValidationFailed(
            f"a {cls.kind} change of format 1 does not say what its document was derived from, so it "
            "cannot be checked; make the plan again"
        )

    def bind(self, providers: Mapping[str, Any]) -> Executor:
        """The executor ready to run: one of another provider's kinds (Kentik) takes its client from
        `providers` (raising a CredentialsError when it is not there); AWS kinds use the session."""
        return self

    def check(self, change: Change, plan: Plan) -> list[str]:
        """Problems with a change whose params and basis already match the kind's schemas: parameters
        that disagree with its target, account or region, documents that are not the engine's. No AWS
        call. Plain sentences; [] when it is fine."""
        return []

    def details(self, change: Change) -> list[str]:
        """What the call does, read from the validated parameters (for the preview), one item a line."""
        return []

    def preview(self, change: Change) -> str:
        """What will actually run, derived from the kind and the validated change (never its title)."""
        cls = type(self)
        flag = " [DESTRUCTIVE]" if cls.destructive else ""
        where = f" in {change.region}" if change.region else ""
        account = f", account {change.account}" if change.account else ""
        lines = [f"{cls.service}:{cls.operation}{flag} on {change.target}{where}{account}"]
        lines += [f"    {d}" for d in self.details(change)]
        return "\n".join(lines)

    def checked(self, session: AwsSession, change: Change) -> object:
        """For a change that writes a document: derive it from the current state in AWS (read calls
        only) and raise StaleChange when it is not the planned one. Returns what `apply` needs of the
        state it read. Other kinds: nothing to check."""
        return None

    def satisfied(self, session: AwsSession, change: Change) -> bool:
        """True when AWS already is as the change wants it. Read calls only."""
        raise NotImplementedError

    def apply(self, session: AwsSession, change: Change) -> dict[str, Any]:
        """Make the change; return outputs worth showing (ids, ARNs). Must be safe to repeat."""
        raise NotImplementedError

    def call(self, session: AwsSession, change: Change) -> dict[str, Any]:
        """Make the kind's one API call with the change's parameters (never an operation from the file)."""
        client = session.client(type(self).service, change.region)
        method = getattr(client, xform_name(type(self).operation))
        response: dict[str, Any] = method(**change.params)
        response.pop("ResponseMetadata", None)
        return response

    @staticmethod
    def expect(change: Change, what: str, wanted: Any, planned: Any) -> None:
        """Refuse the change (StaleChange) when the document derived now is not the planned one."""
        if wanted != planned:
            raise StaleChange(
                f"{what}: the document derived from the current state in AWS is not the one this plan "
                "previewed (AWS changed since the plan was made, or the plan file was edited). Nothing was "
                "sent for this change.",
                hint="Make the plan again and review the new preview.",
            )


def executor_class(kind: str) -> type[Executor] | None:
    """The executor class registered for `kind` (importing the executor modules once), or None."""
    if kind not in Executor.registry:
        for module in EXECUTOR_MODULES:
            if module in sys.modules:
                continue
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name != module:
                    raise
    return Executor.registry.get(kind)


def executor_for(kind: str) -> Executor:
    cls = executor_class(kind)
    if cls is None:
        raise ValidationFailed(f"Unknown change kind {kind!r} in plan.")
    return cls()


def validate_plan(plan: Plan) -> None:
    """Every static rule a plan must meet before apply sends anything: an account, each change's account
    the plan's, known kinds that plan files may hold, parameters and basis matching the kind's schema and
    agreeing with the target, unique ids, dependencies on earlier changes. Raises PlanRejected listing
    every problem. No AWS call."""
    problems: list[str] = []
    if not _ACCOUNT.match(plan.account):
        problems.append(
            "it names no AWS account (12 digits)"
            if not plan.account
            else f"{plan.account!r} is not an AWS account id"
        )
    from aws.plans.org_settings import org_problems, plan_accounts

    problems += org_problems(plan)
    allowed = plan_accounts(plan)
    seen: set[str] = set()
    for n, change in enumerate(plan.changes, 1):
        where = f"change {n} ({change.id})"
        if change.id in seen:
            problems.append(f"{where}: the id is used twice")
        unknown = [d for d in change.depends_on if d not in seen]
        if unknown:
            problems.append(f"{where}: depends on {', '.join(unknown)}, which is not an earlier change")
        seen.add(change.id)
        cls = executor_class(change.kind)
        if cls is None or not cls.in_plan_files:
            problems.append(f"{where}: {change.kind!r} is not a kind of change a plan file may hold")
            continue
        account = plan.account_of(change)
        if change.account and change.account not in allowed:
            problems.append(
                f"{where}: it runs in account {change.account}, not the plan's {plan.account}"
                + (" nor one of its member accounts" if len(allowed) > 1 else "")
            )
        elif not _ACCOUNT.match(account):
            problems.append(f"{where}: {account!r} is not an AWS account id")
        if cls.provider == "aws":
            problems += [f"{where}: {p}" for p in region_problems(change.region, plan.partition)]
        schema_ok = True
        for field_name, schema in (("params", cls.Params), ("basis", cls.Basis)):
            value = getattr(change, field_name)
            if schema is None:
                if value:
                    problems.append(f"{where}: a {change.kind} change has no {field_name}")
                    schema_ok = False
                continue
            try:
                schema.model_validate(value)
            except ValidationError as err:
                problems += [f"{where}: {field_name}{plain_error(e)}" for e in err.errors()]
                schema_ok = False
        if schema_ok:
            try:
                problems += [f"{where}: {p}" for p in cls().check(change, plan)]
            except Exception as err:
                problems.append(f"{where}: its parameters could not be checked ({type(err).__name__}: {err})")
    if problems:
        raise PlanRejected(problems)


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
    error_kind: str = Field(default="", description="failed: the FlowlogsError kind (access, network, ...)")
    refusal: Literal["", "destructive", "stale"] = Field(
        default="", description="refused: not confirmed (destructive), or its document is stale/altered"
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
    def stale(self) -> list[ChangeResult]:
        """Changes refused because their document no longer matches the plan (plan again)."""
        return [r for r in self.results if r.refusal == "stale"]

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
    sessions: SessionSource | None = None,
    providers: Mapping[str, Any] | None = None,
) -> ApplyReport:
    """Run the plan's changes in order. A change whose prerequisites (`depends_on`) did not all end
    satisfied or applied is `skipped`, with `blocked_by` the root failed/refused change; every other change
    still runs. Raises ValidationFailed, before any change, for a dependency that is not an earlier change.

    `on_begin(change)` is called before each change is checked (not for skipped ones),
    `on_progress(change, result)` after every change, skipped ones included. A plan across accounts runs
    each change with its account's session: `sessions` (account -> session, a mapping or a callable)
    gives those of the member accounts (aws.plans.sessions). `providers` holds the clients of other
    providers' changes: {"kentik": KentikClient} for a plan that registers in Kentik."""
    from aws.plans.sessions import AccountSessions, check_destinations

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
    session_of = AccountSessions(plan, session, sessions)
    check_destinations(plan, session_of)
    providers = providers or {}
    stale = _preflight(plan, session_of, providers)
    if stale:  # refuse the whole plan before the first change
        for change, result in zip(plan.changes, report.results, strict=True):
            if change.id in stale:
                result.status, result.refusal, result.detail = "refused", "stale", stale[change.id]
            else:
                result.detail = (
                    "not run: the plan is stale or altered (see the refused change); nothing was changed"
                )
            if on_progress:
                on_progress(change, result)
        report.finished = now()
        return report
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
            _run_one(change, result, session_of, confirm_destructive, providers)
        by_id[change.id] = result
        if on_progress:
            on_progress(change, result)
    report.finished = now()
    return report


def _preflight(
    plan: Plan, session_of: Callable[[str], AwsSession], providers: Mapping[str, Any]
) -> dict[str, str]:
    """Before the first change: every document whose resource no earlier change touches is derived from
    the current state and compared with the plan (read calls only), so a stale or altered document
    refuses the whole plan before anything is changed. Returns change id -> why, for the stale ones.
    Read errors are left to the change itself, when it runs."""
    touched: set[str] = set()
    stale: dict[str, str] = {}
    for change in plan.changes:
        if change.target not in touched:
            try:
                executor = executor_for(change.kind).bind(providers)
                executor.checked(session_of(plan.account_of(change)), change)
            except StaleChange as err:
                stale[change.id] = str(err)
            except Exception:
                pass
        touched.add(change.target)
    return stale


def _run_one(
    change: Change,
    result: ChangeResult,
    session_of: Callable[[str], AwsSession],
    confirm_destructive: bool,
    providers: Mapping[str, Any],
) -> None:
    try:
        session = session_of(change.account)
        executor = executor_for(change.kind).bind(providers)
        if executor.satisfied(session, change):
            result.status, result.detail = "satisfied", "already as required"
        elif type(executor).destructive and not confirm_destructive:
            result.status, result.refusal = "refused", "destructive"
            result.detail = "destructive change not confirmed; nothing was changed"
        else:
            result.outputs = executor.apply(session, change)
            result.status, result.detail = "applied", "done"
    except StaleChange as err:
        result.status, result.refusal, result.detail = "refused", "stale", str(err)
    except Exception as err:
        problem = err if isinstance(err, FlowlogsError) else explain(err, service=change.service)
        result.status, result.detail, result.error_kind = "failed", str(problem), problem.kind
        result.outputs = dict(getattr(err, "outputs", None) or {})  # partial successes are kept


def _ended(result: ChangeResult) -> str:
    if result.refusal == "stale":
        return "was refused (its document is stale or altered)"
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


# Which bucket a log change delivers to, and the dependencies on its bucket's changes (aws.plans.links).
from aws.plans.links import (  # noqa: E402  (links needs Change and Plan defined first)
    DELIVERY_PREREQUISITES,
    LOG_KINDS,
    link_to_buckets,
    log_destination_bucket,
)

__all__ = ["DELIVERY_PREREQUISITES", "LOG_KINDS", "link_to_buckets", "log_destination_bucket"]
