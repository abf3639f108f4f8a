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
            raise ValueError(f"--at: expected NAME=NUMBER pairs like x=-2,y=5, got {clip(part)!r}")
        if name in values:
            raise ValueError(f"--at: {name} is given twice ({name}={values[name]:g} and "
                             f"{clip(part)}); give each input once")
        try:
            values[name] = float(num)
        except ValueError:
            raise ValueError(f"--at: {name}={clip(num.strip())!r} is not a number") from None
    return values


def evaluate(expr: str, values: dict) -> tuple[Tensor, dict]:
    """Build the graph of `expr` over named float64 leaves; returns (output, {name: leaf})."""
    tree = parse_bounded(expr)
    leaves = {k: Tensor(np.float64(v), requires_grad=True, dtype=np.float64, name=k)
              for k, v in values.items()}
    # NOTE: explicit stack instead of recursion: (ast node, evaluated children?) pairs.
    stack, results = [(tree.body, False)], []
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise ValueError(f"EXPR: only numbers are allowed as constants, got "
                                 f"{clip(repr(node.value))}")
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
                results.append(_computed(node, BINARY[type(node.op)], a, b))
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
        elif isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            if ready:
                results.append(_computed(node, UNARY[type(node.op)], results.pop()))
            else:
                stack += [(node, True), (node.operand, False)]
        elif isinstance(node, ast.Call):
            fn = node.func.id if isinstance(node.func, ast.Name) else None
            if fn not in FUNCTIONS or node.keywords:
                raise ValueError(f"EXPR: function {clip(ast.unparse(node.func))!r} is not allowed; use "
                                 f"one of {', '.join(sorted(FUNCTIONS))}")
            if ready:
                args = [results.pop() for _ in node.args][::-1]
                try:
                    results.append(FUNCTIONS[fn](*args))
                except TypeError:
                    raise ValueError(f"EXPR: {fn}() got {len(args)} arguments") from None
                except ArithmeticError as e:
                    raise ValueError(f"EXPR: {clip(ast.unparse(node))} cannot be computed "
                                     f"({_why(e)})") from None
            else:
                stack.append((node, True))
                stack += [(a, False) for a in reversed(node.args)]
        else:
            raise ValueError(f"EXPR: {type(node).__name__} ({clip(ast.unparse(node))!r}) is not allowed; "
                             f"use numbers, names, + - * / ** and {', '.join(sorted(FUNCTIONS))}")
    out = results.pop()
    if not isinstance(out, Tensor) or out.grad_fn is None:
        raise ValueError(f"EXPR {clip(expr)!r} does not depend on any --at input")
    return out, leaves


# ------------------------------------------------------------------------------------ bounds
# Every expression is bounded before anything is evaluated: its length, its size (AST nodes),
# its nesting depth, its number literals and its exponents; constant parts are folded in floats
# first, so 1/0, 10**400 or (-8)**0.5 are refused as errors, never raised as exceptions.
# (Kept apart from the whitelist above, which only says WHICH operations are allowed.)

MAX_CHARS = 4000       # characters of EXPR
MAX_NODES = 1000       # AST nodes (names, numbers, operators, calls)
MAX_DEPTH = 250        # nesting: a 250-term sum, or 250 nested calls
MAX_LITERAL = 40       # characters of one number literal
MAX_EXPONENT = 1024    # |e| of a constant exponent: 2.0**1024 already overflows float64


def clip(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, saying how long it was (errors never echo 100 KB back)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_bounded(expr: str) -> ast.Expression:
    """ast.parse(expr) once expr is known to be small, then check_tree; one ValueError otherwise."""
    if not isinstance(expr, str):
        raise ValueError(f"EXPR must be a string, got {type(expr).__name__}")
    if len(expr) > MAX_CHARS:
        raise ValueError(f"EXPR {clip(expr)!r} is {len(expr)} characters long; the limit is "
                         f"{MAX_CHARS}")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"EXPR {clip(expr)!r} is not a valid expression: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"EXPR {clip(expr)!r} is nested too deeply to parse (at most "
                         f"{MAX_DEPTH} levels)") from None
    check_tree(tree)
    return tree


def check_tree(tree: ast.Expression) -> None:
    """Size, depth, literal and exponent bounds, and constant folding, without recursion."""
    count, stack = 0, [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ValueError(f"EXPR has more than {MAX_NODES} parts (names, numbers, "
                             f"operators); split it or simplify it")
        if depth > MAX_DEPTH:
            raise ValueError(f"EXPR is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            _check_literal(node)
        stack += [(c, depth + 1) for c in ast.iter_child_nodes(node)]
    _fold_constants(tree.body)


def _check_literal(node: ast.Constant) -> None:
    if not isinstance(node.value, (int, float)):
        return   # evaluate() refuses it with its own message
    width = (node.end_col_offset or 0) - (node.col_offset or 0)
    if node.end_lineno != node.lineno or width > MAX_LITERAL:
        raise ValueError(f"EXPR: a number literal of {width} characters; at most {MAX_LITERAL}")
    if isinstance(node.value, int) and node.value.bit_length() > 1023:
        raise ValueError(f"EXPR: the literal {clip(str(node.value), 20)} is too large for a float")


def _fold_constants(root) -> None:
    """Compute every constant sub-expression in Python floats (as evaluate would), post-order."""
    value = {}   # id(node) -> float, for constant nodes only
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        kids = [node.left, node.right] if isinstance(node, ast.BinOp) else (
            [node.operand] if isinstance(node, ast.UnaryOp) else [])
        if not ready:
            if isinstance(node, ast.Constant):
                if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                    value[id(node)] = float(node.value)
            elif kids:
                stack.append((node, True))
                stack += [(k, False) for k in kids]
            else:
                stack += [(k, False) for k in ast.iter_child_nodes(node)]
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) \
                and id(node.right) in value and abs(value[id(node.right)]) > MAX_EXPONENT:
            raise ValueError(f"EXPR: the exponent in {clip(ast.unparse(node), 40)} is "
                             f"{value[id(node.right)]:.4g}; at most {MAX_EXPONENT} in size")
        if not all(id(k) in value for k in kids) or type(node.op) not in (
                BINARY if isinstance(node, ast.BinOp) else UNARY):
            continue
        try:
            if isinstance(node, ast.BinOp):
                out = BINARY[type(node.op)](value[id(node.left)], value[id(node.right)])
            else:
                out = UNARY[type(node.op)](value[id(node.operand)])
        except (ArithmeticError, ValueError) as e:
            raise ValueError(f"EXPR: {clip(ast.unparse(node), 40)} cannot be computed "
                             f"({_why(e)})") from None
        if not isinstance(out, float):   # (-8)**0.5 is complex in Python
            raise ValueError(f"EXPR: {clip(ast.unparse(node), 40)} is not a real number")
        value[id(node)] = out


def _computed(node, op, *args):
    """op(*args) for one node of the expression; arithmetic failures become one ValueError."""
    try:
        out = op(*args)
    except (ArithmeticError, TypeError) as e:
        raise ValueError(f"EXPR: {clip(ast.unparse(node), 40)} cannot be computed "
                         f"({_why(e)})") from None
    if isinstance(out, complex):
        raise ValueError(f"EXPR: {clip(ast.unparse(node), 40)} is not a real number")
    return out


def _why(exc: BaseException) -> str:
    if isinstance(exc, OverflowError):
        return "the result is too large for a float"
    return clip(str(exc) or type(exc).__name__, 80)
