"""The Kentik Cloud Export client (aws/kentik/api.py) against the local fake (aws/sandbox/kentik_fake.py):
no network beyond 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest

import aws.kentik.api as api
from aws.errors import AccessDeniedError, CredentialsError, EndpointError, ValidationFailed
from aws.kentik.access import (
    KentikAccessDenied,
    KentikApiError,
    KentikCredentials,
    KentikCredentialsMissing,
    KentikNotFound,
    KentikRejected,
    KentikUnavailable,
    KentikUnreachable,
    base_url,
    ssl_context,
    v5_url,
)
from aws.kentik.api import KentikClient
from aws.kentik.models import AwsProperties, CloudExport
from aws.sandbox.kentik_fake import EXPORTS_PATH, KentikFake, ticking_clock

EMAIL, TOKEN = "ops@example.com", "tok-s3cr3t-0123456789abcdef"
PROXY_VARS = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        *PROXY_VARS,
        "KENTIK_EMAIL",
        "KENTIK_API_TOKEN",
        "KENTIK_API_URL",
        "KENTIK_V5_API_URL",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[KentikFake]:
    clock = ticking_clock(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    with KentikFake(email=EMAIL, token=TOKEN, clock=clock) as running:
        yield running


def client_for(fake: KentikFake, token: str = TOKEN) -> KentikClient:
    return KentikClient(KentikCredentials(EMAIL, token), api_url=fake.url, v5_api_url=fake.url, timeout=5)


def export(bucket: str = "flow-logs-a", **aws: object) -> CloudExport:
    props = AwsProperties(
        iam_role_arn="arn:aws:iam::123456789012:role/kentik", region="us-east-1", bucket=bucket
    )
    return CloudExport(name=bucket, enabled=True, plan_id="11467", aws=props.model_copy(update=aws))


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed on exit: nothing listens there


def test_create_then_list_and_get_is_stable(fake: KentikFake) -> None:
    client = client_for(fake)
    created = client.create_export(export(bucket_prefix="vpc"))
    assert created.id and created.cdate == created.edate
    assert (
        created.type == "CLOUD_EXPORT_TYPE_KENTIK_MANAGED" and created.cloud_provider == "CLOUD_PROVIDER_AWS"
    )
    assert created.aws is not None and created.aws.bucket_prefix == "vpc"
    assert created.current_status is not None and created.current_status.flow_found is False
    listed = client.list_exports()
    assert [e.id for e in listed] == [created.id] and listed.invalid_count == 0
    assert client.get_export(created.id) == client.get_export(created.id) == listed.exports[0]
    assert fake.exports[created.id]["aws"]["bucketPrefix"] == "vpc"  # camelCase on the wire


def test_status_comes_from_the_callback(fake: KentikFake) -> None:
    fake.status_for = lambda e: {
        "status": "OK",
        "flowFound": e["aws"]["bucket"] == "b1",
        "apiAccess": True,
        "storageAccountAccess": True,
        "errorMessage": "",
    }
    client = client_for(fake)
    one, two = client.create_export(export("b1")), client.create_export(export("b2"))
    status = {e.id: e.current_status.flow_found for e in client.list_exports() if e.current_status}
    assert status == {one.id: True, two.id: False}


def test_update_keeps_portal_fields_and_replaces_the_rest(fake: KentikFake) -> None:
    seeded = fake.seed(
        {
            **export().to_api(),
            "description": "made in the portal",
            "sampling": {"samplingEnabled": True, "samplingRate": 10},
        }
    )
    client = client_for(fake)
    current = client.get_export(seeded["id"])
    assert current.model_extra == {"sampling": {"samplingEnabled": True, "samplingRate": 10}}
    assert current.aws is not None
    wanted = current.model_copy(
        update={"aws": current.aws.model_copy(update={"collect_firewall_logs": True})}
    )
    updated = client.update_export(seeded["id"], wanted)
    assert updated.aws is not None and updated.aws.collect_firewall_logs is True
    assert updated.description == "made in the portal"
    assert updated.model_extra == {"sampling": {"samplingEnabled": True, "samplingRate": 10}}
    assert updated.cdate == current.cdate and updated.edate != current.edate
    client.delete_export(seeded["id"])
    assert len(client.list_exports()) == 0


def test_to_api_is_camel_case_without_none_or_read_only() -> None:
    body = export().model_copy(update={"id": "9", "cdate": "x"}).to_api()
    assert body == {
        "name": "flow-logs-a",
        "enabled": True,
        "planId": "11467",
        "type": "CLOUD_EXPORT_TYPE_KENTIK_MANAGED",
        "cloudProvider": "CLOUD_PROVIDER_AWS",
        "aws": {
            "iamRoleArn": "arn:aws:iam::123456789012:role/kentik",
            "region": "us-east-1",
            "bucket": "flow-logs-a",
        },
    }


def test_bad_token_is_access_denied_with_a_scope_hint(fake: KentikFake) -> None:
    with pytest.raises(KentikAccessDenied) as caught:
        client_for(fake, token="wrong-token").list_exports()
    assert isinstance(caught.value, AccessDeniedError) and caught.value.status == 401
    assert "admin.cloud_export:read" in str(caught.value) and "KENTIK_API_TOKEN" in str(caught.value)


def test_missing_write_scope_is_403(fake: KentikFake) -> None:
    fake.read_only = True
    with pytest.raises(KentikAccessDenied) as caught:
        client_for(fake).create_export(export())
    assert caught.value.status == 403 and caught.value.action == "admin.cloud_export:write"


def test_unknown_field_is_rejected_by_name(fake: KentikFake) -> None:
    bad = export().model_copy(
        update={
            "aws": AwsProperties.model_validate(
                {"iamRoleArn": "arn:aws:iam::1:role/k", "region": "us-east-1", "bucketPrefx": "typo"}
            )
        }
    )
    with pytest.raises(KentikRejected) as caught:
        client_for(fake).create_export(bad)
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.field == "export.aws.bucketPrefx" and "bucketPrefx" in str(caught.value)
    assert fake.exports == {}


def test_missing_required_field_is_rejected(fake: KentikFake) -> None:
    no_region = {"iamRoleArn": "arn:aws:iam::1:role/k"}
    bad = export().model_copy(update={"aws": AwsProperties.model_construct(**no_region)})
    with pytest.raises(KentikRejected) as caught:
        client_for(fake).create_export(bad)
    assert caught.value.field == "export.aws.region"
    status, answer = fake.create(
        {"export": {"name": "n", "enabled": True, "cloudProvider": "CLOUD_PROVIDER_AWS"}}
    )
    assert status == 400 and answer["details"][0]["fieldViolations"][0]["field"] == "export.planId"


def test_plans_come_from_the_v5_path(fake: KentikFake) -> None:
    plans = client_for(fake).list_plans()
    assert [(p.id, p.name) for p in plans] == [("11467", "Cloud flow plan")]
    assert ("GET", "/api/v5/plans") in fake.requests


def test_missing_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
    with pytest.raises(KentikCredentialsMissing) as caught:
        KentikCredentials.from_env()
    assert isinstance(caught.value, CredentialsError) and "KENTIK_API_TOKEN" in str(caught.value)
    monkeypatch.setenv("KENTIK_API_TOKEN", TOKEN)
    assert KentikCredentials.from_env() == KentikCredentials(EMAIL, TOKEN)


@pytest.mark.parametrize("token", ["SECRET1\nSECRET2", "SECRET\u201c1", "SECRET 1"])
def test_a_token_no_header_can_carry_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(KentikCredentialsMissing) as caught:
        KentikCredentials.from_env({"KENTIK_EMAIL": EMAIL, "KENTIK_API_TOKEN": token})
    assert "KENTIK_API_TOKEN must be printable ASCII" in str(caught.value) and "SECRET" not in str(
        caught.value
    )


def test_the_token_is_never_shown(fake: KentikFake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    creds = KentikCredentials(EMAIL, TOKEN)
    client = client_for(fake)
    shown = [repr(creds), str(creds), repr(client), str(client), repr(fake)]
    errors: list[BaseException] = []
    for call in (
        lambda: client_for(fake, token=TOKEN + "x").list_exports(),
        lambda: client.create_export(export().model_copy(update={"plan_id": None})),
        lambda: client.get_export("nope"),
        lambda: KentikClient(creds, api_url=f"http://127.0.0.1:{dead_port()}", timeout=2).list_exports(),
    ):
        with pytest.raises(Exception) as caught:
            call()
        errors.append(caught.value)
    shown += [repr(e) for e in errors] + [str(e) for e in errors] + [caplog.text]
    assert all(TOKEN not in text for text in shown)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(creds)


def test_kentik_echoing_the_token_is_scrubbed(fake: KentikFake, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws.sandbox import kentik_fake

    monkeypatch.setattr(kentik_fake, "_not_found", lambda i: kentik_fake._rpc(404, 5, f"no {i} for {TOKEN}"))
    with pytest.raises(KentikNotFound) as caught:
        client_for(fake).get_export("7")
    assert TOKEN not in str(caught.value) and "<redacted>" in str(caught.value)


def test_no_proxy_is_honoured_for_localhost(fake: KentikFake, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{dead_port()}"
    monkeypatch.setenv("HTTPS_PROXY", dead)
    monkeypatch.setenv("HTTP_PROXY", dead)
    with pytest.raises(KentikUnreachable) as caught:  # the proxy is used when NO_PROXY does not exempt
        client_for(fake).list_exports()
    assert isinstance(caught.value, EndpointError)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert len(client_for(fake).list_exports()) == 0


def test_base_url_env_override_and_the_flag_wins() -> None:
    assert base_url("us", env={}) == "https://grpc.api.kentik.com"
    assert base_url("eu", env={}) == "https://grpc.api.kentik.eu"
    env = {"KENTIK_API_URL": "http://127.0.0.1:9/", "KENTIK_V5_API_URL": "http://127.0.0.1:8"}
    assert base_url("eu", env=env) == "http://127.0.0.1:9"
    assert base_url("us", "https://kentik.proxy.example", env=env) == "https://kentik.proxy.example"
    assert v5_url("eu", env={}) == "https://api.kentik.eu" and v5_url("us", env=env) == "http://127.0.0.1:8"
    with pytest.raises(ValidationFailed):
        base_url("ap", env={})
    with pytest.raises(ValidationFailed):
        base_url("us", "grpc.api.kentik.com", env={})


def test_client_reads_the_url_from_the_environment(fake: KentikFake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENTIK_API_URL", fake.url)
    monkeypatch.setenv("KENTIK_V5_API_URL", fake.url)
    client = KentikClient(KentikCredentials(EMAIL, TOKEN))
    assert client.api_url == fake.url and len(client.list_exports()) == 0


def test_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    certifi = pytest.importorskip("certifi")
    assert ssl_context(env={"REQUESTS_CA_BUNDLE": certifi.where()}).cert_store_stats()["x509_ca"] > 0
    with pytest.raises(ValidationFailed) as caught:
        ssl_context(env={"SSL_CERT_FILE": "/nonexistent/ca.pem"})
    assert "SSL_CERT_FILE" in str(caught.value)


# -- broken answers and bad URLs ---------------------------------------------------------------------
@contextmanager
def raw_server(*answers: bytes) -> Iterator[str]:
    """A server on 127.0.0.1 that, for each of `answers` in turn, takes one connection, reads the request's
    headers, writes the answer (any bytes, HTTP or not) and closes; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def serve() -> None:
        for answer in answers:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(10)


def raw_client(url: str) -> KentikClient:
    return KentikClient(KentikCredentials(EMAIL, TOKEN), api_url=url, v5_api_url=url, timeout=5)


def test_an_answer_that_is_not_http_is_unreachable() -> None:
    with raw_server(b"garbage, not HTTP\r\n\r\n") as url, pytest.raises(KentikUnreachable) as caught:
        raw_client(url).list_exports()
    assert "not HTTP" in str(caught.value) and caught.value.kind == "network"


def test_an_answer_that_ends_early_is_unreachable() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with raw_server(head + b'{"exports"') as url, pytest.raises(KentikUnreachable) as caught:
        raw_client(url).list_exports()
    assert "ended early (10 bytes read, 990 more expected)" in str(caught.value)


def test_an_error_answer_cut_short_still_names_its_status() -> None:
    head = b"HTTP/1.1 409 Conflict\r\nContent-Length: 1000\r\n\r\n"
    with raw_server(head + b'{"message"') as url, pytest.raises(KentikApiError) as caught:
        raw_client(url).list_exports()
    assert caught.value.status == 409


BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"
EMPTY_LIST = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"exports": []}'


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(api, "sleep", slept.append)
    return slept


def test_a_busy_kentik_is_asked_again_as_long_as_it_says(waits: list[float]) -> None:
    with raw_server(BUSY, BUSY, EMPTY_LIST) as url:
        assert len(raw_client(url).list_exports()) == 0
    assert waits == [2.0, 3.0]  # Retry-After 2 over the first wait (1 s); then the second wait


def test_kentik_busy_beyond_the_retries_is_unreachable(waits: list[float]) -> None:
    with raw_server(BUSY, BUSY, BUSY) as url, pytest.raises(KentikUnavailable) as caught:
        raw_client(url).list_exports()
    assert caught.value.status == 503 and caught.value.kind == "network" and len(waits) == 2


def test_a_create_kentik_is_busy_for_is_not_sent_again(waits: list[float]) -> None:
    with raw_server(BUSY, EMPTY_LIST) as url, pytest.raises(KentikUnavailable, match="not retried"):
        raw_client(url).create_export(export())
    assert waits == []


@pytest.mark.parametrize("body", [b'{"exports": 5}', b'{"exports": [], "invalidExportsCount": "abc"}'])
def test_an_export_list_of_another_shape_is_an_api_error(body: bytes) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with raw_server(head.encode() + body) as url, pytest.raises(KentikApiError, match="not as expected"):
        raw_client(url).list_exports()


@pytest.mark.parametrize("details", ["5", '[{"fieldViolations": 5}]'])
def test_a_rejection_of_another_shape_is_still_a_rejection(details: str) -> None:
    body = ('{"code": 3, "message": "bad", "details": ' + details + "}").encode()
    head = f"HTTP/1.1 400 Bad Request\r\nContent-Length: {len(body)}\r\n\r\n"
    with raw_server(head.encode() + body) as url, pytest.raises(KentikRejected, match="rejected the request"):
        raw_client(url).list_exports()


def test_an_endless_answer_is_not_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MAX_ANSWER_BYTES", 1000)
    chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"  # chunked: no length declared, more than the cap sent
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    with raw_server(head + chunk) as url, pytest.raises(KentikApiError) as caught:
        raw_client(url).list_exports()
    assert "is over 1,000 bytes: not read further" in str(caught.value)


def test_an_answer_declared_too_long_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MAX_ANSWER_BYTES", 1000)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    with raw_server(head) as url, pytest.raises(KentikApiError) as caught:
        raw_client(url).list_exports()
    assert "is over 1,000 bytes: not read further" in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(fake: KentikFake, status: int) -> None:
    elsewhere = fake.url + EXPORTS_PATH
    head = f"HTTP/1.1 {status} Moved\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\n\r\n"
    with raw_server(head.encode()) as url, pytest.raises(KentikApiError) as caught:
        raw_client(url).create_export(export())
    assert caught.value.status == status and "not followed" in str(caught.value)
    assert fake.requests == []  # the address it pointed to got nothing: no token, no write


def test_a_broken_answer_echoing_the_token_is_scrubbed() -> None:
    with raw_server(f"NOPE {TOKEN}\r\n\r\n".encode()) as url, pytest.raises(KentikUnreachable) as caught:
        raw_client(url).list_exports()
    assert TOKEN not in str(caught.value) and "<redacted>" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8x/",
        "http://127.0.0.1:70000",
        "http://127.0.0.1:0",
        "http://127.0.0.1:-1",
        "ftp://127.0.0.1",
        "http://",
        "http://:8080",
        "http://exa mple.com",
        "http://[::1",
        "https://grpc.api.kentik.com/?x=1",
        "http://grpc.api.kentik.com",  # the token in clear text
        "https://user:pw@grpc.api.kentik.com",
    ],
)
def test_a_malformed_url_is_refused_before_any_call(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        base_url("us", url, env={})
    assert type(caught.value) is ValidationFailed and "Not a Kentik API URL" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "https://[::1]:65535/", "HTTPS://Kentik.example", "http://localhost:8080"]
)
def test_a_well_formed_url_is_kept(url: str) -> None:
    assert base_url("us", url, env={}) == url.rstrip("/")


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--bucket", "acme-flow-logs", "--once", "--kentik"],
        ["register", "--list-plans"],
    ],
)
def test_a_command_given_a_malformed_url_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws.session import AwsSession
    from tui import cli

    def refuse(self: AwsSession, service: str, region: str | None = None) -> object:
        raise AssertionError(f"an AWS call was made ({service})")

    monkeypatch.setattr(AwsSession, "client", refuse)
    monkeypatch.setenv("KENTIK_EMAIL", EMAIL)
    monkeypatch.setenv("KENTIK_API_TOKEN", TOKEN)
    code = cli.main([*argv, "--kentik-api-url", "http://127.0.0.1:8x/"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Not a Kentik API URL: 'http://127.0.0.1:8x/'" in err and "Traceback" not in err
