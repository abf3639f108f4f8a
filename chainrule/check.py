"""Gradient checking: numerical gradients by central differences, and comparisons with backprop."""
from __future__ import annotations

import numpy as np

from . import autograd
from .kinks import branches, crossed
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree; the message says where and by how much.

    `failures` lists every failing element (up to MAX_REPORTED) as a Failure: which input, index,
    both values, the relative error, its band, and the kinks whose branch changed between x−h
    and x+h (empty: none crossed; None: could not be told). `report()` is one line per element.
    """
    failures: list = []

    def report(self) -> str:
        return "\n".join(str(f) for f in self.failures)


MAX_REPORTED = 20   # failing elements examined for kinks (two extra forwards each)

# The course's bands for the relative error |a − n| / max(|a|, |n|) (CS231n notes).
BANDS = ((1e-7, "fine"), (1e-4, "fine only near a kink"), (1e-2, "uncomfortable"),
         (np.inf, "wrong"))


def band(rel: float, kink: bool | None = None) -> str:
    """The course's verdict on a relative error: < 1e-7 fine, < 1e-4 fine only near a kink, < 1e-2
    uncomfortable, above that wrong. With kink=False the middle band reads 'too high without a kink'.

    >>> cr.check.band(3e-6), cr.check.band(0.5)
    ('fine only near a kink', 'wrong')
    """
    for limit, label in BANDS:
        if rel < limit:
            if label == "fine only near a kink" and kink is False:
                return "too high without a kink"
            return label
    return "wrong"   # nan


class Failure:
    """One failing element of a gradient check."""
    __slots__ = ("input", "index", "analytic", "numerical", "rel_error", "kinks")

    def __init__(self, input, index, analytic, numerical, rel_error, kinks):
        self.input, self.index, self.analytic, self.numerical = input, index, analytic, numerical
        self.rel_error, self.kinks = rel_error, kinks

    @property
    def kink(self) -> bool | None:
        """True when some kink changed branch between x−h and x+h (None: unknown)."""
        return None if self.kinks is None else bool(self.kinks)

    @property
    def band(self) -> str:
        return band(self.rel_error, self.kink)

    def __repr__(self):
        where = (f"kink crossed ({', '.join(self.kinks)} changed branch between x-h and x+h): "
                 f"not a bug in the backward pass" if self.kinks else
                 "no kink crossed" if self.kinks is not None else "kinks unknown")
        return (f"{self.input} {self.index}: analytic {self.analytic:.6g} vs numerical "
                f"{self.numerical:.6g}, relative error {self.rel_error:.2e} ({self.band}); {where}")


def _rel(a, n):
    return float(abs(a - n) / max(abs(a), abs(n), 1e-300))


def _failure(what, name, k, a, n, err, bad, atol, rtol, kinks):
    score = np.where(bad, err, -1).reshape(-1)
    order = np.argsort(-score, kind="stable")[: min(int(bad.sum()), MAX_REPORTED)]
    failures = []
    for j in order:
        idx = tuple(int(i) for i in np.unravel_index(int(j), a.shape)) if a.ndim else ()
        av, nv = float(a.reshape(-1)[j]), float(n.reshape(-1)[j])
        failures.append(Failure(name, idx, av, nv, _rel(av, nv),
                                None if kinks is None else kinks(k, idx)))
    worst = failures[0]
    n_kink = sum(bool(f.kinks) for f in failures)
    if kinks is None or all(f.kinks is None for f in failures):
        note = ""
    elif n_kink == len(failures):
        note = (f"; {'every' if n_kink > 1 else 'the'} failing element examined crossed a kink "
                f"({', '.join(worst.kinks)} changed branch between x-h and x+h): expected at a "
                f"kink, not a bug in the backward pass; move the input off the kink")
    elif n_kink:
        note = (f"; {n_kink} of {len(failures)} failing elements examined crossed a kink, the "
                f"others did not: a bug")
    else:
        note = "; no kink crossed between x-h and x+h: a bug in the backward pass"
    e = GradcheckError(
        f"{what}: gradient of {name} at index {worst.index}: analytic {worst.analytic:.6g} vs "
        f"numerical {worst.numerical:.6g} (relative error {worst.rel_error:.3g}; {int(bad.sum())} "
        f"of {a.size} elements off by more than atol={atol} + rtol={rtol}·|numerical|); band: "
        f"{worst.band}{note}")
    e.failures = failures
    return e


# ---------------------------------------------------------------- kinks

def _kink_finder(f, arrays, diff, eps):
    """kinks(k, index): kinks crossed when float input k moves from x−h to x+h at `index`."""
    def graph_at(k, index, delta):
        xs = [a.copy() for a in arrays]
        pos = [i for i, d in enumerate(diff) if d][k]
        xs[pos][index] += delta
        ts = [Tensor._make(x, bool(d)) for x, d in zip(xs, diff)]
        with autograd.enable_grad():
            out = f(*ts)
        if not isinstance(out, Tensor) or out.grad_fn is None:
            raise TypeError("no graph")   # the forward left chainrule (np.asarray, .data, ...)
        return branches(out)

    def kinks(k, index):
        try:
            return crossed(graph_at(k, index, -eps), graph_at(k, index, eps))
        except Exception:   # f would not run on Tensors (plain NumPy code): cannot tell
            return None
    return kinks


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


def _compare(analytic, numeric, names, atol, rtol, what, kinks=None):
    """Raise GradcheckError on the first gradient that disagrees; `kinks(k, index)` names kinks."""
    for k, (name, a, n) in enumerate(zip(names, analytic, numeric)):
        a = np.asarray(a, dtype=np.float64)
        n = np.asarray(n, dtype=np.float64)
        if a.shape != n.shape:
            raise GradcheckError(f"{what}: gradient of {name} has shape {a.shape}, expected {n.shape}")
        err = np.abs(a - n)
        bad = err > atol + rtol * np.abs(n)
        if bad.any():
            raise _failure(what, name, k, a, n, err, bad, atol, rtol, kinks)
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
    return _compare(analytic, numeric, names, atol, rtol, "gradcheck",
                    _kink_finder(f, arrays, diff, eps))


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
    # NumPy code often runs on Tensors too (__array_function__): then kinks can be told
    return _compare(analytic, numeric, names, atol, rtol, "check_backward",
                    _kink_finder(forward_fn, arrays, [True] * len(arrays), eps))


# ---------------------------------------------------------------- the course's helpers

def rel_error(x, y) -> float:
    """max |x − y| / max(1e-8, |x| + |y|), the assignments' relative error.

    >>> cr.check.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.000001]))  # about 2.5e-07
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes {x.shape} and {y.shape} differ")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _numeric(f, x, h, df):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"eval_numerical_gradient: x must be a float array, got dtype {x.dtype}")
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old
        grad[i] = (np.sum((pos - neg) * df) if df is not None else float(pos - neg)) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Central-difference gradient of a scalar f at x; f(x) is called with x changed in place.

    >>> cr.check.eval_numerical_gradient(lambda x: (x ** 2).sum(), np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    g = _numeric(f, x, h, None)
    if verbose:
        for i, v in np.ndenumerate(g):
            print(i, v)
    return g


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(df · f(x)) for an array-valued f (the upstream gradient df).

    >>> x = np.random.randn(3); df = np.random.randn(3)
    >>> np.allclose(cr.check.eval_numerical_gradient_array(np.tanh, x, df), df * (1 - np.tanh(x)**2))
    True
    """
    return _numeric(f, x, h, np.asarray(df, dtype=np.float64))


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=0, verbose=True):
    """Compare analytic_grad with central differences at num_checks random elements; prints
    'numerical … analytic … relative error …' per element and returns the relative errors.

    >>> errs = cr.check.grad_check_sparse(lambda w: (w ** 2).sum(), w, 2 * w, 5)
    """
    x = np.asarray(x)
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"grad_check_sparse: analytic_grad has shape {analytic_grad.shape}, x "
                         f"has shape {x.shape}")
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        i = tuple(int(rng.integers(n)) for n in x.shape)
        old = x[i]
        x[i] = old + h
        plus = float(f(x))
        x[i] = old - h
        minus = float(f(x))
        x[i] = old
        num, ana = (plus - minus) / (2 * h), float(analytic_grad[i])
        rel = abs(num - ana) / max(abs(num) + abs(ana), 1e-300)
        errors.append(rel)
        if verbose:
            print(f"numerical: {num:f} analytic: {ana:f}, relative error: {rel:e} ({band(rel)})")
    return np.array(errors)


# ---------------------------------------------------------------- a student's layer

class LayerCheck:
    """What cr.check.layer found: per gradient, the relative error against numerical gradients
    and against chainrule's autodiff of the forward, with the course's band and kink findings."""

    def __init__(self, rows, autodiff_note):
        self.rows, self.autodiff_note = rows, autodiff_note

    @property
    def ok(self) -> bool:
        """True when no gradient is 'wrong' or 'uncomfortable' away from kinks."""
        return all(r["verdict"] == "ok" for r in self.rows)

    def __getitem__(self, name):
        return next(r for r in self.rows if r["name"] == name)

    def __repr__(self):
        lines = []
        for r in self.rows:
            auto = ("" if r["vs_autodiff"] is None
                    else f", vs autodiff {r['vs_autodiff']:.2e}")
            kink = (f"; {r['kinks']} element(s) at a kink left out (x-h and x+h on different "
                    f"branches: not a bug)" if r["kinks"] else "")
            lines.append(f"{r['name']}: relative error vs numerical {r['vs_numerical']:.2e}"
                         f"{auto} ({r['band']}){kink} -> {r['verdict']}")
        if self.autodiff_note:
            lines.append(self.autodiff_note)
        return "\n".join(lines)


def _seeded(seed, fn):
    """fn() with numpy's global RNG and chainrule's generator reseeded: the same dropout mask."""
    from .factories import manual_seed
    np.random.seed(seed)
    manual_seed(seed)
    return fn()


def layer(forward, backward, *inputs, seed=0, h=1e-5, **params) -> LayerCheck:
    """Check a student's layer: (out, cache) = forward(*inputs, **params) and
    grads = backward(dout, cache), one gradient per float-array input, in order.

    Each gradient is compared with central differences and with chainrule's autodiff of
    `forward` run on Tensors (when the forward is NumPy code that runs on them). Randomness
    (dropout) is reseeded before every forward call, so every pass sees the same mask.

    >>> def fwd(x, w): return x @ w, (x, w)
    >>> def bwd(d, cache): x, w = cache; return d @ w.T, x.T @ d
    >>> cr.check.layer(fwd, bwd, np.random.randn(2, 3), np.random.randn(3, 4)).ok
    True
    """
    import inspect
    from . import factories
    saved, saved_cr = np.random.get_state(), factories._rng   # both put back at the end
    try:
        arrays = [np.array(a, dtype=np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                  else a for a in inputs]
        wants = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        try:
            names = list(inspect.signature(forward).parameters)
        except (TypeError, ValueError):
            names = []
        label = [f"d{names[i]}" if i < len(names) else f"d(input {i})" for i in wants]

        def run(xs):
            return _seeded(seed, lambda: forward(*xs, **params))

        res = run(arrays)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise TypeError("check.layer: forward must return (out, cache)")
        out = np.asarray(res[0], dtype=np.float64)
        dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
        grads = backward(dout, res[1])
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != len(wants):
            raise GradcheckError(f"check.layer: backward returned {len(grads)} gradients for the "
                                 f"{len(wants)} float-array inputs ({', '.join(label)})")
        auto, note = _autodiff(forward, arrays, wants, params, dout, seed)
        rows = []
        for k, (i, g) in enumerate(zip(wants, grads)):
            g = np.asarray(g, dtype=np.float64)
            xs = list(arrays)

            def f(x, i=i):
                xs[i] = x
                return np.asarray(run(xs)[0], dtype=np.float64)
            num = eval_numerical_gradient_array(f, arrays[i].copy(), dout, h=h)
            if g.shape != num.shape:
                raise GradcheckError(f"check.layer: {label[k]} has shape {g.shape}, expected "
                                     f"{num.shape} (the shape of input {i})")
            rows.append(_row(label[k], g, num, None if auto is None else auto[k], forward,
                             arrays, i, params, seed, h))
        return LayerCheck(rows, note)
    finally:
        np.random.set_state(saved)
        factories._rng = saved_cr


def _autodiff(forward, arrays, wants, params, dout, seed):
    ts = list(arrays)
    for i in wants:
        ts[i] = Tensor._make(arrays[i].copy(), True)
    try:
        with autograd.enable_grad():
            out = _seeded(seed, lambda: forward(*ts, **params))[0]
        if not isinstance(out, Tensor) or out.grad_fn is None:
            return None, "autodiff: the forward did not compute on chainrule Tensors; compared " \
                         "with numerical gradients only"
        gs = autograd.grad(out, [ts[i] for i in wants], grad_outputs=dout, allow_unused=True)
    except Exception as e:   # student NumPy code that Tensors cannot run (in-place writes, ...)
        return None, (f"autodiff: the forward does not run on chainrule Tensors "
                      f"({type(e).__name__}: {e}); compared with numerical gradients only")
    return [np.zeros(ts[i].shape) if g is None else g.data for i, g in zip(wants, gs)], ""


def _row(name, g, num, auto, forward, arrays, i, params, seed, h):
    # elements whose x−h..x+h crosses a kink (relu at 0, a max tie) have no single right
    # gradient: they are counted and left out of the relative errors
    err = np.abs(g - num) / np.maximum(1e-8, np.abs(g) + np.abs(num))
    keep = np.ones(g.shape, dtype=bool)
    for idx in list(zip(*np.nonzero(err >= 1e-7)))[:MAX_REPORTED]:
        idx = tuple(int(v) for v in idx)
        if _layer_kink(forward, arrays, i, idx, params, seed, h):
            keep[idx] = False
    kinks = int((~keep).sum())
    rel_num = rel_error(g[keep], num[keep])
    rel_auto = None if auto is None else rel_error(g[keep], auto[keep])
    b = band(rel_num, kink=bool(kinks))
    ok = b in ("fine", "fine only near a kink") and (rel_auto is None or rel_auto < 1e-4)
    return {"name": name, "vs_numerical": rel_num, "vs_autodiff": rel_auto, "band": b,
            "kinks": kinks, "verdict": "ok" if ok else "wrong"}


def _layer_kink(forward, arrays, i, idx, params, seed, h):
    pats = []
    for delta in (-h, h):
        ts = list(arrays)
        x = arrays[i].copy()
        x[idx] += delta
        ts[i] = Tensor._make(x, True)
        try:
            with autograd.enable_grad():
                pats.append(branches(_seeded(seed, lambda: forward(*ts, **params))[0]))
        except Exception:
            return False
    return bool(crossed(*pats))
