"""Formula expressions over measure keys: parsed once into a small tree, never `eval`ed.

Grammar: measure keys (`core.revenue`), numbers, `+ - * /`, unary minus and parentheses.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["BinaryOp", "Constant", "FormulaError", "Neg", "Node", "Ref", "formula_references",
           "parse_formula"]


class FormulaError(ValueError):
    """The expression is not a valid formula."""


@dataclass(frozen=True)
class Ref:
    key: str


@dataclass(frozen=True)
class Constant:
    value: float


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinaryOp:
    op: str  # one of + - * /
    left: Node
    right: Node


Node = Ref | Constant | Neg | BinaryOp

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _convert(node: ast.expr) -> Node:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return BinaryOp(_OPS[type(node.op)], _convert(node.left), _convert(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return Neg(_convert(node.operand))
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Constant(float(node.value))
    key = _dotted(node)
    if key is not None and "." in key:
        return Ref(key)
    raise FormulaError(f"unsupported formula element: {ast.unparse(node)!r}")


def parse_formula(expression: str) -> Node:
    """Parse `expression`; raises `FormulaError` for anything outside the grammar."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"invalid formula {expression!r}: {exc.msg}") from exc
    return _convert(tree.body)


def formula_references(node: Node) -> list[str]:
    """Measure keys the formula uses, in first-use order, without duplicates."""
    found: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Ref):
            found.setdefault(n.key)
        elif isinstance(n, Neg):
            walk(n.operand)
        elif isinstance(n, BinaryOp):
            walk(n.left)
            walk(n.right)

    walk(node)
    return list(found)
