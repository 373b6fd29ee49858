"""Counted nouns in the interface: '1 VPC', '2 VPCs', never '1 VPCs' or 'VPC(s)'."""

from __future__ import annotations


def count(n: int, noun: str, plural: str = "") -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
