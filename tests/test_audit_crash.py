"""The audit log survives kill -9: every mutating request that reached AWS has its intent on disk.

A moto server on 127.0.0.1 sits behind a recording WSGI wrapper that notes each mutating request's
operation before handing it on. A child process applies a small bucket plan through the engine
(`plan_buckets` + `apply_plan`, then a VPC and its flow log) against it. For every N, the wrapper holds the N-th mutating request,
the test kills the child with SIGKILL, and the audit log's intents are compared with what the server saw.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from aws.audit import AuditLog
from aws.session import is_mutating

CHILD_TIMEOUT = 60.0  # seconds, per child; a healthy run takes about one

# S3 REST requests by their sub-resource (the first query key); "" is the bucket itself.
_S3_PUTS = {
    "": "CreateBucket",
    "encryption": "PutBucketEncryption",
    "publicAccessBlock": "PutPublicAccessBlock",
    "ownershipControls": "PutBucketOwnershipControls",
    "policy": "PutBucketPolicy",
    "lifecycle": "PutBucketLifecycleConfiguration",
    "versioning": "PutBucketVersioning",
    "tagging": "PutBucketTagging",
}

CHILD = textwrap.dedent(
    """
    import sys
    from aws.audit import AuditLog
    from aws.s3.strategy import BucketChoice
    from aws.s3.setup import plan_buckets
    from aws.plans.change import Plan, apply_plan
    from aws.session import AwsSession, SessionOptions

    bucket = sys.argv[1]
    session = AwsSession(SessionOptions(region="us-east-1"), audit=AuditLog(sys.argv[2]))
    choice = BucketChoice(strategy="central", bucket=bucket, regions=["us-east-1"], central_region="us-east-1")
    setup = plan_buckets(session, choice, "123456789012")
    assert apply_plan(Plan(account="123456789012", changes=setup.changes), session).ok
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_flow_logs(
        ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
        LogDestinationType="s3", LogDestination="arn:aws:s3:::" + bucket,
    )
    """
)


def operation_of(environ: dict[str, Any], body: bytes) -> tuple[str, bool]:
    """(operation, mutating) of one request: X-Amz-Target, the Action form field, or S3 method + query."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        op = target.rsplit(".", 1)[-1]
        return op, is_mutating(op)
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    action = (form.get("Action") or query.get("Action") or [""])[0]
    if action:
        return action, is_mutating(action)
    method = environ["REQUEST_METHOD"]
    sub = next(iter(query), "")
    if method == "PUT":
        return _S3_PUTS.get(sub, f"S3 PUT ?{sub}"), True
    if method in ("POST", "DELETE"):
        return f"S3 {method} ?{sub}", True
    return f"S3 {method} ?{sub}", False


@dataclass
class Recorder:
    """What the server saw, and the hold on the N-th mutating request."""

    hold_at: int = 0  # 0: hold nothing
    mutating: list[str] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self, hold_at: int) -> None:
        with self.lock:
            self.hold_at, self.mutating = hold_at, []
            self.held, self.release = threading.Event(), threading.Event()

    def saw(self, operation: str) -> bool:
        """Record a mutating request; True when it is the one to hold."""
        with self.lock:
            self.mutating.append(operation)
            return len(self.mutating) == self.hold_at


@dataclass
class Server:
    url: str
    recorder: Recorder


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from moto.moto_server import threaded_moto_server as tms

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    recorder = Recorder()

    class Recording(tms.DomainDispatcherApplication):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            operation, mutating = operation_of(environ, body)
            if mutating and recorder.saw(operation):
                recorder.held.set()
                recorder.release.wait(CHILD_TIMEOUT)  # until the child is dead
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
            return super().__call__(environ, start_response)

    with pytest.MonkeyPatch.context() as patch:  # the class the server instantiates, while it starts
        patch.setattr(tms, "DomainDispatcherApplication", Recording)
        moto_server = tms.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto_server.start()
    host, port = moto_server.get_host_and_port()
    yield Server(f"http://{host}:{port}", recorder)
    recorder.release.set()
    moto_server.stop()


def start_child(server: Server, bucket: str, audit_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FLOWLOGS_AUDIT_LOG": str(audit_path),
        "NO_PROXY": "127.0.0.1",
    }
    cwd = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, bucket, str(audit_path)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def intents(path: Path) -> list[str]:
    return [e["operation"] for e in AuditLog(path).entries() if e.get("phase") == "intent"]


@pytest.fixture(scope="module")
def full_run(server: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The plan applied to the end, nothing held: the mutating requests it makes, and its audit log."""
    audit_path = tmp_path_factory.mktemp("full") / "audit.jsonl"
    server.recorder.reset(hold_at=0)
    child = start_child(server, "crash-test-full", audit_path)
    _, err = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 0, err.decode()
    return list(server.recorder.mutating), audit_path


def test_the_run_makes_s3_and_ec2_mutating_requests(full_run: tuple[list[str], Path]) -> None:
    seen, _ = full_run
    assert seen[0] == "CreateBucket" and seen[-2:] == ["CreateVpc", "CreateFlowLogs"]


def test_a_completed_run_has_an_intent_and_a_result_per_request(full_run: tuple[list[str], Path]) -> None:
    seen, audit_path = full_run
    entries = AuditLog(audit_path).entries()
    pairs = [
        (e["operation"], sorted(x["phase"] for x in entries if x["call_id"] == e["call_id"]))
        for e in entries
        if e["phase"] == "intent"
    ]
    assert pairs == [(op, ["intent", "result"]) for op in seen]


def test_kill_9_after_each_request_leaves_its_intent(
    server: Server, full_run: tuple[list[str], Path], tmp_path: Path
) -> None:
    seen, _ = full_run
    lost: dict[int, tuple[list[str], list[str]]] = {}
    for n in range(1, len(seen) + 1):
        audit_path = tmp_path / f"audit-{n}.jsonl"
        server.recorder.reset(hold_at=n)
        child = start_child(server, f"crash-test-{n}", audit_path)
        try:
            assert server.recorder.held.wait(CHILD_TIMEOUT), f"request {n} never came"
            os.kill(child.pid, signal.SIGKILL)
            child.wait(CHILD_TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(CHILD_TIMEOUT)
            server.recorder.release.set()
        recorded = list(server.recorder.mutating)
        if intents(audit_path) != recorded:
            lost[n] = (recorded, intents(audit_path))
    assert lost == {}  # for each N: the server's mutating requests == the intents on disk, in order
