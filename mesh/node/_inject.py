"""Callbacks that ask for the serving node's ``Global`` (daffi 2.x): ``def fn(x: int, g: Global)``.

A parameter annotated with the ``Global`` class (or a string naming it, ``"Global"`` or
``"mesh.Global"``, as ``from __future__ import annotations`` makes every annotation), or a parameter
named ``g`` whose annotation mentions ``Global`` (``g: Global | None = None``), gets the ``Global``
of the node that runs the call, passed by keyword; the caller does not pass it (a value it passes
under that name is replaced). The node layer cannot import ``Global``: the annotation is recognized
by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def global_parameter(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s parameter that asks for the serving node's ``Global``, or None."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    for parameter in parameters:
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            continue
        annotation = parameter.annotation
        if _names_global(annotation) or (parameter.name == "g" and "Global" in str(annotation)):
            return parameter.name
    return None


def _names_global(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.strip().rpartition(".")[2] == "Global"
    return (
        isinstance(annotation, type)
        and annotation.__name__ == "Global"
        and annotation.__module__.partition(".")[0] == "mesh"
    )


def with_global(kwargs: dict[str, Any], parameter: str, owner: Callable[[], Any]) -> dict[str, Any]:
    """``kwargs`` with ``parameter`` set to the serving node's ``Global`` (``owner()``)."""
    return {**kwargs, parameter: owner()}
