"""The embedded demo sandbox: a quiet moto server on 127.0.0.1, seeded, with simulated log delivery.

    with start_sandbox() as sb:
        sb.export_env(os.environ)   # boto3 (and the app) now talk to the sandbox
        ...

The sandbox owns the process's moto state: starting one with `seed=True` resets moto's backends first,
then seeds the demo account deterministically (`reset_and_seed`): every run shows the same VPC, subnet,
flow log and KMS key ids.

Beside moto it runs a local fake of Kentik's Cloud Export API and plan list (`aws.sandbox.kentik_fake`),
whose exports' `currentStatus` is Kentik's view of the sandbox (`aws.sandbox.kentik_status`: can Kentik
assume the role, can the role read the bucket, are there log files). `export_env` points the Kentik
client at it with the demo's Kentik credentials.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import MutableMapping
from types import TracebackType

from aws.sandbox.delivery import DEFAULT_CADENCE, DeliverySimulator
from aws.sandbox.kentik_fake import KentikFake
from aws.sandbox.kentik_status import sandbox_status_for
from aws.sandbox.moto_fixes import apply_moto_fixes
from aws.sandbox.seed import SeedSummary, seed_account

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
# moto's ids are drawn from this seed; the same as the tests' (tests/app_fixtures.py, aws/sandbox/faults.py).
RANDOM_SEED = 20261126
_QUIET_LOGGERS = ("werkzeug", "moto")
# The sandbox's AWS credentials (moto takes any; these name its default account) and the demo's Kentik
# user (the Kentik fake accepts only these).
DEMO_ACCESS_KEY_ID = "demo"
DEMO_SECRET_ACCESS_KEY = "demo"
DEMO_KENTIK_EMAIL = "demo@example.com"
DEMO_KENTIK_TOKEN = "demo-kentik-token"


def _silence_logs() -> None:
    """The TUI shares the terminal: no request logs, no moto warnings on stderr."""
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


class Sandbox:
    """A running sandbox. `stop()` (or leaving the `with` block) shuts it down."""

    def __init__(
        self,
        server: object,
        endpoint_url: str,
        delivery: DeliverySimulator,
        summary: SeedSummary | None,
        kentik: KentikFake | None = None,
    ) -> None:
        self._server = server
        self.endpoint_url = endpoint_url
        self.delivery = delivery
        self.summary = summary
        self.kentik = kentik  # the Kentik Cloud Export fake (None: not started)
        self.account_id = summary.account_id if summary else DEFAULT_ACCOUNT_ID
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    def export_env(self, env: MutableMapping[str, str]) -> None:
        """Point boto3 (in this process or a child given `env`) at the sandbox with fake credentials, and
        mark the run as a demo (its own audit log, every record marked); point the Kentik client at the
        Kentik fake with the demo's Kentik credentials."""
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env["AWS_ACCESS_KEY_ID"] = DEMO_ACCESS_KEY_ID
        env["AWS_SECRET_ACCESS_KEY"] = DEMO_SECRET_ACCESS_KEY
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        # Marks the run as the demo's: its own audit log, records with "demo": true (tui/config.py).
        env["FLOWLOGS_DEMO_ENDPOINT"] = self.endpoint_url
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(var, None)
        env.update(self.kentik_env())
        # The Kentik fake is on loopback: a bastion's HTTPS_PROXY must not carry the demo's calls away.
        loopback = [h for h in ("127.0.0.1", "localhost") if h not in env.get("NO_PROXY", "").split(",")]
        if self.kentik is not None and loopback:
            env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY", ""), *loopback]))

    def kentik_env(self) -> dict[str, str]:
        """The Kentik client's settings for the fake: its URL (Cloud Export and v5) and the demo user;
        {} when the fake is not running."""
        if self.kentik is None:
            return {}
        return {
            "KENTIK_API_URL": self.kentik.url,
            "KENTIK_V5_API_URL": self.kentik.url,
            "KENTIK_EMAIL": self.kentik.email,
            "KENTIK_API_TOKEN": DEMO_KENTIK_TOKEN,
        }

    def wait(self) -> None:
        """Block until `stop()` is called (KeyboardInterrupt propagates)."""
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self.delivery.stop()
            if self.kentik is not None:
                self.kentik.stop()
            self._server.stop()  # type: ignore[attr-defined]
            self._stopped.set()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def reset_and_seed(endpoint_url: str, *, random_seed: int = RANDOM_SEED) -> SeedSummary:
    """Reset this process's moto and seed the demo account through `endpoint_url` (a moto server in this
    process), the same ids every time.

    moto draws every id (and request id) from `mock_random`, seeded here. Each region's default VPC is
    made the first time its EC2 backend is used, so scans, which visit regions concurrently, would make
    them in any order and draw their ids in that order: every enabled region's is made now, in order. What
    exists before the first request after this is the same every run; later ids depend on what runs
    (concurrent scans, the delivery simulator).
    """
    import boto3
    from moto.core.base_backend import BackendDict
    from moto.ec2.models import ec2_backends
    from moto.moto_api._internal import mock_random

    BackendDict.reset()
    mock_random.seed(random_seed)
    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="seed",
        aws_secret_access_key="seed",
    )
    for region in sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"]):
        ec2_backends[DEFAULT_ACCOUNT_ID][region]  # default VPCs are made on first use: in a fixed order
    return seed_account(endpoint_url)


def start_sandbox(port: int = 0, cadence: float | None = None, seed: bool = True) -> Sandbox:
    """Start moto on 127.0.0.1:`port` (0: a free port), apply the AWS-strictness fixes, seed the demo
    account (unless `seed=False`; the same ids every run, `reset_and_seed`), start the delivery simulator
    (a round every `cadence` seconds) and the Kentik fake (a free port; its statuses read the sandbox)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    # The demo never uses AMIs; loading moto's catalogue costs ~0.7 s per region on first use.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    apply_moto_fixes()
    _silence_logs()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{bound_port}"
    delivery = DeliverySimulator(cadence=cadence or DEFAULT_CADENCE)
    summary = None
    kentik: KentikFake | None = None
    try:
        if seed:
            summary = reset_and_seed(endpoint_url)
        status_for = sandbox_status_for(
            endpoint_url,
            access_key=DEMO_ACCESS_KEY_ID,
            secret_key=DEMO_SECRET_ACCESS_KEY,
            account_id=summary.account_id if summary else DEFAULT_ACCOUNT_ID,
        )
        kentik = KentikFake(email=DEMO_KENTIK_EMAIL, token=DEMO_KENTIK_TOKEN, status_for=status_for).start()
        delivery.start()
    except BaseException:
        if kentik is not None:
            kentik.stop()
        server.stop()
        raise
    return Sandbox(server, endpoint_url, delivery, summary, kentik)
