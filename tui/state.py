"""What the wizard's steps hand to each other (kept on the app as `app.state`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws.coverage import ReadLocation, ReadSet
from aws.inventory import Inventory
from aws.org_scan import OrgInventory
from aws.plans.change import ApplyReport, Plan
from aws.plans.choices import LogChoices
from aws.s3.strategy import BucketChoice


@dataclass
class AppliedPlan:
    step: str  # the wizard step that applied it
    plan: Plan
    report: ApplyReport


@dataclass
class WizardState:
    inventory: Inventory | None = None  # set by discovery: the account the later steps set up
    # With --org / --accounts: every account's scan (discovery), and which of them `inventory` is (the
    # caller's own, when it was scanned); '' in a one-account run.
    org_inventory: OrgInventory | None = None
    target_account: str = ""
    bucket_choice: BucketChoice | None = None  # set by the bucket step
    buckets: dict[str, str] = field(default_factory=dict)  # source region -> bucket name
    log_choices: LogChoices = field(default_factory=LogChoices)  # set by the checklist
    read_set: ReadSet = field(default_factory=ReadSet)  # every location Kentik reads (set by the checklist)
    kms_keys: list[str] = field(default_factory=list)  # keys of the buckets in the read set
    kentik_role_arn: str = ""  # set by the IAM step
    spoke_role: str = ""  # Kentik's spoke role in each member, once the IAM step's nested mode read them
    nested_accounts: list[str] = field(default_factory=list)  # the members whose spoke policy it read
    external_id: str = ""
    deletion_granted: str = ""  # "", "s3:*" or "s3:DeleteObject"
    applied: list[AppliedPlan] = field(default_factory=list)  # every plan applied this run

    def record(self, step: str, plan: Plan, report: ApplyReport) -> None:
        self.applied.append(AppliedPlan(step=step, plan=plan, report=report))

    def read_locations(self) -> list[ReadLocation]:
        """What Kentik must read: the checklist's read set, else the bucket step's buckets."""
        if self.read_set.locations:
            return list(self.read_set.locations)
        return ReadSet.of_buckets(sorted(set(self.buckets.values()))).locations

    @property
    def existing_locations(self) -> list[ReadLocation]:
        """Existing log buckets (not Kentik's own) in the read set."""
        return self.read_set.existing
