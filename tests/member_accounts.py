"""Acting in another account of the sandbox, as AWS allows it: through a role that exists there and whose
trust policy lets the caller in (the strict sandbox refuses anything else, as AWS does)."""

from __future__ import annotations

import json

from aws.session import AwsSession

SETUP_ROLE = "setup"


def trust_account(account: str, *, external_id: str = "", also: tuple[str, ...] = ()) -> dict[str, object]:
    """A trust policy letting principals of `account` (and the `also` principals) assume the role."""
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{account}:root", *also]},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def member_session(session: AwsSession, account: str, *, role: str = SETUP_ROLE) -> AwsSession:
    """A session in `account` through `role`, which the sandbox makes there (in moto's own backend, as an
    administrator of that account would) trusting the caller's account."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["global"]
    if not any(r.name == role for r in iam.roles.values()):
        iam.create_role(
            role_name=role,
            assume_role_policy_document=json.dumps(trust_account(session.identity().account)),
            path="/",
            permissions_boundary=None,
            description="",
            tags=[],
            max_session_duration="3600",
        )
    return session.assume_role(f"arn:aws:iam::{account}:role/{role}")
