"""Benchmark of `flowlogs scan`, `plan` and `apply` while AWS throttles: a clean run next to 0%, 10% and 30%
of requests throttled.

    .venv/bin/python bench/bench_throttling.py                 # clean, 0%, 10%, 30%
    .venv/bin/python bench/bench_throttling.py --throttle 0.5  # other fractions (repeatable)

One moto server (a child process, so its CPU does not share the client's GIL) runs behind
`aws.sandbox.faults.FaultInjector`, which answers the chosen fraction of requests with each service's own
throttling error (EC2 RequestLimitExceeded 503, S3 SlowDown 503, IAM/STS Throttling 400, Network Firewall
and KMS ThrottlingException 400), picked by a seeded hash of each request (the same requests in every
run), after a fixed latency per request. For each row the server is reset and the demo account seeded
afresh (aws/sandbox/seed.py, deterministic ids), then three commands run, each in a fresh child process
through `tui.cli.main` with AWS_ENDPOINT_URL, the default retry budget and real sleeps:

* `flowlogs scan --json` (every enabled region): exit code, wall time, inventory equal to the clean run's;
* `flowlogs plan --strategy central --bucket ... -o plan.json`: exit code, wall time, the same changes;
* `flowlogs apply --plan plan.json --yes --json`: exit code, wall time, changes applied / satisfied / failed.

"clean" bypasses the fault layer; "0%" goes through it without throttling. Inventories are compared
without timings and the seeded flow logs' creation times. Results go to bench/results/throttling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import CONTROL, ServerProcess, client_env, machine  # noqa: E402 - bench/machine.py, beside this script

BUCKET = "kentik-bench-throttle"
# Timing, and the creation time of the seeded flow logs (each row seeds the account afresh).
TIMING = ("started_at", "finished_at", "duration_s", "created")
SEED = 20261126


# -- the server (child process) --------------------------------------------------------------------
def serve() -> None:
    """Run the fault server. GET /__bench__?throttle=F&bypass=0|1&latency=S&reseed=1&reset=1 changes it
    and returns the request / throttled counts. Prints the port, then serves until stdin closes."""
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    from aws.sandbox.faults import FaultInjector, Faults, WsgiApp, seed_demo_account, start_fault_server

    state: dict[str, Any] = {"latency": 0.0, "bypass": False, "url": ""}
    faults = Faults(seed=SEED)
    lock = threading.Lock()

    def wrap(injector: FaultInjector) -> WsgiApp:
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") == CONTROL:
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                with lock:
                    if "reseed" in query:
                        faults.throttle = 0.0
                        seed_demo_account(state["url"], random_seed=SEED)
                    if "throttle" in query:
                        faults.throttle = float(query["throttle"])
                    if "bypass" in query:
                        state["bypass"] = query["bypass"] == "1"
                    if "latency" in query:
                        state["latency"] = float(query["latency"])
                    body = json.dumps(
                        {
                            "requests": faults.total_requests,
                            "throttled": faults.total_throttled,
                            "by_call": dict(faults.throttled),
                        }
                    ).encode()
                    if "reset" in query:  # after reading: the counts since the last reset
                        faults.reset_counts()
                start_response("200 OK", [("Content-Type", "application/json")])
                return [body]
            if state["latency"]:
                time.sleep(state["latency"])
            if state["bypass"]:
                faults.requests["bypassed"] += 1
                return injector.app(environ, start_response)
            return injector(environ, start_response)

        return app

    server = start_fault_server(faults, seed=False, wrap=wrap)
    state["url"] = server.url
    print(server.url.rsplit(":", 1)[1], flush=True)
    sys.stdin.read()  # the parent closes stdin to stop us
    server.stop()


def bench_env(url: str, tmp: Path) -> dict[str, str]:
    """The client environment, with the retry jitter seeded (repeatable runs) and no default AMIs."""
    return client_env(url, tmp, FLOWLOGS_RETRY_SEED="1", MOTO_EC2_LOAD_DEFAULT_AMIS="false")


# -- a command (child process) ---------------------------------------------------------------------
def child(argv: list[str]) -> None:
    """Run `flowlogs ARGV` in this process, timed after imports; print {code, seconds, stdout, stderr}."""
    from tui.cli import main as flowlogs

    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = flowlogs(argv)
    seconds = time.perf_counter() - t0
    print(json.dumps({"code": code, "seconds": seconds, "stdout": out.getvalue(), "stderr": err.getvalue()}))


def run(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {argv} crashed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def without_timing(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_timing(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [without_timing(v) for v in data]
    return data


def measure_row(
    server: ServerProcess, label: str, fraction: float, bypass: bool, tmp: Path
) -> dict[str, Any]:
    server.control(reseed=1, throttle=0, bypass=1)
    server.control(throttle=fraction, bypass=int(bypass), reset=1)
    env = bench_env(server.url, tmp)
    row: dict[str, Any] = {"label": label, "fraction": fraction}
    scan = run(["scan", "--json"], env)
    counts = server.control(reset=1)
    row["scan"] = {**scan, "requests": counts["requests"], "throttled": counts["throttled"]}
    plan_file = tmp / f"plan-{label}.json"
    plan = run(["plan", "--strategy", "central", "--bucket", BUCKET, "-o", str(plan_file)], env)
    counts = server.control(reset=1)
    row["plan"] = {**plan, "requests": counts["requests"], "throttled": counts["throttled"]}
    row["changes"] = json.loads(plan_file.read_text())["changes"] if plan_file.exists() else None
    if row["changes"] is None:
        row["apply"] = {"code": None, "seconds": 0.0, "stdout": "", "stderr": "no plan", "requests": 0}
        return row
    apply = run(["apply", "--plan", str(plan_file), "--yes", "--json"], env)
    counts = server.control(reset=1)
    row["apply"] = {**apply, "requests": counts["requests"], "throttled": counts["throttled"]}
    return row


# -- report ----------------------------------------------------------------------------------------
def _statuses(apply: dict[str, Any]) -> dict[str, int]:
    try:
        results = json.loads(apply["stdout"])["results"]
    except (ValueError, KeyError, TypeError):
        return {}
    out: dict[str, int] = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def render(rows: list[dict[str, Any]], args: argparse.Namespace, m: dict[str, str], load: float) -> str:
    from aws.retry import RetryPolicy, backoff_schedule

    policy = RetryPolicy()
    clean = rows[0]
    clean_inv = without_timing(json.loads(clean["scan"]["stdout"]))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Throttling benchmark: `flowlogs scan`, `plan`, `apply`",
        "",
        f"Measured {when} with `bench/bench_throttling.py` (one run per cell; {args.latency * 1000:.0f} ms "
        "latency per request; the seeded demo account, every enabled region).",
        "",
        "| throttled | scan | scan exit | inventory = clean | plan | plan exit | changes = clean "
        "| apply | apply exit | applied / satisfied / failed / skipped | requests (scan / plan / apply) "
        "| throttled answers (scan / plan / apply) | total |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scan, plan, apply = r["scan"], r["plan"], r["apply"]
        try:
            same_inv = without_timing(json.loads(scan["stdout"])) == clean_inv
        except ValueError:
            same_inv = False
        same_plan = r["changes"] == clean["changes"]
        st = _statuses(apply)
        total = scan["seconds"] + plan["seconds"] + apply["seconds"]
        lines.append(
            f"| {r['label']} | {scan['seconds']:.2f} s | {scan['code']} | {'yes' if same_inv else 'NO'} "
            f"| {plan['seconds']:.2f} s | {plan['code']} | {'yes' if same_plan else 'NO'} "
            f"| {apply['seconds']:.2f} s | {apply['code']} "
            f"| {st.get('applied', 0)} / {st.get('satisfied', 0)} / {st.get('failed', 0)} / {st.get('skipped', 0)} "
            f"| {scan['requests']} / {plan['requests']} / {apply['requests']} "
            f"| {scan.get('throttled', 0)} / {plan.get('throttled', 0)} / {apply.get('throttled', 0)} "
            f"| {total:.2f} s |"
        )
    problems = [
        f"- {r['label']} {cmd}: exit {r[cmd]['code']}: {r[cmd]['stderr'].strip()[:300]}"
        for r in rows
        for cmd in ("scan", "plan", "apply")
        if r[cmd]["code"] not in (0, None) or r[cmd]["stderr"].strip()
    ]
    lines += [
        "",
        f"Retry budget (defaults, aws/retry.py): {policy.throttle_attempts} attempts when throttled, "
        f"{policy.max_attempts} for other failures; backoff caps "
        f"{', '.join(f'{c:g}' for c in backoff_schedule(policy, throttled=True))} s after throttles (full "
        f"jitter, seed 1); adaptive send rate per client (floor {policy.min_rate:g}/s); per-call deadline "
        f"{policy.deadline:g} s (connect {policy.connect_timeout:g} s, read {policy.read_timeout:g} s).",
        "",
        "Reading the figures: the extra time under throttling is backoff (real sleeps) and the adaptive send "
        "rate spacing requests once a client has been throttled; the outcome columns show the commands "
        "still finish in one run with the clean run's results. Throttled answers are decided per request "
        f"by a seeded hash (seed {SEED}), so reruns throttle the same requests; timings vary with the machine.",
        "",
        f"Load average when measured: {load:.1f}.",
        "",
    ]
    if problems:
        lines += ["Commands that did not finish cleanly:", "", *problems, ""]
    lines += [
        "Machine:",
        "",
        f"- nproc: {m['nproc']}",
        f"- CPU: {m['cpu']}",
        f"- Python {m['python']}, boto3 {m['boto3']}, moto {m['moto']}",
        f"- OS: {m['os']}",
        "",
        "Each command runs in a fresh child process (imports done before the clock starts). The moto server "
        "runs in its own process; the account is reset and seeded again before each row.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--throttle", type=float, action="append", help="fractions (default 0, 0.1, 0.3)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request (default 0.02)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "throttling.md")
    args = parser.parse_args()
    fractions = args.throttle or [0.0, 0.1, 0.3]
    server = ServerProcess(__file__, env=bench_env("", Path(tempfile.gettempdir())), control_timeout=300)
    rows = []
    try:
        server.control(latency=args.latency)
        with tempfile.TemporaryDirectory(prefix="flowlogs-bench-throttling-") as tmp:
            load = os.getloadavg()[0]
            plan: list[tuple[str, float, bool]] = [("clean", 0.0, True)]
            plan += [(f"{f * 100:.0f}%", f, False) for f in fractions]
            for label, fraction, bypass in plan:
                row_dir = Path(tmp) / label.rstrip("%")
                row_dir.mkdir()
                print(f"== {label}", flush=True)
                row = measure_row(server, label, fraction, bypass, row_dir)
                for cmd in ("scan", "plan", "apply"):
                    print(f"   {cmd}: exit {row[cmd]['code']} in {row[cmd]['seconds']:.2f} s", flush=True)
                rows.append(row)
    finally:
        server.stop()
    report = render(rows, args, machine(), load)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve()
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        raise SystemExit(main())
