"""The strict sandbox's IAM rules for creating a role and its policies, which moto (5.2.x) does not enforce.

`apply_iam_fixes()` is called by `aws.sandbox.strict.apply_strict_fixes()`; it is idempotent and
thread-safe. It wraps moto's IAM backend (so in-process moto and the sandbox server both obey it):

* Names. CreateRole's RoleName is 1-64 characters and CreatePolicy's PolicyName 1-128, both of
  `[\\w+=,.@-]` (IAM API reference, CreateRole / CreatePolicy); moto takes any name. Refused with
  `ValidationError` (400) as IAM words it: "1 validation error detected: Value 'NAME' at 'roleName' failed
  to satisfy constraint: Member must ...".
  https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
* Trust policy. moto stores any AssumeRolePolicyDocument on CreateRole. AWS refuses one that is not JSON
  (`MalformedPolicyDocument`, "This policy contains invalid Json"), one over the role trust policy quota
  of 2,048 characters, whitespace not counted (`LimitExceeded`, "Cannot exceed quota for ACLSizePerRole:
  2048"), and one naming an IAM role or user that does not exist (`MalformedPolicyDocument`, `Invalid
  principal in policy: "AWS":"ARN"`): IAM resolves each principal when the policy is saved. In the sandbox
  Kentik's principal (`aws.iam.kentik_role.KENTIK_PRINCIPAL`, in an account moto does not have) counts as
  existing; account ids, `:root` ARNs, `*` and service principals are not looked up. The principal rule
  also holds for UpdateAssumeRolePolicy. (moto's full policy grammar is not applied to CreateRole: tests
  of other parts create roles with minimal trust documents.)
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
* Managed policy size. CreatePolicy and CreatePolicyVersion of a document over 6,144 characters
  (whitespace not counted) are refused with `LimitExceeded` ("Cannot exceed quota for PolicySize: 6144");
  moto stores any size.
* Inline policies. PutRolePolicy that would make the role's inline policies exceed 10,240 characters in
  total (whitespace not counted) is refused with `LimitExceeded` ("Maximum policy size of 10240 bytes
  exceeded for role NAME"); moto stores any size.

(AttachRolePolicy of a policy that does not exist is refused by moto itself, `NoSuchEntity`, as by AWS.)
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from aws.iam.kentik_role import KENTIK_PRINCIPAL
from aws.iam.requirements import INLINE_ROLE_TOTAL_LIMIT, MANAGED_POLICY_LIMIT, policy_size

TRUST_POLICY_LIMIT = 2048  # characters, whitespace not counted (the default quota; it can be raised to 4096)
ROLE_NAME_MAX, POLICY_NAME_MAX = 64, 128
EXISTING_IN_SANDBOX = (KENTIK_PRINCIPAL,)  # principals outside moto's accounts that count as existing

_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
_ENTITY = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?P<rest>.+)$")

_lock = threading.Lock()
_applied = False


def apply_iam_fixes() -> None:
    """Patch moto's IAM backend once per process (later calls do nothing)."""
    global _applied
    with _lock:
        if _applied:
            return
        _fix_backend()
        _applied = True


def _errors() -> Any:
    from moto.iam import exceptions

    return exceptions


def check_name(value: str, field: str, maximum: int) -> None:
    """Raise IAM's ValidationError for a RoleName / PolicyName outside its length or pattern."""
    errors = _errors()
    start = f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
    if len(value) > maximum:
        raise errors.ValidationError(start + f"Member must have length less than or equal to {maximum}")
    if not value:
        raise errors.ValidationError(start + "Member must have length greater than or equal to 1")
    if not _NAME.fullmatch(value):
        raise errors.ValidationError(start + "Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def principal_exists(arn: str) -> bool:
    """Does an IAM role or user ARN name an entity that exists (in moto, or Kentik's principal)? Anything
    that is not such an ARN (account id, root, `*`) is not looked up: True."""
    from moto.iam.models import iam_backends

    match = _ENTITY.match(arn)
    if match is None or arn in EXISTING_IN_SANDBOX:
        return True
    *path, name = match["rest"].split("/")
    try:
        backend = iam_backends[match["account"]][match["partition"]]
    except KeyError:
        return False
    wanted_path = "/" + "/".join(path) + "/" if path else None
    if match["kind"] == "user":
        user = backend.users.get(name)
        return user is not None and (wanted_path is None or user.path == wanted_path)
    role = next((r for r in backend.roles.values() if r.name == name), None)
    return role is not None and (wanted_path is None or (role.path or "/") == wanted_path)


def check_trust(document: str, *, size: bool = True) -> None:
    """Raise what IAM answers for a trust policy it refuses (invalid JSON, too large, unknown principal)."""
    errors = _errors()
    try:
        doc = json.loads(document)
    except (TypeError, ValueError):
        raise errors.MalformedPolicyDocument("This policy contains invalid Json") from None
    if size and policy_size(doc) > TRUST_POLICY_LIMIT:
        raise errors.LimitExceededException(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_LIMIT}")
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    for st in _as_list(statements):
        principal = st.get("Principal") if isinstance(st, dict) else None
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        for arn in _as_list(aws):
            if isinstance(arn, str) and not principal_exists(arn):
                raise errors.MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{arn}"')


def check_managed_size(document: str) -> None:
    try:
        size = policy_size(json.loads(document))
    except (TypeError, ValueError):
        return  # moto's own validator answers for that
    if size > MANAGED_POLICY_LIMIT:
        raise _errors().LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_LIMIT}")


def check_inline_total(role: Any, policy_name: str, document: str) -> None:
    try:
        size = policy_size(json.loads(document))
        others = sum(policy_size(json.loads(d)) for n, d in role.policies.items() if n != policy_name)
    except (TypeError, ValueError):
        return
    if size + others > INLINE_ROLE_TOTAL_LIMIT:
        raise _errors().LimitExceededException(
            f"Maximum policy size of {INLINE_ROLE_TOTAL_LIMIT} bytes exceeded for role {role.name}"
        )


def _fix_backend() -> None:
    from moto.iam.models import IAMBackend

    create_role, update_trust = IAMBackend.create_role, IAMBackend.update_assume_role_policy
    create_policy, create_version = IAMBackend.create_policy, IAMBackend.create_policy_version
    put_role_policy = IAMBackend.put_role_policy

    def strict_create_role(
        self: Any, role_name: str, assume_role_policy_document: str, *a: Any, **k: Any
    ) -> Any:
        check_name(role_name, "roleName", ROLE_NAME_MAX)
        check_trust(assume_role_policy_document)
        return create_role(self, role_name, assume_role_policy_document, *a, **k)

    def strict_update_trust(self: Any, role_name: str, policy_document: str) -> None:
        check_trust(policy_document)
        update_trust(self, role_name, policy_document)

    def strict_create_policy(
        self: Any, description: str, path: str, policy_document: str, policy_name: str, tags: Any
    ) -> Any:
        check_name(policy_name, "policyName", POLICY_NAME_MAX)
        check_managed_size(policy_document)
        return create_policy(self, description, path, policy_document, policy_name, tags)

    def strict_create_version(self: Any, policy_arn: str, policy_document: str, set_as_default: bool) -> Any:
        check_managed_size(policy_document)
        return create_version(self, policy_arn, policy_document, set_as_default)

    def strict_put_role_policy(self: Any, role_name: str, policy_name: str, policy_json: str) -> None:
        check_inline_total(self.get_role(role_name), policy_name, policy_json)
        put_role_policy(self, role_name, policy_name, policy_json)

    IAMBackend.create_role = strict_create_role  # type: ignore[method-assign]
    IAMBackend.update_assume_role_policy = strict_update_trust  # type: ignore[method-assign]
    IAMBackend.create_policy = strict_create_policy  # type: ignore[method-assign]
    IAMBackend.create_policy_version = strict_create_version  # type: ignore[method-assign]
    IAMBackend.put_role_policy = strict_put_role_policy  # type: ignore[method-assign]
