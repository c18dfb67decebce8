"""Types shared by the test process and the peer processes (importable on both sides)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: int


class Refused(Exception):
    """An exception both sides can rebuild."""
