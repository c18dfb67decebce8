"""Topic names and patterns.

A topic is a dotted name (``orders``, ``orders.eu``): parts of letters, digits, ``_`` and ``-``. A
pattern is a topic name in which a part may be ``*``, any one part (``orders.*`` matches
``orders.eu``, not ``orders`` nor ``orders.eu.paid``), and the last part may be ``>``, one part or
more (``orders.>`` matches ``orders.eu`` and ``orders.eu.paid``).
"""

from __future__ import annotations

import re

from mesh import UsageError

_TOPIC_PART = re.compile(r"[A-Za-z0-9_-]+\Z")


def check_topic(topic: object) -> str:
    """``topic`` if it is a topic name, else :class:`~mesh.UsageError` saying what is wrong."""
    if not isinstance(topic, str):
        raise UsageError(f"a topic is a str, not {type(topic).__name__}")
    for part in topic.split("."):
        if not _TOPIC_PART.match(part):
            raise UsageError(
                f"topic {topic!r}: {part!r} is not a part of a topic name (letters, digits, '_' and '-', "
                "joined by dots; patterns with '*' and '>' are for subscribe)"
            )
    return topic


def check_pattern(pattern: object) -> str:
    """``pattern`` if it is a topic pattern, else :class:`~mesh.UsageError` saying what is wrong."""
    if not isinstance(pattern, str):
        raise UsageError(f"a topic pattern is a str, not {type(pattern).__name__}")
    parts = pattern.split(".")
    for number, part in enumerate(parts):
        last = number == len(parts) - 1
        if not (_TOPIC_PART.match(part) or part == "*" or (part == ">" and last)):
            raise UsageError(
                f"topic pattern {pattern!r}: {part!r} is not a part of a pattern (a name, '*' for any one "
                "part, or '>' last for one part or more)"
            )
    return pattern


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` is one of the topics ``pattern`` names."""
    wanted = pattern.split(".")
    parts = topic.split(".")
    for number, want in enumerate(wanted):
        if want == ">":
            return len(parts) > number
        if number >= len(parts) or (want != "*" and want != parts[number]):
            return False
    return len(parts) == len(wanted)
