"""Rich text describing an IAM policy proposal, as the IAM step shows it above the diff.

Each `append_*` adds its lines to a `Text` the caller builds (so the caller interleaves its own lines):
the policy (`append_target`), what changes and the size (`append_changes`), the deletion option
(`append_deletion`), notes and problems (`append_findings`). `nested_line()` is one member account's
line in the nested configuration's list. Formatting only: no AWS calls, no state.
"""

from __future__ import annotations

from rich.text import Text

from aws.iam.accounts import NestedProposal
from aws.iam.documents import PolicyTarget
from aws.iam.merge import MergeResult
from aws.iam.proposal import PolicyProposal
from aws.iam.requirements import DELETE_RISK, KMS_NOTE, MAX_POLICY_VERSIONS

CHANGE_MARKS = {"add": ("+", "green"), "change": ("~", "yellow"), "remove": ("-", "red")}


def append_target(text: Text, target: PolicyTarget, *, wide: bool) -> None:
    """`Policy: NAME (managed, default version vN, k of 5 versions)`, or the inline policy and its role."""
    text.append("Policy: ", style="bold")
    if target.kind == "managed":
        text.append(target.policy_arn if wide and target.policy_arn else target.policy_name)
        text.append(
            f" (managed, default version {target.version_id}, {len(target.versions)} of "
            f"{MAX_POLICY_VERSIONS} versions)",
            style="dim",
        )
    else:
        text.append(f"inline policy {target.policy_name} of role {target.role_name}")


def append_changes(text: Text, proposal: PolicyProposal) -> None:
    """The summary and size, one line per statement change, and the version rotation, if any."""
    merge = proposal.merge
    text.append("\n")
    text.append(merge.summary(), style="bold green" if merge.noop else "bold")
    size_style = "green" if merge.size.ok else "bold red"
    text.append("  ·  Size: ", style="bold")
    text.append(merge.size.describe(), style=size_style)
    for change in merge.changes:
        mark, style = CHANGE_MARKS[change.action]
        text.append(f"\n{mark} ", style=f"bold {style}")
        text.append(f"{change.sid}: ", style="bold")
        text.append(change.explanation)
    rotation = proposal.rotation
    if rotation is not None:
        text.append(
            f"\n! The policy has {MAX_POLICY_VERSIONS} versions: applying first deletes version "
            f"{rotation.params['VersionId']} (the oldest non-default one); you are asked separately.",
            style="bold yellow",
        )


def append_deletion(text: Text, deletion: str) -> None:
    """The deletion option chosen ("", "s3:DeleteObject" or "s3:*"), with the risk of s3:*."""
    text.append("\nDeletion (d): ", style="bold")
    if deletion == "s3:*":
        text.append("s3:* requested. ", style="bold red")
        text.append(f"Risk: {DELETE_RISK} Least-privilege alternative: s3:DeleteObject.", style="red")
    elif deletion == "s3:DeleteObject":
        text.append("s3:DeleteObject on the buckets' objects only (least privilege).")
    else:
        text.append("none (Kentik only reads); d offers s3:DeleteObject or the riskier s3:*", style="dim")


def append_findings(text: Text, merge: MergeResult) -> None:
    """The merge's notes (except the KMS and s3:* ones, shown on their own lines) and its problems."""
    skip = {KMS_NOTE, f"Deletion with s3:* was requested. {DELETE_RISK}"}
    for note in merge.notes:
        if note not in skip:
            text.append(f"\nNote: {note}", style="dim")
    for problem in merge.problems:
        label = "BLOCKING" if problem.blocking else "Warning"
        text.append(f"\n{label}: {problem.message}", style="bold red" if problem.blocking else "yellow")


def nested_line(item: NestedProposal, *, width: int, applied: bool) -> Text:
    """One line (truncated to `width`) for a member account: its policy and what changes, or its error."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(item.account, style="bold")
    line.append("  ")
    proposal = item.proposal
    if proposal is None:
        line.append(f"error: {item.error}", style="red")
        line.truncate(max(20, width - 4), overflow="ellipsis")
        return line
    line.append(proposal.target.policy_name + "  ")
    merge = proposal.merge
    if merge.blocking:
        line.append("BLOCKING: " + merge.blocking[0].message, style="bold red")
    elif merge.noop:
        line.append("no change needed", style="green")
    else:
        line.append(merge.summary(), style="bold")
    if applied:
        line.append("  (applied: u rolls back)", style="green")
    line.truncate(max(20, width - 4), overflow="ellipsis")  # one line; details below
    return line
