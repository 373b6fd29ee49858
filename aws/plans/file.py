"""Reading a plan file: a file is hostile until it has been validated whole.

`read_plan(text)` answers a file that is not a plan (empty, cut off, `{}`, the output of `flowlogs scan`
or an apply report) with a plain sentence, reads formats 1 and 2 (made by earlier versions) by upgrading
them to format 3, checks the schema and then every rule of `aws.plans.change.validate_plan`. Nothing here
calls AWS.

Format 3 writes an include list of the log choices (`settings.logs.include`, `firewall_include`) as None
for "all" and [] for "none"; formats 1 and 2 wrote [] for "all", so their [] becomes None.

Format 2 adds to each change the account it runs in, its provider (AWS now; Kentik's API later) and the
`basis` its document is derived from. Format 1 changes get the plan's account; their basis is read back
from the document where the engine can (bucket policies, lifecycle rules). An IAM policy change of
format 1 cannot be checked against the engine (its requirements are not in the file) and is refused:
such a plan has to be made again.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from aws.errors import ValidationFailed
from aws.plans.change import (
    PLAN_FORMAT,
    READABLE_FORMATS,
    Plan,
    PlanRejected,
    executor_class,
    validate_plan,
)
from aws.plans.problems import plain_error

NOTHING_SENT = "Nothing was sent to AWS."
MAKE_ONE = "Make a plan with `flowlogs plan -o FILE` (or save it from the app)."

# Format 1 marked some kinds destructive per change; format 2 has one kind per meaning.
V1_DESTRUCTIVE_KINDS = {
    "s3.put-encryption": "s3.replace-encryption",
    "s3.put-public-access-block": "s3.replace-public-access-block",
    "s3.put-lifecycle": "s3.replace-lifecycle",
    "network-firewall.s3-log-destination": "network-firewall.repoint-log-destination",
}


def read_plan(text: str) -> Plan:
    """The validated plan in `text`, or ValidationFailed (PlanRejected) saying what is wrong."""
    if not text.strip():
        raise ValidationFailed(f"The plan file is empty. {MAKE_ONE} {NOTHING_SENT}")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except DuplicateKey as err:
        raise ValidationFailed(
            f"The plan file names the key {err.key!r} twice in one object, so it means two things. {NOTHING_SENT}",
            hint=MAKE_ONE,
        ) from None
    except json.JSONDecodeError as err:
        raise ValidationFailed(
            f"The plan file is not complete JSON ({err.msg} at line {err.lineno}, column {err.colno}); it may "
            f"have been cut off while it was written or copied. {NOTHING_SENT}",
            hint=MAKE_ONE,
        ) from None
    if not isinstance(data, dict) or "changes" not in data or "format" not in data:
        raise ValidationFailed(
            f"Not a flowlogs plan file: it holds {_what_it_is(data)}. {NOTHING_SENT}", hint=MAKE_ONE
        )
    fmt = data.get("format")
    if type(fmt) is not int or fmt not in READABLE_FORMATS:
        raise ValidationFailed(
            f"Plan format {fmt!r} is not supported: this flowlogs reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}. {NOTHING_SENT}",
            hint="A newer flowlogs made it: upgrade flowlogs, or make the plan again with this one.",
        )
    if not isinstance(data["changes"], list) or not all(isinstance(c, dict) for c in data["changes"]):
        raise ValidationFailed(
            f"Not a flowlogs plan file: 'changes' is not a list of changes. {NOTHING_SENT}"
        )
    if fmt == 1:
        data = upgrade_v1(data)
    if fmt < 3:
        data = upgrade_include_lists(data)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as err:
        raise PlanRejected([_located(data, e) for e in err.errors()]) from None
    validate_plan(plan)
    return plan


def upgrade_include_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Formats 1 and 2 wrote an empty include list for "all"; from format 3 that is None ([] is none)."""
    settings = data.get("settings")
    if not isinstance(settings, dict) or not isinstance(settings.get("logs"), dict):
        return {**data, "format": PLAN_FORMAT}
    logs = settings["logs"]
    logs = {**logs, **{k: None for k in ("include", "firewall_include") if logs.get(k) == []}}
    return {**data, "format": PLAN_FORMAT, "settings": {**settings, "logs": logs}}


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def _what_it_is(data: Any) -> str:
    if isinstance(data, dict):
        if not data:
            return "an empty JSON object"
        if "identity" in data and "regions" in data:
            return "the output of `flowlogs scan` (an inventory), not a plan"
        if "results" in data and "started" in data:
            return "an apply report, not a plan"
        keys = ", ".join(sorted(map(str, data))[:5])
        return f"a JSON object without 'format' and 'changes' (its keys: {keys})"
    names = {
        list: "a JSON list",
        str: "a JSON string",
        int: "a number",
        float: "a number",
        bool: "true/false",
    }
    return names.get(type(data), "JSON null") if data is not None else "JSON null"


def _located(data: dict[str, Any], error: Any) -> str:
    """A pydantic error, with 'changes[3]' said as 'change 4 (its id)'."""
    loc = list(error.get("loc", ()))
    where = "the plan"
    if len(loc) >= 2 and loc[0] == "changes" and isinstance(loc[1], int):
        index = loc[1]
        change = data["changes"][index] if index < len(data["changes"]) else {}
        where = f"change {index + 1} ({change.get('id', '?')})"
        loc = loc[2:]
    message = str(error.get("msg", ""))
    if message.startswith("Value error, "):  # our own validators' sentences
        return message.removeprefix("Value error, ")
    phrase = plain_error({**error, "loc": tuple(loc)})
    return f"{where}: {phrase.lstrip('.')}" if loc else f"{where}{phrase}"


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A format 1 plan as format 2: each change gets the plan's account, the kind its `destructive` flag
    meant, and the basis its executor reads back from the document. Problems are collected and raised
    together (PlanRejected)."""
    account = data.get("account", "")
    problems: list[str] = []
    changes: list[Any] = []
    for n, raw in enumerate(data["changes"], 1):
        change = dict(raw)
        kind = str(change.get("kind", ""))
        if change.get("destructive") and kind in V1_DESTRUCTIVE_KINDS:
            change["kind"] = kind = V1_DESTRUCTIVE_KINDS[kind]
        change.setdefault("account", account)
        cls = executor_class(kind)
        params = change.get("params") or {}
        if cls is not None and "basis" not in change and isinstance(params, dict):
            try:
                change["basis"] = cls.basis_from_v1(params)
            except ValidationFailed as err:
                problems.append(f"change {n} ({change.get('id', '?')}): {err.message}")
            except Exception as err:
                problems.append(f"change {n} ({change.get('id', '?')}): its document cannot be read ({err})")
        changes.append(change)
    if problems:
        raise PlanRejected(problems, what="The plan file (format 1, made by an earlier flowlogs)")
    return {**data, "format": PLAN_FORMAT, "changes": changes}
