"""Plan-file problems as plain sentences: a pydantic error as a phrase, a region that is not one."""

from __future__ import annotations

from typing import Any

from aws.errors import ValidationFailed


def plain_error(error: Any) -> str:
    """One pydantic error as a plain phrase: '.Policy: is missing' (no pydantic internals)."""
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.get("loc", ()))
    kind = str(error.get("type", ""))
    text = {
        "missing": "is missing",
        "extra_forbidden": "is not a parameter of this change",
        "literal_error": "is not an allowed value",
    }.get(kind) or str(error.get("msg", "is not valid")).replace("Input", "the value")
    return f"{loc}: {text}"


def region_problems(region: str, partition: str) -> list[str]:
    from aws.regions import validate_region  # aws.regions imports aws.errors only

    try:
        validate_region(region, what="region", partition=partition)
    except ValidationFailed as err:
        return [err.message]
    return []
