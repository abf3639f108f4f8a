"""W5: a chain of 1000 links x ← x + 0.01·tanh(x) on 10 floats, loss Σx², backward to x0, SGD on x0.

Tiny arrays and many ops: this measures the per-op overhead of graph building and backward.
"""
from __future__ import annotations

import numpy as np

from .common import compiled, jax_train_step, torch_threads, train_step

KEY = "W5"
TITLE = "1000 links x ← x + 0.01·tanh(x) on 10 floats, backward to x0"
PEER = 7.6
TARGET = 3.0
RTOL = 1e-4
LR = 1e-4


def setup(quick: bool = False, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    # quick: a larger lr, so one step changes the loss by ~2% and a wrong gradient shows in RTOL
    return {"x0": (0.5 * rng.standard_normal(10)).astype(np.float32),
            "links": 20 if quick else 1000, "lr": 1e-2 if quick else LR}


def make_numpy(s: dict):
    """Flat forward keeping each tanh, then the backward through add, mul and tanh gates."""
    x0, links = s["x0"].copy(), s["links"]
    lr = s.get("lr", LR)

    def step():
        x = x0
        ts = []
        for _ in range(links):
            t = np.tanh(x)
            ts.append(t)
            x = x + 0.01 * t
        loss = (x * x).sum()
        dx = 2 * x
        for t in reversed(ts):
            dt = 0.01 * dx
            dx = dx + (1 - t * t) * dt
        x0[...] -= lr * dx
        return float(loss)
    step.params = [x0]   # for tests: updated in place
    return step


def chain_loss(x0, links: int, tanh):
    """Σ x² after `links` links x ← x + 0.01·tanh(x): one body for chainrule and torch."""
    x = x0
    for _ in range(links):
        x = x + 0.01 * tanh(x)
    return (x * x).sum()


def make_chainrule(s: dict):
    import chainrule as cr
    x0 = cr.tensor(s["x0"].copy(), requires_grad=True)
    opt = cr.optim.SGD([x0], lr=s.get("lr", LR))
    return train_step(lambda: chain_loss(x0, s["links"], cr.tanh), opt)


def make_torch(s: dict):
    torch = torch_threads()
    x0 = torch.from_numpy(s["x0"].copy()).requires_grad_()
    opt = torch.optim.SGD([x0], lr=s.get("lr", LR))
    return train_step(lambda: chain_loss(x0, s["links"], torch.tanh), opt)


def make_jax(s: dict):
    import jax
    links = s["links"]

    def loss_fn(x0):
        # fori_loop keeps the compiled program small (a Python loop would unroll 1000 links)
        x = jax.lax.fori_loop(0, links, lambda i, x: x + 0.01 * jax.numpy.tanh(x), x0)
        return (x * x).sum()
    return jax_train_step(loss_fn, s["x0"].copy(), s.get("lr", LR))


IMPLS = {"numpy": make_numpy, "chainrule": make_chainrule,
         "chainrule-compiled": compiled(make_chainrule), "torch": make_torch, "jax": make_jax}


def overhead(links: int = 1000, repeat: int = 7, number: int = 20000) -> dict:
    """Per-op costs in µs on 10 floats (best of `repeat`): NumPy call, chainrule op with and
    without a graph node, backward per node, torch for comparison, and W5 with gc off."""
    import gc
    import timeit

    import chainrule as cr

    def best(fn, number):
        return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6

    a = np.random.default_rng(0).standard_normal(10).astype(np.float32)
    plain = cr.tensor(a)
    leaf = cr.tensor(a, requires_grad=True)
    out = {"numpy tanh": best(lambda: np.tanh(a), number),
           "numpy add": best(lambda: a + a, number),
           "numpy scalar mul": best(lambda: 0.01 * a, number),
           "chainrule tanh, no node": best(lambda: cr.tanh(plain), number),
           "chainrule tanh, records node": best(lambda: cr.tanh(leaf), number),
           "chainrule x + y, records node": best(lambda: leaf + leaf, number),
           "chainrule 0.01 * x, records node": best(lambda: 0.01 * leaf, number)}
    out["node creation (tanh, recorded − plain)"] = (out["chainrule tanh, records node"]
                                                     - out["chainrule tanh, no node"])

    def chain():
        return chain_loss(leaf, links, cr.tanh)
    build = best(chain, 3)
    times = []
    for _ in range(repeat):
        loss = chain()
        t0 = timeit.default_timer()
        loss.backward()
        times.append(timeit.default_timer() - t0)
        leaf.grad = None
    nodes = 3 * links + 2
    out["W5 forward per node (graph building)"] = build / nodes
    out["W5 backward per node"] = min(times) * 1e6 / nodes
    ref = make_numpy({"x0": a, "links": links})
    out["numpy reference W5 step per link (fwd+bwd, 7 NumPy calls)"] = best(ref, 3) / links
    step = make_chainrule({"x0": a, "links": links})
    on = best(step, 3)
    gc.disable()
    try:
        off = best(step, 3)
    finally:
        gc.enable()
    out["chainrule W5 step ms, gc on"] = on / 1e3
    out["chainrule W5 step ms, gc off"] = off / 1e3
    try:
        torch = torch_threads()
        tl = torch.from_numpy(a.copy()).requires_grad_()
        out["torch tanh, records node"] = best(lambda: torch.tanh(tl), number)
        out["torch x + y, records node"] = best(lambda: tl + tl, number)
    except ImportError:
        pass
    return out
