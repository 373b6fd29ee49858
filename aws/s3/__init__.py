"""The bucket engine: S3 log buckets (and their KMS keys) made ready to receive flow and firewall logs.

Each module holds one concern; import names from the module itself (nothing is re-exported here):

* `strategy`: the central-vs-regional comparison, the user's `BucketChoice`, its validation and the
  `BucketTarget`s it makes (no AWS call).
* `kms`: listing and checking customer-managed KMS keys (KMS read calls).
* `state`: a bucket's current state, its owner and region (S3 read calls).
* `settings`: the encryption, public-access and lifecycle settings wanted, and merging them with a
  bucket's (no AWS call).
* `bucket_policy`: the log-delivery statements of bucket and key policies, merging them into existing
  policies, and the known silent failures of a policy (no AWS call).
* `setup`: planning, `plan_buckets` returning the bucket Changes (read calls only).
* `executors`: the executors of the create, encryption, public-access and lifecycle Changes.
* `policy_executors`: the executors of the bucket-policy and key-policy Changes.

Naming rules (bucket names, templates, ARNs, log prefixes) are `aws.names`'.
"""
