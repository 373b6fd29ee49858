"""IAM-style evaluation of identity policies, small enough to read in one sitting.

What it answers: "does this policy grant ACTION on RESOURCE, and does anything explicitly deny it?",
where ACTION and RESOURCE may themselves be wildcard patterns (the question "is `s3:Get*` on
`arn:aws:s3:::bucket/*` granted?" means: is *every* action matching `s3:Get*` granted on *every* object
of the bucket). That is language inclusion between glob patterns, which this module decides exactly:
the patterns only use `*` (any run of characters, including none) and `?` (one character), so a
subset construction over the literal characters that occur plus one "any other" character finds a
counter-example string whenever one exists.

Rules followed (IAM policy evaluation logic for a single identity policy):
* `Effect` is `Allow` or `Deny`; an explicit Deny wins over any Allow.
* `Action`/`NotAction` and `Resource`/`NotResource`: string or list; `Not*` matches everything the
  listed patterns do not. Actions match case-insensitively, resources case-sensitively.
* `Condition` is reported, never evaluated: an Allow with a condition does not count as a grant and a
  Deny with a condition is reported as one that *may* apply.
* `Statement` may be one object or a list; `Version` 2012-10-17 or 2008-10-17 (absent = 2008-10-17).
* Policy variables (`${aws:username}`) are compared as literal text (never treated as a grant).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from aws.errors import ValidationFailed

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_SID = re.compile(r"^[A-Za-z0-9]*$")


class PolicyError(ValidationFailed):
    """The document is not valid JSON or not an IAM identity policy."""


# -- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    index: int  # position in the Statement list (0 for a single statement object)
    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict[str, Any] | None
    raw: dict[str, Any]

    @property
    def label(self) -> str:
        return f"statement {self.index + 1}" + (f" (Sid {self.sid})" if self.sid else "")

    @property
    def conditional(self) -> bool:
        return bool(self.condition)


@dataclass(frozen=True)
class Policy:
    version: str | None  # as written; None when absent (AWS then applies 2008-10-17)
    statements: tuple[Statement, ...]
    statement_is_list: bool
    raw: dict[str, Any]


def load_policy_text(text: str, *, source: str = "the policy") -> dict[str, Any]:
    """Parse JSON text into a policy document (validated); `PolicyError` with a clear message if not."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise PolicyError(
            f"{source} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}."
        ) from None
    parse_policy(doc, source=source)
    assert isinstance(doc, dict)
    return doc


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{where}: {key} must be a non-empty string or a list of non-empty strings.")
    return tuple(items)


def parse_policy(doc: Any, *, source: str = "the policy") -> Policy:
    """Validate an identity policy document and return its parsed form."""
    if not isinstance(doc, dict):
        raise PolicyError(f"{source} is not an IAM policy: expected a JSON object with a Statement.")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"{source} is not an IAM policy: unknown top-level element(s) {sorted(unknown)}.")
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError(f"{source}: Version must be one of {', '.join(VERSIONS)}, not {version!r}.")
    if "Statement" not in doc:
        raise PolicyError(f"{source} is not an IAM policy: it has no Statement.")
    body = doc["Statement"]
    is_list = isinstance(body, list)
    items = body if is_list else [body]
    if is_list and not items:
        raise PolicyError(f"{source}: the Statement list is empty.")
    statements = []
    for index, raw in enumerate(items):
        where = f"{source}, statement {index + 1}"
        if not isinstance(raw, dict):
            raise PolicyError(f"{where}: a statement must be a JSON object.")
        if "Principal" in raw or "NotPrincipal" in raw:
            raise PolicyError(
                f"{where}: has a Principal, so this is a resource policy (bucket/key/trust policy), "
                "not an identity policy."
            )
        unknown = set(raw) - _STATEMENT_KEYS
        if unknown:
            raise PolicyError(f"{where}: unknown element(s) {sorted(unknown)}.")
        sid = raw.get("Sid")
        if sid is not None and not (isinstance(sid, str) and _SID.match(sid)):
            raise PolicyError(f"{where}: Sid must contain only letters and digits, not {sid!r}.")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f'{where}: Effect must be "Allow" or "Deny", not {effect!r}.')
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyError(f"{where}: needs exactly one of Action or NotAction.")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise PolicyError(f"{where}: needs exactly one of Resource or NotResource.")
        not_action = "NotAction" in raw
        actions = _strings(raw["NotAction" if not_action else "Action"], "Action", where)
        for action in actions:
            if action != "*" and ":" not in action:
                raise PolicyError(f"{where}: {action!r} is not an action (expected service:Action or *).")
        not_resource = "NotResource" in raw
        resources = _strings(raw["NotResource" if not_resource else "Resource"], "Resource", where)
        condition = raw.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise PolicyError(f"{where}: Condition must be a JSON object.")
        statements.append(
            Statement(
                index=index,
                sid=sid,
                effect=effect,
                actions=actions,
                not_action=not_action,
                resources=resources,
                not_resource=not_resource,
                condition=condition or None,
                raw=raw,
            )
        )
    return Policy(version=version, statements=tuple(statements), statement_is_list=is_list, raw=doc)


def duplicate_sids(policy: Policy) -> list[str]:
    seen: dict[str, int] = {}
    for st in policy.statements:
        if st.sid:
            seen[st.sid] = seen.get(st.sid, 0) + 1
    return [sid for sid, n in seen.items() if n > 1]


# -- glob patterns ---------------------------------------------------------------------------------

_ANY = "\x00"  # stands for every character that occurs in none of the patterns


@lru_cache(maxsize=4096)
def _regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def glob_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """Does `value` (a concrete name) match the IAM wildcard `pattern`?"""
    return _regex(pattern, case_sensitive).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    return glob_match(pattern, action, case_sensitive=False)


def resource_matches(pattern: str, resource: str) -> bool:
    return glob_match(pattern, resource, case_sensitive=True)


def _closure(pattern: str, states: Iterable[int]) -> frozenset[int]:
    out: set[int] = set()
    for s in states:
        while True:
            out.add(s)
            if s < len(pattern) and pattern[s] == "*":
                s += 1
            else:
                break
    return frozenset(out)


def _step(pattern: str, states: frozenset[int], char: str) -> frozenset[int]:
    nxt: list[int] = []
    for s in states:
        if s >= len(pattern):
            continue
        p = pattern[s]
        if p == "*":
            nxt.append(s)
        elif p == "?" or p == char:
            nxt.append(s + 1)
    return _closure(pattern, nxt)


@dataclass(frozen=True)
class PatternSet:
    """A set of names: the union of `patterns`, or everything else when `negated` (Not* elements)."""

    patterns: tuple[str, ...]
    negated: bool = False


# A product state: the target's NFA states, then for each set, the NFA states of each of its patterns.
_State = tuple[frozenset[int], tuple[tuple[frozenset[int], ...], ...]]


def _search(target: str, sets: Sequence[PatternSet], goal: Any, case_sensitive: bool) -> bool:
    """Is there a string matching `target` for which `goal(member_flags)` holds? Exact (see module doc)."""
    norm = (lambda s: s) if case_sensitive else str.lower
    target = norm(target)
    groups = [tuple(norm(p) for p in ps.patterns) for ps in sets]
    alphabet = {c for c in target if c not in "*?"}
    for group in groups:
        for p in group:
            alphabet.update(c for c in p if c not in "*?")
    alphabet.add(_ANY)

    def members(state: _State) -> list[bool]:
        flags = []
        for ps, group, gstates in zip(sets, groups, state[1], strict=True):
            hit = any(len(p) in st for p, st in zip(group, gstates, strict=True))
            flags.append(hit != ps.negated)
        return flags

    start: _State = (
        _closure(target, [0]),
        tuple(tuple(_closure(p, [0]) for p in group) for group in groups),
    )
    seen = {start}
    todo = [start]
    while todo:
        state = todo.pop()
        if len(target) in state[0] and goal(members(state)):
            return True
        for char in alphabet:
            t = _step(target, state[0], char)
            if not t:
                continue
            nxt: _State = (
                t,
                tuple(
                    tuple(_step(p, st, char) for p, st in zip(group, gstates, strict=True))
                    for group, gstates in zip(groups, state[1], strict=True)
                ),
            )
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def covers(sets: Sequence[PatternSet], target: str, *, case_sensitive: bool) -> bool:
    """Is every name matching `target` in at least one of `sets`?"""
    return _covers(tuple(sets), target, case_sensitive)


def intersects(pset: PatternSet, target: str, *, case_sensitive: bool) -> bool:
    """Does some name matching `target` belong to `pset`?"""
    return _intersects(pset, target, case_sensitive)


def _prefix(pattern: str) -> str:
    """The literal text every match starts with."""
    cut = [i for i in (pattern.find("*"), pattern.find("?")) if i >= 0]
    return pattern[: min(cut)] if cut else pattern


def _relevant(pset: PatternSet, target: str, case_sensitive: bool) -> PatternSet:
    """`pset` without patterns that share no string with `target` (their literal prefixes disagree).
    A cheap pre-filter before the exact search; it never changes an answer."""
    norm = (lambda x: x) if case_sensitive else str.lower
    head = norm(_prefix(target))
    keep = tuple(
        p for p in pset.patterns if (lambda h: h.startswith(head) or head.startswith(h))(norm(_prefix(p)))
    )
    return PatternSet(keep, pset.negated)


@lru_cache(maxsize=8192)
def _covers(sets: tuple[PatternSet, ...], target: str, case_sensitive: bool) -> bool:
    pruned = [_relevant(ps, target, case_sensitive) for ps in sets]
    useful = [ps for ps in pruned if ps.patterns or ps.negated]
    if not useful:
        return False
    return not _search(target, useful, lambda flags: not any(flags), case_sensitive)


@lru_cache(maxsize=8192)
def _intersects(pset: PatternSet, target: str, case_sensitive: bool) -> bool:
    pruned = _relevant(pset, target, case_sensitive)
    if not pruned.patterns:
        return pruned.negated  # nothing excluded: the complement is everything
    return _search(target, [pruned], lambda flags: flags[0], case_sensitive)


def pattern_covers(patterns: Sequence[str], target: str, *, case_sensitive: bool) -> bool:
    return covers([PatternSet(tuple(patterns))], target, case_sensitive=case_sensitive)


# -- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """An action and a resource, either of which may be a wildcard pattern (meaning: all of them)."""

    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


@dataclass
class Decision:
    access: Access
    allowed_by: list[Statement] = field(default_factory=list)  # unconditional Allows that cover it
    denied_by: list[Statement] = field(default_factory=list)  # unconditional Denies that touch it
    conditional_allows: list[Statement] = field(default_factory=list)
    conditional_denies: list[Statement] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """Granted without conditions and not explicitly denied (conditional Denies are reported only)."""
        return bool(self.allowed_by) and not self.denied_by

    @property
    def denied(self) -> bool:
        return bool(self.denied_by)


def _actions(st: Statement) -> PatternSet:
    return PatternSet(st.actions, st.not_action)


def _resources(st: Statement) -> PatternSet:
    return PatternSet(st.resources, st.not_resource)


def _touches(st: Statement, access: Access) -> bool:
    return intersects(_actions(st), access.action, case_sensitive=False) and intersects(
        _resources(st), access.resource, case_sensitive=True
    )


def _allows(statements: Sequence[Statement], access: Access) -> list[Statement]:
    """Allow statements that together cover the access: those covering the whole resource pattern,
    if the union of their actions covers the action pattern (a sound, slightly conservative test for
    grants split over several statements)."""
    full = [st for st in statements if covers([_resources(st)], access.resource, case_sensitive=True)]
    useful = [st for st in full if intersects(_actions(st), access.action, case_sensitive=False)]
    if useful and covers([_actions(st) for st in useful], access.action, case_sensitive=False):
        return useful
    return []


def evaluate(policy: Policy | dict[str, Any], access: Access, *, skip_sids: Iterable[str] = ()) -> Decision:
    """Evaluate one access against a policy. Statements whose Sid is in `skip_sids` are ignored."""
    parsed = policy if isinstance(policy, Policy) else parse_policy(policy)
    skip = set(skip_sids)
    statements = [st for st in parsed.statements if not (st.sid and st.sid in skip)]
    decision = Decision(access)
    for st in statements:
        if st.effect == "Deny" and _touches(st, access):
            (decision.conditional_denies if st.conditional else decision.denied_by).append(st)
    allows = [st for st in statements if st.effect == "Allow"]
    decision.allowed_by = _allows([st for st in allows if not st.conditional], access)
    if not decision.allowed_by:
        decision.conditional_allows = [
            st for st in allows if st.conditional and _touches(st, access) and _allows([st], access)
        ]
    return decision


def evaluate_all(
    policy: Policy | dict[str, Any], accesses: Iterable[Access], *, skip_sids: Iterable[str] = ()
) -> list[Decision]:
    parsed = policy if isinstance(policy, Policy) else parse_policy(policy)
    skip = tuple(skip_sids)
    return [evaluate(parsed, a, skip_sids=skip) for a in accesses]


def grants(policy: Policy | dict[str, Any], accesses: Iterable[Access]) -> bool:
    """True when every access is allowed without conditions and none is explicitly denied."""
    return all(d.allowed for d in evaluate_all(policy, accesses))


def action_granted(policy: Policy | dict[str, Any], action_pattern: str) -> bool:
    """Does any unconditional Allow statement touch actions matching `action_pattern` (on any resource)?"""
    parsed = policy if isinstance(policy, Policy) else parse_policy(policy)
    return any(
        st.effect == "Allow" and intersects(_actions(st), action_pattern, case_sensitive=False)
        for st in parsed.statements
    )
