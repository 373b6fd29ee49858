"""What the bench scripts share: the machine a benchmark ran on (for the results files), the loopback
server each one runs in a child process, and the environment its flowlogs client runs with."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
CONTROL = "/__bench__"  # the bench servers' control path (latency, fault rates, counters)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import boto3
    import moto

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "moto": moto.__version__,
        "os": platform.platform(),
    }


class ServerProcess:
    """`python SCRIPT --serve` in a child process: it prints its port, serves until its stdin closes, and
    answers `GET CONTROL?key=value` with JSON."""

    def __init__(
        self, script: str, *, env: dict[str, str] | None = None, control_timeout: float = 10
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        self.control_timeout = control_timeout

    def control(self, **query: Any) -> dict[str, Any]:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        with urlopen(f"{self.url}{CONTROL}?{q}", timeout=self.control_timeout) as resp:
            return dict(json.loads(resp.read()))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def client_env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """This environment without the user's AWS, flowlogs and XDG settings, with fake credentials and every
    file flowlogs writes under `tmp`; `url` (when given) as AWS_ENDPOINT_URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLOWLOGS_", "XDG_"))}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        FLOWLOGS_CONFIG=str(tmp / "flowlogs.toml"),
        FLOWLOGS_AUDIT_LOG=str(tmp / "audit.jsonl"),
        XDG_STATE_HOME=str(tmp / "state"),
        **extra,
    )
    if url:
        env["AWS_ENDPOINT_URL"] = url
    return env


def start_latency_server(state: dict[str, Any]) -> Any:
    """In this (child) process: a threaded moto server on 127.0.0.1 whose every request first sleeps
    `state["latency"]` seconds and is counted in `state["requests"]`; started, returned (its port:
    `.get_host_and_port()[1]`). GET CONTROL?latency=S sets the latency, CONTROL?reset=1 zeroes the
    counter, and GET CONTROL returns `state` as JSON. The strict sandbox's AWS rules apply."""
    import logging
    import threading
    import time
    from urllib.parse import parse_qs

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from aws.sandbox.moto_fixes import apply_moto_fixes

    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    apply_moto_fixes()
    lock = threading.Lock()

    class LatencyServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            inner = DomainDispatcherApplication(create_backend_app)

            def app(environ: dict[str, Any], start_response: Any) -> Any:
                if environ.get("PATH_INFO") == CONTROL:
                    query = parse_qs(environ.get("QUERY_STRING", ""))
                    with lock:
                        if "latency" in query:
                            state["latency"] = float(query["latency"][0])
                        if "reset" in query:
                            state["requests"] = 0
                        body = json.dumps(state).encode()
                    start_response("200 OK", [("Content-Type", "application/json")])
                    return [body]
                with lock:
                    state["requests"] += 1
                    delay = state["latency"]
                if delay:
                    time.sleep(delay)
                return inner(environ, start_response)

            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = LatencyServer("127.0.0.1", 0, verbose=False)
    server.start()
    return server


def run_child(script: str, kind: str, arg: str, env: dict[str, str], server: Any) -> dict[str, Any]:
    """Run one contender of `script` in a fresh child (`script --child KIND ARG`): its JSON result (the
    last line it prints) with the requests the server counted meanwhile."""
    server.control(reset=1)
    proc = subprocess.run(
        [sys.executable, script, "--child", kind, arg],
        env=env,
        cwd=Path(script).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{proc.stderr}")
    result = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    result["requests"] = server.control()["requests"]
    return result


# -- the sequential loop both scan benchmarks compare with ------------------------------------------------
ENABLED_REGIONS = ("opt-in-not-required", "opted-in")


def trusted(role: dict[str, Any]) -> bool:
    """A role the scan reads the policies of: its trust names Kentik's account or an external id."""
    text = json.dumps(role.get("AssumeRolePolicyDocument"))
    return "834693425129" in text or "sts:ExternalId" in text


def read_account(
    session: Any, counts: dict[str, int], *, identity: bool = True, buckets: bool = True
) -> None:
    """The sequential loop's reads in one account, call by call, counted into `counts` (regions, vpcs,
    firewalls, roles). `identity`: GetCallerIdentity too (the scan reads the caller's own identity once, for
    the whole run); `buckets`: ListBuckets too (what the organization scan reads in each account)."""
    if identity:
        session.client("sts").get_caller_identity()
    regions = [
        r["RegionName"]
        for r in session.client("ec2").describe_regions(AllRegions=True)["Regions"]
        if r.get("OptInStatus") in ENABLED_REGIONS
    ]
    if buckets:
        for _ in session.client("s3").get_paginator("list_buckets").paginate():
            pass
    iam = session.client("iam")
    roles = [r for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    for role in filter(trusted, roles):
        counts["roles"] += 1
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role["RoleName"]):
            for p in page["AttachedPolicies"]:
                iam.get_policy(PolicyArn=p["PolicyArn"])
        for _ in iam.get_paginator("list_role_policies").paginate(RoleName=role["RoleName"]):
            pass
    for region in regions:
        counts["regions"] += 1
        ec2 = session.client("ec2", region_name=region)
        nfw = session.client("network-firewall", region_name=region)
        counts["vpcs"] += sum(len(p["Vpcs"]) for p in ec2.get_paginator("describe_vpcs").paginate())
        for _ in ec2.get_paginator("describe_subnets").paginate():
            pass
        flows = [f for p in ec2.get_paginator("describe_flow_logs").paginate() for f in p["FlowLogs"]]
        enis = [f["ResourceId"] for f in flows if f["ResourceId"].startswith("eni-")]
        if enis:
            ec2.describe_network_interfaces(NetworkInterfaceIds=enis)
        for page in nfw.get_paginator("list_firewalls").paginate():
            for fw in page["Firewalls"]:
                nfw.describe_firewall(FirewallArn=fw["FirewallArn"])
                nfw.describe_logging_configuration(FirewallArn=fw["FirewallArn"])
                counts["firewalls"] += 1
