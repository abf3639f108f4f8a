"""Shared benchmark machinery: workload spec, loss agreement, paired timing, tracemalloc peaks.

A workload module defines KEY, TITLE, PEER (PyTorch eager ratio from the issue), TARGET (the ratio
chainrule should reach), RTOL (loss agreement), `setup(quick, seed)` returning a dict of float32
arrays (initial weights and data, shared by every implementation) and IMPLS: name -> maker, where
`maker(setup)` builds a fresh model from copies of the arrays and returns `step()`, which runs one
training step (forward + loss + backward + SGD update) and returns the loss as a Python float.
A maker raises ImportError when its library is not installed; the runner then skips it.
"""
from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Step = Callable[[], float]
Maker = Callable[[dict], Step]

REFERENCE = "numpy"


# ---------------------------------------------------------------- shared setup helpers

def linear_init(rng: np.random.Generator, fan_in: int, fan_out: int):
    """PyTorch's default Linear init, W (out×in) and b ~ U(−1/√fan_in, 1/√fan_in), float32."""
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
    return w, b


def mlp_init(rng: np.random.Generator, sizes) -> list:
    """[(W, b), ...] for an MLP with layer widths `sizes` (PyTorch layout, W is out×in)."""
    return [linear_init(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def classification_setup(seed: int, n: int, sizes) -> dict:
    """Random float32 inputs X (n × sizes[0]) in [0, 1), labels y in 0..sizes[-1]−1, MLP weights."""
    rng = np.random.default_rng(seed)
    return {"X": rng.random((n, sizes[0]), dtype=np.float32),
            "y": rng.integers(0, sizes[-1], size=n),
            "layers": mlp_init(rng, sizes), "sizes": sizes}


# ---------------------------------------------------------------- hand-written NumPy MLP (W1, W3, W4)

def numpy_mlp_step(s: dict, head, lr: float, alpha: float = 0.0) -> Step:
    """The lecture's flat forward and backward of a ReLU MLP (weights in×out) as a `step()`.

    head(scores) -> (data loss, dL/dscores) is the loss layer; alpha > 0 adds alpha·Σ p² over
    every weight and bias (gradient 2·alpha·p). SGD updates the arrays in place; step.params
    lists them (for tests).
    """
    X = s["X"]
    params = [(w.T.copy(), b.copy()) for w, b in s["layers"]]
    lr = s.get("lr", lr)

    def step():
        hs = [X]                               # forward: keep each layer's input
        for W, b in params[:-1]:
            hs.append(np.maximum(0, hs[-1] @ W + b))
        W, b = params[-1]
        loss, d = head(hs[-1] @ W + b)
        if alpha:
            loss += alpha * sum((p * p).sum() for pair in params for p in pair)
        for k in range(len(params) - 1, -1, -1):   # backward, last layer first
            (W, b), h = params[k], hs[k]
            dW = h.T @ d
            db = d.sum(axis=0)
            if k:                              # no gradient for the data
                d = d @ W.T                    # with W before its update
                d[h <= 0] = 0
            if alpha:
                dW += 2 * alpha * W
                db += 2 * alpha * b
            W -= lr * dW
            b -= lr * db
        return float(loss)
    step.params = [p for pair in params for p in pair]
    return step


def softmax_ce_head(y: np.ndarray):
    """NumPy softmax cross-entropy for numpy_mlp_step: mean −log p_y and (p − onehot(y))/N."""
    rows, n = np.arange(len(y)), len(y)

    def head(scores):
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[rows, y]).mean()
        dscores = probs
        dscores[rows, y] -= 1
        dscores /= n
        return loss, dscores
    return head


# ---------------------------------------------------------------- chainrule and torch glue

def mlp(nn, s: dict):
    """A ReLU MLP Sequential(Linear, ReLU, ..., Linear) of widths s["sizes"], weights s["layers"].

    nn is cr.nn or torch.nn: the same code builds both, as they share PyTorch's names.
    """
    sizes = s["sizes"]
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if k < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    load_linears(model, s["layers"])
    return model


_COMPILE = [False]   # set by `compiled`: train_step then wraps the step in cr.compile


def train_step(loss_fn: Callable, opt) -> Step:
    """`step()`: loss = loss_fn(); opt.zero_grad(); loss.backward(); opt.step(); the loss value.

    The same for chainrule and torch (their optimizers share PyTorch's API).
    """
    if _COMPILE[0]:
        import chainrule as cr

        def body():   # the whole step, traced once by cr.compile; .item() stays outside
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        fast = cr.compile(body)
        return lambda: fast().item()

    def step():
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def compiled(maker: Maker) -> Maker:
    """The `chainrule-compiled` row: the chainrule maker's own step, run through cr.compile."""
    def make(s: dict):
        _COMPILE[0] = True
        try:
            return maker(s)
        finally:
            _COMPILE[0] = False
    return make


def load_linears(model, weights) -> None:
    """Copy [(W, b), ...] into the Linear layers of a chainrule or torch Sequential, in order."""
    linears = [m for m in model if hasattr(m, "weight")]
    if len(linears) != len(weights):
        raise ValueError(f"load_linears: model has {len(linears)} Linear layers, "
                         f"got {len(weights)} weight pairs")
    for lin, (w, b) in zip(linears, weights):
        _assign(lin.weight, w)
        _assign(lin.bias, b)


def _assign(param, arr):
    if type(param).__module__.startswith("torch"):
        import torch
        with torch.no_grad():
            param.copy_(torch.from_numpy(arr.copy()))
    else:
        if param.data.shape != arr.shape:
            raise ValueError(f"load_linears: parameter shape {param.data.shape}, got {arr.shape}")
        param.data[...] = arr


def torch_threads():
    """Import torch pinned to one thread (raises ImportError when torch is not installed)."""
    import torch
    torch.set_num_threads(1)
    return torch


# ---------------------------------------------------------------- checking and measuring

@dataclass
class Result:
    impl: str
    times_ms: list = field(default_factory=list)     # per-round median ms per step
    ratios: list = field(default_factory=list)       # per-round time / numpy time (same round)
    peak_mb: float | None = None
    losses: list = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self):
        return statistics.median(self.times_ms) if self.times_ms else float("nan")

    @property
    def iqr_ms(self):
        return quartiles(self.times_ms)

    @property
    def ratio(self):
        return statistics.median(self.ratios) if self.ratios else float("nan")


def quartiles(xs):
    """(q25, q75) of xs (inclusive method; both equal xs[0] for one value)."""
    if not xs:
        return float("nan"), float("nan")
    if len(xs) == 1:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def check_losses(makers: dict, setup: dict, rtol: float, steps: int = 3) -> dict:
    """Run `steps` training steps of every implementation from the same start; compare to numpy.

    Returns name -> Result with .losses, .error set when the maker is missing (ImportError) or its
    losses differ from the reference by more than rtol (which would make its timing meaningless).
    """
    results = {}
    ref = None
    for name, maker in makers.items():
        res = Result(name)
        try:
            step = maker(setup)
        except ImportError as e:
            res.error = f"not installed ({e.name or e})"
            results[name] = res
            continue
        res.losses = [float(step()) for _ in range(steps)]
        if name == REFERENCE:
            ref = res.losses
        elif ref is not None:
            bad = [(i, a, b) for i, (a, b) in enumerate(zip(res.losses, ref))
                   if not abs(a - b) <= rtol * max(abs(b), 1e-30)]
            if bad:
                i, a, b = bad[0]
                res.error = (f"loss mismatch at step {i}: {a:.7g} vs numpy {b:.7g} "
                             f"(rtol {rtol:g})")
        if not all(np.isfinite(res.losses)):
            res.error = f"non-finite loss {res.losses}"
        results[name] = res
    return results


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def time_paired(steps: dict, rounds: int, round_s: float, warmup: int = 2,
                clock: str = "cpu") -> dict:
    """Interleave implementations in rounds; return name -> (per-round ms/step list, ratio list).

    Each round runs every implementation for about `round_s` seconds (a calibrated whole number of
    steps), in an order rotated per round so no one is always first after the others. The ratio to
    numpy is taken within each round (paired), so machine-wide slowdowns affect both sides.
    clock "cpu" (process CPU time, the default) is steadier than "wall" on a shared machine: time
    spent waiting for a core is left out.
    """
    now = CLOCKS[clock]
    names = list(steps)
    inner = {}
    for name in names:
        step = steps[name]
        for _ in range(warmup):
            step()
        t0 = now()
        step()
        one = now() - t0
        inner[name] = max(1, int(round_s / max(one, 1e-7)))
    times = {n: [] for n in names}
    ratios = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        this = {}
        for name in order:
            step, k = steps[name], inner[name]
            t0 = now()
            for _ in range(k):
                step()
            this[name] = (now() - t0) / k * 1e3
        for name in names:
            times[name].append(this[name])
            if REFERENCE in this:
                ratios[name].append(this[name] / max(this[REFERENCE], 1e-12))
    return {n: (times[n], ratios[n]) for n in names}


def peak_memory_mb(maker: Maker, setup: dict, warmup: int = 2) -> float:
    """Peak memory a training step allocates beyond the model's parameters and data, in MB.

    Measured with tracemalloc in an untimed pass: baseline = traced memory right after the model is
    built, peak = highest traced memory during one steady-state step (after `warmup` steps), so it
    counts activations, gradients, optimizer buffers and temporaries. Only memory that Python and
    NumPy report to tracemalloc is seen: for torch/jax this is not meaningful (reported as n/a).
    """
    tracemalloc.start()
    try:
        step = maker(setup)
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(warmup):
            step()
        gc.collect()   # so no garbage left by the warmup is freed (or counted) inside the step
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return max(peak - base, 0) / 2**20


# ---------------------------------------------------------------- JAX peers (jit-compiled steps)

def jax_module():
    """Import jax on CPU in float32 (raises ImportError when jax is not installed)."""
    import jax
    jax.config.update("jax_platforms", "cpu")
    return jax


def jax_train_step(loss_fn, params, lr: float, *data) -> Step:
    """A `step()` running one jit-compiled SGD step of loss_fn(params, *data); keeps the params."""
    jax = jax_module()

    @jax.jit
    def update(params, *data):
        loss, grads = jax.value_and_grad(loss_fn)(params, *data)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

    state = [jax.device_put(params)]
    data = [jax.device_put(d) for d in data]

    def step():
        state[0], loss = update(state[0], *data)
        return float(loss)   # float() waits for the result, so the step is really finished
    return step


def jax_mlp_forward(params, X):
    """Scores of the ReLU MLP with params [(W, b), ...] (PyTorch layout) in JAX."""
    jax = jax_module()
    h = X
    for k, (w, b) in enumerate(params):
        h = h @ w.T + b
        if k < len(params) - 1:
            h = jax.nn.relu(h)
    return h


def jax_mlp_step(s: dict, lr: float) -> Step:
    """JAX version of the ReLU MLP + softmax cross-entropy workloads (W1, W3)."""
    jax = jax_module()
    jnp = jax.numpy

    def loss_fn(params, X, y):
        logp = jax.nn.log_softmax(jax_mlp_forward(params, X), axis=-1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    params = [(w.copy(), b.copy()) for w, b in s["layers"]]
    return jax_train_step(loss_fn, params, lr, s["X"], s["y"].astype(np.int32))
