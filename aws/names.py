"""Names, ARNs, regions and log prefixes: the one place their rules live.

* Bucket names: `validate_bucket_name` checks every general-purpose naming rule, the account-regional
  namespace's `{prefix}-{account}-{region}-an` form included; `expand_template` / `validate_template`
  handle `{region}` (and `{account}`) templates for regional buckets (`template_problems_anywhere`: the
  part of that check needing no region, before any AWS call); `existing_bucket_name_problem` the looser
  rules a bucket that already exists obeys.
* ARNs: `s3_arn` / `parse_s3_arn` for buckets and their keys, `parse_kms_key_arn` / `kms_key_arn` for
  KMS keys (S3 needs a key's full ARN: an alias or id is resolved in the writer's context).
* Regions: a region name is what some botocore partition's regex accepts (`aws.regions.looks_like_region`);
  `REGION_PATTERN` is that shape for embedding in other patterns.
* Log prefixes: `check_log_prefix` refuses what AWS refuses (or what makes odd keys); `flowlog_prefix`
  and `firewall_prefix` give the form each API takes; `log_folder` the form S3 keys use
  (`folder/AWSLogs/...`), for comparing prefixes already set in AWS; `delivery_folder` that form checked,
  for the bucket policy and lifecycle rules.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterable

from aws.errors import ValidationFailed

REGION_PLACEHOLDER = "{region}"
ACCOUNT_PLACEHOLDER = "{account}"
REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")

# -- bucket names ----------------------------------------------------------------------------------

_ALNUM = frozenset(string.ascii_lowercase + string.digits)
_ALLOWED = _ALNUM | {".", "-"}
_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# The account-regional namespace (since 2026-03): `{prefix}-{account}-{region}-an`, created with
# CreateBucket's BucketNamespace=account-regional. Only that account can create such a name.
ACCOUNT_REGIONAL = "account-regional"
ACCOUNT_REGIONAL_SUFFIX = "-an"
_ACCOUNT_REGIONAL_RE = re.compile(rf"^(?P<prefix>.+)-(?P<account>\d{{12}})-(?P<region>{REGION_PATTERN})-an$")


def account_regional_suffix(account: str, region: str) -> str:
    return f"-{account}-{region}{ACCOUNT_REGIONAL_SUFFIX}"


def account_regional_name(prefix: str, account: str, region: str) -> str:
    """The bucket name `{prefix}-{account}-{region}-an` in the account-regional namespace."""
    return prefix + account_regional_suffix(account, region)


def account_regional_template(prefix: str) -> str:
    """The template `{prefix}-{account}-{region}-an`: one account-regional name per bucket region."""
    return account_regional_name(prefix, ACCOUNT_PLACEHOLDER, REGION_PLACEHOLDER)


def account_regional_parts(name: str) -> tuple[str, str, str] | None:
    """(prefix, account, region) of an account-regional name, or None for a global one."""
    match = _ACCOUNT_REGIONAL_RE.match(name)
    return (match["prefix"], match["account"], match["region"]) if match else None


def is_account_regional(name: str) -> bool:
    """True for a name in the account-regional namespace's form (CreateBucket needs BucketNamespace)."""
    return account_regional_parts(name) is not None


def _shape_problems(name: str, parts: tuple[str, str, str] | None) -> list[str]:
    """The rules every bucket name obeys, however old the bucket: length, characters, first and last
    character, no two dots in a row. `parts`: the name's account-regional parts, if it has that form."""
    problems: list[str] = []
    if not 3 <= len(name) <= 63:
        if parts:
            suffix = account_regional_suffix(parts[1], parts[2])
            problems.append(
                "Length rule: a bucket name must be 3 to 63 characters long, the account-regional suffix "
                f"included (this one has {len(name)}; {suffix} takes {len(suffix)}, so the prefix may have "
                f"at most {63 - len(suffix)})."
            )
        else:
            problems.append(
                f"Length rule: a bucket name must be 3 to 63 characters long (this one has {len(name)})."
            )
    bad = sorted({c for c in name if c not in _ALLOWED})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        problems.append(
            f"Character rule: only lowercase letters, digits, dots (.) and hyphens (-) are allowed (found {shown})."
        )
    if name and name[0] not in _ALNUM:
        problems.append("First-character rule: a bucket name must begin with a lowercase letter or a digit.")
    if name and name[-1] not in _ALNUM:
        problems.append("Last-character rule: a bucket name must end with a lowercase letter or a digit.")
    if ".." in name:
        problems.append("Adjacent-dots rule: a bucket name must not contain two periods in a row (..).")
    return problems


def validate_bucket_name(name: str, *, account: str = "", region: str = "") -> list[str]:
    """One message per broken general-purpose bucket naming rule, each naming the rule; [] = valid.

    With `account` and `region` (the bucket's), an account-regional name's suffix must name them.
    """
    parts = account_regional_parts(name)
    problems = _shape_problems(name, parts)
    if _looks_like_ip(name):
        problems.append(
            "IP-address rule: a bucket name must not be formatted as an IP address (e.g. 192.168.5.4)."
        )
    for prefix in _FORBIDDEN_PREFIXES:
        if name.startswith(prefix):
            problems.append(f"Reserved-prefix rule: a bucket name must not start with {prefix!r}.")
    for suffix in _FORBIDDEN_SUFFIXES:
        if name.endswith(suffix):
            problems.append(f"Reserved-suffix rule: a bucket name must not end with {suffix!r}.")
    if parts is None and name.endswith(ACCOUNT_REGIONAL_SUFFIX):
        problems.append(
            "Account-regional suffix rule: only a name in the account-regional namespace may end with "
            "'-an', and it has the form PREFIX-ACCOUNT-REGION-an (e.g. logs-111122223333-us-east-1-an)."
        )
    if parts and account and parts[1] != account:
        problems.append(
            f"Account-regional rule: the name's suffix names account {parts[1]}, but only account {account} "
            f"can create buckets in its own namespace: end the name with -{account}-REGION-an."
        )
    if parts and region and parts[2] != region:
        problems.append(
            "Account-regional rule: the name's suffix must name the bucket's own region "
            f"(this one names {parts[2]})."
        )
    return problems


def _looks_like_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name))
    return True


def is_template(text: str) -> bool:
    return "{" in text or "}" in text


def expand_template(template: str, regions: Iterable[str], *, account: str = "") -> dict[str, str]:
    """The bucket name for each region: `{region}` becomes the region, `{account}` the account id."""
    unknown = sorted({p for p in _PLACEHOLDER_RE.findall(template) if p not in ("region", "account")})
    if unknown:
        raise ValidationFailed(
            f"Unknown placeholder(s) in the bucket name template {template!r}: "
            + ", ".join("{" + p + "}" for p in unknown)
            + ". Use {region} (and optionally {account})."
        )
    if ACCOUNT_PLACEHOLDER in template and not account:
        raise ValidationFailed(
            "The bucket name template uses {account}, but the account id is not known yet."
        )
    base = template.replace(ACCOUNT_PLACEHOLDER, account)
    return {region: base.replace(REGION_PLACEHOLDER, region) for region in regions}


def validate_template(
    template: str, regions: Iterable[str], *, account: str = "", per_region: bool = False
) -> list[str]:
    """Naming problems of a template for every region it expands to (the longest region decides length).

    A message that holds in several regions is given once, naming those regions. With `per_region`
    (regional buckets: one bucket in each region) a template that names every region's bucket alike is
    refused too, suggesting `{template}-{region}` only when that suggestion is itself a valid template.
    The one check of a bucket name or template, whatever the strategy (the CLI's and the TUI's).
    """
    regions = list(dict.fromkeys(regions))
    out = _template_problems(template, regions, account=account)
    if per_region and len(regions) > 1 and REGION_PLACEHOLDER not in template:
        suggestion = f"{template}-{REGION_PLACEHOLDER}"
        valid = not out and not _template_problems(suggestion, regions, account=account)
        example = f" (e.g. {suggestion})" if valid else ""
        out.append(
            f"Regional buckets need one name per region: put {REGION_PLACEHOLDER} in the name{example}."
        )
    return out


def _template_problems(template: str, regions: list[str], *, account: str) -> list[str]:
    known_regions = bool(regions)
    if not regions:
        if REGION_PLACEHOLDER in template:
            return ["No region to expand the bucket name template for."]
        regions = ["us-east-1"]  # the name does not depend on the region
    try:
        names = expand_template(template, regions, account=account or "000000000000")
    except ValidationFailed as err:
        return [err.message]
    grouped: dict[str, list[str]] = {}
    for region, name in names.items():
        for problem in validate_bucket_name(name, account=account, region=region if known_regions else ""):
            grouped.setdefault(problem, []).append(region)
    out = []
    for problem, where in grouped.items():
        if REGION_PLACEHOLDER not in template:
            out.append(problem)
        elif len(where) == 1:
            out.append(f"{problem} [{names[where[0]]} in {where[0]}]")
        else:
            out.append(f"{problem} [in {', '.join(where)}; e.g. {names[where[0]]}]")
    return out


# No region name is shorter: a template expanded with it is as short as it can be anywhere.
_SHORTEST_REGION = "us-east-1"


def template_problems_anywhere(template: str) -> list[str]:
    """The naming problems a bucket name or template has whatever regions and account it is expanded
    for: what can be refused before the regions are known (before any AWS call). `{region}` stands for
    the shortest region name, so a length problem found here holds in every region; the rules tied to
    the bucket's own region and account, and the regional strategy's one name per region, are
    `validate_template`'s, once the regions are known."""
    try:
        names = expand_template(template, [_SHORTEST_REGION], account="000000000000")
    except ValidationFailed as err:
        return [err.message]
    return validate_bucket_name(names[_SHORTEST_REGION])


def existing_bucket_name_problem(name: str) -> str | None:
    """Why `name` cannot name a bucket that already exists, or None: the rules every bucket name obeys
    (`_shape_problems`), each named. Looser than `validate_bucket_name` (the rules for a name to create):
    buckets made before a rule existed (an `xn--` or `-s3alias` name, a name ending in `-an`) exist and
    Kentik may read them."""
    rules = _shape_problems(name, account_regional_parts(name))
    return f"{name!r} is not a valid bucket name. " + " ".join(rules) if rules else None


# -- ARNs ------------------------------------------------------------------------------------------

KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<key>[A-Za-z0-9-]+)$"
)
_S3_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):s3:::(?P<bucket>[^/]+)(?:/(?P<key>.*))?$")


def s3_arn(bucket: str, key: str = "", *, partition: str = "aws") -> str:
    """`arn:PARTITION:s3:::bucket` (the bucket) or `arn:PARTITION:s3:::bucket/key` (objects under key)."""
    return f"arn:{partition}:s3:::{bucket}/{key}" if key else f"arn:{partition}:s3:::{bucket}"


def parse_s3_arn(arn: str) -> tuple[str, str] | None:
    """(bucket, key or prefix) of an S3 ARN (`arn:aws:s3:::bucket/prefix/` -> ("bucket", "prefix/"),
    '' when none); None when `arn` is not an S3 ARN."""
    match = _S3_ARN.match(arn.strip())
    return (match["bucket"], match["key"] or "") if match else None


def parse_kms_key_arn(text: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, key id) of a KMS key ARN; None for an alias, a key id or anything else."""
    match = KMS_KEY_ARN.match(text.strip())
    return (match["partition"], match["region"], match["account"], match["key"]) if match else None


def kms_key_arn(key: str, *, region: str, account: str, partition: str = "aws") -> str:
    """The full ARN of a KMS key given by ARN or by key id."""
    return key if parse_kms_key_arn(key) else f"arn:{partition}:kms:{region}:{account}:key/{key}"


# -- log prefixes ----------------------------------------------------------------------------------


def check_log_prefix(prefix: str, *, what: str, example: str) -> str:
    """Refuse a log prefix AWS would refuse or that would produce odd keys (leading '/', an `AWSLogs`
    folder, an empty folder, whitespace). Returns it unchanged. The one rule for flow logs, firewall logs
    and the bucket's delivery policy and lifecycle."""
    if prefix.startswith("/"):
        raise ValidationFailed(
            f"{what} {prefix!r} starts with '/': that produces keys like 'bucket//AWSLogs/...'.",
            hint=f"Leave out the leading '/', e.g. '{example}'.",
        )
    if prefix.startswith("AWSLogs") or "AWSLogs" in prefix.strip("/").split("/"):
        raise ValidationFailed(
            f"{what} {prefix!r} uses 'AWSLogs', which AWS reserves for the folder it writes below the prefix.",
            hint=f"Choose another name, e.g. '{example}'.",
        )
    if "//" in prefix:
        raise ValidationFailed(f"{what} {prefix!r} contains an empty folder ('//').")
    if any(ch.isspace() for ch in prefix) or any(ord(ch) < 32 for ch in prefix):
        raise ValidationFailed(f"{what} {prefix!r} contains whitespace or control characters.")
    return prefix


def flowlog_prefix(prefix: str) -> str:
    """A flow log's S3 prefix as CreateFlowLogs takes it: checked, ending with '/' ('' for none)."""
    if not prefix:
        return ""
    check_log_prefix(prefix, what="S3 prefix", example="vpc-flow-logs/")
    return prefix if prefix.endswith("/") else prefix + "/"


def firewall_prefix(prefix: str) -> str:
    """A firewall's S3 prefix as UpdateLoggingConfiguration takes it: checked, no trailing '/' ('' for none).
    AWS writes `<prefix>/AWSLogs/...`."""
    if not prefix:
        return ""
    check_log_prefix(prefix, what="Firewall log prefix", example="firewall-logs/")
    return prefix.rstrip("/")


def log_folder(prefix: str) -> str:
    """The folder a prefix names in S3 keys (`folder/AWSLogs/...`): no '/' at either end; '' for none.
    Not a check: prefixes AWS already holds are compared in this form."""
    return prefix.strip().strip("/")


def folder_problem(folder: str) -> str:
    """Why a log folder (`log_folder` form) cannot be read or granted as it is ('' when it can): AWS adds
    AWSLogs/ itself (a folder holding one would be read at .../AWSLogs/AWSLogs/), an empty folder ('//'),
    and '*', '?' or '$' (in an IAM resource they are wildcards or policy variables, so the grant would
    reach other folders too)."""
    if "AWSLogs" in folder.split("/"):
        return "AWS adds 'AWSLogs/' itself below the prefix: give the part above it"
    if "//" in folder:
        return "it contains an empty folder ('//')"
    if any(c in folder for c in "*?$"):
        return "'*', '?' and '$' are wildcards or variables in IAM policies, never part of a log prefix"
    return ""


def delivery_folder(prefix: str) -> str:
    """The folder log delivery writes under for a prefix (`folder/AWSLogs/...`), as bucket policies and
    lifecycle rules name it: `log_folder`, refused (ValidationFailed) when it holds an `AWSLogs` or an
    empty folder, which AWS refuses as a log prefix, so a plan file cannot smuggle one into a policy."""
    folder = log_folder(prefix)
    problem = folder_problem(folder)
    if problem:
        raise ValidationFailed(f"The log prefix {prefix!r} is not allowed: {problem}.")
    return folder
