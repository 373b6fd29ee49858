"""Idempotent under retries and lost responses: CreateFlowLogs' ClientToken (and the sandbox that honours
it like EC2), and a response lost on the wire (a proxy on 127.0.0.1 that drops it) for CreateFlowLogs and
CreatePolicyVersion: exactly one flow log / one new policy version afterwards."""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aws.audit import AuditLog
from aws.iam.proposal import prepare
from aws.iam.requirements import Requirements
from aws.iam.rollback import apply_proposal
from aws.logs.flowlog_executors import CreateFlowLogsExecutor, client_token
from aws.logs.flowlogs import FlowLogOptions, FlowLogTarget, flowlog_changes
from aws.plans.change import Change
from aws.session import AwsSession, SessionOptions

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "kentik-idempotency-use1"
OPTIONS = FlowLogOptions(buckets={REGION: BUCKET})
META = {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}


def target(rid: str) -> FlowLogTarget:
    return FlowLogTarget(resource_id=rid, resource_type="VPC", region=REGION, verdict="missing")


def create_change(vpcs: list[str]) -> Change:
    return flowlog_changes([target(v) for v in vpcs], OPTIONS, ACCOUNT)[0]


# -- the token ------------------------------------------------------------------------------------------


def test_token_is_deterministic() -> None:
    change = create_change(["vpc-1", "vpc-2"])
    assert client_token(change, ["vpc-2", "vpc-1"]) == client_token(
        create_change(["vpc-1", "vpc-2"]), ["vpc-1", "vpc-2"]
    )


def test_token_differs_for_another_subset() -> None:
    change = create_change(["vpc-1", "vpc-2"])
    assert client_token(change, ["vpc-1"]) != client_token(change, ["vpc-1", "vpc-2"])


def test_token_fits_ec2s_limit() -> None:
    token = client_token(create_change(["vpc-1"]), ["vpc-1"])
    assert len(token) <= 64 and token.isascii()


# -- the sandbox honours it (moto alone does not) ---------------------------------------------------------


@pytest.fixture
def ec2(moto: None) -> Any:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return boto3.client("ec2", region_name=REGION)


def vpc(ec2: Any, n: int = 0) -> str:
    return str(ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"])


def sent(change: Change, token: str) -> dict[str, Any]:
    return {**change.params, "ClientToken": token}


def test_same_token_same_params_returns_the_original_flow_log(ec2: Any) -> None:
    params = sent(create_change([vpc(ec2)]), "token-1")
    first = ec2.create_flow_logs(**params)["FlowLogIds"]
    again = ec2.create_flow_logs(**params)
    assert (again["FlowLogIds"], again["Unsuccessful"]) == (first, [])


def test_same_token_same_params_creates_nothing_more(ec2: Any) -> None:
    params = sent(create_change([vpc(ec2)]), "token-1")
    ec2.create_flow_logs(**params)
    ec2.create_flow_logs(**params)
    assert len(ec2.describe_flow_logs()["FlowLogs"]) == 1


def test_same_token_other_params_is_a_mismatch(ec2: Any) -> None:
    change = create_change([vpc(ec2, 0), vpc(ec2, 1)])
    ec2.create_flow_logs(**{**sent(change, "token-1"), "ResourceIds": change.params["ResourceIds"][:1]})
    with pytest.raises(ClientError) as info:
        ec2.create_flow_logs(**sent(change, "token-1"))
    assert info.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_without_a_token_a_duplicate_is_still_refused(ec2: Any) -> None:
    params = create_change([vpc(ec2)]).params
    ec2.create_flow_logs(**params)
    with pytest.raises(ClientError) as info:
        ec2.create_flow_logs(**params)
    assert info.value.response["Error"]["Code"] == "FlowLogAlreadyExists"


def test_executor_sends_the_token(ec2: Any, session: AwsSession) -> None:
    change = create_change([vpc(ec2)])
    CreateFlowLogsExecutor().apply(session, change)
    token = client_token(change, change.params["ResourceIds"])
    assert ec2.create_flow_logs(**sent(change, token))["Unsuccessful"] == []  # replayed, not a duplicate


# -- lost responses -------------------------------------------------------------------------------------


class DroppingProxy(socketserver.ThreadingTCPServer):
    """HTTP proxy on 127.0.0.1 in front of `upstream`. The first request whose body names `action` is
    forwarded (so AWS applies it) but its response is dropped: the connection is closed instead. Every
    response to that action is kept in `answers`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, action: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.action = action.encode()
        self.dropped = 0
        self.answers: list[bytes] = []
        self.errors: list[BaseException | None] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection the client closed (its retry, or the test ending) is kept, not printed: printed, it
        lands in the stderr of whichever test runs next in this process."""
        self.errors.append(sys.exc_info()[1])


class _Handler(socketserver.StreamRequestHandler):
    timeout = 10
    server: DroppingProxy

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line.strip():
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: list[tuple[str, str]] = []
            while (h := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = h.decode("latin-1").partition(":")
                headers.append((name.strip(), value.strip()))
            length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
            body = self.rfile.read(length)
            upstream = http.client.HTTPConnection(self.server.upstream, timeout=10)
            upstream.request(method, path, body=body, headers=dict(headers))
            response = upstream.getresponse()
            data = response.read()
            upstream.close()
            ours = self.server.action in body
            with self.server.lock:
                if ours:
                    self.server.answers.append(data)
                drop = ours and self.server.dropped == 0
                if drop:
                    self.server.dropped += 1
            if drop:
                self.connection.shutdown(socket.SHUT_RDWR)  # applied upstream; the caller never hears
                return
            out = [f"HTTP/1.1 {response.status} {response.reason}"]
            out += [
                f"{n}: {v}"
                for n, v in response.getheaders()
                if n.lower() not in ("transfer-encoding", "content-length", "connection")
            ]
            out += [f"Content-Length: {len(data)}", "", ""]
            self.wfile.write("\r\n".join(out).encode("latin-1") + data)
            self.wfile.flush()


@pytest.fixture
def moto_server() -> Iterator[str]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from aws.sandbox.moto_fixes import apply_moto_fixes

    apply_moto_fixes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)
    yield url
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)
    server.stop()


def proxied(
    moto_server: str, action: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[DroppingProxy, AwsSession]:
    proxy = DroppingProxy(moto_server, action)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    options = SessionOptions(region=REGION, connect_timeout=2, read_timeout=5)
    return proxy, AwsSession(options, audit=AuditLog(tmp_path / "audit.jsonl"))


@pytest.fixture
def lost_flow_log(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[DroppingProxy, Any, str, dict[str, Any]]]:
    direct = boto3.client("ec2", region_name=REGION, endpoint_url=moto_server)
    boto3.client("s3", region_name=REGION, endpoint_url=moto_server).create_bucket(Bucket=BUCKET)
    vpc_id = vpc(direct)
    proxy, session = proxied(moto_server, "Action=CreateFlowLogs", monkeypatch, tmp_path)
    outputs = CreateFlowLogsExecutor().apply(session, create_change([vpc_id]))
    yield proxy, direct, vpc_id, outputs
    proxy.shutdown()
    proxy.server_close()


def test_lost_create_flow_logs_response_leaves_one_flow_log(
    lost_flow_log: tuple[DroppingProxy, Any, str, dict[str, Any]],
) -> None:
    proxy, direct, _, _ = lost_flow_log
    assert (proxy.dropped, len(direct.describe_flow_logs()["FlowLogs"])) == (1, 1)


def test_retry_after_a_lost_flow_log_response_gets_the_original_ids(
    lost_flow_log: tuple[DroppingProxy, Any, str, dict[str, Any]],
) -> None:
    proxy, _, _, _ = lost_flow_log
    first, retried = proxy.answers  # the dropped answer and botocore's retry (same ClientToken)
    assert retried == first  # the same FlowLogIds, not FlowLogAlreadyExists


def test_lost_flow_log_response_is_reported_applied(
    lost_flow_log: tuple[DroppingProxy, Any, str, dict[str, Any]],
) -> None:
    _, direct, vpc_id, outputs = lost_flow_log
    assert outputs["flow_log_ids"] == {vpc_id: direct.describe_flow_logs()["FlowLogs"][0]["FlowLogId"]}


@pytest.fixture
def lost_policy_version(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[DroppingProxy, Any, str, bool]]:
    direct = boto3.client("iam", region_name=REGION, endpoint_url=moto_server)
    arn = direct.create_policy(
        PolicyName="meta", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [META]})
    )["Policy"]["Arn"]
    proxy, session = proxied(moto_server, "Action=CreatePolicyVersion", monkeypatch, tmp_path)
    report, _ = apply_proposal(session, prepare(session, Requirements(buckets=("logs-a",)), policy_arn=arn))
    yield proxy, direct, arn, report.ok
    proxy.shutdown()
    proxy.server_close()


def test_lost_create_policy_version_response_leaves_one_new_version(
    lost_policy_version: tuple[DroppingProxy, Any, str, bool],
) -> None:
    proxy, direct, arn, _ = lost_policy_version
    versions = sorted(v["VersionId"] for v in direct.list_policy_versions(PolicyArn=arn)["Versions"])
    assert (proxy.dropped, versions) == (1, ["v1", "v2"])


def test_lost_create_policy_version_response_is_applied(
    lost_policy_version: tuple[DroppingProxy, Any, str, bool],
) -> None:
    _, direct, arn, ok = lost_policy_version
    assert (ok, direct.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]) == (True, "v2")
