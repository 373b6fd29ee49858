"""Kentik's candidate roles in the account: roles whose trust policy names Kentik's AWS account or requires
an sts:ExternalId, with their attached and inline policies (IAM is global: read once per scan)."""

from __future__ import annotations

import json
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from aws.discovery_api import paginate, scan_error
from aws.inventory import (
    AttachedPolicy,
    KentikRole,
    ScanError,
)
from aws.permissions import declare
from aws.session import AwsSession

PERMISSIONS = declare(
    __name__,
    read=["iam:ListRoles", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetPolicy"],
)

KENTIK_ACCOUNT = "834693425129"


# -- IAM -------------------------------------------------------------------------------------------
def _policy_doc(doc: Any) -> dict[str, Any]:
    if isinstance(doc, str):
        try:
            doc = json.loads(unquote(doc))
        except ValueError:
            return {}
    return doc if isinstance(doc, dict) else {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def trust_match(doc: Any) -> tuple[bool, list[str], list[str]]:
    """(trusts Kentik's account, sts:ExternalId values, AWS principals) of an allow trust policy."""
    trusts = False
    external_ids: list[str] = []
    principals: list[str] = []
    for stmt in _as_list(_policy_doc(doc).get("Statement")):
        if not isinstance(stmt, dict) or stmt.get("Effect") != "Allow":
            continue
        principal = stmt.get("Principal")
        aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else _as_list(principal)
        for p in aws:
            p = str(p)
            principals.append(p)
            if p == KENTIK_ACCOUNT or f":{KENTIK_ACCOUNT}:" in p:
                trusts = True
        for conditions in (stmt.get("Condition") or {}).values():
            if not isinstance(conditions, dict):
                continue
            for key, value in conditions.items():
                if key.lower() == "sts:externalid":
                    external_ids.extend(str(v) for v in _as_list(value))
    return trusts, sorted(set(external_ids)), sorted(set(principals))


def discover_roles(
    session: AwsSession, *, calls: Executor | None = None
) -> tuple[list[KentikRole], ScanError | None]:
    """Candidate Kentik roles (trusting 834693425129 or requiring an sts:ExternalId) with their policies.

    IAM is global: one ListRoles, then per candidate the attached and inline policy lists and, per
    attached policy, GetPolicy (for the default version id) — concurrently on `calls`.
    """
    if calls is None:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="scan-iam") as own:
            return discover_roles(session, calls=own)
    try:
        iam = session.client("iam")
        roles = paginate(iam, "list_roles", "Roles", page_size=1000)
    except Exception as err:
        return [], scan_error(err, service="iam", operation="ListRoles")
    found: list[KentikRole] = []
    for role in roles:
        trusts, external_ids, principals = trust_match(role.get("AssumeRolePolicyDocument"))
        if trusts or external_ids:
            found.append(
                KentikRole(
                    name=role["RoleName"],
                    arn=role["Arn"],
                    trusts_kentik=trusts,
                    external_ids=external_ids,
                    principals=principals,
                )
            )
    lists = [
        (
            r,
            calls.submit(paginate, iam, "list_attached_role_policies", "AttachedPolicies", RoleName=r.name),
            calls.submit(paginate, iam, "list_role_policies", "PolicyNames", RoleName=r.name),
        )
        for r in found
    ]
    versions: dict[str, Future[Any]] = {}
    for r, f_attached, f_inline in lists:
        for fut, op in ((f_attached, "ListAttachedRolePolicies"), (f_inline, "ListRolePolicies")):
            exc = fut.exception()
            if exc is not None:
                r.error = scan_error(exc, service="iam", operation=op).message
        if f_attached.exception() is None:
            for p in f_attached.result():
                r.attached_policies.append(AttachedPolicy(name=p["PolicyName"], arn=p["PolicyArn"]))
                if p["PolicyArn"] not in versions:
                    versions[p["PolicyArn"]] = calls.submit(iam.get_policy, PolicyArn=p["PolicyArn"])
        if f_inline.exception() is None:
            r.inline_policies = sorted(f_inline.result())
    for r in found:
        for policy in r.attached_policies:
            f_version = versions[policy.arn]
            exc = f_version.exception()
            if exc is None:
                policy.default_version_id = f_version.result().get("Policy", {}).get("DefaultVersionId")
            elif r.error is None:
                r.error = scan_error(exc, service="iam", operation="GetPolicy").message
    return sorted(found, key=lambda r: r.name), None
