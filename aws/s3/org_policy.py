"""Log delivery for many accounts into one bucket (AWS Organizations): the bucket and key policy statements.

One central bucket (or one per region) receives the logs of every member account. Its bucket policy lets
`delivery.logs.amazonaws.com` write for each member: the accounts are listed in `aws:SourceAccount`, with
`aws:SourceArn` `arn:PARTITION:logs:*:ACCOUNT:*` for each, and the write statement names one resource
`[PREFIX/]AWSLogs/ACCOUNT/*` per account and log prefix (AWS's own layout, as in its documented
statement for flow logs, docs/aws-facts-organizations.md). `aws:SourceOrgID` is not used: AWS documents
SourceAccount/SourceArn for vended log delivery to S3.

* Statements: `org_bucket_statements` (a write and an ACL-check statement per `ACCOUNTS_PER_STATEMENT`
  accounts, Sids `FlowlogsTuiOrgLogDeliveryWrite1`, `...AclCheck1`, ...) and `org_key_statements`.
* Merging: `merge_org_statements` keeps every statement that is not an org statement of flowlogs exactly
  and rewrites the org statements for the union of the accounts (and prefixes) they already name and the
  new ones, so a run that covers fewer accounts never takes access away from the others.
* Size: the merged document must fit S3's 20 KB (KMS: 32 KB). `accounts_that_fit` says how many accounts
  do; `check_org_size` refuses with `OrgPolicyTooLarge` naming that number.

No AWS call.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws.errors import ValidationFailed
from aws.names import delivery_folder, s3_arn
from aws.s3 import bucket_policy as bp

ORG_SID_PREFIX = f"{bp.SID_PREFIX}Org"
SID_ORG_WRITE = f"{ORG_SID_PREFIX}LogDeliveryWrite"
SID_ORG_ACL = f"{ORG_SID_PREFIX}LogDeliveryAclCheck"
SID_ORG_KEY = f"{ORG_SID_PREFIX}LogDeliveryUseKey"

# Accounts per statement: AWS sets no limit on condition values in a bucket policy (only the 20 KB of the
# whole document); 50 keeps each statement readable in the console.
ACCOUNTS_PER_STATEMENT = 50

_ACCOUNT = re.compile(r"^\d{12}$")
_OBJECT = re.compile(r"^arn:[a-z-]+:s3:::[^/]+/(?:(?P<folder>.+)/)?AWSLogs/(?P<account>\d{12})/\*$")


class OrgPolicyTooLarge(ValidationFailed):
    """The policy for this many accounts would be over AWS's size limit. `fits`: how many accounts fit
    (with this bucket name, these prefixes and the policy's other statements)."""

    def __init__(self, message: str, *, accounts: int, fits: int, size: int, limit: int, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.accounts = accounts
        self.fits = fits
        self.size = size
        self.limit = limit


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _conditions(accounts: Sequence[str], partition: str) -> dict[str, Any]:
    return {
        "StringEquals": {"aws:SourceAccount": list(accounts)},
        "ArnLike": {"aws:SourceArn": [f"arn:{partition}:logs:*:{a}:*" for a in accounts]},
    }


def _check_accounts(accounts: Iterable[str]) -> list[str]:
    ids = sorted(set(accounts))
    bad = [a for a in ids if not _ACCOUNT.match(a)]
    if bad:
        raise ValidationFailed(f"Not AWS account ids: {', '.join(bad)}")
    if not ids:
        raise ValidationFailed("No account to let log delivery write for.")
    return ids


def org_bucket_statements(
    bucket: str, accounts: Iterable[str], *, prefixes: Iterable[str] = (), partition: str = "aws"
) -> list[bp.Statement]:
    """The write and ACL-check statements letting log delivery write for every one of `accounts`, one pair
    per `ACCOUNTS_PER_STATEMENT` accounts (in id order)."""
    ids = _check_accounts(accounts)
    folders = _folders(prefixes)
    bucket_arn = s3_arn(bucket, partition=partition)
    principal = {"Service": bp.LOG_DELIVERY_SERVICE}
    out: list[bp.Statement] = []
    for n, chunk in enumerate(_chunks(ids, ACCOUNTS_PER_STATEMENT), start=1):
        resources = [
            s3_arn(bucket, f"{folder + '/' if folder else ''}AWSLogs/{account}/*", partition=partition)
            for account in chunk
            for folder in folders
        ]
        out.append(
            {
                "Sid": f"{SID_ORG_WRITE}{n}",
                "Effect": "Allow",
                "Principal": dict(principal),
                "Action": "s3:PutObject",
                "Resource": resources,
                "Condition": _conditions(chunk, partition),
            }
        )
        out.append(
            {
                "Sid": f"{SID_ORG_ACL}{n}",
                "Effect": "Allow",
                "Principal": dict(principal),
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": bucket_arn,
                "Condition": _conditions(chunk, partition),
            }
        )
    return out


def _folders(prefixes: Iterable[str]) -> list[str]:
    """The folders delivery writes under, in order: each prefix's, '' being the bucket's top (a log with
    no prefix: `bucket/AWSLogs/ACCOUNT/...`), a real folder like any other; [''] when none is given."""
    return list(dict.fromkeys(delivery_folder(p) for p in prefixes)) or [""]


def org_key_statements(accounts: Iterable[str], *, partition: str = "aws") -> list[bp.Statement]:
    """The key-policy statements letting log delivery use the key for every one of `accounts`."""
    ids = _check_accounts(accounts)
    return [
        {
            "Sid": f"{SID_ORG_KEY}{n}",
            "Effect": "Allow",
            "Principal": {"Service": bp.LOG_DELIVERY_SERVICE},
            "Action": list(bp.KEY_ACTIONS),
            "Resource": "*",
            "Condition": _conditions(chunk, partition),
        }
        for n, chunk in enumerate(_chunks(ids, ACCOUNTS_PER_STATEMENT), start=1)
    ]


def is_org_statement(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Sid", "")).startswith(ORG_SID_PREFIX)


def org_accounts(policy: Mapping[str, Any] | None) -> list[str]:
    """The accounts the policy's org statements of flowlogs already let log delivery write for."""
    found: set[str] = set()
    for st in bp.statements(policy):
        if not is_org_statement(st):
            continue
        values = ((st.get("Condition") or {}).get("StringEquals") or {}).get("aws:SourceAccount", [])
        found.update(
            str(v) for v in ([values] if isinstance(values, str) else values) if _ACCOUNT.match(str(v))
        )
    return sorted(found)


def org_prefixes(policy: Mapping[str, Any] | None) -> list[str]:
    """The log folders the policy's org write statements name ('' = the bucket's top)."""
    found: list[str] = []
    for st in bp.statements(policy):
        if not is_org_statement(st) or st.get("Action") != "s3:PutObject":
            continue
        resources = st.get("Resource", [])
        for resource in [resources] if isinstance(resources, str) else resources:
            match = _OBJECT.match(str(resource))
            if match:
                found.append(match["folder"] or "")
    return list(dict.fromkeys(found))


@dataclass
class OrgMerge:
    """The merged document, the accounts and folders its org statements cover, and whether it changed."""

    policy: dict[str, Any]
    accounts: list[str]
    prefixes: list[str]
    changed: bool
    added: list[str] = field(default_factory=list)  # accounts not covered before

    @property
    def text(self) -> str:
        return bp.dump_policy(self.policy)


def same_org_statements(policy: Mapping[str, Any] | None, required: Sequence[bp.Statement]) -> bool:
    """Whether the policy's org statements are exactly `required` (same Sids, same meaning, same order)."""
    current = [s for s in bp.statements(policy) if is_org_statement(s)]
    return len(current) == len(required) and all(
        bp.equivalent(a, b) and a.get("Sid") == b.get("Sid") for a, b in zip(current, required, strict=True)
    )


def merge_org_statements(policy: Mapping[str, Any] | None, required: Sequence[bp.Statement]) -> OrgMerge:
    """`policy` with its org statements replaced by `required`; every other statement kept as it is."""
    merged: dict[str, Any] = copy.deepcopy(dict(policy)) if policy else {"Version": bp.POLICY_VERSION}
    merged.setdefault("Version", bp.POLICY_VERSION)
    kept = [copy.deepcopy(s) for s in bp.statements(policy) if not is_org_statement(s)]
    before = set(org_accounts(policy))
    after = org_accounts({"Statement": list(required)})
    if policy and same_org_statements(policy, required):
        return OrgMerge(copy.deepcopy(dict(policy)), after, org_prefixes(policy), False)
    merged["Statement"] = kept + [copy.deepcopy(dict(s)) for s in required]
    return OrgMerge(merged, after, org_prefixes(merged), True, sorted(set(after) - before))


def bucket_merge(
    policy: Mapping[str, Any] | None,
    bucket: str,
    accounts: Iterable[str],
    *,
    prefixes: Iterable[str] = (),
    partition: str = "aws",
) -> OrgMerge:
    """The bucket policy letting delivery write for `accounts` and every account (and folder) its org
    statements already cover."""
    wanted = sorted(set(accounts) | set(org_accounts(policy)))
    # Every folder the org statements already name stays, the top ('') as much as a prefix's: a run with
    # other log prefixes never takes delivery away from the logs already going there.
    folders = _folders([*_folders(prefixes), *org_prefixes(policy)])
    required = org_bucket_statements(bucket, wanted, prefixes=folders, partition=partition)
    return merge_org_statements(policy, required)


def key_merge(
    policy: Mapping[str, Any] | None, accounts: Iterable[str], *, partition: str = "aws"
) -> OrgMerge:
    wanted = sorted(set(accounts) | set(org_accounts(policy)))
    return merge_org_statements(policy, org_key_statements(wanted, partition=partition))


def bucket_grant_for(
    bucket: str, account: str, *, prefixes: Iterable[str] = (), partition: str = "aws"
) -> list[bp.Statement]:
    """The org form of what a one-account plan needs in the bucket policy for `account`: delivery may
    write below the top `AWSLogs/` and each prefix's, and check the ACL. A policy that already grants it
    (`merge_one_account`) needs nothing more."""
    return org_bucket_statements(bucket, [account], prefixes=["", *prefixes], partition=partition)


def key_grant_for(account: str, *, partition: str = "aws") -> list[bp.Statement]:
    """The org form of what a one-account plan needs in the key policy for `account`."""
    return org_key_statements([account], partition=partition)


def merge_one_account(
    policy: Mapping[str, Any] | None, required: Sequence[bp.Statement], org_form: Sequence[bp.Statement]
) -> bp.MergeResult:
    """The one-account merge of `required` (`bp.merge_statements`), or the policy untouched when its
    statements already grant `org_form` (`bucket_grant_for`, `key_grant_for`): an org plan set the bucket
    or key up for this account, so adding the one-account statements beside it would change nothing."""
    if policy and not bp.missing(policy, org_form):
        return bp.MergeResult(
            policy=copy.deepcopy(dict(policy)), already=[str(s.get("Sid", "")) for s in required]
        )
    return bp.merge_statements(policy, required)


# -- size ------------------------------------------------------------------------------------------


def _synthetic(n: int) -> list[str]:
    return [f"{100000000000 + i:012d}" for i in range(n)]


def accounts_that_fit(
    bucket: str,
    *,
    prefixes: Iterable[str] = (),
    partition: str = "aws",
    policy: Mapping[str, Any] | None = None,
    limit: int = bp.BUCKET_POLICY_LIMIT,
    key: bool = False,
) -> int:
    """How many accounts the bucket policy (or, with `key`, the key policy) can let log delivery write
    for within `limit` bytes, beside `policy`'s other statements (0: not even one)."""
    base = {"Statement": [s for s in bp.statements(policy) if not is_org_statement(s)]} if policy else None
    folders = list(prefixes)

    def size(n: int) -> int:
        ids = _synthetic(n)
        merged = (
            key_merge(base, ids, partition=partition)
            if key
            else bucket_merge(base, bucket, ids, prefixes=folders, partition=partition)
        )
        return bp.policy_size(merged.policy)

    low, high = 0, 1
    while size(high) <= limit:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if size(mid) <= limit else (low, mid)
    return low


def check_org_size(
    merge: OrgMerge,
    *,
    what: str,
    bucket: str,
    prefixes: Iterable[str] = (),
    partition: str = "aws",
    base: Mapping[str, Any] | None = None,
    key: bool = False,
) -> None:
    """Refuse (OrgPolicyTooLarge) a merged policy over its limit, naming how many accounts fit."""
    limit = bp.KEY_POLICY_LIMIT if key else bp.BUCKET_POLICY_LIMIT
    size = bp.policy_size(merge.policy)
    if size <= limit:
        return
    fits = accounts_that_fit(
        bucket, prefixes=[*prefixes, *merge.prefixes], partition=partition, policy=base, limit=limit, key=key
    )
    raise OrgPolicyTooLarge(
        f"The {what} would be {size:,} bytes for {len(merge.accounts)} accounts; AWS allows {limit:,} bytes, "
        f"so at most {fits} accounts fit in it (with this bucket name, these log prefixes and its other "
        "statements). Nothing was changed.",
        accounts=len(merge.accounts),
        fits=fits,
        size=size,
        limit=limit,
        hint=f"Send the other accounts to a second bucket (plan them separately with --accounts and another "
        f"--bucket, at most {fits} per bucket), or use --strategy regional: each regional bucket lists only "
        "the accounts with resources in its region.",
    )
