"""The tags flowlogs puts on what it creates, so people and audits can tell its resources apart.

Every flow log a plan creates (CreateFlowLogs' `TagSpecifications`, tagged on create) and every bucket a
plan creates (an `s3.tag-bucket` change, PutBucketTagging, after its CreateBucket) carry

    managed-by    = flowlogs-tui
    flowlogs-plan = the plan's id (`Plan.id`)

The plan's id is the first 16 hex digits of the SHA-256 of the plan's account, partition and changes,
with these tags left out (`plan_id`): the same plan made twice gets the same id, any other plan another
one. `tag_plan` sets it and adds the tags once the plan is whole (aws.plans.build); a plan built without
it (or a format-3 file made before tagging) has no id and tags nothing, or (buckets) only `managed-by`.

Whether AWS already is as a change wants it ("satisfied") never depends on the plan id: a flow log is
compliant whoever made it (tags are not part of `FlowLogConfig.matches`), and a bucket counts as tagged
once it has every planned tag key, whatever the value (a key the bucket already has keeps its owner's
value: `merge_tags` never overwrites). So a rerun, or another plan, converges instead of flapping.

AWS's tag rules (S3 and EC2): at most 50 tags per resource, keys 1-128 and values 0-256 characters,
keys unique, no key starting `aws:` (reserved). `tag_problems` checks a tag set against them.
No AWS call here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws.plans.change import Change, Plan

MANAGED_BY, MANAGED_BY_VALUE = "managed-by", "flowlogs-tui"
PLAN_TAG = "flowlogs-plan"
FLOW_LOG_RESOURCE = "vpc-flow-log"  # CreateFlowLogs' TagSpecifications ResourceType
CREATE_FLOW_LOGS, TAG_BUCKET = "ec2.create-flow-logs", "s3.tag-bucket"

MAX_TAGS, MAX_KEY, MAX_VALUE = 50, 128, 256
RESERVED_PREFIX = "aws:"
PLAN_ID = re.compile(r"^[0-9a-f]{16}$")

Tag = dict[str, str]


def our_tags(plan_id: str = "") -> list[Tag]:
    """The tags flowlogs puts on what a plan creates: `managed-by`, and the plan's id when it has one."""
    tags = [{"Key": MANAGED_BY, "Value": MANAGED_BY_VALUE}]
    return [*tags, {"Key": PLAN_TAG, "Value": plan_id}] if plan_id else tags


def flow_log_tag_specifications(plan_id: str) -> list[dict[str, Any]]:
    return [{"ResourceType": FLOW_LOG_RESOURCE, "Tags": our_tags(plan_id)}]


def tag_problems(tags: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why AWS would refuse `tags` as a resource's tag set (plain phrases; [] when it is fine)."""
    problems = (
        [f"{len(tags)} tags: AWS allows at most {MAX_TAGS} per resource"] if len(tags) > MAX_TAGS else []
    )
    keys = [str(t.get("Key", "")) for t in tags]
    problems += [f"the tag key {k!r} is used twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    for tag in tags:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        if not 1 <= len(key) <= MAX_KEY:
            problems.append(f"the tag key {key[:40]!r} is not 1-{MAX_KEY} characters long")
        if key.lower().startswith(RESERVED_PREFIX):
            problems.append(f"the tag key {key!r} starts with {RESERVED_PREFIX!r}, which AWS reserves")
        if len(value) > MAX_VALUE:
            problems.append(f"the value of the tag {key!r} is over {MAX_VALUE} characters long")
    return problems


def merge_tags(current: Sequence[Mapping[str, str]], wanted: Sequence[Mapping[str, str]]) -> list[Tag]:
    """The tag set to send with PutBucketTagging (which replaces the whole set): every current tag as it
    is, then each wanted tag whose key the resource does not have yet. A key it has keeps its value."""
    merged = [{"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in current]
    have = {t["Key"] for t in merged}
    return merged + [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in wanted if t["Key"] not in have]


def has_tag_keys(current: Sequence[Mapping[str, str]], wanted: Sequence[Mapping[str, str]]) -> bool:
    """Whether the resource has every wanted tag key (whatever its value): nothing left to add."""
    return {str(t["Key"]) for t in wanted} <= {str(t["Key"]) for t in current}


def _untagged(change: Change) -> dict[str, Any]:
    params = dict(change.params)
    if change.kind == CREATE_FLOW_LOGS:
        params.pop("TagSpecifications", None)
    elif change.kind == TAG_BUCKET:
        tag_set = (params.get("Tagging") or {}).get("TagSet") or []
        params["Tagging"] = {"TagSet": [t for t in tag_set if t.get("Key") != PLAN_TAG]}
    return params


def plan_id(plan: Plan) -> str:
    """The plan's id: 16 hex digits of the SHA-256 of its account, partition and changes (tags left out)."""
    changes = [{**c.model_dump(mode="json"), "params": _untagged(c)} for c in plan.changes]
    text = json.dumps(
        {"account": plan.account, "partition": plan.partition, "changes": changes},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tag_plan(plan: Plan) -> Plan:
    """Give the whole plan its id and tag what it creates: the plan's flow logs get TagSpecifications, its
    bucket tagging changes the plan tag. Idempotent (the id leaves the tags out). Returns the plan."""
    plan.id = plan_id(plan)
    for change in plan.changes:
        if change.kind == CREATE_FLOW_LOGS:
            change.params["TagSpecifications"] = flow_log_tag_specifications(plan.id)
        elif change.kind == TAG_BUCKET:
            change.params["Tagging"] = {"TagSet": our_tags(plan.id)}
    return plan


def planned_tag_problems(tags: Sequence[Mapping[str, Any]], plan: Plan) -> list[str]:
    """A plan's tags must be exactly ours for its id (`managed-by`, then `flowlogs-plan` = the plan's id
    when it has one); an id must be 16 hex digits."""
    if plan.id and not PLAN_ID.match(plan.id):
        return [f"the plan's id {plan.id!r} is not 16 hexadecimal digits"]
    if [dict(t) for t in tags] != our_tags(plan.id):
        shown = ", ".join(f"{t['Key']}={t['Value']}" for t in our_tags(plan.id))
        return [f"its tags are not the ones flowlogs puts on what this plan creates ({shown})"]
    return []
