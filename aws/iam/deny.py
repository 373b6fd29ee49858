"""Explicit Deny in a resource policy (bucket policy, KMS key policy), as AWS decides it for one request.

The question answered: "does a Deny statement of this policy apply when `delivery.logs.amazonaws.com`
asks for ACTION on RESOURCE, with these condition keys in the request?" An explicit Deny wins over
every Allow, so a matching statement means log delivery fails (`DeliverLogsStatus` FAILED, "Access
error") however generous the rest of the policy is. The sandbox's delivery simulator and the planner
(to warn before apply) both ask this module: the same evaluator decides both.

Rules followed (AWS, "Policy evaluation logic" and "IAM JSON policy elements: Condition operators"):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
* `Principal: "*"` (or `{"AWS": "*"}`) matches the service principal, `{"Service": ...}` matches when it
  names it; any other principal does not. `NotPrincipal` applies to everyone it does not name.
* `Action`/`NotAction`, `Resource`/`NotResource` are IAM wildcards (`*`, `?`); actions match
  case-insensitively. ACTION and RESOURCE may be patterns too ("any of them"): a Deny that touches
  some matching action on some matching resource is reported (the planner asks about whole prefixes).
  A statement without Resource (allowed in key policies) applies to every resource.
* `Condition`: every operator and every key must hold (AND); a key's values are alternatives (OR).
  A key ABSENT from the request makes a positive operator false and a negated one (`StringNotEquals`,
  `StringNotLike`, `ArnNotEquals`, `ArnNotLike`, `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`)
  TRUE; `...IfExists` is true when the key is absent; `Null` tests presence; `ForAllValues:` is true
  for an absent key, `ForAnyValue:` false. So "Deny unless aws:SourceVpce = vpce-1" denies log
  delivery (the service's request has no aws:SourceVpce), while "Deny if aws:SecureTransport is false"
  does not (delivery uses TLS).
* A condition operator this module does not know is taken as met (a Deny is then reported, with the
  operator in `DenyingStatement.unknown_operators`): better a false warning than a silent failure.
* Condition keys are case-insensitive; string values are compared case-sensitively (except
  `...IgnoreCase`); ARN operators compare each of the six `:`-separated parts separately (a `*` does
  not cross a `:`); a value with fewer parts is matched as one string (unverified corner).

Engine code: pure, no AWS calls, no moto import.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aws.iam.eval import PatternSet, glob_match, intersects
from aws.names import s3_arn

DELIVERY_SERVICE = "delivery.logs.amazonaws.com"

Context = Mapping[str, Any]  # condition key -> value (str, bool, number, or a list of them)


@dataclass(frozen=True)
class DenyingStatement:
    """A Deny statement that applies to the request."""

    index: int  # position in the Statement list (0 for a single statement object)
    sid: str | None
    statement: dict[str, Any]
    unknown_operators: tuple[str, ...] = field(default=())  # taken as met; the Deny may not really apply

    @property
    def label(self) -> str:
        return f"statement {self.index + 1}" + (f" (Sid {self.sid})" if self.sid else "")

    def describe(self, action: str, resource: str, *, policy: str = "the policy") -> str:
        text = f"{policy} {self.label} explicitly denies {action} on {resource}"
        if self.unknown_operators:
            text += f" (condition operator(s) {', '.join(self.unknown_operators)} not evaluated)"
        return text


def delivery_context(
    account_id: str,
    region: str,
    *,
    action: str = "s3:PutObject",
    bucket: str | None = None,
    partition: str = "aws",
) -> dict[str, Any]:
    """The condition keys log delivery's request carries when it writes for a flow log (or firewall)
    of `account_id` in `region`. Keys NOT here are absent from the request, which is what makes "Deny
    unless aws:SourceVpce / aws:PrincipalOrgID / aws:SourceIp ..." statements deny the service.

    `aws:SourceArn` is given as the `arn:{partition}:logs:{region}:{account}:*` pattern AWS's own statements use
    (the exact ARN of a delivery is not documented). For KMS actions S3 calls KMS for the delivery:
    `kms:ViaService` and the S3 encryption context of `bucket` are included.
    """
    ctx: dict[str, Any] = {
        "aws:SourceAccount": account_id,
        "aws:SourceArn": f"arn:{partition}:logs:{region}:{account_id}:*",
        "aws:SecureTransport": True,
        "aws:PrincipalIsAWSService": True,
        "aws:PrincipalServiceName": DELIVERY_SERVICE,
    }
    if action.lower().startswith("s3:"):
        ctx["s3:x-amz-acl"] = "bucket-owner-full-control"
    if action.lower().startswith("kms:"):
        ctx["kms:ViaService"] = f"s3.{region}.amazonaws.com"
        if bucket:
            ctx["kms:EncryptionContext:aws:s3:arn"] = s3_arn(bucket, partition=partition)
    return ctx


# -- principals, actions, resources -----------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, (str, dict, bool, int, float)) else list(value)


def _names(principal: Any, service: str) -> bool:
    """Does a Principal element name `service` (directly or through "*")?"""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "*" in _as_list(principal.get("AWS")):
        return True
    return service.lower() in [str(s).lower() for s in _as_list(principal.get("Service"))]


def principal_matches(statement: Mapping[str, Any], service: str = DELIVERY_SERVICE) -> bool:
    """Does the statement apply to the service principal `service`?"""
    if "NotPrincipal" in statement:
        return not _names(statement["NotPrincipal"], service)
    return _names(statement.get("Principal"), service)


def _pattern_set(statement: Mapping[str, Any], key: str, default: str | None = None) -> PatternSet | None:
    if f"Not{key}" in statement:
        return PatternSet(tuple(str(p) for p in _as_list(statement[f"Not{key}"])), negated=True)
    if key in statement:
        return PatternSet(tuple(str(p) for p in _as_list(statement[key])))
    return PatternSet((default,)) if default else None


def _touches(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    actions = _pattern_set(statement, "Action")
    resources = _pattern_set(statement, "Resource", default="*")
    if actions is None or resources is None:
        return False
    return intersects(actions, action, case_sensitive=False) and intersects(
        resources, resource, case_sensitive=True
    )


# -- conditions --------------------------------------------------------------------------------------

_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arn_like(pattern: str, value: str) -> bool:
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != len(v_parts) or len(p_parts) < 6:
        return glob_match(pattern, value, case_sensitive=True)
    return all(glob_match(p, v, case_sensitive=True) for p, v in zip(p_parts, v_parts, strict=True))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _date(value: str) -> datetime | None:
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _compare(convert: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, expected: str) -> bool:
        a, e = convert(actual), convert(expected)
        return a is not None and e is not None and test(a, e)

    return match


def _in_network(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


_BASE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: glob_match(e, a, case_sensitive=True),
    "ArnEquals": lambda a, e: _arn_like(e, a),
    "ArnLike": lambda a, e: _arn_like(e, a),
    "Bool": lambda a, e: a.lower() == e.lower(),
    "BinaryEquals": lambda a, e: a == e,
    "NumericEquals": _compare(_number, lambda a, e: a == e),
    "NumericLessThan": _compare(_number, lambda a, e: a < e),
    "NumericLessThanEquals": _compare(_number, lambda a, e: a <= e),
    "NumericGreaterThan": _compare(_number, lambda a, e: a > e),
    "NumericGreaterThanEquals": _compare(_number, lambda a, e: a >= e),
    "DateEquals": _compare(_date, lambda a, e: a == e),
    "DateLessThan": _compare(_date, lambda a, e: a < e),
    "DateLessThanEquals": _compare(_date, lambda a, e: a <= e),
    "DateGreaterThan": _compare(_date, lambda a, e: a > e),
    "DateGreaterThanEquals": _compare(_date, lambda a, e: a >= e),
    "IpAddress": _in_network,
}


def _lookup(context: Context, key: str) -> list[str] | None:
    """The request's values for `key` (keys are case-insensitive); None when the key is absent."""
    wanted = key.lower()
    for k, v in context.items():
        if k.lower() == wanted:
            return [_text(x) for x in _as_list(v)]
    return None


def _operator_holds(operator: str, key: str, expected: Any, context: Context) -> bool | None:
    """Does `operator` hold for `key`? None when the operator is unknown."""
    set_op = ""
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
        if set_op not in ("ForAnyValue", "ForAllValues"):
            return None
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    actual = _lookup(context, key)
    wanted = [_text(v) for v in _as_list(expected)]
    if operator == "Null":
        if set_op:
            return None
        absent = actual is None or actual == []
        return any(w.lower() == ("true" if absent else "false") for w in wanted)
    negated = operator in _NEGATED
    base = _BASE.get(_NEGATED.get(operator, operator))
    if base is None:
        return None
    if actual is None:
        if if_exists or set_op == "ForAllValues":
            return True
        if set_op == "ForAnyValue":
            return False
        return negated

    def one(value: str) -> bool:
        hit = any(base(value, w) for w in wanted)
        return not hit if negated else hit

    if set_op == "ForAllValues":
        return all(one(v) for v in actual)
    if set_op == "ForAnyValue" or len(actual) <= 1:
        return any(one(v) for v in actual)
    # a multi-valued key without a set operator: AWS advises against it; negated = none match, else any
    return all(one(v) for v in actual) if negated else any(one(v) for v in actual)


def condition_unknowns(condition: Mapping[str, Any] | None, context: Context) -> tuple[bool, tuple[str, ...]]:
    """(does the Condition block hold for the request, operators it could not evaluate and took as met)."""
    unknown: list[str] = []
    for operator, keys in (condition or {}).items():
        if not isinstance(keys, Mapping):
            unknown.append(str(operator))
            continue
        for key, expected in keys.items():
            held = _operator_holds(str(operator), str(key), expected, context)
            if held is None:
                if operator not in unknown:
                    unknown.append(str(operator))
            elif not held:
                return False, ()
    return True, tuple(unknown)


def condition_met(condition: Mapping[str, Any] | None, context: Context) -> bool:
    """Does the Condition block hold for a request carrying `context` (unknown operators: met)?"""
    return condition_unknowns(condition, context)[0]


# -- the question ------------------------------------------------------------------------------------


def _load(policy: str | bytes | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        return policy
    try:
        doc = json.loads(policy)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def explicit_denies(
    policy: str | bytes | Mapping[str, Any] | None,
    action: str,
    resource: str,
    context: Context | None = None,
    *,
    service: str = DELIVERY_SERVICE,
) -> list[DenyingStatement]:
    """Every Deny statement of `policy` that applies when `service` asks for `action` on `resource`
    with the condition keys `context` (None: no keys at all). Text that is not a JSON policy: []."""
    doc = _load(policy)
    if doc is None:
        return []
    body = doc.get("Statement")
    items = body if isinstance(body, list) else [body]
    ctx = context or {}
    out = []
    for index, st in enumerate(items):
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        if not principal_matches(st, service) or not _touches(st, action, resource):
            continue
        held, unknown = condition_unknowns(st.get("Condition"), ctx)
        if held:
            sid = st.get("Sid")
            out.append(DenyingStatement(index, sid if isinstance(sid, str) and sid else None, st, unknown))
    return out


def delivery_denied_by(
    policy: str | bytes | Mapping[str, Any] | None,
    action: str,
    resource: str,
    context: Context | None = None,
    *,
    service: str = DELIVERY_SERVICE,
) -> DenyingStatement | None:
    """The first Deny statement that blocks log delivery's `action` on `resource`, or None.

    `context`: the request's condition keys, normally `delivery_context(account, region, action=...)`.
    """
    denies = explicit_denies(policy, action, resource, context, service=service)
    return denies[0] if denies else None
