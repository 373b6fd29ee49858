"""Startup cost of the `flowlogs` command: its help and usage errors import neither the engine's AWS
libraries nor Textual (a bastion's terminal gets its answer at once), checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui.commands import COMMAND_MODULES

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("boto3", "botocore", "moto", "textual")

# Runs `main(argv)` (which exits through argparse) and prints the exit code and which heavy packages
# were imported, as JSON on the last line of stdout.
_PROBE = """
import json, sys
from tui.cli import main
code = None
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exit:
    code = exit.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def _probe(argv: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_help_imports_no_aws_library_nor_textual() -> None:
    assert _probe(["--help"]) == {"code": 0, "heavy": []}


@pytest.mark.parametrize("command", [*COMMAND_MODULES, "demo-server"])
def test_command_help_imports_no_aws_library_nor_textual(command: str) -> None:
    assert _probe([command, "--help"]) == {"code": 0, "heavy": []}


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-such-flag"],
        ["no-such-command"],
        ["scan", "--workers", "many"],
        ["plan", "--strategy", "central"],  # --bucket is required
        ["--keep"],  # needs --demo
        ["--resume", "--fresh"],
    ],
)
def test_usage_errors_import_no_aws_library_nor_textual(argv: list[str]) -> None:
    assert _probe(argv) == {"code": 2, "heavy": []}


def test_the_app_loads_without_the_aws_libraries() -> None:
    """The demo's first frame shows before boto3 loads: making the app imports Textual, not boto3, moto
    or botocore's clients (botocore.exceptions, for the error types, is light)."""
    probe = (
        "import sys\n"
        "from tui.config import Settings\n"
        "from tui.factory import create_app\n"
        "create_app(Settings(), demo=True, start_sandbox=True)\n"
        "heavy = {'boto3', 'moto', 'botocore.session', 'botocore.client'}\n"
        "print(sorted(set(sys.modules) & heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
