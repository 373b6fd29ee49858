"""Fault injection on loopback, for tests and benchmarks: AWS throttling in each service's wire format in
front of a moto server, and endpoints that refuse connections or accept them and never answer.

    faults = Faults(seed=7)
    with start_fault_server(faults) as server:   # moto on 127.0.0.1 behind FaultInjector, seeded
        faults.throttle = 0.3                    # from now on ~30% of requests are throttled
        ... AWS_ENDPOINT_URL=server.url ...

Which requests are throttled is decided per request, independently, with probability `throttle`, from a
hash of (seed, the request's content, how many times that same request was seen before): the same seed
throttles the same requests in every run, whatever order concurrent threads send them in (a retry is the
same request once more, so it gets a fresh draw).

The throttling answers are what AWS sends and what botocore recognises as throttling:

* EC2 (ec2 query protocol): HTTP 503, `<Response><Errors><Error><Code>RequestLimitExceeded` XML.
* S3 (rest-xml): HTTP 503, `<Error><Code>SlowDown` XML; a HEAD request gets the bare 503 (no body).
* IAM, STS and other query-protocol services: HTTP 400, `<ErrorResponse><Error><Type>Sender</Type>
  <Code>Throttling`.
* JSON protocols (Network Firewall, KMS, CloudWatch Logs: an `X-Amz-Target` header): HTTP 400,
  `{"__type": "ThrottlingException"}` with `x-amzn-ErrorType: ThrottlingException`.
* Anything else: HTTP 429 with `x-amzn-ErrorType: ThrottlingException`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from aws.sandbox.seed import SeedSummary

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


@dataclass(frozen=True)
class Request:
    """What the injector knows about one request."""

    service: str  # the SigV4 signing name: ec2, s3, iam, sts, network-firewall, kms, logs...
    region: str
    operation: str  # Action / X-Amz-Target operation; for S3 "METHOD ?subresource"
    method: str
    json_protocol: bool
    query_version: str  # the Version parameter of a query-protocol request
    key: str  # the request's content, for the throttling draw

    @property
    def call(self) -> str:
        return f"{self.service}:{self.operation}"

    def names(self) -> set[str]:
        """What `Faults.only` may name to pick this request: "ec2", "ec2:DescribeVpcs", "ec2@eu-west-1",
        "ec2:DescribeVpcs@eu-west-1"."""
        return {self.service, self.call, f"{self.service}@{self.region}", f"{self.call}@{self.region}"}


def describe(environ: dict[str, Any], body: bytes) -> Request:
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = scope["service"] if scope else ""
    region = scope["region"] if scope else ""
    method = environ.get("REQUEST_METHOD", "GET")
    query = environ.get("QUERY_STRING", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    version = ""
    if target:
        operation = target.rsplit(".", 1)[-1]
    else:
        form = parse_qs(body.decode("utf-8", "replace")) if body and b"Action=" in body else {}
        params = parse_qs(query, keep_blank_values=True)
        operation = (form.get("Action") or params.get("Action") or [""])[0]
        version = (form.get("Version") or params.get("Version") or [""])[0]
        if not operation:
            operation = f"{method} ?{next(iter(params), '')}"
    path = environ.get("PATH_INFO", "")
    key = f"{service}|{region}|{method}|{path}|{query}|{target}|{hashlib.sha256(body).hexdigest()}"
    return Request(service, region, operation, method, bool(target), version, key)


def throttle_response(req: Request) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of the throttling error AWS sends for this request's service."""
    rid = str(uuid.uuid4())
    if req.service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
            f"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
        ).encode()
        return "503 Service Unavailable", [("Content-Type", "text/xml;charset=UTF-8")], body
    if req.service == "s3":
        headers = [("x-amz-request-id", rid[:16].upper()), ("Content-Type", "application/xml")]
        if req.method == "HEAD":
            return "503 Slow Down", headers, b""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            f"<Message>Please reduce your request rate.</Message><RequestId>{rid[:16].upper()}</RequestId>"
            "<HostId>flowlogs-faults</HostId></Error>"
        ).encode()
        return "503 Slow Down", headers, body
    if req.json_protocol:
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", "ThrottlingException"),
            ("x-amzn-RequestId", rid),
        ]
        return "400 Bad Request", headers, body
    if req.query_version:
        body = (
            f'<ErrorResponse xmlns="https://{req.service}.amazonaws.com/doc/{req.query_version}/"><Error>'
            "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        return "400 Bad Request", [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    body = json.dumps({"message": "Too Many Requests"}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ThrottlingException")]
    return "429 Too Many Requests", headers, body


@dataclass
class Faults:
    """What to inject, and what was injected. Change `throttle` (or `only`) at any time.

    `only`: throttle only requests of these services ("ec2") or calls ("ec2:DescribeVpcs"), optionally in
    one region ("ec2@eu-west-1", "ec2:DescribeVpcs@eu-west-1"); None: all.
    Requests without a SigV4 signature (moto's own API) are never throttled."""

    throttle: float = 0.0
    seed: int = 0
    only: frozenset[str] | None = None
    requests: Counter[str] = field(default_factory=Counter)  # by "service:Operation"
    throttled: Counter[str] = field(default_factory=Counter)
    _seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, req: Request) -> bool:
        """Count the request; True when it is to be throttled."""
        with self._lock:
            self.requests[req.call] += 1
            self._seen[req.key] += 1
            nth = self._seen[req.key]
            if not req.service or self.throttle <= 0:
                return False
            if self.only is not None and not self.only & req.names():
                return False
            digest = hashlib.sha256(f"{self.seed}|{nth}|{req.key}".encode()).digest()
            hit = int.from_bytes(digest[:8], "big") / 2**64 < self.throttle
            if hit:
                self.throttled[req.call] += 1
            return hit

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.throttled.clear()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_throttled(self) -> int:
        return sum(self.throttled.values())


class FaultInjector:
    """WSGI middleware: answers the requests `faults` picks with the service's throttling error, hands
    every other request to `app`."""

    def __init__(self, app: WsgiApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        req = describe(environ, body)
        if not self.faults.decide(req):
            return self.app(environ, start_response)
        status, headers, data = throttle_response(req)
        start_response(status, [*headers, ("Content-Length", str(len(data)))])
        return [data]


class FaultServer:
    """A moto server on 127.0.0.1 behind a `FaultInjector` (and `wrap(injector)` in front of that, when
    given: a benchmark's control endpoint or added latency). Leave the `with` block (or `stop()`) to end it."""

    def __init__(self, faults: Faults, *, wrap: Callable[[FaultInjector], WsgiApp] | None = None) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.faults = faults
        self.summary: SeedSummary | None = None
        outer = self

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                injector = FaultInjector(DomainDispatcherApplication(create_backend_app), outer.faults)
                app = wrap(injector) if wrap is not None else injector
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = _Server(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_fault_server(
    faults: Faults | None = None,
    *,
    seed: bool = True,
    random_seed: int = 20261126,
    wrap: Callable[[FaultInjector], WsgiApp] | None = None,
) -> FaultServer:
    """Start moto (in this process) behind a `FaultInjector`; with `seed`, reset moto and seed the demo
    account (aws/sandbox/seed.py) with faults off, moto's ids drawn from `random_seed` and every
    region's default VPC made in a fixed order, so runs see the same account."""
    from aws.sandbox.moto_fixes import apply_moto_fixes
    from aws.sandbox.server import _silence_logs

    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    apply_moto_fixes()
    _silence_logs()
    faults = faults if faults is not None else Faults()
    server = FaultServer(faults, wrap=wrap)
    if not seed:
        return server
    try:
        throttle, faults.throttle = faults.throttle, 0.0
        server.summary = seed_demo_account(server.url, random_seed=random_seed)
        faults.throttle = throttle
        faults.reset_counts()
    except BaseException:
        server.stop()
        raise
    return server


def seed_demo_account(url: str, *, random_seed: int = 20261126) -> SeedSummary:
    """Reset moto's state (this process's) and seed the demo account through `url`, deterministically."""
    from aws.sandbox.server import reset_and_seed

    return reset_and_seed(url, random_seed=random_seed)


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """The URL of a TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake)
    and never answers: every request runs into the read timeout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@contextmanager
def refused_endpoint() -> Iterator[str]:
    """The URL of a TCP port on 127.0.0.1 where nothing listens (bound, never listening, so no other
    program can take it meanwhile): every connection is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
