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
