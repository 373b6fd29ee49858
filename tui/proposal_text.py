"""Rich text describing an IAM policy proposal, as the IAM step shows it above the diff.

Each `append_*` adds its lines to a `Text` the caller builds (so the caller interleaves its own lines):
the policy (`append_target`), what changes and the size (`append_changes`), the deletion option
(`append_deletion`), notes and problems (`append_findings`), the rollback offer after an apply
(`append_applied`). Below the wide breakpoint (`wide=False`) the lines are shorter, so the diff below
keeps most of an 80x24 terminal. `nested_line()` is one member account's line in the nested
configuration's list; `DELETION_OPTIONS` the choices of the deletion option. Formatting only: no AWS
calls, no state.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from aws.iam.accounts import NestedProposal
from aws.iam.documents import PolicyTarget
from aws.iam.merge import MergeResult
from aws.iam.proposal import PolicyProposal
from aws.iam.requirements import DELETE_RISK, KMS_NOTE, MAX_POLICY_VERSIONS, SizeReport
from tui.palette import BAD, BAD_BOLD, OK, OK_BOLD, WARN, WARN_BOLD

CHANGE_MARKS = {"add": ("+", OK_BOLD), "change": ("~", WARN_BOLD), "remove": ("-", BAD_BOLD)}
NESTED_INTRO = (
    "Nested configuration: the spoke role's policy in each member account. Type the account ids and the "
    "role to assume in each, then Enter. a applies the selected account, A all accounts needing a change; "
    "Esc then n returns to the standard configuration."
)
DELETION_OPTIONS: list[tuple[str, RenderableType]] = [  # (key, label) for `Pick`
    ("none", "No deletion permission (default: Kentik only reads the logs)"),
    (
        "objects",
        "s3:DeleteObject on the buckets' objects only — least privilege: Kentik can delete old logs",
    ),
    (
        "all",
        Text.assemble(
            ("s3:* on the buckets (the spec's deletion option). ", "bold"), ("Risk: " + DELETE_RISK, BAD)
        ),
    ),
]


def append_target(text: Text, target: PolicyTarget, *, wide: bool) -> None:
    """`Policy: NAME (managed, default version vN, k of 5 versions)`, or the inline policy and its role."""
    text.append("Policy: ", style="bold")
    if target.kind == "managed":
        text.append(target.policy_arn if wide and target.policy_arn else target.policy_name)
        default = "default version" if wide else "default"
        text.append(
            f" (managed, {default} {target.version_id}, {len(target.versions)} of "
            f"{MAX_POLICY_VERSIONS} versions)",
            style="dim",
        )
    else:
        text.append(f"inline policy {target.policy_name} of role {target.role_name}")


def size_text(size: SizeReport, *, wide: bool = True) -> str:
    """The size against the limit: `describe()` when wide, else `553 of 6,144 chars` (inline: `in all`)."""
    if wide:
        return size.describe()
    return f"{size.total:,} of {size.limit:,} chars" + (" (inline, in all)" if size.kind == "inline" else "")


def append_changes(text: Text, proposal: PolicyProposal, *, wide: bool = True) -> None:
    """The summary and size, one line per statement change, and the version rotation, if any."""
    merge = proposal.merge
    text.append("\n")
    text.append(merge.summary(), style=OK_BOLD if merge.noop else "bold")
    text.append("  ·  Size: ", style="bold")
    if not merge.size.ok:
        text.append("✗ " + size_text(merge.size, wide=wide), style=BAD_BOLD)
    elif merge.size.near_limit:
        text.append("⚠ " + size_text(merge.size, wide=wide) + " (near the limit)", style=WARN_BOLD)
    else:
        text.append(size_text(merge.size, wide=wide), style=OK)
    for change in merge.changes:
        mark, style = CHANGE_MARKS[change.action]
        text.append(f"\n{mark} ", style=style)
        text.append(f"{change.sid}: ", style="bold")
        text.append(change.explanation)
    rotation = proposal.rotation
    if rotation is not None:
        text.append(
            f"\n! The policy has {MAX_POLICY_VERSIONS} versions: applying first deletes version "
            f"{rotation.params['VersionId']} (the oldest non-default one); you are asked separately.",
            style=WARN_BOLD,
        )


def append_deletion(text: Text, deletion: str, *, wide: bool = True) -> None:
    """The deletion option chosen ("", "s3:DeleteObject" or "s3:*"), with the risk of s3:*."""
    text.append("\nDeletion (d): ", style="bold")
    if deletion == "s3:*":
        text.append("s3:* requested. ", style=BAD_BOLD)
        text.append(f"Risk: {DELETE_RISK} Least-privilege alternative: s3:DeleteObject.", style=BAD)
    elif deletion == "s3:DeleteObject":
        text.append("s3:DeleteObject on the buckets' objects only (least privilege).")
    elif wide:
        text.append("none (Kentik only reads); d offers s3:DeleteObject or the riskier s3:*", style="dim")
    else:
        text.append("none, Kentik only reads (d offers s3:DeleteObject, s3:*)", style="dim")


def append_applied(text: Text, previous_version_id: str | None, account: str | None) -> None:
    """After an apply: how to roll it back (in the member `account`, in nested mode)."""
    where = f" in {account}" if account else ""
    text.append(
        f"\nApplied{where}. Press u to roll back (make {previous_version_id or 'the previous document'} "
        "the default again).",
        style=OK,
    )


def append_findings(text: Text, merge: MergeResult) -> None:
    """The merge's notes (except the KMS and s3:* ones, shown on their own lines) and its problems."""
    skip = {KMS_NOTE, f"Deletion with s3:* was requested. {DELETE_RISK}"}
    for note in merge.notes:
        if note not in skip:
            text.append(f"\nNote: {note}", style="dim")
    for problem in merge.problems:
        label = "BLOCKING" if problem.blocking else "Warning"
        text.append(f"\n{label}: {problem.message}", style=BAD_BOLD if problem.blocking else WARN)


def nested_line(item: NestedProposal, *, width: int, applied: bool) -> Text:
    """One line (truncated to `width`) for a member account: its policy and what changes, or its error."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(item.account, style="bold")
    line.append("  ")
    proposal = item.proposal
    if proposal is None:
        line.append(f"error: {item.error}", style=BAD)
        line.truncate(max(20, width - 4), overflow="ellipsis")
        return line
    line.append(proposal.target.policy_name + "  ")
    merge = proposal.merge
    if merge.blocking:
        line.append("BLOCKING: " + merge.blocking[0].message, style=BAD_BOLD)
    elif merge.noop:
        line.append("no change needed", style=OK)
    else:
        line.append(merge.summary(), style="bold")
    if applied:
        line.append("  (applied: u rolls back)", style=OK)
    line.truncate(max(20, width - 4), overflow="ellipsis")  # one line; details below
    return line


def missing_inputs(*, scanned: bool, roles: bool, buckets: bool) -> str:
    """What the IAM step lacks to propose a policy, and where to get it ('' when nothing)."""
    lines = []
    if not scanned:
        lines.append(
            "No account inventory yet: press Ctrl+B to run discovery (it finds the role Kentik assumes), "
            "or type the role name and bucket names above."
        )
    elif not roles:
        lines.append(
            "Discovery found no role trusting Kentik (834693425129) or requiring an external id: type the "
            "role name or the policy ARN above."
        )
    if not buckets:
        lines.append("No bucket chosen yet (bucket step): type the log bucket names above, then Enter.")
    return "\n".join(lines)
