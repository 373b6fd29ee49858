"""The engine (`aws/`) never imports Textual: checked in a fresh interpreter."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import aws

ROOT = Path(__file__).resolve().parents[1]


def aws_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(aws.__path__, "aws."))


def test_engine_modules_exist() -> None:
    mods = aws_modules()
    assert "aws.session" in mods and "aws.plans.change" in mods


def test_aws_package_never_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {aws_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"aws/ imported Textual modules: {out}"
