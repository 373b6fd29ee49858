"""The Kentik role's IAM policy: the one change flowlogs makes to the customer's security boundary.

Modules (import from each directly; this package re-exports nothing):

* `eval`: IAM evaluation of identity policies (is ACTION on RESOURCE granted, wildcards included?).
* `deny`: explicit Deny in resource policies (bucket, KMS key) as AWS decides it for log delivery.
* `requirements`: what Kentik's role needs (`Requirements`), flowlogs' Sids, and policy size limits.
* `merge`: `merge_policy()`, the minimal idempotent change granting the requirements.
* `diff`: the line diff of current vs proposed document (side by side, hunks, unified text).
* `documents`: finding and reading the policy in IAM (`find_policy()`, `PolicyTarget`, `PolicySource`).
* `accounts`: the role Kentik assumes (`role_trust()`) and nested member accounts.
* `proposal`: `prepare()` / `propose()`: merge, diff and plan Changes for one policy.
* `executors`: the Executors that apply the Changes and their rollbacks (registered with aws.plans.change).
* `rollback`: applying a proposal, the rollback record (`save_rollback()`), and rolling back.
"""
