"""Optimizations on a step's equations: dead-code elimination, common subexpressions, constants,
and two rewrites that undo what tracing a backward adds (`residuals`, `identities`).

Each pass takes the equation list and the Vars that must survive (outputs and write-backs) and
returns new lists; equations of effectful primitives (random draws) are never removed, merged or
folded, so the generator advances exactly as in eager code.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..program import Eqn, Var


def effectful(e) -> bool:
    return getattr(e.prim, "effectful", False)


def dce(eqns, roots):
    """Keep the equations some root needs (plus effectful ones), in order."""
    live = {id(v) for v in roots if isinstance(v, Var)}
    kept = []
    for e in reversed(eqns):
        if id(e.out) in live or effectful(e):
            kept.append(e)
            live.update(id(x) for x in e.inputs if isinstance(x, Var))
    kept.reverse()
    return kept


def _key(v):
    """A hashable stand-in for an equation input or parameter (arrays by identity)."""
    if isinstance(v, Var):
        return ("var", id(v))
    if isinstance(v, np.ndarray):
        return ("array", id(v))
    if isinstance(v, (tuple, list)):
        return (type(v).__name__,) + tuple(_key(x) for x in v)
    if isinstance(v, dict):
        return ("dict",) + tuple(sorted((k, _key(x)) for k, x in v.items()))
    if isinstance(v, slice):
        return ("slice", _key(v.start), _key(v.stop), _key(v.step))
    try:
        hash(v)
    except TypeError:
        return ("id", id(v))
    return (type(v).__name__, v)


def substitute(eqns, repl):
    for e in eqns:
        if any(isinstance(x, Var) and id(x) in repl for x in e.inputs):
            e.inputs = tuple(repl.get(id(x), x) if isinstance(x, Var) else x for x in e.inputs)


def cse(eqns):
    """Merge equations that apply the same primitive to the same inputs and params.
    Returns (eqns, {id(dropped Var): the Var that replaces it})."""
    seen, repl, kept = {}, {}, []
    for e in eqns:
        if repl:
            e.inputs = tuple(repl.get(id(x), x) if isinstance(x, Var) else x for x in e.inputs)
        if effectful(e):
            kept.append(e)
            continue
        key = (id(e.prim), _key(e.inputs), _key(e.params))
        first = seen.get(key)
        if first is not None and first.shape == e.out.shape and first.dtype == e.out.dtype:
            repl[id(e.out)] = first
            continue
        seen[key] = e.out
        kept.append(e)
    return kept, repl


def fold(eqns):
    """Evaluate equations whose inputs are all constants now. Returns (eqns, {id(Var): array})."""
    consts, kept = {}, []
    for e in eqns:
        if consts:
            e.inputs = tuple(consts.get(id(x), x) if isinstance(x, Var) else x for x in e.inputs)
        if e.prim.name in ("ones_like", "zeros_like") and not e.params:
            consts[id(e.out)] = (np.ones if e.prim.name == "ones_like" else np.zeros)(
                e.out.shape, e.out.dtype)
            continue
        if effectful(e) or any(isinstance(x, Var) for x in e.inputs):
            kept.append(e)
            continue
        try:
            value = autograd.apply(e.prim, e.inputs, e.params)
        except Exception:   # noqa: BLE001 - leave it to run time, where it fails as in eager
            kept.append(e)
            continue
        value = np.asarray(value)
        if value.shape != e.out.shape or value.dtype != e.out.dtype:
            kept.append(e)
            continue
        consts[id(e.out)] = value
    return kept, consts


class Residual:
    """`softmax(x)` taken from the cross-entropy of x computed earlier: that forward keeps the
    same softmax (the same NumPy operations) as its residual, so the backward needs no second
    exp/max/sum. The equation reads the cross-entropy's output only to stay after it."""
    name = "residual"
    flat_forward = "{0}_residual"
    effectful = False
    saves_ans = saves_inputs = residual = False


RESIDUAL = Residual()


def residuals(eqns):
    """Replace softmax(x) over the last axis by the residual of an earlier cross_entropy(x)."""
    ce, out = {}, []
    for e in eqns:
        out.append(e)
        x = e.inputs[0] if e.inputs else None
        if not isinstance(x, Var):
            continue
        if e.prim.name == "cross_entropy" and getattr(e.prim, "residual", False) \
                and len(x.shape) == 2:
            ce.setdefault(id(x), e)
        elif e.prim.name == "softmax" and id(x) in ce and e.out.shape == x.shape \
                and e.out.dtype == x.dtype and e.params.get("axis", -1) in (-1, 1):
            r = Eqn(RESIDUAL, (ce[id(x)].out,), e.out, {})
            r.backward_of = e.backward_of
            out[-1] = r   # a new equation: the traced program keeps its softmax
    return out


def _all(value, v) -> bool:
    return isinstance(value, (int, float, np.ndarray, np.generic)) and \
        not isinstance(value, bool) and bool(np.all(np.asarray(value) == v))


def identities(eqns, roots):
    """Drop `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0` when the result is x itself (same shape
    and dtype, not a value leaving the step): exact in IEEE arithmetic. The seeded backward of a
    sum starts with a multiply by an all-ones array, which this removes."""
    keep = {id(v) for v in roots if isinstance(v, Var)}
    repl, kept = {}, []
    for e in eqns:
        if repl:
            e.inputs = tuple(repl.get(id(x), x) if isinstance(x, Var) else x for x in e.inputs)
        name, ins = e.prim.name, e.inputs
        same = None
        if len(ins) == 2 and not e.params and id(e.out) not in keep:
            a, b = ins
            for x, c, ok in ((a, b, True), (b, a, name != "sub")):
                unit = 1 if name == "mul" else 0 if name in ("add", "sub") else None
                if ok and unit is not None and isinstance(x, Var) and not isinstance(c, Var) \
                        and x.shape == e.out.shape and x.dtype == e.out.dtype \
                        and np.ndim(c) <= len(x.shape) and _all(c, unit) \
                        and np.asarray(c).dtype.kind in "fiu" \
                        and (not isinstance(c, np.ndarray) or c.dtype == x.dtype
                             or c.dtype.kind != "f"):
                    same = x
                    break
        if same is not None and not (name == "add" and _negzero(e, same)):
            repl[id(e.out)] = same
            continue
        kept.append(e)
    return kept, repl


_ELEMENTWISE = {"add", "sub", "mul", "div", "maximum", "minimum"}


def uniform(eqns):
    """A constant array of one repeated value (a broadcast seed such as the mean's 1/N) beside
    an array of the output's shape becomes a scalar of its dtype: the same values and dtype,
    nothing to read per element (and no array to hold)."""
    for e in eqns:
        if e.prim.name not in _ELEMENTWISE or e.params or len(e.inputs) != 2:
            continue
        if not any(isinstance(x, Var) and x.shape == e.out.shape for x in e.inputs):
            continue
        ins = list(e.inputs)
        for i, c in enumerate(ins):
            if isinstance(c, np.ndarray) and c.size > 1 and c.dtype.kind in "fiu" \
                    and c.ndim <= len(e.out.shape):
                v = c.flat[0]
                if v == v and bool(np.all(c == v)):
                    ins[i] = c.dtype.type(v)
        e.inputs = tuple(ins)
    return eqns


def _scalar_const(c) -> bool:
    return isinstance(c, (int, float, np.floating, np.ndarray)) and not isinstance(c, bool) \
        and np.ndim(c) == 0 and np.asarray(c).dtype.kind in "fi" and bool(np.isfinite(c))


def negations(eqns, roots):
    """-(c * mask) -> (-c) * mask for a finite scalar c and a bool mask read only there (the
    backward of `1 - y*s` through a mean): one NumPy call fewer, the same bits (c·0 and c·1
    are exact, so negating before or after rounds alike). Returns (eqns, replacements)."""
    keep = {id(v) for v in roots if isinstance(v, Var)}
    uses, made = {}, {}
    for e in eqns:
        made[id(e.out)] = e
        for x in e.inputs:
            if isinstance(x, Var):
                uses[id(x)] = uses.get(id(x), 0) + 1
    repl, swap = {}, {}   # id(neg's out) -> the mul's out; id(mul eqn) -> its new equation
    for e in eqns:
        m = made.get(id(e.inputs[0])) if e.prim.name == "neg" and e.inputs \
            and isinstance(e.inputs[0], Var) and not e.params else None
        if m is None or m.prim.name != "mul" or m.params or len(m.inputs) != 2 \
                or uses.get(id(m.out)) != 1 or id(m.out) in keep or id(m) in swap \
                or m.out.shape != e.out.shape or m.out.dtype != e.out.dtype \
                or e.out.dtype.kind != "f":
            continue
        a, b = m.inputs
        k = 0 if _scalar_const(a) and isinstance(b, Var) and b.dtype.kind == "b" else \
            1 if _scalar_const(b) and isinstance(a, Var) and a.dtype.kind == "b" else None
        if k is None:
            continue
        c = m.inputs[k]
        neg = -c if isinstance(c, (int, float)) else np.negative(c)
        new = Eqn(m.prim, (neg, b) if k == 0 else (a, neg), m.out, m.params)
        new.backward_of = m.backward_of   # a new equation: the traced program keeps its own
        swap[id(m)] = new
        repl[id(e.out)] = m.out
    if not repl:
        return eqns, repl
    kept = []
    for e in eqns:
        if id(e.out) in repl:
            continue
        e = swap.get(id(e), e)
        if any(isinstance(x, Var) and id(x) in repl for x in e.inputs):
            e.inputs = tuple(repl.get(id(x), x) if isinstance(x, Var) else x for x in e.inputs)
        kept.append(e)
    return kept, repl


def _negzero(e, x) -> bool:
    """x + 0 turns -0.0 into +0.0: not an identity for floats (x - 0 and x * 1 are)."""
    return x.dtype.kind == "f"


def optimize(eqns, roots):
    """DCE, CSE, constant folding, identities, negations, residual reuse, DCE again. Returns
    (eqns, lookup) where lookup(v) is what stands for Var v now (itself, the Var it was merged
    into, or a constant array)."""
    eqns = dce(eqns, roots)
    eqns, repl = cse(eqns)
    eqns, consts = fold(eqns)

    def base(v):
        if not isinstance(v, Var):
            return v
        v = repl.get(id(v), v)
        return consts.get(id(v), v)
    eqns, same = identities(eqns, [base(v) for v in roots])

    def after_identities(v):
        v = base(v)
        return same.get(id(v), v) if isinstance(v, Var) else v
    eqns, negs = negations(uniform(eqns), [after_identities(v) for v in roots])
    eqns = residuals(eqns)

    def lookup(v):
        v = after_identities(v)
        return negs.get(id(v), v) if isinstance(v, Var) else v
    eqns = dce(eqns, [lookup(v) for v in roots])
    return eqns, lookup
