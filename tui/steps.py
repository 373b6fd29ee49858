"""The wizard's steps, in order. Each step is a Textual mode whose base screen lives in `screens/`.

A step is listed only once its screen exists: the step bar never shows a step that can't be opened."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    key: str  # mode name
    title: str  # shown in the step bar
    screen: str  # "module:Class" under screens/


ALL_STEPS: tuple[Step, ...] = (
    Step("discovery", "Discovery", "screens.discovery:DiscoveryScreen"),
    Step("buckets", "Bucket", "screens.bucket_strategy:BucketStrategyScreen"),
    Step("checklist", "Checklist", "screens.checklist:ChecklistScreen"),
    Step("policy", "IAM policy", "screens.policy_diff:PolicyDiffScreen"),
    Step("verify", "Verify", "screens.verify:VerifyScreen"),
)


def available_steps() -> list[Step]:
    """Steps whose screen module is present."""
    import importlib.util

    return [s for s in ALL_STEPS if importlib.util.find_spec(s.screen.split(":")[0]) is not None]
