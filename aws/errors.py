"""Errors the engine raises, each carrying a message fit to show a user as is.

`explain()` turns any exception that escapes boto3/botocore into a `FlowlogsError` with a specific,
actionable message (which credential is missing, which `aws sso login` to run, which API action was
denied, which endpoint did not answer, which call was throttled beyond the retry budget) so neither the
CLI nor the TUI ever shows a traceback for an AWS failure.

Unreachable AWS is three types under `EndpointError` (exit code 4): `EndpointTimeout` (connected or
connecting, no answer in time), `EndpointRefused` (nothing accepted the connection) and `ThrottledError`
(AWS answered, but kept throttling beyond the retry budget). `aws.retry` attaches a `CallRecord` (which
call, region, endpoint, attempts, time) to the error a call ends with; `explain()` puts it in the message.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ProxyConnectionError,
    ReadTimeoutError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError


class FlowlogsError(Exception):
    """An error with a message meant for the user. `kind` groups errors for exit codes."""

    kind = "error"
    title = ""  # a heading for the UI; '' = derived from the class name

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class CredentialsError(FlowlogsError):
    """No usable credentials: missing, expired, invalid. The user has to act before anything works."""

    kind = "credentials"


class NoSession(CredentialsError):
    """No AWS session could be made (no or broken credentials, profile or region): nothing can be read or
    changed until the user fixes that. The message says why."""

    title = "AWS session"


class AccessDeniedError(FlowlogsError):
    """The caller is authenticated but not allowed to perform `action`."""

    kind = "access"

    def __init__(self, message: str, *, action: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.action = action


class ScpDenied(AccessDeniedError):
    """Access denied by an organization policy, not by the identity's IAM policies: granting IAM
    permissions does not help. `policy` is "SCP" (a service control policy: on the caller's account) or
    "RCP" (a resource control policy: on the account that owns the resource)."""

    title = "Denied by an organization policy"

    def __init__(self, message: str, *, action: str = "", hint: str = "", policy: str = "SCP") -> None:
        super().__init__(message, action=action, hint=hint)
        self.policy = policy


class ReadOnlyViolation(FlowlogsError):
    """A mutating AWS call was attempted while read-only mode is on. Raised before anything is sent."""

    kind = "read-only"


class ValidationFailed(FlowlogsError):
    """User input that cannot be acted on (bad names, bad files). Nothing was changed."""

    kind = "usage"


class UnknownRegion(ValidationFailed):
    """A region name that is not a region (of this partition, or of this account). `suggestion`: the
    closest valid region, when one is close."""

    def __init__(self, message: str, *, region: str, suggestion: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.region = region
        self.suggestion = suggestion


class RegionNotEnabled(ValidationFailed):
    """A region of the account's partition that the account has not enabled (opt-in regions)."""

    def __init__(self, message: str, *, region: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.region = region


# -- unreachable AWS ---------------------------------------------------------------------------------
# botocore's throttling codes (botocore.retries.standard.ThrottledRetryableChecker) except
# LimitExceededException, which Network Firewall, KMS and others use for a quota (too many resources),
# not for a request rate: retrying it does not help. tests/test_retry.py keeps this in step with botocore.
THROTTLING_CODES = frozenset(
    {
        "Throttling",  # IAM, STS (query protocol, HTTP 400)
        "ThrottlingException",  # JSON protocols: Network Firewall, KMS, CloudWatch Logs (HTTP 400)
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",  # EC2 (HTTP 503)
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",  # S3 (HTTP 503; a HEAD request gets the bare 503)
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

StopReason = Literal["attempts", "deadline", "final"]
_CALL_KEY = "FlowlogsCall"  # in a ClientError's ResponseMetadata, or an exception attribute


@dataclass(frozen=True)
class CallRecord:
    """How one AWS API call ended (all its attempts), as `aws.retry` saw it.

    `stopped`: "attempts" (the retry budget for this kind of failure was used up), "deadline" (another
    attempt would have passed the per-call deadline) or "final" (the failure is not one to retry)."""

    service: str
    region: str
    operation: str
    endpoint: str  # scheme://host:port
    attempts: int
    elapsed: float  # seconds, every attempt and backoff included
    throttled: bool  # the last attempt was throttled
    stopped: StopReason
    budget: int  # attempts allowed for this kind of failure
    deadline: float
    connect_timeout: float
    read_timeout: float

    @property
    def call(self) -> str:
        return f"{self.service}:{self.operation}"

    @property
    def where(self) -> str:
        return f"{self.call} in {self.region}" if self.region else self.call

    def attempts_text(self) -> str:
        how = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''} in {self.elapsed:.1f} s"
        if self.stopped == "deadline":
            how += f", stopped by the {self.deadline:g} s per-call deadline"
        return how


def attach_call_record(target: BaseException | dict[str, Any], record: CallRecord) -> None:
    """Attach `record` to the exception a call raises, or to its parsed error response."""
    if isinstance(target, dict):
        target.setdefault("ResponseMetadata", {})[_CALL_KEY] = asdict(record)
    else:
        setattr(target, "_flowlogs_call", asdict(record))  # noqa: B010 (not a declared attribute)


def call_record(err: BaseException) -> CallRecord | None:
    """The `CallRecord` `aws.retry` attached to `err`, if any."""
    data: Any = getattr(err, "_flowlogs_call", None)
    if data is None and isinstance(err, ClientError):
        meta: Any = err.response.get("ResponseMetadata") or {}
        data = meta.get(_CALL_KEY) if isinstance(meta, dict) else None
    if not isinstance(data, dict):
        return None
    names = {f.name for f in fields(CallRecord)}
    try:
        return CallRecord(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None


def endpoint_of(url: str | None) -> str:
    """scheme://host:port of a URL (the port filled in from the scheme), or "" for none."""
    if not url:
        return ""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme or 'https'}://{host}:{port}"


class EndpointError(FlowlogsError):
    """AWS could not be reached: the endpoint did not answer in time, refused the connection, closed it,
    or AWS kept throttling beyond the retry budget. `endpoint` is scheme://host:port; `call` tells which
    call it was and how it went (when the call went through an `AwsSession`)."""

    kind = "network"

    def __init__(
        self, message: str, *, endpoint: str = "", call: CallRecord | None = None, hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.endpoint = endpoint
        self.call = call


class EndpointTimeout(EndpointError):
    """No answer in time: `phase` "read" (connected, nothing came back within the read timeout) or
    "connect" (the connection was not completed within the connect timeout)."""

    def __init__(
        self,
        message: str,
        *,
        phase: Literal["connect", "read"],
        endpoint: str = "",
        call: CallRecord | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint, call=call, hint=hint)
        self.phase = phase


class EndpointRefused(EndpointError):
    """Nothing accepted the connection: refused (nothing listens on that port), or the host name does not
    resolve / the network is unreachable (`refused` False)."""

    def __init__(
        self,
        message: str,
        *,
        refused: bool = True,
        endpoint: str = "",
        call: CallRecord | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint, call=call, hint=hint)
        self.refused = refused


class ThrottledError(EndpointError):
    """AWS answered every attempt but kept throttling (`code`, e.g. RequestLimitExceeded) until the retry
    budget or the per-call deadline ran out."""

    def __init__(
        self, message: str, *, code: str, endpoint: str = "", call: CallRecord | None = None, hint: str = ""
    ) -> None:
        super().__init__(message, endpoint=endpoint, call=call, hint=hint)
        self.code = code


THROTTLED_HINT = (
    "Rerun later; or send fewer requests at once: fewer regions (--regions), fewer parallel region scans "
    "(--workers N, or the scan_workers setting); or give throttling more room "
    "(FLOWLOGS_THROTTLE_ATTEMPTS, FLOWLOGS_CALL_DEADLINE)."
)
_NETWORK_HINT = (
    "Check the network, VPN or proxy (HTTPS_PROXY), and AWS_ENDPOINT_URL if it is set; then rerun. "
    "The timeouts are FLOWLOGS_CONNECT_TIMEOUT and FLOWLOGS_READ_TIMEOUT."
)


def _network_error(err: BotoCoreError, service: str) -> EndpointError:
    """An `EndpointError` subtype for a botocore connection/timeout error, naming the endpoint."""
    record = call_record(err)
    kwargs = getattr(err, "kwargs", {}) or {}
    endpoint = endpoint_of(kwargs.get("endpoint_url")) or (record.endpoint if record else "AWS")
    where = record.where if record else (service or "the AWS call")
    tried = f" ({record.attempts_text()})" if record else ""
    if isinstance(err, ReadTimeoutError):
        after = f" within the {record.read_timeout:g} s read timeout" if record else " in time"
        return EndpointTimeout(
            f"No answer from {endpoint} to {where}{after}: it accepts connections but does not "
            f"respond{tried}.",
            phase="read",
            endpoint=endpoint,
            call=record,
            hint=_NETWORK_HINT,
        )
    if isinstance(err, ConnectTimeoutError):
        within = f" within the {record.connect_timeout:g} s connect timeout" if record else " in time"
        return EndpointTimeout(
            f"Could not connect to {endpoint} for {where}{within}: the connection was never completed "
            f"(a firewall dropping it, or the host is down){tried}.",
            phase="connect",
            endpoint=endpoint,
            call=record,
            hint=_NETWORK_HINT,
        )
    if isinstance(err, ProxyConnectionError):
        proxy = endpoint_of(kwargs.get("proxy_url")) or "the proxy"
        return EndpointRefused(
            f"Could not connect to the proxy {proxy} for {where}{tried}.",
            endpoint=proxy,
            call=record,
            hint="Check HTTPS_PROXY / HTTP_PROXY (or the proxy itself), then rerun.",
        )
    if isinstance(err, EndpointConnectionError):
        reason = str(kwargs.get("error", "") or "")
        if "refused" in reason.lower():
            return EndpointRefused(
                f"Connection refused by {endpoint} for {where}: nothing listens there{tried}.",
                endpoint=endpoint,
                call=record,
                hint="Check that AWS_ENDPOINT_URL (or the proxy in HTTPS_PROXY) names a running endpoint; "
                "for the demo sandbox, start it with `flowlogs demo-server`.",
            )
        return EndpointRefused(
            f"Could not connect to {endpoint} for {where}: {reason or 'no route to it'}{tried}.",
            refused=False,
            endpoint=endpoint,
            call=record,
            hint=_NETWORK_HINT,
        )
    if isinstance(err, ConnectionClosedError):
        return EndpointError(
            f"{endpoint} closed the connection before answering {where}{tried}.",
            endpoint=endpoint,
            call=record,
            hint=_NETWORK_HINT,
        )
    return EndpointError(
        f"Could not reach {endpoint or 'AWS'} for {where}: {err}{tried}.", hint=_NETWORK_HINT
    )


def _throttled(err: ClientError, code: str, service: str) -> ThrottledError:
    record = call_record(err)
    op = getattr(err, "operation_name", "") or ""
    where = record.where if record else (f"{service}:{op}" if service else op or "an AWS call")
    tried = f" ({record.attempts_text()})" if record else ""
    return ThrottledError(
        f"AWS throttled {where} beyond the retry budget ({code}){tried}.",
        code=code,
        endpoint=record.endpoint if record else "",
        call=record,
        hint=THROTTLED_HINT,
    )


_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedAccess",
    "Forbidden",
}
_TOKEN_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "RequestExpired",
}
# AWS names the policy type in an explicit-deny message: "... with an explicit deny in a service control
# policy" (and "resource control policy" for RCPs, also organization policies).
_ORG_POLICY = re.compile(r"(service|resource) control polic", re.IGNORECASE)
_ACTION_IN_MESSAGE = re.compile(
    r"(?:perform|to perform|authorized to perform)[: ]+([a-z0-9-]+:[A-Za-z0-9*]+)"
)


def service_prefix(service: str) -> str:
    """The IAM action prefix of a boto3 service name (network-firewall etc. keep their name)."""
    return {"stepfunctions": "states"}.get(service, service)


def denied_action(err: ClientError) -> str:
    """The IAM action named in an access-denied error, else the one derived from the operation."""
    message = err.response.get("Error", {}).get("Message", "") or ""
    found = _ACTION_IN_MESSAGE.search(message)
    if found:
        return found.group(1)
    op = getattr(err, "operation_name", "") or ""
    service = ""
    meta = err.response.get("ResponseMetadata", {})
    service = str(meta.get("ServiceName", "")) if isinstance(meta, dict) else ""
    return f"{service_prefix(service)}:{op}" if service else op


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def explain(err: BaseException, *, profile: str | None = None, service: str = "") -> FlowlogsError:
    """Map a boto3/botocore exception to a `FlowlogsError` with a specific message."""
    if isinstance(err, FlowlogsError):
        return err
    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    if isinstance(err, (SSOTokenLoadError, UnauthorizedSSOTokenError)) or (
        isinstance(err, TokenRetrievalError) and "sso" in str(err).lower()
    ):
        return CredentialsError(
            "Your AWS SSO session has expired or was never started.", hint=f"Run: {login}"
        )
    if isinstance(err, CredentialRetrievalError):  # an assumed role's credentials could not be renewed
        return CredentialsError(
            f"Could not renew the credentials of {err.kwargs.get('provider', 'a role')}: "
            f"{err.kwargs.get('error_msg', err)}",
            hint="Check that the role still trusts the caller, then run again.",
        )
    if isinstance(err, TokenRetrievalError):
        return CredentialsError(f"Could not refresh AWS credentials: {err}", hint=f"Run: {login}")
    if isinstance(err, NoCredentialsError):
        return CredentialsError(
            "No AWS credentials were found.",
            hint="Set AWS_PROFILE or pass --profile NAME, export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run `aws configure sso`.",
        )
    if isinstance(err, PartialCredentialsError):
        return CredentialsError(f"Incomplete AWS credentials: {err}", hint="Check the profile's keys.")
    if isinstance(err, ProfileNotFound):
        return CredentialsError(
            f"The AWS profile {err.kwargs.get('profile', profile)!r} does not exist.",
            hint="List profiles with `aws configure list-profiles`.",
        )
    if isinstance(err, InvalidRegionError):
        from aws.regions import validate_region  # aws.regions imports this module

        try:
            validate_region(str(err.kwargs.get("region_name", "")), what="")
        except ValidationFailed as bad:
            return bad
        return ValidationFailed(f"Invalid region name: {err}")
    if isinstance(err, NoRegionError):
        return CredentialsError("No AWS region is set.", hint="Pass --region or set AWS_REGION.")
    if isinstance(err, (BotoConnectionError, HTTPClientError)):
        return _network_error(err, service)
    if isinstance(err, ClientError):
        code = error_code(err)
        if code in THROTTLING_CODES:
            return _throttled(err, code, service)
        record = call_record(err)
        if record is not None and record.throttled:  # S3's bare 503 to a HEAD request
            return _throttled(err, code or "SlowDown", service)
        message = err.response.get("Error", {}).get("Message", "") or code
        op = getattr(err, "operation_name", "")
        if code in _TOKEN_CODES:
            hint = (
                f"Refresh the credentials (for SSO: {login}; for keys: check they are current)."
                if code.startswith("Expired") or code == "RequestExpired"
                else "The access key or session token is not valid for this partition/endpoint."
            )
            return CredentialsError(f"AWS rejected the credentials ({code}): {message}", hint=hint)
        if code in _DENIED_CODES or code.endswith("AccessDenied") or "not authorized" in message:
            action = denied_action(err)
            if service and ":" not in action:
                action = f"{service_prefix(service)}:{op}"
            found = _ORG_POLICY.search(message)
            if found:
                resource = found.group(1).lower() == "resource"
                short = "RCP" if resource else "SCP"
                where = (
                    "A resource control policy on the account that owns the resource"
                    if resource
                    else "A service control policy on the caller's account or its OU"
                )
                return ScpDenied(
                    f"Access denied: {action or op} is denied by an organization policy ({short}), not by IAM.",
                    action=action,
                    policy=short,
                    hint=f"{where} denies it; IAM permissions cannot lift that. Ask the AWS Organizations "
                    "administrator, or leave this account out.",
                )
            return AccessDeniedError(
                f"Access denied: {action or op} is not allowed for this identity.",
                action=action,
                hint="Grant that action to the identity you run flowlogs as (see README, IAM permissions).",
            )
        return FlowlogsError(f"{op or 'AWS call'} failed ({code}): {message}")
    if isinstance(err, BotoCoreError):
        return FlowlogsError(f"AWS client error: {err}")
    return FlowlogsError(f"{type(err).__name__}: {err}")
