"""Find the modifier of ``await g.call.fn() & FG(timeout=3)``.

Python parses that line as ``(await g.call.fn()) & FG(timeout=3)``: the call is awaited before the
modifier is applied. So ``RemoteCall.__await__`` reads the awaiting line's source to find the
right-hand side of the ``&`` and evaluates it in the caller's frame, as daffi documents it.
"""

from __future__ import annotations

import ast
import functools
import linecache
from types import CodeType, FrameType
from typing import Any


def modifier_after_await(frame: FrameType) -> Any:
    """The value of ``X`` in ``await <call> & X`` at ``frame``'s current line, or None."""
    code = frame.f_code
    position = _instruction_position(frame)
    compiled = _modifier_code(code.co_filename, frame.f_lineno, position)
    if compiled is None:
        return None
    return eval(compiled, frame.f_globals, frame.f_locals)


def _instruction_position(frame: FrameType) -> tuple[int, int] | None:
    return _position_in(frame.f_code, frame.f_lasti)


@functools.lru_cache(maxsize=1024)
def _position_in(code: CodeType, lasti: int) -> tuple[int, int] | None:
    positions = getattr(code, "co_positions", None)
    if positions is None or lasti < 0:
        return None
    for index, (line, _, column, _) in enumerate(positions()):
        if index == lasti // 2:
            return (line, column) if line is not None and column is not None else None
    return None


@functools.lru_cache(maxsize=512)
def _modifier_code(filename: str, lineno: int, position: tuple[int, int] | None) -> CodeType | None:
    tree = _parse(filename, _mtime_key(filename))
    if tree is None:
        return None
    candidates = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.BitAnd)
        and isinstance(node.left, ast.Await)
        and node.left.lineno <= lineno <= (node.left.end_lineno or node.left.lineno)
    ]
    if position is not None:
        exact = [n for n in candidates if (n.left.lineno, n.left.col_offset) == position]
        inner = [n for n in candidates if _contains(n.left, position)]
        candidates = exact or inner or candidates
    if not candidates:
        return None
    right = candidates[0].right
    return compile(ast.Expression(right), filename, "eval")


def _contains(node: ast.expr, position: tuple[int, int]) -> bool:
    line, column = position
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
    return start <= (line, column) <= end


def _mtime_key(filename: str) -> int:
    linecache.checkcache(filename)
    return len(linecache.getlines(filename))


@functools.lru_cache(maxsize=64)
def _parse(filename: str, _key: int) -> ast.Module | None:
    source = "".join(linecache.getlines(filename))
    if not source:
        return None
    try:
        return ast.parse(source, filename)
    except SyntaxError:
        return None
