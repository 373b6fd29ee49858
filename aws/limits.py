"""Numbers and names the engine enforces that the command line also shows in its help and settings.

This module imports nothing (no boto3, no botocore), so `flowlogs --help` and the settings can name the
engine's limits without loading the engine (tests/test_startup.py)."""

from __future__ import annotations

MAX_SCAN_WORKERS = 64  # regions scanned at once, at most
EXISTING_DESTINATIONS: tuple[str, ...] = ("read", "duplicate")  # what to do with existing log destinations

# The retry budget of one AWS call (aws.retry.RetryPolicy's defaults). Seconds.
MAX_ATTEMPTS = 4  # any retryable failure but throttling; the first attempt included
THROTTLE_ATTEMPTS = 10
CALL_DEADLINE = 25.0  # wall time of one call, all attempts included
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0

# AWS Organizations runs (aws.org).
DEFAULT_ACCOUNT_WORKERS = 8  # member accounts scanned at once; each scans its regions with its own workers
MAX_ACCOUNT_WORKERS = 32
MAX_LIFECYCLE_DAYS = 36500  # the longest expiry a bucket set-up sets (100 years)
ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"  # the role AWS Organizations creates in new members
