"""Run every benchmark in this folder; each writes its table to bench/results/<name>.md.

.venv/bin/python bench/run_all.py            # all of them (org_scan alone takes about 20 minutes on 2 cores)
.venv/bin/python bench/run_all.py scan verify
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "scan": ["bench_scan.py", "--latency", "0.05", "--latency", "0.2"],
    "org_scan": ["bench_org_scan.py", "--slow"],
    "checklist": ["bench_checklist.py"],
    "flowlogs_calls": ["bench_flowlogs_calls.py"],
    "verify": ["bench_verify.py"],
    "throttling": ["bench_throttling.py"],
    "startup": ["bench_startup.py"],
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names or list(BENCHES):
        script, *args = BENCHES[name]
        print(f"== {name}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
