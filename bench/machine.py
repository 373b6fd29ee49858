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
