"""Startup benchmark: how soon `flowlogs` answers on a (bastion's) terminal.

(a) `flowlogs --help` and `flowlogs scan --help`: wall time from spawning a fresh interpreter until it
    exits (median of `--runs`), and which of boto3, botocore, moto, pydantic and Textual it imported;
    `python -c pass` is the interpreter's own floor.
(b) `flowlogs --demo` spawned in a pseudo-terminal (80x24, TERM=xterm-256color): time until its first
    output byte, and until its first frame, the first output showing the app's screen text (the step
    bar's "Discovery" or the context bar's "DEMO", escape sequences stripped);
(c) and until the demo account's id "123456789012" appears (sandbox up, account seeded, identity
    loaded). The process (its whole session) is killed after; median of `--demo-runs`.

Each run is a fresh process with its own empty state and config dirs (client_env in bench/machine.py),
so nothing is resumed or cached. Every process runs `from tui.cli import main; sys.exit(main())`, which
is what the `flowlogs` console script runs, with the code of `--root` (default: this tree) first on
sys.path; `--baseline DIR` measures another tree the same way beside it (e.g. the last commit:
`git archive HEAD | tar -x -C /tmp/flowlogs-head`).

Run: .venv/bin/python bench/bench_startup.py [--runs 10] [--demo-runs 3] [--baseline DIR]
Writes bench/results/startup.md (or `--out PATH`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import ROOT, client_env, machine

RESULTS = ROOT / "bench" / "results" / "startup.md"
ENTRY = "import sys; from tui.cli import main; sys.exit(main())"
HEAVY = ("boto3", "botocore", "moto", "pydantic", "textual")
FORBIDDEN = ("boto3", "botocore", "moto", "textual")  # what --help must not import (tests/test_startup.py)
PROBE = (
    "import json, sys\n"
    "from tui.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})), file=sys.stderr)\n"
)
FRAME_MARKERS = ("Discovery", "DEMO")
ACCOUNT_MARKER = "123456789012"
COLS, ROWS = 80, 24
FIRST_FRAME_TARGET = 1.0  # seconds
# CSI, OSC, DCS/APC/PM/SOS strings and two-byte escapes: what is left is the text on the screen.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[P_^X][^\x1b]*\x1b\\"  # DCS, APC, PM, SOS
    r"|\x1b[ -/]*[0-~]"  # other escapes: ESC 7, ESC = , ESC ( B ...
    r"|[\x00-\x08\x0e-\x1f]"  # other control characters
)


def screen_text(raw: bytes) -> str:
    return _ESCAPES.sub("", raw.decode("utf-8", "replace"))


@dataclass
class Tree:
    label: str
    root: Path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-c", ENTRY, *args]

    def env(self, tmp: Path, **extra: str) -> dict[str, str]:
        env = client_env("", tmp, XDG_CONFIG_HOME=str(tmp / "config"), **extra)
        env["PYTHONPATH"] = str(self.root)
        return env


@dataclass
class DemoRun:
    first_byte: float | None = None
    first_frame: float | None = None
    account: float | None = None
    exit_code: int | None = None  # when the process ended by itself before it was killed
    tail: str = ""  # the end of its screen text, when a marker never showed
    bytes_read: int = 0


@dataclass
class Figures:
    help_s: dict[str, list[float]] = field(default_factory=dict)
    heavy: dict[str, list[str]] = field(default_factory=dict)
    demo: list[DemoRun] = field(default_factory=list)


def time_process(cmd: list[str], *, env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[3:]} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return elapsed


def heavy_imports(tree: Tree, args: list[str], tmp: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=tree.env(tmp),
        cwd=tree.root,
        capture_output=True,
        text=True,
        check=True,
    )
    found: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return found


def _controlling_tty() -> None:  # in the child, after setsid: the pty on fd 0 becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the child's session (it is its own process group), SIGKILL when SIGTERM is not enough."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def demo_run(tree: Tree, timeout: float) -> DemoRun:
    """`flowlogs --demo` in a fresh 80x24 pseudo-terminal, read until the account id shows (or timeout)."""
    run = DemoRun()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmpdir:
        env = tree.env(Path(tmpdir), TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        start = time.perf_counter()
        proc = subprocess.Popen(
            tree.command("--demo"),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=tree.root,
            start_new_session=True,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        raw = bytearray()
        try:
            while time.perf_counter() - start < timeout and run.account is None:
                ready, _, _ = select.select([master], [], [], 0.02)
                if not ready:
                    if proc.poll() is not None:
                        run.exit_code = proc.returncode
                        break
                    continue
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                now = time.perf_counter() - start
                if not chunk:
                    run.exit_code = proc.poll()
                    break
                raw += chunk
                if run.first_byte is None:
                    run.first_byte = now
                text = screen_text(bytes(raw))
                if run.first_frame is None and any(m in text for m in FRAME_MARKERS):
                    run.first_frame = now
                if run.account is None and ACCOUNT_MARKER in text:
                    run.account = now
        finally:
            _stop(proc)
            os.close(master)
        run.bytes_read = len(raw)
        if run.account is None:
            run.tail = screen_text(bytes(raw))[-600:]
    return run


def measure(tree: Tree, runs: int, demo_runs: int, timeout: float) -> Figures:
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmpdir:
        tmp = Path(tmpdir)
        for name, args in (("help", ["--help"]), ("scan-help", ["scan", "--help"]), ("python", [])):
            cmd = [sys.executable, "-c", "pass"] if name == "python" else tree.command(*args)
            time_process(cmd, env=tree.env(tmp), cwd=tree.root)  # warm the page cache
            figures.help_s[name] = [time_process(cmd, env=tree.env(tmp), cwd=tree.root) for _ in range(runs)]
            if args:
                figures.heavy[name] = heavy_imports(tree, args, tmp)
    for n in range(demo_runs):
        run = demo_run(tree, timeout)
        print(
            f"  {tree.label} demo run {n + 1}: first byte {run.first_byte}, first frame {run.first_frame}, "
            f"account {run.account}",
            flush=True,
        )
        figures.demo.append(run)
    return figures


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got and len(got) == len(values) else None


def _s(value: float | None) -> str:
    return "not seen" if value is None else f"{value:.2f} s"


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def _demo_cell(runs: list[DemoRun], attr: str) -> str:
    values = [getattr(r, attr) for r in runs]
    med = _median(values)
    each = ", ".join(_s(v) for v in values)
    return f"{_s(med)} ({each})" if med is not None else f"not seen in every run ({each})"


def report(trees: list[Tree], figures: list[Figures], runs: int, demo_runs: int) -> str:
    info = machine()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = " | ".join(["measure", *(t.label for t in trees), "target", "met"])
    lines = [
        "# Startup benchmark",
        "",
        f"Run {when} by `bench/bench_startup.py`: `flowlogs --help` in {runs} fresh processes each, "
        f"`flowlogs --demo` {demo_runs} times in a {COLS}x{ROWS} pseudo-terminal (TERM=xterm-256color), "
        "each run with empty state and config dirs. "
        + "; ".join(f"{t.label}: code of `{t.root}`" for t in trees)
        + ".",
        "",
        f"Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, Python {info['python']}, "
        f"boto3 {info['boto3']}, moto {info['moto']}, {info['os']}, load average {load} when run.",
        "",
        f"| {head} |",
        "| --- |" + " ---: |" * len(trees) + " ---: | :---: |",
    ]

    def row(label: str, cells: list[str], target: str = "-", met: str = "-") -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} | {met} |")

    row(
        "`python -c pass` (the interpreter's floor), median (min-max)",
        [_spread(f.help_s["python"]) for f in figures],
    )
    row("`flowlogs --help`, median (min-max)", [_spread(f.help_s["help"]) for f in figures])
    row("`flowlogs scan --help`, median (min-max)", [_spread(f.help_s["scan-help"]) for f in figures])
    for name, label in (("help", "`--help`"), ("scan-help", "`scan --help`")):
        forbidden = [h for h in figures[0].heavy[name] if h in FORBIDDEN]
        row(
            f"{label} imported (of {', '.join(HEAVY)})",
            [", ".join(f.heavy[name]) or "none" for f in figures],
            f"none of {', '.join(FORBIDDEN)}",
            "no" if forbidden else "yes",
        )
    row(
        "`flowlogs --demo`: first output byte, median (each run)",
        [_demo_cell(f.demo, "first_byte") for f in figures],
    )
    first = _median([r.first_frame for r in figures[0].demo])
    row(
        '`flowlogs --demo`: first frame ("Discovery" or "DEMO" on screen)',
        [_demo_cell(f.demo, "first_frame") for f in figures],
        f"≤ {FIRST_FRAME_TARGET:.0f} s",
        "-" if first is None else ("yes" if first <= FIRST_FRAME_TARGET else "no"),
    )
    row(
        f"`flowlogs --demo`: account id {ACCOUNT_MARKER} on screen",
        [_demo_cell(f.demo, "account") for f in figures],
    )
    lines.append("")
    for tree, fig in zip(trees, figures, strict=True):
        for n, run in enumerate(fig.demo, 1):
            if run.account is None:
                lines += [
                    f"{tree.label}, demo run {n}: the account id never showed "
                    f"(exit code {run.exit_code}, {run.bytes_read} bytes read); the screen text ended:",
                    "",
                    "    " + run.tail.replace("\n", "\n    "),
                    "",
                ]
    lines += [
        "Reading: times are wall time from spawning the process, so they include the interpreter's start "
        "(the first row). The first frame is the first output that shows the app's own text; the account "
        "id shows once the demo sandbox (moto, in the same process) is up, the account seeded and the "
        "caller's identity read. A run that never showed a marker within the timeout is listed above.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per --help measure")
    parser.add_argument("--demo-runs", type=int, default=3, help="`flowlogs --demo` runs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a demo run's marks")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree measured (default: this one)")
    parser.add_argument("--baseline", type=Path, default=None, help="another tree, measured beside it")
    parser.add_argument(
        "--baseline-label", default="baseline", help="its column's title, e.g. 'HEAD 1a2b3c4'"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    trees = [Tree("this tree", args.root.resolve())]
    if args.baseline:
        trees.append(Tree(args.baseline_label, args.baseline.resolve()))
    figures = []
    for tree in trees:
        print(f"== {tree.label} ({tree.root})", flush=True)
        figures.append(measure(tree, args.runs, args.demo_runs, args.timeout))
    text = report(trees, figures, args.runs, args.demo_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
