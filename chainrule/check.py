"""Gradient checking: numerical gradients by central differences, and comparisons with backprop."""
from __future__ import annotations

import numpy as np

from . import autograd
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree; the message says where and by how much."""


def _scalar(value, upstream):
    arr = np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)
    if upstream is not None:
        up = np.asarray(upstream, dtype=np.float64)
        if up.shape != arr.shape:
            raise ValueError(f"numerical_grad: upstream has shape {up.shape} but f returned shape "
                             f"{arr.shape}; they must match")
        return float(np.sum(up * arr))
    if arr.size != 1:
        raise ValueError(f"numerical_grad: f returned shape {arr.shape}; pass upstream= (an array "
                         f"of that shape) for functions that return arrays")
    return float(arr.reshape(()))


def numerical_grad(f, *arrays, eps=1e-6, upstream=None):
    """Central differences (f(x+h) − f(x−h)) / 2h for every element of every array.

    f takes the arrays and returns a scalar; with `upstream=` it may return an array and the
    result is the gradient of sum(upstream * f). Returns one gradient per array (a single array
    when one was given).

    >>> cr.numerical_grad(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
    array([2., 4.])
    """
    xs = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for x in xs:
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            plus = _scalar(f(*xs), upstream)
            flat[i] = old - eps
            minus = _scalar(f(*xs), upstream)
            flat[i] = old
            gflat[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads[0] if len(grads) == 1 else grads


def _compare(analytic, numeric, names, atol, rtol, what):
    for name, a, n in zip(names, analytic, numeric):
        a = np.asarray(a, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        if a.shape != n.shape:
            raise GradcheckError(f"{what}: gradient of {name} has shape {a.shape}, expected {n.shape}")
        err = np.abs(a - n)
        bad = err > atol + rtol * np.abs(n)
        if bad.any():
            score = np.where(bad, err, -1).reshape(-1)
            k = int(np.argmax(score))
            idx = np.unravel_index(k, a.shape) if a.ndim else ()
            av, nv = a.reshape(-1)[k], n.reshape(-1)[k]
            rel = abs(av - nv) / max(abs(av), abs(nv), 1e-300)
            raise GradcheckError(
                f"{what}: gradient of {name} at index {tuple(int(i) for i in idx)}: analytic "
                f"{av:.6g} vs numerical {nv:.6g} (relative error {rel:.3g}; {int(bad.sum())} of "
                f"{a.size} elements off by more than atol={atol} + rtol={rtol}·|numerical|)")
    return True


def gradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, upstream=None, seed=0):
    """Check backprop through f against central differences, in float64.

    Every floating input is checked. Non-scalar outputs are reduced with a fixed random upstream
    (so the check covers vᵀJ). Returns True, or raises GradcheckError naming the input, the worst
    element, both values and their relative error.

    >>> cr.gradcheck(lambda x: (x.tanh() * x).sum(), np.random.randn(3, 4))
    True
    """
    arrays = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in inputs]
    diff = [a.dtype.kind == "f" for a in arrays]
    arrays = [a.astype(np.float64) if d else a for a, d in zip(arrays, diff)]
    tensors = [Tensor._make(a.copy(), bool(d)) for a, d in zip(arrays, diff)]
    with autograd.enable_grad():
        out = f(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor (computed from its Tensor inputs), got "
                        f"{type(out).__name__}")
    if upstream is None and out.data.size != 1:
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
    wanted = [t for t, d in zip(tensors, diff) if d]
    grads = autograd.grad(out, wanted, grad_outputs=None if upstream is None else np.asarray(upstream),
                          allow_unused=True)
    analytic = [np.zeros(t.shape) if g is None else g.data for t, g in zip(wanted, grads)]

    def run(*xs):
        full, it = [], iter(xs)
        for a, d in zip(arrays, diff):
            full.append(Tensor._make(next(it), False) if d else Tensor._make(a, False))
        with autograd.no_grad():
            return f(*full)

    numeric = numerical_grad(run, *[a for a, d in zip(arrays, diff) if d], eps=eps, upstream=upstream)
    if len(wanted) == 1:
        numeric = [numeric]
    names = [f"input {i}" for i, d in enumerate(diff) if d]
    return _compare(analytic, numeric, names, atol, rtol, "gradcheck")


def gradgradcheck(f, *inputs, eps=1e-6, atol=1e-4, rtol=1e-3, seed=0):
    """Second order: gradcheck of x ↦ Σ v·∇f(x), with ∇f recorded via create_graph=True.

    >>> cr.gradgradcheck(lambda x: (x ** 3).sum(), np.array([0.5, -1.0]))  # True
    """
    rng = np.random.default_rng(seed + 1)

    def first(*xs):
        # numerical passes arrive without requires_grad: make leaves so the inner grad exists
        xs = [x if x.requires_grad else Tensor._make(x.data, True) for x in xs]
        with autograd.enable_grad():
            out = f(*xs)
        u = None if out.data.size == 1 else rng_u
        gs = autograd.grad(out, list(xs),
                           grad_outputs=None if u is None else Tensor._make(u, False),
                           create_graph=True, allow_unused=True)
        total = None
        for g, v in zip(gs, vs):
            if g is not None:
                term = (g * Tensor._make(v, False)).sum()
                total = term if total is None else total + term
        return total if total is not None else Tensor._make(np.zeros(()), False)

    arrays = [np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    with autograd.no_grad():
        out = f(*[Tensor._make(a, False) for a in arrays])
    rng_u = rng.standard_normal(out.shape)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    return gradcheck(first, *arrays, eps=eps, atol=atol, rtol=rtol)


def check_backward(forward_fn, backward_fn, *arrays, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check a hand-written NumPy backward pass against numerical gradients.

    forward_fn(*arrays) -> out;  backward_fn(dout, *arrays) -> one gradient per array.
    dout is 1.0 for a scalar out, else a fixed random array of out's shape.

    >>> fwd = lambda x, w: x @ w
    >>> bwd = lambda d, x, w: (d @ w.T, x.T @ d)
    >>> cr.check_backward(fwd, bwd, np.random.randn(2, 3), np.random.randn(3, 4))
    True
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out = np.asarray(forward_fn(*arrays))
    dout = np.ones(()) if out.size == 1 else np.random.default_rng(seed).standard_normal(out.shape)
    dout = dout.reshape(out.shape)
    analytic = backward_fn(dout if out.ndim else float(dout), *arrays)
    if not isinstance(analytic, (tuple, list)):
        analytic = (analytic,)
    if len(analytic) != len(arrays):
        raise GradcheckError(f"check_backward: backward_fn returned {len(analytic)} gradients for "
                             f"{len(arrays)} inputs")
    numeric = numerical_grad(forward_fn, *arrays, eps=eps, upstream=dout)
    if len(arrays) == 1:
        numeric = [numeric]
    names = [f"input {i}" for i in range(len(arrays))]
    return _compare(analytic, numeric, names, atol, rtol, "check_backward")
