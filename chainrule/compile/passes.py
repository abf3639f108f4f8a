"""Optimizations on a step's equations: dead-code elimination, common subexpressions, constants.

Each pass takes the equation list and the Vars that must survive (outputs and write-backs) and
returns new lists; equations of effectful primitives (random draws) are never removed, merged or
folded, so the generator advances exactly as in eager code.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..program import Var


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


def optimize(eqns, roots):
    """DCE, CSE, constant folding, DCE again. Returns (eqns, lookup) where lookup(v) is what
    stands for Var v now (itself, the Var it was merged into, or a constant array)."""
    eqns = dce(eqns, roots)
    eqns, repl = cse(eqns)
    eqns, consts = fold(eqns)

    def lookup(v):
        if not isinstance(v, Var):
            return v
        v = repl.get(id(v), v)
        return consts.get(id(v), v)
    eqns = dce(eqns, [lookup(v) for v in roots])
    return eqns, lookup
