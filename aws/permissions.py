"""The least-privilege IAM policies flowlogs itself needs, generated from one declaration per module.

Every module that calls AWS declares, at its top, the API operations its code calls:

    PERMISSIONS = declare(
        __name__,
        read=["ec2:DescribeFlowLogs"],          # boto3 service name : API operation, changes nothing
        apply=["ec2:CreateFlowLogs"],           # operations that change something
        implied={"logs:CreateLogDelivery": "why AWS checks it"},  # IAM actions no client call shows
    )

`implied` names IAM actions AWS checks on the caller's behalf while serving an apply call (log
delivery set-up); `implied_read` the same for read calls (S3 decrypting an SSE-KMS object with the
caller's kms:Decrypt). Operations become IAM actions by `iam_action` (`service:Operation`, except where
IAM names the action differently, e.g. S3 HeadBucket -> s3:ListBucket).

`policy_documents()` builds {"read_only": ..., "apply": ...}: read_only is every read action, apply is
read + apply + implied. Each has one Allow statement on Resource "*": scoping to the buckets, keys and
roles is left to the user. `permissions_text()` / `permissions_markdown()` are the same list for people
(the README section is generated: `python -m aws.permissions --write-readme`), and `uncovered_calls()`
is the check the test suite runs against every call it records.

Engine modules register when imported (`ENGINE_MODULES`). Only the engine calls AWS: no screen or
command declares permissions (tests/test_structure.py and test_permissions.py hold to that).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENGINE_MODULES = (
    "aws.session",
    "aws.discovery",
    "aws.org",
    "aws.kentik_roles",
    "aws.plans.targets",
    "aws.s3.kms",
    "aws.s3.state",
    "aws.s3.setup",
    "aws.s3.executors",
    "aws.s3.policy_executors",
    "aws.s3.org_setup",
    "aws.s3.org_policy_executors",
    "aws.coverage",
    "aws.logs.flowlog_executors",
    "aws.logs.firewall_executors",
    "aws.iam.documents",
    "aws.iam.accounts",
    "aws.iam.executors",
    "aws.iam.kentik_role",
    "aws.iam.role_executors",
    "aws.reader",
    "aws.logs.sources",
    "aws.logs.watch",
)

POLICY_VERSION = "2012-10-17"
README_HEADING = "## IAM permissions flowlogs itself needs"
REGENERATE = ".venv/bin/python -m aws.permissions --write-readme"

# boto3 service name -> IAM service prefix, where they differ.
SERVICE_PREFIX: dict[str, str] = {}
# (boto3 service, API operation) -> IAM action, where IAM does not name the action after the operation.
ACTION_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
}

_OPERATION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]*$")
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")

Level = Literal["read", "apply"]


@dataclass(frozen=True)
class Permissions:
    """What one module's code needs: the operations it calls and the actions AWS checks for it."""

    module: str
    read: tuple[str, ...] = ()  # "service:Operation", operations that change nothing
    apply: tuple[str, ...] = ()  # "service:Operation", operations that change something
    implied: tuple[tuple[str, str], ...] = ()  # (IAM action, why): checked by AWS during an apply call
    implied_read: tuple[tuple[str, str], ...] = ()  # (IAM action, why): checked during a read call
    notes: str = ""


_REGISTRY: dict[str, Permissions] = {}


def make_permissions(
    module: str,
    *,
    read: Sequence[str] = (),
    apply: Sequence[str] = (),
    implied: Mapping[str, str] | None = None,
    implied_read: Mapping[str, str] | None = None,
    notes: str = "",
) -> Permissions:
    """A declaration, checked for malformed names (ValueError), not registered."""
    for op in (*read, *apply):
        if not _OPERATION.match(op):
            raise ValueError(f"{module}: {op!r} is not 'service:Operation' (e.g. 'ec2:DescribeVpcs')")
    for action in (*(implied or {}), *(implied_read or {})):
        if not _ACTION.match(action):
            raise ValueError(f"{module}: {action!r} is not an IAM action (e.g. 'logs:CreateLogDelivery')")
    return Permissions(
        module=module,
        read=tuple(read),
        apply=tuple(apply),
        implied=tuple((implied or {}).items()),
        implied_read=tuple((implied_read or {}).items()),
        notes=notes,
    )


def declare(
    module: str,
    *,
    read: Sequence[str] = (),
    apply: Sequence[str] = (),
    implied: Mapping[str, str] | None = None,
    implied_read: Mapping[str, str] | None = None,
    notes: str = "",
) -> Permissions:
    """Declare what `module`'s code calls (see the module docstring); registers it for the documents."""
    perms = make_permissions(
        module, read=read, apply=apply, implied=implied, implied_read=implied_read, notes=notes
    )
    _REGISTRY[module] = perms
    return perms


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API operation is authorized by."""
    exception = ACTION_EXCEPTIONS.get((service, operation))
    if exception:
        return exception
    return f"{SERVICE_PREFIX.get(service, service)}:{operation}"


def split_operation(op: str) -> tuple[str, str]:
    service, _, operation = op.partition(":")
    return service, operation


# -- loading ----------------------------------------------------------------------------------------


def declarations() -> list[Permissions]:
    """Every engine module's declaration, by module name."""
    for module in ENGINE_MODULES:
        importlib.import_module(module)
    found = {m: p for m, p in _REGISTRY.items() if m in ENGINE_MODULES}
    missing = [m for m in ENGINE_MODULES if m not in found]
    if missing:
        raise RuntimeError(f"no permissions declaration found in: {', '.join(missing)}")
    return [found[m] for m in sorted(found)]


# -- grants -----------------------------------------------------------------------------------------


@dataclass
class Grant:
    """One IAM action, the level it is needed at, and where it comes from."""

    action: str
    level: Level
    operations: dict[str, set[str]] = field(default_factory=dict)  # API operation -> modules
    reasons: dict[str, set[str]] = field(default_factory=dict)  # why (implied) -> modules

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0]

    def why(self) -> str:
        parts = [f"{op} ({', '.join(sorted(mods))})" for op, mods in sorted(self.operations.items())]
        parts += [f"{why} ({', '.join(sorted(mods))})" for why, mods in sorted(self.reasons.items())]
        return "; ".join(parts)


def _operations(perms: Permissions) -> tuple[tuple[Level, tuple[str, ...]], ...]:
    return (("read", perms.read), ("apply", perms.apply))


def grants(decls: Iterable[Permissions] | None = None) -> list[Grant]:
    """Every IAM action of the declarations, sorted; read when any read call or read check needs it."""
    out: dict[str, Grant] = {}

    def add(action: str, level: Level, module: str, *, operation: str = "", why: str = "") -> None:
        grant = out.setdefault(action, Grant(action=action, level=level))
        if level == "read":
            grant.level = "read"
        if operation:
            grant.operations.setdefault(operation, set()).add(module)
        if why:
            grant.reasons.setdefault(why, set()).add(module)

    for perms in declarations() if decls is None else decls:
        for level, ops in _operations(perms):
            for op in ops:
                service, operation = split_operation(op)
                add(iam_action(service, operation), level, perms.module, operation=operation)
        implied: tuple[tuple[Level, tuple[tuple[str, str], ...]], ...] = (
            ("read", perms.implied_read),
            ("apply", perms.implied),
        )
        for level, pairs in implied:
            for action, why in pairs:
                add(action, level, perms.module, why=why)
    return [out[a] for a in sorted(out)]


def _document(sid: str, actions: Iterable[str]) -> dict[str, Any]:
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": "*"}],
    }


def policy_documents(decls: Iterable[Permissions] | None = None) -> dict[str, dict[str, Any]]:
    """{"read_only": policy document, "apply": policy document} (apply includes every read action)."""
    all_grants = grants(decls)
    return {
        "read_only": _document("FlowlogsReadOnly", (g.action for g in all_grants if g.level == "read")),
        "apply": _document("FlowlogsApply", (g.action for g in all_grants)),
    }


def document_actions(document: Mapping[str, Any]) -> set[str]:
    return {a for st in document.get("Statement", []) for a in st.get("Action", [])}


# -- checks -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uncovered:
    service: str
    operation: str
    action: str
    document: str  # "read_only" or "apply": the document that lacks the action

    def describe(self) -> str:
        return f"{self.service}:{self.operation} -> {self.action} (missing from {self.document})"


def uncovered_calls(
    calls: Iterable[tuple[str, str]], decls: Iterable[Permissions] | None = None
) -> list[Uncovered]:
    """The calls (boto3 service, operation) whose IAM action the documents lack. A read call must be
    allowed by read_only (read-only mode makes it too), any other call by apply."""
    from aws.session import is_mutating

    docs = policy_documents(decls)
    read_only, apply = document_actions(docs["read_only"]), document_actions(docs["apply"])
    out = []
    for service, operation in sorted(set(calls)):
        action = iam_action(service, operation)
        name, allowed = ("apply", apply) if is_mutating(operation) else ("read_only", read_only)
        if action not in allowed:
            out.append(Uncovered(service, operation, action, name))
    return out


def declaration_problems(decls: Iterable[Permissions] | None = None) -> list[str]:
    """Operations declared at the wrong level or unknown to botocore's service models."""
    import botocore.session

    from aws.session import is_mutating

    models: dict[str, frozenset[str]] = {}
    boto = botocore.session.get_session()
    problems = []
    for perms in declarations() if decls is None else decls:
        for level, ops in _operations(perms):
            for op in ops:
                service, operation = split_operation(op)
                if service not in models:
                    try:
                        models[service] = frozenset(boto.get_service_model(service).operation_names)
                    except Exception:
                        models[service] = frozenset()
                if operation not in models[service]:
                    problems.append(f"{perms.module}: {op} is not an operation of botocore's {service!r}")
                if is_mutating(operation) != (level == "apply"):
                    problems.append(
                        f"{perms.module}: {op} is declared as {level} but is_mutating says otherwise"
                    )
    return problems


# -- for people ---------------------------------------------------------------------------------------

_SCOPE_NOTE = (
    'Both documents use Resource "*": scoping them to your log buckets, KMS keys, the Kentik role and '
    "the member-account roles is left to you."
)


def _by_service(items: Iterable[Grant]) -> dict[str, list[Grant]]:
    out: dict[str, list[Grant]] = {}
    for g in items:
        out.setdefault(g.service, []).append(g)
    return out


def _notes(decls: Iterable[Permissions]) -> list[str]:
    return [f"{p.module}: {p.notes}" for p in decls if p.notes]


def permissions_text(decls: Iterable[Permissions] | None = None) -> str:
    """Readable: the actions by level and service, each with the calls (and modules) needing it."""
    decls = list(declarations() if decls is None else decls)
    all_grants = grants(decls)
    lines = ["IAM permissions flowlogs itself needs.", _SCOPE_NOTE, "As policy documents: --json.", ""]
    for level, title in (
        ("read", "Read-only use (scan, verify, plan, --read-only):"),
        ("apply", "Apply, in addition:"),
    ):
        lines.append(title)
        for service, items in _by_service(g for g in all_grants if g.level == level).items():
            lines.append(f"  {service}")
            width = max(len(g.action) for g in items)
            lines += [f"    {g.action:<{width}}  {g.why()}" for g in items]
        lines.append("")
    notes = _notes(decls)
    if notes:
        lines.append("Notes:")
        lines += [f"  {n}" for n in notes]
    return "\n".join(lines).rstrip() + "\n"


def permissions_markdown(decls: Iterable[Permissions] | None = None) -> str:
    """The README section (heading included), generated from the declarations."""
    decls = list(declarations() if decls is None else decls)
    all_grants = grants(decls)
    lines = [
        README_HEADING,
        "",
        "Generated from the declarations next to the code that makes each call (`aws/permissions.py`); "
        "`flowlogs permissions --json` prints both as IAM policy documents, `flowlogs permissions` "
        "says why each action is needed. " + _SCOPE_NOTE,
        "",
    ]
    for level, title in (
        ("read", "Read-only use (`scan`, `verify`, `plan`, `--read-only`):"),
        ("apply", "Apply, in addition:"),
    ):
        lines += [title, ""]
        for service, items in _by_service(g for g in all_grants if g.level == level).items():
            lines.append(f"- {service}: " + ", ".join(f"`{g.action}`" for g in items))
        lines.append("")
    implied = [g for g in all_grants if g.reasons]
    if implied:
        lines += ["Checked by AWS on flowlogs' behalf (no API call of flowlogs shows them):", ""]
        for g in implied:
            lines.append(f"- `{g.action}`: " + "; ".join(sorted(g.reasons)))
        lines.append("")
    notes = [p.notes for p in decls if p.notes]
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(_wrap(line) for line in lines) + "\n"


def _wrap(line: str, width: int = 110) -> str:
    indent = "  " if line.startswith("- ") else ""
    return (
        textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
        if line
        else line
    )


def readme_section(readme: str) -> str:
    """The README's IAM section: from its heading to the next `## ` heading (or the end)."""
    start = readme.find(README_HEADING + "\n")
    if start < 0:
        return ""
    end = readme.find("\n## ", start + len(README_HEADING))
    return readme[start : end + 1] if end >= 0 else readme[start:]


def replace_readme_section(readme: str, section: str) -> str:
    current = readme_section(readme)
    if not current:
        raise ValueError(f"the README has no {README_HEADING!r} section")
    return readme.replace(current, section if section.endswith("\n") else section + "\n", 1)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aws.permissions [--write-readme [PATH]]`: print the documents, or regenerate the
    README section in place."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--write-readme":
        path = Path(args[1] if len(args) > 1 else "README.md")
        text = path.read_text(encoding="utf-8")
        path.write_text(replace_readme_section(text, permissions_markdown()), encoding="utf-8")
        print(f"updated {path}")
        return 0
    print(json.dumps(policy_documents(), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    # Run as `python -m`, this file is `__main__`; the modules register with `aws.permissions`.
    raise SystemExit(importlib.import_module("aws.permissions").main())
