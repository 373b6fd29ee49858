"""The strict sandbox's STS rules: who may assume a role, for how long, and what an organization denies.

`apply_sts_fixes()` is called by `aws.sandbox.strict.apply_strict_fixes()`; it is idempotent and
thread-safe. moto (5.2.x) lets anyone assume any role ARN, even one that does not exist, ignores trust
policies and ExternalId, takes any DurationSeconds, and its credentials never expire. What changes:

* AssumeRole is refused with `AccessDenied` (HTTP 403), message `User: {caller} is not authorized to
  perform: sts:AssumeRole on resource: {role ARN}`, unless the role exists in the target account and its
  trust policy allows the caller (AWS says the same whether the role is missing or distrusts the caller:
  it does not reveal which). The trust policy (`trust_allows()`): an Allow statement whose Action
  matches `sts:AssumeRole` (wildcards, lists, NotAction) and whose `Principal.AWS` names the caller: `*`,
  the caller's account id or `arn:aws:iam::ACCT:root` (any principal of the account), or the caller's
  exact ARN; an assumed-role session `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` is the role
  `arn:aws:iam::ACCT:role/[PATH/]NAME`. Conditions are evaluated by `aws.iam.deny` (StringEquals /
  StringLike ... on `sts:ExternalId`, `sts:RoleSessionName`, `aws:PrincipalArn`, `aws:PrincipalAccount`;
  a key the request lacks fails a positive operator, so a missing ExternalId fails
  `StringEquals sts:ExternalId`); an operator it does not know does not grant. A matching Deny refuses.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html
* DurationSeconds outside 900..43200 is a `ValidationError` (400) naming the constraint, as STS words it
  (`Member must have value greater than or equal to 900`); above the role's MaxSessionDuration, or above
  3600 when an assumed-role session assumes a role (role chaining), a `ValidationError` too.
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
* Expiry. Credentials from AssumeRole expire DurationSeconds after they were issued, on the sandbox
  clock (`set_sts_clock()`; epoch seconds like `time.time`, which it is by default). The Expiration
  AssumeRole returns is on that clock, so a client judging refresh by the same clock agrees with the
  sandbox. A request signed with expired credentials is refused: STS, IAM and other query services
  `ExpiredToken` (403) and JSON services `ExpiredTokenException` (403), both "The security token included
  in the request is expired" (AWS Common Errors; the STS wording as botocore users report it); EC2
  `RequestExpired` (400) "Request has expired." (EC2's error codes: it is also returned when temporary
  credentials have expired); S3 `ExpiredToken` (400) "The provided token has expired." (S3 error codes).
  https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
  https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
* Service control policies, simulated: `deny_by_scp(account_id, action)` makes every request of a
  principal of that account for a matching action (`sts:AssumeRole`, `ec2:*`, ...) fail with an explicit
  deny "in a service control policy": EC2 `UnauthorizedOperation` (403, "You are not authorized to
  perform this operation. User: ... on resource: ... with an explicit deny in a service control policy.");
  query services (STS, IAM) `AccessDenied` (403); JSON services (Organizations, Network Firewall)
  `AccessDeniedException` (403); the message `User: {caller} is not authorized to perform: {action} on
  resource: {resource} with an explicit deny in a service control policy` (the resource: the role ARN for
  AssumeRole, else `*`). Requests through every moto service that dispatches through
  `BaseResponse.call_action` are checked (not S3). `clear_scps()` removes them all. AWS never applies SCPs
  to the management account; this simulation does what it is told.
  https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape

from aws.iam.deny import condition_unknowns
from aws.iam.eval import action_matches

ASSUME_ROLE = "sts:AssumeRole"
MIN_DURATION, MAX_DURATION = 900, 43200  # AssumeRole's DurationSeconds
DEFAULT_DURATION = 3600
CHAINED_MAX_DURATION = 3600  # role chaining: an assumed-role session assuming a role
TEMP_KEY_PREFIX = "ASIA"  # moto's (and AWS's) prefix of temporary access key ids

EXPIRED_MESSAGE = "The security token included in the request is expired"
EC2_EXPIRED_MESSAGE = "Request has expired."
S3_EXPIRED_MESSAGE = "The provided token has expired."
SCP_SUFFIX = "with an explicit deny in a service control policy"

_EXPIRES_ATTR = "_strict_expires_at"  # set on moto's AssumedRole: sandbox clock seconds
_ROLE_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?P<rest>.+)$")
_SESSION_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)

_lock = threading.Lock()
_applied = False
_clock: Callable[[], float] = time.time
_scp_lock = threading.Lock()
_scps: dict[str, tuple[str, ...]] = {}  # account id -> denied action patterns


def apply_sts_fixes() -> None:
    """Patch moto's classes once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        _fix_assume_role()
        _fix_call_action()
        _fix_s3_expiry()
        _applied = True


# -- the clock and the SCPs ----------------------------------------------------------------------------


def set_sts_clock(clock: Callable[[], float] | None) -> None:
    """The clock (epoch seconds) credentials are issued and judged by; None: `time.time` again."""
    global _clock
    _clock = clock if clock is not None else time.time


def sts_now() -> float:
    return _clock()


def deny_by_scp(account_id: str, action: str) -> None:
    """Simulate an SCP denying `action` (a pattern: `sts:AssumeRole`, `ec2:*`) to the account's principals."""
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValueError(f"not an account id: {account_id!r}")
    if action != "*" and ":" not in action:
        raise ValueError(f"an SCP action is service:Action (or a pattern of one), not {action!r}")
    with _scp_lock:
        _scps[account_id] = (*_scps.get(account_id, ()), action)


def clear_scps() -> None:
    with _scp_lock:
        _scps.clear()


def scp_denies(account_id: str, action: str) -> bool:
    """Does a simulated SCP deny `action` (e.g. `ec2:DescribeVpcs`) to a principal of `account_id`?"""
    with _scp_lock:
        patterns = _scps.get(account_id, ())
    return any(action_matches(p, action) for p in patterns)


# -- the trust policy ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _caller_role_arn(caller_arn: str) -> tuple[str, str, str] | None:
    """(partition, account, role name) of an assumed-role session ARN; None for anything else."""
    m = _SESSION_ARN.match(caller_arn)
    return (m["partition"], m["account"], m["role"]) if m else None


def principal_names_caller(principal: str, caller_arn: str, caller_account: str) -> bool:
    """Does one `Principal.AWS` value name the caller?"""
    if principal == "*" or principal in (caller_account, caller_arn):
        return True
    root = re.fullmatch(r"arn:[\w-]+:iam::(\d{12}):root", principal)
    if root:
        return root[1] == caller_account
    session = _caller_role_arn(caller_arn)
    role = _ROLE_ARN.match(principal)
    if session and role:
        partition, account, name = session
        return (role["partition"], role["account"], role["rest"].rsplit("/", 1)[-1]) == (
            partition,
            account,
            name,
        )
    return False


def principal_names(principal: Any, caller_arn: str, caller_account: str) -> bool:
    """Whether a policy statement's Principal (or NotPrincipal) names the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return any(
        isinstance(p, str) and principal_names_caller(p, caller_arn, caller_account)
        for p in _as_list(principal.get("AWS"))
    )


def _statement_applies(st: Mapping[str, Any], action: str, caller_arn: str, caller_account: str) -> bool:
    if "NotPrincipal" in st:  # everyone it does not name
        if principal_names(st["NotPrincipal"], caller_arn, caller_account):
            return False
    elif not principal_names(st.get("Principal"), caller_arn, caller_account):
        return False
    if "NotAction" in st:
        return not any(isinstance(p, str) and action_matches(p, action) for p in _as_list(st["NotAction"]))
    return any(isinstance(p, str) and action_matches(p, action) for p in _as_list(st.get("Action")))


def trust_context(
    caller_arn: str, caller_account: str, external_id: str | None, session_name: str | None
) -> dict[str, Any]:
    """The condition keys an AssumeRole request carries."""
    session = _caller_role_arn(caller_arn)
    principal_arn = f"arn:{session[0]}:iam::{session[1]}:role/{session[2]}" if session else caller_arn
    context: dict[str, Any] = {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": caller_account}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    if session_name is not None:
        context["sts:RoleSessionName"] = session_name
    return context


def trust_allows(
    document: str | Mapping[str, Any] | None,
    *,
    caller_arn: str,
    caller_account: str,
    external_id: str | None = None,
    session_name: str | None = None,
    action: str = ASSUME_ROLE,
) -> bool:
    """Does the role's trust policy let the caller perform `action` (explicit Deny wins; no Allow: no)?"""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    if not isinstance(document, Mapping):
        return False
    context = trust_context(caller_arn, caller_account, external_id, session_name)
    allowed = False
    for st in _as_list(document.get("Statement")):
        if not isinstance(st, Mapping) or not _statement_applies(st, action, caller_arn, caller_account):
            continue
        held, unknown = condition_unknowns(st.get("Condition"), context)
        if st.get("Effect") == "Deny" and held:
            return False  # an operator it can't evaluate is taken as met: the Deny applies
        if st.get("Effect") == "Allow" and held and not unknown:
            allowed = True
    return allowed


# -- error responses -----------------------------------------------------------------------------------


def _protocol(response: Any) -> str:
    from moto.core.utils import get_service_model

    try:
        return str(response.determine_response_protocol(get_service_model(response.boto3_service_name)))
    except Exception:
        return "query"


def error_response(response: Any, code: str, message: str, status: int) -> tuple[int, dict[str, Any], str]:
    """(status, headers, body) of an AWS error in the protocol of the moto response object's service."""
    protocol = _protocol(response)
    request_id = str(uuid.uuid4())  # not moto's seeded random: refusals must not shift seeded ids
    headers: dict[str, Any] = dict(getattr(response, "response_headers", None) or {})
    headers["x-amzn-RequestId"] = request_id
    if protocol in ("json", "rest-json", "query-json"):
        headers["Content-Type"] = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message})
    elif protocol == "ec2":
        headers["Content-Type"] = "text/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        headers["Content-Type"] = "text/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers["status"] = str(status)
    return status, headers, body


def _expired_error(response: Any) -> tuple[str, str, int]:
    protocol = _protocol(response)
    if protocol == "ec2":
        return "RequestExpired", EC2_EXPIRED_MESSAGE, 400
    if protocol in ("json", "rest-json", "query-json"):
        return "ExpiredTokenException", EXPIRED_MESSAGE, 403
    return "ExpiredToken", EXPIRED_MESSAGE, 403


def _scp_error(response: Any, caller_arn: str, action: str, resource: str) -> tuple[str, str, int]:
    message = (
        f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} {SCP_SUFFIX}"
    )
    protocol = _protocol(response)
    if protocol == "ec2":
        return "UnauthorizedOperation", f"You are not authorized to perform this operation. {message}.", 403
    if protocol in ("json", "rest-json", "query-json"):
        return "AccessDeniedException", message, 403
    return "AccessDenied", message, 403


# -- credentials ---------------------------------------------------------------------------------------


def assumed_role_of(access_key: str) -> Any | None:
    """moto's AssumedRole issued with `access_key` (None: not an AssumeRole key)."""
    if not access_key or not access_key.startswith(TEMP_KEY_PREFIX):
        return None
    from moto.iam.models import get_account_id_from
    from moto.sts.models import sts_backends
    from moto.utilities.utils import PARTITION_NAMES

    account = get_account_id_from(access_key)
    for partition in PARTITION_NAMES:
        found = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
        if found is not None:
            return found
    return None


def credentials_expired(access_key: str) -> bool:
    """Were these AssumeRole credentials issued with an expiry that the sandbox clock has passed?"""
    role = assumed_role_of(access_key)
    expires = role.__dict__.get(_EXPIRES_ATTR) if role is not None else None
    return expires is not None and _clock() >= expires


def _caller(response: Any) -> tuple[str, str]:
    """(caller ARN, caller account) of the request being handled."""
    from moto.sts.models import sts_backends

    key = getattr(response, "access_key", None) or response.get_access_key()
    account = getattr(response, "current_account", None) or response.get_current_account()
    _, arn, caller_account = sts_backends[account][response.partition].get_caller_identity(
        key, response.region
    )
    return str(arn), str(caller_account)


def _iam_action(response: Any) -> str | None:
    try:
        action = response._get_action()
    except Exception:
        return None
    return f"{response.service_name}:{action}" if action else None


def _refusal(response: Any) -> tuple[int, dict[str, Any], str] | None:
    """The error a request gets before moto handles it (expired credentials, SCP), or None."""
    key = getattr(response, "access_key", None) or response.get_access_key()
    if credentials_expired(key):
        return error_response(response, *_expired_error(response))
    with _scp_lock:
        any_scp = bool(_scps)
    if not any_scp or not response.service_name:
        return None
    action = _iam_action(response)
    if action is None:
        return None
    account = getattr(response, "current_account", None) or response.get_current_account()
    if not scp_denies(account, action):
        return None
    resource = "*"
    if action.lower() == ASSUME_ROLE.lower():
        resource = str(response._get_param("RoleArn") or "*")
    caller_arn, _ = _caller(response)
    return error_response(response, *_scp_error(response, caller_arn, action, resource))


def _fix_call_action() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        refused = _refusal(self)
        if refused is not None:
            status, headers, body = refused
            headers, body = self._enrich_response(headers, body)
            return status, headers, body
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]


def _fix_s3_expiry() -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, *args: Any, **kwargs: Any) -> Any:
        if credentials_expired(getattr(self, "access_key", None) or self.get_access_key()):
            raise S3ClientError("ExpiredToken", S3_EXPIRED_MESSAGE)
        return original(self, *args, **kwargs)

    S3Response._authenticate_and_authorize_s3_action = authorize  # type: ignore[method-assign]


# -- AssumeRole ----------------------------------------------------------------------------------------


def find_role(role_arn: str) -> Any | None:
    """moto's IAM role named by `role_arn` in its account (the path, when given, must match), or None."""
    from moto.iam.models import iam_backends

    m = _ROLE_ARN.match(role_arn or "")
    if not m:
        return None
    *path, name = m["rest"].split("/")
    try:
        role = iam_backends[m["account"]][m["partition"]].get_role(name)
    except Exception:
        return None
    wanted_path = "/" + "/".join(path) + "/" if path else None
    if wanted_path is not None and (role.path or "/") != wanted_path:
        return None
    return role


def _validation(message: str) -> Exception:
    from moto.sts.exceptions import STSValidationError

    return STSValidationError(message)


def check_duration(duration: int) -> None:
    if duration < MIN_DURATION:
        raise _validation(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {MIN_DURATION}"
        )
    if duration > MAX_DURATION:
        raise _validation(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_DURATION}"
        )


def _max_session(role: Any) -> int:
    try:
        return int(role.max_session_duration or DEFAULT_DURATION)
    except (TypeError, ValueError):
        return DEFAULT_DURATION


def _fix_assume_role() -> None:
    from moto.sts.responses import TokenResponse

    original = TokenResponse.assume_role

    def assume_role(self: Any) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        duration = self._get_int_param("DurationSeconds", DEFAULT_DURATION)
        check_duration(duration)
        _, caller_arn, caller_account = self.backend.get_caller_identity(self.get_access_key(), self.region)
        role = find_role(role_arn)
        if role is None or not trust_allows(
            role.assume_role_policy_document,
            caller_arn=caller_arn,
            caller_account=caller_account,
            external_id=self._get_param("ExternalId"),
            session_name=self._get_param("RoleSessionName"),
        ):
            message = (
                f"User: {caller_arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
            )
            _, headers, body = error_response(self, "AccessDenied", message, 403)
            return body, headers
        if _caller_role_arn(caller_arn) and duration > CHAINED_MAX_DURATION:
            raise _validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
                "role chaining."
            )
        if duration > _max_session(role):
            raise _validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        issued = _clock()
        result = original(self)
        credentials = getattr(result, "result", {}).get("Credentials")
        if credentials is not None:
            credentials.__dict__[_EXPIRES_ATTR] = issued + duration
            credentials.expiration = datetime.fromtimestamp(issued + duration, tz=timezone.utc).replace(
                tzinfo=None
            )
        return result

    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]
