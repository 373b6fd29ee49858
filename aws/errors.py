"""Errors the engine raises, each carrying a message fit to show a user as is.

`explain()` turns any exception that escapes boto3/botocore into a `FlowlogsError` with a specific,
actionable message (which credential is missing, which `aws sso login` to run, which API action was
denied) so neither the CLI nor the TUI ever shows a traceback for an AWS failure.
"""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)


class FlowlogsError(Exception):
    """An error with a message meant for the user. `kind` groups errors for exit codes."""

    kind = "error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class CredentialsError(FlowlogsError):
    """No usable credentials: missing, expired, invalid. The user has to act before anything works."""

    kind = "credentials"


class AccessDeniedError(FlowlogsError):
    """The caller is authenticated but not allowed to perform `action`."""

    kind = "access"

    def __init__(self, message: str, *, action: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.action = action


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


class EndpointError(FlowlogsError):
    """The endpoint could not be reached or did not answer in time."""

    kind = "network"


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
    if isinstance(err, (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError)):
        return EndpointError(f"AWS did not answer in time: {err}", hint="Check the network or proxy.")
    if isinstance(err, ClientError):
        code = error_code(err)
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
            return AccessDeniedError(
                f"Access denied: {action or op} is not allowed for this identity.",
                action=action,
                hint="Grant that action to the identity you run flowlogs as (see README, IAM permissions).",
            )
        return FlowlogsError(f"{op or 'AWS call'} failed ({code}): {message}")
    if isinstance(err, BotoCoreError):
        return FlowlogsError(f"AWS client error: {err}")
    return FlowlogsError(f"{type(err).__name__}: {err}")
