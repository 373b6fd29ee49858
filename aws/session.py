"""The AWS session every engine module uses.

* Credentials come from boto3's standard chain (env vars, `--profile`, SSO, credential_process,
  assume-role profiles); `AWS_ENDPOINT_URL` is honoured by boto3 itself unless an explicit
  endpoint is given.
* Every client has bounded connect/read timeouts and flowlogs' retry policy (aws/retry.py): throttling
  gets more attempts than other failures, capped exponential backoff with jitter, an adaptive
  client-side send rate, and a per-call deadline, so no call takes longer than `call_deadline`.
* boto3 sessions are not thread-safe for client creation: clients are created under a lock and cached
  per (service, region); botocore clients themselves are thread-safe and are shared by workers.
* Read-only mode is enforced on every client by a `before-call` hook: a call whose operation is not on
  the read allow-list raises `ReadOnlyViolation` before any request is built or sent.
* Every mutating call is written to the audit log ahead of time: an fsynced "intent" record in
  `before-call` (after parameter validation, before any request), an "attempt" record per retry in
  `before-send`, and a "result" record in `after-call` / `after-call-error`, linked by a `call_id`
  (see aws/audit.py). A call refused in read-only mode gets one "refused" record.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.client
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import CredentialRetrievalError
from botocore.loaders import create_loader
from botocore.utils import parse_timestamp

from aws.audit import AuditLog, Phase, new_call_id
from aws.errors import ReadOnlyViolation, ValidationFailed, explain
from aws.permissions import declare
from aws.regions import partition_of, validate_region
from aws.retry import RetryHandler, RetryPolicy

PERMISSIONS = declare(
    __name__,
    read=["sts:GetCallerIdentity", "sts:AssumeRole"],
    notes="sts:AssumeRole is only used for nested configurations (a role in each member account); "
    "there the assumed role needs the same IAM reads (and, to apply, the IAM policy changes).",
)

# Operation-name prefixes that never change anything. Anything else counts as mutating (allow-list:
# an operation we have not classified is blocked in read-only mode, never let through).
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Simulate")
READ_OPERATIONS = frozenset({"AssumeRole", "DecodeAuthorizationMessage", "SelectObjectContent"})


_LOADER = create_loader()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


ASSUMED_ROLE_SECONDS = (
    3600  # credentials of an assumed role: AWS's default, and the most role chaining allows
)


def _share_client_classes() -> None:
    """Make botocore build each client class once per botocore session and service version.

    botocore makes a new class for every client, with a method per operation (about 80 ms for EC2's 700),
    although the class depends only on the service model and the session's event handlers. A scan makes
    an EC2 and a Network Firewall client in every region: 34 classes, about 2.5 s of CPU, before the first
    request. The class is reused per session event emitter (so per botocore session, whose handlers shape
    it) and (service, API version); the clients themselves stay one per service and region.
    """
    creator = getattr(botocore.client, "ClientCreator", None)
    build = getattr(creator, "_create_client_class", None)
    if creator is None or build is None or getattr(build, "shared", False):
        return  # another botocore: leave it as it is
    classes: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], type]] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def shared(self: Any, service_name: str, service_model: Any) -> type:
        key = (service_name, str(service_model.api_version))
        with lock:
            per_session = classes.setdefault(self._event_emitter, {})
            if key not in per_session:
                per_session[key] = build(self, service_name, service_model)
            return per_session[key]

    shared.shared = True  # type: ignore[attr-defined]
    creator._create_client_class = shared


_share_client_classes()

# The audit record's `target`: the first of these parameters a mutating call has (best effort).
TARGET_KEYS = (
    "Bucket",
    "FlowLogIds",
    "ResourceIds",
    "FirewallArn",
    "FirewallName",
    "FirewallPolicyArn",
    "ResourceArn",
    "PolicyArn",
    "RoleName",
    "KeyId",
    "LogGroupName",
    "VpcId",
)
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov")
_ARN_ACCOUNT = re.compile(r"^arn:[\w-]+:[\w-]+:[\w-]*:(\d{12}):")
_CALL = "flowlogs_call"  # key of the per-call audit state in botocore's request context


def audit_target(params: dict[str, Any] | None) -> Any:
    for key in TARGET_KEYS:
        if params and params.get(key):
            return params[key]
    return None


def account_in(value: Any) -> str | None:
    """The account of the first ARN found in `value` (parameters), or None."""
    if isinstance(value, str):
        match = _ARN_ACCOUNT.match(value)
        return match.group(1) if match else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = account_in(item)
        if found:
            return found
    return None


def custom_endpoint(url: str | None) -> str | None:
    """`url` when it is not an AWS endpoint (moto, the demo sandbox, a proxy), else None."""
    host = (urlsplit(url).hostname or "") if url else ""
    if not host or host.endswith(_AWS_HOST_SUFFIXES):
        return None
    return url


def is_mutating(operation: str) -> bool:
    return not (operation.startswith(READ_PREFIXES) or operation in READ_OPERATIONS)


_RETRY = RetryPolicy()


@dataclass(frozen=True)
class SessionOptions:
    profile: str | None = None
    region: str | None = None  # home region; None = profile/env default, else us-east-1
    read_only: bool = False
    endpoint_url: str | None = None  # None: boto3 reads AWS_ENDPOINT_URL itself
    # The retry budget (aws/retry.py has the defaults and what they mean).
    connect_timeout: float = _RETRY.connect_timeout
    read_timeout: float = _RETRY.read_timeout
    max_attempts: int = _RETRY.max_attempts  # in total, the first included; failures but throttling
    throttle_attempts: int = _RETRY.throttle_attempts  # in total, when AWS throttles
    call_deadline: float = _RETRY.deadline  # seconds for one API call, every attempt and backoff included
    retry_seed: int | None = None  # seed of the backoff jitter (None: random)
    max_pool_connections: int = 32

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            throttle_attempts=self.throttle_attempts,
            deadline=self.call_deadline,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            seed=self.retry_seed,
        )


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str
    partition: str

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1] if "/" in self.arn else self.arn


@dataclass
class CallStats:
    """Counts of AWS calls made through a session, by (service, operation). For tests and benchmarks."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    blocked: Counter[tuple[str, str]] = field(default_factory=Counter)

    def mutating(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if is_mutating(op))


class AwsSession:
    """Thread-safe client factory with read-only enforcement and auditing."""

    def __init__(
        self,
        options: SessionOptions | None = None,
        *,
        audit: AuditLog | None = None,
        boto_session: boto3.Session | None = None,
    ) -> None:
        self.options = options or SessionOptions()
        self.audit = audit
        self.read_only = self.options.read_only
        self.stats = CallStats()
        self._lock = threading.RLock()  # client creation
        self._stats_lock = threading.Lock()  # call counters: never held while a client is being made
        self._clients: dict[tuple[str, str], Any] = {}
        self._identity: Identity | None = None
        self._account_hint: str | None = None  # the account of an assumed role, before identity()
        try:
            self._boto = boto_session or boto3.Session(
                profile_name=self.options.profile, region_name=self.options.region
            )
        except Exception as err:  # ProfileNotFound and friends
            raise explain(err, profile=self.options.profile) from err
        # One model loader per process: parsing service JSON is the slow part of making a session.
        self._boto._session.register_component("data_loader", _LOADER)
        self.home_region: str = self.options.region or self._boto.region_name or "us-east-1"
        # A mistyped region (flag, AWS_REGION or the profile's) is a usage error naming the closest valid
        # one, before botocore can fail on it with a parser error deep inside a call.
        validate_region(
            self.home_region,
            what="--region" if self.options.region else "AWS_REGION / the profile's region",
        )
        try:
            self.retry_policy = self.options.retry_policy()
        except ValueError as err:
            raise ValidationFailed(f"Invalid retry settings: {err}") from err
        # "standard" mode, whose needs-retry handler aws.retry replaces on each client; the total is the
        # largest budget (botocore sends it in the amz-sdk-request header).
        self._config = Config(
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
            retries={
                "mode": "standard",
                "total_max_attempts": max(self.options.max_attempts, self.options.throttle_attempts),
            },
            max_pool_connections=self.options.max_pool_connections,
            user_agent_extra="flowlogs-tui",
        )

    # -- clients -----------------------------------------------------------------------------------
    def client(self, service: str, region: str | None = None) -> Any:
        region = region or self.home_region
        key = (service, region)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = self._boto.client(
                        service,  # type: ignore[call-overload]
                        region_name=region,
                        config=self._config,
                        endpoint_url=self.options.endpoint_url,
                    )
                except Exception as err:
                    raise explain(err, profile=self.options.profile, service=service) from err
                RetryHandler(
                    self.retry_policy, service=service, region=region, endpoint_url=client.meta.endpoint_url
                ).install(client)
                self._install_hooks(client, service, region)
                self._clients[key] = client
        return client

    def _install_hooks(self, client: Any, service: str, region: str) -> None:
        events = client.meta.events
        endpoint = custom_endpoint(client.meta.endpoint_url)

        def before_call(model: Any, context: dict[str, Any], **_: Any) -> None:
            # Fires once per API call, after parameter validation and before the retry loop.
            op = model.name
            if is_mutating(op) and self.read_only:
                with self._stats_lock:
                    self.stats.blocked[(service, op)] += 1
                self._audit(
                    "refused",
                    new_call_id(),
                    service,
                    region,
                    op,
                    context.get("flowlogs_params"),
                    endpoint=endpoint,
                    result={"blocked": "read-only mode"},
                )
                raise ReadOnlyViolation(
                    f"Read-only mode: refused {service}:{op} in {region}. Nothing was changed.",
                    hint="Turn read-only off (command palette, or run without --read-only) to make changes.",
                )
            with self._stats_lock:
                self.stats.calls[(service, op)] += 1
            if is_mutating(op):
                call: dict[str, Any] = {"call_id": new_call_id(), "attempts": 0}
                context[_CALL] = call
                self._audit(
                    "intent",
                    call["call_id"],
                    service,
                    region,
                    op,
                    context.get("flowlogs_params"),
                    endpoint=endpoint,
                    sync=True,
                )

        def capture_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            if is_mutating(model.name):
                context["flowlogs_params"] = dict(params)

        def before_send(request: Any, **_: Any) -> None:
            # Fires once per HTTP attempt; botocore numbers them in context["retries"]["attempt"].
            context = getattr(request, "context", None) or {}
            call = context.get(_CALL)
            if call is None:
                return
            attempt = int(context.get("retries", {}).get("attempt", call["attempts"] + 1))
            call["attempts"] = attempt
            if attempt > 1 and self.audit is not None:
                op = context.get("flowlogs_operation", "")
                self.audit.append(
                    {
                        "phase": "attempt",
                        "call_id": call["call_id"],
                        "service": service,
                        "region": region,
                        "operation": op,
                        "target": audit_target(context.get("flowlogs_params")),
                        "attempt": attempt,
                    }
                )

        def after_call(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            if not is_mutating(model.name):
                return
            error = parsed.get("Error") if isinstance(parsed, dict) else None
            result = (
                {"ok": False, "error": error.get("Code"), "message": error.get("Message")}
                if error
                else {"ok": True, "response": parsed}
            )
            self._result(service, region, model.name, context, result, endpoint)

        def after_error(exception: Exception, context: dict[str, Any], **_: Any) -> None:
            op = context.get("flowlogs_operation", "")
            if op and is_mutating(op):
                self._result(service, region, op, context, {"ok": False, "error": str(exception)}, endpoint)

        def remember_op(model: Any, context: dict[str, Any], **_: Any) -> None:
            context["flowlogs_operation"] = model.name

        events.register_first("before-parameter-build", capture_params)
        events.register_first("before-parameter-build", remember_op)
        events.register_first("before-call", before_call)
        events.register_first("before-send", before_send)
        events.register("after-call", after_call)
        events.register("after-call-error", after_error)

    def _result(
        self,
        service: str,
        region: str,
        op: str,
        context: dict[str, Any],
        result: dict[str, Any],
        endpoint: str | None,
    ) -> None:
        call = context.get(_CALL) or {"call_id": new_call_id(), "attempts": 0}
        self._audit(
            "result",
            call["call_id"],
            service,
            region,
            op,
            context.get("flowlogs_params"),
            endpoint=endpoint,
            result=result,
            attempts=call["attempts"],
            sync=True,
        )

    def _audit(
        self,
        phase: Phase,
        call_id: str,
        service: str,
        region: str,
        op: str,
        params: dict[str, Any] | None,
        *,
        endpoint: str | None,
        result: dict[str, Any] | None = None,
        attempts: int | None = None,
        sync: bool = False,
    ) -> None:
        if self.audit is None:
            return
        # The identity is fetched lazily (never an STS call per mutation): until it is known, the
        # account comes from the assumed role or from an ARN in the parameters.
        identity = self._identity
        record: dict[str, Any] = {
            "phase": phase,
            "call_id": call_id,
            "identity": identity.arn if identity else None,
            "account": identity.account if identity else self._account_hint or account_in(params or {}),
            "profile": self.options.profile,
            "service": service,
            "region": region,
            "operation": op,
            "target": audit_target(params),
            "params": params or {},
        }
        if endpoint:
            record["endpoint"] = endpoint
        if result is not None:
            record["result"] = result
        if attempts is not None:
            record["attempts"] = attempts
        self.audit.append(record, sync=sync)

    # -- identity ----------------------------------------------------------------------------------
    def identity(self, refresh: bool = False) -> Identity:
        if self._identity is None or refresh:
            try:
                who = self.client("sts").get_caller_identity()
            except Exception as err:
                raise explain(err, profile=self.options.profile, service="sts") from err
            arn = who["Arn"]
            self._identity = Identity(
                account=who["Account"], arn=arn, user_id=who["UserId"], partition=arn.split(":")[1]
            )
        return self._identity

    @property
    def partition(self) -> str:
        return self._identity.partition if self._identity else partition_of(self.home_region)

    def with_options(self, **changes: Any) -> AwsSession:
        """A new session with changed options (profile switch), sharing the audit log."""
        return AwsSession(replace(self.options, **changes), audit=self.audit)

    def assume_role(
        self,
        role_arn: str,
        *,
        session_name: str = "flowlogs-tui",
        external_id: str = "",
        duration: int = ASSUMED_ROLE_SECONDS,
        time_fetcher: Callable[[], datetime] | None = None,
    ) -> AwsSession:
        """A session in another account through `role_arn`, keeping read-only mode and the audit log.

        Raises the explained error when the role cannot be assumed. The credentials are refreshed (the
        role assumed again) before they expire, so a long run (an organization's scan, a large apply)
        outlives them: botocore refreshes 15 minutes before the expiry AWS gave, and must 10 minutes
        before. `time_fetcher` is the clock it judges that by (tests)."""
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "DurationSeconds": duration,
        }
        if external_id:
            params["ExternalId"] = external_id

        def fetch() -> dict[str, Any]:
            creds = self.client("sts").assume_role(**params)["Credentials"]
            expiry = creds["Expiration"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
            }

        def refresh() -> dict[str, Any]:
            # botocore calls this when the credentials near their expiry, inside whatever call needs them:
            # a botocore error, which every caller's handlers (and `explain`) already know.
            try:
                return fetch()
            except Exception as err:
                raise CredentialRetrievalError(
                    provider=f"assume-role {role_arn}",
                    error_msg=str(explain(err, profile=self.options.profile, service="sts")),
                ) from err

        try:
            first = fetch()
        except Exception as err:
            raise explain(err, profile=self.options.profile, service="sts") from err
        credentials = RefreshableCredentials(
            access_key=first["access_key"],
            secret_key=first["secret_key"],
            token=first["token"],
            expiry_time=parse_timestamp(first["expiry_time"]),
            refresh_using=refresh,
            method="assume-role",
            time_fetcher=time_fetcher or _utc_now,
        )
        core = botocore.session.Session(profile=self.options.profile)  # its config (endpoint, CA bundle)
        core._credentials = credentials  # type: ignore[attr-defined]  # how botocore's own providers do it
        boto = boto3.Session(botocore_session=core, region_name=self.home_region)
        other = AwsSession(replace(self.options, profile=None), audit=self.audit, boto_session=boto)
        other.read_only = self.read_only
        other._account_hint = account_in(role_arn)
        return other
