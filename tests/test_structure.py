"""Standing rules for the code's shape, so later work keeps to them: modules a newcomer can hold in their
head, and screens that render engine results without doing engine work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"aws": 600, "screens": 800}
SCREENS = [*sorted((ROOT / "screens").glob("*.py")), ROOT / "tui" / "plan_view.py"]  # PlanReview is a screen
# What only the engine does: call AWS, build plans, run its own thread pools.
ENGINE_WORK = {
    "an AWS client": re.compile(r"\.client\(|\bboto3\b|\bbotocore\b"),
    "a Plan built": re.compile(r"\bPlan\("),
    "a thread pool": re.compile(r"ThreadPoolExecutor|concurrent\.futures"),
    "a permissions declaration": re.compile(r"\bPERMISSIONS\s*="),
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(LIMITS))
def test_no_module_is_over_its_line_limit(package: str) -> None:
    limit = LIMITS[package]
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in _modules(package)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit
    }
    assert too_long == {}, f"split these modules (limit {limit} lines in {package}/)"


@pytest.mark.parametrize("screen", SCREENS, ids=lambda p: p.name)
def test_screens_do_no_engine_work(screen: Path) -> None:
    source = screen.read_text(encoding="utf-8")
    found = [what for what, pattern in ENGINE_WORK.items() if pattern.search(source)]
    assert found == [], f"{screen.name} does engine work: move it into aws/ and call it from a worker"
