"""Safe expressions for the command line: `sigmoid(w0*x0 + w1*x1 + w2)` over named scalar inputs.

Parsed with `ast` and evaluated node by node from a whitelist of operators and chainrule functions;
nothing is passed to eval, so no attribute access, imports or other names can run.
"""
from __future__ import annotations

import ast
import operator

import numpy as np

from .. import functions as F
from ..tensor import Tensor

FUNCTIONS = F.CLI   # every op declared with `cli=` (ops/*.py), kept up to date by the registry
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.Pow: operator.pow}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def parse_at(text: str) -> dict:
    """'x=-2,y=5,z=-4' -> {'x': -2.0, 'y': 5.0, 'z': -4.0}."""
    values = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, eq, num = part.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise ValueError(f"--at: expected NAME=NUMBER pairs like x=-2,y=5, got {part!r}")
        try:
            values[name] = float(num)
        except ValueError:
            raise ValueError(f"--at: {name}={num.strip()!r} is not a number") from None
    return values


def evaluate(expr: str, values: dict) -> tuple[Tensor, dict]:
    """Build the graph of `expr` over named float64 leaves; returns (output, {name: leaf})."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"EXPR {expr!r} is not a valid expression: {e.msg}") from None
    leaves = {k: Tensor(np.float64(v), requires_grad=True, dtype=np.float64, name=k)
              for k, v in values.items()}
    # NOTE: explicit stack instead of recursion: (ast node, evaluated children?) pairs.
    stack, results = [(tree.body, False)], []
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise ValueError(f"EXPR: only numbers are allowed as constants, got "
                                 f"{node.value!r}")
            results.append(float(node.value))
        elif isinstance(node, ast.Name):
            if node.id not in leaves:
                known = ", ".join(sorted(leaves)) or "none"
                raise ValueError(f"EXPR: unknown name {node.id!r}; give it a value with --at "
                                 f"{node.id}=... (defined: {known})")
            results.append(leaves[node.id])
        elif isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            if ready:
                b, a = results.pop(), results.pop()
                results.append(BINARY[type(node.op)](a, b))
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
        elif isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            if ready:
                results.append(UNARY[type(node.op)](results.pop()))
            else:
                stack += [(node, True), (node.operand, False)]
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn not in FUNCTIONS or node.keywords:
                raise ValueError(f"EXPR: function {ast.unparse(node.func)!r} is not allowed; use "
                                 f"one of {', '.join(sorted(FUNCTIONS))}")
            if ready:
                args = [results.pop() for _ in node.args][::-1]
                try:
                    results.append(FUNCTIONS[fn](*args))
                except TypeError:
                    raise ValueError(f"EXPR: {fn}() got {len(args)} arguments") from None
            else:
                stack.append((node, True))
                stack += [(a, False) for a in reversed(node.args)]
        else:
            raise ValueError(f"EXPR: {type(node).__name__} ({ast.unparse(node)!r}) is not allowed; "
                             f"use numbers, names, + - * / ** and {', '.join(sorted(FUNCTIONS))}")
    out = results.pop()
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise ValueError(f"EXPR {expr!r} does not depend on any --at input")
    return out, leaves
