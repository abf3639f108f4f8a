"""Helpers shared by several test files: the primitive sweep's cases and inputs, and small user gates.

Import with `from helpers import ...` (pytest puts tests/ on sys.path: the folder has no __init__.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import REGISTRY, At

SLOT = object()   # marks a random differentiable input among a sample's fixed ones (which may be None)
_KINK_PARAMS = ("min", "max")   # where non-smooth primitives have kinks besides 0 (clip bounds)


def primitive_cases(keep=lambda prim, sample: True, constant_output=False) -> list:
    """pytest params (prim, sample) for every registered primitive and sample, ids like 'exp-0'.

    Primitives whose output never requires grad (comparisons) are listed only with
    constant_output=True: the gradient sweeps do not apply to them."""
    return [pytest.param(prim, sample, id=f"{name}-{k}")
            for name, prim in sorted(REGISTRY.items())
            for k, sample in enumerate(prim.samples)
            if keep(prim, sample) and prim.constant_output == constant_output]


def draw(shape: tuple, sample, rng: np.random.Generator) -> np.ndarray:
    """Random float64 input of `shape` in the sample's domain, away from kinks for non-smooth ops.

    Kinks are kept 0.15 away, so a central difference with eps=1e-6 never straddles one.
    """
    if sample.domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if sample.domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    x = rng.standard_normal(shape)
    if not sample.smooth:
        kinks = [0.0] + [sample.params[p] for p in _KINK_PARAMS if sample.params.get(p) is not None]
        for k in kinks:
            x = np.where(np.abs(x - k) < 0.1, k + np.where(x >= k, 0.15, -0.15), x)
    return x


def build_sample(prim, sample, rng: np.random.Generator):
    """(differentiable arrays, f) for one sample: f(*arrays) applies prim with the fixed inputs
    (index arrays, masks, None) and params in place; it works on arrays and on Tensors."""
    slots, arrays = [], []
    for inp in sample.inputs:
        if isinstance(inp, tuple):
            slots.append(SLOT)
            arrays.append(draw(inp, sample, rng))
        elif isinstance(inp, At):   # differentiable, at exactly these values (e.g. zeros)
            slots.append(SLOT)
            arrays.append(inp.values.copy())
        else:
            slots.append(inp)
    if not sample.smooth and len(arrays) == 2 and arrays[0].shape == arrays[1].shape:
        # maximum/minimum: keep the two inputs apart so no element sits on the tie x == y
        arrays[1] = np.where(np.abs(arrays[0] - arrays[1]) < 0.1, arrays[0] + 0.3, arrays[1])

    def f(*ts):
        it = iter(ts)
        return prim(*[next(it) if s is SLOT else s for s in slots], **sample.params)
    return arrays, f


# ---------------------------------------------------------------- user gates (cr.Function)

class Square(cr.Function):
    """y = x² with a hand-written backward 2x·g (no tangent rule)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class Cube(cr.Function):
    """y = x³ with a hand-written backward 3x²·g and tangent rule 3x²·t."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * x * x * t


# ---------------------------------------------------------------- cr.compile tests

HAS_NUMBA = __import__("chainrule.compile.fuse", fromlist=["available"]).available()
FUSE = [False, pytest.param(True, marks=pytest.mark.skipif(not HAS_NUMBA, reason="no numba"))]


def rel(a, b) -> float:
    """max |a − b| / max |b| (0 for empty arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) if a.size else 0.0


def training_step(model, opt, loss=lambda y: (y ** 2).mean(), compiled=False):
    """step(x): zero_grad, loss(model(x)).backward(), opt.step(), the loss; through cr.compile if
    compiled (the compiled-equals-eager tests train the same model both ways)."""
    import chainrule as cr

    def step(x):
        opt.zero_grad()
        out = loss(model(x))
        out.backward()
        opt.step()
        return out
    return cr.compile(step) if compiled else step


def compiled_twins(make_model, make_opt, fuse=False, seed=0):
    """(model, opt, eager step, model, opt, compiled step): the same model and optimizer built
    twice from one seed, each with a cross-entropy step(x, y); the second one compiled."""
    import chainrule as cr
    out = []
    for _ in range(2):
        cr.manual_seed(seed)
        m = make_model()
        o = make_opt(m.parameters())

        def step(x, y, m=m, o=o):
            loss = cr.nn.functional.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            return loss
        out.append((m, o, step))
    (m1, o1, eager), (m2, o2, step) = out
    return m1, o1, eager, m2, o2, cr.compile(step, fuse=fuse)
